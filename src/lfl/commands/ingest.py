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



def write_receipt(path, receipt: dict) -> None:
    from lfl.atomic import atomic_path

    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(receipt, indent=2) + "\n")


def run_ingest_minima(args: argparse.Namespace) -> int:
    """One exploration step per chunk file, each in its own transaction with its sightings; a chunk
    whose step is recorded already is skipped (more runs or steps later ingest only the new chunks)."""
    from lfl import compile_time
    from lfl.commands.exploration_step import effort_key
    from lfl.db.batches import MinimaBatch
    from lfl.db.store import LandscapeStore
    from lfl.explore.chunks import load_chunk
    from lfl.explore.saturation import process_cpu_seconds
    from lfl.landscape import load_landscape
    from lfl.logs import mask_url

    landscape = load_landscape(args.landscape, args.draw)
    system = landscape.system()
    chunks = [load_chunk(path) for path in args.chunks]  # read (and validate) everything before writing
    definition = landscape.definition
    # more runs or steps are more of the same effort (new chunks); any other setting is another effort
    bh = {k: v for k, v in definition["basin_hopping"].items() if k not in ("runs", "steps")}
    effort = effort_key(bh, definition["minimiser"])
    url = resolve_url(args)
    n_minima = n_new = 0
    skipped = []
    cpu_before = compile_before = 0.0  # the first chunk ingested carries this process's start-up
    with LandscapeStore(url, create=True) as store:
        record = store.get_or_create_landscape(landscape.database_spec())
        recorded = {r["step"] for r in store.exploration_rounds(record.id, "basin-hopping")}
        for path, chunk in zip(args.chunks, chunks):
            step = f"{Path(path).stem} @{effort}"
            if step in recorded:
                skipped.append(path)
                continue
            batch = MinimaBatch(
                energies=chunk.energies, coords=chunk.coords.reshape(-1, system.n_dof), rms_grad=chunk.rms_gradient,
                n_neg_eig=chunk.n_negative, log_prod_pos_eig=chunk.log_prod_positive, found_by="basin-hopping",
                source=path,
            )
            with store.transaction(record.id):
                result = store.ingest(record.id, minima=batch, distance=system.distance)
                store.record_round(
                    record.id, stage="basin-hopping", step=step, n_tasks=int(chunk.metadata.get("n_quenches", 0)),
                    effort=effort,
                    cpu_seconds=chunk.metadata.get("cpu_seconds", 0.0) + process_cpu_seconds() - cpu_before,
                    compile_seconds=chunk.metadata.get("compile_seconds", 0.0) + compile_time.compile_seconds()
                    - compile_before,
                    minimum_sightings=[(i, "basin-hopping") for i, n in
                                       zip(result.minimum_ids.tolist(), chunk.n_sightings.tolist()) for _ in range(n)],
                )
            cpu_before, compile_before = process_cpu_seconds(), compile_time.compile_seconds()
            n_minima += len(batch)
            n_new += result.n_new_minima
        counts = store.counts(record.id)
    receipt = {
        "landscape": landscape.name,
        "landscape_id": record.id,
        "database": mask_url(url),
        "files": list(args.chunks),
        "already_recorded": skipped,
        "n_minima_in_files": n_minima,
        "n_new_minima": n_new,
        "counts_after": counts,
    }
    write_receipt(args.receipt, receipt)
    log.info("%s: %d minima in %d new chunk file(s) (%d recorded before), %d new; the landscape now holds %s (%s)",
             landscape.name, n_minima, len(chunks) - len(skipped), len(skipped), n_new, counts, mask_url(url))
    return 0


def run_ingest_connections(args: argparse.Namespace) -> int:
    from lfl import compile_time
    from lfl.commands.connect import connect_effort, parse_settings
    from lfl.commands.exploration_step import ingest_step
    from lfl.db.store import LandscapeStore
    from lfl.explore.connection_files import load_records
    from lfl.explore.saturation import process_cpu_seconds
    from lfl.landscape import load_landscape
    from lfl.logs import mask_url

    records = [load_records(path) for path in args.results]
    round_ = records[0].metadata.get("round")
    landscape = load_landscape(args.landscape, args.draw)
    effort = connect_effort(parse_settings(json.dumps(records[0].metadata.get("settings", {}))))
    n_attempts = sum(r.n_attempts for r in records)
    url = resolve_url(args)
    with LandscapeStore(url) as store:
        record = store.landscape(landscape.name)
        # a round with nothing planned needs no distance, so not the landscape's compiled kernels
        distance = landscape.system().distance if n_attempts else None
        cpu = sum(float(r.metadata.get("cpu_seconds", 0.0)) for r in records) + process_cpu_seconds()
        compiled = sum(float(r.metadata.get("compile_seconds", 0.0)) for r in records) + compile_time.compile_seconds()
        row, found = ingest_step(store, record.id, records, n_dof=records[0].arrays["ts_coords"].shape[1],
                                 distance=distance, stage="connect", step=f"round {round_} @{effort}", round_=round_,
                                 effort=effort, n_tasks=n_attempts, cpu_seconds=cpu, compile_seconds=compiled,
                                 found_by="dneb+hybrid-ef", source=", ".join(args.results))
        counts = store.counts(record.id)
        ktn = store.load_ktn(record.id)
    connected = bool(ktn.n_minima and ktn.connected_to_global_minimum().all())
    receipt = {"landscape": landscape.name, "database": mask_url(url), "files": list(args.results), **found,
               "counts_after": counts, "connected": connected,
               "round": {k: v for k, v in row.items() if k not in ("id", "landscape_id")}}
    write_receipt(args.receipt, receipt)
    log.info("%s: %d transition states in %d file(s), %d new, %d new minima; connected: %s; now %s", landscape.name,
             found["n_transition_states_found"], len(records), found["n_new_transition_states"],
             found["n_new_minima"], connected, counts)
    return 0

