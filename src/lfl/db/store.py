"""The one face that reads and writes the landscape database: :class:`LandscapeStore`.

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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import numpy as np
from sqlalchemy import Connection, func, select, text
from sqlalchemy import exc as sa_exc

from lfl.db.engine import ADVISORY_NAMESPACE, describe_error, is_sqlite, open_engine, writing
from lfl.db.ingest import IngestPoints
from lfl.db.ktn_reads import KTNReads
from lfl.db.metric_values import MetricValues
from lfl.db.models import (
    SYMMETRY_MODES,
    ConnectAttempt,
    Landscape,
    Minimum,
    TransitionState,
)
from lfl.db.search_log import SearchLog
from lfl.db.sql import insert_for
from lfl.errors import DataError, LflError

log = logging.getLogger(__name__)

DEFAULT_ENERGY_TOL = 1e-6
DEFAULT_DISTANCE_TOL = 1e-3
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


def _spec_from_row(row) -> LandscapeSpec:
    names = {f.name for f in fields(LandscapeSpec)}
    values = {k: v for k, v in row._mapping.items() if k in names}
    values["architecture"] = tuple(json.loads(values["architecture"]))
    return LandscapeSpec(**values)


class LandscapeStore(IngestPoints, SearchLog, MetricValues, KTNReads):
    """Reads and writes landscapes, stationary points, connection attempts and metrics: one face over
    parts with their own reasons to change (:mod:`.ingest`: ingest and deduplication;
    :mod:`.search_log`: attempts, rounds, sightings; :mod:`.metric_values`; :mod:`.ktn_reads`). This
    class holds the connection, the transactions and the landscapes' records."""

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
            conn.execute(insert_for(conn)(Landscape).values(**row).on_conflict_do_nothing())
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


    # -- connection attempts -------------------------------------------------------------------


    # -- exploration rounds ----------------------------------------------------------------------


    # -- metrics -------------------------------------------------------------------------------


    # -- reads ---------------------------------------------------------------------------------


def open_store(url: str, *, create: bool = False) -> LandscapeStore:
    return LandscapeStore(url, create=create)
