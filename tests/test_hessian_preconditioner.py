"""The Hessian preconditioner and the preconditioned network quench.

Independent checks: numpy's Cholesky and eigendecomposition for the factorisations, the plain
(unpreconditioned) quench and a central-difference Hessian of the gradient for the quench.
"""

from __future__ import annotations

import numpy as np
import pytest

from lfl.errors import LflError
from lfl.explore.hessian_preconditioner import (
    CHOLESKY,
    EIGEN,
    cholesky_in_place,
    preconditioner_root,
    root_times,
    root_transpose_times,
)
from lfl.explore.network_quench import HessianPreconditioning, make_quench, quench_settings
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.systems.base import System
from lfl.systems.mlp import MLPSystem

SETTINGS = LBFGSSettings(memory=30, max_step=1.0, rms_gradient=1e-9, max_iterations=20000)
PRECONDITION = HessianPreconditioning(below_rms=1e-4, refresh_every=10)


def random_symmetric(n: int, seed: int, definite: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    values = np.geomspace(1e-5, 3.0, n)  # as ill-conditioned as the network minima
    if not definite:
        values[[1, 4]] *= -1.0
    return (q * values) @ q.T


def rms(vector: np.ndarray) -> float:
    return float(np.sqrt(np.mean(vector**2)))


def test_cholesky_matches_numpy_and_refuses_an_indefinite_matrix():
    a = random_symmetric(20, 0, definite=True) + 0.1 * np.eye(20)
    lower = a.copy()
    assert cholesky_in_place(lower)
    np.testing.assert_allclose(lower, np.linalg.cholesky(a), rtol=0, atol=1e-12)
    assert not cholesky_in_place(random_symmetric(20, 1, definite=False))


def test_root_whitens_a_positive_definite_hessian_by_cholesky():
    hessian = random_symmetric(30, 2, definite=True)
    root = np.empty_like(hessian)
    assert preconditioner_root(hessian.copy(), root) == CHOLESKY
    np.testing.assert_allclose(root.T @ hessian @ root, np.eye(30), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(np.tril(root, -1), 0.0)  # R = L^-T is upper triangular


def test_root_of_an_indefinite_hessian_whitens_its_modulus():
    hessian = random_symmetric(30, 3, definite=False)
    root = np.empty_like(hessian)
    assert preconditioner_root(hessian.copy(), root) == EIGEN
    values, vectors = np.linalg.eigh(hessian)
    modulus = (vectors * np.abs(values)) @ vectors.T
    np.testing.assert_allclose(root.T @ modulus @ root, np.eye(30), rtol=0, atol=1e-8)


def test_root_products_match_numpy():
    rng = np.random.default_rng(4)
    root, z, x_ref, g = rng.normal(size=(12, 12)), rng.normal(size=12), rng.normal(size=12), rng.normal(size=12)
    out = np.empty(12)
    root_times(root, z, x_ref, out)
    np.testing.assert_allclose(out, x_ref + root @ z, rtol=1e-13, atol=1e-13)
    root_transpose_times(root, g, out)
    np.testing.assert_allclose(out, root.T @ g, rtol=1e-13, atol=1e-13)


@pytest.fixture(scope="module")
def flat_network() -> MLPSystem:
    """Small lambda: flat, ill-conditioned minima, where plain L-BFGS crawls (the case of the feature)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 150)
    inputs = rng.normal(0.0, 1.0, (3, 2))[labels] + rng.normal(0.0, 0.7, (150, 2))
    return MLPSystem([2, 6, 3, 150, 1e-5], inputs, labels)


def test_preconditioned_quench_reaches_a_verified_minimum(flat_network):
    x0 = flat_network.random_weights(np.random.default_rng(1))
    result = make_quench(flat_network, SETTINGS, PRECONDITION)(x0)
    assert result.success and "converged" in result.message and result.nhev >= 1
    energy, gradient = flat_network.energy_gradient(result.x)
    assert result.energy == energy
    np.testing.assert_array_equal(result.gradient, gradient)
    assert rms(gradient) < SETTINGS.rms_gradient
    values = np.linalg.eigvalsh(System.hessian(flat_network, result.x, step=1e-5))
    assert values[0] > -1e-7 * values[-1]  # no negative curvature beyond the differences' noise


def test_preconditioned_and_plain_quench_agree_near_a_minimum_with_fewer_iterations(flat_network):
    rng = np.random.default_rng(2)
    plain = make_quench(flat_network, SETTINGS)
    preconditioned = make_quench(flat_network, SETTINGS, PRECONDITION)
    minimum = plain(flat_network.random_weights(rng))
    nit_plain, nit_preconditioned = 0, 0
    for _ in range(4):  # small kicks: both must fall back into the same minimum
        start = minimum.x + rng.uniform(-0.05, 0.05, flat_network.n_dof)
        a, b = plain(start), preconditioned(start)
        assert a.success and b.success
        assert b.energy == pytest.approx(a.energy, abs=1e-12)
        np.testing.assert_allclose(b.x, a.x, rtol=0, atol=1e-4)
        nit_plain += a.nit
        nit_preconditioned += b.nit + 10 * b.nhev  # a Hessian of this network costs ~n/7 evaluations
    assert nit_preconditioned < nit_plain


def test_preconditioning_is_skipped_for_large_networks_and_loose_tolerances(flat_network):
    x0 = flat_network.random_weights(np.random.default_rng(3))
    plain = make_quench(flat_network, SETTINGS)(x0)
    for precondition in (HessianPreconditioning(max_weights=flat_network.n_dof - 1),
                         HessianPreconditioning(below_rms=0.0)):
        result = make_quench(flat_network, SETTINGS, precondition)(x0)
        assert result.nhev == 0 and result.nit == plain.nit
        np.testing.assert_array_equal(result.x, plain.x)


def test_preconditioned_quench_reports_too_few_iterations(flat_network):
    x0 = flat_network.random_weights(np.random.default_rng(5))
    full = make_quench(flat_network, SETTINGS, PRECONDITION)(x0)
    settings = LBFGSSettings(**{**SETTINGS.as_dict(), "max_iterations": full.nit - 3})
    result = make_quench(flat_network, settings, PRECONDITION)(x0)
    assert not result.success and "maximum number of iterations" in result.message
    assert result.nit == settings.max_iterations and result.nhev >= 1
    energy, gradient = flat_network.energy_gradient(result.x)
    assert result.energy == energy and rms(gradient) == pytest.approx(result.rms_gradient, rel=1e-12)


def test_quench_settings_split_the_config_and_default_what_older_definitions_lack():
    settings, precondition = quench_settings({"memory": 7, "precondition_every": 5, "precondition_below_rms": 1e-3})
    assert settings.memory == 7 and precondition.refresh_every == 5 and precondition.below_rms == 1e-3
    assert precondition.max_weights == HessianPreconditioning().max_weights
    settings, precondition = quench_settings({"memory": 7})
    assert precondition == HessianPreconditioning()


@pytest.mark.parametrize("field, value", [("below_rms", -1.0), ("refresh_every", 0), ("max_weights", -2)])
def test_bad_preconditioning_settings_are_refused(field, value):
    with pytest.raises(LflError, match="precondition"):
        HessianPreconditioning(**{field: value})
