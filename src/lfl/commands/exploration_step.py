"""One exploration step into the database, whole or not at all: its points, attempts, round record
and sightings in one transaction (connection rounds and refinement rounds).

A step's results are :class:`~lfl.explore.connection_files.ConnectionRecords`: one row per attempt
(``attempt_*``, with ``attempt_task``/``attempt_mode`` for refinement tasks), one per transition
state (``ts_*`` with its two sides), and for refinement rounds one per random-start quench
(``quench_*``). Every point found is sighted by the search of the task that found it
(:data:`~lfl.explore.refinement_strategy.TASK_SEARCH`); a transition state's sides are sighted by
the same search.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

def effort_key(*settings: dict) -> str:
    """A short hash of the settings behind a step: steps of other settings are other steps."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _column(records: list, name: str) -> np.ndarray:
    return np.concatenate([r.arrays[name] for r in records])


def _column_or_nan(records: list, name: str, like: str) -> np.ndarray:
    """A column that files of older lfl versions lack: NaN (stored as NULL) there."""
    return np.concatenate([r.arrays[name] if name in r.arrays else np.full(r.arrays[like].shape[0], np.nan)
                           for r in records])


def _ts_searches(records: list) -> list[str]:
    from lfl.explore.refinement_strategy import TASK_KINDS, TASK_SEARCH

    searches = []
    for r in records:
        if "attempt_task" not in r.arrays:
            searches.extend(["connect"] * r.n_transition_states)
            continue
        codes = r.arrays["attempt_task"][r.arrays["ts_attempt"]]
        searches.extend(TASK_SEARCH[TASK_KINDS[int(c)]] for c in codes)
    return searches


def transition_state_batch(records: list, n_dof: int, *, found_by: str, source: str):
    """The transition states of the records, each with its two pushed-off minima."""
    from lfl.db.batches import MinimaBatch, TransitionStateBatch

    def side(which):
        return MinimaBatch(
            energies=_column(records, f"{which}_energy"),
            coords=_column(records, f"{which}_coords").reshape(-1, n_dof),
            rms_grad=_column(records, f"{which}_rms_gradient"),
            n_neg_eig=_column(records, f"{which}_n_negative"),
            log_prod_pos_eig=_column(records, f"{which}_log_prod_positive"),
            found_by=f"{found_by} push-off",
            source=f"{which} sides of {source}",
        )

    return TransitionStateBatch(
        energies=_column(records, "ts_energy"), coords=_column(records, "ts_coords").reshape(-1, n_dof),
        min1=side("minus"), min2=side("plus"), neg_eigenvalue=_column(records, "ts_eigenvalue"),
        rms_grad=_column(records, "ts_rms_gradient"),
        log_prod_pos_eig=_column_or_nan(records, "ts_log_prod_positive", like="ts_energy"),
        found_by=found_by, source=source,
    )


def quench_batch(records: list, n_dof: int, *, source: str):
    """The verified minima of random-start quenches in the records (None when there are none)."""
    from lfl.db.batches import MinimaBatch

    with_quenches = [r for r in records if "quench_energy" in r.arrays and r.arrays["quench_energy"].size]
    if not with_quenches:
        return None
    return MinimaBatch(
        energies=_column(with_quenches, "quench_energy"),
        coords=_column(with_quenches, "quench_coords").reshape(-1, n_dof),
        rms_grad=_column(with_quenches, "quench_rms_gradient"),
        n_neg_eig=_column(with_quenches, "quench_n_negative"),
        log_prod_pos_eig=_column(with_quenches, "quench_log_prod_positive"),
        found_by="random-start quench", source=source,
    )


def attempt_label(record, k: int, effort: str | None) -> tuple[str, str]:
    """(method, attempt key) of attempt k: single-ended searches along a mode are keyed by minimum and
    mode (each is searched once, ever), every other attempt by its step and position."""
    from lfl.explore.refinement_strategy import SINGLE_ENDED_METHOD, TASK_KINDS

    a, meta = record.arrays, record.metadata
    min1, min2 = int(a["attempt_min1"][k]), int(a["attempt_min2"][k])
    if "attempt_task" not in a:
        origin = f"round {meta.get('round')} job {meta.get('job')}/{meta.get('jobs')}"
        return "dneb+hybrid-ef", f"{origin} pair {k}: {min1}-{min2}"
    kind = TASK_KINDS[int(a["attempt_task"][k])]
    if kind == "single_ended":
        mode = int(a["attempt_mode"][k])
        return SINGLE_ENDED_METHOD.format(mode=mode), f"single-ended minimum {min1} mode {mode}"
    origin = f"{meta.get('stage', 'refine')} {effort} round {meta.get('round')}"
    method = {"connect": "dneb+hybrid-ef", "random_direction": "random-direction hybrid-ef"}.get(
        kind, f"{kind.replace('_', '-')} dneb+hybrid-ef")
    return method, f"{origin} task {int(a['attempt_index'][k])}: {min1}-{min2}"


def attempt_rows(records: list, effort: str | None = None) -> list[dict]:
    from lfl.explore.connection_files import OUTCOMES

    rows = []
    for r in records:
        a, meta = r.arrays, r.metadata
        for k in range(r.n_attempts):
            method, key = attempt_label(r, k, effort)
            rows.append(dict(
                min1_id=int(a["attempt_min1"][k]), min2_id=int(a["attempt_min2"][k]),
                outcome=OUTCOMES[int(a["attempt_outcome"][k])],
                n_ts_found=int(a["attempt_n_ts"][k]), n_minima_found=int(a["attempt_n_minima"][k]),
                method=method, details={"round": meta.get("round"), "seconds": float(a["attempt_seconds"][k])},
                attempt_key=key,
            ))
    return rows


def ingest_step(store, landscape_id: int, records: list, *, n_dof: int, distance, stage: str, step: str,
                round_: int | None, effort: str | None, n_tasks: int, cpu_seconds: float,
                compile_seconds: float | None, found_by: str, source: str) -> tuple[dict, dict]:
    """Points, attempts, the round row and its sightings in one transaction: (round row, counts).
    ``distance`` is the landscape's symmetry-invariant distance (None: a step that found no point
    needs none)."""
    n_ts = sum(r.n_transition_states for r in records)
    quenched = quench_batch(records, n_dof, source=source)
    minimum_sightings: list[tuple[int, str]] = []
    ts_sightings: list[tuple[int, str]] = []
    n_new = {"minima": 0, "transition_states": 0}
    with store.transaction(landscape_id):
        if n_ts:
            batch = transition_state_batch(records, n_dof, found_by=found_by, source=source)
            result = store.ingest(landscape_id, transition_states=batch, distance=distance)
            searches = _ts_searches(records)
            ts_sightings = list(zip(result.ts_ids.tolist(), searches))
            minimum_sightings = (list(zip(result.ts_min1_ids.tolist(), searches))
                                 + list(zip(result.ts_min2_ids.tolist(), searches)))
            n_new["minima"] += result.n_new_minima
            n_new["transition_states"] += result.n_new_transition_states
        if quenched is not None:
            result = store.ingest(landscape_id, minima=quenched, distance=distance)
            minimum_sightings += [(i, "random-start") for i in result.minimum_ids.tolist()]
            n_new["minima"] += result.n_new_minima
        rows = attempt_rows(records, effort)
        if rows:
            store.record_connect_attempts(landscape_id, rows)
        row = store.record_round(landscape_id, stage=stage, step=step, round=round_, n_tasks=n_tasks,
                                 cpu_seconds=cpu_seconds, effort=effort, compile_seconds=compile_seconds,
                                 minimum_sightings=minimum_sightings, ts_sightings=ts_sightings)
    return row, {"n_transition_states_found": n_ts, "n_new_minima": n_new["minima"],
                 "n_new_transition_states": n_new["transition_states"]}


__all__ = ["attempt_rows", "effort_key", "ingest_step", "quench_batch", "transition_state_batch"]
