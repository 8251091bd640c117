"""The tasks file of a refinement round: what each job searches.

Arrays: ``task`` (codes into :data:`~lfl.explore.refinement_strategy.TASK_KINDS`), ``min1_ids``,
``min2_ids`` (database ids; equal for a single-ended search), ``mode`` (-1 for pairs), ``coords1``,
``coords2`` (n_tasks, n_dof). The results of a job use the connect jobs' format
(:mod:`lfl.explore.connection_files`) plus ``attempt_task`` and ``attempt_mode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lfl.errors import DataError
from lfl.explore.refinement_strategy import TASK_KINDS
from lfl.npz import load_npz, save_npz

_ARRAYS = ("task", "min1_ids", "min2_ids", "mode", "coords1", "coords2")


@dataclass
class RefinementTasks:
    task_codes: np.ndarray
    min1_ids: np.ndarray
    min2_ids: np.ndarray
    modes: np.ndarray
    coords1: np.ndarray
    coords2: np.ndarray
    metadata: dict

    def __len__(self) -> int:
        return int(self.task_codes.size)

    def kind(self, k: int) -> str:
        return TASK_KINDS[int(self.task_codes[k])]

    @classmethod
    def from_tasks(cls, tasks, coords1: np.ndarray, coords2: np.ndarray, metadata: dict) -> "RefinementTasks":
        return cls(
            np.array([TASK_KINDS.index(t.kind) for t in tasks], dtype=np.int64),
            np.array([t.min1_id for t in tasks], dtype=np.int64),
            np.array([t.min2_id for t in tasks], dtype=np.int64),
            np.array([t.mode for t in tasks], dtype=np.int64),
            np.asarray(coords1, dtype=np.float64), np.asarray(coords2, dtype=np.float64), dict(metadata),
        )


def save_tasks(path, tasks: RefinementTasks) -> None:
    save_npz(path, {"task": tasks.task_codes, "min1_ids": tasks.min1_ids, "min2_ids": tasks.min2_ids,
                    "mode": tasks.modes, "coords1": tasks.coords1, "coords2": tasks.coords2}, tasks.metadata)


def load_tasks(path) -> RefinementTasks:
    arrays, metadata = load_npz(path)
    if any(name not in arrays for name in _ARRAYS):
        raise DataError(f"{path}: not a refinement tasks file")
    return RefinementTasks(arrays["task"], arrays["min1_ids"], arrays["min2_ids"], arrays["mode"],
                           arrays["coords1"], arrays["coords2"], metadata)
