"""The real workflow, tiny: data -> basin-hopping -> ingest -> metrics -> table, graphs, box plots. Then
a dry run with one more basin-hopping run per landscape: the metrics, the table and every figure are
to be remade (scoring only new minima is tested in test_analysis_metrics.py, without Snakemake)."""

import re

import json

import pandas as pd
from sqlalchemy import text

from lfl.db.store import LandscapeStore
from workflow_helpers import run_snakemake, tiny_ljat3_config

LANDSCAPES = ["D2_n50_e0_s0_h3_l0.001_kfull_reduced", "D2_n50_e50_s0_h3_l0.001_kfull_reduced"]
GRAPHS = [f"disconnectivity_{split}_auc" for split in ("train", "test")]
STUDY_FIGURES = [f"disconnectivity_panel_{split}_auc" for split in ("train", "test")] + ["auc_boxplots"]


def tiny_config(runs: int) -> dict:
    return tiny_ljat3_config(
        basin_hopping={"runs": runs, "steps": 10, "chunk": 10, "seed": 4},
        connect={"rounds": 0},
        error_pct=(0, 50),
        analysis={"levels": 10},
    )


def assert_png(path, min_bytes=10_000):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > min_bytes, (path, len(data))


def check_outputs(results, url) -> dict:
    """The table agrees with the database; every figure is a real PNG (and an SVG); returns the
    metrics receipts."""
    table = pd.read_csv(results / "tables" / "tiny.csv")
    assert list(table["landscape"]) == LANDSCAPES
    assert list(table["error_pct"]) == [0.0, 50.0]
    markdown = (results / "tables" / "tiny.md").read_text()
    assert markdown.count("\n| ") == 3 and "Test AUC" in markdown
    with LandscapeStore(url) as store, store.engine.connect() as conn:
        for _, row in table.iterrows():
            n_minima, n_scored = conn.execute(text(
                "SELECT count(DISTINCT m.id), count(k.value) FROM minima m JOIN landscapes l ON l.id = m.landscape_id "
                "LEFT JOIN minimum_metrics k ON k.minimum_id = m.id AND k.split = 'test' AND k.metric = 'auc' "
                "WHERE l.name = :n"), {"n": row["landscape"]}).first()
            assert row["n_minima"] == n_minima == n_scored == row["n_scored"] >= 1
            assert 0.0 <= row["mean_test_auc"] <= 1.0
    for landscape in LANDSCAPES:
        for stem in GRAPHS:
            assert_png(results / "figures" / "landscapes" / landscape / f"{stem}.png")
            assert (results / "figures" / "landscapes" / landscape / f"{stem}.svg").stat().st_size > 5_000
    for stem in STUDY_FIGURES:
        assert_png(results / "figures" / "studies" / "tiny" / f"{stem}.png", min_bytes=20_000)
    return {name: json.loads((results / "landscapes" / name / "analysis" / "metrics.json").read_text())
            for name in LANDSCAPES}


def test_workflow_analysis_grows_with_the_database(tmp_path):
    url = f"sqlite:///{tmp_path}/results/landscapes.sqlite"
    results = tmp_path / "results"
    first = run_snakemake(tmp_path, tiny_config(runs=1), env={"LFL_DB_URL": ""})
    assert first.returncode == 0, first.stderr[-3000:]
    receipts = check_outputs(results, url)
    for receipt in receipts.values():
        assert receipt["n_scored_before"] == 0 and receipt["n_scored_now"] == receipt["n_minima"]
    # with this little exploration each landscape holds one minimum: its graph says so
    svg = (results / "figures" / "landscapes" / LANDSCAPES[0] / "disconnectivity_train_auc.svg").read_text()
    assert "one minimum only" in svg or "not joined" in svg

    grown = run_snakemake(tmp_path, tiny_config(runs=2), "--dry-run", "--quiet", "rules", env={"LFL_DB_URL": ""})
    assert grown.returncode == 0, grown.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", grown.stdout + grown.stderr, flags=re.MULTILINE))
    assert counts.get("basin_hopping") == "2" and counts.get("analyse_metrics") == "2", counts
    assert counts.get("summary_table") == "1" and counts.get("study_figures") == "1", counts
    assert counts.get("disconnectivity_graphs") == "2", counts


def test_study_configs_are_valid_and_name_the_papers_landscapes():
    from lfl.config import all_landscapes, landscapes_of_study, load_config
    from workflow_helpers import ROOT

    expected = {
        "label_noise_ljat3.yaml": {f"label_noise_D{i}": 4 for i in (1, 2, 3)},
        "label_noise_digits.yaml": {"label_noise_digits": 8},
        "locality_D1.yaml": {"locality_h10": 4, "locality_h5": 4},
        "depth_D1.yaml": {"depth_D1": 4},
    }
    for file, studies in expected.items():
        config = load_config(ROOT / "studies" / file)
        assert {name: len(landscapes_of_study(name, study)) for name, study in config["studies"].items()} == studies
        names = list(all_landscapes(config))
        assert len(names) == len(set(names)) == sum(studies.values())
    noise = load_config(ROOT / "studies" / "label_noise_ljat3.yaml")["studies"]["label_noise_D1"]
    assert noise["error_pct"] == [0, 10, 50, 100] and noise["networks"] == [
        {"hidden": [10], "lambda": 1.0e-4, "connectivity_k": None}]
    locality = load_config(ROOT / "studies" / "locality_D1.yaml")["studies"]["locality_h5"]
    assert [n["connectivity_k"] for n in locality["networks"]] == [1, 2, 3, None]
