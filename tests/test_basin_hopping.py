"""Basin-hopping on a small network: verified minima, the same global minimum from different seeds,
one representative per symmetry orbit, Metropolis acceptance."""

import math

import numpy as np
import pytest

from lfl.data.draw import draw_training_set
from lfl.data.ljat3 import generate_pool
from lfl.errors import LflError
from lfl.explore.basin_hopping import (
    BasinHoppingSettings,
    BasinHoppingReport,
    basin_hopping,
    distinct_minima,
    distinct_minima_counted,
    metropolis_accept,
    start_walk,
)
from lfl.explore.eigenvector_following import hessian_index
from lfl.explore.network_quench import make_quench
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.systems.mlp import MLPSystem


@pytest.fixture(scope="module")
def system():
    pool = generate_pool(box_length=1.385, n_samples=400, seed=3)
    draw = draw_training_set(pool, n_data=40, error_pct=0, seed=0)
    return MLPSystem([2, 3, 4, 40, 1e-2], draw.train_inputs, draw.train_labels)


def walk(system, seed, steps=40):
    quench = make_quench(system, LBFGSSettings(memory=30, max_step=1.0, rms_gradient=1e-9, max_iterations=20000))

    def verify(x):
        return hessian_index(system, x)

    rng = np.random.default_rng(seed)
    report = BasinHoppingReport()
    state = start_walk(system.random_weights(rng, 1.0), quench=quench, verify=verify, step_size=1.0, report=report,
                       rng=rng)
    settings = BasinHoppingSettings(step_size=1.0, temperature=0.05)
    return basin_hopping(state, n_steps=steps, settings=settings, rng=rng, quench=quench, verify=verify, report=report)


def test_different_seeds_find_the_same_global_minimum(system):
    reports = [walk(system, seed) for seed in (1, 2, 3)]
    lowest = []
    for report in reports:
        assert report.n_quenches == 41
        best = min(report.minima, key=lambda m: m.energy)
        lowest.append(best)
        for found in report.minima:  # every kept minimum is verified, independently of the walk
            energy, gradient = system.energy_gradient(found.x)
            assert math.sqrt(gradient @ gradient / gradient.size) < 1e-9
            assert np.linalg.eigvalsh(system.hessian(found.x)).min() > 0
            assert energy == pytest.approx(found.energy, abs=1e-13)
    energies = [m.energy for m in lowest]
    assert max(energies) - min(energies) < 1e-8
    for other in lowest[1:]:
        assert system.distance(lowest[0].x, other.x) < 1e-3


def test_one_representative_per_symmetry_orbit(system):
    report = walk(system, seed=4, steps=10)
    minimum = report.minima[0]
    rng = np.random.default_rng(0)
    copies = []
    layout = system.layout
    for _ in range(5):  # permute the hidden nodes and flip signs: the same minimum, other weights
        w1, b1 = layout.unpack(system.full_weights(minimum.x))[0]
        w2, b2 = layout.unpack(system.full_weights(minimum.x))[1]
        order = rng.permutation(w1.shape[0])
        signs = rng.choice([-1.0, 1.0], size=w1.shape[0])
        full = layout.pack([(w1[order] * signs[:, None], b1[order] * signs), (w2[:, order] * signs, b2)])
        x = system.from_full_weights(full)
        assert system.energy(x) == pytest.approx(minimum.energy, abs=1e-12)
        copies.append(type(minimum)(x, minimum.energy, 0.0, 0, 0.0, 0.0, 0))
    kept = distinct_minima([minimum, *copies], energy_tol=1e-7, distance_tol=1e-3, distance=system.distance)
    assert len(kept) == 1
    _, counts = distinct_minima_counted([minimum, *copies], energy_tol=1e-7, distance_tol=1e-3,
                                        distance=system.distance)
    assert counts.tolist() == [6]  # the minimum and its five copies: six sightings of one minimum
    raw = distinct_minima([minimum, *copies], energy_tol=1e-7, distance_tol=1e-3, distance=None)
    assert len(raw) > 1  # counted raw, the copies are different weight vectors


def test_metropolis_rule():
    rng = np.random.default_rng(0)
    assert metropolis_accept(1.0, 2.0, 0.0, rng)  # downhill always
    assert not metropolis_accept(2.0, 1.0, 0.0, rng)  # T = 0: uphill never
    accepted = np.mean([metropolis_accept(1.1, 1.0, 0.1, rng) for _ in range(20000)])
    assert accepted == pytest.approx(math.exp(-1.0), abs=0.015)


@pytest.mark.parametrize("kwargs", [dict(step_size=0.0), dict(temperature=-1.0), dict(adapt_factor=1.5)])
def test_bad_settings(kwargs):
    with pytest.raises(LflError):
        BasinHoppingSettings(**kwargs)


def test_a_point_lanczos_cannot_verify_is_never_kept_as_a_minimum(system, monkeypatch):
    """Beyond dense_max the minima are checked by Lanczos on Hessian-vector products; when it does not
    converge, its LOBPCG fallback only bounds the eigenvalues from above, so the point is unverified
    (index -1) and basin-hopping keeps nothing of it."""
    import scipy.sparse.linalg

    import lfl.explore.eigenvector_following as ef

    quench = make_quench(system, LBFGSSettings(memory=30, max_step=1.0, rms_gradient=1e-9, max_iterations=20000))
    rng = np.random.default_rng(4)
    start = system.random_weights(rng, 1.0)

    def lanczos_verify(x):
        return hessian_index(system, x, dense_max=5)  # 25 weights: the iterative check

    report = BasinHoppingReport()
    state = start_walk(start, quench=quench, verify=lanczos_verify, step_size=1.0, report=report)
    assert report.minima and report.minima[0].n_negative == 0  # Lanczos converged: a verified minimum
    dense = hessian_index(system, state.x)
    assert dense[0] == 0 and report.minima[0].lowest_eigenvalue == pytest.approx(dense[1], rel=1e-6)

    # the unrestarted Lanczos cut short: ARPACK's fallback still verifies the minimum
    monkeypatch.setattr(ef, "VERIFY_MAX_PRODUCTS", 3)
    assert hessian_index(system, state.x, dense_max=5)[0] == 0

    def no_convergence(*args, **kwargs):
        raise scipy.sparse.linalg.ArpackNoConvergence("forced", np.empty(0), np.empty((system.n_dof, 0)))

    monkeypatch.setattr(ef, "eigsh", no_convergence)  # ... and that one failing too: unverified
    assert hessian_index(system, state.x, dense_max=5)[0] == ef.UNVERIFIED
    assert hessian_index(system, state.x)[0] == 0  # the dense check is untouched
    report = BasinHoppingReport()
    with pytest.raises(LflError, match="no verified minimum"):
        start_walk(start, quench=quench, verify=lanczos_verify, step_size=1.0, report=report)
    assert report.minima == [] and report.n_unverified == 1 and report.n_not_minimum == 0
    state_report = basin_hopping(state, n_steps=5, settings=BasinHoppingSettings(step_size=1.0, temperature=0.05),
                                 rng=rng, quench=quench, verify=lanczos_verify)
    assert state_report.minima == [] and state_report.n_unverified == state_report.n_quenches - state_report.n_unconverged
