"""One SQLAlchemy URL -> an engine with the right settings, and the schema version check.

SQLite (the default): WAL journal (set once, when the file is created: it is persistent), foreign
keys on, a long busy timeout, ``synchronous=NORMAL`` (safe against a killed process in WAL mode).
pysqlite's own transaction handling is switched off so that we emit ``BEGIN`` ourselves: writers
start with ``BEGIN IMMEDIATE`` (the database write lock at once, so dedup reads and inserts are one
serialised unit), readers with a plain deferred ``BEGIN``.

PostgreSQL: ``postgresql://`` means psycopg 3. Writers of one landscape are serialised by
``pg_advisory_xact_lock`` (see :mod:`lfl.db.store`).

Schema versions: :data:`SCHEMA_VERSION` is the version this code reads and writes. A database of
another version is refused, untouched; ``lfl db upgrade`` applies the steps in :data:`UPGRADES`
(``UPGRADES[v]`` turns version v into v + 1) in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from lfl.db.models import LFL_TABLES, Base, SchemaVersion
from lfl.db.views import create_views, drop_views
from lfl.errors import LflError
from lfl.logs import mask_url

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6


def _add_attempt_keys(conn: Connection) -> None:
    """1 -> 2: connect_attempts.attempt_key, unique per landscape (idempotent connection ingest)."""
    conn.execute(text("ALTER TABLE connect_attempts ADD COLUMN attempt_key VARCHAR(200)"))
    conn.execute(text("CREATE UNIQUE INDEX uq_connect_attempts_key ON connect_attempts (landscape_id, attempt_key)"))


def _add_exploration_rounds(conn: Connection) -> None:
    """2 -> 3: exploration_rounds (what each ingest added; discovery curves and saturation)."""
    from lfl.db.models import ExplorationRound

    ExplorationRound.__table__.create(conn)


def _add_sightings(conn: Connection) -> None:
    """3 -> 4: sightings of every point by every search, and the effort, compile time, stop reason and
    completeness estimates of each exploration round (NULL for the rounds recorded before)."""
    from sqlalchemy import inspect

    from lfl.db.models import ROUND_V4_COLUMNS, ExplorationRound, MinimumSighting, TransitionStateSighting

    # a version-2 database got exploration_rounds from step 2 -> 3 as this code defines it, columns included
    present = {column["name"] for column in inspect(conn).get_columns("exploration_rounds")}
    for name in ROUND_V4_COLUMNS:
        if name not in present:
            kind = ExplorationRound.__table__.c[name].type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE exploration_rounds ADD COLUMN {name} {kind}"))
    MinimumSighting.__table__.create(conn, checkfirst=True)
    TransitionStateSighting.__table__.create(conn, checkfirst=True)


def _add_minimum_kinetics(conn: Connection) -> None:
    """4 -> 5: minimum_kinetics (barriers, occupations and funnels from ``lfl analyse kinetics``). The
    log products of transition states stored before are NULL; ``lfl db upgrade --landscape-definition``
    fills them from the stored coordinates."""
    from lfl.db.models import MinimumKinetics

    MinimumKinetics.__table__.create(conn, checkfirst=True)


def _allow_macro_auc(conn: Connection) -> None:
    """5 -> 6: minimum_metrics accepts the metric ``auc_macro`` (the macro one-vs-rest AUC, stored next
    to ``auc`` of the reference class); ``lfl analyse metrics`` scores it for the minima scored before."""
    from lfl.db.models import METRICS, MinimumMetric, _in

    if is_sqlite(conn):  # SQLite cannot alter a CHECK constraint: the table is rebuilt, its rows copied
        conn.execute(text("ALTER TABLE minimum_metrics RENAME TO minimum_metrics_v5"))
        MinimumMetric.__table__.create(conn)
        conn.execute(text("INSERT INTO minimum_metrics (minimum_id, split, metric, value) "
                          "SELECT minimum_id, split, metric, value FROM minimum_metrics_v5"))
        conn.execute(text("DROP TABLE minimum_metrics_v5"))
        return
    conn.execute(text("ALTER TABLE minimum_metrics DROP CONSTRAINT ck_minimum_metrics_metric"))
    conn.execute(text(f"ALTER TABLE minimum_metrics ADD CONSTRAINT ck_minimum_metrics_metric CHECK ({_in('metric', METRICS)})"))


# UPGRADES[v](conn) turns a version-v schema into version v + 1 (inside one transaction).
UPGRADES: dict[int, Callable[[Connection], None]] = {1: _add_attempt_keys, 2: _add_exploration_rounds,
                                                     3: _add_sightings, 4: _add_minimum_kinetics,
                                                     5: _allow_macro_auc}

SQLITE_BUSY_TIMEOUT_S = 300.0
PG_CONNECT_TIMEOUT_S = 10
# first key of the two-int advisory locks (b"lfl" as an integer): keeps clear of other applications
ADVISORY_NAMESPACE = 0x6C666C
_INIT_LOCK = 0  # second key of the lock that serialises schema creation


class SchemaVersionError(LflError):
    """The database was written by another schema version of lfl."""


def parse_url(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise LflError(f"not a database URL: {mask_url(str(url))} ({exc})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise LflError(f"unsupported database {mask_url(str(url))}: use sqlite:/// or postgresql://")
    return parsed


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database)."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str | URL, *, create: bool = False) -> Engine:
    """An engine for ``url``. A SQLite file must exist unless ``create`` (then its folder is made)."""
    parsed = parse_url(url)
    shown = mask_url(parsed.render_as_string(hide_password=False))
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.exists():
                raise LflError(f"no database at {shown} (file {path} does not exist; run `lfl db init`)")
        kwargs: dict = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        if path is None:
            kwargs["poolclass"] = StaticPool  # one shared connection: an in-memory DB lives in it
            kwargs["connect_args"]["check_same_thread"] = False
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
    else:
        engine = create_engine(parsed, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
    engine.info_url = shown  # type: ignore[attr-defined]
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # autocommit at the driver level: we emit BEGIN ourselves (see the "begin" listener)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("lfl_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writing(conn: Connection) -> Connection:
    """Mark a connection as a writer (SQLite: its transactions start with BEGIN IMMEDIATE)."""
    return conn.execution_options(lfl_write=True)


def describe_error(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's boilerplate."""
    orig = getattr(exc, "orig", None) or exc
    message = str(orig).strip().splitlines()
    return message[0] if message else type(orig).__name__


def _read_version(conn: Connection) -> int | None:
    """The schema version, or None for a database without any lfl table; refuse foreign databases."""
    tables = set(inspect(conn).get_table_names())
    if SchemaVersion.__tablename__ not in tables:
        ours = sorted(tables & set(LFL_TABLES))
        if ours:
            raise LflError(f"database holds lfl tables ({', '.join(ours)}) but no schema_version: not usable")
        return None
    version = conn.execute(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).limit(1)).scalar()
    if version is None:
        raise LflError("database has an empty schema_version table: not usable")
    return int(version)


def _refuse_other_version(version: int, shown: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"database {shown} has schema version {version}, newer than this lfl's {SCHEMA_VERSION}: "
            "upgrade lfl to use it"
        )
    if version < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"database {shown} has schema version {version}, older than this lfl's {SCHEMA_VERSION}: "
            "run `lfl db upgrade` (after a backup)"
        )


def _lock_schema(conn: Connection) -> None:
    if not is_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": ADVISORY_NAMESPACE, "key": _INIT_LOCK})


def _create_schema(conn: Connection) -> None:
    Base.metadata.create_all(conn)
    create_views(conn)
    conn.execute(SchemaVersion.__table__.insert().values(version=SCHEMA_VERSION))


def _sqlite_journal_wal(engine: Engine) -> None:
    """Switch a SQLite file to WAL (persistent); outside any transaction, on a raw connection."""
    if sqlite_path(engine.url) is None:
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()
    finally:
        raw.close()


def check_schema(engine: Engine, *, create: bool = False) -> int:
    """Verify that the database has this code's schema version; with ``create``, make an empty one.

    Returns the version. Raises LflError (one line) for an unreachable server, a file that is not a
    database, a database without the lfl schema (unless ``create``) or of another version; a refused
    database is left untouched.
    """
    shown = engine.info_url  # type: ignore[attr-defined]
    try:
        if create and is_sqlite(engine):
            path = sqlite_path(engine.url)
            if path is not None and (not path.exists() or path.stat().st_size == 0):
                _sqlite_journal_wal(engine)
        with engine.connect() as conn:
            if create:
                writing(conn)
            with conn.begin():
                if create:
                    _lock_schema(conn)
                version = _read_version(conn)
                if version is None:
                    if not create:
                        raise LflError(f"database {shown} has no lfl schema: run `lfl db init`")
                    _create_schema(conn)
                    log.info("created lfl schema version %d in %s", SCHEMA_VERSION, shown)
                    version = SCHEMA_VERSION
                _refuse_other_version(version, shown)
        if is_sqlite(engine):
            _sqlite_journal_wal(engine)  # a no-op for files lfl created; fixes copies made in another mode
        return version
    except LflError:
        raise
    except sa_exc.DBAPIError as exc:
        raise LflError(f"cannot use database {shown}: {describe_error(exc)}") from None


def database_version(engine: Engine) -> int | None:
    """The schema version stored in the database (None: no lfl schema), without judging it."""
    try:
        with engine.connect() as conn, conn.begin():
            return _read_version(conn)
    except sa_exc.DBAPIError as exc:
        raise LflError(f"cannot use database {engine.info_url}: {describe_error(exc)}") from None  # type: ignore[attr-defined]


def upgrade_schema(engine: Engine) -> tuple[int, int]:
    """Apply the upgrade steps from the stored version to :data:`SCHEMA_VERSION`, in one transaction.

    Returns (old version, new version). A newer database is refused; an up-to-date one is left alone.
    """
    shown = engine.info_url  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            writing(conn)
            with conn.begin():
                _lock_schema(conn)
                old = _read_version(conn)
                if old is None:
                    raise LflError(f"database {shown} has no lfl schema: run `lfl db init`")
                if old > SCHEMA_VERSION:
                    _refuse_other_version(old, shown)
                if old == SCHEMA_VERSION:
                    return old, old
                missing = [v for v in range(old, SCHEMA_VERSION) if v not in UPGRADES]
                if missing:
                    raise LflError(f"no upgrade step from schema version {missing[0]} to {missing[0] + 1}")
                drop_views(conn)
                for version in range(old, SCHEMA_VERSION):
                    log.info("upgrading %s from schema version %d to %d", shown, version, version + 1)
                    UPGRADES[version](conn)
                    conn.execute(SchemaVersion.__table__.insert().values(version=version + 1))
                create_views(conn)
                return old, SCHEMA_VERSION
    except LflError:
        raise
    except sa_exc.DBAPIError as exc:
        raise LflError(f"cannot upgrade database {shown}: {describe_error(exc)}") from None


def open_engine(url: str | URL, *, create: bool = False) -> Engine:
    """An engine for ``url`` whose schema has been checked (and created, with ``create``)."""
    engine = make_engine(url, create=create)
    try:
        check_schema(engine, create=create)
    except BaseException:
        engine.dispose()
        raise
    return engine
