"""Free-energy regrouping at a temperature T (PATHSAMPLE's REGROUPFREE; Carr and Wales 2005), the
network a free-energy disconnectivity graph draws.

Harmonic free energies, in the units of the loss (k_B = 1), up to a constant shared by all points:
a minimum ``F_i = E_i + T L_i / 2`` and a transition state ``F_t = E_t + T L_t / 2`` (L: sum of ln of
the positive Hessian eigenvalues), so that the harmonic rate is ``exp(-(F_t - F_i) / T) / (2 pi)``.
A group of minima has ``F_A = -T ln sum_{i in A} exp(-F_i / T)``, and the transition states between
two groups ``F_AB = -T ln sum_{t} exp(-F_t / T)`` (transition states inside a group drop out).
Groups merge when the free-energy barrier out of the higher one, ``F_AB - max(F_A, F_B)``, is below
the threshold; merging repeats, free energies recomputed each pass, until no pair qualifies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lfl.errors import DataError
from lfl.kinetics.harmonic import check_log_products, check_temperature
from lfl.kinetics.network import TransitionNetwork


@dataclass(frozen=True)
class FreeEnergyNetwork:
    """Groups of minima at one temperature: ``group`` of every minimum (0 .. n_groups-1, numbered by
    each group's lowest minimum position), ``free_energies`` per group, and the group-to-group
    transition states ``edge_free_energies`` between ``edge_a`` and ``edge_b``;
    ``minimum_free_energies`` those of the minima themselves."""

    temperature: float
    threshold: float
    group: np.ndarray
    minimum_free_energies: np.ndarray
    free_energies: np.ndarray
    edge_a: np.ndarray
    edge_b: np.ndarray
    edge_free_energies: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.free_energies.size)


def _log_sum_by(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """-logsumexp(-values) per key (``-inf`` sums for keys without values stay +inf)."""
    out = np.full(n, -np.inf)
    np.logaddexp.at(out, keys, -values)
    return -out


def regroup_free_energy(network: TransitionNetwork, *, temperature: float, threshold: float) -> FreeEnergyNetwork:
    """Minima grouped at ``temperature`` until every free-energy barrier between groups is at least
    ``threshold`` (0: no regrouping, only free energies)."""
    temperature = check_temperature(temperature)
    if not threshold >= 0.0:
        raise DataError(f"regrouping threshold must be >= 0, got {threshold!r}")
    n = network.n_minima
    if n == 0:
        raise DataError("no minima to regroup")
    f_min = (network.minimum_energies
             + 0.5 * temperature * check_log_products(network.minimum_log_products, "minima")) / temperature
    f_ts = (network.ts_energies
            + 0.5 * temperature * check_log_products(network.ts_log_products, "transition states")) / temperature
    min1, min2 = network.min1, network.min2
    group = np.arange(n)
    while True:
        group = _renumbered(group)
        n_groups = int(group.max()) + 1
        f_group = _log_sum_by(group, f_min, n_groups)  # in units of T
        a, b = group[min1], group[min2]
        between = a != b
        lo, hi = np.minimum(a, b)[between], np.maximum(a, b)[between]
        pair = lo * n_groups + hi
        keys, inverse = np.unique(pair, return_inverse=True)
        f_pair = _log_sum_by(inverse, f_ts[between], keys.size)
        pa, pb = keys // n_groups, keys % n_groups
        merge = f_pair - np.maximum(f_group[pa], f_group[pb]) < threshold / temperature
        if not merge.any():
            return FreeEnergyNetwork(temperature, float(threshold), group, f_min * temperature,
                                     f_group * temperature, pa, pb, f_pair * temperature)
        merged = coo_matrix((np.ones(int(merge.sum())), (pa[merge], pb[merge])), shape=(n_groups, n_groups))
        group = connected_components(merged, directed=False)[1][group]


def _renumbered(group: np.ndarray) -> np.ndarray:
    """Groups numbered 0.. in the order of their lowest minimum position."""
    _, first = np.unique(group, return_index=True)
    order = np.argsort(first)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    _, labels = np.unique(group, return_inverse=True)
    return rank[labels]


__all__ = ["FreeEnergyNetwork", "regroup_free_energy"]
