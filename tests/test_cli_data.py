"""The `lfl data` commands as a user runs them: real processes, exit codes, one-line errors."""

import subprocess
import sys

import numpy as np
import pytest

from lfl.data.draw import load_draw
from lfl.data.pool import DataPool, save_pool


def run_lfl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lfl", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def pool_file(tmp_path):
    rng = np.random.default_rng(0)
    pool = DataPool(
        rng.normal(size=(400, 2)), rng.integers(0, 4, 400), np.arange(200), np.arange(200, 400),
        {"kind": "test", "n_classes": 4},
    )
    path = tmp_path / "pool.npz"
    save_pool(pool, path)
    return path


def assert_one_line_error(result, fragment):
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("lfl: error")]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_draw_command_writes_a_draw(tmp_path, pool_file):
    out = tmp_path / "draws" / "d.npz"
    result = run_lfl("--threads", "1", "data", "draw", "--pool", str(pool_file), "--n-data", "100",
                     "--error-pct", "10", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    draw = load_draw(out)
    assert draw.mislabelled.sum() == 10


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--n-data", "1000", "--error-pct", "10"], "larger than the training pool"),
        (["--n-data", "10", "--error-pct", "120"], "0..100"),
    ],
)
def test_bad_draw_leaves_no_output(tmp_path, pool_file, extra, fragment):
    out = tmp_path / "d.npz"
    result = run_lfl("data", "draw", "--pool", str(pool_file), "--seed", "0", "--out", str(out), *extra)
    assert_one_line_error(result, fragment)
    assert list(tmp_path.iterdir()) == [pool_file]


def test_nan_in_user_data_is_refused(tmp_path):
    x_train = np.ones((4, 2, 2))
    x_train[0, 0, 0] = np.nan
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=np.arange(4), x_test=np.ones((2, 2, 2)), y_test=np.arange(2))
    result = run_lfl("data", "mnist", "--path", str(path), "--out", str(tmp_path / "out.npz"))
    assert_one_line_error(result, "NaN")
    assert not (tmp_path / "out.npz").exists()


def test_malformed_idx_via_cli(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(b"garbage!")
    result = run_lfl("data", "mnist", "--path", str(folder), "--out", str(tmp_path / "out.npz"))
    assert_one_line_error(result, "not an IDX file")
    assert not (tmp_path / "out.npz").exists()


def test_pool_that_is_not_npz(tmp_path):
    bad = tmp_path / "pool.npz"
    bad.write_text("hello")
    result = run_lfl("data", "draw", "--pool", str(bad), "--n-data", "1", "--error-pct", "0", "--seed", "0",
                     "--out", str(tmp_path / "o.npz"))
    assert_one_line_error(result, "not a readable .npz")


def test_negative_box_length_via_cli(tmp_path):
    out = tmp_path / "p.npz"
    result = run_lfl("data", "ljat3", "--box-length", "-1", "--n-samples", "10", "--seed", "0", "--out", str(out))
    assert_one_line_error(result, "box")
    assert not out.exists()
