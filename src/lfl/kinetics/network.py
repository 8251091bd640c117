"""The kinetic transition network as the kinetics functions read it: minima and transition states as
arrays, each with its energy and the sum of ln of its positive Hessian eigenvalues, and for every
transition state the positions of its two minima."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lfl.errors import DataError


@dataclass(frozen=True)
class TransitionNetwork:
    minimum_energies: np.ndarray
    minimum_log_products: np.ndarray
    ts_energies: np.ndarray
    ts_log_products: np.ndarray
    min1: np.ndarray  # positions in the minima arrays
    min2: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in (("minimum_energies", np.float64), ("minimum_log_products", np.float64),
                            ("ts_energies", np.float64), ("ts_log_products", np.float64),
                            ("min1", np.int64), ("min2", np.int64)):
            object.__setattr__(self, name, np.atleast_1d(np.asarray(getattr(self, name), dtype=dtype)))
        n, t = self.minimum_energies.size, self.ts_energies.size
        if self.minimum_log_products.size != n:
            raise DataError(f"{n} minimum energies but {self.minimum_log_products.size} log products")
        if not (self.ts_log_products.size == self.min1.size == self.min2.size == t):
            raise DataError(f"{t} transition-state energies but {self.ts_log_products.size} log products and "
                            f"{self.min1.size}/{self.min2.size} minima")
        if t and (min(self.min1.min(), self.min2.min()) < 0 or max(self.min1.max(), self.min2.max()) >= n):
            raise DataError(f"transition states name minima outside 0..{n - 1}")

    @property
    def n_minima(self) -> int:
        return int(self.minimum_energies.size)

    @property
    def n_transition_states(self) -> int:
        return int(self.ts_energies.size)


__all__ = ["TransitionNetwork"]
