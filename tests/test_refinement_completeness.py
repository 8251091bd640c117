"""On a surface whose every stationary point is known, refinement rounds find every minimum and every
transition state, and saturation is declared only after the last one was found, never from an empty
plan.

The surface (:class:`SeparableWells`) is a sum of three tilted double wells and three soft harmonic
terms in 6 dimensions: 8 minima and 12 index-one saddles, found independently here by the roots of
each well's cubic. Its two softest modes (and the third) are harmonic and lead to no saddle, so the
planner must widen beyond ``modes`` or search along random directions. The rounds run the real
planner, searches, completeness estimates and stopping rule; the network and sightings between
rounds are kept in memory (the store is for network losses), with the same identity rule.
"""

from collections import Counter

import numpy as np
import pytest
from scipy.optimize import minimize

from lfl.explore.completeness import completeness
from lfl.explore.connection_attempt import connect_pair
from lfl.explore.refinement_strategy import SINGLE_ENDED_METHOD, plan_refinement
from lfl.explore.saturation import SaturationCriterion, stop_reason
from lfl.explore.single_ended import single_ended_search
from lfl.explore.transition_states import ConnectSettings
from lfl.systems.test_surfaces import SeparableWells


def index_of(points, x, tol=1e-5):
    for k, p in enumerate(points):
        if np.linalg.norm(p - x) < tol:
            return k
    return None


def explore(system, strategies, *, max_rounds=40, seed=0):
    """Rounds until the stopping rule says stop: (minima, saddles, rows, why, round each saddle was found)."""
    settings = ConnectSettings(single_ended_step=0.05)
    rng = np.random.default_rng(seed)
    first = minimize(system.energy_gradient, rng.uniform(-2, 2, system.n_dof), jac=True, method="BFGS",
                     options={"gtol": 1e-11}).x
    minima, saddles, ends = [first], [], []
    attempts = ([], [], [], [])
    drawn = {"minimum": Counter(), "saddle": Counter()}
    rows, found_at = [], {}
    rule = SaturationCriterion(coverage=0.9, rounds=2, max_new_points=1)

    def add(points, x):
        k = index_of(points, x)
        if k is None:
            points.append(x)
            k = len(points) - 1
        return k

    why = None
    for round_ in range(max_rounds):
        round_rng = np.random.default_rng([seed, round_])
        energies = [system.energy(x) for x in minima]
        tasks = plan_refinement(
            minimum_ids=list(range(len(minima))), energies=energies,
            ts_min1=[a for a, _ in ends], ts_min2=[b for _, b in ends],
            ts_energies=[system.energy(x) for x in saddles], coords=np.array(minima), attempts=attempts,
            strategies=strategies, connect_pairs=4, modes=2, searches_per_round=4, random_starts=6,
            random_directions=3, random_copies=2, rng=round_rng,
        )
        n_minima, n_saddles = len(minima), len(saddles)
        for task in tasks:
            independent = task.kind.startswith("random")
            if task.kind == "random_start":
                x = minimize(system.energy_gradient, round_rng.uniform(-2, 2, system.n_dof), jac=True,
                             method="BFGS", options={"gtol": 1e-11}).x
                if np.linalg.eigvalsh(system.hessian(x)).min() > 0:
                    drawn["minimum"][add(minima, x)] += 1
                continue
            if task.kind == "single_ended":
                result = single_ended_search(system, minima[task.min1_id], [task.mode], settings)
                method = SINGLE_ENDED_METHOD.format(mode=task.mode)
            elif task.kind == "random_direction":
                result = single_ended_search(system, minima[task.min1_id], [0], settings, step=0.5,
                                             directions=round_rng.standard_normal((1, system.n_dof)))
                method = task.kind
            elif task.min1_id == task.min2_id:  # a random copy of itself: no symmetry here, nothing to join
                continue
            else:
                result = connect_pair(system, minima[task.min1_id], minima[task.min2_id], settings)
                method = task.kind
            for ts in result.transition_states:
                sides = [add(minima, found.x) for found in (ts.minus, ts.plus)]
                k = index_of(saddles, ts.x)
                if k is None:
                    saddles.append(ts.x)
                    ends.append(tuple(sides))
                    k = len(saddles) - 1
                if independent:  # the saddle is a draw; its sides start from chosen minima, they are not
                    drawn["saddle"][k] += 1
            for column, value in zip(attempts, (task.min1_id, task.min2_id, "partial", method)):
                column.append(value)
        for k in range(n_saddles, len(saddles)):
            found_at[k] = round_
        coverage = {kind: completeness(counter.values()) for kind, counter in drawn.items()}
        rows.append({"n_new_minima": len(minima) - n_minima, "n_new_transition_states": len(saddles) - n_saddles,
                     "n_tasks": len(tasks), "cpu_seconds": 0.0,
                     "minima_coverage": coverage["minimum"].coverage if coverage["minimum"].n_draws else None,
                     "transition_states_coverage": coverage["saddle"].coverage if coverage["saddle"].n_draws else None})
        why = stop_reason(rows, rule, max_rounds=max_rounds, cpu_budget=None)
        if why:
            break
    return minima, saddles, rows, why, found_at


@pytest.fixture(scope="module")
def surface():
    system = SeparableWells()
    known_minima, known_saddles = system.stationary_points()
    # the references are what they claim: gradient zero, Hessian index 0 and 1
    for points, index in ((known_minima, 0), (known_saddles, 1)):
        for x in points:
            assert np.linalg.norm(system.energy_gradient(x)[1]) < 1e-10
            assert int(np.sum(np.linalg.eigvalsh(system.hessian(x)) < 0)) == index
    assert (len(known_minima), len(known_saddles)) == (8, 12)
    return system, known_minima, known_saddles


def test_rounds_find_every_stationary_point_before_saturation(surface):
    system, known_minima, known_saddles = surface
    minima, saddles, rows, why, found_at = explore(
        system, ("single_ended", "shortcut", "untrap", "random_start", "random_direction", "random_copy"))
    assert why == "saturated"
    assert sorted(index_of(known_minima, x) is not None for x in minima) == [True] * 8 and len(minima) == 8
    assert sorted(index_of(known_saddles, x) is not None for x in saddles) == [True] * 12 and len(saddles) == 12
    # declared after the last saddle was found, once the last rounds were quiet
    assert len(rows) - 1 > max(found_at.values())
    assert rows[-1]["minima_coverage"] >= 0.9 and rows[-1]["transition_states_coverage"] >= 0.9


def test_finite_strategies_alone_end_exhausted_never_saturated(surface):
    """Softest-mode searches alone: the planner widens beyond the two harmonic modes and finds the
    saddles, but with no independent draw there is no coverage, so the stage ends when every mode of
    every minimum was searched: "exhausted", not "saturated"."""
    system, _, known_saddles = surface
    _, saddles, rows, why, _ = explore(system, ("single_ended",), max_rounds=200)
    assert why == "exhausted" and rows[-1]["n_tasks"] == 0
    assert all(r["transition_states_coverage"] is None for r in rows)
    assert len(saddles) == 12 and all(index_of(known_saddles, x) is not None for x in saddles)


def test_a_search_along_a_stiff_mode_climbs_that_mode(surface):
    """Mode-following: from a minimum, the search along its k-th mode (a well's axis, stiffer than
    the three harmonic modes) ends on the saddle of that well, not on anything of the softest mode."""
    system, known_minima, known_saddles = surface
    x_min = known_minima[5]
    _, vectors = np.linalg.eigh(system.hessian(x_min))
    for mode in (3, 4, 5):
        axis = int(np.argmax(np.abs(vectors[:, mode])))
        result = single_ended_search(system, x_min, [mode], ConnectSettings(single_ended_step=0.05))
        assert result.transition_states, f"mode {mode}: nothing found"
        for ts in result.transition_states:
            assert index_of(known_saddles, ts.x) is not None
            moved = np.flatnonzero(np.abs(ts.x - x_min) > 1e-6)
            assert moved.tolist() == [axis]
