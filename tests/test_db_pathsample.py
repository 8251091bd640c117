"""PATHSAMPLE export/import round trip, and the `lfl db` command line."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from lfl.cli import main
from lfl.db import LandscapeStore, MinimaBatch, TransitionStateBatch
from lfl.db.engine import SCHEMA_VERSION
from lfl.db.pathsample import export_pathsample, import_pathsample
from lfl.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def _fill(store, spec, rng, n_minima=30, n_ts=25):
    land = store.get_or_create_landscape(spec)
    # energies with all 17 digits in use, so any rounding in the text files would show
    energies = rng.choice(np.arange(1000), size=n_minima, replace=False) * 1e-3 + rng.uniform(0, 1e-4, n_minima) / 3
    minima = MinimaBatch(energies, rng.normal(size=(n_minima, spec.n_dof)), log_prod_pos_eig=rng.normal(size=n_minima) * 30)
    ids = store.ingest(land.id, minima=minima).minimum_ids
    a = rng.integers(0, n_minima, n_ts)
    b = (a + 1 + rng.integers(0, n_minima - 1, n_ts)) % n_minima
    ts = TransitionStateBatch(
        rng.uniform(2, 3, n_ts) / 7,
        rng.normal(size=(n_ts, spec.n_dof)),
        ids[a],
        ids[b],
        log_prod_pos_eig=rng.normal(size=n_ts) * 30,
    )
    store.ingest(land.id, transition_states=ts)
    return land


def _as_sets(store, land_id):
    minima = store.point_table(land_id)
    ts = store.point_table(land_id, kind="transition_states")
    key = {int(i): (e, c.tobytes()) for i, e, c in zip(minima["id"], minima["energy"], minima["coords"])}
    min_set = {(e, c, lp) for e, c, lp in zip(minima["energy"], map(bytes, minima["coords"]), minima["log_prod_pos_eig"])}
    ts_set = {
        (e, c.tobytes(), lp, key[int(m1)], key[int(m2)])
        for e, c, lp, m1, m2 in zip(ts["energy"], ts["coords"], ts["log_prod_pos_eig"], ts["min1_id"], ts["min2_id"])
    }
    return min_set, ts_set


def test_pathsample_round_trip_is_exact(db_url, tmp_path, make_spec):
    rng = np.random.default_rng(11)
    spec = make_spec("ps", n_dof=9)
    with LandscapeStore(db_url, create=True) as source:
        land = _fill(source, spec, rng)
        counts = export_pathsample(source, "ps", tmp_path / "export")
        expected = _as_sets(source, land.id)
    assert counts == {"minima": 30, "transition_states": 25}

    out = tmp_path / "export"
    min_lines = (out / "min.data").read_text().splitlines()
    ts_lines = (out / "ts.data").read_text().splitlines()
    assert len(min_lines) == 30 and all(len(l.split()) == 6 for l in min_lines)
    assert all(l.split()[2:] == ["1", "1.0", "1.0", "1.0"] for l in min_lines)
    assert len(ts_lines) == 25 and all(len(l.split()) == 8 for l in ts_lines)
    assert all(1 <= int(v) <= 30 for l in ts_lines for v in l.split()[3:5])
    assert (out / "points.min").stat().st_size == 30 * 9 * 8
    assert (out / "points.ts").stat().st_size == 25 * 9 * 8

    target_url = f"sqlite:///{tmp_path / 'target.sqlite'}"
    with LandscapeStore(target_url, create=True) as target:
        result = import_pathsample(target, "ps", out)
        assert result.n_new_minima == 30 and result.n_new_transition_states == 25
        assert target.landscape("ps").spec == spec  # created from landscape.json
        assert _as_sets(target, target.landscape("ps").id) == expected
        again = import_pathsample(target, "ps", out)
        assert again.n_new_minima == 0 and again.n_new_transition_states == 0


def test_pathsample_import_rejects_malformed_directories(tmp_path, make_spec, sqlite_url):
    rng = np.random.default_rng(12)
    with LandscapeStore(sqlite_url, create=True) as store:
        _fill(store, make_spec("ps"), rng, n_minima=5, n_ts=3)
        export_pathsample(store, "ps", tmp_path / "x")
        points = tmp_path / "x" / "points.min"
        points.write_bytes(points.read_bytes()[:-8])
        with pytest.raises(DataError, match="points.min: 472 bytes, expected 5 records of 12 float64"):
            import_pathsample(store, "ps", tmp_path / "x")
        export_pathsample(store, "ps", tmp_path / "x")
        ts = tmp_path / "x" / "ts.data"
        lines = [line.split() for line in ts.read_text().splitlines()]
        lines[0][3] = "9"  # a sixth minimum, in a file of five
        ts.write_text("".join(" ".join(fields) + "\n" for fields in lines))
        with pytest.raises(DataError, match="minimum numbers must be integers in 1..5"):
            import_pathsample(store, "ps", tmp_path / "x")
        assert store.counts(1)["minima"] == 5


def test_cli_init_info_export_import(db_url, tmp_path, make_spec, capsys, monkeypatch):
    monkeypatch.delenv("LFL_DB_URL", raising=False)
    # a password in the URL must never be printed (the test server trusts every login)
    url = db_url.replace("postgres@", "postgres:sekrit@") if db_url.startswith("postgresql") else db_url
    assert main(["db", "init", "--db", url]) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    with LandscapeStore(url) as store:
        _fill(store, make_spec("cli"), np.random.default_rng(13), n_minima=8, n_ts=5)
    assert main(["db", "info", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "sekrit" not in out
    assert f"schema version: {SCHEMA_VERSION}" in out and "landscapes: 1" in out
    row = next(line for line in out.splitlines() if " cli " in f" {line} ")
    assert row.split()[7:9] == ["8", "5"]
    assert main(["db", "export", "--db", url, "--landscape", "cli", "--out", str(tmp_path / "ps")]) == 0
    target = f"sqlite:///{tmp_path / 'copy.sqlite'}"
    assert main(["db", "init", "--db", target]) == 0
    assert main(["db", "import", "--db", target, "--landscape", "cli", "--dir", str(tmp_path / "ps")]) == 0
    assert "8 new minima, 5 new transition states" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", target]) == 0
    assert f"already at schema version {SCHEMA_VERSION}" in capsys.readouterr().out


def test_cli_url_from_config_and_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LFL_DB_URL", raising=False)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["database"] = {"url": f"sqlite:///{tmp_path / 'from_config.sqlite'}"}
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    assert main(["db", "init", "--config", str(config_path)]) == 0
    assert (tmp_path / "from_config.sqlite").exists()
    monkeypatch.setenv("LFL_DB_URL", f"sqlite:///{tmp_path / 'from_env.sqlite'}")
    assert main(["db", "init", "--config", str(config_path)]) == 0
    assert (tmp_path / "from_env.sqlite").exists()
    monkeypatch.delenv("LFL_DB_URL")
    assert main(["db", "info"]) == 2
    assert "no database given" in capsys.readouterr().err
    assert main(["db", "info", "--db", f"sqlite:///{tmp_path / 'missing.sqlite'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
