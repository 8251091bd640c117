"""The exploration_rounds table: what each ingest added to a landscape (discovery curves, saturation),
and the sightings tables: which search found which point how often in that step.

A row's counts are read from the landscape's network inside the transaction that writes the row,
and its ``n_new_*`` are the differences from the landscape's previous row, so an ingest that was
killed after its commit and is run again (adding nothing) still records what the step added. A
step recorded once is never recorded again (unique stage and step), nor are its sightings: they are
written with the row, in its transaction. Deduplication gives the same ids on a rerun, so the
sightings of a rerun step are those of the step.

Each row also carries the completeness estimates (:mod:`lfl.explore.completeness`) over every
independent sighting of the landscape up to and including the step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import Connection, func, select, update

from lfl.db.models import (
    INDEPENDENT_SEARCHES,
    SEARCHES,
    STAGES,
    ExplorationRound,
    Minimum,
    MinimumSighting,
    TransitionState,
    TransitionStateSighting,
)
from lfl.errors import DataError

COUNTS = ("n_minima", "n_transition_states", "n_connections", "n_degenerate")
Sightings = Iterable[tuple[int, str]]  # (point id, search) once per sighting


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
    cpu_seconds: float, effort: str | None = None, compile_seconds: float | None = None,
    minimum_sightings: Sightings = (), ts_sightings: Sightings = (),
) -> dict:
    """Write the row of one step with its sightings (unless the step exists) and return the stored row."""
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
        row_id = conn.execute(table.__table__.insert().values(
            landscape_id=landscape_id, stage=stage, step=step, round=round, n_tasks=int(n_tasks),
            cpu_seconds=float(cpu_seconds), effort=effort,
            compile_seconds=None if compile_seconds is None else float(compile_seconds), **after, **new,
        ).returning(table.id)).scalar_one()
        for kind, sightings in (("minimum", minimum_sightings), ("transition_state", ts_sightings)):
            _write_sightings(conn, row_id, kind, sightings)
        estimates = landscape_completeness(conn, landscape_id)
        conn.execute(update(table).where(table.id == row_id).values(**_estimate_columns(estimates, after)))
        stored = conn.execute(select(table).where(table.id == row_id)).first()
    return _as_dict(stored)


def _write_sightings(conn: Connection, round_id: int, kind: str, sightings: Sightings) -> None:
    counts = Counter((int(point), str(search)) for point, search in sightings)
    bad = sorted({search for _, search in counts} - set(SEARCHES))
    if bad:
        raise DataError(f"sightings: search must be one of {', '.join(SEARCHES)}, not {bad[0]!r}")
    if not counts:
        return
    table, key = (MinimumSighting, "minimum_id") if kind == "minimum" else (TransitionStateSighting, "ts_id")
    independent = INDEPENDENT_SEARCHES[kind]
    conn.execute(table.__table__.insert(), [
        {"round_id": round_id, key: point, "search": search, "n": n, "independent": search in independent}
        for (point, search), n in sorted(counts.items())
    ])


def sighting_abundances(conn: Connection, landscape_id: int, kind: str, *, independent_only: bool = True) -> list[int]:
    """How often each point of the landscape was sighted (independent draws only, by default)."""
    table, key = (MinimumSighting, MinimumSighting.minimum_id) if kind == "minimum" else (
        TransitionStateSighting, TransitionStateSighting.ts_id)
    query = (select(key, func.sum(table.n)).join(ExplorationRound, ExplorationRound.id == table.round_id)
             .where(ExplorationRound.landscape_id == landscape_id).group_by(key))
    if independent_only:
        query = query.where(table.independent.is_(True))
    return [int(n) for _, n in conn.execute(query).all()]


def landscape_completeness(conn: Connection, landscape_id: int) -> dict:
    """{"minimum": Completeness, "transition_state": Completeness} over the independent sightings."""
    from lfl.explore.completeness import completeness

    return {kind: completeness(sighting_abundances(conn, landscape_id, kind)) for kind in INDEPENDENT_SEARCHES}


def _estimate_columns(estimates: dict, counts: dict) -> dict:
    """The row's completeness columns. The estimated total is the points stored plus the points that
    the independent draws estimate unseen (Chao1 minus the distinct points drawn): points that only
    planned searches found are known to exist, and Chao1 counts only what the draws can reach."""
    def finite(value: float) -> float | None:
        return None if value != value or value in (float("inf"), float("-inf")) else float(value)

    columns = {}
    for kind, prefix, draws, stored in (("minimum", "minima", "n_minimum_draws", "n_minima"),
                                        ("transition_state", "transition_states", "n_transition_state_draws",
                                         "n_transition_states")):
        c = estimates[kind]
        columns[draws] = c.n_draws
        # no draws: nothing is known about coverage or totals (NULL, not a misleading 0)
        columns[f"{prefix}_coverage"] = finite(c.coverage) if c.n_draws else None
        for name in ("estimate", "estimate_low", "estimate_high"):
            unseen = getattr(c, name) - c.n_observed
            columns[f"{prefix}_{name}"] = finite(counts[stored] + unseen) if c.n_draws else None
    return columns


def set_saturated(conn: Connection, landscape_id: int, *, stage: str, step: str, saturated: bool,
                  stopped: str | None = None) -> None:
    table = ExplorationRound
    conn.execute(update(table).where(table.landscape_id == landscape_id, table.stage == stage, table.step == step)
                 .values(saturated=bool(saturated), stopped=stopped))


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


__all__ = ["COUNTS", "landscape_completeness", "network_counts", "read_rounds", "record_round", "set_saturated",
           "sighting_abundances"]
