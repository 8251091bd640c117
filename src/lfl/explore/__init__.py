"""Explorers of a potential-energy (loss) landscape: basin-hopping, DNEB, eigenvector-following,
connection and refinement planning. Pure science over a :class:`~lfl.systems.base.System`: nothing
here touches the database."""
