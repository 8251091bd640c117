"""The lowest eigenvalues of a symmetric operator by Lanczos with full reorthogonalisation, from
matrix-vector products only.

:class:`LanczosLowest` is stepped from outside (reverse communication, like an ASE optimiser): it
names the vector it wants multiplied (``.vector``), takes the product (``.feed``), and says when it
is done. So many independent iterations can share one batched product (the lockstep walkers of
:mod:`lfl.explore.lockstep` multiply the Hessians of B networks in one compiled call).
:func:`lowest_eigenvalues` drives one iteration with a plain ``matvec``.

Why not ARPACK (``scipy.sparse.linalg.eigsh``): loss Hessians have a wide cluster of small
eigenvalues just above the lowest ones, where an implicitly restarted Lanczos with a small subspace
(20 vectors) keeps throwing away what it learnt: on [784,10,10,1000,0.1] minima eigsh needed 340-420
products for the two lowest eigenvalues to relative 1e-8, an unrestarted Lanczos 95-105. Storing the
basis (``max_steps`` vectors) is the price: 64 KB per step at 7,960 weights.

Convergence, as ARPACK judges it: the residual of every wanted Ritz pair, |beta_j s_ji| (exact
arithmetic; full reorthogonalisation keeps it honest in floating point), is at most ``tol * |theta_i|``.
Ritz values bound the eigenvalues they approximate from above; a converged lowest Ritz value is the
lowest eigenvalue unless the start vector was (nearly) orthogonal to its eigenvector: the start is a
seeded random vector, so that happens with probability zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from lfl.errors import LflError

_REORTHOGONALISE_AGAIN = 0.7  # Daniel-Gragg-Kaufman-Stewart: a second pass when a pass removed this much
_BLOCK = 32  # basis rows allocated at a time: memory grows with the steps taken, not with max_steps


@dataclass(frozen=True)
class LanczosResult:
    values: np.ndarray  # the n_eigen lowest Ritz values, ascending
    converged: bool
    n_products: int
    max_residual: float  # the largest residual bound of the wanted Ritz pairs at the end


class LanczosLowest:
    """One Lanczos iteration for the ``n_eigen`` lowest eigenvalues of a symmetric operator of size
    ``n``, stepped by its caller::

        lanczos = LanczosLowest(n, n_eigen=2)
        while not lanczos.done:
            lanczos.feed(operator @ lanczos.vector)
        lanczos.result()

    ``seed`` draws the start vector (the same seed gives the same products and the same result);
    ``check_every`` steps between Ritz value checks (a tridiagonal eigenproblem each).
    """

    def __init__(self, n: int, *, n_eigen: int = 2, tol: float = 1e-8, max_steps: int = 300, check_every: int = 5,
                 seed: int = 0) -> None:
        n = int(n)
        if n < 1:
            raise LflError(f"Lanczos needs an operator of size >= 1, got {n}")
        if not 1 <= int(n_eigen) <= n:
            raise LflError(f"Lanczos n_eigen must lie in 1..{n}, got {n_eigen}")
        if not tol > 0:
            raise LflError(f"Lanczos tol must be > 0, got {tol}")
        if int(max_steps) < int(n_eigen) or int(check_every) < 1:
            raise LflError(f"Lanczos needs max_steps >= n_eigen and check_every >= 1, got {max_steps}, {check_every}")
        self.n = n
        self.n_eigen = int(n_eigen)
        self.tol = float(tol)
        self.max_steps = min(int(max_steps), n)  # n steps span the whole space
        self.check_every = int(check_every)
        self._basis = np.empty((min(_BLOCK, self.max_steps), n))
        start = np.random.default_rng(seed).standard_normal(n)
        self._basis[0] = start / np.linalg.norm(start)
        self._alpha: list[float] = []
        self._beta: list[float] = []
        self._steps = 0
        self._values = np.full(self.n_eigen, math.nan)
        self._residual = math.inf
        self._converged = False
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def vector(self) -> np.ndarray:
        """The unit vector whose product the iteration wants next (read-only view)."""
        if self._done:
            raise LflError("Lanczos is done: no further product wanted")
        view = self._basis[self._steps]
        view.flags.writeable = False
        return view

    def feed(self, product: np.ndarray) -> bool:
        """Take ``operator @ self.vector``; True when the iteration is done."""
        if self._done:
            raise LflError("Lanczos is done: no further product wanted")
        j = self._steps
        q = self._basis[j]
        w = np.array(product, dtype=np.float64).ravel()
        if w.shape != (self.n,):
            raise LflError(f"Lanczos product must have shape ({self.n},), got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise LflError("Lanczos product is not finite")
        alpha = float(q @ w)
        self._alpha.append(alpha)
        scale = float(np.linalg.norm(w))
        # the three-term recurrence, then one pass against the whole basis for what rounding let back
        # in (a second one only when the pass removed most of w: Daniel-Gragg-Kaufman-Stewart); each
        # pass reads the basis twice, which at 7,960 weights and 100 vectors costs about a product
        w -= alpha * q
        if j:
            w -= self._beta[-1] * self._basis[j - 1]
        basis = self._basis[: j + 1]
        for _ in range(2):
            norm_before = float(np.linalg.norm(w))
            w -= basis.T @ (basis @ w)
            beta = float(np.linalg.norm(w))
            if beta >= _REORTHOGONALISE_AGAIN * norm_before:
                break
        self._steps = j + 1
        invariant = beta <= 1e-14 * max(1.0, abs(alpha), scale)  # the Krylov space holds an invariant subspace
        self._beta.append(0.0 if invariant else beta)
        last = self._steps >= self.max_steps or invariant
        if self._steps >= self.n_eigen and (last or self._steps % self.check_every == 0):
            self._check_ritz()
        if self._converged or last:
            self._done = True
            return True
        if self._steps >= self._basis.shape[0]:
            grown = np.empty((min(self._basis.shape[0] + _BLOCK, self.max_steps), self.n))
            grown[: self._steps] = self._basis[: self._steps]
            self._basis = grown
        self._basis[self._steps] = w / beta
        return False

    def _check_ritz(self) -> None:
        alpha = np.array(self._alpha)
        off = np.array(self._beta[:-1])
        values, vectors = scipy.linalg.eigh_tridiagonal(alpha, off, select="i",
                                                        select_range=(0, self.n_eigen - 1))
        residuals = np.abs(self._beta[-1] * vectors[-1, :])
        self._values = values
        self._residual = float(residuals.max())
        self._converged = bool(np.all(residuals <= self.tol * np.abs(values)))

    def result(self) -> LanczosResult:
        return LanczosResult(values=self._values.copy(), converged=self._converged, n_products=self._steps,
                             max_residual=self._residual)

    @property
    def basis_bytes(self) -> int:
        return int(self._basis.nbytes)


def lowest_eigenvalues(matvec, n: int, **options) -> LanczosResult:
    """The lowest eigenvalues of the symmetric operator ``matvec`` (size n): :class:`LanczosLowest`
    driven to the end; ``options`` are its keywords."""
    lanczos = LanczosLowest(n, **options)
    while not lanczos.done:
        lanczos.feed(matvec(lanczos.vector))
    return lanczos.result()
