"""The kinetic transition network of one landscape as arrays (no coordinates): a small graph type."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class KTN:
    """Minima (ids sorted ascending, energies) and transition states (ids, energies, the ids of their
    two minima), each with the sum of ln of its positive Hessian eigenvalues (NaN where not stored).
    Positions into the minima arrays come from :meth:`index_of`."""

    landscape_id: int
    minimum_ids: np.ndarray
    minimum_energies: np.ndarray
    ts_ids: np.ndarray
    ts_energies: np.ndarray
    ts_min1: np.ndarray
    ts_min2: np.ndarray
    minimum_log_products: np.ndarray | None = None
    ts_log_products: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.minimum_log_products is None:
            self.minimum_log_products = np.full(self.minimum_ids.size, np.nan)
        if self.ts_log_products is None:
            self.ts_log_products = np.full(self.ts_ids.size, np.nan)

    @property
    def n_minima(self) -> int:
        return int(self.minimum_ids.size)

    @property
    def n_transition_states(self) -> int:
        return int(self.ts_ids.size)

    def index_of(self, ids) -> np.ndarray:
        """Positions of minimum ids in :attr:`minimum_ids` (KeyError for an id not in the network)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros(ids.shape, dtype=np.int64)
        pos = np.searchsorted(self.minimum_ids, ids)
        pos_clipped = np.minimum(pos, max(self.n_minima - 1, 0))
        if self.n_minima == 0 or np.any(self.minimum_ids[pos_clipped] != ids):
            raise KeyError("minimum id not in this network")
        return pos

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) positions of the two minima of every transition state."""
        return self.index_of(self.ts_min1), self.index_of(self.ts_min2)

    def global_minimum(self) -> tuple[int, float] | None:
        """(id, energy) of the lowest minimum (lowest id among equal energies); None when empty."""
        if self.n_minima == 0:
            return None
        order = np.lexsort((self.minimum_ids, self.minimum_energies))
        k = int(order[0])
        return int(self.minimum_ids[k]), float(self.minimum_energies[k])

    def components(self, max_ts_energy: float | None = None) -> np.ndarray:
        """Component label of every minimum (aligned with :attr:`minimum_ids`), joining minima through
        transition states (only those at or below ``max_ts_energy`` when given). Labels are numbered by
        the order of each component's lowest minimum id."""
        from scipy.sparse import coo_matrix  # here, not at import: workers that only ingest skip scipy
        from scipy.sparse.csgraph import connected_components

        n = self.n_minima
        i, j = self.edges()
        if max_ts_energy is not None:
            keep = self.ts_energies <= max_ts_energy
            i, j = i[keep], j[keep]
        graph = coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(n, n)).tocsr()
        _, labels = connected_components(graph, directed=False)
        # renumber so that labels are stable: component of the first minimum is 0, and so on
        _, first = np.unique(labels, return_index=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(labels[first])] = np.argsort(np.argsort(first))
        return rank[labels]

    def connected_to_global_minimum(self) -> np.ndarray:
        """Boolean mask of the minima in the global minimum's component."""
        if self.n_minima == 0:
            return np.zeros(0, dtype=bool)
        labels = self.components()
        gmin = self.index_of([self.global_minimum()[0]])[0]
        return labels == labels[gmin]
