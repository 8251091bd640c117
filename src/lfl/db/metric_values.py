"""Per-minimum metrics (AUC, loss, ...) per data split: written in bulk, read as arrays. Part of
:class:`~lfl.db.store.LandscapeStore` (a mixin).
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import select

from lfl.db.models import METRICS, SPLITS, Minimum, MinimumMetric
from lfl.db.sql import insert_for
from lfl.errors import DataError


class MetricValues:
    """The metric values methods of :class:`~lfl.db.store.LandscapeStore`."""

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
