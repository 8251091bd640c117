"""Disconnectivity trees of a kinetic transition network (pele's approach), on plain arrays.

At energies ``E_0 > E_1 > ...`` spaced evenly by ``delta``, the minima with energy ``<= E_k`` fall into
groups that reach one another through transition states of energy ``<= E_k``. Each group is a node at
level ``k``, joined to the group that holds it at level ``k - 1``; groups only split as the level goes
down, so the nodes form a tree. A group of one minimum ends its branch: below it hangs a leaf at the
minimum's own energy (a vertical drop in the drawing). A minimum whose energy lies above the next
level hangs as a leaf from the last group that held it.

The groups come from a union-find over the transition states sorted by energy: levels are visited from
the lowest up, each one adds the transition states below it, and the component labels of that level
are kept; the tree is then built from the top down.

Conventions: level 0 is the highest level. Every index in the tree (``members``, ``minimum``,
``kept``) is an index into the minima arrays given to :func:`build_disconnectivity_tree`, so values per
minimum (AUC, ...) line up with the input, whichever minima the filters dropped.

A transition state joins its minima at ``max(E_ts, E_min1, E_min2)``: a saddle a little below one of
its minima (round-off in a nearly barrierless path) must not join that minimum before it exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from lfl.errors import DataError, LflError

log = logging.getLogger(__name__)

DEFAULT_N_LEVELS = 20
MAX_LEVELS = 2000
ORDERS = ("energy", "size")


@dataclass
class TreeNode:
    """One node: a group of minima at one level, or a leaf (``level == -1``) for one minimum."""

    index: int
    level: int
    energy: float
    members: np.ndarray
    parent: int | None
    children: list[int] = field(default_factory=list)
    x: float = 0.0
    minimum: int | None = None

    @property
    def is_leaf(self) -> bool:
        return self.level < 0


@dataclass
class DisconnectivityTree:
    """The tree, its layout (``TreeNode.x``) and the line segments that draw it.

    ``segments[i]`` runs from the parent of node ``segment_node[i]`` down to that node, as
    ``((x_parent, E_parent), (x_node, E_node))``. ``segment_minimum[i]`` is the minimum below the
    segment when exactly one lies below it (that minimum's own branch), else -1.
    """

    nodes: list[TreeNode]
    roots: list[int]
    level_energies: np.ndarray
    delta: float
    energies: np.ndarray
    minimum_ids: np.ndarray
    kept: np.ndarray
    leaf_of: np.ndarray
    global_minimum: int | None
    n_ts_used: int
    segments: np.ndarray
    segment_node: np.ndarray
    segment_minimum: np.ndarray

    @property
    def n_input(self) -> int:
        return int(self.energies.shape[0])

    @property
    def n_minima(self) -> int:
        return int(self.kept.shape[0])

    @property
    def is_empty(self) -> bool:
        return self.n_minima == 0

    def nodes_at_level(self, level: int) -> list[TreeNode]:
        return [node for node in self.nodes if node.level == level]

    def groups_at_level(self, level: int) -> list[frozenset[int]]:
        """The partition at ``level`` of the minima with energy ``<= level_energies[level]``.

        Includes the minima whose one-minimum branch ended at a higher level, as groups of one.
        """
        e_level = self.level_energies[level]
        groups = [frozenset(node.members.tolist()) for node in self.nodes_at_level(level)]
        grouped = set().union(*groups) if groups else set()
        for m in self.kept.tolist():
            if m not in grouped and self.energies[m] <= e_level:
                groups.append(frozenset([m]))
        return groups

    def branch_end(self, minimum: int) -> float:
        """Energy at which the branch of input minimum ``minimum`` ends (its leaf)."""
        node = int(self.leaf_of[minimum])
        if node < 0:
            raise LflError(f"minimum {minimum} is not in the disconnectivity tree (filtered out)")
        return self.nodes[node].energy


def build_disconnectivity_tree(
    min_energies: np.ndarray,
    ts_energies: np.ndarray,
    ts_min1: np.ndarray,
    ts_min2: np.ndarray,
    *,
    minimum_ids: np.ndarray | None = None,
    n_levels: int | None = None,
    delta: float | None = None,
    e_max: float | None = None,
    lowest_n: int | None = None,
    gmin_component_only: bool = True,
    order_by: str = "energy",
    center_gmin: bool = True,
) -> DisconnectivityTree:
    """Build the disconnectivity tree of minima joined by transition states.

    ``ts_min1``/``ts_min2`` index the minima arrays. Give ``n_levels`` or ``delta`` (neither:
    ``n_levels = 20``). The top level is ``e_max`` if given, else the highest transition state used.
    Filters, in this order: minima and transition states above ``e_max`` and transition states that
    join a minimum to itself are dropped; ``lowest_n`` keeps only the lowest minima; then (default)
    only the minima connected to the global minimum remain, because the others cannot be placed.
    ``order_by`` sorts sibling branches left to right by lowest energy ("energy") or by number of
    minima, largest first ("size"); ``center_gmin`` puts the branch of the global minimum in the middle.
    An empty landscape (no minimum left) gives an empty tree.
    """
    energies, ids, ts_e, ts_1, ts_2 = _validated(min_energies, ts_energies, ts_min1, ts_min2, minimum_ids)
    if n_levels is not None and delta is not None:
        raise LflError("give either n_levels or delta for the disconnectivity graph, not both")
    if delta is None and n_levels is None:
        n_levels = DEFAULT_N_LEVELS
    if n_levels is not None and int(n_levels) < 1:
        raise LflError(f"n_levels must be at least 1, got {n_levels}")
    if delta is not None and not (np.isfinite(delta) and delta > 0):
        raise LflError(f"delta must be a positive finite number, got {delta}")
    if lowest_n is not None and int(lowest_n) < 1:
        raise LflError(f"lowest_n must be at least 1, got {lowest_n}")
    if order_by not in ORDERS:
        raise LflError(f"order_by must be one of {ORDERS}, got {order_by!r}")
    if e_max is not None and not np.isfinite(e_max):
        raise LflError(f"e_max must be finite, got {e_max}")

    kept, ts_join, ts_a, ts_b = _filtered(energies, ts_e, ts_1, ts_2, e_max, lowest_n, gmin_component_only)
    if kept.size == 0:
        log.info("disconnectivity tree: no minima left after filtering")
        return _empty_tree(energies, ids)

    local_e = energies[kept]
    gmin_local = int(np.argmin(local_e))
    e_low = float(local_e[gmin_local])
    e_top = float(e_max) if e_max is not None else float(max(local_e.max(), ts_join.max(initial=-np.inf)))
    level_energies, step = _levels(e_top, e_low, n_levels, delta)
    labels = _labels_per_level(kept.size, ts_join, ts_a, ts_b, level_energies)

    nodes, leaf_of_local = _grow_nodes(kept, local_e, labels, level_energies)
    roots = [node.index for node in nodes if node.parent is None]
    leaf_of = np.full(energies.shape[0], -1, dtype=np.int64)
    leaf_of[kept] = leaf_of_local
    gmin = int(kept[gmin_local])
    _layout(nodes, roots, int(leaf_of[gmin]), order_by, center_gmin)
    segments, segment_node, segment_minimum = _segments(nodes)
    log.info(
        "disconnectivity tree: %d minima, %d transition states, %d levels, %d nodes",
        kept.size, ts_join.size, level_energies.size, len(nodes),
    )
    return DisconnectivityTree(
        nodes=nodes, roots=roots, level_energies=level_energies, delta=step, energies=energies,
        minimum_ids=ids, kept=kept, leaf_of=leaf_of, global_minimum=gmin, n_ts_used=int(ts_join.size),
        segments=segments, segment_node=segment_node, segment_minimum=segment_minimum,
    )


def _validated(min_energies, ts_energies, ts_min1, ts_min2, minimum_ids):
    energies = np.asarray(min_energies, dtype=np.float64)
    ts_e = np.asarray(ts_energies, dtype=np.float64)
    if energies.ndim != 1 or ts_e.ndim != 1:
        raise DataError("minima and transition-state energies must be one-dimensional arrays")
    n, m = energies.shape[0], ts_e.shape[0]
    ts_ends = []
    for name, arr in (("ts_min1", ts_min1), ("ts_min2", ts_min2)):
        arr = np.asarray(arr)
        if arr.shape != (m,):
            raise DataError(f"{name} has shape {arr.shape}; expected ({m},) like the transition-state energies")
        if m and not np.issubdtype(arr.dtype, np.integer):
            raise DataError(f"{name} must hold integer indices into the minima arrays, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if m and (arr.min() < 0 or arr.max() >= n):
            raise DataError(f"{name} holds indices outside 0..{n - 1} (the minima arrays)")
        ts_ends.append(arr)
    if not np.all(np.isfinite(energies)):
        raise DataError("minima energies contain NaN or infinite values")
    if not np.all(np.isfinite(ts_e)):
        raise DataError("transition-state energies contain NaN or infinite values")
    if minimum_ids is None:
        ids = np.arange(n, dtype=np.int64)
    else:
        ids = np.asarray(minimum_ids)
        if ids.shape != (n,):
            raise DataError(f"minimum_ids has shape {ids.shape}; expected ({n},) like the minima energies")
    return energies, ids, ts_e, ts_ends[0], ts_ends[1]


def _filtered(energies, ts_e, ts_1, ts_2, e_max, lowest_n, gmin_component_only):
    """Minima kept (input indices, ascending) and the transition states joining them, in local indices."""
    n = energies.shape[0]
    keep = np.ones(n, dtype=bool) if e_max is None else energies <= e_max
    if lowest_n is not None and keep.sum() > lowest_n:
        candidates = np.flatnonzero(keep)
        lowest = candidates[np.argsort(energies[candidates], kind="stable")[: int(lowest_n)]]
        keep = np.zeros(n, dtype=bool)
        keep[lowest] = True
    ts_join = np.maximum(ts_e, np.maximum(energies[ts_1], energies[ts_2])) if ts_e.size else ts_e
    use = (ts_1 != ts_2) & keep[ts_1] & keep[ts_2]
    if e_max is not None:
        use &= ts_join <= e_max
    if gmin_component_only and keep.any():
        candidates = np.flatnonzero(keep)
        gmin = candidates[np.argmin(energies[candidates])]
        roots = _component_roots(n, ts_1[use], ts_2[use])
        keep &= roots == roots[gmin]
        use &= keep[ts_1] & keep[ts_2]
    kept = np.flatnonzero(keep)
    local = np.full(n, -1, dtype=np.int64)
    local[kept] = np.arange(kept.size)
    return kept, ts_join[use], local[ts_1[use]], local[ts_2[use]]


class _UnionFind:
    """Union by size with path halving; ``roots()`` gives every element's root at once."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def roots(self) -> np.ndarray:
        parent = np.asarray(self.parent, dtype=np.int64)
        while True:  # pointer jumping: every element reaches its root in O(log depth) array passes
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                return parent
            parent = jumped


def _component_roots(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    uf = _UnionFind(n)
    for i, j in zip(a.tolist(), b.tolist()):
        uf.union(i, j)
    return uf.roots()


def _levels(e_top: float, e_low: float, n_levels: int | None, delta: float | None) -> tuple[np.ndarray, float]:
    """Level energies from ``e_top`` down, every one above the global minimum (at least one level)."""
    span = e_top - e_low
    if n_levels is not None:
        count = int(n_levels)
        step = span / count if span > 0 else 1.0
    else:
        step = float(delta)
        count = max(1, int(np.ceil(span / step - 1e-12))) if span > 0 else 1
        if count > MAX_LEVELS:
            raise LflError(
                f"delta {step:g} over an energy range of {span:g} gives {count} levels (at most {MAX_LEVELS})"
            )
    return e_top - step * np.arange(count, dtype=np.float64), float(step)


def _labels_per_level(n: int, ts_join, ts_a, ts_b, level_energies) -> np.ndarray:
    """Component label of every kept minimum at every level, ``labels[k, m]``."""
    order = np.argsort(ts_join, kind="stable")
    joins, ends_a, ends_b = ts_join[order], ts_a[order].tolist(), ts_b[order].tolist()
    uf = _UnionFind(n)
    labels = np.empty((level_energies.size, n), dtype=np.int64)
    done = 0
    for k in range(level_energies.size - 1, -1, -1):  # from the lowest level up: unions only add
        upto = int(np.searchsorted(joins, level_energies[k], side="right"))
        for t in range(done, upto):
            uf.union(ends_a[t], ends_b[t])
        done = upto
        labels[k] = uf.roots()
    return labels


def _grow_nodes(kept, local_e, labels, level_energies) -> tuple[list[TreeNode], np.ndarray]:
    """Group nodes from the top level down, then one leaf per minimum; returns nodes and leaf per minimum."""
    n = kept.size
    nodes: list[TreeNode] = []
    alive = np.ones(n, dtype=bool)  # minima whose branch still goes on down through groups
    current = np.full(n, -1, dtype=np.int64)  # the deepest group node holding each minimum so far
    hang_from = np.full(n, -1, dtype=np.int64)
    for k, e_level in enumerate(level_energies.tolist()):
        gone = alive & (local_e > e_level)
        hang_from[gone] = current[gone]
        alive &= ~gone
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        _, first, inverse, counts = np.unique(labels[k, idx], return_index=True, return_inverse=True,
                                              return_counts=True)
        grouped = idx[np.argsort(inverse, kind="stable")]
        bounds = np.concatenate(([0], np.cumsum(counts)))
        base = len(nodes)
        for j in range(counts.size):
            parent = int(current[idx[first[j]]]) if k > 0 else None
            members = np.sort(kept[grouped[bounds[j]: bounds[j + 1]]])
            nodes.append(TreeNode(index=base + j, level=k, energy=e_level, members=members, parent=parent))
            if parent is not None:
                nodes[parent].children.append(base + j)
        current[idx] = base + inverse
        single = idx[counts[inverse] == 1]
        hang_from[single] = current[single]
        alive[single] = False
    hang_from[alive] = current[alive]
    leaf_of = np.empty(n, dtype=np.int64)
    for m in range(n):
        index = len(nodes)
        parent = int(hang_from[m])
        nodes.append(TreeNode(index=index, level=-1, energy=float(local_e[m]), members=kept[m: m + 1],
                              parent=parent, minimum=int(kept[m])))
        nodes[parent].children.append(index)
        leaf_of[m] = index
    return nodes, leaf_of


def _layout(nodes, roots, gmin_leaf, order_by, center_gmin) -> None:
    """Leaves at x = 0, 1, 2, ... in depth-first order; a group node at the mean x of its children
    (pele's rule), except that ancestors of the global minimum stand above it when it is centred."""
    low = [node.energy for node in nodes]  # lowest energy below each node; leaves hold their own
    for node in reversed(nodes):
        if node.parent is not None and low[node.index] < low[node.parent]:
            low[node.parent] = low[node.index]
    on_gmin_path = set()
    walk = gmin_leaf
    while walk is not None:
        on_gmin_path.add(walk)
        walk = nodes[walk].parent

    side_sizes = [0, 0]  # minima placed left and right of the global minimum's trunk

    def arranged(siblings: list[int]) -> list[int]:
        if order_by == "energy":
            siblings = sorted(siblings, key=lambda i: (low[i], -nodes[i].members.size, int(nodes[i].members[0])))
        else:
            siblings = sorted(siblings, key=lambda i: (-nodes[i].members.size, low[i], int(nodes[i].members[0])))
        centre = [i for i in siblings if i in on_gmin_path]
        if not (center_gmin and centre):
            return siblings
        # Each other branch goes to the side holding fewer minima so far, counted down the whole
        # trunk (trunk nodes are expanded top-down), the first in order closest to the centre.
        left, right = [], []
        for i in siblings:
            if i == centre[0]:
                continue
            side = left if side_sizes[0] < side_sizes[1] else right
            side.append(i)
            side_sizes[0 if side is left else 1] += nodes[i].members.size
        return left[::-1] + centre + right

    stack = arranged(list(roots))[::-1]
    next_x = 0
    while stack:
        index = stack.pop()
        node = nodes[index]
        if node.is_leaf:
            node.x = float(next_x)
            next_x += 1
        else:
            stack.extend(arranged(node.children)[::-1])
    # children always have larger indices than their parent, so a reverse sweep sees them first.
    # With the global minimum centred, its ancestors sit straight above it: a vertical trunk.
    for node in reversed(nodes):
        if node.is_leaf:
            continue
        trunk = [c for c in node.children if c in on_gmin_path] if center_gmin else []
        node.x = nodes[trunk[0]].x if trunk else sum(nodes[c].x for c in node.children) / len(node.children)


def _segments(nodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    child = np.array([node.index for node in nodes if node.parent is not None], dtype=np.int64)
    parent = np.array([nodes[i].parent for i in child.tolist()], dtype=np.int64)
    x = np.array([node.x for node in nodes])
    e = np.array([node.energy for node in nodes])
    segments = np.empty((child.size, 2, 2))
    segments[:, 0, 0], segments[:, 0, 1] = x[parent], e[parent]
    segments[:, 1, 0], segments[:, 1, 1] = x[child], e[child]
    single = np.array([nodes[i].members.size == 1 for i in child.tolist()], dtype=bool)
    first = np.array([int(nodes[i].members[0]) for i in child.tolist()], dtype=np.int64)
    segment_minimum = np.where(single, first, -1) if child.size else np.empty(0, dtype=np.int64)
    return segments, child, segment_minimum


def _empty_tree(energies: np.ndarray, ids: np.ndarray) -> DisconnectivityTree:
    return DisconnectivityTree(
        nodes=[], roots=[], level_energies=np.empty(0), delta=float("nan"), energies=energies,
        minimum_ids=ids, kept=np.empty(0, dtype=np.int64), leaf_of=np.full(energies.shape[0], -1, dtype=np.int64),
        global_minimum=None, n_ts_used=0, segments=np.empty((0, 2, 2)), segment_node=np.empty(0, dtype=np.int64),
        segment_minimum=np.empty(0, dtype=np.int64),
    )
