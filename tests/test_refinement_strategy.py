"""Refinement planners (shortcut, untrap, single-ended) on hand-made networks; minimax barriers by brute force."""

import itertools

import numpy as np
import pytest

from lfl.errors import LflError
from lfl.explore.refinement_strategy import (
    SINGLE_ENDED_METHOD,
    RefinementTask,
    minimax_barriers,
    plan_refinement,
)


def brute_force_barrier(n, edges, s, t):
    """Lowest energy e at which s and t are joined by transition states of energy <= e (threshold sweep)."""
    if s == t:
        return -np.inf
    for e in sorted({edge[2] for edge in edges}):
        parent = list(range(n))

        def find(i):
            while parent[i] != i:
                i = parent[i]
            return i

        for a, b, energy in edges:
            if energy <= e:
                parent[find(a)] = find(b)
        if find(s) == find(t):
            return e
    return np.inf


def test_minimax_barriers_match_threshold_sweep():
    rng = np.random.default_rng(3)
    n = 9
    edges = [(int(a), int(b), float(e)) for a, b, e in zip(rng.integers(0, n, 16), rng.integers(0, n, 16),
                                                          rng.normal(size=16))]
    edges += [(edges[0][0], edges[0][1], edges[0][2] - 0.5)]  # a parallel, lower edge
    ends1 = np.array([e[0] for e in edges]); ends2 = np.array([e[1] for e in edges])
    energies = np.array([e[2] for e in edges])
    for s in range(n):
        got = minimax_barriers(n, ends1, ends2, energies, s)
        # a self-loop joins nothing: the sweep below ignores it by construction only if a == b adds no union
        want = [brute_force_barrier(n, [e for e in edges if e[0] != e[1]], s, t) for t in range(n)]
        assert got.tolist() == want


def plan(**kw):
    defaults = dict(strategies=("shortcut", "untrap"), connect_pairs=8)
    return plan_refinement(**{**defaults, **kw})


def test_shortcut_joins_the_ends_of_a_long_chain_that_close_in_space():
    # a pentagon of minima joined as a chain 0-1-2-3-4: 0 and 4 are neighbours in space, 4 steps apart
    angles = np.arange(5) * 2 * np.pi / 5
    coords = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    ids = [10, 11, 12, 13, 14]
    common = dict(minimum_ids=ids, energies=[0.0, 0.1, 0.2, 0.3, 0.4], ts_min1=[10, 11, 12, 13],
                  ts_min2=[11, 12, 13, 14], ts_energies=[1.0, 1.1, 1.2, 1.3], coords=coords,
                  strategies=("shortcut",), k_nearest=2, min_steps=3, barrier_fraction=10.0)
    assert plan(**common) == [RefinementTask("shortcut", 10, 14)]
    # tried once (in any order, by any strategy): never proposed again
    assert plan(**common, attempts=([14], [10], ["failed"], ["dneb+hybrid-ef"])) == []
    # fewer steps than min_steps: no shortcut
    assert plan(**{**common, "min_steps": 5}) == []


def test_shortcut_on_a_high_barrier_between_close_minima():
    # A and C are close; their best path crosses B's transition state at 10, far above both
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [0.1, 0.0]])
    common = dict(minimum_ids=[1, 2, 3], energies=[0.0, 0.5, 0.2], ts_min1=[1, 2], ts_min2=[2, 3],
                  ts_energies=[10.0, 1.0], coords=coords, strategies=("shortcut",), k_nearest=1, min_steps=3)
    assert plan(**common, barrier_fraction=0.25) == [RefinementTask("shortcut", 1, 3)]
    assert plan(**common, barrier_fraction=0.99) == []  # 9.8 above C: not more than 0.99 of the span 10


def test_untrap_pairs_the_most_trapped_minimum_with_its_nearest_lower_one():
    # gm (0.0); M3 (0.05, barrier 0.05: ratio 1); M2 (1.0, ratio 0.5); M1 (0.1, behind 5.0: ratio 49)
    ids = [1, 2, 3, 4]  # gm, M1, M2, M3
    energies = [0.0, 0.1, 1.0, 0.05]
    coords = np.array([[0.0, 0.0], [5.0, 0.0], [3.0, 0.0], [4.5, 0.0]])
    common = dict(minimum_ids=ids, energies=energies, ts_min1=[1, 3, 1], ts_min2=[3, 2, 4],
                  ts_energies=[1.5, 5.0, 0.1], coords=coords, strategies=("untrap",), untrap_ratio=2.0)
    assert plan(**common) == [RefinementTask("untrap", 2, 4)]
    assert plan(**{**common, "untrap_ratio": 50.0}) == []
    # its nearest lower minimum tried: the next nearest (the global minimum)
    assert plan(**common, attempts=([4], [2], ["failed"], [None])) == [RefinementTask("untrap", 2, 1)]


def test_single_ended_tasks_lowest_minima_first_once_per_mode():
    common = dict(minimum_ids=[7, 8, 9], energies=[0.3, 0.1, 0.2], ts_min1=[7, 8], ts_min2=[8, 9],
                  ts_energies=[1.0, 1.0], coords=np.eye(3), strategies=("single_ended",), modes=2)
    tasks = plan(**common, searches_per_round=3)
    assert tasks == [RefinementTask("single_ended", 8, 8, 0), RefinementTask("single_ended", 8, 8, 1),
                     RefinementTask("single_ended", 9, 9, 0)]
    done = ([8, 9], [8, 9], ["partial", "failed"], [SINGLE_ENDED_METHOD.format(mode=1),
                                                    SINGLE_ENDED_METHOD.format(mode=0)])
    tasks = plan(**common, searches_per_round=10, attempts=done)
    assert [(t.min1_id, t.mode) for t in tasks] == [(8, 0), (9, 1), (7, 0), (7, 1)]


def test_unjoined_minima_get_connection_gaps_first():
    tasks = plan(minimum_ids=[1, 2, 3], energies=[0.0, 0.1, 0.2], ts_min1=[1], ts_min2=[2], ts_energies=[1.0],
                 coords=np.array([[0.0], [1.0], [2.0]]), strategies=("single_ended",), modes=1,
                 searches_per_round=1)
    # the gap on the shortest path, then (filling the round) the next closest pair between components
    assert tasks == [RefinementTask("connect", 2, 3), RefinementTask("connect", 1, 3),
                     RefinementTask("single_ended", 1, 1, 0)]


@pytest.mark.parametrize("bad, message", [
    (dict(strategies=("sideways",)), "unknown 'sideways'"),
    (dict(modes=-1), "modes must be a whole number >= 0"),
    (dict(min_steps=1), "min_steps must be a whole number >= 2"),
    (dict(untrap_ratio=0.0), "untrap_ratio must be > 0"),
])
def test_bad_settings_name_the_key(bad, message):
    with pytest.raises(LflError, match=message):
        plan(minimum_ids=[1], energies=[0.0], ts_min1=[], ts_min2=[], ts_energies=[], coords=np.zeros((1, 2)),
             **bad)


def test_nothing_is_proposed_twice_within_a_round():
    rng = np.random.default_rng(0)
    m = 12
    coords = rng.normal(size=(m, 3))
    chain = list(range(1, m))
    tasks = plan(minimum_ids=list(range(1, m + 1)), energies=rng.uniform(size=m), ts_min1=chain,
                 ts_min2=[c + 1 for c in chain], ts_energies=rng.uniform(1, 2, size=m - 1), coords=coords,
                 strategies=("shortcut", "untrap"), shortcut_pairs=20, untrap_pairs=20, k_nearest=4,
                 min_steps=2, untrap_ratio=0.01)
    pairs = [frozenset((t.min1_id, t.min2_id)) for t in tasks]
    assert pairs and len(pairs) == len(set(pairs))
    assert not any(len(p) == 1 for p in pairs)
    assert list(itertools.chain(*[[t.kind] for t in tasks])).count("untrap") >= 1
