"""Same stationary point or a new one: energies within a tolerance, then coordinates within a distance.

Pure numpy; no database. The store fetches the stored points whose energies fall in the windows of
:func:`energy_windows` (one indexed range query) and hands them to :func:`match_batch`.

Identity rule (inclusive at both edges): a point matches another when ``|E_a - E_b| <= energy_tol``
and, unless the landscape counts by energy alone, ``distance(a, b) <= distance_tol``. Among several
matches the stored point of smallest distance wins (then the smallest energy difference); a point
that matches nothing stored may match an earlier new point of the same batch (points are taken in
order of energy, so the result does not depend on the order of the batch rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Distance = Callable[[np.ndarray, np.ndarray], float]


def _padding(energies: np.ndarray, energy_tol: float) -> np.ndarray:
    # a few ulps beyond the tolerance so that the SQL window is a superset of the exact test
    return energy_tol + 8.0 * np.spacing(np.abs(energies)) + 1e-300


def energy_windows(energies: np.ndarray, energy_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, sorted [lo, hi] windows covering every E +- energy_tol of the batch (merged where they meet)."""
    if energies.size == 0:
        return np.empty(0), np.empty(0)
    e = np.sort(energies)
    pad = _padding(e, energy_tol)
    lo, hi = e - pad, e + pad
    reach = np.maximum.accumulate(hi)
    starts = np.concatenate(([True], lo[1:] > reach[:-1]))
    first = np.flatnonzero(starts)
    last = np.concatenate((first[1:] - 1, [e.size - 1]))
    return lo[first], reach[last]


@dataclass
class Match:
    """Per batch row: ``stored`` = index into the stored candidates or -1; ``batch_rep`` = the batch row
    that represents it (itself when the row is new; -1 when it matched a stored point)."""

    stored: np.ndarray
    batch_rep: np.ndarray

    @property
    def is_new(self) -> np.ndarray:
        return self.batch_rep == np.arange(self.batch_rep.size)


def _pick(
    x: np.ndarray | None,
    candidates: np.ndarray,
    candidate_energies: np.ndarray,
    e: float,
    coords: np.ndarray | None,
    distance: Distance | None,
    distance_tol: float,
) -> int:
    """Index (into ``candidates``) of the best match within the distance tolerance, or -1."""
    if candidates.size == 0:
        return -1
    if coords is None:  # identity by energy alone
        return int(np.argmin(np.abs(candidate_energies - e)))
    if distance is None:
        d = np.sqrt(np.sum((coords[candidates] - x) ** 2, axis=1))
    else:
        d = np.array([distance(coords[c], x) for c in candidates], dtype=np.float64)
    order = np.lexsort((np.abs(candidate_energies - e), d))
    best = int(order[0])
    return best if d[best] <= distance_tol else -1


def _pair_distances(
    rows_a: np.ndarray,
    coords_a: np.ndarray,
    rows_b: np.ndarray,
    coords_b: np.ndarray,
    distance: Distance | None,
    chunk: int = 4096,
) -> np.ndarray:
    """distance(coords_a[rows_a[k]], coords_b[rows_b[k]]) for every pair k."""
    out = np.empty(rows_a.size, dtype=np.float64)
    if distance is not None:
        for k, (i, j) in enumerate(zip(rows_a.tolist(), rows_b.tolist())):
            out[k] = distance(coords_a[i], coords_b[j])
        return out
    for start in range(0, rows_a.size, chunk):
        stop = start + chunk
        diff = coords_a[rows_a[start:stop]] - coords_b[rows_b[start:stop]]
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def _match_stored(
    e_sorted: np.ndarray,
    order: np.ndarray,
    coords: np.ndarray | None,
    s_sorted: np.ndarray,
    s_order: np.ndarray,
    stored_coords: np.ndarray | None,
    s_lo: np.ndarray,
    s_hi: np.ndarray,
    energy_tol: float,
    distance_tol: float,
    distance: Distance | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised over every (batch row, stored candidate) pair: (sorted positions, stored index) of
    the rows that match a stored point, the best match for each."""
    counts = s_hi - s_lo
    n_pairs = int(counts.sum())
    if n_pairs == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pos = np.repeat(np.arange(e_sorted.size), counts)
    first_pair = np.repeat(np.cumsum(counts) - counts, counts)
    cand = np.repeat(s_lo, counts) + (np.arange(n_pairs) - first_pair)
    d_energy = np.abs(s_sorted[cand] - e_sorted[pos])
    keep = d_energy <= energy_tol
    pos, cand, d_energy = pos[keep], cand[keep], d_energy[keep]
    if coords is None:
        d = np.zeros(pos.size)
    else:
        d = _pair_distances(s_order[cand], stored_coords, order[pos], coords, distance)
        ok = d <= distance_tol
        pos, cand, d_energy, d = pos[ok], cand[ok], d_energy[ok], d[ok]
    best = np.lexsort((d_energy, d, pos))
    pos, cand = pos[best], cand[best]
    first = np.concatenate(([True], pos[1:] != pos[:-1])) if pos.size else np.zeros(0, dtype=bool)
    return pos[first], s_order[cand[first]]


def match_batch(
    energies: np.ndarray,
    coords: np.ndarray | None,
    stored_energies: np.ndarray,
    stored_coords: np.ndarray | None,
    *,
    energy_tol: float,
    distance_tol: float,
    distance: Distance | None = None,
) -> Match:
    """Match batch rows against stored points and against each other.

    ``coords`` and ``stored_coords`` are None when identity is by energy alone. ``distance`` is a
    symmetry-invariant distance; None means the plain Euclidean distance (vectorised).
    """
    m = energies.size
    stored = np.full(m, -1, dtype=np.int64)
    batch_rep = np.arange(m, dtype=np.int64)
    if m == 0:
        return Match(stored, batch_rep)
    order = np.argsort(energies, kind="stable")
    e_sorted = energies[order]
    s_order = np.argsort(stored_energies, kind="stable")
    s_sorted = stored_energies[s_order]
    pad = _padding(e_sorted, energy_tol)
    s_lo = np.searchsorted(s_sorted, e_sorted - pad, side="left")
    s_hi = np.searchsorted(s_sorted, e_sorted + pad, side="right")
    matched_pos, matched_stored = _match_stored(
        e_sorted, order, coords, s_sorted, s_order, stored_coords, s_lo, s_hi, energy_tol, distance_tol, distance
    )
    stored[order[matched_pos]] = matched_stored
    batch_rep[order[matched_pos]] = -1

    # rows that matched nothing stored may repeat an earlier new row of the batch: sequential,
    # because whether a row is new depends on the rows before it
    is_new_sorted = np.ones(m, dtype=bool)
    is_new_sorted[matched_pos] = False
    b_lo = np.searchsorted(e_sorted, e_sorted - pad, side="left")
    for p in np.flatnonzero(is_new_sorted & (b_lo < np.arange(m))).tolist():
        window = np.arange(b_lo[p], p)
        e = e_sorted[p]
        window = window[is_new_sorted[window] & (np.abs(e_sorted[window] - e) <= energy_tol)]
        x = None if coords is None else coords[order[p]]
        hit = _pick(x, order[window], e_sorted[window], e, coords, distance, distance_tol)
        if hit >= 0:
            batch_rep[order[p]] = order[window[hit]]
            is_new_sorted[p] = False
    return Match(stored, batch_rep)
