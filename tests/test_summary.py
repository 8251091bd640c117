"""Study summaries equal the same numbers computed directly with SQL; tables and figures for landscapes
of every shape: joined by transition states, without any, with a single minimum, empty, not stored."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from analysis_helpers import make_landscape, random_minima, store_minima
from lfl.analysis.figures import graph_stems, landscape_figures, study_stems
from lfl.analysis.scoring import score_landscape
from lfl.analysis.summary import AUC_SPLITS, landscape_labels, markdown_table, study_summary
from lfl.cli import main
from lfl.db.store import LandscapeStore

NAMES = ["joined_e0", "loose_e50", "single_e10", "empty_e100", "missing"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A database with four stored landscapes (scored) and one name that is not stored."""
    folder = tmp_path_factory.mktemp("study")
    url = f"sqlite:///{folder / 'db.sqlite'}"
    landscapes = {}
    for name, pct, n_minima, chain in (("joined_e0", 0.0, 6, True), ("loose_e50", 50.0, 4, False),
                                       ("single_e10", 10.0, 1, False), ("empty_e100", 100.0, 0, False)):
        definition, draw, landscape = make_landscape(folder, name, error_pct=pct)
        energies, weights = random_minima(landscape, n_minima, seed=int(pct))
        if n_minima:
            order = np.argsort(energies)[::-1]  # a chain from the highest minimum down: one funnel
            store_minima(url, landscape, energies[order], weights[order], chain_ts=chain)
        else:
            with LandscapeStore(url, create=True) as store:
                store.get_or_create_landscape(landscape.database_spec())
        landscapes[name] = (definition, draw, landscape)
    with LandscapeStore(url) as store:
        for _, _, landscape in landscapes.values():
            score_landscape(store, landscape, reference_class=0)
    return folder, url, landscapes


def sql_numbers(url: str, name: str) -> dict:
    """The summary's numbers straight from SQL (no lfl code but the engine)."""
    with LandscapeStore(url) as store, store.engine.connect() as conn:
        one = lambda sql, **p: conn.execute(text(sql), p).first()  # noqa: E731
        land = one("SELECT id FROM landscapes WHERE name = :n", n=name)
        if land is None:
            return {"n_minima": 0}
        lid = land[0]
        out = {
            "n_minima": one("SELECT count(*) FROM minima WHERE landscape_id = :l", l=lid)[0],
            "n_transition_states": one("SELECT count(*) FROM transition_states WHERE landscape_id = :l", l=lid)[0],
        }
        gmin = one("SELECT id, energy FROM minima WHERE landscape_id = :l ORDER BY energy, id LIMIT 1", l=lid)
        if gmin is None:
            return out
        out["global_min_id"], out["global_min_energy"] = gmin
        for split, metric in (("train", "auc"), ("train", "loss"), ("train", "cross_entropy"),
                              ("test", "auc"), ("test", "loss"), ("test", "cross_entropy")):
            value = one("SELECT value FROM minimum_metrics WHERE minimum_id = :m AND split = :s AND metric = :k",
                        m=gmin[0], s=split, k=metric)[0]
            out[f"global_min_{split}_{metric}"] = math.nan if value is None else value
        for split in AUC_SPLITS:
            for metric in ("auc", "auc_macro"):
                mean, count, squares = one(
                    "SELECT avg(k.value), count(k.value), sum(k.value * k.value) FROM minimum_metrics k "
                    "JOIN minima m ON m.id = k.minimum_id WHERE m.landscape_id = :l AND k.split = :s AND k.metric = :k",
                    l=lid, s=split, k=metric)
                out[f"mean_{split}_{metric}"] = math.nan if mean is None else mean
                out[f"std_{split}_{metric}"] = (math.sqrt(max(squares - count * mean**2, 0.0) / (count - 1))
                                                if count > 1 else math.nan)
                out[f"n_{split}_{metric}"] = count
        return out


def same(a, b) -> bool:
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_summary_rows_equal_direct_sql(study):
    _, url, _ = study
    with LandscapeStore(url) as store:
        frame = study_summary(store, NAMES, study="noise")
    assert list(frame["landscape"]) == NAMES
    for _, row in frame.iterrows():
        expected = sql_numbers(url, row["landscape"])
        for key, value in expected.items():
            assert same(row[key], value), (row["landscape"], key, row[key], value)
    rows = frame.set_index("landscape")
    # 0 % noise: no mislabelled part; 100 % noise would have no correct part (but holds no minima)
    assert rows.loc["joined_e0", "n_train_incorrect_auc"] == 0 and math.isnan(rows.loc["joined_e0", "mean_train_incorrect_auc"])
    assert rows.loc["joined_e0", "n_transition_states"] == 5 and rows.loc["joined_e0", "connected"]
    assert rows.loc["loose_e50", "n_transition_states"] == 0 and not rows.loc["loose_e50", "connected"]
    assert rows.loc["loose_e50", "n_connected_to_global_minimum"] == 1
    assert rows.loc["single_e10", "connected"] and math.isnan(rows.loc["single_e10", "std_train_auc"])
    assert rows.loc["empty_e100", "n_minima"] == 0 and not rows.loc["empty_e100", "connected"]
    assert rows.loc["missing", "n_minima"] == 0 and pd.isna(rows.loc["missing", "error_pct"])
    assert (rows["n_scored"] == rows["n_minima"]).all()
    # the global minimum's training loss is its energy
    assert rows.loc["joined_e0", "global_min_train_loss"] == pytest.approx(rows.loc["joined_e0", "global_min_energy"])


def test_summary_command_writes_csv_and_markdown(study):
    folder, url, landscapes = study
    csv, md = folder / "tables" / "noise.csv", folder / "tables" / "noise.md"
    definition = str(landscapes["joined_e0"][0])  # a definition file names its landscape
    stored = [name for name in NAMES if name != "missing"]
    assert main(["analyse", "summary", "--db", url, "--study", "noise", "--reference-class", "0",
                 "--out-csv", str(csv), "--out-md", str(md), definition, *stored[1:]]) == 0
    table = pd.read_csv(csv)
    assert list(table["landscape"]) == stored
    with LandscapeStore(url) as store:
        frame = study_summary(store, stored, study="noise")
    np.testing.assert_allclose(table["mean_test_auc"], frame["mean_test_auc"].astype(float), rtol=1e-15)
    np.testing.assert_allclose(table["global_min_test_loss"], frame["global_min_test_loss"].astype(float), rtol=1e-15)
    markdown = md.read_text()
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + len(stored)
    assert "Error %" in lines[0] and "Test AUC" in lines[0] and "GM test CE" in lines[0]
    joined = frame.set_index("landscape").loc["joined_e0"]
    assert f"{joined['mean_test_auc']:.3f} ± {joined['std_test_auc']:.3f}" in markdown
    assert "Test AUC (macro)" in lines[0] and f"{joined['mean_test_auc_macro']:.3f} ± " in markdown
    assert joined["mean_test_auc_macro"] != joined["mean_test_auc"]  # two conventions, two numbers
    assert "class 0 against the rest" in markdown and "AUC (macro): the mean of the one-vs-rest AUCs" in markdown
    assert "| 0 | 6 | 5 | yes |" in markdown and "no (1/4)" in markdown


@pytest.mark.parametrize("command", ["summary", "figures", "graphs"])
def test_a_landscape_not_in_the_database_is_one_line_and_writes_nothing(study, tmp_path, command):
    import subprocess
    import sys
    from pathlib import Path

    _, url, _ = study
    out = tmp_path / "out"
    arguments = {"summary": ["--out-csv", str(out / "t.csv"), "--out-md", str(out / "t.md"), "joined_e0", "nope"],
                 "figures": ["--study", "noise", "--out-dir", str(out), "joined_e0", "nope"],
                 "graphs": ["--landscape", "nope", "--out-dir", str(out)]}[command]
    done = subprocess.run([str(Path(sys.executable).parent / "lfl"), "analyse", command, "--db", url, *arguments],
                          capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "landscape 'nope' is not in database" in done.stderr and "joined_e0" in done.stderr
    assert not out.exists()


def test_labels_name_what_varies():
    frame = pd.DataFrame({
        "landscape": ["a", "b", "c"], "dataset": ["D1"] * 3, "hidden": ["10", "10", "5"], "l2_lambda": [1e-4] * 3,
        "n_data": [1000] * 3, "connectivity_k": [1, "full", "full"], "draw_seed": [0] * 3,
        "symmetry_mode": ["reduced"] * 3, "error_pct": [0.0, 0.0, 10.0], "n_minima": [1, 2, 3],
    })
    assert landscape_labels(frame) == ["D1, Hidden=10, k=1, 0 % mislabelled", "D1, Hidden=10, k=full, 0 % mislabelled",
                                       "D1, Hidden=5, k=full, 10 % mislabelled"]
    assert landscape_labels(frame.iloc[:1]) == ["D1, 0 % mislabelled"]
    assert "(no landscapes)" in markdown_table(frame.iloc[:0], study="x")


def read_svg(path) -> str:
    return path.with_suffix(".svg").read_text()


def assert_png(path, min_bytes=8000):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > min_bytes, (path, len(data))


def test_figures_for_every_kind_of_landscape(study):
    folder, url, _ = study
    out = folder / "figures"
    with LandscapeStore(url) as store:
        for name in NAMES:
            written = landscape_figures(store, name, out / name, levels=10)
            assert sorted(p.name for p in written) == sorted(f"{s}{x}" for s in graph_stems() for x in (".png", ".svg"))
            for path in written:
                if path.suffix == ".png":
                    assert_png(path)
    # matplotlib writes each text of an SVG as a comment beside its glyph paths
    assert "no transition states yet: 4 minima, not joined" in read_svg(out / "loose_e50" / "disconnectivity_train_auc.png")
    assert "one minimum only" in read_svg(out / "single_e10" / "disconnectivity_test_auc.png")
    assert "no minima" in read_svg(out / "empty_e100" / "disconnectivity_train_auc.png")
    assert "no minima" in read_svg(out / "missing" / "disconnectivity_train_auc.png")
    joined = read_svg(out / "joined_e0" / "disconnectivity_train_auc.png")
    assert "training AUC" in joined and "not joined" not in joined

    stored = [name for name in NAMES if name != "missing"]
    assert main(["analyse", "figures", "--db", url, "--study", "noise", "--levels", "10",
                 "--out-dir", str(out / "study"), *stored]) == 0
    for stem in study_stems():
        assert_png(out / "study" / f"{stem}.png", min_bytes=15000)
    boxes = read_svg(out / "study" / "auc_boxplots.png")
    assert "0 % mislabelled" in boxes and "50 % mislabelled" in boxes and "train n=6" in boxes


def test_mean_and_sd_show_two_significant_figures_of_the_sd():
    from lfl.analysis.summary import _mean_sd

    assert _mean_sd(0.8120712, 0.00027) == "0.81207 ± 0.00027"  # was "0.812 ± 0.000"
    assert _mean_sd(0.77, 0.011) == "0.770 ± 0.011"
    assert _mean_sd(0.5, 0.0) == "0.500 ± 0.000" and _mean_sd(0.5, float("nan")) == "0.500"


def test_kinetic_columns_worked_by_hand(tmp_path):
    """P(GM) and the frustration index of a three-minimum chain, from its SQL rows and the formulas."""
    from lfl.db.batches import MinimaBatch, TransitionStateBatch

    _, _, landscape = make_landscape(tmp_path, "chain_e0", error_pct=0.0)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    n_dof = landscape.network_spec().n_weights
    rng = np.random.default_rng(3)
    with LandscapeStore(url, create=True) as store:
        record = store.get_or_create_landscape(landscape.database_spec())
        ids = store.ingest(record.id, minima=MinimaBatch(
            [0.5, 0.52, 0.56], rng.normal(size=(3, n_dof)), log_prod_pos_eig=[10.0, 9.0, 12.0])).minimum_ids
        # 0 -(0.60)- 1 -(0.57)- 2: minimum 1's barrier to 0 is 0.08, minimum 2's 0.04
        store.ingest(record.id, transition_states=TransitionStateBatch(
            [0.60, 0.57], rng.normal(size=(2, n_dof)), ids[:2], ids[1:], log_prod_pos_eig=[8.0, 8.0]))
        row = study_summary(store, ["chain_e0"], temperature=0.02).iloc[0]
    weights = [math.exp(-e / 0.02 - lp / 2) for e, lp in ((0.5, 10.0), (0.52, 9.0), (0.56, 12.0))]
    assert row["global_min_occupation"] == pytest.approx(weights[0] / sum(weights), rel=1e-12)
    expected = (weights[1] * 0.08 / 0.02 + weights[2] * 0.04 / 0.06) / (weights[1] + weights[2])
    assert row["frustration"] == pytest.approx(expected, rel=1e-12)
    assert row["kinetics_temperature"] == 0.02
    assert 0 < row["cv_peak_temperature"] < 0.6 and row["cv_peak"] > n_dof
