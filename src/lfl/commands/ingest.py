"""`lfl ingest ...`: the one writer. Reads job files and adds their stationary points to the database.

Idempotent: ingesting the same file twice adds nothing (deduplication against what is stored), and a
killed ingest leaves its whole batch out. The receipt file is written only after the commit.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from lfl.commands.db import add_database_options, resolve_url

log = logging.getLogger(__name__)


def register(groups) -> None:
    parser = groups.add_parser("ingest", help="add job results to the landscape database (the one writer)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    minima = sub.add_parser("minima", help="basin-hopping chunk files -> minima")
    add_database_options(minima)
    minima.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    minima.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    minima.add_argument("--receipt", required=True, help="JSON receipt written after the commit")
    minima.add_argument("chunks", nargs="+", help="chunk files from `lfl explore basin-hopping`")
    minima.set_defaults(func=run_ingest_minima)

    connections = sub.add_parser("connections", help="connect job results -> transition states, minima, attempts")
    add_database_options(connections)
    connections.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    connections.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    connections.add_argument("--receipt", required=True, help="JSON receipt written after the commit")
    connections.add_argument("results", nargs="+", help="result files from `lfl connect run`")
    connections.set_defaults(func=run_ingest_connections)

    refinement = sub.add_parser("refinement", help="refinement job results -> the database; record the round")
    add_database_options(refinement)
    refinement.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    refinement.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    refinement.add_argument("--tasks", required=True, help="the round's tasks file (for the planner's CPU time)")
    refinement.add_argument("--settings", default="{}", help="refinement settings as JSON (saturation criterion)")
    refinement.add_argument("--receipt", required=True, help="JSON receipt written after the commit")
    refinement.add_argument("results", nargs="+", help="result files from `lfl refine run`")
    refinement.set_defaults(func=run_ingest_refinement)


def write_receipt(path, receipt: dict) -> None:
    from lfl.atomic import atomic_path

    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(receipt, indent=2) + "\n")


def run_ingest_minima(args: argparse.Namespace) -> int:
    import numpy as np

    from lfl.db.batches import MinimaBatch
    from lfl.db.store import LandscapeStore
    from lfl.explore.chunks import load_chunk
    from lfl.explore.saturation import process_cpu_seconds
    from lfl.landscape import load_landscape
    from lfl.logs import mask_url

    landscape = load_landscape(args.landscape, args.draw)
    system = landscape.system()
    chunks = [load_chunk(path) for path in args.chunks]  # read (and validate) everything before writing
    batch = MinimaBatch(
        energies=np.concatenate([c.energies for c in chunks]),
        coords=np.concatenate([c.coords.reshape(-1, system.n_dof) for c in chunks]),
        rms_grad=np.concatenate([c.rms_gradient for c in chunks]),
        n_neg_eig=np.concatenate([c.n_negative for c in chunks]),
        log_prod_pos_eig=np.concatenate([c.log_prod_positive for c in chunks]),
        found_by="basin-hopping",
        source=", ".join(args.chunks),
    )
    url = resolve_url(args)
    with LandscapeStore(url, create=True) as store:
        record = store.get_or_create_landscape(landscape.database_spec())
        result = store.ingest(record.id, minima=batch, distance=system.distance)
        step = ", ".join(Path(path).stem for path in args.chunks)
        n_quenches = sum(int(c.metadata.get("n_quenches", 0)) for c in chunks)
        store.record_round(record.id, stage="basin-hopping", step=step, n_tasks=n_quenches,
                           cpu_seconds=sum(c.metadata.get("cpu_seconds", 0.0) for c in chunks) + process_cpu_seconds())
        counts = store.counts(record.id)
    receipt = {
        "landscape": landscape.name,
        "landscape_id": record.id,
        "database": mask_url(url),
        "files": list(args.chunks),
        "n_minima_in_files": len(batch),
        "n_new_minima": result.n_new_minima,
        "counts_after": counts,
    }
    write_receipt(args.receipt, receipt)
    log.info("%s: %d minima in %d file(s), %d new; the landscape now holds %s (%s)", landscape.name, len(batch),
             len(chunks), result.n_new_minima, counts, mask_url(url))
    return 0


def run_ingest_connections(args: argparse.Namespace) -> int:
    from lfl.explore.connection_files import load_records

    records = [load_records(path) for path in args.results]
    round_ = records[0].metadata.get("round") if records else None
    receipt, _ = _ingest_attempts(args, records, stage="connect", round_=round_, extra_cpu=0.0)
    write_receipt(args.receipt, receipt)
    return 0


def run_ingest_refinement(args: argparse.Namespace) -> int:
    from lfl.commands.refine import parse_refine_settings
    from lfl.explore.connection_files import load_records
    from lfl.explore.refinement_files import load_tasks

    settings = parse_refine_settings(args.settings)
    tasks = load_tasks(args.tasks)
    records = [load_records(path) for path in args.results]
    write_receipt(args.receipt, ingest_refinement_records(args, tasks, records, settings))
    return 0


def ingest_refinement_records(args, tasks, records: list, settings: dict) -> dict:
    """A refinement round's results into the database, the round recorded and saturation decided;
    the receipt. ``args`` names the database, landscape, draw and the results files (``results``)."""
    from lfl.commands.refine import criterion

    receipt, _ = _ingest_attempts(args, records, stage="refine", round_=tasks.metadata.get("round"),
                                  extra_cpu=float(tasks.metadata.get("cpu_seconds", 0.0)),
                                  saturation=criterion(settings), nothing_planned=len(tasks) == 0)
    return receipt


def _attempt_label(record, k: int) -> tuple[str, str]:
    """(method, attempt key) of attempt k of a job's results: single-ended searches are keyed by
    minimum and mode (each is searched once, ever), pairs by round, job and position."""
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
    origin = f"refine round {meta.get('round')} job {meta.get('job')}/{meta.get('jobs')}"
    method = "dneb+hybrid-ef" if kind == "connect" else f"{kind} dneb+hybrid-ef"
    return method, f"{origin} task {k}: {min1}-{min2}"


def _ingest_attempts(args, records: list, *, stage: str, round_, extra_cpu: float, saturation=None,
                     nothing_planned: bool = False) -> tuple[dict, dict]:
    """Transition states, minima and attempts of job results into the database; the round recorded."""
    from lfl.db.store import LandscapeStore
    from lfl.explore.saturation import process_cpu_seconds
    from lfl.landscape import load_landscape
    from lfl.logs import mask_url

    landscape = load_landscape(args.landscape, args.draw)
    n_ts = n_new_ts = n_new_minima = 0
    n_attempts = sum(r.n_attempts for r in records)
    url = resolve_url(args)
    with LandscapeStore(url) as store:
        record = store.landscape(landscape.name)
        # A round with nothing planned needs neither writes nor the landscape's compiled kernels,
        # most of this job's start-up.
        if n_attempts:
            system = landscape.system()
            transition_states = _transition_state_batch(records, args.results, system.n_dof, stage)
            result = store.ingest(record.id, transition_states=transition_states, distance=system.distance)
            store.record_connect_attempts(record.id, _attempt_rows(records))
            n_ts, n_new_ts, n_new_minima = len(transition_states), result.n_new_transition_states, result.n_new_minima
        cpu = sum(float(r.metadata.get("cpu_seconds", 0.0)) for r in records) + extra_cpu + process_cpu_seconds()
        step = f"round {round_}"
        row = store.record_round(record.id, stage=stage, step=step, round=round_, n_tasks=n_attempts, cpu_seconds=cpu)
        saturated = None
        if saturation is not None:
            saturated = bool(nothing_planned or saturation.holds(store.exploration_rounds(record.id, stage)))
            store.set_saturated(record.id, stage=stage, step=step, saturated=saturated)
            row["saturated"] = saturated
        counts = store.counts(record.id)
        ktn = store.load_ktn(record.id)
    connected = bool(ktn.n_minima and ktn.connected_to_global_minimum().all())
    receipt = {
        "landscape": landscape.name,
        "database": mask_url(url),
        "files": list(args.results),
        "n_transition_states_in_files": n_ts,
        "n_new_transition_states": n_new_ts,
        "n_new_minima": n_new_minima,
        "counts_after": counts,
        "connected": connected,
        "round": {k: v for k, v in row.items() if k not in ("id", "landscape_id")},
    }
    if saturation is not None:
        receipt["saturated"] = saturated
        receipt["nothing_planned"] = nothing_planned
    log.info("%s: %d transition states in %d file(s), %d new, %d new minima; connected: %s; now %s%s",
             landscape.name, n_ts, len(records), n_new_ts, n_new_minima, connected, counts,
             "" if saturated is None else f"; saturated: {saturated}")
    return receipt, row


def _transition_state_batch(records: list, paths: list[str], n_dof: int, stage: str = "connect"):
    """The transition states of connect job results, each with its two pushed-off minima."""
    import numpy as np

    from lfl.db.batches import MinimaBatch, TransitionStateBatch

    def column(name):
        return np.concatenate([r.arrays[name] for r in records])

    def side(which):
        return MinimaBatch(
            energies=column(f"{which}_energy"),
            coords=column(f"{which}_coords").reshape(-1, n_dof),
            rms_grad=column(f"{which}_rms_gradient"),
            n_neg_eig=column(f"{which}_n_negative"),
            log_prod_pos_eig=column(f"{which}_log_prod_positive"),
            found_by="transition-state push-off" if stage == "connect" else "refinement push-off",
            source=f"{which} sides of {', '.join(paths)}",
        )

    return TransitionStateBatch(
        energies=column("ts_energy"),
        coords=column("ts_coords").reshape(-1, n_dof),
        min1=side("minus"),
        min2=side("plus"),
        neg_eigenvalue=column("ts_eigenvalue"),
        rms_grad=column("ts_rms_gradient"),
        found_by="dneb+hybrid-ef" if stage == "connect" else "refinement (dneb or single-ended)+hybrid-ef",
        source=", ".join(paths),
    )


def _attempt_rows(records: list) -> list[dict]:
    """One row per attempt, keyed (see _attempt_label): the same file ingested again records nothing twice."""
    from lfl.explore.connection_files import OUTCOMES

    rows = []
    for r in records:
        a, meta = r.arrays, r.metadata
        for k in range(r.n_attempts):
            method, key = _attempt_label(r, k)
            rows.append(dict(
                min1_id=int(a["attempt_min1"][k]), min2_id=int(a["attempt_min2"][k]),
                outcome=OUTCOMES[int(a["attempt_outcome"][k])],
                n_ts_found=int(a["attempt_n_ts"][k]), n_minima_found=int(a["attempt_n_minima"][k]),
                method=method,
                details={"round": meta.get("round"), "seconds": float(a["attempt_seconds"][k])},
                attempt_key=key,
            ))
    return rows
