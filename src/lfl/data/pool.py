"""Labelled data sets on disk: one ``.npz`` per pool or draw, validated on every load.

A *pool* holds every item of a data set with a fixed train/test split (LJAT3: the two halves of
the minimisations; digits: a seeded split). A *draw* (see :mod:`lfl.data.draw`) takes ``n_data``
training items from the training half and adds label noise.

File layout (all arrays little-endian, no pickles):

- ``inputs``       float64 (n_items, n_inputs)
- ``labels``       int64 (n_items,), in 0 .. n_classes-1
- ``train_index``  int64 indices into ``inputs`` of the training pool
- ``test_index``   int64 indices of the testing pool (disjoint from ``train_index``)
- ``metadata``     a JSON string: kind, n_classes, and every parameter that defines the pool
- any extra arrays (LJAT3: ``initial_coords`` (n_items, 9), ``final_energy``)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lfl.errors import DataError
from lfl.npz import load_npz, save_npz
from lfl.systems.network import check_inputs_labels

_CORE = ("inputs", "labels", "train_index", "test_index", "metadata")


@dataclass
class DataPool:
    inputs: np.ndarray
    labels: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    metadata: dict
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.metadata["n_classes"])

    @property
    def n_inputs(self) -> int:
        return int(self.inputs.shape[1])

    def validate(self, source: str = "data pool") -> "DataPool":
        check_inputs_labels(self.inputs, self.labels, self.n_classes, source)
        n = self.inputs.shape[0]
        for name in ("train_index", "test_index"):
            idx = getattr(self, name)
            if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n)):
                raise DataError(f"{source}: {name} holds indices outside 0..{n - 1}")
        if np.intersect1d(self.train_index, self.test_index).size:
            raise DataError(f"{source}: training and testing pools overlap")
        return self

    def content_hash(self) -> str:
        """SHA-256 over the arrays that define the pool (not the metadata's free text)."""
        return hash_arrays(self.inputs, self.labels, self.train_index, self.test_index)


def hash_arrays(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype.str).encode())
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_pool(pool: DataPool, path: str | Path) -> None:
    pool.validate(str(path))
    arrays = {
        "inputs": np.ascontiguousarray(pool.inputs, dtype=np.float64),
        "labels": np.ascontiguousarray(pool.labels, dtype=np.int64),
        "train_index": np.ascontiguousarray(pool.train_index, dtype=np.int64),
        "test_index": np.ascontiguousarray(pool.test_index, dtype=np.int64),
        **pool.extras,
    }
    metadata = dict(pool.metadata, content_hash=pool.content_hash())
    save_npz(path, arrays, metadata)


def load_pool(path: str | Path) -> DataPool:
    arrays, metadata = load_npz(path)
    missing = [name for name in _CORE if name != "metadata" and name not in arrays]
    if missing:
        raise DataError(f"{path}: not a data pool (missing {', '.join(missing)})")
    if "n_classes" not in metadata:
        raise DataError(f"{path}: metadata lacks n_classes")
    pool = DataPool(
        inputs=arrays.pop("inputs").astype(np.float64, copy=False),
        labels=arrays.pop("labels").astype(np.int64, copy=False),
        train_index=arrays.pop("train_index").astype(np.int64, copy=False),
        test_index=arrays.pop("test_index").astype(np.int64, copy=False),
        metadata=metadata,
        extras=arrays,
    )
    return pool.validate(str(path))


def split_halves(n_items: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split into a training half and a testing half (sorted indices)."""
    order = rng.permutation(n_items)
    half = n_items // 2
    return np.sort(order[:half]), np.sort(order[half:])
