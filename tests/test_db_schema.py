"""Opening databases: schema versions (refused untouched, upgraded), bad URLs and files, SQLite settings."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect, text

import lfl.db.engine as engine_module
from lfl.db import LandscapeStore, MinimaBatch, SchemaVersionError
from lfl.db.engine import SCHEMA_VERSION, make_engine, upgrade_schema
from lfl.errors import LflError


def _set_version(url: str, version: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM schema_version"))
        conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})
    engine.dispose()


def _snapshot(url: str) -> tuple:
    """What a refused open must not change: the SQLite file's bytes, or the PostgreSQL schema and rows."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            return ("sqlite", hashlib.sha256(Path(engine.url.database).read_bytes()).hexdigest())
        with engine.connect() as conn:
            columns = {t: sorted(c["name"] for c in inspect(conn).get_columns(t)) for t in inspect(conn).get_table_names()}
            versions = conn.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
            n_minima = conn.execute(text("SELECT count(*) FROM minima")).scalar()
        return ("postgres", columns, versions, n_minima)
    finally:
        engine.dispose()


@pytest.fixture
def populated(db_url, make_spec):
    with LandscapeStore(db_url, create=True) as store:
        land = store.get_or_create_landscape(make_spec())
        store.ingest(land.id, minima=MinimaBatch([0.1, 0.2], np.eye(2, 12)))
    return db_url


@pytest.mark.parametrize("version,word", [(99, "newer"), (0, "older")])
def test_a_database_of_another_schema_version_is_refused_untouched(populated, version, word):
    _set_version(populated, version)
    before = _snapshot(populated)
    with pytest.raises(SchemaVersionError, match=f"schema version {version}, {word} than this lfl's {SCHEMA_VERSION}"):
        LandscapeStore(populated)
    with pytest.raises(SchemaVersionError):
        LandscapeStore(populated, create=True)  # init refuses it too
    assert _snapshot(populated) == before


def test_upgrade_applies_the_versioned_steps_in_one_transaction(populated, monkeypatch):
    def add_note_column(conn):
        conn.execute(text("ALTER TABLE minima ADD COLUMN note VARCHAR(50)"))

    def broken_step(conn):
        conn.execute(text("ALTER TABLE minima ADD COLUMN half_done INTEGER"))
        raise LflError("step 2 -> 3 failed")

    # pretend this code is two schema versions ahead of the database (which is at SCHEMA_VERSION)
    v = SCHEMA_VERSION
    monkeypatch.setattr(engine_module, "SCHEMA_VERSION", v + 2)
    monkeypatch.setattr(engine_module, "UPGRADES", {v: add_note_column, v + 1: broken_step})
    with pytest.raises(SchemaVersionError, match=f"older than this lfl's {v + 2}: run `lfl db upgrade`"):
        LandscapeStore(populated)
    before = _snapshot(populated)
    engine = make_engine(populated)
    with pytest.raises(LflError, match="step 2 -> 3 failed"):
        upgrade_schema(engine)
    assert _snapshot(populated) == before  # nothing of the failed upgrade remains

    monkeypatch.setattr(engine_module, "UPGRADES", {v: add_note_column, v + 1: lambda conn: None})
    assert upgrade_schema(engine) == (v, v + 2)
    assert upgrade_schema(engine) == (v + 2, v + 2)
    with engine.connect() as conn:
        assert "note" in {c["name"] for c in inspect(conn).get_columns("minima")}
        assert conn.execute(text("SELECT n_minima FROM landscape_summary")).scalar() == 2
    engine.dispose()
    with LandscapeStore(populated) as store:
        assert store.counts(1)["minima"] == 2


def test_upgrade_without_a_step_is_refused(populated, monkeypatch):
    v = SCHEMA_VERSION
    monkeypatch.setattr(engine_module, "SCHEMA_VERSION", v + 1)
    monkeypatch.setattr(engine_module, "UPGRADES", {})
    engine = make_engine(populated)
    with pytest.raises(LflError, match=f"no upgrade step from schema version {v} to {v + 1}"):
        upgrade_schema(engine)
    engine.dispose()


def test_version_1_database_upgrades_to_attempt_keys(populated):
    """The real 1 -> 2 step: a version-1 database (no connect_attempts.attempt_key) is refused, then
    upgraded in place, and afterwards an attempt key recorded twice is stored once."""
    engine = make_engine(populated)
    with engine.begin() as conn:  # make it what version 1 created
        conn.execute(text("DROP INDEX uq_connect_attempts_key"))
        conn.execute(text("ALTER TABLE connect_attempts DROP COLUMN attempt_key"))
        conn.execute(text("DROP TABLE minimum_kinetics"))  # added by version 5
        conn.execute(text("DROP TABLE minimum_sightings"))  # added by version 4
        conn.execute(text("DROP TABLE transition_state_sightings"))
        conn.execute(text("DROP TABLE exploration_rounds"))  # added by version 3
    engine.dispose()
    _set_version(populated, 1)
    with pytest.raises(SchemaVersionError, match=f"older than this lfl's {SCHEMA_VERSION}: run `lfl db upgrade`"):
        LandscapeStore(populated)
    engine = make_engine(populated)
    assert upgrade_schema(engine) == (1, SCHEMA_VERSION)
    engine.dispose()
    with LandscapeStore(populated) as store:
        ids = store.point_table(1)["id"]
        attempt = dict(min1_id=int(ids[0]), min2_id=int(ids[1]), outcome="failed", attempt_key="round 0 job 0/1 pair 0")
        first = store.record_connect_attempts(1, [attempt])
        again = store.record_connect_attempts(1, [attempt, {**attempt, "attempt_key": None}, {**attempt, "attempt_key": None}])
        assert first[0] is not None and again[0] is None and None not in again[1:]
        assert len(store.connect_attempts(1).outcomes) == 3  # the keyed one once, two unkeyed


def test_init_is_idempotent(db_url):
    for _ in range(2):
        with LandscapeStore(db_url, create=True) as store:
            assert store.landscapes() == []


def test_urls_that_point_nowhere_give_one_clear_error(tmp_path):
    missing = tmp_path / "nowhere" / "x.sqlite"
    with pytest.raises(LflError, match="no database at .*does not exist; run `lfl db init`"):
        LandscapeStore(f"sqlite:///{missing}")
    assert not missing.exists() and not missing.parent.exists()
    with pytest.raises(LflError, match="cannot use database postgresql\\+psycopg://postgres:\\*\\*\\*@127.0.0.1:1/test"):
        LandscapeStore("postgresql://postgres:secret@127.0.0.1:1/test")
    with pytest.raises(LflError, match="not a database URL"):
        LandscapeStore("no url at all")
    with pytest.raises(LflError, match="unsupported database"):
        LandscapeStore("mysql://u@h/db")


def test_an_empty_postgres_schema_without_init_is_refused(pg_url):
    with pytest.raises(LflError, match="has no lfl schema: run `lfl db init`"):
        LandscapeStore(pg_url)


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.sqlite"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    for create in (False, True):
        with pytest.raises(LflError, match="cannot use database .*file is not a database"):
            LandscapeStore(f"sqlite:///{path}", create=create)
    assert path.read_bytes() == content


def test_a_foreign_sqlite_database_with_lfl_tables_but_no_version_is_refused(tmp_path):
    path = tmp_path / "foreign.sqlite"
    engine = make_engine(f"sqlite:///{path}", create=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE minima (x INTEGER)"))
    engine.dispose()
    with pytest.raises(LflError, match="lfl tables \\(minima\\) but no schema_version"):
        LandscapeStore(f"sqlite:///{path}", create=True)


def test_sqlite_settings(sqlite_url):
    with LandscapeStore(sqlite_url, create=True) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 60000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_version_3_database_upgrades_to_sightings(populated):
    """The real 3 -> 4 step: the rounds recorded before keep their rows (new columns NULL), and
    sightings and estimates are recorded from then on."""
    from lfl.db.models import ROUND_V4_COLUMNS

    with LandscapeStore(populated) as store:
        store.record_round(1, stage="basin-hopping", step="run0_chunk0", n_tasks=5, cpu_seconds=1.0)
    engine = make_engine(populated)
    with engine.begin() as conn:  # make it what version 3 created
        conn.execute(text("DROP TABLE minimum_kinetics"))
        conn.execute(text("DROP TABLE minimum_sightings"))
        conn.execute(text("DROP TABLE transition_state_sightings"))
        for name in ROUND_V4_COLUMNS:
            conn.execute(text(f"ALTER TABLE exploration_rounds DROP COLUMN {name}"))
    engine.dispose()
    _set_version(populated, 3)
    engine = make_engine(populated)
    assert upgrade_schema(engine) == (3, SCHEMA_VERSION)
    engine.dispose()
    with LandscapeStore(populated) as store:
        old = store.exploration_rounds(1)[0]
        assert old["step"] == "run0_chunk0" and old["effort"] is None and old["minima_coverage"] is None
        ids = store.point_table(1)["id"].tolist()
        row = store.record_round(1, stage="refine", step="round 0", round=0,
                                 minimum_sightings=[(ids[0], "random-start"), (ids[1], "random-start")])
        assert row["n_minimum_draws"] == 2 and row["minima_coverage"] == 0.0


def test_version_4_database_upgrades_to_minimum_kinetics(populated):
    """The real 4 -> 5 step: minimum_kinetics appears, its rows keyed by minimum, temperature and
    funnel level, a rerun replacing them."""
    engine = make_engine(populated)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE minimum_kinetics"))
    engine.dispose()
    _set_version(populated, 4)
    with pytest.raises(SchemaVersionError, match="run `lfl db upgrade`"):
        LandscapeStore(populated)
    engine = make_engine(populated)
    assert upgrade_schema(engine) == (4, SCHEMA_VERSION)
    engine.dispose()
    with LandscapeStore(populated) as store:
        ids = store.point_table(1)["id"]
        kwargs = dict(minimum_ids=ids, barriers=[0.0, np.nan], occupations=[0.75, 0.25], funnel_minimum_ids=ids[:1].repeat(2))
        assert store.write_minimum_kinetics(1, temperature=0.1, funnel_level=1.0, **kwargs) == 2
        assert store.write_minimum_kinetics(1, temperature=0.1, funnel_level=1.0, **kwargs) == 2
        assert store.write_minimum_kinetics(1, temperature=0.2, funnel_level=1.0, **kwargs) == 2
    engine = make_engine(populated)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT temperature, barrier_to_global FROM minimum_kinetics ORDER BY temperature, minimum_id")).all()
    engine.dispose()
    assert [(t, b) for t, b in stored] == [(0.1, 0.0), (0.1, None), (0.2, 0.0), (0.2, None)]


def test_version_5_database_upgrades_to_macro_auc(populated):
    """The real 5 -> 6 step: minimum_metrics, whose CHECK constraint knew only the four metrics of
    version 5, accepts auc_macro afterwards; the rows stored before are kept; an unknown metric is
    still refused by the database itself."""
    v5_metrics = "metric IN ('auc', 'loss', 'cross_entropy', 'accuracy')"
    engine = make_engine(populated)
    with engine.begin() as conn:  # make minimum_metrics what version 5 created
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP VIEW minima_with_metrics"))
            conn.execute(text("DROP TABLE minimum_metrics"))
            conn.execute(text(
                "CREATE TABLE minimum_metrics (minimum_id INTEGER NOT NULL REFERENCES minima (id) ON DELETE CASCADE, "
                "split VARCHAR(16) NOT NULL, metric VARCHAR(16) NOT NULL, value FLOAT, "
                "CONSTRAINT pk_minimum_metrics PRIMARY KEY (minimum_id, split, metric), "
                "CONSTRAINT ck_minimum_metrics_split CHECK (split IN ('train', 'train_incorrect', 'train_correct', 'test')), "
                f"CONSTRAINT ck_minimum_metrics_metric CHECK ({v5_metrics}))"))
        else:
            conn.execute(text("ALTER TABLE minimum_metrics DROP CONSTRAINT ck_minimum_metrics_metric"))
            conn.execute(text(f"ALTER TABLE minimum_metrics ADD CONSTRAINT ck_minimum_metrics_metric CHECK ({v5_metrics})"))
        conn.execute(text("INSERT INTO minimum_metrics VALUES (1, 'test', 'auc', 0.75), (2, 'test', 'auc', NULL)"))
    with pytest.raises(Exception, match="(?i)check"), engine.begin() as conn:
        conn.execute(text("INSERT INTO minimum_metrics VALUES (1, 'test', 'auc_macro', 0.5)"))
    engine.dispose()
    _set_version(populated, 5)
    with pytest.raises(SchemaVersionError, match="run `lfl db upgrade`"):
        LandscapeStore(populated)
    engine = make_engine(populated)
    assert upgrade_schema(engine) == (5, SCHEMA_VERSION)
    engine.dispose()
    with LandscapeStore(populated) as store:
        ids, values = store.read_metrics(1, "test", "auc")
        assert ids.tolist() == [1, 2] and values[0] == 0.75 and np.isnan(values[1])
        assert store.write_metrics([1, 2], "test", "auc_macro", [0.5, 0.25]) == 2
        assert store.read_metrics(1, "test", "auc_macro")[1].tolist() == [0.5, 0.25]
    engine = make_engine(populated)
    with pytest.raises(Exception, match="(?i)check"), engine.begin() as conn:
        conn.execute(text("INSERT INTO minimum_metrics VALUES (1, 'test', 'bogus', 0.5)"))
    with engine.connect() as conn:  # the view over the metrics is back, with the new columns
        row = conn.execute(text("SELECT test_auc, test_auc_macro FROM minima_with_metrics WHERE minimum_id = 1")).one()
    engine.dispose()
    assert tuple(row) == (0.75, 0.5)
