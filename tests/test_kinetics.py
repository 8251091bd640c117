"""Kinetics of a transition network (lfl.kinetics): harmonic rates worked by hand, detailed balance,
graph transformation against the dense master equation and hand-solved chains, minimax barriers
against a brute-force search, C_V against the temperature derivative of the mean energy."""

import math

import numpy as np
import pytest

from kinetics_reference import brute_force_barrier
from lfl.errors import DataError
from lfl.kinetics.barriers import barriers_to_global_minimum, funnels
from lfl.kinetics.graph_transformation import log_first_passage_times, markov_chain, two_state_rates
from lfl.kinetics.harmonic import heat_capacity, log_occupations, occupations, transition_state_rates
from lfl.kinetics.master_equation import two_state_rates_dense
from lfl.kinetics.network import TransitionNetwork

TWO_PI = 2.0 * math.pi


def test_rates_of_two_minima_and_one_saddle_worked_by_hand():
    # E = (0, 0.5), saddle at 1.0; L = (2, 3), saddle 1; T = 0.25
    two_minima = TransitionNetwork([0.0, 0.5], [2.0, 3.0], [1.0], [1.0], [0], [1])
    rates = transition_state_rates(two_minima, 0.25)
    k01 = math.exp(0.5) / TWO_PI * math.exp(-4.0)  # (2 - 1)/2 = 0.5; (1 - 0)/0.25 = 4
    k10 = math.exp(1.0) / TWO_PI * math.exp(-2.0)  # (3 - 1)/2 = 1; (1 - 0.5)/0.25 = 2
    assert math.exp(rates.forward[0]) == pytest.approx(k01, rel=1e-14)
    assert math.exp(rates.backward[0]) == pytest.approx(k10, rel=1e-14)
    # two states: the rate between them is the one rate, the passage time its inverse
    result = two_state_rates(two_minima, [0], [1], 0.25)
    assert result.rate_a_to_b == pytest.approx(k01, rel=1e-12)
    assert result.rate_b_to_a == pytest.approx(k10, rel=1e-12)
    assert result.mfpt_a_to_b == pytest.approx(1.0 / k01, rel=1e-12)
    # occupations: p0/p1 = exp(-(0 - 0.5)/0.25 - (2 - 3)/2)
    p = occupations([0.0, 0.5], [2.0, 3.0], 0.25)
    assert p[0] / p[1] == pytest.approx(math.exp(2.0 + 0.5), rel=1e-14)
    assert p.sum() == pytest.approx(1.0, abs=1e-15)


def random_network(rng, n, *, extra_edges, dead_ends=3, self_loops=2, parallel=3):
    """A connected random network: a random tree, extra edges, dead ends (leaves hanging off),
    degenerate rearrangements (self-loops) and parallel transition states."""
    min1, min2 = [], []
    for node in range(1, n):
        min1.append(int(rng.integers(0, node)))
        min2.append(node)
    for _ in range(extra_edges):
        a, b = rng.choice(n, size=2, replace=False)
        min1.append(int(a))
        min2.append(int(b))
    for leaf in range(n, n + dead_ends):
        min1.append(int(rng.integers(0, n)))
        min2.append(leaf)
    n += dead_ends
    for _ in range(self_loops):
        a = int(rng.integers(0, n))
        min1.append(a)
        min2.append(a)
    for _ in range(parallel):
        k = int(rng.integers(0, len(min1)))
        min1.append(min2[k])  # reversed on purpose: the same pair either way round
        min2.append(min1[k])
    min1, min2 = np.array(min1), np.array(min2)
    energies = rng.uniform(0.0, 1.0, n)
    ts_energies = np.maximum(energies[min1], energies[min2]) + rng.exponential(0.3, min1.size)
    return TransitionNetwork(energies, rng.uniform(-2.0, 2.0, n), ts_energies, rng.uniform(-2.0, 2.0, min1.size),
                             min1, min2)


@pytest.mark.parametrize("seed", range(5))
def test_detailed_balance_on_every_edge(seed):
    rng = np.random.default_rng(seed)
    network = random_network(rng, 25, extra_edges=20)
    for temperature in (0.05, 0.3, 2.0):
        rates = transition_state_rates(network, temperature)
        log_p = log_occupations(network.minimum_energies, network.minimum_log_products, temperature)
        np.testing.assert_allclose(log_p[network.min1] + rates.forward, log_p[network.min2] + rates.backward,
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_graph_transformation_matches_the_master_equation(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(10, 60))
    network = random_network(rng, n, extra_edges=int(rng.integers(0, n)))
    n_all = network.n_minima
    order = np.argsort(network.minimum_energies)
    in_a = np.zeros(n_all, bool)
    in_a[order[: int(rng.integers(1, 4))]] = True
    in_b = np.zeros(n_all, bool)
    in_b[rng.choice(order[4:], size=int(rng.integers(1, 6)), replace=False)] = True
    # the dense solve loses digits in proportion to its condition number (rates spread over e^(dE/T)):
    # at T = 0.1 a factor 1e9 between rates, so its last ~7 digits are noise
    for temperature, rel in ((0.5, 1e-9), (1.0, 1e-9), (0.1, 1e-5)):
        ngt = two_state_rates(network, in_a, in_b, temperature)
        dense = two_state_rates_dense(network, in_a, in_b, temperature)
        assert ngt.rate_a_to_b == pytest.approx(dense["rate_a_to_b"], rel=rel)
        assert ngt.rate_b_to_a == pytest.approx(dense["rate_b_to_a"], rel=rel)
        assert ngt.mfpt_a_to_b == pytest.approx(dense["mfpt_a_to_b"], rel=rel)
        assert ngt.mfpt_b_to_a == pytest.approx(dense["mfpt_b_to_a"], rel=rel)


def test_first_passage_times_of_a_chain_solved_by_hand():
    # 0 <-> 1 -> 2 (target): T0 = 1/k01 + 1/k12 + k10/(k01 k12)
    k01, k10, k12, k21 = 2.0, 5.0, 0.5, 7.0
    chain = markov_chain(3, np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1]), np.log([k01, k10, k12, k21]))
    times = np.exp(log_first_passage_times(chain, np.array([False, False, True])))
    assert times[0] == pytest.approx(1 / k01 + 1 / k12 + k10 / (k01 * k12), rel=1e-14)
    assert times[1] == pytest.approx(1 / k12 + k10 / (k01 * k12), rel=1e-14)
    assert times[2] == 0.0


def test_parallel_transition_states_add_their_rates():
    # two saddles between the same minima behave as one with the summed rate
    one = two_state_rates(TransitionNetwork([0.0, 0.2], [1.0, 1.0], [0.5], [0.0], [0], [1]), [0], [1], 0.2)
    two = two_state_rates(TransitionNetwork([0.0, 0.2], [1.0, 1.0], [0.5, 0.5], [0.0, 0.0], [0, 1], [1, 0]), [0], [1], 0.2)
    assert two.rate_a_to_b == pytest.approx(2.0 * one.rate_a_to_b, rel=1e-13)


@pytest.mark.parametrize("seed", range(6))
def test_barriers_to_the_global_minimum_against_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    network = random_network(rng, 10, extra_edges=6)
    energies, ts_energies, min1, min2 = network.minimum_energies, network.ts_energies, network.min1, network.min2
    # a disconnected pair of minima: no path, no barrier
    energies = np.append(energies, [0.5, 0.6])
    n = energies.size
    min1, min2 = np.append(min1, n - 2), np.append(min2, n - 1)
    ts_energies = np.append(ts_energies, 0.9)
    barriers = barriers_to_global_minimum(energies, ts_energies, min1, min2)
    target = int(np.argmin(energies))
    for i in range(n):
        edges = list(zip(min1.tolist(), min2.tolist(), ts_energies.tolist()))
        expected = 0.0 if i == target else brute_force_barrier(energies, edges, i, target)
        if math.isnan(expected):
            assert math.isnan(barriers[i])
        else:
            assert barriers[i] == pytest.approx(expected, abs=1e-15)


def test_funnels_are_named_by_their_lowest_minimum():
    energies = np.array([0.3, 0.0, 0.2, 0.1, 0.4])
    # 0-1 at 0.5, 2-3 at 0.6, 1-2 at 0.9; minimum 4 alone
    min1, min2, ts = np.array([0, 2, 1]), np.array([1, 3, 2]), np.array([0.5, 0.6, 0.9])
    np.testing.assert_array_equal(funnels(energies, ts, min1, min2, 0.7), [1, 1, 3, 3, 4])
    np.testing.assert_array_equal(funnels(energies, ts, min1, min2, 1.0), [1, 1, 1, 1, 4])
    np.testing.assert_array_equal(funnels(energies, ts, min1, min2, 0.1), [0, 1, 2, 3, 4])


def test_heat_capacity_is_the_temperature_derivative_of_the_mean_energy():
    energies = np.array([0.0, 0.1, 0.3, 0.35])
    log_products = np.array([1.0, 2.0, 0.5, -1.0])
    kappa = 3

    def mean_energy(temperature):  # harmonic wells: kappa T on top of the occupation-weighted minima
        weights = [math.exp(-e / temperature - lp / 2) for e, lp in zip(energies, log_products)]
        return kappa * temperature + sum(w * e for w, e in zip(weights, energies)) / sum(weights)

    temperatures = np.array([0.01, 0.05, 0.1, 0.4])
    cv = heat_capacity(energies, log_products, temperatures, kappa)
    for temperature, value in zip(temperatures, cv):
        h = temperature * 1e-5
        derivative = (mean_energy(temperature + h) - mean_energy(temperature - h)) / (2 * h)
        assert value == pytest.approx(derivative, rel=1e-6)


def test_bad_input_is_one_clear_error():
    network = TransitionNetwork([0.0, 0.5], [2.0, 3.0], [1.0], [1.0], [0], [1])
    with pytest.raises(DataError, match="temperature must be a finite number > 0"):
        two_state_rates(network, [0], [1], 0.0)
    with pytest.raises(DataError, match="set B is empty"):
        two_state_rates(network, [0], np.zeros(2, bool), 0.1)
    with pytest.raises(DataError, match="share a minimum"):
        two_state_rates(network, [0], [0, 1], 0.1)
    with pytest.raises(DataError, match="no log product"):
        two_state_rates(TransitionNetwork([0.0, 0.5], [2.0, 3.0], [1.0], [math.nan], [0], [1]), [0], [1], 0.1)
    with pytest.raises(DataError, match="not joined by transition states"):
        two_state_rates(TransitionNetwork([0.0, 0.5, 0.7], [2.0, 3.0, 1.0], [1.0], [1.0], [0], [1]), [0], [2], 0.1)
    with pytest.raises(DataError, match="name minima outside 0..1"):
        TransitionNetwork([0.0, 0.5], [2.0, 3.0], [1.0], [1.0], [0], [2])


def test_heat_capacity_peak_of_two_levels_is_the_schottky_peak():
    from scipy.optimize import minimize_scalar

    from lfl.kinetics.harmonic import heat_capacity_peak

    gap, kappa = 0.3, 2
    # two equally wide minima: C_V - kappa = x^2 e^x / (1 + e^x)^2 with x = gap / T
    schottky = minimize_scalar(lambda x: -x * x * math.exp(x) / (1 + math.exp(x)) ** 2, bounds=(0.5, 10),
                               method="bounded", options={"xatol": 1e-12})
    temperature, peak = heat_capacity_peak(np.array([0.0, gap]), np.zeros(2), kappa)
    assert temperature == pytest.approx(gap / schottky.x, rel=1e-6)
    assert peak == pytest.approx(kappa - schottky.fun, rel=1e-9)
    assert math.isnan(heat_capacity_peak(np.array([0.2]), np.zeros(1), kappa)[0])


def test_frustration_index_worked_by_hand():
    from lfl.kinetics.frustration import frustration_index

    energies = np.array([0.0, 0.1, 0.3, 0.2])
    barriers = np.array([0.0, 0.2, 0.05, np.nan])  # the last minimum is not joined to the global one
    # T = 0.1, equal widths: weights e^-1 and e^-3 over minima 1 and 2 (the global minimum left out)
    w1, w2 = math.exp(-1.0), math.exp(-3.0)
    expected = (w1 * 0.2 / 0.1 + w2 * 0.05 / 0.3) / (w1 + w2)
    assert frustration_index(energies, np.zeros(4), barriers, 0.1) == pytest.approx(expected, rel=1e-13)
    # low T: the lowest competitor alone; a landscape of one minimum has none
    assert frustration_index(energies, np.zeros(4), barriers, 1e-3) == pytest.approx(2.0, rel=1e-9)
    assert math.isnan(frustration_index(np.array([0.0]), np.zeros(1), np.array([0.0]), 0.1))


def test_free_energy_regrouping_worked_by_hand():
    from lfl.kinetics.free_energy import regroup_free_energy

    T = 0.1
    # minima 0 and 1 joined by a low saddle; 2 behind a high one, over two parallel transition states
    energies, log_products = np.array([0.0, 0.05, 0.5]), np.array([0.0, 0.4, -0.2])
    ts_energies, ts_log_products = np.array([0.09, 0.9, 0.95]), np.array([0.0, 0.2, 0.0])
    min1, min2 = np.array([0, 1, 2]), np.array([1, 2, 1])
    f = energies + T * log_products / 2  # 0, 0.07, 0.49
    network = TransitionNetwork(energies, log_products, ts_energies, ts_log_products, min1, min2)
    result = regroup_free_energy(network, temperature=T, threshold=0.05)
    # the 0-1 barrier out of the higher minimum: 0.09 - 0.07 = 0.02 < 0.05: one group; 1-2: 0.91 - 0.49 high
    np.testing.assert_array_equal(result.group, [0, 0, 1])
    assert result.free_energies[0] == pytest.approx(-T * math.log(math.exp(-f[0] / T) + math.exp(-f[1] / T)), rel=1e-13)
    assert result.free_energies[1] == pytest.approx(f[2], rel=1e-13)
    f_ts = ts_energies + T * ts_log_products / 2
    assert result.edge_free_energies.tolist() == pytest.approx(
        [-T * math.log(math.exp(-f_ts[1] / T) + math.exp(-f_ts[2] / T))], rel=1e-13)
    # no threshold: every minimum its own group, the free energies of the minima themselves
    alone = regroup_free_energy(network, temperature=T, threshold=0.0)
    np.testing.assert_array_equal(alone.group, [0, 1, 2])
    np.testing.assert_allclose(alone.free_energies, f, rtol=1e-13)
    # a threshold above every barrier: one group (regrouping repeats until nothing merges)
    assert regroup_free_energy(network, temperature=T, threshold=1.0).n_groups == 1


def test_the_default_split_is_the_most_even_one():
    from lfl.analysis.kinetics import balanced_split_level

    # minima 1, 2 join the global minimum at 1.0, minima 3, 4 at 2.0 (behind 1-2), minimum 5 at 3.0;
    # minimum 6 is not joined at all
    energies = np.array([0.0, 0.2, 0.3, 0.5, 0.6, 0.9, 0.1])
    barriers = np.array([0.0, 0.8, 0.7, 1.5, 1.4, 2.1, np.nan])
    # just below 1.0: A = {0}, B = 5 minima (balance 1); below 2.0: A = {0,1,2}, B = {3,4,5} (3); below 3.0: 5 vs 1
    level = balanced_split_level(energies, barriers)
    assert level < 2.0 and level == pytest.approx(2.0, abs=1e-12)
