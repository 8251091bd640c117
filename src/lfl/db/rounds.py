"""The exploration_rounds table: what each ingest added to a landscape (discovery curves, saturation).

A row's counts are read from the landscape's network inside the transaction that writes the row,
and its ``n_new_*`` are the differences from the landscape's previous row, so an ingest that was
killed after its commit and is run again (adding nothing) still records what the step added. A
step recorded once is never recorded again (unique stage and step).
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, update

from lfl.db.models import STAGES, ExplorationRound, Minimum, TransitionState
from lfl.errors import DataError

COUNTS = ("n_minima", "n_transition_states", "n_connections", "n_degenerate")


def network_counts(conn: Connection, landscape_id: int) -> dict[str, int]:
    """Minima, transition states, distinct joined pairs and degenerate rearrangements of one landscape."""
    ts = TransitionState
    n_minima = conn.execute(select(func.count()).where(Minimum.landscape_id == landscape_id)).scalar()
    n_ts = conn.execute(select(func.count()).where(ts.landscape_id == landscape_id)).scalar()
    n_degenerate = conn.execute(
        select(func.count()).where(ts.landscape_id == landscape_id, ts.min1_id == ts.min2_id)
    ).scalar()
    low = _least(conn, ts.min1_id, ts.min2_id)
    high = _greatest(conn, ts.min1_id, ts.min2_id)
    distinct_pairs = (
        select(low.label("a"), high.label("b"))
        .where(ts.landscape_id == landscape_id, ts.min1_id != ts.min2_id)
        .distinct()
        .subquery()
    )
    n_connections = conn.execute(select(func.count()).select_from(distinct_pairs)).scalar()
    return {"n_minima": int(n_minima), "n_transition_states": int(n_ts), "n_connections": int(n_connections),
            "n_degenerate": int(n_degenerate)}


def _least(conn: Connection, a, b):
    # SQLite's two-argument min() is its scalar least; PostgreSQL spells it LEAST
    return func.min(a, b) if conn.dialect.name == "sqlite" else func.least(a, b)


def _greatest(conn: Connection, a, b):
    return func.max(a, b) if conn.dialect.name == "sqlite" else func.greatest(a, b)


def record_round(
    conn: Connection, landscape_id: int, *, stage: str, step: str, round: int | None, n_tasks: int,
    cpu_seconds: float,
) -> dict:
    """Write the row of one step (unless it exists) and return the stored row as a dict."""
    if stage not in STAGES:
        raise DataError(f"exploration round: stage must be one of {', '.join(STAGES)}, not {stage!r}")
    table = ExplorationRound
    stored = conn.execute(
        select(table).where(table.landscape_id == landscape_id, table.stage == stage, table.step == step)
    ).first()
    if stored is None:
        after = network_counts(conn, landscape_id)
        previous = conn.execute(
            select(table).where(table.landscape_id == landscape_id).order_by(table.id.desc()).limit(1)
        ).first()
        before = {k: 0 for k in COUNTS} if previous is None else {k: getattr(previous, k) for k in COUNTS}
        new = {k.replace("n_", "n_new_", 1): after[k] - before[k] for k in COUNTS}
        conn.execute(table.__table__.insert().values(
            landscape_id=landscape_id, stage=stage, step=step, round=round, n_tasks=int(n_tasks),
            cpu_seconds=float(cpu_seconds), **after, **new,
        ))
        stored = conn.execute(
            select(table).where(table.landscape_id == landscape_id, table.stage == stage, table.step == step)
        ).first()
    return _as_dict(stored)


def set_saturated(conn: Connection, landscape_id: int, *, stage: str, step: str, saturated: bool) -> None:
    table = ExplorationRound
    conn.execute(update(table).where(table.landscape_id == landscape_id, table.stage == stage, table.step == step)
                 .values(saturated=bool(saturated)))


def read_rounds(conn: Connection, landscape_id: int, stage: str | None = None) -> list[dict]:
    """The landscape's rows in the order they were recorded."""
    table = ExplorationRound
    query = select(table).where(table.landscape_id == landscape_id)
    if stage is not None:
        query = query.where(table.stage == stage)
    return [_as_dict(row) for row in conn.execute(query.order_by(table.id)).all()]


def _as_dict(row) -> dict:
    values = dict(row._mapping)
    values.pop("created_at", None)
    return values


__all__ = ["COUNTS", "network_counts", "read_rounds", "record_round", "set_saturated"]
