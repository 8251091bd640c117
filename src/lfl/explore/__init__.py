"""Explorers of a potential-energy (loss) landscape: L-BFGS, basin-hopping, DNEB, eigenvector-following."""

from lfl.explore.result import OptimizeResult

__all__ = ["OptimizeResult"]
