"""Numerical building blocks that know nothing of landscapes: the L-BFGS minimiser (its compiled
core and its steppable driver) and the one result type every optimiser returns. The lowest layer of
science in the package: systems, data and explore build on it."""

from lfl.numerics.result import OptimizeResult

__all__ = ["OptimizeResult"]
