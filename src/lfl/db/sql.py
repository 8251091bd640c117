"""SQL pieces the store's parts share: driver-level helpers that both backends need in their own
dialect, id allocation, the tables of point coordinates and the PostgreSQL COPY types."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from lfl.db.engine import is_sqlite

ID_CHUNK = 5000  # ids per IN (...) list: far below every backend's parameter limit
# PostgreSQL types of the point columns, for binary COPY (which needs them exactly)
PG_COPY_TYPES = {
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
COORDS_TABLES = {
    "minima": ("minimum_coords", "minimum_id"),
    "transition_states": ("transition_state_coords", "ts_id"),
}


def insert_for(conn: Connection):
    """The dialect's INSERT (for ON CONFLICT clauses)."""
    return sqlite_dialect.insert if is_sqlite(conn) else pg_dialect.insert


def chunks(values: np.ndarray, size: int = ID_CHUNK) -> Iterator[np.ndarray]:
    for start in range(0, values.size, size):
        yield values[start : start + size]


def allocate_ids(conn: Connection, table: str, n: int) -> np.ndarray:
    if is_sqlite(conn):
        # BEGIN IMMEDIATE holds the database write lock: nobody else can take these ids
        top = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar()
        return np.arange(top + 1, top + 1 + n, dtype=np.int64)
    values = conn.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table, "n": n},
    ).scalars().all()
    return np.asarray(values, dtype=np.int64)


def fetch_tuples(conn: Connection, sql: str, landscape_id: int) -> list[tuple]:
    """Plain tuples straight from the driver cursor (inside the connection's transaction): numpy
    turns those into arrays far faster than SQLAlchemy rows."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(param_style(conn, sql), (int(landscape_id),))
        return cursor.fetchall()
    finally:
        cursor.close()


def param_style(conn: Connection, sql: str) -> str:
    """Raw driver SQL with '?' placeholders, rewritten for psycopg ('%s')."""
    return sql if is_sqlite(conn) else sql.replace("?", "%s")
