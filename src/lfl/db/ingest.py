"""Ingest with deduplication, the heart of the store: batches of minima and transition states in, one
id per row out (a stored point's id when the row is a point already stored). Stored candidates come
from one indexed range query per batch over the batch's energy windows; the identity rule is
:mod:`lfl.identity.dedup`'s. Part of :class:`~lfl.db.store.LandscapeStore` (a mixin: it uses the
store's transactions and landscape records).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection, bindparam, select, update

from lfl.db.batches import MinimaBatch, TransitionStateBatch
from lfl.db.engine import is_sqlite
from lfl.db.models import Minimum, TransitionState
from lfl.db.sql import COORDS_TABLES, PG_COPY_TYPES, allocate_ids
from lfl.errors import DataError
from lfl.identity.dedup import Distance, energy_windows, match_batch

if TYPE_CHECKING:  # the store's own record types (lfl.db.store builds on this module)
    from lfl.db.store import LandscapeRecord, LandscapeSpec

log = logging.getLogger(__name__)

_POINT_TABLES = {"minima": Minimum.__table__, "transition_states": TransitionState.__table__}


def network_distance(spec: LandscapeSpec) -> Distance | None:
    """The symmetry-invariant distance of the landscape's network (``MLPSystem.distance`` without
    the data); None when its architecture does not give its ``n_dof`` weights."""
    from lfl.errors import ConfigError
    from lfl.systems.network import parse_network_spec
    from lfl.systems.symmetry import NetworkDistance

    architecture = tuple(spec.architecture)
    try:
        network = parse_network_spec({"inputs": architecture[0], "hidden": list(architecture[1:-1]),
                                      "outputs": architecture[-1], "lambda": spec.l2_lambda,
                                      "connectivity_k": spec.connectivity_k, "n_data": spec.n_data})
    except ConfigError:
        return None
    if network.layout.n_variable != spec.n_dof:
        return None
    return NetworkDistance(network.layout)


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


class IngestPoints:
    """The ingest methods of :class:`~lfl.db.store.LandscapeStore`."""

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
        if distance is None:
            distance = network_distance(spec)  # the network's own, from its shape: no data needed
        if distance is None and not self._warned_plain_distance:
            log.warning(
                "landscape '%s' counts symmetry-reduced minima but no symmetry-invariant distance was "
                "given (and its architecture does not fit its n_dof): comparing plain distances",
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
        coords_table, coords_key = COORDS_TABLES[table]
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
        ids = allocate_ids(conn, table, rows.size)
        names = ["id", "landscape_id", "energy", *columns]
        selected = [[values[r] for r in rows.tolist()] for values in columns.values()]
        id_list = ids.tolist()
        records = list(zip(id_list, [landscape_id] * rows.size, energies[rows].tolist(), *selected))
        coords_table, coords_key = COORDS_TABLES[table]
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
                        copy.set_types([PG_COPY_TYPES[name] for name in target_names])
                        for record in target_records:
                            copy.write_row(record)
        finally:
            cursor.close()
        return ids

    def ids_without_log_product(self, landscape_id: int, *, kind: str) -> np.ndarray:
        """Ids of the minima (``kind="minima"``) or transition states of a landscape stored without
        the log product of their positive Hessian eigenvalues (older versions, Lanczos checks)."""
        table = _POINT_TABLES[kind]
        with self._read() as conn:
            rows = conn.execute(select(table.c.id).where(table.c.landscape_id == landscape_id,
                                                         table.c.log_prod_pos_eig.is_(None))
                                .order_by(table.c.id)).scalars().all()
        return np.asarray(rows, dtype=np.int64)

    def set_log_products(self, landscape_id: int, *, kind: str, ids, values) -> int:
        """Store log products of points of a landscape (one transaction); NaN values are skipped.
        Only points still without one are changed: a stored value is never overwritten."""
        table = _POINT_TABLES[kind]
        ids = np.asarray(ids, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.float64).ravel()
        if ids.shape != values.shape:
            raise DataError(f"log products: {ids.size} ids but {values.size} values")
        rows = [{"point_id": i, "value": v} for i, v in zip(ids.tolist(), values.tolist()) if math.isfinite(v)]
        if not rows:
            return 0
        statement = (update(table)
                     .where(table.c.id == bindparam("point_id"), table.c.landscape_id == landscape_id,
                            table.c.log_prod_pos_eig.is_(None))
                     .values(log_prod_pos_eig=bindparam("value")))
        with self._write(landscape_id) as conn:
            changed = conn.execute(statement, rows).rowcount
        return int(changed)
