"""Which pairs of minima to connect next (pure: arrays in, a list of id pairs out).

Two strategies:

- ``"shortest_path"`` (PATHSAMPLE's approach, SCIENCE.md §6): over the complete graph of minima, in
  which minima already joined through transition states cost nothing to pass between and any other
  pair costs its distance (or the distance squared, ``metric="squared"``), a shortest path from the
  global minimum to every minimum outside the global minimum's component names the *gaps* on it:
  consecutive minima not yet joined. The unique gaps of all these paths, shortest first, are the
  pairs to try.
- ``"nearest"``: each minimum with its ``k_nearest`` nearest minima not yet joined to it; first every
  minimum's nearest, then every second nearest, and so on (shortest first within a rank).

A pair whose attempts failed ``max_failures`` times (any outcome but ``"connected"``) is never
proposed again; for shortest paths its edge is removed, so the paths go around it.

Joined minima form components (union of the transition-state edges), so the shortest paths run on
the graph of components: the cost between two components is the shortest distance between their
members, and the pair that achieves it is the gap. This is the same as Dijkstra over the minima with
zero-cost edges inside components.

Distances: ``distance(a, b)`` (e.g. ``system.distance``: symmetry-aligned, about 0.2 ms per call
for [2,10,4] measured on a busy machine), or plain Euclidean when None. Pairs inside one component
and failed-out pairs are never measured. Up to ``max_dense`` minima every other pair is measured
(at most m^2/2 calls: 125,000, about 25 s, for 500 minima none of them joined); beyond that, the
candidate edges are each minimum's ``n_candidates`` nearest minima of other components by plain
Euclidean distance of the stored coordinates (a component holding half the minima or more keeps no
lists of its own: its pairs come from the other minima's lists, so a grown landscape of one large
component and a few stragglers costs m x stragglers distances, not m^2), plus the shortest edges
that join the islands those lists leave (Boruvka's rounds: edges of a minimum spanning tree, so every
component stays reachable), measured with ``distance``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from lfl.errors import LflError

log = logging.getLogger(__name__)

STRATEGIES = ("shortest_path", "nearest")
METRICS = ("distance", "squared")
CONNECTED = "connected"  # the one attempt outcome that is no failure

Distance = Callable[[np.ndarray, np.ndarray], float]


def components(n_minima: int, ends1: np.ndarray, ends2: np.ndarray) -> np.ndarray:
    """Component label (0 .. c-1, numbered by first member) of each minimum under the edges (ends1[k], ends2[k])."""
    parent = np.arange(n_minima)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    for a, b in zip(ends1.tolist(), ends2.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n_minima)], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64)


def failure_counts(
    attempts: tuple[Sequence[int], Sequence[int], Sequence[str]] | None, position: dict[int, int]
) -> dict[tuple[int, int], int]:
    """Failed attempts per unordered pair of positions (pairs naming unknown ids are ignored)."""
    counts: dict[tuple[int, int], int] = {}
    if attempts is None:
        return counts
    min1, min2, outcomes = attempts
    if not len(min1) == len(min2) == len(outcomes):
        raise LflError(
            f"connection attempts: {len(min1)} first ids, {len(min2)} second ids and {len(outcomes)} outcomes"
        )
    for a, b, outcome in zip(min1, min2, outcomes):
        if outcome == CONNECTED:
            continue
        i, j = position.get(int(a)), position.get(int(b))
        if i is None or j is None or i == j:
            continue
        key = (min(i, j), max(i, j))
        counts[key] = counts.get(key, 0) + 1
    return counts


def candidate_edges(
    coords: np.ndarray,
    distance: Distance | None,
    *,
    max_dense: int,
    n_candidates: int,
    labels: np.ndarray | None = None,
    exclude: set[tuple[int, int]] | frozenset = frozenset(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, d) with i < j between different components (``labels``; None: all distinct), none in ``exclude``.

    Up to max_dense minima: every such pair. Beyond: each minimum's n_candidates nearest minima of
    other components by plain distance (no lists of a component holding half the minima or more:
    its pairs come from the others' lists), plus the shortest plain-distance edges that join the
    islands those lists leave (Boruvka). Pairs inside a component are never measured: they cost
    nothing on any path.
    """
    m = coords.shape[0]
    labels = np.arange(m) if labels is None else np.asarray(labels, dtype=np.int64)
    if m <= max_dense:
        i, j = np.triu_indices(m, k=1)
        between = labels[i] != labels[j]
        i, j = i[between].astype(np.int64), j[between].astype(np.int64)
    else:
        i, j = _sparse_candidates(coords, labels, min(int(n_candidates), m - 1))
    if exclude:
        excluded = np.array([min(a, b) * m + max(a, b) for a, b in exclude], dtype=np.int64)
        keep = ~np.isin(i * m + j, excluded)
        i, j = i[keep], j[keep]
    if distance is None:
        chunk = max(1, BLOCK_ENTRIES // max(1, coords.shape[1]))
        d = np.concatenate([np.empty(0)] + [np.linalg.norm(coords[i[s:s + chunk]] - coords[j[s:s + chunk]], axis=1)
                                            for s in range(0, i.size, chunk)])
    else:
        d = np.array([distance(coords[a], coords[b]) for a, b in zip(i.tolist(), j.tolist())], dtype=np.float64)
    return i, j, d


BLOCK_ENTRIES = 1 << 24  # squared distances held at once by a blockwise search (128 MB)


def _blockwise_nearest(
    coords: np.ndarray, rows: np.ndarray, cols: np.ndarray, groups: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, squared distance) of each row's k nearest cols outside its own group (fewer where
    fewer exist); plain Euclidean distance, computed in blocks of rows (BLOCK_ENTRIES at once)."""
    k = min(k, cols.size)
    if rows.size == 0 or k == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    col_coords, col_groups = coords[cols], groups[cols]
    col_squares = np.einsum("ij,ij->i", col_coords, col_coords)
    block = max(1, BLOCK_ENTRIES // cols.size)
    found_rows, found_cols, found_d2 = [], [], []
    for start in range(0, rows.size, block):
        mine = rows[start : start + block]
        x = coords[mine]
        d2 = np.einsum("ij,ij->i", x, x)[:, None] + col_squares[None, :] - 2.0 * (x @ col_coords.T)
        d2[groups[mine][:, None] == col_groups[None, :]] = np.inf
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < cols.size else np.broadcast_to(
            np.arange(cols.size), (mine.size, cols.size))
        near_d2 = np.take_along_axis(d2, nearest, axis=1)
        finite = np.isfinite(near_d2)
        found_rows.append(np.broadcast_to(mine[:, None], nearest.shape)[finite])
        found_cols.append(cols[nearest[finite]])
        found_d2.append(np.maximum(near_d2[finite], 0.0))
    return np.concatenate(found_rows), np.concatenate(found_cols), np.concatenate(found_d2)


def _unique_pairs(a: np.ndarray, b: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs (i < j), each once, sorted."""
    keys = np.unique(np.minimum(a, b) * m + np.maximum(a, b))
    return keys // m, keys % m


def _sparse_candidates(coords: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (i < j) between components for many minima: nearest-neighbour lists, islands joined.

    Each minimum's k nearest minima of other components (plain distance), except that when one
    component holds at least half of the minima its members' own lists are left out: pairs with it
    come from the other minima's lists. That keeps the search at m x (minima outside it) distances
    instead of m^2, and the measured candidates at about k per minimum outside it instead of k per
    minimum (a grown landscape is one large component and a few stragglers).
    """
    m = coords.shape[0]
    sizes = np.bincount(labels)
    largest = int(np.argmax(sizes))
    searching = np.flatnonzero(labels != largest) if 2 * sizes[largest] >= m else np.arange(m)
    a, b, _ = _blockwise_nearest(coords, searching, np.arange(m), labels, k)
    i, j = _unique_pairs(a, b, m)
    # Nearest-neighbour lists can split into islands (a cluster whose members are all each other's
    # nearest): join them by their shortest edges out.
    ji, jj = _island_joins(coords, labels, i, j)
    return _unique_pairs(np.concatenate([i, ji]), np.concatenate([j, jj]), m)


def _island_joins(
    coords: np.ndarray, labels: np.ndarray, i: np.ndarray, j: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs that join the islands of (components + edges i-j) into one, by plain distance.

    Boruvka's rounds: every island but the largest adds its shortest edge to another island (an
    edge of a minimum spanning tree of the minima, zero cost inside components, by the cut
    property); islands merge; repeat. One round costs (minima outside the largest island) x m
    distances, and each round at least halves the number of islands.
    """
    n_comp = int(labels.max()) + 1
    edges_a, edges_b = [labels[i]], [labels[j]]
    joins_a, joins_b = [], []
    while True:
        a, b = np.concatenate(edges_a), np.concatenate(edges_b)
        graph = csr_matrix((np.ones(a.size), (a, b)), shape=(n_comp, n_comp))
        n_islands, island_of_component = connected_components(graph, directed=False)
        if n_islands == 1:
            break
        island = island_of_component[labels]
        largest = int(np.argmax(np.bincount(island)))
        rows, cols, d2 = _blockwise_nearest(coords, np.flatnonzero(island != largest), np.arange(coords.shape[0]),
                                            island, 1)
        # the shortest edge out of each island (ties: the lowest row, then column)
        order = np.lexsort((cols, rows, d2, island[rows]))
        rows, cols = rows[order], cols[order]
        first = np.ones(rows.size, dtype=bool)
        first[1:] = island[rows[1:]] != island[rows[:-1]]
        joins_a.append(rows[first])
        joins_b.append(cols[first])
        edges_a.append(labels[rows[first]])
        edges_b.append(labels[cols[first]])
    if not joins_a:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(joins_a), np.concatenate(joins_b)


def _shortest_path_gaps(
    labels: np.ndarray, root: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, metric: str
) -> list[tuple[int, int, float]]:
    """Unique gaps (i, j, d) on the shortest component paths from the root's component to every other."""
    n_comp = int(labels.max()) + 1
    ci, cj = labels[i], labels[j]
    between = ci != cj
    i, j, d, ci, cj = i[between], j[between], d[between], ci[between], cj[between]
    if i.size == 0:
        return []
    # The cheapest pair between every two components (ties: the first in (d, i, j) order).
    lo, hi = np.minimum(ci, cj), np.maximum(ci, cj)
    order = np.lexsort((j, i, d, hi, lo))
    lo, hi = lo[order], hi[order]
    first = np.ones(lo.size, dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    keep = order[first]
    ei, ej, ed = i[keep], j[keep], d[keep]
    elo, ehi = np.minimum(ci[keep], cj[keep]), np.maximum(ci[keep], cj[keep])
    cost = ed * ed if metric == "squared" else ed.copy()
    # csgraph drops explicit zeros: coincident minima (distance 0) still need an edge.
    cost = np.maximum(cost, np.finfo(np.float64).tiny)
    graph = csr_matrix((cost, (elo, ehi)), shape=(n_comp, n_comp))
    start = int(labels[root])
    _, predecessors = dijkstra(graph, directed=False, indices=start, return_predecessors=True)
    edge_of = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(elo.tolist(), ehi.tolist()))}
    gaps: dict[tuple[int, int], tuple[int, int, float]] = {}
    for target in range(n_comp):
        node = target
        while node != start and predecessors[node] >= 0:
            previous = int(predecessors[node])
            k = edge_of[(min(previous, node), max(previous, node))]
            a, b = int(ei[k]), int(ej[k])
            if labels[a] != previous:  # name the gap from the global minimum's side
                a, b = b, a
            gaps[(min(a, b), max(a, b))] = (a, b, float(ed[k]))
            node = previous
    return list(gaps.values())


def _filling_pairs(
    labels: np.ndarray, root: int, ids: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray,
    chosen: set[tuple[int, int]], n: int,
) -> list[tuple[int, int, float]]:
    """The n closest candidate pairs between components not in chosen: pairs touching the global
    minimum's component first (named from its side), then the others (lower id first)."""
    home = labels[root]
    between = labels[i] != labels[j]
    i, j, d = i[between], j[between], d[between]
    touches_home = (labels[i] == home) | (labels[j] == home)
    order = np.lexsort((np.maximum(ids[i], ids[j]), np.minimum(ids[i], ids[j]), d, ~touches_home))
    extra: list[tuple[int, int, float]] = []
    for k in order.tolist():
        a, b = int(i[k]), int(j[k])
        if (min(a, b), max(a, b)) in chosen:
            continue
        if labels[b] == home or (labels[a] != home and ids[b] < ids[a]):
            a, b = b, a
        extra.append((a, b, float(d[k])))
        if len(extra) == n:
            break
    return extra


def _nearest_gaps(
    labels: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray, k_nearest: int
) -> list[tuple[int, int, float, int]]:
    """(a, b, d, rank): each minimum's k_nearest minima outside its component, rank 0 the nearest."""
    between = labels[i] != labels[j]
    i, j, d = i[between], j[between], d[between]
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    dist = np.concatenate([d, d])
    order = np.lexsort((dst, dist, src))
    src, dst, dist = src[order], dst[order], dist[order]
    starts = np.searchsorted(src, src, side="left")
    rank = np.arange(src.size) - starts
    chosen = rank < k_nearest
    best: dict[tuple[int, int], tuple[int, int, float, int]] = {}
    for a, b, dd, r in zip(src[chosen].tolist(), dst[chosen].tolist(), dist[chosen].tolist(), rank[chosen].tolist()):
        key = (min(a, b), max(a, b))
        if key not in best or r < best[key][3]:
            best[key] = (a, b, dd, r)
    return list(best.values())


def plan_pairs(
    *,
    minimum_ids,
    energies,
    ts_min1,
    ts_min2,
    coords,
    distance: Distance | None = None,
    attempts: tuple[Sequence[int], Sequence[int], Sequence[str]] | None = None,
    strategy: str = "shortest_path",
    n_pairs: int = 8,
    k_nearest: int = 3,
    max_failures: int = 2,
    metric: str = "distance",
    max_dense: int = 500,
    n_candidates: int = 20,
    fill: bool = False,
) -> list[tuple[int, int]]:
    """The next pairs (min1_id, min2_id) to connect, at most n_pairs, deterministic for equal input.

    ``minimum_ids`` (m,), ``energies`` (m,), ``coords`` (m, n_dof) describe the minima; ``ts_min1`` /
    ``ts_min2`` name the two minima of every transition state (self-loops allowed); ``attempts`` is
    (min1 ids, min2 ids, outcome strings) of the attempts so far. The global minimum is the lowest
    energy (lowest id among equal energies). For shortest paths each pair is named from the global
    minimum's side first, for ``"nearest"`` the lower id first. An empty list: nothing left to try
    (all joined, or every gap failed out).

    ``fill``: when the shortest paths name fewer than n_pairs gaps (late rounds: a few components
    left, each one gap away), the rest of the round goes to the next closest pairs between
    components, first those with one end in the global minimum's component: more shots at the
    stubborn gaps per round instead of one.
    """
    if strategy not in STRATEGIES:
        raise LflError(f"connection strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if metric not in METRICS:
        raise LflError(f"connection metric must be one of {', '.join(METRICS)}, got {metric!r}")
    for name, value, low in (("n_pairs", n_pairs, 0), ("k_nearest", k_nearest, 1), ("max_failures", max_failures, 1),
                             ("max_dense", max_dense, 0), ("n_candidates", n_candidates, 1)):
        if int(value) != value or value < low:
            raise LflError(f"connection {name} must be a whole number >= {low}, got {value}")
    ids = np.asarray(minimum_ids, dtype=np.int64).ravel()
    energies = np.asarray(energies, dtype=np.float64).ravel()
    m = ids.size
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[0] != m or energies.size != m:
        raise LflError(
            f"connection planning: {m} minimum ids, {energies.size} energies and coordinates of shape {coords.shape}"
        )
    if np.unique(ids).size != m:
        raise LflError("connection planning: minimum ids repeat")
    position = {int(x): k for k, x in enumerate(ids.tolist())}
    ts_min1 = np.asarray(ts_min1, dtype=np.int64).ravel()
    ts_min2 = np.asarray(ts_min2, dtype=np.int64).ravel()
    if ts_min1.size != ts_min2.size:
        raise LflError(f"connection planning: {ts_min1.size} first and {ts_min2.size} second transition-state ends")
    unknown = sorted({int(x) for x in np.concatenate([ts_min1, ts_min2]).tolist()} - set(position))
    if unknown:
        raise LflError(f"connection planning: transition states name unknown minimum id(s) {unknown[:5]}")
    if m < 2 or n_pairs == 0:
        return []

    ends1 = np.array([position[int(x)] for x in ts_min1.tolist()], dtype=np.int64)
    ends2 = np.array([position[int(x)] for x in ts_min2.tolist()], dtype=np.int64)
    labels = components(m, ends1, ends2)
    if labels.max() == 0:
        return []
    root = int(np.lexsort((ids, energies))[0])

    failures = failure_counts(attempts, position)
    failed_out = {pair for pair, count in failures.items() if count >= max_failures}
    i, j, d = candidate_edges(
        coords, distance, max_dense=int(max_dense), n_candidates=int(n_candidates), labels=labels, exclude=failed_out
    )

    if strategy == "shortest_path":
        gaps = _shortest_path_gaps(labels, root, i, j, d, metric)
        gaps.sort(key=lambda g: (g[2], min(ids[g[0]], ids[g[1]]), max(ids[g[0]], ids[g[1]])))
    else:
        ranked = _nearest_gaps(labels, i, j, d, int(k_nearest))
        ranked.sort(key=lambda g: (g[3], g[2], min(ids[g[0]], ids[g[1]]), max(ids[g[0]], ids[g[1]])))
        gaps = [(min(a, b, key=lambda k: ids[k]), max(a, b, key=lambda k: ids[k]), dd) for a, b, dd, _ in ranked]
    if fill and strategy == "shortest_path" and len(gaps) < n_pairs:
        gaps += _filling_pairs(labels, root, ids, i, j, d, {(min(a, b), max(a, b)) for a, b, _ in gaps},
                               int(n_pairs) - len(gaps))
    pairs = [(int(ids[a]), int(ids[b])) for a, b, _ in gaps[: int(n_pairs)]]
    log.info(
        "%s: %d minima in %d components, %d candidate pairs, %d failed out; %d pair(s) planned",
        strategy, m, int(labels.max()) + 1, i.size, sum(c >= max_failures for c in failures.values()), len(pairs),
    )
    return pairs


__all__ = ["STRATEGIES", "candidate_edges", "components", "failure_counts", "plan_pairs"]
