"""Training and testing draws: the data of one landscape.

A draw takes ``n_data`` items from a pool's training half and, optionally, ``n_test`` items from its
testing half, then mislabels ``error_pct`` % of the training items. Independent random streams are
derived from the one seed for the selection, the noise and the testing subset, so the same seed picks
the same training items at every noise level (a noise series is one data set with more or less noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lfl import __version__
from lfl.data.noise import mislabel
from lfl.data.pool import DataPool, hash_arrays
from lfl.errors import DataError
from lfl.npz import load_npz, save_npz
from lfl.systems.network import check_inputs_labels

_SELECT, _NOISE, _TEST = 0, 1, 2


@dataclass
class Draw:
    train_inputs: np.ndarray
    train_labels: np.ndarray  # as given to the network (noisy)
    train_true_labels: np.ndarray
    mislabelled: np.ndarray  # bool mask over the training items
    train_pool_index: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray
    metadata: dict

    @property
    def n_classes(self) -> int:
        return int(self.metadata["n_classes"])

    def content_hash(self) -> str:
        return hash_arrays(self.train_inputs, self.train_labels, self.mislabelled, self.test_inputs, self.test_labels)

    def validate(self, source: str = "draw") -> "Draw":
        check_inputs_labels(self.train_inputs, self.train_labels, self.n_classes, f"{source} (training)")
        check_inputs_labels(self.test_inputs, self.test_labels, self.n_classes, f"{source} (testing)")
        if self.mislabelled.shape != self.train_labels.shape or self.train_true_labels.shape != self.train_labels.shape:
            raise DataError(f"{source}: mislabelled mask and true labels must match the training labels")
        if np.any(self.train_labels[~self.mislabelled] != self.train_true_labels[~self.mislabelled]):
            raise DataError(f"{source}: labels differ from the true labels outside the mislabelled mask")
        return self


def draw_training_set(
    pool: DataPool, *, n_data: int, error_pct: float, seed: int, n_test: int | None = None
) -> Draw:
    n_pool = pool.train_index.size
    if n_data < 1:
        raise DataError(f"n_data must be at least 1, got {n_data}")
    if n_data > n_pool:
        raise DataError(f"n_data = {n_data} is larger than the training pool ({n_pool} items)")
    if not 0.0 <= error_pct <= 100.0:
        raise DataError(f"error percentage must lie in 0..100, got {error_pct}")
    if n_test is not None and not 1 <= n_test <= pool.test_index.size:
        raise DataError(f"n_test = {n_test} must lie in 1..{pool.test_index.size} (the testing pool)")
    if seed < 0:
        raise DataError(f"seed must be non-negative, got {seed}")

    select_rng, noise_rng, test_rng = (np.random.default_rng([seed, stream]) for stream in (_SELECT, _NOISE, _TEST))
    train_pool_index = np.sort(select_rng.choice(pool.train_index, size=n_data, replace=False))
    true_labels = pool.labels[train_pool_index]
    noisy, mask = mislabel(true_labels, error_pct=error_pct, n_classes=pool.n_classes, rng=noise_rng)
    test_index = pool.test_index
    if n_test is not None:
        test_index = np.sort(test_rng.choice(test_index, size=n_test, replace=False))
    metadata = {
        "kind": "draw",
        "pool_kind": pool.metadata.get("kind"),
        "pool_name": pool.metadata.get("name"),
        "pool_hash": pool.metadata.get("content_hash") or pool.content_hash(),
        "n_classes": pool.n_classes,
        "n_inputs": pool.n_inputs,
        "n_data": int(n_data),
        "n_test": int(test_index.size),
        "error_pct": float(error_pct),
        "n_mislabelled": int(mask.sum()),
        "seed": int(seed),
        "lfl_version": __version__,
    }
    draw = Draw(
        train_inputs=pool.inputs[train_pool_index],
        train_labels=noisy,
        train_true_labels=true_labels,
        mislabelled=mask,
        train_pool_index=train_pool_index,
        test_inputs=pool.inputs[test_index],
        test_labels=pool.labels[test_index],
        metadata=metadata,
    )
    return draw.validate()


_ARRAYS = ("train_inputs", "train_labels", "train_true_labels", "mislabelled", "train_pool_index",
           "test_inputs", "test_labels")


def save_draw(draw: Draw, path: str | Path) -> None:
    draw.validate(str(path))
    metadata = dict(draw.metadata, content_hash=draw.content_hash())
    save_npz(path, {name: getattr(draw, name) for name in _ARRAYS}, metadata)


def load_draw(path: str | Path) -> Draw:
    arrays, metadata = load_npz(path)
    missing = [name for name in _ARRAYS if name not in arrays]
    if missing or "n_classes" not in metadata:
        raise DataError(f"{path}: not a training draw (missing {', '.join(missing) or 'n_classes'})")
    draw = Draw(**{name: arrays[name] for name in _ARRAYS}, metadata=metadata)
    draw.train_inputs = draw.train_inputs.astype(np.float64, copy=False)
    draw.test_inputs = draw.test_inputs.astype(np.float64, copy=False)
    return draw.validate(str(path))
