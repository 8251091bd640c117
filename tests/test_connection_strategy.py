"""Connection planning: hand-made graphs with known gaps, and a brute-force Dijkstra over the minima.

The brute-force reference runs Dijkstra over the complete graph of minima (zero cost between minima
joined through transition states, distance or distance squared otherwise) and reads the gaps off
every path: independent of the component graph the code under test builds.
"""

import heapq

import numpy as np
import pytest

from lfl.errors import LflError
from lfl.explore.connection_strategy import components, plan_pairs

LINE_IDS = [10, 11, 12, 13]
LINE_X = np.array([[0.0], [1.0], [3.0], [6.0]])
LINE_E = np.array([-5.0, -4.0, -3.0, -2.0])  # 10 is the global minimum


def plan(ts=(), attempts=None, ids=LINE_IDS, coords=LINE_X, energies=LINE_E, **options):
    ts = list(ts)
    return plan_pairs(
        minimum_ids=ids,
        energies=energies,
        ts_min1=[a for a, _ in ts],
        ts_min2=[b for _, b in ts],
        coords=coords,
        attempts=attempts,
        **{"n_pairs": 50, **options},
    )


def test_line_without_transition_states_names_the_neighbour_gaps():
    # squared distances: hopping along neighbours is cheaper than any long jump
    assert plan(metric="squared") == [(10, 11), (11, 12), (12, 13)]
    assert plan(metric="squared", n_pairs=2) == [(10, 11), (11, 12)]


def test_joined_minima_cost_nothing_and_are_no_gap():
    assert plan(ts=[(11, 12)], metric="squared") == [(10, 11), (12, 13)]
    # a self-loop joins nothing
    assert plan(ts=[(11, 11)], metric="squared") == [(10, 11), (11, 12), (12, 13)]


def test_connected_graph_gives_no_pairs():
    assert plan(ts=[(10, 11), (12, 11), (13, 12)]) == []
    assert plan(ts=[(10, 11), (12, 11), (13, 12)], strategy="nearest") == []
    assert plan(ids=[4], coords=np.zeros((1, 3)), energies=[0.0]) == []


def test_failed_pairs_are_skipped_after_max_failures():
    failed_twice = ([10, 11, 10], [11, 10, 11], ["failed", "partial", "connected"])  # "connected" is no failure
    # two failures of 10-11: the paths go around it, through 12
    assert plan(attempts=failed_twice, metric="squared", max_failures=2) == [(12, 11), (10, 12), (12, 13)]
    assert plan(attempts=failed_twice, metric="squared", max_failures=3) == [(10, 11), (11, 12), (12, 13)]
    # attempts that name minima no longer known are ignored
    assert plan(attempts=([99], [10], ["failed"]), metric="squared", max_failures=1) == [(10, 11), (11, 12), (12, 13)]
    # every edge of a two-minimum landscape failed out: nothing left to try
    two = dict(ids=[1, 2], coords=np.array([[0.0], [1.0]]), energies=[0.0, 1.0])
    assert plan(attempts=([1], [2], ["failed"]), max_failures=1, **two) == []


def test_fill_adds_the_next_closest_pairs_between_components():
    # 10-11-12 joined; 13 alone: one gap (12-13) on the shortest path, then the other pairs into 13,
    # closest first, each named from the global minimum's side
    joined = [(10, 11), (11, 12)]
    assert plan(ts=joined, n_pairs=3) == [(12, 13)]
    assert plan(ts=joined, n_pairs=3, fill=True) == [(12, 13), (11, 13), (10, 13)]
    assert plan(ts=joined, n_pairs=2, fill=True) == [(12, 13), (11, 13)]
    # failed-out pairs are no filling either
    assert plan(ts=joined, n_pairs=3, fill=True, attempts=([11], [13], ["failed"]), max_failures=1) == [
        (12, 13), (10, 13)]
    # pairs touching the global minimum's component come before pairs between two other components:
    # components {1}, {2, 3}, {4}; the paths' gaps are 3-4 (0.5) and 1-2 (10); then 1-3 (11) and
    # 1-4 (11.5) before the closer 2-4 (1.5)
    ids, x = [1, 2, 3, 4], np.array([[0.0], [10.0], [11.0], [11.5]])
    got = plan(ids=ids, coords=x, energies=[0.0, 1.0, 2.0, 3.0], ts=[(2, 3)], n_pairs=5, fill=True)
    assert got == [(3, 4), (1, 2), (1, 3), (1, 4), (2, 4)]


def test_nearest_by_rank_then_distance():
    # 10-11 joined: 10's unjoined neighbours 12 (3), 13 (6); 11's 12 (2), 13 (5); 12's 11 (2), 10 (3); 13's 12, 11
    assert plan(ts=[(10, 11)], strategy="nearest", k_nearest=1) == [(11, 12), (10, 12), (12, 13)]
    assert plan(ts=[(10, 11)], strategy="nearest", k_nearest=2, n_pairs=4) == [(11, 12), (10, 12), (12, 13), (11, 13)]


def test_symmetry_aware_distance_changes_the_path():
    def mirrored(a, b):  # x -> -x in the first coordinate is a symmetry
        return min(np.linalg.norm(a - b), np.linalg.norm(a - b * np.array([-1.0, 1.0])))

    coords = np.array([[0.0, 0.0], [3.0, 1.0], [-3.2, 1.1]])
    setup = dict(ids=[1, 2, 3], coords=coords, energies=[0.0, 1.0, 2.0], metric="squared")
    assert plan(**setup) == [(1, 2), (1, 3)]
    assert plan(distance=mirrored, **setup) == [(2, 3), (1, 2)]


def brute_force_gaps(coords, energies, ids, ts, metric, distance):
    m = len(ids)
    labels = components(m, np.array([ids.index(a) for a, _ in ts], dtype=np.int64),
                        np.array([ids.index(b) for _, b in ts], dtype=np.int64))
    weight = np.zeros((m, m))
    for a in range(m):
        for b in range(m):
            if labels[a] != labels[b]:
                d = distance(coords[a], coords[b])
                weight[a, b] = d * d if metric == "squared" else d
    root = int(np.lexsort((ids, energies))[0])
    best = np.full(m, np.inf)
    best[root] = 0.0
    previous = [-1] * m
    heap = [(0.0, root)]
    done = set()
    while heap:
        cost, a = heapq.heappop(heap)
        if a in done:
            continue
        done.add(a)
        for b in range(m):
            if b not in done and cost + weight[a, b] < best[b]:
                best[b] = cost + weight[a, b]
                previous[b] = a
                heapq.heappush(heap, (best[b], b))
    gaps = set()
    for target in range(m):
        node = target
        while previous[node] >= 0:
            a = previous[node]
            if labels[a] != labels[node]:
                gaps.add((ids[a], ids[node]))
            node = a
    return gaps


@pytest.mark.parametrize("metric", ["distance", "squared"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shortest_path_gaps_match_brute_force_dijkstra(metric, seed):
    rng = np.random.default_rng(seed)
    m = 25
    coords = rng.standard_normal((m, 4))
    energies = rng.standard_normal(m)
    ids = [int(x) for x in rng.permutation(1000)[:m]]
    ts = [(ids[a], ids[b]) for a, b in rng.integers(0, m, size=(8, 2))]

    def euclid(a, b):
        return float(np.linalg.norm(a - b))

    expected = brute_force_gaps(coords, energies, ids, ts, metric, euclid)
    got = plan(ts=ts, ids=ids, coords=coords, energies=energies, metric=metric, n_pairs=1000)
    assert set(got) == expected
    distances = [euclid(coords[ids.index(a)], coords[ids.index(b)]) for a, b in got]
    assert distances == sorted(distances)  # short gaps first
    # the same with a distance callable, and with candidate edges pre-selected (all of them here)
    assert plan(ts=ts, ids=ids, coords=coords, energies=energies, metric=metric, n_pairs=1000, distance=euclid) == got
    sparse = plan(ts=ts, ids=ids, coords=coords, energies=energies, metric=metric, n_pairs=1000,
                  max_dense=0, n_candidates=m - 1)
    assert sparse == got


def test_sparse_candidates_still_connect_a_chain():
    # 300 minima along a line, 3 candidates each: the chain 14-15 is in neither one's 3 nearest (an island
    # of nearest-neighbour lists), yet every minimum must be reached through its line neighbours
    x = np.sort(np.random.default_rng(4).uniform(0.0, 100.0, 300))[:, None]
    gaps = np.abs(x[:, 0][:, None] - x[:, 0][None, :])
    np.fill_diagonal(gaps, np.inf)
    assert 15 not in np.argsort(gaps[14])[:3] and 14 not in np.argsort(gaps[15])[:3]
    ids = list(range(300))
    got = plan(ids=ids, coords=x, energies=np.arange(300.0), metric="squared", max_dense=10, n_candidates=3,
               n_pairs=1000)
    assert sorted(got) == [(k, k + 1) for k in range(299)]


def test_output_is_deterministic_and_independent_of_input_order():
    rng = np.random.default_rng(7)
    m = 30
    coords = rng.standard_normal((m, 3))
    energies = rng.standard_normal(m)
    ids = list(range(100, 100 + m))
    ts = [(100, 101), (102, 105), (110, 111)]
    attempts = ([103, 104], [107, 108], ["failed", "failed"])
    for strategy in ("shortest_path", "nearest"):
        first = plan(ts=ts, ids=ids, coords=coords, energies=energies, attempts=attempts, strategy=strategy,
                     max_failures=1, n_pairs=10)
        again = plan(ts=ts, ids=ids, coords=coords, energies=energies, attempts=attempts, strategy=strategy,
                     max_failures=1, n_pairs=10)
        order = rng.permutation(m)
        shuffled = plan(ts=ts, ids=[ids[k] for k in order], coords=coords[order], energies=energies[order],
                        attempts=attempts, strategy=strategy, max_failures=1, n_pairs=10)
        assert len(first) == 10
        assert first == again == shuffled
        assert (103, 107) not in first and (107, 103) not in first


def test_components_label_joined_minima():
    labels = components(6, np.array([0, 3, 4]), np.array([2, 4, 5]))
    assert labels.tolist() == [0, 1, 0, 2, 2, 2]


@pytest.mark.parametrize(
    "options",
    [
        dict(strategy="random"),
        dict(metric="cubed"),
        dict(n_pairs=-1),
        dict(k_nearest=0),
        dict(max_failures=0),
        dict(energies=np.zeros(3)),
        dict(coords=np.zeros((4, 1, 1))),
        dict(ts=[(10, 99)]),
        dict(ids=[1, 1, 2, 3]),
        dict(attempts=([10], [11, 12], ["failed"])),
    ],
)
def test_bad_input_raises(options):
    with pytest.raises(LflError):
        plan(**options)


def test_distance_is_measured_only_between_components_and_never_for_failed_out_pairs():
    calls = []

    def counting(a, b):
        calls.append((float(a[0]), float(b[0])))
        return float(np.linalg.norm(a - b))

    pairs = plan(ts=[(10, 11), (12, 13)], distance=counting, metric="squared")
    assert pairs == [(11, 12)]  # the two components meet across the shortest gap
    assert sorted(calls) == [(0.0, 3.0), (0.0, 6.0), (1.0, 3.0), (1.0, 6.0)]
    calls.clear()
    pairs = plan(ts=[(10, 11), (12, 13)], distance=counting, metric="squared", attempts=([11], [12], ["failed"]),
                 max_failures=1)
    assert pairs == [(10, 12)]
    assert sorted(calls) == [(0.0, 3.0), (0.0, 6.0), (1.0, 6.0)]


def _brute_nearest_other_component(coords, labels, a, k):
    d = np.linalg.norm(coords - coords[a], axis=1)
    others = np.flatnonzero(labels != labels[a])
    return set(others[np.argsort(d[others], kind="stable")[:k]].tolist())


@pytest.mark.parametrize("dominant", [False, True])
def test_sparse_candidates_hold_each_searching_minimums_nearest_and_join_every_island(dominant):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    from lfl.explore.connection_strategy import candidate_edges

    rng = np.random.default_rng(11)
    k = 4
    # three far-apart clusters (210, 110, 80 minima): nearest-neighbour lists alone never leave one
    cluster = np.repeat([0, 1, 2], [210, 110, 80])
    m = cluster.size
    coords = rng.standard_normal((m, 5)) + 40.0 * cluster[:, None]
    if dominant:  # cluster 0 is one component (more than half the minima), every other minimum alone
        labels = np.concatenate([np.zeros(210, dtype=np.int64), np.arange(1, 191)])
    else:
        labels = np.arange(m) // 2  # pairs of minima, each pair inside one cluster
    i, j, d = candidate_edges(coords, None, max_dense=10, n_candidates=k, labels=labels)
    pairs = set(zip(i.tolist(), j.tolist()))
    assert np.all(i < j) and len(pairs) == i.size and np.all(labels[i] != labels[j])
    np.testing.assert_allclose(d, np.linalg.norm(coords[i] - coords[j], axis=1), rtol=0, atol=1e-12)
    searching = np.flatnonzero(labels != 0) if dominant else np.arange(m)
    for a in searching.tolist():
        for b in _brute_nearest_other_component(coords, labels, a, k):
            assert (min(a, b), max(a, b)) in pairs
    if dominant:  # the dominant component keeps no lists: at most k pairs per other minimum, plus the joins
        assert i.size <= k * searching.size + 2
    # components and candidates form one connected graph
    n_comp = int(labels.max()) + 1
    graph = coo_matrix((np.ones(i.size), (labels[i], labels[j])), shape=(n_comp, n_comp))
    assert scipy_components(graph, directed=False)[0] == 1
    # the clusters are joined by exactly the two edges of the clusters' minimum spanning tree (brute force)
    full = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=2)
    closest = {(a, b): np.unravel_index(np.argmin(full[np.ix_(cluster == a, cluster == b)]),
                                        ((cluster == a).sum(), (cluster == b).sum()))
               for a, b in ((0, 1), (0, 2), (1, 2))}
    closest = {key: (int(np.flatnonzero(cluster == key[0])[r]), int(np.flatnonzero(cluster == key[1])[c]))
               for key, (r, c) in closest.items()}
    length = {key: full[a, b] for key, (a, b) in closest.items()}
    tree = sorted(length, key=length.get)[:2]
    crossing = {(int(a), int(b)) for a, b in zip(i.tolist(), j.tolist()) if cluster[a] != cluster[b]}
    assert crossing == {closest[key] for key in tree}
