"""One stationary point, everything the database knows of it (for `lfl db show`): its row, its
coordinates, the transition states around a minimum (or the two minima of a transition state), its
metrics and which searches sighted it how often."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, or_, select

from lfl.db.models import (
    ExplorationRound,
    Minimum,
    MinimumCoords,
    MinimumMetric,
    MinimumSighting,
    TransitionState,
    TransitionStateCoords,
    TransitionStateSighting,
)
from lfl.errors import LflError

KINDS = ("minimum", "ts")


def describe(conn: Connection, kind: str, point_id: int) -> dict:
    """{"row", "coords", "neighbours" | "ends", "metrics", "sightings"} of one minimum or transition state."""
    if kind not in KINDS:
        raise LflError(f"point kind must be one of {', '.join(KINDS)}, not {kind!r}")
    model, coords_model, coords_key, sighting, sighting_key = (
        (Minimum, MinimumCoords, MinimumCoords.minimum_id, MinimumSighting, MinimumSighting.minimum_id)
        if kind == "minimum" else
        (TransitionState, TransitionStateCoords, TransitionStateCoords.ts_id, TransitionStateSighting,
         TransitionStateSighting.ts_id))
    row = conn.execute(select(model).where(model.id == int(point_id))).first()
    if row is None:
        raise LflError(f"no {'minimum' if kind == 'minimum' else 'transition state'} with id {point_id}")
    blob = conn.execute(select(coords_model.coords).where(coords_key == int(point_id))).scalar_one()
    found = conn.execute(
        select(ExplorationRound.stage, ExplorationRound.step, sighting.search, sighting.n, sighting.independent)
        .join(ExplorationRound, ExplorationRound.id == sighting.round_id)
        .where(sighting_key == int(point_id)).order_by(ExplorationRound.id, sighting.search)
    ).all()
    details = {
        "row": {k: v for k, v in row._mapping.items() if k != "created_at"} | {"created_at": str(row.created_at)},
        "coords": np.frombuffer(blob, dtype="<f8").copy(),
        "sightings": [tuple(r) for r in found],
    }
    if kind == "minimum":
        ts = TransitionState
        around = conn.execute(
            select(ts.id, ts.energy, ts.min1_id, ts.min2_id).where(or_(ts.min1_id == point_id, ts.min2_id == point_id))
            .order_by(ts.energy, ts.id)
        ).all()
        energies = dict(conn.execute(
            select(Minimum.id, Minimum.energy).where(Minimum.id.in_(
                {r.min1_id for r in around} | {r.min2_id for r in around}))).all())
        details["neighbours"] = [
            (int(r.id), float(r.energy), int(r.min2_id if r.min1_id == point_id else r.min1_id),
             float(energies[r.min2_id if r.min1_id == point_id else r.min1_id])) for r in around]
        details["metrics"] = {(r.split, r.metric): r.value for r in conn.execute(
            select(MinimumMetric.split, MinimumMetric.metric, MinimumMetric.value)
            .where(MinimumMetric.minimum_id == int(point_id)).order_by(MinimumMetric.split, MinimumMetric.metric))}
    else:
        ends = conn.execute(select(Minimum.id, Minimum.energy).where(
            Minimum.id.in_([row.min1_id, row.min2_id]))).all()
        energies = {int(i): float(e) for i, e in ends}
        details["ends"] = [(int(row.min1_id), energies[int(row.min1_id)]), (int(row.min2_id), energies[int(row.min2_id)])]
    return details


__all__ = ["KINDS", "describe"]
