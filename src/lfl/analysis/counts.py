"""Counts of stationary points under the energy-only convention (SCIENCE.md §3), and degenerate ones.

The reference tools (GMIN, OPTIM, PATHSAMPLE) tell stationary points apart by energy alone, within a
tolerance (PATHSAMPLE's EDIFFTOL): points whose energies differ by less are one. lfl's reduced
convention also compares symmetry-aligned weights, so it can count two minima of equal energy that
the reference tools would merge, and the raw convention counts symmetric copies. Beside them, the
energy-only counts make lfl's numbers comparable with the reference's.

Energies are grouped by single linkage: sorted, a new point starts wherever the gap to the previous
energy exceeds ``tol`` (a chain of near-equal energies is one point, as a tolerance-based lookup
against the stored ones would also merge it, whatever the order of discovery).
"""

from __future__ import annotations

import numpy as np

DEFAULT_ENERGY_ONLY_TOL = 1e-6


def distinct_energies(energies, tol: float = DEFAULT_ENERGY_ONLY_TOL) -> int:
    """How many distinct values ``energies`` hold when values within ``tol`` are one."""
    values = np.sort(np.asarray(energies, dtype=np.float64).ravel())
    if values.size == 0:
        return 0
    return int(1 + np.count_nonzero(np.diff(values) > tol))


def degenerate_rearrangements(ts_min1, ts_min2) -> int:
    """Transition states whose two sides are one minimum (in the landscape's identity convention)."""
    return int(np.count_nonzero(np.asarray(ts_min1) == np.asarray(ts_min2)))


def distinct_connections(ts_min1, ts_min2) -> int:
    """Distinct unordered pairs of different minima joined by at least one transition state."""
    a, b = np.asarray(ts_min1, dtype=np.int64), np.asarray(ts_min2, dtype=np.int64)
    keep = a != b
    if not keep.any():
        return 0
    pairs = np.stack([np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])], axis=1)
    return int(np.unique(pairs, axis=0).shape[0])


__all__ = ["DEFAULT_ENERGY_ONLY_TOL", "degenerate_rearrangements", "distinct_connections", "distinct_energies"]
