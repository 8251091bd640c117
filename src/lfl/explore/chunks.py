"""Basin-hopping chunk files: the distinct minima one job found, and the walker state it ended in.

One ``.npz`` per (landscape, run, chunk), written atomically. Arrays: ``coords`` (m, n_dof),
``energies``, ``rms_gradient``, ``n_negative``, ``lowest_eigenvalue``, ``log_prod_positive``,
``found_at_step``, ``n_sightings`` (how many of the chunk's verified quenches ended in each; absent in
older chunks: one each); the walkers: ``state_x``, ``state_energy``, ``state_step_size``,
``state_steps_done``, ``state_n_accepted`` (one walker: x of shape (n_dof,) and scalars; B walkers in
lockstep: (B, n_dof) and arrays of B); ``metadata`` (JSON) with the counts and rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lfl.errors import DataError
from lfl.explore.basin_hopping import BasinHoppingReport, VerifiedMinimum, WalkerState
from lfl.npz import load_npz, save_npz

_MINIMA_ARRAYS = ("coords", "energies", "rms_gradient", "n_negative", "lowest_eigenvalue", "log_prod_positive",
                  "found_at_step")


@dataclass
class Chunk:
    coords: np.ndarray
    energies: np.ndarray
    rms_gradient: np.ndarray
    n_negative: np.ndarray
    lowest_eigenvalue: np.ndarray
    log_prod_positive: np.ndarray
    found_at_step: np.ndarray
    states: list[WalkerState]  # where each walker of the run stands after the chunk
    metadata: dict
    n_sightings: np.ndarray | None = None  # per minimum: quenches of the chunk that ended in it

    @property
    def state(self) -> WalkerState:
        """The walker of a one-walker run."""
        if len(self.states) != 1:
            raise DataError(f"this chunk holds {len(self.states)} walkers, not one")
        return self.states[0]


def save_chunk(path: str | Path, minima: list[VerifiedMinimum], report: BasinHoppingReport, metadata: dict,
               n_dof: int, n_sightings: np.ndarray | None = None, states: list[WalkerState] | None = None) -> None:
    """``states``: the walkers of a lockstep run (default: the one walker ``report.state``)."""
    if states is None or len(states) == 1:
        state = report.state if states is None else states[0]
        walkers = {
            "state_x": np.asarray(state.x, dtype=np.float64),
            "state_energy": np.float64(state.energy),
            "state_step_size": np.float64(state.step_size),
            "state_steps_done": np.int64(state.steps_done),
            "state_n_accepted": np.int64(state.n_accepted),
        }
    else:
        walkers = {
            "state_x": np.array([w.x for w in states], dtype=np.float64).reshape(len(states), n_dof),
            "state_energy": np.array([w.energy for w in states], dtype=np.float64),
            "state_step_size": np.array([w.step_size for w in states], dtype=np.float64),
            "state_steps_done": np.array([w.steps_done for w in states], dtype=np.int64),
            "state_n_accepted": np.array([w.n_accepted for w in states], dtype=np.int64),
        }
    arrays = {
        "n_sightings": (np.ones(len(minima), dtype=np.int64) if n_sightings is None
                        else np.asarray(n_sightings, dtype=np.int64)),
        "coords": np.array([m.x for m in minima], dtype=np.float64).reshape(len(minima), n_dof),
        "energies": np.array([m.energy for m in minima], dtype=np.float64),
        "rms_gradient": np.array([m.rms_gradient for m in minima], dtype=np.float64),
        "n_negative": np.array([m.n_negative for m in minima], dtype=np.int64),
        "lowest_eigenvalue": np.array([m.lowest_eigenvalue for m in minima], dtype=np.float64),
        "log_prod_positive": np.array([m.log_prod_positive for m in minima], dtype=np.float64),
        "found_at_step": np.array([m.step for m in minima], dtype=np.int64),
        **walkers,
    }
    save_npz(path, arrays, metadata)


def load_chunk(path: str | Path) -> Chunk:
    arrays, metadata = load_npz(path)
    missing = [name for name in (*_MINIMA_ARRAYS, "state_x") if name not in arrays]
    if missing:
        raise DataError(f"{path}: not a basin-hopping chunk (missing {', '.join(missing)})")
    xs = np.atleast_2d(arrays["state_x"])
    columns = [np.atleast_1d(arrays[f"state_{name}"]) for name in ("energy", "step_size", "steps_done", "n_accepted")]
    if any(column.shape != (xs.shape[0],) for column in columns):
        raise DataError(f"{path}: the walker arrays disagree on the number of walkers")
    energy, step_size, steps_done, n_accepted = columns
    states = [WalkerState(x=xs[w].copy(), energy=float(energy[w]), step_size=float(step_size[w]),
                          steps_done=int(steps_done[w]), n_accepted=int(n_accepted[w])) for w in range(xs.shape[0])]
    sightings = arrays.get("n_sightings", np.ones(arrays["energies"].size, dtype=np.int64))
    return Chunk(**{name: arrays[name] for name in _MINIMA_ARRAYS}, states=states, metadata=metadata,
                 n_sightings=sightings)
