"""What was searched and how much is left: connection attempts, exploration rounds with their
sightings and completeness estimates, and the per-point account of :meth:`describe_point`. Part of
:class:`~lfl.db.store.LandscapeStore` (a mixin).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert, select

from lfl.db.models import CONNECT_OUTCOMES, ConnectAttempt
from lfl.db.sql import ID_CHUNK
from lfl.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class ConnectAttempts:
    min1_ids: np.ndarray
    min2_ids: np.ndarray
    outcomes: list[str]
    n_ts_found: np.ndarray
    methods: list[str | None]


class SearchLog:
    """The search log methods of :class:`~lfl.db.store.LandscapeStore`."""

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
            for start in range(0, len(given), ID_CHUNK):
                known.update(
                    conn.execute(
                        select(ConnectAttempt.attempt_key).where(
                            ConnectAttempt.landscape_id == landscape_id,
                            ConnectAttempt.attempt_key.in_(given[start : start + ID_CHUNK]),
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
