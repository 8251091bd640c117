"""Per-minimum values that analysis computes: metrics (AUC, loss, ...) per data split, and the
kinetic quantities of ``minimum_kinetics`` (barrier to the global minimum, occupation, funnel) per
temperature and funnel level; written in bulk, read as arrays. Part of
:class:`~lfl.db.store.LandscapeStore` (a mixin).
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import delete, select

from lfl.db.models import METRICS, SPLITS, Minimum, MinimumKinetics, MinimumMetric
from lfl.db.sql import insert_for
from lfl.errors import DataError


class MetricValues:
    """The per-minimum value methods of :class:`~lfl.db.store.LandscapeStore`."""

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
            stmt = insert_for(conn)(MinimumMetric)
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

    def write_minimum_kinetics(self, landscape_id: int, *, temperature: float, funnel_level: float, minimum_ids,
                               barriers, occupations, funnel_minimum_ids) -> int:
        """Replace the ``minimum_kinetics`` rows of a landscape at this temperature and funnel level
        (one transaction); a NaN barrier (no path to the global minimum) is stored as NULL."""
        ids = np.asarray(minimum_ids, dtype=np.int64).ravel()
        barriers = np.asarray(barriers, dtype=np.float64).ravel()
        occupations = np.asarray(occupations, dtype=np.float64).ravel()
        funnel_ids = np.asarray(funnel_minimum_ids, dtype=np.int64).ravel()
        if not (ids.shape == barriers.shape == occupations.shape == funnel_ids.shape):
            raise DataError(f"minimum kinetics: {ids.size} minimum ids but {barriers.size} barriers, "
                            f"{occupations.size} occupations, {funnel_ids.size} funnels")
        if not (math.isfinite(temperature) and temperature > 0):
            raise DataError(f"minimum kinetics: temperature must be > 0, got {temperature}")
        rows = [
            {"minimum_id": i, "temperature": float(temperature), "funnel_level": float(funnel_level),
             "barrier_to_global": None if math.isnan(b) else b, "occupation": p, "funnel_minimum_id": f}
            for i, b, p, f in zip(ids.tolist(), barriers.tolist(), occupations.tolist(), funnel_ids.tolist())
        ]
        with self._write(landscape_id) as conn:
            of_landscape = select(Minimum.id).where(Minimum.landscape_id == landscape_id)
            conn.execute(delete(MinimumKinetics).where(
                MinimumKinetics.minimum_id.in_(of_landscape), MinimumKinetics.temperature == float(temperature),
                MinimumKinetics.funnel_level == float(funnel_level)))
            if rows:
                conn.execute(MinimumKinetics.__table__.insert(), rows)
        return len(rows)
