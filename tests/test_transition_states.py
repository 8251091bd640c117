"""connect_pair end to end: DNEB -> eigenvector-following -> push off and minimise.

Reference saddles and minima are found independently (scipy root on the analytic gradient, index
from a finite-difference Hessian).
"""

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import root

from lfl.errors import LflError
from lfl.explore.connection_attempt import connect_pair, next_gap
from lfl.explore.eigenvector_following import EFSettings
from lfl.explore.neb import DNEBSettings
from lfl.explore.transition_states import ConnectSettings, push_off_and_minimise
from lfl.systems.base import System
from lfl.systems.test_surfaces import (
    MULLER_BROWN_MINIMA_APPROX,
    MULLER_BROWN_SADDLES_APPROX,
    DoubleWell,
    EmbeddedSurface,
    MullerBrown,
)


def stationary_point(system, guess, expected_index):
    sol = root(lambda x: system.energy_gradient(x)[1], guess, jac=lambda x: System.hessian(system, x), tol=1e-13)
    gradient = system.energy_gradient(sol.x)[1]
    assert np.sqrt(np.mean(gradient**2)) < 1e-10, sol.message
    assert np.sum(np.linalg.eigvalsh(System.hessian(system, sol.x)) < 0) == expected_index
    return sol.x


@pytest.fixture(scope="module")
def mb_reference():
    system = MullerBrown()
    minima = [stationary_point(system, g, 0) for g in MULLER_BROWN_MINIMA_APPROX]
    saddles = [stationary_point(system, g, 1) for g in MULLER_BROWN_SADDLES_APPROX]
    return minima, saddles


MB_SETTINGS = ConnectSettings(dneb=DNEBSettings(n_images=10, spring_constant=100.0))


def closest(points, x):
    return min(np.linalg.norm(p - x) for p in points)


def test_connect_muller_brown_direct_pair(mb_reference):
    minima, saddles = mb_reference
    system = MullerBrown()
    x_a, x_c = minima[0].copy(), minima[2].copy()
    result = connect_pair(system, x_a, x_c, MB_SETTINGS)
    np.testing.assert_array_equal(x_a, minima[0])  # inputs untouched
    assert result.success and result.connected, result.message
    assert len(result.transition_states) == 1
    ts = result.transition_states[0]
    np.testing.assert_allclose(ts.x, saddles[0], atol=1e-6)
    assert ts.n_neg == 1 and ts.eigenvalue < 0 and ts.rms_gradient < 1e-9
    assert ts.connects_distinct
    sides = sorted([ts.minus, ts.plus], key=lambda m: m.energy)
    np.testing.assert_allclose(sides[0].x, minima[0], atol=1e-6)
    np.testing.assert_allclose(sides[1].x, minima[2], atol=1e-6)
    for side in sides:
        assert side.is_minimum and side.n_neg == 0 and side.rms_gradient < 1e-9
        assert side.energy < ts.energy
    assert {result.endpoint_matches["a"], result.endpoint_matches["b"]} == {ts.minus_index, ts.plus_index}
    assert set(result.timings) == {"dneb", "eigenvector_following", "quench", "total"}


def test_connect_muller_brown_through_the_intermediate_minimum(mb_reference):
    minima, saddles = mb_reference
    system = MullerBrown()
    result = connect_pair(system, minima[0], minima[1], MB_SETTINGS)
    assert result.connected, result.message
    assert len(result.transition_states) == 2
    for ts in result.transition_states:
        assert ts.connects_distinct
        assert closest(saddles, ts.x) < 1e-6
    # three distinct minima: the two end points and the intermediate one, all to 1e-6
    assert len(result.minima) == 3
    for m in result.minima:
        assert closest(minima, m.x) < 1e-6
    assert closest([m.x for m in result.minima], minima[2]) < 1e-6


def test_connect_double_well():
    b, k, c = 1.0, 2.0, 0.6
    system = DoubleWell(barrier=b, stiffness=k, coupling=c)
    # minima by hand: y = -c x / k, x^2 = 1 + c^2 / (4 b k)
    x_min = np.sqrt(1 + c * c / (4 * b * k))
    left, right = np.array([-x_min, c * x_min / k]), np.array([x_min, -c * x_min / k])
    assert np.linalg.norm(system.energy_gradient(left)[1]) < 1e-12
    result = connect_pair(system, left, right, ConnectSettings(dneb=DNEBSettings(n_images=8, spring_constant=10.0)))
    assert result.connected, result.message
    (ts,) = result.transition_states
    np.testing.assert_allclose(ts.x, 0.0, atol=1e-9)
    assert ts.energy == pytest.approx(b, abs=1e-12)
    ends = sorted([ts.minus.x, ts.plus.x], key=lambda p: p[0])
    np.testing.assert_allclose(ends[0], left, atol=1e-6)
    np.testing.assert_allclose(ends[1], right, atol=1e-6)


def test_connect_embedded_muller_brown_with_lanczos(mb_reference):
    minima, saddles = mb_reference
    system = EmbeddedSurface(MullerBrown(), n_dof=12, stiffness=np.linspace(40.0, 400.0, 10), quartic=5.0, seed=9)
    settings = ConnectSettings(
        dneb=DNEBSettings(n_images=10, spring_constant=100.0, max_iterations=500),
        ef=EFSettings(dense_max=0),  # Hessian-vector products only
        dense_max=0,
    )
    result = connect_pair(system, system.embed(minima[0]), system.embed(minima[2]), settings)
    assert result.connected, result.message
    (ts,) = result.transition_states
    np.testing.assert_allclose(ts.x, system.embed(saddles[0]), atol=1e-6)
    assert np.max(np.abs(ts.eigenvector)) < 0.9  # the mode is rotated off every axis
    ends = sorted([ts.minus, ts.plus], key=lambda m: m.energy)
    np.testing.assert_allclose(ends[0].x, system.embed(minima[0]), atol=1e-6)
    np.testing.assert_allclose(ends[1].x, system.embed(minima[2]), atol=1e-6)
    assert all(np.isnan(m.log_prod_positive) for m in ends)  # iterative index check


class _MirroredWells(System):
    """cos(pi x) + 0.05 x^2 + y^2/2, with the mirror symmetry x -> -x: the wells at -1 and +1 are one minimum."""

    n_dof = 2

    def energy_gradient(self, x):
        px = np.pi * x[0]
        energy = np.cos(px) + 0.05 * x[0] ** 2 + 0.5 * x[1] ** 2
        gradient = np.array([-np.pi * np.sin(px) + 0.1 * x[0], x[1]])
        return float(energy), gradient

    def align(self, reference, x):
        mirrored = np.array([-x[0], x[1]])
        return x if np.linalg.norm(reference - x) <= np.linalg.norm(reference - mirrored) else mirrored


def test_saddle_between_symmetric_copies_is_no_connection():
    system = _MirroredWells()
    well_1 = stationary_point(system, np.array([-1.0, 0.0]), 0)  # one of the two copies (+-1)
    well_3 = stationary_point(system, np.array([3.0, 0.0]), 0)
    # without alignment the band crosses the saddle at x = 0 (between the copies -1 and +1) and the
    # saddle near x = 2 (between +1 and 3)
    settings = ConnectSettings(dneb=DNEBSettings(n_images=11, spring_constant=10.0, align=False), max_candidates=5)
    result = connect_pair(system, well_1, well_3, settings)
    assert len(result.transition_states) == 2
    by_position = sorted(result.transition_states, key=lambda ts: ts.x[0])
    self_loop, link = by_position
    np.testing.assert_allclose(self_loop.x, 0.0, atol=1e-9)
    assert not self_loop.connects_distinct
    assert self_loop.minus_index == self_loop.plus_index
    assert link.connects_distinct
    np.testing.assert_allclose(link.x, stationary_point(system, np.array([2.0, 0.0]), 1), atol=1e-6)
    assert result.connected and result.success
    assert any("same minimum" in line for line in result.attempts)


def test_connect_pair_bad_input_raises():
    system = MullerBrown()
    with pytest.raises(LflError):
        connect_pair(system, MULLER_BROWN_MINIMA_APPROX[0], MULLER_BROWN_MINIMA_APPROX[0])
    with pytest.raises(LflError):
        a, b = MULLER_BROWN_MINIMA_APPROX[:2]
        connect_pair(system, a, b, ConnectSettings(push_off=0.0))


def test_push_off_accepts_a_side_minimum_within_energy_tol_of_a_shallow_saddle():
    # barrier 5e-7 < energy_tol 1e-6: both minima (x0 = +-1, E = 0) lie less than energy_tol below the
    # saddle at the origin, yet the first displacement already slides into them (distance 1 >> 0.02)
    from lfl.explore.transition_states import push_off_and_minimise

    system = DoubleWell(barrier=5e-7, stiffness=1.0)
    settings = ConnectSettings()
    assert settings.energy_tol > system.barrier
    for sign in (-1.0, 1.0):
        side = push_off_and_minimise(system, np.zeros(2), system.barrier, np.array([1.0, 0.0]), sign, settings)
        assert side.push_off == settings.push_off  # no doubling: one quench
        assert side.is_minimum
        # curvature 8 * barrier = 4e-6 at the minimum and RMS gradient 1e-9: position good to ~5e-4
        np.testing.assert_allclose(side.x, [sign, 0.0], atol=1e-3)
        assert side.energy < system.barrier


@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_connect_muller_brown_with_either_orthogonal_minimiser(mb_reference, method):
    minima, saddles = mb_reference
    settings = ConnectSettings(
        dneb=DNEBSettings(n_images=10, spring_constant=100.0), ef=EFSettings(tangent_method=method)
    )
    result = connect_pair(MullerBrown(), minima[0], minima[2], settings)
    assert result.connected, result.message
    (ts,) = result.transition_states
    np.testing.assert_allclose(ts.x, saddles[0], atol=1e-6)
    assert ts.n_neg == 1 and ts.rms_gradient < 1e-9


class RidgeSurface(System):
    """f = (x^2-1)^2 + (1-2x) y^2 + y^4: minimum (-1, 0), index-one saddle (0, 0), and on the mirror
    line y = 0 a second saddle (1, 0) between the mirror-image minima (1, +-sqrt(1/2)), f = -1/4.
    A descent from (0, 0) towards +x stays on y = 0 (the gradient has no y part there) and stops on
    the saddle (1, 0) with a converged gradient. (The mirror minima solve 4x^3 - 6x + 1 = 0,
    y^2 = x - 1/2.)"""

    n_dof = 2

    def energy_gradient(self, p):
        x, y = float(p[0]), float(p[1])
        energy = (x * x - 1.0) ** 2 + (1.0 - 2.0 * x) * y * y + y**4
        gradient = np.array([4.0 * x * (x * x - 1.0) - 2.0 * y * y, 2.0 * (1.0 - 2.0 * x) * y + 4.0 * y**3])
        return energy, gradient

    def hessian(self, p, step=None):
        x, y = float(p[0]), float(p[1])
        return np.array([[12.0 * x * x - 4.0, -4.0 * y], [-4.0 * y, 2.0 * (1.0 - 2.0 * x) + 12.0 * y * y]])


def test_a_push_off_that_stops_on_a_mirror_saddle_goes_on_down():
    system = RidgeSurface()
    assert np.allclose(system.hessian(np.zeros(2)), System.hessian(system, np.zeros(2)), atol=1e-6)
    mode = np.array([1.0, 0.0])
    stuck = push_off_and_minimise(system, np.zeros(2), 1.0, mode, 1.0, ConnectSettings(saddle_escapes=0))
    assert stuck.n_neg == 1 and not stuck.is_minimum  # the bug this guards against: a saddle as a "minimum"
    assert stuck.x == pytest.approx([1.0, 0.0], abs=1e-6)
    found = push_off_and_minimise(system, np.zeros(2), 1.0, mode, 1.0, ConnectSettings())
    assert found.is_minimum
    x = max(np.roots([4.0, 0.0, -6.0, 1.0]).real)  # the mirror minima, independently
    assert found.x[0] == pytest.approx(x, abs=1e-6)
    assert abs(found.x[1]) == pytest.approx(np.sqrt(x - 0.5), abs=1e-6)
    other = push_off_and_minimise(system, np.zeros(2), 1.0, mode, -1.0, ConnectSettings())
    assert other.is_minimum and other.x == pytest.approx([-1.0, 0.0], abs=1e-6)


class _Links:
    def __init__(self, groups):
        self.root = {k: min(g) for g in groups for k in g}

    def find(self, k):
        return self.root.get(k, k)


def test_next_gap_bridges_the_cheapest_path_at_its_shortest_gap():
    # nodes 0 (a) and 1 (b) are 10 apart; node 2 lies between them (4 from a, 6.5 from b); node 3 is off
    points = np.array([[0.0, 0.0], [10.0, 0.0], [4.0, 0.0], [0.0, 9.0]])

    def distance(u, v):
        return float(np.linalg.norm(points[u] - points[v]))

    # squared costs: 4^2 + 6.5^2 < 10^2, so the path goes through node 2 and its shortest gap is 0-2
    assert next_gap(4, _Links([]), distance, {}, 2) == (0, 2)
    # 0 and 2 joined: the remaining gap on the path is 2-1
    assert next_gap(4, _Links([[0, 2]]), distance, {}, 2) == (1, 2)
    # 2-1 tried out: the direct pair is next
    assert next_gap(4, _Links([[0, 2]]), distance, {(1, 2): 2}, 2) == (0, 1)
    # every pair into node 1 tried out: nothing left
    assert next_gap(4, _Links([[0, 2]]), distance, {(0, 1): 2, (1, 2): 2, (1, 3): 2}, 2) is None


@pytest.mark.parametrize("embedded", [False, True])
def test_single_ended_search_climbs_out_of_an_end_no_band_reaches(mb_reference, embedded):
    """x_b on the slope below Müller-Brown's first saddle, seen from minimum A: the straight band
    rises monotonically (no maximum, no candidate), so only the climb out of x_b along its softest
    mode finds the saddle. Embedded in 8 dimensions with dense_max 4, the mode comes from Lanczos."""
    minima, saddles = mb_reference
    a, saddle = minima[0], saddles[0]
    b = saddle + 0.2 * (a - saddle) / np.linalg.norm(a - saddle)
    system = MullerBrown()
    base = ConnectSettings(dneb=DNEBSettings(n_images=10, spring_constant=100.0))
    if embedded:
        system = EmbeddedSurface(MullerBrown(), n_dof=8, seed=3)
        a, b, saddle = system.embed(a), system.embed(b), system.embed(saddle)
        base = ConnectSettings(dneb=DNEBSettings(n_images=10, spring_constant=100.0), dense_max=4)
    line = [system.energy(a + t * (b - a)) for t in np.linspace(0.0, 1.0, 101)]
    assert np.all(np.diff(line) > 0.0)  # no maximum along the straight band

    without = connect_pair(system, a, b, replace(base, single_ended_modes=0))
    assert without.transition_states == [] and without.message == "no local maximum along the band"
    found = connect_pair(system, a, b, replace(base, single_ended_modes=1))
    assert len(found.transition_states) == 1
    ts = found.transition_states[0]
    np.testing.assert_allclose(ts.x, saddle, atol=1e-6)
    assert ts.connects_distinct and ts.n_neg == 1
    assert any(line.startswith("single-ended from b") for line in found.attempts)
    assert not found.connected  # x_b is no minimum: the saddle joins A to C, not to x_b
