"""Files between the connection steps: the planned pairs, and what one connect job found.

Pairs (``plan``): ``min1_ids``, ``min2_ids`` (database ids), ``coords1``, ``coords2`` (n_pairs, n_dof).
Results (``connect``): one row per attempt (``attempt_*``) and one per transition state (``ts_*``),
each transition state with its two sides (``minus_*``, ``plus_*``: the minima found by stepping off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lfl.errors import DataError
from lfl.npz import load_npz, save_npz

OUTCOMES = ("failed", "partial", "connected")  # attempt_outcome codes 0, 1, 2
_SIDE_FIELDS = ("coords", "energy", "rms_gradient", "n_negative", "log_prod_positive")


@dataclass
class PlannedPairs:
    min1_ids: np.ndarray
    min2_ids: np.ndarray
    coords1: np.ndarray
    coords2: np.ndarray
    metadata: dict

    def __len__(self) -> int:
        return int(self.min1_ids.size)


def save_pairs(path, pairs: PlannedPairs) -> None:
    save_npz(path, {"min1_ids": pairs.min1_ids, "min2_ids": pairs.min2_ids, "coords1": pairs.coords1,
                    "coords2": pairs.coords2}, pairs.metadata)


def load_pairs(path) -> PlannedPairs:
    arrays, metadata = load_npz(path)
    if any(name not in arrays for name in ("min1_ids", "min2_ids", "coords1", "coords2")):
        raise DataError(f"{path}: not a file of planned pairs")
    return PlannedPairs(arrays["min1_ids"], arrays["min2_ids"], arrays["coords1"], arrays["coords2"], metadata)


@dataclass
class ConnectionRecords:
    """Columns of one connect job's results (plain arrays, ready for the database)."""

    arrays: dict[str, np.ndarray]
    metadata: dict

    @property
    def n_attempts(self) -> int:
        return int(self.arrays["attempt_min1"].size)

    @property
    def n_transition_states(self) -> int:
        return int(self.arrays["ts_energy"].size)

    def side(self, which: str) -> dict[str, np.ndarray]:
        return {name: self.arrays[f"{which}_{name}"] for name in _SIDE_FIELDS}


def records_from_results(results: list[tuple[int, int, object, float]], n_dof: int, metadata: dict) -> ConnectionRecords:
    """Flatten (min1_id, min2_id, ConnectionResult, seconds) tuples into columns."""
    attempt = {"min1": [], "min2": [], "outcome": [], "n_ts": [], "n_minima": [], "seconds": []}
    ts = {"coords": [], "energy": [], "eigenvalue": [], "rms_gradient": [], "log_prod_positive": [], "attempt": []}
    sides = {which: {name: [] for name in _SIDE_FIELDS} for which in ("minus", "plus")}
    for index, (min1, min2, result, seconds) in enumerate(results):
        outcome = 2 if result.connected else 1 if result.success else 0
        kept = [t for t in result.transition_states if t.minus.is_minimum and t.plus.is_minimum]
        attempt["min1"].append(min1)
        attempt["min2"].append(min2)
        attempt["outcome"].append(outcome)
        attempt["n_ts"].append(len(kept))
        attempt["n_minima"].append(len(result.minima))
        attempt["seconds"].append(seconds)
        for state in kept:
            ts["coords"].append(state.x)
            ts["energy"].append(state.energy)
            ts["eigenvalue"].append(state.eigenvalue)
            ts["rms_gradient"].append(state.rms_gradient)
            ts["log_prod_positive"].append(state.log_prod_positive)
            ts["attempt"].append(index)
            for which, found in (("minus", state.minus), ("plus", state.plus)):
                sides[which]["coords"].append(found.x)
                sides[which]["energy"].append(found.energy)
                sides[which]["rms_gradient"].append(found.rms_gradient)
                sides[which]["n_negative"].append(found.n_neg)
                sides[which]["log_prod_positive"].append(found.log_prod_positive)
    arrays = {f"attempt_{k}": np.array(v, dtype=np.float64 if k == "seconds" else np.int64) for k, v in attempt.items()}
    arrays["ts_coords"] = np.array(ts["coords"], dtype=np.float64).reshape(-1, n_dof)
    arrays["ts_energy"] = np.array(ts["energy"], dtype=np.float64)
    arrays["ts_eigenvalue"] = np.array(ts["eigenvalue"], dtype=np.float64)
    arrays["ts_rms_gradient"] = np.array(ts["rms_gradient"], dtype=np.float64)
    arrays["ts_log_prod_positive"] = np.array(ts["log_prod_positive"], dtype=np.float64)
    arrays["ts_attempt"] = np.array(ts["attempt"], dtype=np.int64)
    for which, columns in sides.items():
        arrays[f"{which}_coords"] = np.array(columns["coords"], dtype=np.float64).reshape(-1, n_dof)
        arrays[f"{which}_n_negative"] = np.array(columns["n_negative"], dtype=np.int64)
        for name in ("energy", "rms_gradient", "log_prod_positive"):
            arrays[f"{which}_{name}"] = np.array(columns[name], dtype=np.float64)
    return ConnectionRecords(arrays, metadata)


def save_records(path, records: ConnectionRecords) -> None:
    save_npz(path, records.arrays, records.metadata)


def load_records(path) -> ConnectionRecords:
    arrays, metadata = load_npz(path)
    if "attempt_min1" not in arrays or "ts_energy" not in arrays:
        raise DataError(f"{path}: not a connect job's results")
    return ConnectionRecords(arrays, metadata)
