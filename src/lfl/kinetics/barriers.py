"""Barriers and funnels from the transition-state energies alone.

The barrier of a minimum to the global minimum is the lowest possible highest transition state on
a path between them, minus the minimum's energy: the minimax path, which runs along the minimum
spanning tree of the network weighted by transition-state energies. Adding transition states in
order of energy (Kruskal's order, a union-find), the minima of a component get their barrier at the
moment their component joins the global minimum's; this is the level at which a disconnectivity
graph joins their branches. The funnel of a minimum at a level is the set of minima joined to it by
transition states at or below the level, named by its lowest minimum.
"""

from __future__ import annotations

import numpy as np

from lfl.errors import DataError


def global_minimum_position(energies: np.ndarray) -> int:
    """Position of the lowest minimum (the first of equal energies)."""
    energies = np.asarray(energies, dtype=np.float64)
    if energies.size == 0:
        raise DataError("no minima: a landscape without minima has no global minimum")
    return int(np.argmin(energies))


def barriers_to_global_minimum(energies: np.ndarray, ts_energies: np.ndarray, min1: np.ndarray,
                               min2: np.ndarray, *, target: int | None = None) -> np.ndarray:
    """For every minimum, (lowest highest transition state on a path to ``target``, default the
    global minimum) minus its energy; 0 for the target, NaN where no path exists."""
    energies = np.asarray(energies, dtype=np.float64)
    n = energies.size
    target = global_minimum_position(energies) if target is None else int(target)
    ts_energies = np.asarray(ts_energies, dtype=np.float64)
    min1 = np.asarray(min1, dtype=np.int64)
    min2 = np.asarray(min2, dtype=np.int64)
    parent = np.arange(n)
    members: dict[int, list[int]] = {}
    highest = np.full(n, np.nan)
    highest[target] = energies[target]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for t in np.argsort(ts_energies, kind="stable"):
        a, b = find(int(min1[t])), find(int(min2[t]))
        if a == b:
            continue
        root = find(target)
        if a == root or b == root:
            joining = b if a == root else a
            for m in members.get(joining, [joining]):
                highest[m] = ts_energies[t]
        small, large = (a, b) if len(members.get(a, [a])) < len(members.get(b, [b])) else (b, a)
        members.setdefault(large, [large]).extend(members.pop(small, [small]))
        parent[small] = large
    return highest - energies


def funnels(energies: np.ndarray, ts_energies: np.ndarray, min1: np.ndarray, min2: np.ndarray,
            level: float) -> np.ndarray:
    """Position of the lowest minimum of every minimum's funnel at ``level`` (transition states at
    or below it join minima; a minimum with none is its own funnel)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    energies = np.asarray(energies, dtype=np.float64)
    n = energies.size
    below = np.asarray(ts_energies, dtype=np.float64) <= float(level)
    i, j = np.asarray(min1, dtype=np.int64)[below], np.asarray(min2, dtype=np.int64)[below]
    _, labels = connected_components(coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(n, n)),
                                     directed=False)
    order = np.lexsort((np.arange(n), energies))  # lowest energy first, then lowest position
    lowest = np.full(labels.max() + 1 if n else 0, -1, dtype=np.int64)
    for position in order[::-1]:
        lowest[labels[position]] = position
    return lowest[labels]


__all__ = ["barriers_to_global_minimum", "funnels", "global_minimum_position"]
