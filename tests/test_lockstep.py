"""Basin-hopping walkers in lockstep (lfl.explore.lockstep) against the same walkers run one at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lfl.errors import LflError
from lfl.explore.basin_hopping import BasinHoppingReport, BasinHoppingSettings, basin_hopping, start_walk
from lfl.explore.eigenvector_following import hessian_index
from lfl.explore.lockstep import check_lockstep, lockstep_basin_hopping
from lfl.explore.network_quench import HessianPreconditioning, make_quench
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.systems.mlp import MLPSystem
from lfl.systems.test_surfaces import MullerBrown

LBFGS = LBFGSSettings(memory=4, rms_gradient=1e-9, max_iterations=20000)
HOPS = BasinHoppingSettings(step_size=1.0, temperature=0.01, adapt_interval=2)


@pytest.fixture(scope="module")
def wide_system():
    """Wide inputs (the first layer through stacked BLAS products), 355 weights."""
    rng = np.random.default_rng(0)
    return MLPSystem([40, 8, 3, 60, 0.01], rng.normal(size=(60, 40)), rng.integers(0, 3, 60))


def one_at_a_time(system, seeds, n_steps, dense_max):
    quench = make_quench(system, LBFGS)  # plain L-BFGS, as in lockstep

    def verify(x):
        return hessian_index(system, x, dense_max=dense_max)

    reports = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        report = BasinHoppingReport()
        state = start_walk(system.random_weights(rng), quench=quench, verify=verify, step_size=HOPS.step_size,
                           report=report, rng=rng)
        reports.append(basin_hopping(state, n_steps=n_steps, settings=HOPS, rng=rng, quench=quench, verify=verify,
                                     report=report))
    return reports


def in_lockstep(system, seeds, n_steps, dense_max):
    walkers = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        walkers.append((system.random_weights(rng), rng))
    return lockstep_basin_hopping(system, walkers, n_steps=n_steps, settings=HOPS, lbfgs=LBFGS, dense_max=dense_max)


def assert_same_walks(serial, lockstep, system):
    for one, many in zip(serial, lockstep, strict=True):
        assert (one.n_quenches, one.n_accepted, one.n_unconverged, one.n_not_minimum, one.n_unverified) == (
            many.n_quenches, many.n_accepted, many.n_unconverged, many.n_not_minimum, many.n_unverified)
        assert [m.step for m in one.minima] == [m.step for m in many.minima]
        for a, b in zip(one.minima, many.minima, strict=True):
            assert b.energy == pytest.approx(a.energy, rel=1e-11)
            # A converged quench fixes its point only to about |gradient| / (lowest curvature) along the
            # softest mode: two sums in another order (a stacked BLAS product) may stop that far apart.
            # Seen: 2.7e-6 apart at rms gradient 9e-10 and lowest eigenvalue 1.3e-3 (CI, a loaded machine).
            spread = 10.0 * np.sqrt(a.x.size) * max(a.rms_gradient, b.rms_gradient) / a.lowest_eigenvalue
            assert system.distance(a.x, b.x) < max(1e-6, spread) < 1e-3  # 1e-3: the identity rule's scale
            # the eigenvalue moves with the point: by its third derivative times that distance
            assert b.lowest_eigenvalue == pytest.approx(a.lowest_eigenvalue, rel=1e-3)
        assert many.state.step_size == one.state.step_size and many.state.steps_done == one.state.steps_done
        assert many.state.energy == pytest.approx(one.state.energy, rel=1e-11)


@pytest.mark.parametrize("dense_max", [1000, 100], ids=["dense-check", "batched-lanczos"])
def test_lockstep_walkers_find_the_minima_of_the_same_walkers_one_at_a_time(wide_system, dense_max):
    seeds = [[5, walker] for walker in range(4)]
    serial = one_at_a_time(wide_system, seeds, 4, dense_max)
    lockstep = in_lockstep(wide_system, seeds, 4, dense_max)
    assert sum(len(r.minima) for r in serial) >= 12
    assert_same_walks(serial, lockstep, wide_system)
    for report in lockstep:  # and every minimum is one, by an independent dense check
        for found in report.minima:
            energy, gradient = wide_system.energy_gradient(found.x)
            assert math.sqrt(gradient @ gradient / gradient.size) < 1e-9
            assert np.linalg.eigvalsh(wide_system.hessian(found.x))[0] == pytest.approx(found.lowest_eigenvalue,
                                                                                       rel=1e-6)
            assert found.lowest_eigenvalue > 0


def test_lockstep_continues_a_walk_from_its_state(wide_system):
    """A walk cut into two lockstep calls is the walk of one call (chunks continue each other)."""
    seeds = [[7, walker] for walker in range(3)]
    whole = in_lockstep(wide_system, seeds, 4, 1000)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    first = lockstep_basin_hopping(wide_system, [(wide_system.random_weights(rng), rng) for rng in rngs], n_steps=2,
                                   settings=HOPS, lbfgs=LBFGS, dense_max=1000)
    second = lockstep_basin_hopping(wide_system, [(report.state, rng) for report, rng in zip(first, rngs)],
                                    n_steps=2, settings=HOPS, lbfgs=LBFGS, dense_max=1000)
    for all_of_it, head, tail in zip(whole, first, second, strict=True):
        energies = [m.energy for m in head.minima] + [m.energy for m in tail.minima]
        np.testing.assert_allclose(energies, [m.energy for m in all_of_it.minima], rtol=1e-11)
        assert tail.state.steps_done == all_of_it.state.steps_done == 4


def test_lockstep_needs_a_network_and_plain_lbfgs(wide_system):
    with pytest.raises(LflError, match="network loss"):
        check_lockstep(MullerBrown(), LBFGS, None)
    with pytest.raises(LflError, match="precondition_max_weights"):
        check_lockstep(wide_system, LBFGS, HessianPreconditioning(max_weights=1000))
    check_lockstep(wide_system, LBFGS, HessianPreconditioning(max_weights=300))  # 355 weights: plain anyway
    with pytest.raises(LflError, match="at least one walker"):
        lockstep_basin_hopping(wide_system, [], n_steps=1, settings=HOPS, lbfgs=LBFGS)


def test_a_minimum_the_batched_lanczos_cannot_verify_is_never_kept(wide_system, monkeypatch):
    """Lanczos cut short and ARPACK's fallback failing too: every quench is unverified, no minimum kept
    (the walk cannot even start); with only the Lanczos cut short, ARPACK verifies the same minima."""
    import scipy.sparse.linalg

    import lfl.explore.eigenvector_following as ef
    import lfl.explore.lockstep as lockstep

    seeds = [[9, walker] for walker in range(2)]
    verified = in_lockstep(wide_system, seeds, 1, 100)
    monkeypatch.setattr(lockstep, "VERIFY_MAX_PRODUCTS", 3)
    by_arpack = in_lockstep(wide_system, seeds, 1, 100)
    for one, other in zip(verified, by_arpack, strict=True):
        np.testing.assert_allclose([m.energy for m in other.minima], [m.energy for m in one.minima], rtol=1e-11)
        np.testing.assert_allclose([m.lowest_eigenvalue for m in other.minima],
                                   [m.lowest_eigenvalue for m in one.minima], rtol=1e-6)

    def no_convergence(*args, **kwargs):
        raise scipy.sparse.linalg.ArpackNoConvergence("forced", np.empty(0), np.empty((wide_system.n_dof, 0)))

    monkeypatch.setattr(ef, "eigsh", no_convergence)
    walkers = [(wide_system.random_weights(np.random.default_rng(seed)), np.random.default_rng(seed)) for seed in seeds]
    with pytest.raises(LflError, match="no verified minimum"):
        lockstep_basin_hopping(wide_system, walkers, n_steps=1, settings=HOPS, lbfgs=LBFGS, dense_max=100)
    state = verified[0].state
    walked = lockstep_basin_hopping(wide_system, [(state, np.random.default_rng(1))], n_steps=3, settings=HOPS,
                                    lbfgs=LBFGS, dense_max=100)[0]
    assert walked.minima == [] and walked.n_unverified == 3 and walked.n_quenches == 3
    assert walked.state.energy == state.energy  # nothing unverified was accepted either
