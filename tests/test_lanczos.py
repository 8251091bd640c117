"""The unrestarted Lanczos of lfl.numerics.lanczos against LAPACK's full eigendecomposition."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from lfl.errors import LflError
from lfl.numerics.lanczos import LanczosLowest, lowest_eigenvalues


def symmetric_with_spectrum(values: np.ndarray, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((values.size, values.size)))
    return (q * values) @ q.T


def loss_like_spectrum(n: int, seed: int, lowest: float) -> np.ndarray:
    """Two low eigenvalues, a wide cluster of small ones just above, a few large ones: a loss Hessian."""
    rng = np.random.default_rng(seed)
    cluster = 0.02 + 0.2 * rng.random(n - 12)
    stiff = rng.uniform(1.0, 10.0, 10)
    return np.concatenate([[lowest, lowest + 0.006], cluster, stiff])


@pytest.mark.parametrize("lowest", [0.01, -0.003])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lowest_eigenvalues_match_lapack(seed, lowest):
    matrix = symmetric_with_spectrum(loss_like_spectrum(400, seed, lowest), seed)
    exact = scipy.linalg.eigvalsh(matrix)
    result = lowest_eigenvalues(lambda v: matrix @ v, 400, n_eigen=2, tol=1e-8, max_steps=300)
    assert result.converged
    assert result.n_products < 300
    np.testing.assert_allclose(result.values, exact[:2], rtol=1e-7)
    assert result.max_residual <= 1e-8 * abs(result.values).max()


def test_same_seed_same_products_other_seed_same_values():
    matrix = symmetric_with_spectrum(loss_like_spectrum(200, 5, 0.01), 5)
    a = lowest_eigenvalues(lambda v: matrix @ v, 200, seed=3)
    b = lowest_eigenvalues(lambda v: matrix @ v, 200, seed=3)
    c = lowest_eigenvalues(lambda v: matrix @ v, 200, seed=4)
    assert a.n_products == b.n_products and np.array_equal(a.values, b.values)
    np.testing.assert_allclose(c.values, a.values, rtol=1e-7)


def test_small_operator_is_solved_exactly():
    """n steps span the space: the Ritz values are the eigenvalues (here beta vanishes on the way)."""
    matrix = np.diag([3.0, -1.0, 2.0, 0.5])
    result = lowest_eigenvalues(lambda v: matrix @ v, 4, n_eigen=3, max_steps=50)
    assert result.converged and result.n_products <= 4
    np.testing.assert_allclose(result.values, [-1.0, 0.5, 2.0], atol=1e-12)


def test_too_few_steps_is_not_converged_and_stepping_stops():
    matrix = symmetric_with_spectrum(loss_like_spectrum(300, 7, 0.01), 7)
    lanczos = LanczosLowest(300, n_eigen=2, max_steps=6)
    fed = 0
    while not lanczos.done:
        lanczos.feed(matrix @ lanczos.vector)
        fed += 1
    result = lanczos.result()
    assert fed == 6 and result.n_products == 6 and not result.converged
    assert result.values[0] >= scipy.linalg.eigvalsh(matrix)[0] - 1e-12  # a Ritz value bounds from above
    with pytest.raises(LflError, match="done"):
        lanczos.feed(np.zeros(300))


def test_basis_grows_with_the_steps_taken():
    matrix = np.diag(np.linspace(1.0, 2.0, 5000))
    lanczos = LanczosLowest(5000, n_eigen=1, max_steps=3000, tol=1e-2)
    while not lanczos.done:
        lanczos.feed(matrix @ lanczos.vector)
    assert lanczos.basis_bytes < 200 * 5000 * 8  # not max_steps rows


def test_bad_input_one_line():
    with pytest.raises(LflError, match="n_eigen"):
        LanczosLowest(5, n_eigen=6)
    with pytest.raises(LflError, match="tol"):
        LanczosLowest(5, tol=0.0)
    lanczos = LanczosLowest(5)
    with pytest.raises(LflError, match="shape"):
        lanczos.feed(np.zeros(4))
    with pytest.raises(LflError, match="not finite"):
        lanczos.feed(np.full(5, np.nan))
