"""What to search next in a connected landscape (pure: arrays in, a list of tasks out).

Connection rounds stop once every minimum is joined to the global minimum; a connected network is
still a sparse one. Refinement rounds grow it with PATHSAMPLE's and OPTIM's strategies (SCIENCE.md §6):

- ``single_ended``: a search uphill along each of a minimum's ``modes`` softest Hessian eigenvectors
  (both signs in one task); each (minimum, mode) is searched once: the attempt records say which
  were, so a rerun repeats none;
- ``shortcut`` (PATHSAMPLE SHORTCUT): pairs of minima close in (symmetry-aligned) distance, each
  among the other's ``k_nearest``, that are ``min_steps`` or more transition states apart in the
  network, or whose best path's highest transition state lies more than ``barrier_fraction`` of the
  landscape's energy span (highest transition state minus global minimum) above the higher of the
  two: a direct band between them finds lower barriers and missing edges;
- ``untrap`` (PATHSAMPLE UNTRAP): minima whose barrier to the global minimum (the highest transition
  state on the best path, minus the minimum's energy) exceeds ``ratio`` times their energy above it:
  each is paired with its nearest lower minimum not joined to it directly.

Independent draws, each round, so that the landscape's completeness can be estimated from how often
each point is found again (:mod:`lfl.explore.completeness`; a finite plan cannot run out and pass for
saturation):

- ``random_start``: quenches from random weights (minima);
- ``random_direction``: single-ended searches out of a minimum chosen at random, along a random
  direction (transition states around it, not only along its softest modes);
- ``random_copy``: a connection from a minimum chosen at random to a random symmetric copy of another
  (or the same) minimum chosen at random, unaligned: paths to the other copies of a neighbour cross
  transition states of the reduced landscape that aligned bands never meet (SCIENCE.md §6).

When every (minimum, mode) below ``modes`` has been searched, the softest-mode searches widen to the
next ``modes`` modes (up to every mode).

Minima not yet joined to the global minimum get the connection planner's gaps first
(:func:`~lfl.explore.connection_strategy.plan_pairs`), so every minimum found on the way is
connected as in connection rounds. No pair is proposed twice: any attempt recorded between two
minima (in either order) rules the pair out for shortcut and untrap.

"Best path" is the minimax path: among all paths of transition states, the one whose highest
transition state is lowest (the barrier a disconnectivity graph shows). Degenerate rearrangements
(both sides one minimum) join nothing and are ignored here.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from lfl.errors import LflError
from lfl.explore.connection_strategy import Distance, candidate_edges, plan_pairs

log = logging.getLogger(__name__)

REFINEMENT_STRATEGIES = ("single_ended", "shortcut", "untrap", "random_start", "random_direction", "random_copy")
RANDOM_STRATEGIES = ("random_start", "random_direction", "random_copy")
# codes 0..6 in the task files (append only: the codes are stored)
TASK_KINDS = ("connect", "shortcut", "untrap", "single_ended", "random_start", "random_direction", "random_copy")
# the search that sights what a task finds (minimum_sightings / transition_state_sightings .search)
TASK_SEARCH = {"connect": "connect", "shortcut": "shortcut", "untrap": "untrap", "single_ended": "single-ended",
               "random_start": "random-start", "random_direction": "random-direction", "random_copy": "random-copy"}
SINGLE_ENDED_METHOD = "single-ended mode {mode}"  # the attempt record's method: which mode was searched


@dataclass(frozen=True)
class RefinementTask:
    kind: str  # one of TASK_KINDS
    min1_id: int
    min2_id: int  # == min1_id for a single-ended search
    mode: int = -1  # single-ended: position in the ascending Hessian spectrum; -1 otherwise


def minimax_barriers(
    n_minima: int, ends1: np.ndarray, ends2: np.ndarray, ts_energies: np.ndarray, source: int
) -> np.ndarray:
    """Highest transition-state energy on the minimax path from ``source`` to every minimum.

    -inf for the source itself, +inf where no path exists. A bottleneck Dijkstra: the cost of a
    path is its highest edge, and a heap pops minima in order of that cost.
    """
    adjacency: list[list[tuple[float, int]]] = [[] for _ in range(n_minima)]
    for a, b, e in zip(ends1.tolist(), ends2.tolist(), ts_energies.tolist()):
        if a != b:
            adjacency[a].append((e, b))
            adjacency[b].append((e, a))
    best = np.full(n_minima, np.inf)
    best[source] = -np.inf
    heap = [(-np.inf, source)]
    done = np.zeros(n_minima, dtype=bool)
    while heap:
        cost, node = heapq.heappop(heap)
        if done[node]:
            continue
        done[node] = True
        for e, other in adjacency[node]:
            through = max(cost, e)
            if through < best[other]:
                best[other] = through
                heapq.heappush(heap, (through, other))
    return best


def _hops(n_minima: int, ends1: np.ndarray, ends2: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Fewest transition states between each source and every minimum (inf: not joined)."""
    distinct = ends1 != ends2
    graph = csr_matrix((np.ones(int(distinct.sum())), (ends1[distinct], ends2[distinct])), shape=(n_minima, n_minima))
    return shortest_path(graph, directed=False, unweighted=True, indices=sources)


def _attempted_pairs(attempts, position: dict[int, int]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    if attempts is None:
        return pairs
    for a, b in zip(attempts[0], attempts[1]):
        i, j = position.get(int(a)), position.get(int(b))
        if i is not None and j is not None and i != j:
            pairs.add((min(i, j), max(i, j)))
    return pairs


def plan_shortcuts(
    *, energies, ends1, ends2, ts_energies, coords, distance: Distance | None, attempted: set[tuple[int, int]],
    n_pairs: int, k_nearest: int, min_steps: int, barrier_fraction: float, max_dense: int = 500,
) -> list[tuple[int, int, float]]:
    """(i, j, d) positions of close pairs far apart in the network, closest first."""
    m = energies.size
    if m < 2 or n_pairs == 0:
        return []
    i, j, d = candidate_edges(coords, distance, max_dense=max_dense, n_candidates=k_nearest)
    # keep pairs where each is among the other's k_nearest
    rank: dict[tuple[int, int], int] = {}
    for a in range(m):
        mine = np.flatnonzero((i == a) | (j == a))
        nearest = mine[np.lexsort((np.maximum(i[mine], j[mine]), d[mine]))][:k_nearest]
        for k in nearest.tolist():
            rank[(int(i[k]), int(j[k]))] = rank.get((int(i[k]), int(j[k])), 0) + 1
    close = np.array([rank.get((a, b), 0) == 2 for a, b in zip(i.tolist(), j.tolist())], dtype=bool)
    i, j, d = i[close], j[close], d[close]
    if i.size == 0:
        return []
    sources = np.unique(i)
    hops = _hops(m, ends1, ends2, sources)
    row = {int(s): r for r, s in enumerate(sources.tolist())}
    distinct = ends1 != ends2
    span = (float(ts_energies[distinct].max()) - float(energies.min())) if distinct.any() else 0.0
    barriers = {int(s): minimax_barriers(m, ends1, ends2, ts_energies, int(s)) for s in sources.tolist()}
    chosen = []
    for a, b, dd in zip(i.tolist(), j.tolist(), d.tolist()):
        steps = hops[row[a], b]
        if not np.isfinite(steps) or steps <= 1 or (a, b) in attempted:
            continue  # not joined (a connection gap, not a shortcut), joined directly, or tried
        high = barriers[a][b] - max(energies[a], energies[b])
        if steps >= min_steps or (span > 0.0 and high > barrier_fraction * span):
            chosen.append((a, b, dd))
    chosen.sort(key=lambda t: (t[2], t[0], t[1]))
    return chosen[:n_pairs]


def plan_untrap(
    *, energies, ends1, ends2, ts_energies, coords, distance: Distance | None, attempted: set[tuple[int, int]],
    root: int, n_pairs: int, ratio: float,
) -> list[tuple[int, int, float]]:
    """(trapped, lower, d) positions: the most trapped minima first, each to its nearest lower minimum."""
    m = energies.size
    if m < 2 or n_pairs == 0:
        return []
    barrier_top = minimax_barriers(m, ends1, ends2, ts_energies, root)
    direct = {(min(a, b), max(a, b)) for a, b in zip(ends1.tolist(), ends2.tolist()) if a != b}
    trapped = []
    for k in range(m):
        gap = energies[k] - energies[root]
        if k == root or not np.isfinite(barrier_top[k]) or gap <= 0.0:
            continue
        barrier = barrier_top[k] - energies[k]
        if barrier > ratio * gap:
            trapped.append((barrier / gap, k))
    trapped.sort(key=lambda t: (-t[0], t[1]))
    chosen = []
    for _, k in trapped:
        lower = [q for q in np.flatnonzero(energies < energies[k]).tolist()
                 if (min(k, q), max(k, q)) not in attempted and (min(k, q), max(k, q)) not in direct]
        if not lower:
            continue
        if distance is None:
            gaps = np.linalg.norm(coords[lower] - coords[k], axis=1)
        else:
            gaps = np.array([distance(coords[k], coords[q]) for q in lower])
        best = int(np.argmin(gaps))
        chosen.append((k, lower[best], float(gaps[best])))
        if len(chosen) == n_pairs:
            break
    return chosen


def plan_refinement(
    *,
    minimum_ids,
    energies,
    ts_min1,
    ts_min2,
    ts_energies,
    coords,
    distance: Distance | None = None,
    attempts: tuple[Sequence[int], Sequence[int], Sequence[str], Sequence[str | None]] | None = None,
    strategies: Sequence[str] = REFINEMENT_STRATEGIES,
    connect_pairs: int = 8,
    max_failures: int = 2,
    modes: int = 2,
    searches_per_round: int = 8,
    shortcut_pairs: int = 4,
    k_nearest: int = 3,
    min_steps: int = 3,
    barrier_fraction: float = 0.25,
    untrap_pairs: int = 4,
    untrap_ratio: float = 2.0,
    random_starts: int = 0,
    random_directions: int = 0,
    random_copies: int = 0,
    rng: np.random.Generator | None = None,
) -> list[RefinementTask]:
    """The next round's tasks: connection gaps, shortcuts, untrap pairs, single-ended searches, and
    the random draws of the strategies named in ``strategies`` (minima chosen with ``rng``).

    ``attempts`` is (min1 ids, min2 ids, outcomes, methods) of every attempt so far. Deterministic for
    equal input and equal ``rng`` state. Random-start tasks carry no minimum (ids -1).
    """
    unknown = sorted(set(strategies) - set(REFINEMENT_STRATEGIES))
    if unknown:
        raise LflError(f"refine strategies: unknown {', '.join(map(repr, unknown))} "
                       f"(known: {', '.join(REFINEMENT_STRATEGIES)})")
    for name, value, low in (("connect_pairs", connect_pairs, 0), ("modes", modes, 0),
                             ("random_starts", random_starts, 0), ("random_directions", random_directions, 0),
                             ("random_copies", random_copies, 0),
                             ("searches_per_round", searches_per_round, 0), ("shortcut_pairs", shortcut_pairs, 0),
                             ("k_nearest", k_nearest, 1), ("min_steps", min_steps, 2),
                             ("untrap_pairs", untrap_pairs, 0), ("max_failures", max_failures, 1)):
        if int(value) != value or value < low:
            raise LflError(f"refine {name} must be a whole number >= {low}, got {value}")
    if not barrier_fraction > 0.0 or not untrap_ratio > 0.0:
        raise LflError("refine barrier_fraction and untrap_ratio must be > 0")
    ids = np.asarray(minimum_ids, dtype=np.int64).ravel()
    energies = np.asarray(energies, dtype=np.float64).ravel()
    coords = np.asarray(coords, dtype=np.float64)
    ts_energies = np.asarray(ts_energies, dtype=np.float64).ravel()
    m = ids.size
    if m == 0:
        return []
    position = {int(x): k for k, x in enumerate(ids.tolist())}
    ends1 = np.array([position[int(x)] for x in np.asarray(ts_min1).ravel().tolist()], dtype=np.int64)
    ends2 = np.array([position[int(x)] for x in np.asarray(ts_min2).ravel().tolist()], dtype=np.int64)
    if ts_energies.size != ends1.size:
        raise LflError(f"refine planning: {ends1.size} transition states but {ts_energies.size} energies")
    root = int(np.lexsort((ids, energies))[0])

    tasks: list[RefinementTask] = []
    if connect_pairs:
        pair_attempts = None if attempts is None else (attempts[0], attempts[1], attempts[2])
        for a, b in plan_pairs(minimum_ids=ids, energies=energies, ts_min1=ts_min1, ts_min2=ts_min2, coords=coords,
                               distance=distance, attempts=pair_attempts, n_pairs=connect_pairs,
                               max_failures=max_failures, fill=True):
            tasks.append(RefinementTask("connect", a, b))
    attempted = _attempted_pairs(attempts, position)
    attempted |= {(min(position[t.min1_id], position[t.min2_id]), max(position[t.min1_id], position[t.min2_id]))
                  for t in tasks}
    if "shortcut" in strategies:
        found = plan_shortcuts(energies=energies, ends1=ends1, ends2=ends2, ts_energies=ts_energies, coords=coords,
                               distance=distance, attempted=attempted, n_pairs=shortcut_pairs, k_nearest=k_nearest,
                               min_steps=min_steps, barrier_fraction=barrier_fraction)
        for a, b, _ in found:
            tasks.append(RefinementTask("shortcut", int(ids[a]), int(ids[b])))
            attempted.add((min(a, b), max(a, b)))
    if "untrap" in strategies:
        for a, b, _ in plan_untrap(energies=energies, ends1=ends1, ends2=ends2, ts_energies=ts_energies,
                                   coords=coords, distance=distance, attempted=attempted, root=root,
                                   n_pairs=untrap_pairs, ratio=untrap_ratio):
            tasks.append(RefinementTask("untrap", int(ids[a]), int(ids[b])))
            attempted.add((min(a, b), max(a, b)))
    if "single_ended" in strategies and modes and searches_per_round:
        searched = set()
        if attempts is not None:
            by_method = {SINGLE_ENDED_METHOD.format(mode=mode): mode for mode in range(coords.shape[1])}
            for a, method in zip(attempts[0], attempts[3]):
                if method in by_method:
                    searched.add((int(a), by_method[method]))
        order = np.lexsort((ids, energies)).tolist()  # lowest minima first
        # widen: the next `modes` modes once every minimum was searched along the softer ones
        for low in range(0, coords.shape[1], modes):
            window = range(low, min(low + modes, coords.shape[1]))
            pending = [(int(ids[k]), mode) for k in order for mode in window if (int(ids[k]), mode) not in searched]
            if pending:
                break
        for minimum, mode in pending[:searches_per_round]:
            tasks.append(RefinementTask("single_ended", minimum, minimum, mode))
    if any(s in strategies for s in RANDOM_STRATEGIES) and rng is None:
        raise LflError("refine planning: random strategies need a random generator")
    if "random_start" in strategies:
        tasks.extend(RefinementTask("random_start", -1, -1) for _ in range(random_starts))
    if "random_direction" in strategies:
        for k in rng.integers(m, size=random_directions).tolist():
            tasks.append(RefinementTask("random_direction", int(ids[k]), int(ids[k])))
    if "random_copy" in strategies:
        for a, b in rng.integers(m, size=(random_copies, 2)).tolist():
            tasks.append(RefinementTask("random_copy", int(ids[a]), int(ids[b])))
    log.info("refinement plan: %s", {kind: sum(t.kind == kind for t in tasks) for kind in TASK_KINDS})
    return tasks


__all__ = [
    "RANDOM_STRATEGIES", "REFINEMENT_STRATEGIES", "RefinementTask", "TASK_SEARCH", "SINGLE_ENDED_METHOD", "TASK_KINDS", "minimax_barriers",
    "plan_refinement", "plan_shortcuts", "plan_untrap",
]
