"""On Müller-Brown, whose stationary points are known (root finding), refinement rounds find every
transition state, and the saturation criterion holds only after the last one was found.

The rounds run the real planner, single-ended searches and saturation criterion; the network between
rounds is kept in memory (the store is for network losses), with the same identity rule.
"""

import numpy as np
from scipy.optimize import minimize, root

from lfl.explore.refinement_strategy import SINGLE_ENDED_METHOD, plan_refinement
from lfl.explore.saturation import SaturationCriterion
from lfl.explore.single_ended import single_ended_search
from lfl.explore.transition_states import ConnectSettings, connect_pair
from lfl.systems.base import System
from lfl.systems.test_surfaces import MULLER_BROWN_MINIMA_APPROX, MULLER_BROWN_SADDLES_APPROX, MullerBrown


def known_points(system, guesses):
    points = []
    for guess in guesses:
        sol = root(lambda x: system.energy_gradient(x)[1], guess, jac=lambda x: System.hessian(system, x), tol=1e-13)
        points.append(sol.x)
    return np.array(points)


def index_of(points, x, tol=1e-5):
    for k, p in enumerate(points):
        if np.linalg.norm(p - x) < tol:
            return k
    return None


def test_rounds_find_every_transition_state_before_saturation():
    system = MullerBrown()
    saddles = known_points(system, MULLER_BROWN_SADDLES_APPROX)
    settings = ConnectSettings(single_ended_step=0.05)
    # start from the minima alone, as basin-hopping would leave them (an independent minimiser)
    minima = [minimize(system.energy_gradient, x, jac=True, method="BFGS", options={"gtol": 1e-10}).x
              for x in MULLER_BROWN_MINIMA_APPROX]
    ts_x, ts_ends, attempts = [], [], ([], [], [], [])
    history, found_at, saturated_at = [], {}, None
    criterion = SaturationCriterion(rounds=2, max_new_transition_states=1)
    for round_ in range(12):
        energies = [system.energy(x) for x in minima]
        tasks = plan_refinement(
            minimum_ids=list(range(len(minima))), energies=energies,
            ts_min1=[a for a, _ in ts_ends], ts_min2=[b for _, b in ts_ends],
            ts_energies=[system.energy(x) for x in ts_x], coords=np.array(minima), attempts=attempts,
            strategies=("single_ended", "shortcut", "untrap"), connect_pairs=0, modes=2, searches_per_round=2,
        )
        n_minima, n_ts = len(minima), len(ts_x)
        for task in tasks:
            if task.kind == "single_ended":
                result = single_ended_search(system, minima[task.min1_id], [task.mode], settings)
                method = SINGLE_ENDED_METHOD.format(mode=task.mode)
            else:
                result = connect_pair(system, minima[task.min1_id], minima[task.min2_id], settings)
                method = task.kind
            for ts in result.transition_states:
                ends = []
                for found in (ts.minus, ts.plus):
                    k = index_of(minima, found.x)
                    if k is None:
                        minima.append(found.x)
                        k = len(minima) - 1
                    ends.append(k)
                if index_of(ts_x, ts.x) is None:
                    ts_x.append(ts.x)
                    ts_ends.append(tuple(ends))
            for column, value in zip(attempts, (task.min1_id, task.min2_id, "partial", method)):
                column.append(value)
        history.append({"n_new_minima": len(minima) - n_minima, "n_new_transition_states": len(ts_x) - n_ts})
        for x in ts_x:
            found_at.setdefault(index_of(saddles, x), round_)
        if not tasks or criterion.holds(history):
            saturated_at = round_
            break
    assert len(minima) == 3  # no minimum beyond the three known ones
    assert sorted(k for k in found_at if k is not None) == [0, 1] and None not in found_at
    assert len(ts_x) == 2
    assert saturated_at is not None and saturated_at > max(found_at.values())
