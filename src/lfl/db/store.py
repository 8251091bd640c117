"""The one module that reads and writes the landscape database.

Usage::

    with LandscapeStore(url, create=True) as store:
        land = store.get_or_create_landscape(spec)
        result = store.ingest(land.id, minima=MinimaBatch(energies, coords), distance=system.distance)
        ktn = store.load_ktn(land.id)

Writes: one transaction per call. Writers of one landscape are serialised (SQLite: ``BEGIN
IMMEDIATE`` takes the database write lock; PostgreSQL: ``pg_advisory_xact_lock`` on the landscape),
so deduplication reads what every earlier writer committed and many processes may ingest at once.
A killed writer leaves its whole batch out; ingesting a batch again adds only what is missing.

Dedup (see :mod:`lfl.identity.dedup`): stored candidates come from one indexed range query per batch over
the energy windows of the batch (``(landscape_id, energy)`` index), never from a table scan;
comparisons are numpy. The landscape's ``symmetry_mode`` decides identity: ``energy`` by energy alone,
``raw`` by the plain Euclidean distance, ``reduced`` by the symmetry-invariant ``distance`` callable
given to :meth:`LandscapeStore.ingest` (the plain distance, with a warning, when none is given).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from lfl.db.batches import MinimaBatch, TransitionStateBatch
from lfl.identity.dedup import Distance, energy_windows, match_batch
from lfl.db.engine import ADVISORY_NAMESPACE, describe_error, is_sqlite, open_engine, writing
from lfl.db.ktn import KTN
from lfl.db.models import (
    CONNECT_OUTCOMES,
    METRICS,
    SPLITS,
    SYMMETRY_MODES,
    ConnectAttempt,
    Landscape,
    Minimum,
    MinimumCoords,
    MinimumMetric,
    TransitionState,
    TransitionStateCoords,
)
from lfl.errors import DataError, LflError

log = logging.getLogger(__name__)

DEFAULT_ENERGY_TOL = 1e-6
DEFAULT_DISTANCE_TOL = 1e-3
_ID_CHUNK = 5000  # ids per IN (...) list: far below every backend's parameter limit
# PostgreSQL types of the point columns, for binary COPY (which needs them exactly)
_PG_COPY_TYPES = {
    "id": "int8",
    "landscape_id": "int8",
    "energy": "float8",
    "coords": "bytea",
    "rms_grad": "float8",
    "n_neg_eig": "int4",
    "log_prod_pos_eig": "float8",
    "point_group_order": "int4",
    "found_by": "varchar",
    "min1_id": "int8",
    "min2_id": "int8",
    "neg_eigenvalue": "float8",
    "minimum_id": "int8",
    "ts_id": "int8",
}
# coordinate table and its key column, per point table
_COORDS_TABLES = {
    "minima": ("minimum_coords", "minimum_id"),
    "transition_states": ("transition_state_coords", "ts_id"),
}


@dataclass(frozen=True)
class LandscapeSpec:
    """Everything that defines one landscape; the name is its handle, the rest its identity."""

    name: str
    dataset: str
    data_hash: str
    n_data: int
    error_pct: float
    draw_seed: int
    architecture: tuple[int, ...]
    l2_lambda: float
    connectivity_k: int | None
    symmetry_mode: str
    n_dof: int
    energy_tol: float = DEFAULT_ENERGY_TOL
    distance_tol: float = DEFAULT_DISTANCE_TOL

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise LflError("landscape: name must be a non-empty string")
        if self.symmetry_mode not in SYMMETRY_MODES:
            raise LflError(f"landscape '{self.name}': symmetry_mode must be one of {', '.join(SYMMETRY_MODES)}")
        object.__setattr__(self, "architecture", tuple(int(n) for n in self.architecture))
        for name in ("error_pct", "l2_lambda", "energy_tol", "distance_tol"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise LflError(f"landscape '{self.name}': {name} must be a finite number >= 0, not {value}")
            object.__setattr__(self, name, value)
        for name in ("n_data", "draw_seed", "n_dof"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.n_data <= 0 or self.n_dof <= 0:
            raise LflError(f"landscape '{self.name}': n_data and n_dof must be positive")
        if self.connectivity_k is not None:
            object.__setattr__(self, "connectivity_k", int(self.connectivity_k))

    def identity(self) -> dict:
        values = asdict(self)
        del values["name"]
        values["architecture"] = list(self.architecture)
        return values

    def params_hash(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def row(self) -> dict:
        values = self.identity()
        values["architecture"] = json.dumps(values["architecture"], separators=(",", ":"))
        return {"name": self.name, "params_hash": self.params_hash(), **values}


@dataclass(frozen=True)
class LandscapeRecord:
    id: int
    spec: LandscapeSpec

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class IngestResult:
    """Ids of every batch row (aligned with the batch) and whether each row added a new point."""

    minimum_ids: np.ndarray
    minimum_is_new: np.ndarray
    ts_ids: np.ndarray
    ts_is_new: np.ndarray
    ts_min1_ids: np.ndarray
    ts_min2_ids: np.ndarray
    n_new_minima: int  # including minima added through the sides of transition states
    n_new_transition_states: int


@dataclass
class ConnectAttempts:
    min1_ids: np.ndarray
    min2_ids: np.ndarray
    outcomes: list[str]
    n_ts_found: np.ndarray
    methods: list[str | None]


def _spec_from_row(row) -> LandscapeSpec:
    names = {f.name for f in fields(LandscapeSpec)}
    values = {k: v for k, v in row._mapping.items() if k in names}
    values["architecture"] = tuple(json.loads(values["architecture"]))
    return LandscapeSpec(**values)


def _insert_for(conn: Connection):
    return sqlite_dialect.insert if is_sqlite(conn) else pg_dialect.insert


def _chunks(values: np.ndarray, size: int = _ID_CHUNK) -> Iterator[np.ndarray]:
    for start in range(0, values.size, size):
        yield values[start : start + size]


class LandscapeStore:
    """Reads and writes landscapes, stationary points, connection attempts and metrics."""

    def __init__(self, url: str, *, create: bool = False) -> None:
        self.engine = open_engine(url, create=create)
        self.url = self.engine.info_url  # password masked
        self._landscapes: dict[int, LandscapeRecord] = {}
        self._warned_plain_distance = False
        self._active: Connection | None = None  # the open transaction of transaction()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "LandscapeStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    # -- transactions --------------------------------------------------------------------------

    def transaction(self, landscape_id: int):
        """Every write inside the ``with`` block in one transaction: all of it is committed, or none
        (e.g. an exploration step's points, attempts, round record and sightings)."""
        return self._write(landscape_id)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._active is not None:  # see what this transaction wrote so far
            yield self._active
            return
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except sa_exc.DBAPIError as exc:
            raise LflError(f"database {self.url}: {describe_error(exc)}") from None

    @contextlib.contextmanager
    def _write(self, landscape_id: int | None = None) -> Iterator[Connection]:
        """One write transaction, serialised with every other writer of the landscape; inside
        :meth:`transaction`, that transaction."""
        if self._active is not None:
            yield self._active
            return
        try:
            with self.engine.connect() as conn:
                writing(conn)
                with conn.begin():
                    if landscape_id is not None and not is_sqlite(conn):
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                            {"ns": ADVISORY_NAMESPACE, "key": int(landscape_id)},
                        )
                    self._active = conn
                    try:
                        yield conn
                    finally:
                        self._active = None
        except sa_exc.IntegrityError as exc:
            raise DataError(f"database {self.url} refused the write: {describe_error(exc)}") from None
        except sa_exc.DBAPIError as exc:
            raise LflError(f"database {self.url}: {describe_error(exc)}") from None

    # -- landscapes ----------------------------------------------------------------------------

    def get_or_create_landscape(self, spec: LandscapeSpec) -> LandscapeRecord:
        """The landscape named ``spec.name``, created if missing (race-free: insert, on conflict read).

        Refuses a name already used with other parameters, and parameters stored under another name.
        """
        row = spec.row()
        with self._write() as conn:
            conn.execute(_insert_for(conn)(Landscape).values(**row).on_conflict_do_nothing())
            stored = conn.execute(select(Landscape).where(Landscape.name == spec.name)).first()
            if stored is None:
                other = conn.execute(select(Landscape.name).where(Landscape.params_hash == row["params_hash"])).scalar()
                raise LflError(f"landscape '{spec.name}': the same parameters are stored as landscape '{other}'")
            stored_spec = _spec_from_row(stored)
        if stored_spec.params_hash() != spec.params_hash():
            diffs = [
                f"{k}: stored {v!r}, given {spec.identity()[k]!r}"
                for k, v in stored_spec.identity().items()
                if spec.identity()[k] != v
            ]
            raise LflError(f"landscape '{spec.name}' exists with other parameters ({'; '.join(diffs)})")
        record = LandscapeRecord(int(stored.id), stored_spec)
        self._landscapes[record.id] = record
        return record

    def landscape(self, key: int | str) -> LandscapeRecord:
        """A landscape by id or by name (LflError when there is none)."""
        if isinstance(key, (int, np.integer)) and int(key) in self._landscapes:
            return self._landscapes[int(key)]
        column = Landscape.name if isinstance(key, str) else Landscape.id
        with self._read() as conn:
            row = conn.execute(select(Landscape).where(column == (key if isinstance(key, str) else int(key)))).first()
        if row is None:
            raise LflError(f"no landscape {key!r} in database {self.url}")
        record = LandscapeRecord(int(row.id), _spec_from_row(row))
        self._landscapes[record.id] = record
        return record

    def landscapes(self) -> list[LandscapeRecord]:
        with self._read() as conn:
            rows = conn.execute(select(Landscape).order_by(Landscape.id)).all()
        return [LandscapeRecord(int(r.id), _spec_from_row(r)) for r in rows]

    def counts(self, landscape_id: int) -> dict[str, int]:
        """Numbers of minima, transition states and connection attempts of one landscape."""
        with self._read() as conn:
            return {
                name: int(conn.execute(select(func.count()).where(model.landscape_id == landscape_id)).scalar())
                for name, model in (
                    ("minima", Minimum),
                    ("transition_states", TransitionState),
                    ("connect_attempts", ConnectAttempt),
                )
            }

    # -- ingest --------------------------------------------------------------------------------

    def ingest(
        self,
        landscape_id: int,
        *,
        minima: MinimaBatch | None = None,
        transition_states: TransitionStateBatch | None = None,
        distance: Distance | None = None,
        energy_tol: float | None = None,
        distance_tol: float | None = None,
    ) -> IngestResult:
        """Deduplicate and store a batch of minima and/or transition states in one transaction.

        The minima of transition states given as coordinates are deduplicated with the minima batch;
        integer sides are database ids (``min_refs="ids"``) or rows of ``minima`` (``"rows"``).
        ``energy_tol``/``distance_tol`` default to the landscape's own tolerances.
        """
        land = self.landscape(landscape_id)
        spec = land.spec
        energy_tol = spec.energy_tol if energy_tol is None else float(energy_tol)
        distance_tol = spec.distance_tol if distance_tol is None else float(distance_tol)
        distance = self._distance_for(spec, distance)

        minima = minima if minima is not None else MinimaBatch(np.empty(0), np.empty((0, spec.n_dof)))
        parts = [minima]
        ts = transition_states
        if ts is not None:
            for side in (ts.min1, ts.min2):
                if isinstance(side, MinimaBatch):
                    parts.append(side)
                elif ts.min_refs == "rows" and side.size and side.max() >= len(minima):
                    raise DataError(f"{ts.source}: refers to minima batch row {side.max()}, batch has {len(minima)}")
            self._check_n_dof(ts.coords, spec, ts.source)
        for part in parts:
            self._check_n_dof(part.coords, spec, part.source)

        with self._write(land.id) as conn:
            ids, is_new = self._dedup_insert_minima(conn, land, parts, energy_tol, distance_tol, distance)
            offsets = np.cumsum([0] + [len(p) for p in parts])
            minimum_ids = ids[: len(minima)]
            empty = np.empty(0, dtype=np.int64)
            ts_ids, ts_is_new, min1_ids, min2_ids = empty, np.empty(0, dtype=bool), empty, empty
            if ts is not None:
                side_ids = []
                next_part = 1
                for side in (ts.min1, ts.min2):
                    if isinstance(side, MinimaBatch):
                        side_ids.append(ids[offsets[next_part] : offsets[next_part + 1]])
                        next_part += 1
                    elif ts.min_refs == "rows":
                        side_ids.append(minimum_ids[side])
                    else:
                        self._check_minimum_ids(conn, land.id, side, ts.source)
                        side_ids.append(side)
                min1_ids, min2_ids = side_ids
                ts_ids, ts_is_new = self._dedup_insert_ts(
                    conn, land, ts, min1_ids, min2_ids, energy_tol, distance_tol, distance
                )
        return IngestResult(
            minimum_ids=minimum_ids,
            minimum_is_new=is_new[: len(minima)],
            ts_ids=ts_ids,
            ts_is_new=ts_is_new,
            ts_min1_ids=min1_ids,
            ts_min2_ids=min2_ids,
            n_new_minima=int(is_new.sum()),
            n_new_transition_states=int(ts_is_new.sum()),
        )

    def ingest_minima(self, landscape_id: int, minima: MinimaBatch, **options) -> IngestResult:
        return self.ingest(landscape_id, minima=minima, **options)

    def ingest_transition_states(
        self, landscape_id: int, transition_states: TransitionStateBatch, *, minima: MinimaBatch | None = None, **options
    ) -> IngestResult:
        return self.ingest(landscape_id, minima=minima, transition_states=transition_states, **options)

    def _distance_for(self, spec: LandscapeSpec, distance: Distance | None) -> Distance | None:
        if spec.symmetry_mode != "reduced":
            return None  # raw: plain Euclidean distance; energy: coordinates are not compared
        if distance is None and not self._warned_plain_distance:
            log.warning(
                "landscape '%s' counts symmetry-reduced minima but no symmetry-invariant distance was "
                "given: comparing plain distances",
                spec.name,
            )
            self._warned_plain_distance = True
        return distance

    @staticmethod
    def _check_n_dof(coords: np.ndarray, spec: LandscapeSpec, source: str) -> None:
        if coords.shape[1] != spec.n_dof and coords.shape[0] > 0:
            raise DataError(
                f"{source}: coordinates have {coords.shape[1]} values per row, "
                f"landscape '{spec.name}' has n_dof = {spec.n_dof}"
            )

    def _check_minimum_ids(self, conn: Connection, landscape_id: int, ids: np.ndarray, source: str) -> None:
        """One query: do all these ids name minima of the landscape? (The composite foreign keys would
        refuse them too, but could not say which id.)"""
        wanted = np.unique(np.asarray(ids, dtype=np.int64))
        if wanted.size == 0:
            return
        if is_sqlite(conn):
            sql = "SELECT id FROM minima WHERE landscape_id = ? AND id IN (SELECT value FROM json_each(?))"
            params = (int(landscape_id), json.dumps(wanted.tolist()))
            options = {}
        else:
            sql = "SELECT id FROM minima WHERE landscape_id = %s AND id = ANY(%s::bigint[])"
            params = (int(landscape_id), wanted.tolist())
            options = {"binary": True, "prepare": False}
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(sql, params, **options)
            found = np.fromiter((r[0] for r in cursor.fetchall()), dtype=np.int64)
        finally:
            cursor.close()
        missing = np.setdiff1d(wanted, found)
        if missing.size:
            raise DataError(f"{source}: minimum id {int(missing[0])} is not in landscape {landscape_id}")

    def _candidates(
        self, conn: Connection, table: str, landscape_id: int, energies: np.ndarray, energy_tol: float, with_coords: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Stored (ids, energies, coords) whose energies fall in the batch's windows: one indexed query
        (one index range probe per window), never a scan of the table."""
        lo, hi = energy_windows(energies, energy_tol)
        columns = "m.id, m.energy" + (", c.coords" if with_coords else "")
        coords_table, coords_key = _COORDS_TABLES[table]
        join = f" JOIN {coords_table} AS c ON c.{coords_key} = m.id" if with_coords else ""
        if lo.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0), None
        cursor = conn.connection.driver_connection.cursor()
        try:
            if is_sqlite(conn):
                # a temporary table of windows binds floats natively; CROSS JOIN keeps it the outer loop
                cursor.execute("CREATE TEMP TABLE IF NOT EXISTS lfl_windows (lo REAL, hi REAL)")
                cursor.execute("DELETE FROM temp.lfl_windows")
                cursor.executemany("INSERT INTO temp.lfl_windows VALUES (?, ?)", zip(lo.tolist(), hi.tolist()))
                cursor.execute(
                    f"SELECT {columns} FROM temp.lfl_windows AS w CROSS JOIN {table} AS m{join} "
                    "WHERE m.landscape_id = ? AND m.energy BETWEEN w.lo AND w.hi",
                    (landscape_id,),
                )
            else:
                # The LATERAL subquery (OFFSET 0 keeps it one) can only be planned per window: an
                # index range probe. A plain join is planned from the table statistics, and while
                # they lag behind a growing landscape (autovacuum analyses late) the planner reads
                # the whole landscape once per window instead: 100x slower. A generic (prepared)
                # plan, not knowing the number of windows, goes wrong the same way.
                cursor.execute(
                    f"SELECT {columns} FROM unnest(%s::double precision[], %s::double precision[]) AS w(lo, hi) "
                    f"CROSS JOIN LATERAL (SELECT id, energy FROM {table} WHERE landscape_id = %s "
                    f"AND energy BETWEEN w.lo AND w.hi OFFSET 0) AS m{join}",
                    (lo.tolist(), hi.tolist(), landscape_id),
                    binary=True,
                    prepare=False,
                )
            rows = cursor.fetchall()
        finally:
            cursor.close()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        stored_energies = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        coords = None
        if with_coords and rows:
            coords = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f8").reshape(len(rows), -1)
        return ids, stored_energies, coords

    def _dedup(
        self,
        conn: Connection,
        table: str,
        land: LandscapeRecord,
        energies: np.ndarray,
        coords: np.ndarray,
        energy_tol: float,
        distance_tol: float,
        distance: Distance | None,
    ):
        with_coords = land.spec.symmetry_mode != "energy"
        stored_ids, stored_e, stored_x = self._candidates(conn, table, land.id, energies, energy_tol, with_coords)
        if with_coords and stored_x is None:
            stored_x = np.empty((0, coords.shape[1]))
        match = match_batch(
            energies,
            coords if with_coords else None,
            stored_e,
            stored_x,
            energy_tol=energy_tol,
            distance_tol=distance_tol,
            distance=distance,
        )
        return stored_ids, match

    @staticmethod
    def _resolve_ids(stored_ids: np.ndarray, match, new_rows: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
        ids = np.empty(match.stored.size, dtype=np.int64)
        from_store = match.stored >= 0
        ids[from_store] = stored_ids[match.stored[from_store]]
        ids[new_rows] = new_ids
        in_batch = ~from_store
        ids[in_batch] = ids[match.batch_rep[in_batch]]
        return ids

    def _dedup_insert_minima(
        self,
        conn: Connection,
        land: LandscapeRecord,
        parts: Sequence[MinimaBatch],
        energy_tol: float,
        distance_tol: float,
        distance: Distance | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        energies = np.concatenate([p.energies for p in parts])
        coords = np.concatenate([p.coords for p in parts]) if energies.size else np.empty((0, land.spec.n_dof))
        if energies.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
        stored_ids, match = self._dedup(conn, "minima", land, energies, coords, energy_tol, distance_tol, distance)
        is_new = match.is_new
        new_rows = np.flatnonzero(is_new)
        columns: dict[str, list] = {}
        for part in parts:
            for key, values in part.column_values().items():
                columns.setdefault(key, []).extend(values)
        new_ids = self._insert_points(conn, "minima", land.id, energies, coords, new_rows, columns)
        return self._resolve_ids(stored_ids, match, new_rows, new_ids), is_new

    def _dedup_insert_ts(
        self,
        conn: Connection,
        land: LandscapeRecord,
        ts: TransitionStateBatch,
        min1_ids: np.ndarray,
        min2_ids: np.ndarray,
        energy_tol: float,
        distance_tol: float,
        distance: Distance | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(ts) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
        stored_ids, match = self._dedup(
            conn, "transition_states", land, ts.energies, ts.coords, energy_tol, distance_tol, distance
        )
        is_new = match.is_new
        new_rows = np.flatnonzero(is_new)
        columns = ts.column_values()
        columns["min1_id"] = min1_ids.tolist()
        columns["min2_id"] = min2_ids.tolist()
        new_ids = self._insert_points(conn, "transition_states", land.id, ts.energies, ts.coords, new_rows, columns)
        return self._resolve_ids(stored_ids, match, new_rows, new_ids), is_new

    @staticmethod
    def _insert_points(
        conn: Connection,
        table: str,
        landscape_id: int,
        energies: np.ndarray,
        coords: np.ndarray,
        rows: np.ndarray,
        columns: dict[str, list],
    ) -> np.ndarray:
        """Insert the chosen batch rows with ids allocated up front; returns their ids.

        Ids come from the table's own counter (SQLite: max(id) under the write lock this transaction
        holds; PostgreSQL: the id sequence), so one executemany through the driver does the insert.
        """
        if rows.size == 0:
            return np.empty(0, dtype=np.int64)
        ids = _allocate_ids(conn, table, rows.size)
        names = ["id", "landscape_id", "energy", *columns]
        selected = [[values[r] for r in rows.tolist()] for values in columns.values()]
        id_list = ids.tolist()
        records = list(zip(id_list, [landscape_id] * rows.size, energies[rows].tolist(), *selected))
        coords_table, coords_key = _COORDS_TABLES[table]
        coord_records = list(zip(id_list, [row.tobytes() for row in coords[rows]]))
        cursor = conn.connection.driver_connection.cursor()
        try:
            for target, target_names, target_records in (
                (table, names, records),
                (coords_table, [coords_key, "coords"], coord_records),
            ):
                if is_sqlite(conn):
                    placeholders = ", ".join("?" * len(target_names))
                    cursor.executemany(
                        f"INSERT INTO {target} ({', '.join(target_names)}) VALUES ({placeholders})", target_records
                    )
                else:
                    # binary COPY: PostgreSQL's bulk path, far faster than row INSERTs
                    with cursor.copy(f"COPY {target} ({', '.join(target_names)}) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types([_PG_COPY_TYPES[name] for name in target_names])
                        for record in target_records:
                            copy.write_row(record)
        finally:
            cursor.close()
        return ids

    # -- connection attempts -------------------------------------------------------------------

    def record_connect_attempt(
        self,
        landscape_id: int,
        min1_id: int,
        min2_id: int,
        outcome: str,
        *,
        n_ts_found: int = 0,
        n_minima_found: int = 0,
        method: str | None = None,
        details: dict | None = None,
        attempt_key: str | None = None,
    ) -> int | None:
        """Record one attempt to connect two minima; its id (None: an attempt with this key is recorded)."""
        ids = self.record_connect_attempts(
            landscape_id,
            [dict(min1_id=min1_id, min2_id=min2_id, outcome=outcome, n_ts_found=n_ts_found,
                  n_minima_found=n_minima_found, method=method, details=details, attempt_key=attempt_key)],
        )
        return ids[0]

    def record_connect_attempts(self, landscape_id: int, attempts: list[dict]) -> list[int | None]:
        """Record attempts (dicts of record_connect_attempt's arguments) in one transaction.

        An attempt whose ``attempt_key`` the landscape already holds is skipped (None in the returned
        ids): re-ingesting the results of a job records nothing twice.
        """
        allowed = {"min1_id", "min2_id", "outcome", "n_ts_found", "n_minima_found", "method", "details", "attempt_key"}
        for attempt in attempts:
            unknown = set(attempt) - allowed
            if unknown:
                raise DataError(f"connect attempt: unknown field(s) {', '.join(sorted(unknown))}")
            if attempt["outcome"] not in CONNECT_OUTCOMES:
                raise DataError(
                    f"connect attempt: outcome must be one of {', '.join(CONNECT_OUTCOMES)}, not {attempt['outcome']!r}"
                )
        keys = [a.get("attempt_key") for a in attempts]
        given = [k for k in keys if k is not None]
        if len(set(given)) != len(given):
            raise DataError("connect attempts: an attempt key repeats within one batch")
        ids: list[int | None] = []
        with self._write(landscape_id) as conn:
            if attempts:
                ends = np.array([[a["min1_id"], a["min2_id"]] for a in attempts], dtype=np.int64).ravel()
                self._check_minimum_ids(conn, landscape_id, ends, "connect attempt")
            known: set[str] = set()
            for start in range(0, len(given), _ID_CHUNK):
                known.update(
                    conn.execute(
                        select(ConnectAttempt.attempt_key).where(
                            ConnectAttempt.landscape_id == landscape_id,
                            ConnectAttempt.attempt_key.in_(given[start : start + _ID_CHUNK]),
                        )
                    ).scalars()
                )
            for attempt, key in zip(attempts, keys):
                if key is not None and key in known:
                    ids.append(None)
                    continue
                details = attempt.get("details")
                ids.append(
                    int(
                        conn.execute(
                            insert(ConnectAttempt)
                            .values(
                                landscape_id=landscape_id,
                                min1_id=int(attempt["min1_id"]),
                                min2_id=int(attempt["min2_id"]),
                                outcome=attempt["outcome"],
                                n_ts_found=int(attempt.get("n_ts_found", 0)),
                                n_minima_found=int(attempt.get("n_minima_found", 0)),
                                method=attempt.get("method"),
                                details=None if details is None else json.dumps(details, sort_keys=True),
                                attempt_key=key,
                            )
                            .returning(ConnectAttempt.id)
                        ).scalar_one()
                    )
                )
        skipped = sum(i is None for i in ids)
        if skipped:
            log.info("connect attempts: %d of %d already recorded (same keys), skipped", skipped, len(ids))
        return ids

    def connect_attempts(self, landscape_id: int) -> ConnectAttempts:
        with self._read() as conn:
            rows = conn.execute(
                select(ConnectAttempt.min1_id, ConnectAttempt.min2_id, ConnectAttempt.outcome, ConnectAttempt.n_ts_found,
                       ConnectAttempt.method)
                .where(ConnectAttempt.landscape_id == landscape_id)
                .order_by(ConnectAttempt.id)
            ).all()
        return ConnectAttempts(
            min1_ids=np.array([r[0] for r in rows], dtype=np.int64),
            min2_ids=np.array([r[1] for r in rows], dtype=np.int64),
            outcomes=[r[2] for r in rows],
            n_ts_found=np.array([r[3] for r in rows], dtype=np.int64),
            methods=[r[4] for r in rows],
        )

    # -- exploration rounds ----------------------------------------------------------------------

    def record_round(
        self, landscape_id: int, *, stage: str, step: str, round: int | None = None, n_tasks: int = 0,
        cpu_seconds: float = 0.0, effort: str | None = None, compile_seconds: float | None = None,
        minimum_sightings=(), ts_sightings=(),
    ) -> dict:
        """Record what the step ``(stage, step)`` added and which search sighted which point (once; a
        repeat returns the stored row and records nothing)."""
        from lfl.db.rounds import record_round

        with self._write(landscape_id) as conn:
            return record_round(conn, landscape_id, stage=stage, step=step, round=round, n_tasks=n_tasks,
                                cpu_seconds=cpu_seconds, effort=effort, compile_seconds=compile_seconds,
                                minimum_sightings=minimum_sightings, ts_sightings=ts_sightings)

    def set_saturated(self, landscape_id: int, *, stage: str, step: str, saturated: bool,
                      stopped: str | None = None) -> None:
        from lfl.db.rounds import set_saturated

        with self._write(landscape_id) as conn:
            set_saturated(conn, landscape_id, stage=stage, step=step, saturated=saturated, stopped=stopped)

    def describe_point(self, kind: str, point_id: int) -> dict:
        """Everything stored about one minimum or transition state (``kind`` "minimum" or "ts")."""
        from lfl.db.points import describe

        with self._read() as conn:
            return describe(conn, kind, point_id)

    def completeness(self, landscape_id: int) -> dict:
        """Coverage and estimated totals of minima and transition states from the independent sightings."""
        from lfl.db.rounds import landscape_completeness

        with self._read() as conn:
            return landscape_completeness(conn, landscape_id)

    def sighting_abundances(self, landscape_id: int, kind: str, *, independent_only: bool = True) -> list[int]:
        from lfl.db.rounds import sighting_abundances

        with self._read() as conn:
            return sighting_abundances(conn, landscape_id, kind, independent_only=independent_only)

    def exploration_rounds(self, landscape_id: int, stage: str | None = None) -> list[dict]:
        from lfl.db.rounds import read_rounds

        with self._read() as conn:
            return read_rounds(conn, landscape_id, stage)

    # -- metrics -------------------------------------------------------------------------------

    def write_metrics(self, minimum_ids, split: str, metric: str, values) -> int:
        """Insert or replace one metric of many minima; NaN (undefined, e.g. an empty split) -> NULL."""
        if split not in SPLITS:
            raise DataError(f"metrics: split must be one of {', '.join(SPLITS)}, not {split!r}")
        if metric not in METRICS:
            raise DataError(f"metrics: metric must be one of {', '.join(METRICS)}, not {metric!r}")
        ids = np.asarray(minimum_ids, dtype=np.int64).ravel()
        vals = np.asarray(values, dtype=np.float64).ravel()
        if ids.shape != vals.shape:
            raise DataError(f"metrics: {ids.size} minimum ids but {vals.size} values")
        if np.isinf(vals).any():
            raise DataError("metrics: values hold an infinite value")
        if ids.size == 0:
            return 0
        rows = [
            {"minimum_id": i, "split": split, "metric": metric, "value": None if math.isnan(v) else v}
            for i, v in zip(ids.tolist(), vals.tolist())
        ]
        with self._write() as conn:
            stmt = _insert_for(conn)(MinimumMetric)
            stmt = stmt.on_conflict_do_update(
                index_elements=["minimum_id", "split", "metric"], set_={"value": stmt.excluded.value}
            )
            conn.execute(stmt, rows)
        return len(rows)

    def read_metrics(self, landscape_id: int, split: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(minimum ids, values) of one metric over a landscape; NULL -> NaN."""
        with self._read() as conn:
            rows = conn.execute(
                select(MinimumMetric.minimum_id, MinimumMetric.value)
                .join(Minimum, Minimum.id == MinimumMetric.minimum_id)
                .where(Minimum.landscape_id == landscape_id, MinimumMetric.split == split, MinimumMetric.metric == metric)
                .order_by(MinimumMetric.minimum_id)
            ).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vals = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
        return ids, vals

    # -- reads ---------------------------------------------------------------------------------

    def load_ktn(self, landscape_id: int) -> KTN:
        """Every minimum and transition state of a landscape as arrays, without coordinates."""
        with self._read() as conn:
            # no ORDER BY: numpy sorts faster than the database's temporary B-tree
            minima = _fetch_tuples(conn, "SELECT id, energy FROM minima WHERE landscape_id = ?", landscape_id)
            ts = _fetch_tuples(
                conn, "SELECT id, energy, min1_id, min2_id FROM transition_states WHERE landscape_id = ?", landscape_id
            )
        m = np.array(minima, dtype=[("id", "i8"), ("e", "f8")]) if minima else np.zeros(0, [("id", "i8"), ("e", "f8")])
        t_dtype = [("id", "i8"), ("e", "f8"), ("a", "i8"), ("b", "i8")]
        t = np.array(ts, dtype=t_dtype) if ts else np.zeros(0, t_dtype)
        m = m[np.argsort(m["id"], kind="stable")]
        t = t[np.argsort(t["id"], kind="stable")]
        return KTN(
            landscape_id=int(landscape_id),
            minimum_ids=m["id"].copy(),
            minimum_energies=m["e"].copy(),
            ts_ids=t["id"].copy(),
            ts_energies=t["e"].copy(),
            ts_min1=t["a"].copy(),
            ts_min2=t["b"].copy(),
        )

    def global_minimum(self, landscape_id: int) -> tuple[int, float] | None:
        """(id, energy) of the lowest minimum (an index lookup); None for an empty landscape."""
        with self._read() as conn:
            row = conn.execute(
                select(Minimum.id, Minimum.energy)
                .where(Minimum.landscape_id == landscape_id)
                .order_by(Minimum.energy, Minimum.id)
                .limit(1)
            ).first()
        return None if row is None else (int(row[0]), float(row[1]))

    def connected_components(self, landscape_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(minimum ids, component label of each) over the transition states stored."""
        ktn = self.load_ktn(landscape_id)
        return ktn.minimum_ids, ktn.components()

    def coordinates(self, ids, *, kind: str = "minima") -> np.ndarray:
        """Coordinates (k, n_dof) of minima (``kind="minima"``) or transition states, in the order of ``ids``."""
        model = {"minima": MinimumCoords, "transition_states": TransitionStateCoords}[kind]
        key = model.minimum_id if kind == "minima" else model.ts_id
        ids = np.asarray(ids, dtype=np.int64).ravel()
        found: dict[int, bytes] = {}
        with self._read() as conn:
            for chunk in _chunks(np.unique(ids)):
                for row in conn.execute(select(key, model.coords).where(key.in_(chunk.tolist()))):
                    found[int(row[0])] = row[1]
        missing = [i for i in ids.tolist() if i not in found]
        if missing:
            raise LflError(f"no {kind} with id {missing[0]} in database {self.url}")
        if ids.size == 0:
            return np.empty((0, 0))
        return np.frombuffer(b"".join(found[i] for i in ids.tolist()), dtype="<f8").reshape(ids.size, -1)

    def point_table(self, landscape_id: int, *, kind: str = "minima") -> dict[str, np.ndarray]:
        """Every column of the minima (or transition states) of a landscape, ordered by id, with
        coordinates (k, n_dof); NULL floats -> NaN, NULL integers -> -1."""
        model = {"minima": Minimum, "transition_states": TransitionState}[kind]
        coords_model = {"minima": MinimumCoords, "transition_states": TransitionStateCoords}[kind]
        coords_key = coords_model.minimum_id if kind == "minima" else coords_model.ts_id
        names = ["id", "energy", "log_prod_pos_eig", "point_group_order", "rms_grad"]
        names += ["n_neg_eig"] if kind == "minima" else ["min1_id", "min2_id", "neg_eigenvalue"]
        with self._read() as conn:
            rows = conn.execute(
                select(*[getattr(model, n) for n in names], coords_model.coords)
                .join(coords_model, coords_key == model.id)
                .where(model.landscape_id == landscape_id)
                .order_by(model.id)
            ).all()
        names.append("coords")
        n_dof = self.landscape(landscape_id).spec.n_dof
        table: dict[str, np.ndarray] = {}
        for k, name in enumerate(names):
            column = [r[k] for r in rows]
            if name == "coords":
                table[name] = np.frombuffer(b"".join(column), dtype="<f8").reshape(len(rows), n_dof)
            elif name in ("id", "point_group_order", "n_neg_eig", "min1_id", "min2_id"):
                table[name] = np.array([-1 if v is None else v for v in column], dtype=np.int64)
            else:
                table[name] = np.array([np.nan if v is None else v for v in column], dtype=np.float64)
        return table


def _fetch_tuples(conn: Connection, sql: str, landscape_id: int) -> list[tuple]:
    """Plain tuples straight from the driver cursor (inside the connection's transaction): numpy
    turns those into arrays far faster than SQLAlchemy rows."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(_param_style(conn, sql), (int(landscape_id),))
        return cursor.fetchall()
    finally:
        cursor.close()


def _allocate_ids(conn: Connection, table: str, n: int) -> np.ndarray:
    if is_sqlite(conn):
        # BEGIN IMMEDIATE holds the database write lock: nobody else can take these ids
        top = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar()
        return np.arange(top + 1, top + 1 + n, dtype=np.int64)
    values = conn.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table, "n": n},
    ).scalars().all()
    return np.asarray(values, dtype=np.int64)


def _param_style(conn: Connection, sql: str) -> str:
    """Raw driver SQL with '?' placeholders, rewritten for psycopg ('%s')."""
    return sql if is_sqlite(conn) else sql.replace("?", "%s")


def open_store(url: str, *, create: bool = False) -> LandscapeStore:
    return LandscapeStore(url, create=create)
