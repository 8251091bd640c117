"""Hybrid eigenvector-following, lowest eigenpairs (dense and Lanczos), Hessian index.

Reference saddles come from scipy's root finder on the analytic gradient, their index from a
finite-difference Hessian: both independent of the code under test.
"""

import numpy as np
import pytest
from scipy.optimize import root

from lfl.errors import LflError
from lfl.explore.eigenvector_following import (
    EFSettings,
    hessian_index,
    hybrid_eigenvector_following,
    lowest_eigenpair,
    lowest_eigenpairs_dense,
    lowest_eigenpairs_iterative,
    plain_first_step_diag,
    uphill_step_length,
)
from lfl.systems.base import System
from lfl.systems.test_surfaces import (
    MULLER_BROWN_MINIMA_APPROX,
    MULLER_BROWN_SADDLES_APPROX,
    DoubleWell,
    EmbeddedSurface,
    MullerBrown,
)


def stationary_point(system, guess):
    sol = root(lambda x: system.energy_gradient(x)[1], guess, jac=lambda x: System.hessian(system, x), tol=1e-13)
    gradient = system.energy_gradient(sol.x)[1]
    assert np.sqrt(np.mean(gradient**2)) < 1e-10, sol.message
    return sol.x


def fd_eigenvalues(system, x):
    return np.linalg.eigvalsh(System.hessian(system, x))  # central differences of the gradient


@pytest.fixture(scope="module")
def mb_saddles():
    system = MullerBrown()
    saddles = [stationary_point(system, guess) for guess in MULLER_BROWN_SADDLES_APPROX]
    for s in saddles:
        values = fd_eigenvalues(system, s)
        assert values[0] < 0 < values[1]
    return saddles


class _GradientOnly(System):
    """A system that gives only energy and gradient: Hessian and Hessian-vector use the base defaults."""

    def __init__(self, inner):
        self.inner = inner
        self.n_dof = inner.n_dof

    def energy_gradient(self, x):
        return self.inner.energy_gradient(x)


@pytest.mark.parametrize("which", [0, 1])
def test_ef_finds_muller_brown_saddles(mb_saddles, which):
    system = MullerBrown()
    reference = mb_saddles[which]
    start = reference + np.array([0.04, -0.03])
    result = hybrid_eigenvector_following(system, start)
    assert result.success, result.message
    assert result.n_neg == 1
    assert result.rms_gradient < 1e-9
    np.testing.assert_allclose(result.x, reference, atol=1e-6)
    assert result.energy == pytest.approx(system.energy(reference), abs=1e-8)
    assert result.eigenvalue == pytest.approx(fd_eigenvalues(system, reference)[0], rel=1e-5)


def test_ef_double_well_saddle_with_tilted_mode():
    b, k, c = 1.5, 2.0, 3.0
    system = DoubleWell(barrier=b, stiffness=k, coupling=c)
    result = hybrid_eigenvector_following(system, np.array([0.25, -0.2]))
    assert result.success, result.message
    np.testing.assert_allclose(result.x, 0.0, atol=1e-9)
    values, vectors = np.linalg.eigh(np.array([[-4 * b, c], [c, k]]))  # the Hessian at the origin by hand
    assert result.eigenvalue == pytest.approx(values[0], rel=1e-10)
    assert abs(result.eigenvector @ vectors[:, 0]) == pytest.approx(1.0, abs=1e-10)
    assert np.max(np.abs(result.eigenvector)) < 0.99  # not along an axis


def test_ef_climbs_out_of_a_convex_region():
    # starting where the lowest eigenvalue is still positive: the uphill step takes the trust radius
    system = DoubleWell(barrier=1.0, stiffness=4.0)
    start = np.array([-0.75, 0.1])  # curvature along x0 there: 12*0.5625 - 4 > 0
    assert np.linalg.eigvalsh(system.hessian(start))[0] > 0
    result = hybrid_eigenvector_following(system, start, EFSettings(max_uphill_step=0.2))
    assert result.success, result.message
    np.testing.assert_allclose(result.x, 0.0, atol=1e-9)


def test_ef_converges_from_a_nearly_converged_soft_start():
    # A residual gradient of ~1e-7 in soft orthogonal coordinates only: a GMIN-style L-BFGS restarted
    # from empty memory takes a first step of 0.1 |g|^2 (below round-off) and stalls, unless EF
    # rescales its initial_diag (plain_first_step_diag).
    system = EmbeddedSurface(MullerBrown(scale=1e-3), n_dof=6, stiffness=0.05, seed=1)
    saddle = stationary_point(system, system.embed(MULLER_BROWN_SADDLES_APPROX[0]))
    start = saddle + system.rotation @ np.array([0.0, 0.0, 1e-6, -1e-6, 1e-6, 0.0])
    assert np.sqrt(np.mean(system.energy_gradient(start)[1] ** 2)) > 1e-8
    result = hybrid_eigenvector_following(system, start, EFSettings(max_iterations=20))
    assert result.success, result.message
    np.testing.assert_allclose(result.x, saddle, atol=1e-9)


def test_plain_first_step_diag_undoes_the_cautious_scale():
    for norm in (1e-8, 0.5, 1.0, 30.0):
        diag = plain_first_step_diag(0.1, norm)
        assert diag * min(1.0 / norm, norm) == pytest.approx(0.1, rel=1e-12)
    assert plain_first_step_diag(0.1, 0.0) == 0.1


def test_uphill_step_length():
    assert uphill_step_length(0.0, 1.0, 0.1) == 0.1  # wrong curvature: full trust radius uphill
    assert uphill_step_length(-1e-3, 2.0, 0.1) == -0.1
    # negative curvature, small gradient: the Newton step g/|b| towards the maximum
    assert uphill_step_length(1e-4, -2.0, 0.1) == pytest.approx(5e-5, rel=1e-8)
    assert uphill_step_length(-10.0, -1.0, 0.3) == -0.3  # limited by the trust radius


def embedded_mb(n_dof=24, seed=5):
    return EmbeddedSurface(MullerBrown(), n_dof=n_dof, stiffness=np.linspace(30.0, 600.0, n_dof - 2), seed=seed)


@pytest.mark.parametrize("dense_max", [300, 0])
def test_ef_on_embedded_surface_dense_and_iterative(mb_saddles, dense_max):
    system = embedded_mb()
    reference = system.embed(mb_saddles[0])
    rng = np.random.default_rng(11)
    start = reference + 0.03 * rng.standard_normal(system.n_dof)
    result = hybrid_eigenvector_following(system, start, EFSettings(dense_max=dense_max))
    assert result.success, result.message
    np.testing.assert_allclose(result.x, reference, atol=1e-6)
    # the mode is the base surface's, rotated: not along any coordinate axis
    values, vectors = np.linalg.eigh(System.hessian(system, reference))
    assert abs(result.eigenvector @ vectors[:, 0]) == pytest.approx(1.0, abs=1e-6)
    assert np.max(np.abs(result.eigenvector)) < 0.9


def test_iterative_eigenpairs_agree_with_dense_using_only_gradients():
    inner = embedded_mb(n_dof=30, seed=8)
    x = inner.embed(np.array([-0.5, 0.9]), 0.05 * np.random.default_rng(2).standard_normal(28))
    dense_values, dense_vectors = lowest_eigenpairs_dense(inner, x, 2)
    # through the base class: Hessian-vector products by central differences of gradients only
    values, vectors = lowest_eigenpairs_iterative(_GradientOnly(inner), x, 2, tol=1e-10)
    np.testing.assert_allclose(values, dense_values, rtol=1e-6)
    for j in range(2):
        assert abs(vectors[:, j] @ dense_vectors[:, j]) == pytest.approx(1.0, abs=1e-6)
    value, vector = lowest_eigenpair(inner, x, dense_max=0, v0=dense_vectors[:, 0] + 0.1)
    assert value == pytest.approx(dense_values[0], rel=1e-8)
    assert abs(vector @ dense_vectors[:, 0]) == pytest.approx(1.0, abs=1e-8)


def test_lanczos_cut_short_falls_back_to_ritz_upper_bounds():
    # a loss-like spectrum: a cluster of tiny eigenvalues far below the largest ones
    system = EmbeddedSurface(MullerBrown(scale=1e-3), n_dof=40, stiffness=np.geomspace(1e-4, 50.0, 38), seed=6)
    x = system.embed(MULLER_BROWN_SADDLES_APPROX[0] + 0.01)
    exact = np.linalg.eigvalsh(system.hessian(x))[:2]
    values, vectors = lowest_eigenpairs_iterative(system, x, 2, tol=1e-12, max_iterations=1, fallback_iterations=30)
    assert np.all(values >= exact - 1e-12)  # Rayleigh-Ritz: never below the true eigenvalues
    assert values[0] < 0.0  # the negative mode is still resolved
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=0), 1.0, rtol=1e-8)


@pytest.mark.parametrize("limit", [None, 0.05])
def test_ef_with_and_without_tangent_displacement_cap(mb_saddles, limit):
    system = embedded_mb(n_dof=10, seed=2)
    reference = system.embed(mb_saddles[1])
    start = reference + 0.05 * np.random.default_rng(3).standard_normal(system.n_dof)
    result = hybrid_eigenvector_following(system, start, EFSettings(max_tangent_displacement=limit))
    assert result.success, result.message
    np.testing.assert_allclose(result.x, reference, atol=1e-6)


def test_hessian_index_dense_and_iterative(mb_saddles):
    system = MullerBrown()
    minimum = stationary_point(system, MULLER_BROWN_MINIMA_APPROX[0])
    n_neg, lowest, log_prod = hessian_index(system, minimum)
    reference = fd_eigenvalues(system, minimum)
    assert n_neg == 0
    assert lowest == pytest.approx(reference[0], rel=1e-6)
    assert log_prod == pytest.approx(np.log(np.prod(reference)), rel=1e-6)
    assert hessian_index(system, mb_saddles[1])[0] == 1

    embedded = embedded_mb(n_dof=16, seed=4)
    for point, expected in ((embedded.embed(minimum), 0), (embedded.embed(mb_saddles[0]), 1)):
        dense = hessian_index(embedded, point)
        iterative = hessian_index(embedded, point, dense_max=0)
        assert dense[0] == iterative[0] == expected
        assert iterative[1] == pytest.approx(dense[1], rel=1e-8)
        assert np.isnan(iterative[2]) and np.isfinite(dense[2])


class _Hilltop(System):
    """-(x^2 + 2 y^2)/2 + (x^4 + y^4)/4: a maximum at the origin (index 2)."""

    n_dof = 2

    def energy_gradient(self, x):
        energy = -0.5 * (x[0] ** 2 + 2 * x[1] ** 2) + 0.25 * np.sum(x**4)
        return float(energy), np.array([-x[0] + x[0] ** 3, -2 * x[1] + x[1] ** 3])


def test_ef_rejects_a_stationary_point_of_index_two():
    result = hybrid_eigenvector_following(_Hilltop(), np.zeros(2))
    assert not result.success
    assert result.n_neg == 2
    assert "2 negative" in result.message


def test_ef_reports_non_convergence():
    result = hybrid_eigenvector_following(MullerBrown(), np.array([-0.5, 0.8]), EFSettings(max_iterations=1))
    assert not result.success
    assert "not converged" in result.message


def test_ef_bad_input_raises():
    with pytest.raises(LflError):
        hybrid_eigenvector_following(MullerBrown(), np.zeros(3))
    with pytest.raises(LflError):
        hybrid_eigenvector_following(MullerBrown(), np.zeros(2), EFSettings(rms_gradient=0.0))


class _CliffedBowl(System):
    """x^2, undefined (NaN) from x = 1 on."""

    n_dof = 1

    def energy_gradient(self, x):
        if x[0] >= 1.0:
            return float("nan"), np.array([np.nan])
        return float(x[0] ** 2), np.array([2.0 * x[0]])


def test_ef_stops_cleanly_on_a_non_finite_energy():
    # positive curvature: the uphill step takes the full trust radius, over the cliff
    result = hybrid_eigenvector_following(_CliffedBowl(), np.array([0.95]), EFSettings(max_uphill_step=0.1))
    assert not result.success
    assert "non-finite" in result.message


def test_rfo_mode_steps():
    from lfl.explore.eigenvector_following import rfo_mode_steps

    g = np.array([1e-6, -1e-6, 3.0, -3.0, 0.5, 0.0, 2.0])
    b = np.array([2.0, -2.0, 1e-8, 1e-8, 0.0, 0.0, -1.0])
    steps = rfo_mode_steps(g, b)
    np.testing.assert_allclose(steps[:2], [5e-7, -5e-7], rtol=1e-9)  # Newton g/|b| for small g/b
    np.testing.assert_allclose(steps[2:4], [1.0, -1.0], rtol=1e-6)  # at most 1 for large g/b
    assert steps[4] == 1.0 and steps[5] == 0.0  # b = 0: sign of g, and no 0/0
    # the closed form 2g / (|b| (1 + sqrt(1 + 4 g^2 / b^2))) where b != 0
    assert steps[6] == pytest.approx(2 * 2.0 / (1.0 * (1 + np.sqrt(1 + 16.0))), rel=1e-12)


@pytest.mark.parametrize("which", [0, 1])
def test_newton_and_lbfgs_orthogonal_minimisers_find_the_same_saddle(mb_saddles, which):
    system = embedded_mb(n_dof=12, seed=3)
    reference = system.embed(mb_saddles[which])
    start = reference + 0.03 * np.random.default_rng(which).standard_normal(system.n_dof)
    results = {
        method: hybrid_eigenvector_following(system, start, EFSettings(tangent_method=method))
        for method in ("newton", "lbfgs")
    }
    for result in results.values():
        assert result.success, result.message
        np.testing.assert_allclose(result.x, reference, atol=1e-6)
        assert result.n_neg == 1 and result.rms_gradient < 1e-9
        values, vectors = np.linalg.eigh(System.hessian(system, reference))
        assert result.eigenvalue == pytest.approx(values[0], rel=1e-5)
        assert abs(result.eigenvector @ vectors[:, 0]) == pytest.approx(1.0, abs=1e-6)
    # a Newton step per iteration converges in far fewer gradient evaluations
    assert results["newton"].nfev < results["lbfgs"].nfev


def test_newton_method_choice():
    assert EFSettings().uses_newton(10)
    assert not EFSettings(dense_max=5).uses_newton(10)
    assert EFSettings(dense_max=5, tangent_method="newton").uses_newton(10)
    assert not EFSettings(tangent_method="lbfgs").uses_newton(10)
    with pytest.raises(LflError, match="tangent_method"):
        hybrid_eigenvector_following(MullerBrown(), np.zeros(2), EFSettings(tangent_method="bfgs"))
    with pytest.raises(LflError):
        hybrid_eigenvector_following(MullerBrown(), np.zeros(2), EFSettings(newton_mode_step=0.0))


@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_both_methods_reject_index_two_and_report_non_convergence(method):
    result = hybrid_eigenvector_following(_Hilltop(), np.zeros(2), EFSettings(tangent_method=method))
    assert not result.success and result.n_neg == 2
    result = hybrid_eigenvector_following(
        MullerBrown(), np.array([-0.5, 0.8]), EFSettings(max_iterations=1, tangent_method=method)
    )
    assert not result.success and "not converged" in result.message
