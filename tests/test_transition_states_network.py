"""connect_pair on a real network loss: every transition state found passes independent checks.

[2,3,4] with lambda 1e-4 on 50 LJAT3 items (25 weights). Minima come from quenches of random weights;
the pairs are the first round's shortest-path gaps. Each transition state is checked independently
of the code under test: its RMS gradient, the index from a central-difference Hessian of the analytic
gradient (not the R-operator Hessian), its energy against both minima, and its two minima re-found by
scipy's L-BFGS-B from a small step either way along the central-difference Hessian's negative mode.
"""

import numpy as np
import pytest
from scipy.optimize import minimize

from lfl.data.draw import draw_training_set
from lfl.data.ljat3 import generate_pool
from lfl.explore.connection_attempt import connect_pair
from lfl.explore.connection_strategy import plan_pairs
from lfl.explore.network_quench import make_quench
from lfl.explore.transition_states import network_connect_settings
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.systems.base import System
from lfl.systems.mlp import MLPSystem


def rms(vector):
    return float(np.sqrt(vector @ vector / vector.size))


def fd_eigen(system, x):
    return np.linalg.eigh(System.hessian(system, x, step=1e-5))  # central differences of the gradient


@pytest.fixture(scope="module")
def landscape():
    pool = generate_pool(box_length=1.385, n_samples=400, seed=2)
    draw = draw_training_set(pool, n_data=50, error_pct=0, seed=0)
    system = MLPSystem([2, 3, 4, 50, 1e-4], draw.train_inputs, draw.train_labels)
    quench = make_quench(system, LBFGSSettings(memory=100, max_step=1.0))
    rng = np.random.default_rng(0)
    minima, energies = [], []
    for _ in range(20):
        res = quench(system.random_weights(rng, 2.0))
        if not res.success or fd_eigen(system, res.x)[0][0] <= 0.0:
            continue
        if any(abs(res.energy - e) < 1e-7 and system.distance(m, res.x) < 1e-2 for m, e in zip(minima, energies)):
            continue
        minima.append(res.x)
        energies.append(res.energy)
    assert len(minima) >= 4, "the landscape should have several minima"
    pairs = plan_pairs(minimum_ids=np.arange(len(minima)), energies=np.array(energies), ts_min1=[], ts_min2=[],
                       coords=np.array(minima), distance=system.distance, n_pairs=4)
    return system, minima, pairs


def scipy_minimum(system, x0):
    res = minimize(lambda x: system.energy_gradient(x), x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "maxcor": 50, "gtol": 1e-12, "ftol": 0.0})
    return res.x, float(res.fun)


def test_network_transition_states_pass_independent_checks(landscape):
    system, minima, pairs = landscape
    settings = network_connect_settings()
    n_links = n_sides = n_unmatched = 0
    for a, b in pairs:
        result = connect_pair(system, minima[a], minima[b], settings)
        assert result.transition_states, result.message
        for ts in result.transition_states:
            energy, gradient = system.energy_gradient(ts.x)
            assert energy == pytest.approx(ts.energy, abs=1e-14)
            assert rms(gradient) < 1e-9
            values, vectors = fd_eigen(system, ts.x)
            assert np.count_nonzero(values < 0.0) == 1
            assert ts.eigenvalue == pytest.approx(values[0], rel=1e-4)
            assert ts.n_neg == 1
            # the log product of the positive eigenvalues (harmonic rates), from the same FD Hessian
            assert ts.log_prod_positive == pytest.approx(float(np.sum(np.log(values[1:]))), abs=1e-3)
            for side in (ts.minus, ts.plus):
                assert side.is_minimum
                assert rms(system.energy_gradient(side.x)[1]) < 1e-9
                assert fd_eigen(system, side.x)[0][0] > 0.0
                assert side.energy < ts.energy
            # the two sides, found again by another minimiser from a step either way along the mode
            found = [scipy_minimum(system, ts.x + s * 0.01 * vectors[:, 0]) for s in (-1.0, 1.0)]
            matched = [
                any(abs(e - side.energy) < 1e-8 and system.distance(side.x, x) < 1e-3 for x, e in found)
                for side in (ts.minus, ts.plus)
            ]
            assert any(matched), "neither pushed-off minimum is where another minimiser goes from the saddle"
            n_sides += 2
            n_unmatched += matched.count(False)
            n_links += ts.connects_distinct
        # deterministic: the same pair again gives the same transition states
        again = connect_pair(system, minima[a], minima[b], settings)
        assert [ts.energy for ts in again.transition_states] == [ts.energy for ts in result.transition_states]
    assert n_links >= len(pairs) // 2
    # Where a side's descent is long and flat, two minimisers may part ways at a fork of the valley
    # (seen: 1 side of 18, its minimum 12.4 from the saddle, scipy's 10.9): a few, not many.
    assert n_unmatched <= max(1, n_sides // 10)
