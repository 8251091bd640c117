"""The compiled network quench: same iterates as the generic L-BFGS driver, honest outcome, generic fallback.

Independent checks: the generic Python driver (lbfgs.minimize_lbfgs, which calls the system through
Python), the system's own energy_gradient at the returned point, and eigenvalues of a central-difference
Hessian of the gradient (System.hessian of the base class, not the network's R-operator Hessian).
"""

from __future__ import annotations

import numpy as np
import pytest

from lfl.errors import LflError
from lfl.explore.network_quench import make_quench, uses_compiled_quench
from lfl.numerics.lbfgs import LBFGSSettings, minimize_lbfgs
from lfl.systems.base import System
from lfl.systems.ljat3 import LJAT3System
from lfl.systems.mlp import MLPSystem

SETTINGS = LBFGSSettings(memory=10, max_step=0.5, rms_gradient=1e-9, max_iterations=20000)


def blob_data(n_items: int, n_inputs: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian blobs: a learnable but noisy classification problem."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_items)
    centres = rng.normal(0.0, 1.0, (n_classes, n_inputs))
    return centres[labels] + rng.normal(0.0, 0.8, (n_items, n_inputs)), labels


@pytest.fixture(scope="module")
def small_network() -> MLPSystem:
    inputs, labels = blob_data(120, 2, 3, seed=0)
    return MLPSystem([2, 4, 3, 120, 1e-3], inputs, labels)


def rms(vector: np.ndarray) -> float:
    return float(np.sqrt(np.mean(vector**2)))


def test_network_systems_get_the_compiled_driver(small_network):
    assert uses_compiled_quench(small_network)
    assert not uses_compiled_quench(LJAT3System())


@pytest.mark.parametrize(
    "spec, n_inputs, blas_first",
    [([2, 4, 3, 120, 1e-3], 2, None), ([2, [3, 3], 3, 120, 1e-3], 2, None), ({"inputs": 3, "hidden": [5],
      "outputs": 3, "lambda": 1e-2, "connectivity_k": 2}, 3, True), ([2, 10, 3, 120, 1e-3], 2, None)],
    ids=["one-layer", "two-layers", "masked-blas", "63-weights"],  # 63 >= FUSED_MIN_N: the SIMD two-loop
)
def test_compiled_and_python_drivers_take_the_same_steps(spec, n_inputs, blas_first):
    inputs, labels = blob_data(120, n_inputs, 3, seed=1)
    system = MLPSystem(spec, inputs, labels, blas_first=blas_first)
    x0 = system.random_weights(np.random.default_rng(2))
    compiled = make_quench(system, SETTINGS)(x0)
    python = minimize_lbfgs(system, x0, **SETTINGS.as_dict())
    assert compiled.success and python.success
    assert compiled.nit == python.nit and compiled.nfev == python.nfev
    assert compiled.n_resets == python.n_resets
    np.testing.assert_allclose(compiled.x, python.x, rtol=0, atol=1e-12)
    assert compiled.energy == pytest.approx(python.energy, abs=1e-13)
    assert compiled.message == python.message


def test_converged_quench_is_a_minimum(small_network):
    x0 = small_network.random_weights(np.random.default_rng(3))
    result = make_quench(small_network, SETTINGS)(x0)
    assert result.success and "converged" in result.message
    # the reported point, energy and gradient are the system's own values there
    energy, gradient = small_network.energy_gradient(result.x)
    assert result.energy == energy
    np.testing.assert_array_equal(result.gradient, gradient)
    assert rms(gradient) < SETTINGS.rms_gradient
    assert result.rms_gradient == pytest.approx(rms(gradient), rel=1e-12)
    assert result.energy < small_network.energy(x0)
    values = np.linalg.eigvalsh(System.hessian(small_network, result.x, step=1e-5))
    assert values[0] > 0.0  # lambda = 1e-3 lifts every eigenvalue of a minimum by about 2e-3
    assert not np.array_equal(x0, result.x)  # the caller's start is left alone
    np.testing.assert_array_equal(x0, small_network.random_weights(np.random.default_rng(3)))


def test_repeated_quenches_do_not_depend_on_the_previous_one(small_network):
    quench = make_quench(small_network, SETTINGS)
    rng = np.random.default_rng(4)
    a, b = small_network.random_weights(rng), small_network.random_weights(rng)
    first = quench(a)
    quench(b)
    again = quench(a)
    assert again.nit == first.nit
    np.testing.assert_array_equal(again.x, first.x)


def test_too_few_iterations_is_reported_as_not_converged(small_network):
    x0 = small_network.random_weights(np.random.default_rng(5))
    settings = LBFGSSettings(memory=10, max_step=0.5, rms_gradient=1e-9, max_iterations=7)
    result = make_quench(small_network, settings)(x0)
    assert not result.success
    assert result.nit == 7
    assert "maximum number of iterations" in result.message
    assert result.rms_gradient > settings.rms_gradient
    energy, gradient = small_network.energy_gradient(result.x)
    assert result.energy == energy and rms(gradient) == pytest.approx(result.rms_gradient, rel=1e-12)
    python = minimize_lbfgs(small_network, x0, **settings.as_dict())
    np.testing.assert_allclose(result.x, python.x, rtol=0, atol=1e-12)


def test_already_converged_start_takes_no_step(small_network):
    minimum = make_quench(small_network, SETTINGS)(small_network.random_weights(np.random.default_rng(6)))
    again = make_quench(small_network, SETTINGS)(minimum.x)
    assert again.success and again.nit == 0 and again.nfev == 1
    np.testing.assert_array_equal(again.x, minimum.x)


def test_other_systems_fall_back_to_the_generic_driver():
    system = LJAT3System()
    settings = LBFGSSettings(memory=4, max_step=0.4, rms_gradient=1e-10, max_iterations=10000)
    x0 = np.array([0.0, 0.0, 0.0, 1.1, 0.1, 0.0, 0.4, 1.0, 0.2])
    result = make_quench(system, settings)(x0)
    expected = minimize_lbfgs(system, x0, **settings.as_dict())
    assert result.success and result.nit == expected.nit
    np.testing.assert_array_equal(result.x, expected.x)
    assert rms(system.energy_gradient(result.x)[1]) < 1e-10


def test_bad_input_is_refused(small_network):
    quench = make_quench(small_network, SETTINGS)
    with pytest.raises(LflError, match="shape"):
        quench(np.zeros(small_network.n_dof + 1))
    start = np.zeros(small_network.n_dof)
    start[2] = np.nan
    with pytest.raises(LflError, match="NaN"):
        quench(start)
    with pytest.raises(LflError, match="LBFGSSettings"):
        make_quench(small_network, {"memory": 10})
