"""A change of variables that makes the exact Hessian at a point the identity: the preconditioner of the
network quench's last phase (:mod:`lfl.explore.network_quench`).

The minima of the network losses are flat and ill-conditioned (smallest Hessian eigenvalue about
2 lambda, largest order one), and plain L-BFGS spends more than half of a quench creeping from RMS
gradient 1e-5 to 1e-9. Near the minimum the loss is close to its quadratic model, so in the variables
``z`` with ``x = x_ref + R z`` and ``R^T H R = I`` the same L-BFGS converges in a few tens of steps.

``R`` comes from the Cholesky factor ``H = L L^T`` (``R = L^-T``) when H is positive definite, and from
the eigenvectors otherwise (``R = V |Lambda|^-1/2``, eigenvalues floored at ``EIGEN_FLOOR`` times the
largest): a saddle-free metric, in which the energy guard of L-BFGS still only accepts descent.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lfl import kernel_cache

kernel_cache.install()

CHOLESKY = 0
EIGEN = 1
# eigenvalues below this fraction of the largest one (in modulus) are raised to it: a zero mode would
# otherwise make R infinite along it
EIGEN_FLOOR = 1e-10


@njit(cache=True)
def cholesky_in_place(a) -> bool:
    """Lower Cholesky factor of the symmetric ``a`` into its lower triangle (upper triangle zeroed).

    Returns False, with ``a`` left partly overwritten, when a pivot is not positive (``a`` not
    positive definite). Row-oriented (the inner sums run along rows: contiguous in C order).
    """
    n = a.shape[0]
    for i in range(n):
        for j in range(i + 1):
            total = a[i, j]
            for k in range(j):
                total -= a[i, k] * a[j, k]
            if i == j:
                if not total > 0.0:
                    return False
                a[i, i] = np.sqrt(total)
            else:
                a[i, j] = total / a[j, j]
        for j in range(i + 1, n):
            a[i, j] = 0.0
    return True


@njit(cache=True)
def _inverse_transpose_of_lower(lower, out) -> None:
    """out = L^-T for lower-triangular L: column j of L^-1 by forward substitution, stored as row j."""
    n = lower.shape[0]
    for j in range(n):
        row = out[j]
        for i in range(j):
            row[i] = 0.0
        row[j] = 1.0 / lower[j, j]
        for i in range(j + 1, n):
            total = 0.0
            for k in range(j, i):
                total -= lower[i, k] * row[k]
            row[i] = total / lower[i, i]


@njit(cache=True)
def preconditioner_root(hessian, root) -> int:
    """Fill ``root`` (n x n) with R such that R^T H R = I (|H| when H is indefinite).

    ``hessian`` is destroyed. Returns CHOLESKY or EIGEN, the factorisation that served.
    """
    n = hessian.shape[0]
    saved = hessian.copy()
    if cholesky_in_place(hessian):
        _inverse_transpose_of_lower(hessian, root)
        return CHOLESKY
    values, vectors = np.linalg.eigh(saved)
    largest = 0.0
    for i in range(n):
        largest = max(largest, abs(values[i]))
    floor = max(EIGEN_FLOOR * largest, 1e-300)
    for j in range(n):
        scale = 1.0 / np.sqrt(max(abs(values[j]), floor))
        for i in range(n):
            root[i, j] = vectors[i, j] * scale
    return EIGEN


@njit(cache=True, fastmath={"contract", "reassoc"})
def root_times(root, z, x_ref, out) -> None:
    """out = x_ref + R z."""
    n = root.shape[0]
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += root[i, j] * z[j]
        out[i] = x_ref[i] + total


@njit(cache=True, fastmath={"contract", "reassoc"})
def root_transpose_times(root, g, out) -> None:
    """out = R^T g (the gradient in the z variables)."""
    n = root.shape[0]
    for j in range(n):
        out[j] = 0.0
    for i in range(n):
        gi = g[i]
        for j in range(n):
            out[j] += root[i, j] * gi
