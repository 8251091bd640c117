"""GMIN-style L-BFGS: convergence on known functions, its honesty when it stops, its special rules."""

from __future__ import annotations

import numpy as np
import pytest

from lfl.errors import LflError
from lfl.numerics import lbfgs_core as core
from lfl.numerics.lbfgs import LBFGS, LBFGSSettings, minimize_lbfgs
from lfl.systems.base import System
from lfl.systems.ljat3 import LJAT3System


class Rosenbrock(System):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, minimum 0 at (1, ..., 1)."""

    def __init__(self, n: int) -> None:
        self.n_dof = n
        self.evaluations = 0

    def energy_gradient(self, x):
        self.evaluations += 1
        head, tail = x[:-1], x[1:]
        energy = float(np.sum(100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2))
        gradient = np.zeros_like(x)
        gradient[:-1] = -400.0 * head * (tail - head**2) - 2.0 * (1.0 - head)
        gradient[1:] += 200.0 * (tail - head**2)
        return energy, gradient


class Quadratic(System):
    """0.5 x.A.x - b.x with A symmetric positive definite: minimum where A x = b."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b, self.n_dof = a, b, b.size

    def energy_gradient(self, x):
        ax = self.a @ x
        return float(0.5 * x @ ax - self.b @ x), ax - self.b


def _central_difference_gradient(system: System, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step
        out[i] = (system.energy(x + e) - system.energy(x - e)) / (2 * step)
    return out


def test_rosenbrock_test_function_gradient_is_right():
    x = np.random.default_rng(3).uniform(-1.5, 1.5, 7)
    system = Rosenbrock(7)
    numeric = _central_difference_gradient(system, x)
    np.testing.assert_allclose(system.energy_gradient(x)[1], numeric, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("n", [2, 10, 30])
def test_rosenbrock_reaches_all_ones(n):
    x0 = np.full(n, -1.2) if n == 2 else np.random.default_rng(n).uniform(-0.5, 0.5, n)
    result = minimize_lbfgs(Rosenbrock(n), x0, rms_gradient=1e-9)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, np.ones(n), atol=1e-7)
    assert result.energy < 1e-14
    assert result.rms_gradient < 1e-9
    assert result.rms_gradient == pytest.approx(np.linalg.norm(result.gradient) / np.sqrt(n))
    assert result.fun == result.energy and result.jac is result.gradient


def test_quadratic_reaches_the_solution_of_the_linear_system():
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    a = q @ np.diag(np.geomspace(0.05, 20.0, 12)) @ q.T
    b = rng.normal(size=12)
    result = minimize_lbfgs(Quadratic(a, b), np.zeros(12), rms_gradient=1e-11)
    assert result.success
    np.testing.assert_allclose(result.x, np.linalg.solve(a, b), atol=1e-9)


def test_ljat3_cluster_reaches_the_triangle_minimum():
    side = 1.2
    x0 = np.array([0, 0, 0, side, 0, 0, side / 2, side * np.sqrt(3) / 2 + 0.05, 0.02])
    result = minimize_lbfgs(LJAT3System(z=2.0), x0, rms_gradient=1e-10)
    assert result.success
    assert result.energy == pytest.approx(-2.18510, abs=1e-5)  # SCIENCE.md / the issue: triangle minimum
    r = [np.linalg.norm(result.x[i : i + 3] - result.x[j : j + 3]) for i, j in ((0, 3), (0, 6), (3, 6))]
    np.testing.assert_allclose(r, 1.169, atol=1e-3)


def test_too_few_iterations_is_reported_as_failure():
    result = minimize_lbfgs(Rosenbrock(10), np.zeros(10), max_iterations=5)
    assert not result.success
    assert result.nit == 5
    assert "maximum number of iterations" in result.message
    assert result.rms_gradient > 1e-9


def test_energy_never_rises_by_more_than_max_rise_between_accepted_steps():
    energies = []
    result = minimize_lbfgs(Rosenbrock(10), np.zeros(10), callback=lambda state: energies.append(state.energy))
    assert result.success
    assert len(energies) == result.nit
    assert np.all(np.diff(energies) <= 1e-10)


def test_max_rise_none_disables_the_guard_and_still_converges_on_a_quadratic():
    a = np.diag(np.linspace(0.5, 3.0, 6))
    result = minimize_lbfgs(Quadratic(a, np.ones(6)), np.zeros(6), max_rise=None, rms_gradient=1e-10)
    assert result.success
    np.testing.assert_allclose(result.x, 1.0 / np.diag(a), atol=1e-9)


def test_steps_never_exceed_max_step():
    positions = []
    minimize_lbfgs(Rosenbrock(5), np.full(5, 3.0), max_step=0.1, callback=lambda s: positions.append(s.x))
    steps = np.linalg.norm(np.diff(np.array(positions), axis=0), axis=1)
    assert steps.max() <= 0.1 + 1e-12


def test_huge_first_energy_resets_and_still_converges():
    # atoms 1 and 2 almost on top of each other: energy ~4e24, the first pair makes H0 collapse
    x0 = np.array([0, 0, 0, 0.01, 0, 0, 0.5, 1.0, 0.2])
    system = LJAT3System()
    assert system.energy(x0) > 1e24
    result = minimize_lbfgs(system, x0, rms_gradient=1e-10)
    assert result.success, result.message
    assert result.n_resets >= 1
    assert result.energy == pytest.approx(-2.18510, abs=1e-5) or result.energy == pytest.approx(-2.21910, abs=1e-5)


def test_collapsed_step_resets_the_memory_and_takes_a_steepest_descent_step():
    # drive the core by hand: a start with a huge gradient along e1, then a trial whose gradient is
    # along e2 only. The pair (s ~ e1, y ~ -1e24 e1) gives H0 ~ 1e-25, and -H g is below round-off.
    work, fstate, istate = core.lbfgs_new_state(2, 4)
    settings = core.lbfgs_settings(0.4, 0.1, 1e-10, 1e-10, 100)
    x = np.array([1.0, 1.0])
    code = core.lbfgs_advance(x, 1e22, np.array([1e24, 0.0]), work, fstate, istate, settings)
    assert code == core.TRIAL
    np.testing.assert_allclose(x, [0.9, 1.0])  # GMIN's first step: 0.1 * min(1/|g|, |g|) * |g| along -g
    code = core.lbfgs_advance(x, 1.0, np.array([0.0, 1.0]), work, fstate, istate, settings)
    assert code == core.ACCEPTED
    assert istate[core.I_RESETS] == 1 and istate[core.I_PAIRS] == 0
    np.testing.assert_allclose(x, [0.9, 0.9])  # steepest descent again, |g| = 1: a step of 0.1


def test_energy_rise_cuts_the_step_by_ten_then_resets_then_gives_up():
    work, fstate, istate = core.lbfgs_new_state(1, 4)
    settings = core.lbfgs_settings(0.4, 0.1, 1e-10, 1e-10, 100)
    x = np.array([0.0])
    gradient = np.array([1.0])
    assert core.lbfgs_advance(x, 0.0, gradient, work, fstate, istate, settings) == core.TRIAL
    trials = [x[0]]
    for _ in range(core.MAX_CUTS):  # a gradient that lies: every trial is higher
        assert core.lbfgs_advance(x, 1.0, gradient, work, fstate, istate, settings) == core.TRIAL
        trials.append(x[0])
    np.testing.assert_allclose(trials, -0.1 * 10.0 ** -np.arange(core.MAX_CUTS + 1))
    # the eleventh rise: the step came from an empty memory, so a reset would repeat it exactly
    code = core.lbfgs_advance(x, 1.0, gradient, work, fstate, istate, settings)
    assert code == core.FAILED_NO_DESCENT
    assert x[0] == 0.0  # left at the best point


def test_nonfinite_start_is_reported():
    class Broken(System):
        n_dof = 2

        def energy_gradient(self, x):
            return float("nan"), np.zeros(2)

    result = minimize_lbfgs(Broken(), np.zeros(2))
    assert not result.success and "not finite" in result.message


def test_optimiser_object_steps_runs_and_matches_the_function():
    x0 = np.random.default_rng(1).uniform(-0.5, 0.5, 6)
    optimiser = LBFGS(Rosenbrock(6), x0)
    assert optimiser.result().message == "not started"
    first = optimiser.step()
    assert first.nit == 1 and not first.success
    states = list(optimiser.run())
    assert [s.nit for s in states] == list(range(2, states[-1].nit + 1))
    final = optimiser.result()
    assert final.success and optimiser.done
    reference = minimize_lbfgs(Rosenbrock(6), x0)
    np.testing.assert_array_equal(final.x, reference.x)
    assert (final.nit, final.nfev) == (reference.nit, reference.nfev)


def test_callback_returning_true_stops_the_run():
    result = minimize_lbfgs(Rosenbrock(10), np.zeros(10), callback=lambda state: state.nit >= 3)
    assert result.nit == 3 and not result.success and "callback" in result.message


def test_each_evaluation_is_counted():
    system = Rosenbrock(4)
    result = minimize_lbfgs(system, np.zeros(4))
    assert result.nfev == system.evaluations


@pytest.mark.parametrize(
    "settings",
    [
        {"memory": 0},
        {"max_step": 0.0},
        {"initial_diag": -1.0},
        {"max_rise": -1.0},
        {"rms_gradient": -1.0},
        {"max_iterations": -1},
    ],
)
def test_bad_settings_raise_one_line_errors(settings):
    with pytest.raises(LflError) as info:
        LBFGS(Rosenbrock(2), np.zeros(2), **settings)
    assert "\n" not in str(info.value) and list(settings)[0] in str(info.value)


def test_settings_defaults_are_gmins():
    assert LBFGSSettings() == LBFGSSettings(
        memory=4, max_step=0.4, initial_diag=0.1, max_rise=1e-10, rms_gradient=1e-9, max_iterations=10000
    )


def test_infinite_trial_energy_is_rejected_even_without_the_energy_guard():
    class Wall(System):
        """(x - 2)^2 for x < 1.5, +inf beyond: the first trials overshoot into the wall."""

        n_dof = 1

        def energy_gradient(self, x):
            if x[0] >= 1.5:
                return float("inf"), np.zeros(1)  # only the energy tells the wall
            return float((x[0] - 2.0) ** 2), 2.0 * (x - 2.0)

    result = minimize_lbfgs(Wall(), np.array([1.4]), max_rise=None, max_step=0.4, max_iterations=50)
    assert np.isfinite(result.energy) and result.x[0] < 1.5


def _bfgs_inverse_hessian(pairs: list[tuple[np.ndarray, np.ndarray]], h0: float) -> np.ndarray:
    """The L-BFGS inverse Hessian written as explicit BFGS updates of h0 * I (oldest pair first)."""
    n = pairs[0][0].size
    h = h0 * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h


@pytest.mark.parametrize("n", [9, 31, 32, 74])
@pytest.mark.parametrize("stored, memory", [(3, 5), (5, 5), (8, 5)], ids=["partial", "full", "wrapped"])
def test_two_loop_direction_equals_explicit_bfgs_matrix(n, stored, memory):
    # both code paths: sequential sums below FUSED_MIN_N, the fused SIMD pass from it on
    rng = np.random.default_rng(n + 10 * stored)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.geomspace(0.1, 10.0, n)) @ q.T  # positive curvature: every pair has s.y > 0
    work, fstate, istate = core.lbfgs_new_state(n, memory)
    history = []
    for k in range(stored):  # pairs go into slots k mod memory, as lbfgs_advance stores them
        s = rng.normal(size=n)
        y = a @ s
        slot = k % memory
        work[slot], work[memory + slot] = s, y
        fstate[core.F_HEAD + slot] = 1.0 / (y @ s)
        fstate[core.F_H0] = (y @ s) / (y @ y)
        history.append((s, y))
    istate[core.I_PAIRS] = min(stored, memory)
    istate[core.I_POINT] = stored % memory
    gradient = rng.normal(size=n)
    work[2 * memory + 1] = gradient
    settings = core.lbfgs_settings(1e30, 0.1, 1e-10, 1e-10, 100)
    core._direction(work, fstate, istate, settings)
    kept = history[-memory:]
    expected = -_bfgs_inverse_hessian(kept, fstate[core.F_H0]) @ gradient
    assert gradient @ expected < 0  # descent: _direction must not have reversed it
    np.testing.assert_allclose(work[2 * memory + 2], expected, rtol=1e-11, atol=1e-12 * np.abs(expected).max())
    # the secant condition of the newest pair: H y = s
    work[2 * memory + 1] = -kept[-1][1]
    core._direction(work, fstate, istate, settings)
    np.testing.assert_allclose(work[2 * memory + 2], kept[-1][0], rtol=1e-10, atol=1e-12)
