"""Real Snakemake runs of the data stage (pools and draws) on tiny configs."""

import numpy as np
import pytest

from lfl.data.draw import load_draw
from lfl.data.pool import load_pool
from workflow_helpers import run_snakemake


def digits_config():
    return {
        "results_dir": "results",
        "threads": 1,
        "datasets": {
            "digits": {"kind": "digits", "seed": 3},
            "D2": {"kind": "ljat3", "name": "D2", "n_samples": 400, "seed": 5},
        },
        "studies": {
            "noise": {"dataset": "digits", "n_data": 50, "error_pct": [0, 50], "draw_seed": 1},
            "ljat3": {"dataset": "D2", "n_data": 100, "error_pct": [10], "draw_seed": 0, "n_test": 50},
        },
    }


def test_data_stage_runs_and_is_reproducible(tmp_path):
    result = run_snakemake(tmp_path, digits_config())
    assert result.returncode == 0, result.stderr[-3000:]
    clean = load_draw(tmp_path / "results/draws/digits/n50_e0_s1.npz")
    noisy = load_draw(tmp_path / "results/draws/digits/n50_e50_s1.npz")
    assert clean.mislabelled.sum() == 0 and noisy.mislabelled.sum() == 25
    np.testing.assert_array_equal(clean.train_inputs, noisy.train_inputs)
    assert load_pool(tmp_path / "results/data/digits.npz").inputs.shape == (1797, 64)
    assert (tmp_path / "results/logs/data/digits.log").exists()
    ljat3_pool = load_pool(tmp_path / "results/data/D2.npz")
    assert ljat3_pool.metadata["box_length"] == 1.385 and ljat3_pool.metadata["minimiser"]["memory"] == 4
    ljat3_draw = load_draw(tmp_path / "results/draws/D2/n100_e10_s0_t50.npz")
    assert ljat3_draw.mislabelled.sum() == 10 and ljat3_draw.test_labels.size == 50
    assert ljat3_draw.train_inputs.shape == (100, 2)
    assert (tmp_path / "results/benchmarks/draws/digits/n50_e0_s1.tsv").exists()
    # a second run has nothing to do
    again = run_snakemake(tmp_path, digits_config())
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda c: c["studies"]["noise"].update(error_pct=[0, 101]), "error_pct.1"),
        (lambda c: c["datasets"]["digits"].update(sed=1), "'sed' was unexpected"),
        (lambda c: c["studies"]["noise"].update(dataset="nope"), "unknown data set"),
    ],
)
def test_bad_config_stops_the_workflow_before_any_job(tmp_path, mutate, fragment):
    config = digits_config()
    mutate(config)
    result = run_snakemake(tmp_path, config)
    assert result.returncode != 0
    assert "lfl: config error" in result.stderr and fragment in result.stderr
    assert not (tmp_path / "results").exists()
