"""LJAT3 classification pools (SCIENCE.md §1): random starts in a cube, minimised, labelled by minimum.

The minimiser is part of the data set's identity, so its settings go into the metadata. The batch of
minimisations runs in one compiled, parallel driver that calls the L-BFGS core and the LJAT3 kernel
directly; every start is independent of the others, so results do not depend on the thread count.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
from numba import njit, prange

import lfl
from lfl import kernel_cache
from lfl.data.pool import DataPool
from lfl.errors import DataError
from lfl.numerics import lbfgs_core as core
from lfl.numerics.lbfgs import check_settings
from lfl.systems.ljat3 import N_CLASSES, N_DOF, UNCLASSIFIED, ljat3_classify, ljat3_distances, ljat3_energy_gradient

kernel_cache.install()

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LJAT3Settings:
    """The GMIN-style L-BFGS settings that made the paper's labels (SCIENCE.md §1)."""

    memory: int = 4
    max_step: float = 0.4
    initial_diag: float = 0.1
    max_rise: float = 1e-10
    rms_gradient: float = 1e-10
    max_iterations: int = 10000

    def as_dict(self) -> dict:
        return asdict(self)


_CHUNK = 256  # starts per parallel task: the state arrays are allocated once per chunk, not per start


@njit(cache=True, parallel=True)
def minimise_batch(starts, z: float, memory: int, settings):
    """Minimise every row of ``starts`` (m, 9). Returns final coords, energies, codes, iterations.

    Each start is minimised from a zeroed state, alone, so the results do not depend on how the
    chunks are shared among threads.
    """
    m = starts.shape[0]
    finals = np.empty_like(starts)
    energies = np.empty(m)
    codes = np.empty(m, dtype=np.int64)
    iterations = np.empty(m, dtype=np.int64)
    n_chunks = (m + _CHUNK - 1) // _CHUNK
    for chunk in prange(n_chunks):
        x = np.empty(N_DOF)
        gradient = np.empty(N_DOF)
        work, fstate, istate = core.lbfgs_new_state(N_DOF, memory)
        for k in range(chunk * _CHUNK, min(m, (chunk + 1) * _CHUNK)):
            work[:] = 0.0
            fstate[:] = 0.0
            istate[:] = 0
            x[:] = starts[k]
            energy = ljat3_energy_gradient(x, gradient, z)
            code = core.lbfgs_advance(x, energy, gradient, work, fstate, istate, settings)
            while code <= core.ACCEPTED:
                energy = ljat3_energy_gradient(x, gradient, z)
                code = core.lbfgs_advance(x, energy, gradient, work, fstate, istate, settings)
            finals[k] = work[2 * memory]
            energies[k] = fstate[core.F_ENERGY]
            codes[k] = code
            iterations[k] = istate[core.I_NIT]
    return finals, energies, codes, iterations


@njit(cache=True, parallel=True)
def classify_batch(coords):
    m = coords.shape[0]
    labels = np.empty(m, dtype=np.int64)
    for k in prange(m):
        labels[k] = ljat3_classify(coords[k])
    return labels


@njit(cache=True)
def initial_distances(coords):
    """(r12, r13) of every row: the two inputs of a data item (r23 is left out on purpose)."""
    out = np.empty((coords.shape[0], 2))
    for k in range(coords.shape[0]):
        r = ljat3_distances(coords[k])
        out[k, 0] = r[0]
        out[k, 1] = r[1]
    return out


def random_starts(box_length: float, n_samples: int, seed: int) -> np.ndarray:
    """Three atoms uniformly in the cube [0, L]^3, one row of 9 coordinates per start."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, box_length, size=(n_samples, N_DOF))


def _number(value, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"LJAT3 {what} must be a number, got {value!r}") from None


def _check_arguments(box_length, n_samples, seed, z, settings: LJAT3Settings) -> None:
    box = _number(box_length, "box_length")
    if not (math.isfinite(box) and box > 0):
        raise DataError(f"LJAT3 box_length must be a positive number, got {box_length}")
    count = _number(n_samples, "n_samples")
    if count != int(count) or count < 2:
        raise DataError(f"LJAT3 n_samples must be a whole number >= 2 (a training and a testing half), got {n_samples}")
    seed_value = _number(seed, "seed")
    if seed_value != int(seed_value) or seed_value < 0:
        raise DataError(f"LJAT3 seed must be a whole number >= 0, got {seed}")
    if not math.isfinite(_number(z, "z")):
        raise DataError(f"LJAT3 z (Axilrod-Teller coefficient) must be a finite number, got {z}")
    if settings.max_rise is None:
        raise DataError("LJAT3 max_rise must be a number >= 0 (the energy guard is part of the data set's minimiser)")
    check_settings(settings, DataError)


def generate_pool(
    *,
    box_length: float,
    n_samples: int,
    seed: int,
    z: float = 2.0,
    settings: LJAT3Settings | None = None,
    name: str | None = None,
) -> DataPool:
    """Minimise ``n_samples`` random starts; label each by its minimum; split into two halves."""
    settings = LJAT3Settings() if settings is None else settings
    _check_arguments(box_length, n_samples, seed, z, settings)
    n_samples = int(n_samples)
    starts = random_starts(float(box_length), n_samples, int(seed))
    settings_array = core.lbfgs_settings(
        float(settings.max_step),
        float(settings.initial_diag),
        float(settings.max_rise),
        float(settings.rms_gradient),
        int(settings.max_iterations),
    )
    finals, energies, codes, _ = minimise_batch(starts, float(z), int(settings.memory), settings_array)
    labels = classify_batch(finals)

    converged = codes == core.CONVERGED
    n_unconverged = int(np.count_nonzero(~converged))
    n_unclassified = int(np.count_nonzero(converged & (labels == UNCLASSIFIED)))
    keep = converged & (labels != UNCLASSIFIED)
    if n_unconverged:
        outcomes = {core.MESSAGES[int(c)]: int(np.count_nonzero(codes == c)) for c in np.unique(codes[~converged])}
        log.warning("LJAT3: %d of %d starts did not converge and are left out: %s", n_unconverged, n_samples, outcomes)
    if n_unclassified:
        log.warning(
            "LJAT3: %d of %d converged starts reached none of the four minima and are left out",
            n_unclassified,
            n_samples,
        )
    n_items = int(np.count_nonzero(keep))
    if n_items < 2:
        raise DataError(f"LJAT3: only {n_items} of {n_samples} starts gave a labelled minimum; cannot split a pool")

    kept_starts = np.ascontiguousarray(starts[keep])
    kept_labels = labels[keep]
    half = n_items // 2
    class_fractions = [float(f) for f in np.bincount(kept_labels, minlength=N_CLASSES) / n_items]
    metadata = {
        "kind": "ljat3",
        "name": name,
        "box_length": float(box_length),
        "z": float(z),
        "n_classes": N_CLASSES,
        "n_inputs": 2,
        "minimiser": {"method": "GMIN-style L-BFGS", **settings.as_dict()},
        "seed": int(seed),
        "n_samples": n_samples,
        "n_unconverged": n_unconverged,
        "n_unclassified": n_unclassified,
        "class_fractions": class_fractions,
        "lfl_version": lfl.__version__,
    }
    log.info(
        "LJAT3 L=%.6g: %d labelled of %d starts, class fractions %s",
        box_length,
        n_items,
        n_samples,
        ", ".join(f"{f:.4f}" for f in class_fractions),
    )
    return DataPool(
        inputs=initial_distances(kept_starts),
        labels=kept_labels.astype(np.int64),
        train_index=np.arange(half, dtype=np.int64),
        test_index=np.arange(half, n_items, dtype=np.int64),
        metadata=metadata,
        extras={"initial_coords": kept_starts, "final_energy": np.ascontiguousarray(energies[keep])},
    ).validate("LJAT3 pool")
