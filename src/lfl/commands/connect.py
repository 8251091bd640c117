"""`lfl connect ...`: plan pairs of minima from the database, then search transition states between them.

``stage`` is the workflow's one job per landscape: up to ``rounds`` rounds, each planning pairs
from the database, searching them in a pool of forked workers (:mod:`lfl.commands.search_pool`) and
writing what it found, its attempts, round row and sightings in one transaction; it stops early when
a round plans nothing (the landscape is connected). Rounds are recorded per effort (a hash of the
settings), so a rerun with the same settings continues after the last round recorded.

``plan`` only reads the database; ``run`` is pure (pairs file in, results file out); ``lfl ingest
connections`` writes such results: the same steps one process each, to run or look at by hand.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from lfl.commands.db import add_database_options, resolve_url

log = logging.getLogger(__name__)

DEFAULT_SETTINGS = {
    "pairs_per_round": 8,
    "strategy": "shortest_path",
    "k_nearest": 3,
    "max_failures": 2,
    "max_cycles": 5,
    "fill_pairs": True,
    "n_images": 10,
    "spring_constant": 1.0,
    "dneb_iterations": 50,
    "dneb_rms_force": 1e-3,
    "rms_gradient": 1e-9,
}


def register(groups) -> None:
    parser = groups.add_parser("connect", help="transition-state searches between minima")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="choose the pairs of minima to connect next (reads the database)")
    add_database_options(plan)
    plan.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    plan.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    plan.add_argument("--settings", default="{}", help="connection settings as JSON (the config's connect section)")
    plan.add_argument("--round", type=int, default=0)
    plan.add_argument("--out", required=True, help="pairs file (.npz)")
    plan.set_defaults(func=run_plan)

    stage = sub.add_parser("stage", help="connection rounds until connected or `rounds` (the workflow's job)")
    add_database_options(stage)
    stage.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    stage.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    stage.add_argument("--settings", default="{}", help="connection settings as JSON (the config's connect section)")
    stage.add_argument("--workers", type=int, default=1, help="processes searching at once (the job's cores)")
    stage.add_argument("--receipt", required=True, help="JSON summary written when the stage ends")
    stage.set_defaults(func=run_stage)

    run = sub.add_parser("run", help="search transition states for a share of the planned pairs")
    run.add_argument("--landscape", required=True)
    run.add_argument("--draw", required=True)
    run.add_argument("--pairs", required=True, help="pairs file from `lfl connect plan`")
    run.add_argument("--settings", default="{}", help="connection settings as JSON")
    run.add_argument("--job", type=int, default=0, help="this job's share: pairs job, job + jobs, ...")
    run.add_argument("--jobs", type=int, default=1)
    run.add_argument("--out", required=True, help="results file (.npz)")
    run.set_defaults(func=run_connect)


def parse_settings(text: str) -> dict:
    from lfl.errors import LflError

    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LflError(f"--settings: not valid JSON ({exc})") from None
    unknown = sorted(set(given) - set(DEFAULT_SETTINGS) - {"rounds", "jobs"})
    if unknown:
        raise LflError(f"--settings: unknown key(s) {', '.join(unknown)}")
    return {**DEFAULT_SETTINGS, "rounds": 3, "jobs": 2, **given}


def search_settings(settings: dict) -> dict:
    """The settings that shape what a connection search finds (not how many rounds or workers)."""
    return {k: v for k, v in settings.items() if k not in ("rounds", "jobs")}


def connect_effort(settings: dict) -> str:
    from lfl.commands.exploration_step import effort_key

    return effort_key(search_settings(settings))


def plan_connection_round(landscape, system, store, record, settings: dict, round_: int, effort: str):
    """The round's pairs from the database as a tasks file of connection tasks."""
    import numpy as np

    from lfl import __version__
    from lfl.explore.connection_strategy import plan_pairs
    from lfl.explore.refinement_files import RefinementTasks
    from lfl.explore.refinement_strategy import RefinementTask

    ktn = store.load_ktn(record.id)
    coords = store.coordinates(ktn.minimum_ids).reshape(-1, system.n_dof)
    attempts = store.connect_attempts(record.id)
    pairs = plan_pairs(
        minimum_ids=ktn.minimum_ids, energies=ktn.minimum_energies, ts_min1=ktn.ts_min1, ts_min2=ktn.ts_min2,
        coords=coords, distance=system.distance if landscape.definition["symmetry"] == "reduced" else None,
        attempts=(attempts.min1_ids, attempts.min2_ids, attempts.outcomes), strategy=settings["strategy"],
        n_pairs=settings["pairs_per_round"], k_nearest=settings["k_nearest"],
        max_failures=settings["max_failures"], fill=settings["fill_pairs"],
    )
    tasks = [RefinementTask("connect", int(a), int(b)) for a, b in pairs]
    min1 = np.array([t.min1_id for t in tasks], dtype=np.int64)
    min2 = np.array([t.min2_id for t in tasks], dtype=np.int64)
    n_unconnected = int(np.count_nonzero(~ktn.connected_to_global_minimum())) if ktn.n_minima else 0
    log.info("%s connection round %d: %d minima, %d transition states, %d not joined to the global minimum; "
             "%d pairs planned", landscape.name, round_, ktn.n_minima, ktn.n_transition_states, n_unconnected,
             len(tasks))
    return RefinementTasks.from_tasks(
        tasks, coords[ktn.index_of(min1)].reshape(-1, system.n_dof), coords[ktn.index_of(min2)].reshape(-1, system.n_dof),
        {"landscape": landscape.name, "round": round_, "effort": effort, "n_minima": ktn.n_minima,
         "n_transition_states": ktn.n_transition_states, "n_unconnected": n_unconnected,
         "strategy": settings["strategy"], "lfl_version": __version__},
    )


def run_stage(args: argparse.Namespace) -> int:
    from lfl import compile_time
    from lfl.atomic import atomic_path
    from lfl.commands.exploration_step import ingest_step
    from lfl.commands.search_pool import SearchPool, round_records
    from lfl.db.store import LandscapeStore
    from lfl.errors import LflError
    from lfl.explore.saturation import process_cpu_seconds
    from lfl.landscape import load_landscape
    from lfl.logs import mask_url

    settings = parse_settings(args.settings)
    if not isinstance(settings["rounds"], int) or settings["rounds"] < 0:
        raise LflError(f"config key 'connect.rounds': must be a whole number >= 0, got {settings['rounds']!r}")
    landscape = load_landscape(args.landscape, args.draw)
    effort = connect_effort(settings)
    url = resolve_url(args)
    with SearchPool(landscape, connect_settings(settings, landscape.definition), {}, args.workers) as searches, \
            LandscapeStore(url) as store:
        system = searches.system
        record = store.landscape(landscape.name)

        def rounds_so_far():
            return [r for r in store.exploration_rounds(record.id, "connect") if r["effort"] == effort]

        rows = rounds_so_far()
        cpu_before = compile_before = 0.0  # the first round run here carries this process's start-up
        # a recorded round that planned nothing ends the stage: the landscape was connected
        while len(rows) < settings["rounds"] and not (rows and rows[-1]["n_tasks"] == 0):
            round_ = len(rows)
            tasks = plan_connection_round(landscape, system, store, record, settings, round_, effort)
            outcomes = searches.run(tasks)
            records = round_records(tasks, outcomes, system.n_dof,
                                    {"landscape": landscape.name, "round": round_, "stage": "connect"})
            ingest_step(store, record.id, [records], n_dof=system.n_dof, distance=system.distance, stage="connect", step=f"round {round_} @{effort}",
                        round_=round_, effort=effort, n_tasks=len(tasks),
                        cpu_seconds=process_cpu_seconds() - cpu_before + sum(o[3] for o in outcomes),
                        compile_seconds=compile_time.compile_seconds() - compile_before + sum(o[4] for o in outcomes),
                        found_by="dneb+hybrid-ef", source=f"connection round {round_} ({effort})")
            cpu_before, compile_before = process_cpu_seconds(), compile_time.compile_seconds()
            rows = rounds_so_far()
        counts = store.counts(record.id)
        ktn = store.load_ktn(record.id)
    connected = bool(ktn.n_minima and ktn.connected_to_global_minimum().all())
    summary = {"landscape": landscape.name, "database": mask_url(url), "effort": effort, "rounds": len(rows),
               "connected": connected, "cpu_seconds": sum(r["cpu_seconds"] for r in rows), "counts_after": counts}
    with atomic_path(args.receipt, suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s: %d connection round(s), connected: %s, %s", landscape.name, len(rows), connected, counts)
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from lfl.db.store import LandscapeStore
    from lfl.explore.connection_files import PlannedPairs, save_pairs
    from lfl.landscape import load_landscape

    settings = parse_settings(args.settings)
    landscape = load_landscape(args.landscape, args.draw)
    with LandscapeStore(resolve_url(args)) as store:
        tasks = plan_connection_round(landscape, landscape.system(), store, store.landscape(landscape.name), settings,
                                      args.round, connect_effort(settings))
    save_pairs(args.out, PlannedPairs(tasks.min1_ids, tasks.min2_ids, tasks.coords1, tasks.coords2, tasks.metadata))
    return 0


def connect_settings(settings: dict, definition: dict):
    """ConnectSettings for a network landscape: the measured network defaults, the config's connect
    section and the landscape's identity tolerances."""
    from dataclasses import replace

    from lfl.explore.neb import DNEBSettings
    from lfl.explore.transition_states import network_connect_settings

    identity = definition["identity"]
    base = network_connect_settings()
    return replace(
        base,
        dneb=DNEBSettings(n_images=settings["n_images"], spring_constant=settings["spring_constant"],
                          max_iterations=settings["dneb_iterations"], rms_force=settings["dneb_rms_force"]),
        ef=replace(base.ef, rms_gradient=settings["rms_gradient"]),
        max_cycles=settings["max_cycles"],
        energy_tol=identity["energy_tol"],
        distance_tol=identity["distance_tol"],
    )


def run_connect(args: argparse.Namespace) -> int:
    from lfl import __version__
    from lfl.errors import LflError
    from lfl.explore.connection_files import OUTCOMES, load_pairs, records_from_results, save_records
    from lfl.explore.saturation import process_cpu_seconds
    from lfl.explore.connection_attempt import connect_pair
    from lfl.landscape import load_landscape

    if not 0 <= args.job < args.jobs:
        raise LflError(f"--job must lie in 0..{args.jobs - 1}, got {args.job}")
    settings = parse_settings(args.settings)
    pairs = load_pairs(args.pairs)
    metadata = {"landscape": pairs.metadata.get("landscape"), "round": pairs.metadata.get("round"),
                "job": args.job, "jobs": args.jobs, "lfl_version": __version__, "settings": settings}
    if args.job >= len(pairs):
        # Nothing for this job (a connected landscape plans no pairs): skip loading the landscape
        # and its compiled kernels, most of a job's start-up.
        save_records(args.out, records_from_results([], pairs.coords1.shape[1],
                                                    {**metadata, "cpu_seconds": process_cpu_seconds()}))
        log.info("no pairs for job %d of %d", args.job, args.jobs)
        return 0
    landscape = load_landscape(args.landscape, args.draw)
    system = landscape.system()
    options = connect_settings(settings, landscape.definition)
    results = []
    for k in range(args.job, len(pairs), args.jobs):
        started = time.perf_counter()
        try:
            result = connect_pair(system, pairs.coords1[k], pairs.coords2[k], options)
        except LflError as exc:  # e.g. the two ends are one minimum: a failed attempt, not a failed job
            log.warning("pair %d-%d: %s", pairs.min1_ids[k], pairs.min2_ids[k], exc)
            result = None
        seconds = time.perf_counter() - started
        if result is None:
            from lfl.explore.transition_states import ConnectionResult

            result = ConnectionResult([], [], False, False, "error", {})
        results.append((int(pairs.min1_ids[k]), int(pairs.min2_ids[k]), result, seconds))
        log.info("pair %d-%d: %s, %d transition state(s), %.2f s (%s)", pairs.min1_ids[k], pairs.min2_ids[k],
                 OUTCOMES[2 if result.connected else 1 if result.success else 0], len(result.transition_states),
                 seconds, result.message)
    from lfl import compile_time

    records = records_from_results(results, system.n_dof, metadata)
    records.metadata["cpu_seconds"] = process_cpu_seconds()
    records.metadata["compile_seconds"] = compile_time.compile_seconds()
    save_records(args.out, records)
    return 0
