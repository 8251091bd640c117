"""`lfl refine ...`: grow a connected landscape towards completeness, in rounds.

``plan`` reads the database and writes the round's tasks (connection gaps, shortcut and untrap pairs,
single-ended searches); ``run`` is pure (tasks file in, results file out, the connect jobs' format);
``lfl ingest refinement`` adds the results, records the round and decides saturation. ``round`` does
all three in one process (the workflow's rule): one start-up per round instead of jobs + 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from lfl.commands.db import add_database_options, resolve_url

log = logging.getLogger(__name__)

DEFAULT_REFINE = {
    "max_rounds": 0,
    "jobs": 2,
    "strategies": ["single_ended", "shortcut", "untrap"],
    "connect_pairs": 8,
    "modes": 2,
    "searches_per_round": 8,
    "single_ended_step": 0.05,
    "shortcut": {"pairs": 4, "k_nearest": 3, "min_steps": 3, "barrier_fraction": 0.25},
    "untrap": {"pairs": 4, "ratio": 2.0},
    "saturation": {"rounds": 2, "max_new_transition_states": 1},
}


def register(groups) -> None:
    parser = groups.add_parser("refine", help="refinement rounds: grow a connected landscape until it saturates")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="choose the next round's searches (reads the database)")
    add_database_options(plan)
    plan.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    plan.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    plan.add_argument("--settings", default="{}", help="refinement settings as JSON (the config's refine section)")
    plan.add_argument("--connect-settings", default="{}", help="the config's connect section as JSON")
    plan.add_argument("--round", type=int, default=0)
    plan.add_argument("--out", required=True, help="tasks file (.npz)")
    plan.set_defaults(func=run_plan)

    run = sub.add_parser("run", help="run a share of the planned searches")
    run.add_argument("--landscape", required=True)
    run.add_argument("--draw", required=True)
    run.add_argument("--tasks", required=True, help="tasks file from `lfl refine plan`")
    run.add_argument("--settings", default="{}")
    run.add_argument("--connect-settings", default="{}")
    run.add_argument("--job", type=int, default=0)
    run.add_argument("--jobs", type=int, default=1)
    run.add_argument("--out", required=True, help="results file (.npz)")
    run.set_defaults(func=run_tasks)

    round_ = sub.add_parser("round", help="plan, run and ingest one round in one process (the workflow's rule)")
    add_database_options(round_)
    round_.add_argument("--landscape", required=True, help="landscape definition (JSON)")
    round_.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
    round_.add_argument("--settings", default="{}", help="refinement settings as JSON (the config's refine section)")
    round_.add_argument("--connect-settings", default="{}", help="the config's connect section as JSON")
    round_.add_argument("--round", type=int, default=0)
    round_.add_argument("--workers", type=int, default=1, help="processes searching at once (the job's cores)")
    round_.add_argument("--folder", required=True, help="where the round's tasks and results files go")
    round_.add_argument("--receipt", required=True, help="JSON receipt written after the commit")
    round_.set_defaults(func=run_round)

    done = sub.add_parser("done", help="summarise the rounds run (the workflow's end-of-stage file)")
    done.add_argument("--max-rounds", type=int, required=True)
    done.add_argument("--out", required=True, help="summary (.json)")
    done.add_argument("receipts", nargs="+", help="the rounds' ingest receipts, in order")
    done.set_defaults(func=run_done)


def parse_refine_settings(text: str) -> dict:
    """The refine section with defaults filled in; unknown keys and bad values give one line naming the key."""
    from lfl.errors import LflError
    from lfl.explore.refinement_strategy import REFINEMENT_STRATEGIES

    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LflError(f"--settings: not valid JSON ({exc})") from None
    settings = {}
    for key, default in DEFAULT_REFINE.items():
        value = given.get(key, default)
        if isinstance(default, dict):
            unknown = sorted(set(value) - set(default))
            if unknown:
                raise LflError(f"config key 'refine.{key}': unknown key(s) {', '.join(unknown)}")
            value = {**default, **value}
        settings[key] = value
    unknown = sorted(set(given) - set(DEFAULT_REFINE))
    if unknown:
        raise LflError(f"config key 'refine': unknown key(s) {', '.join(unknown)}")
    bad = sorted(set(settings["strategies"]) - set(REFINEMENT_STRATEGIES))
    if bad:
        raise LflError(f"config key 'refine.strategies': unknown strategy {bad[0]!r} "
                       f"(known: {', '.join(REFINEMENT_STRATEGIES)})")
    for key in ("max_rounds", "modes", "searches_per_round", "connect_pairs"):
        if not isinstance(settings[key], int) or settings[key] < 0:
            raise LflError(f"config key 'refine.{key}': must be a whole number >= 0, got {settings[key]!r}")
    if settings["max_rounds"]:
        criterion(settings).validate(settings["max_rounds"])
    return settings


def criterion(settings: dict):
    from lfl.explore.saturation import SaturationCriterion

    s = settings["saturation"]
    return SaturationCriterion(rounds=s["rounds"], max_new_transition_states=s["max_new_transition_states"])


def plan_round(landscape, url: str, settings: dict, connect: dict, round_: int):
    """The round's tasks from the database (read only; the store is closed on return)."""
    import numpy as np

    from lfl import __version__
    from lfl.db.store import LandscapeStore
    from lfl.explore.refinement_files import RefinementTasks
    from lfl.explore.refinement_strategy import plan_refinement

    system = landscape.system()
    with LandscapeStore(url) as store:
        record = store.landscape(landscape.name)
        ktn = store.load_ktn(record.id)
        coords = store.coordinates(ktn.minimum_ids)
        attempts = store.connect_attempts(record.id)
    shortcut, untrap = settings["shortcut"], settings["untrap"]
    tasks = plan_refinement(
        minimum_ids=ktn.minimum_ids, energies=ktn.minimum_energies, ts_min1=ktn.ts_min1, ts_min2=ktn.ts_min2,
        ts_energies=ktn.ts_energies, coords=coords,
        distance=system.distance if landscape.definition["symmetry"] == "reduced" else None,
        attempts=(attempts.min1_ids, attempts.min2_ids, attempts.outcomes, attempts.methods),
        strategies=settings["strategies"], connect_pairs=settings["connect_pairs"],
        max_failures=connect["max_failures"], modes=settings["modes"],
        searches_per_round=settings["searches_per_round"], shortcut_pairs=shortcut["pairs"],
        k_nearest=shortcut["k_nearest"], min_steps=shortcut["min_steps"],
        barrier_fraction=shortcut["barrier_fraction"], untrap_pairs=untrap["pairs"], untrap_ratio=untrap["ratio"],
    )
    rows = ktn.index_of(np.array([t.min1_id for t in tasks], dtype=np.int64))
    rows2 = ktn.index_of(np.array([t.min2_id for t in tasks], dtype=np.int64))
    planned = RefinementTasks.from_tasks(
        tasks, coords[rows].reshape(-1, system.n_dof), coords[rows2].reshape(-1, system.n_dof),
        {"landscape": landscape.name, "round": round_, "n_minima": ktn.n_minima,
         "n_transition_states": ktn.n_transition_states, "lfl_version": __version__},
    )
    log.info("%s refinement round %d: %d minima, %d transition states; %d task(s) planned",
             landscape.name, round_, ktn.n_minima, ktn.n_transition_states, len(planned))
    return planned


def run_share(landscape_path: str, draw_path: str, tasks, settings: dict, connect: dict, job: int, jobs: int):
    """Searches ``job``, ``job + jobs``, ... of a round's tasks (pure): the connect jobs' records format."""
    from lfl import __version__
    from lfl.commands.connect import connect_settings
    from lfl.errors import LflError
    from lfl.explore.connection_files import OUTCOMES, records_from_results
    from lfl.explore.transition_states import ConnectionResult
    from lfl.landscape import load_landscape

    if not 0 <= job < jobs:
        raise LflError(f"--job must lie in 0..{jobs - 1}, got {job}")
    metadata = {"landscape": tasks.metadata.get("landscape"), "round": tasks.metadata.get("round"),
                "job": job, "jobs": jobs, "lfl_version": __version__}
    mine = list(range(job, len(tasks), jobs))
    results = []
    if mine:  # a job with nothing to do skips the landscape's compiled kernels, most of its start-up
        from lfl.explore.single_ended import single_ended_search
        from lfl.explore.transition_states import connect_pair

        landscape = load_landscape(landscape_path, draw_path)
        system = landscape.system()
        options = connect_settings(connect, landscape.definition)
        for k in mine:
            kind, mode = tasks.kind(k), int(tasks.modes[k])
            started = time.perf_counter()
            try:
                if kind == "single_ended":
                    result = single_ended_search(system, tasks.coords1[k], [mode], options,
                                                 step=settings["single_ended_step"])
                else:
                    result = connect_pair(system, tasks.coords1[k], tasks.coords2[k], options)
            except LflError as exc:  # e.g. the two ends are one minimum: a failed attempt, not a failed job
                log.warning("task %d (%s %d-%d): %s", k, kind, tasks.min1_ids[k], tasks.min2_ids[k], exc)
                result = ConnectionResult([], [], False, False, "error", {})
            seconds = time.perf_counter() - started
            results.append((int(tasks.min1_ids[k]), int(tasks.min2_ids[k]), result, seconds))
            log.info("task %d (%s %d-%d%s): %s, %d transition state(s), %.2f s", k, kind, tasks.min1_ids[k],
                     tasks.min2_ids[k], f" mode {mode}" if mode >= 0 else "",
                     OUTCOMES[2 if result.connected else 1 if result.success else 0],
                     len(result.transition_states), seconds)
        n_dof = system.n_dof
    else:
        n_dof = tasks.coords1.shape[1]
        log.info("no tasks for job %d of %d", job, jobs)
    records = records_from_results(results, n_dof, metadata)
    records.arrays["attempt_task"] = tasks.task_codes[mine] if mine else tasks.task_codes[:0]
    records.arrays["attempt_mode"] = tasks.modes[mine] if mine else tasks.modes[:0]
    return records


def run_plan(args: argparse.Namespace) -> int:
    from lfl.commands.connect import parse_settings
    from lfl.explore.refinement_files import save_tasks
    from lfl.explore.saturation import process_cpu_seconds
    from lfl.landscape import load_landscape

    settings = parse_refine_settings(args.settings)
    connect = parse_settings(args.connect_settings)
    landscape = load_landscape(args.landscape, args.draw)
    planned = plan_round(landscape, resolve_url(args), settings, connect, args.round)
    planned.metadata["cpu_seconds"] = process_cpu_seconds()
    save_tasks(args.out, planned)
    return 0


def run_tasks(args: argparse.Namespace) -> int:
    from lfl.commands.connect import parse_settings
    from lfl.explore.connection_files import save_records
    from lfl.explore.refinement_files import load_tasks
    from lfl.explore.saturation import process_cpu_seconds

    settings = parse_refine_settings(args.settings)
    connect = parse_settings(args.connect_settings)
    records = run_share(args.landscape, args.draw, load_tasks(args.tasks), settings, connect, args.job, args.jobs)
    records.metadata["cpu_seconds"] = process_cpu_seconds()
    save_records(args.out, records)
    return 0


def _forked_share(landscape_path, draw_path, tasks, settings, connect, job, jobs, out) -> None:
    """One share in a forked worker: its results file carries the worker's whole CPU time (a forked
    child's counters start at zero)."""
    from lfl.explore.connection_files import save_records
    from lfl.explore.saturation import process_cpu_seconds

    records = run_share(landscape_path, draw_path, tasks, settings, connect, job, jobs)
    records.metadata["cpu_seconds"] = process_cpu_seconds()
    save_records(out, records)


def run_round(args: argparse.Namespace) -> int:
    """Plan, search and ingest one round in one process: a round pays one start-up, not jobs + 2.

    The shares run in ``--workers`` forked children (the parent's imports and compiled kernels come
    with them), each writing its results file, so the round's files are the same as those of the
    separate commands; the results do not depend on the number of workers. The database is read by
    the plan and written by the ingest, nothing in between; a round killed anywhere before the
    ingest's commit leaves the database as it was, and is planned and run again."""
    import multiprocessing
    from pathlib import Path

    from lfl.commands.connect import parse_settings
    from lfl.commands.ingest import ingest_refinement_records, write_receipt
    from lfl.errors import LflError
    from lfl.explore.connection_files import load_records, save_records
    from lfl.explore.refinement_files import save_tasks
    from lfl.landscape import load_landscape

    if args.workers < 1:
        raise LflError(f"--workers must be >= 1, got {args.workers}")
    settings = parse_refine_settings(args.settings)
    connect = parse_settings(args.connect_settings)
    landscape = load_landscape(args.landscape, args.draw)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    url = resolve_url(args)
    tasks = plan_round(landscape, url, settings, connect, args.round)
    tasks.metadata["cpu_seconds"] = 0.0  # this process is counted whole at the ingest
    save_tasks(folder / "tasks.npz", tasks)
    jobs = settings["jobs"] or 1
    outs = [str(folder / f"job{job}.npz") for job in range(jobs)]
    common = (args.landscape, args.draw, tasks, settings, connect)
    if args.workers == 1 or len(tasks) <= 1:
        records = [run_share(*common, job, jobs) for job in range(jobs)]
        for record, out in zip(records, outs):
            record.metadata["cpu_seconds"] = 0.0  # spent in this process, counted at the ingest
            save_records(out, record)
    else:
        context = multiprocessing.get_context("fork")
        pending, running = list(range(jobs)), []
        while pending or running:
            while pending and len(running) < args.workers:
                job = pending.pop(0)
                worker = context.Process(target=_forked_share, args=(*common, job, jobs, outs[job]))
                worker.start()
                running.append((job, worker))
            job, worker = running.pop(0)
            worker.join()
            if worker.exitcode != 0:
                for _, other in running:
                    other.terminate()
                raise LflError(f"refinement round {args.round}: the worker of share {job} failed "
                               f"(exit code {worker.exitcode}); nothing was ingested")
        records = [load_records(path) for path in outs]
    args.results = outs
    write_receipt(args.receipt, ingest_refinement_records(args, tasks, records, settings))
    return 0


def run_done(args: argparse.Namespace) -> int:
    from lfl.atomic import atomic_path

    receipts = []
    for path in args.receipts:
        with open(path) as handle:
            receipts.append(json.load(handle))
    last = receipts[-1]
    summary = {
        "landscape": last["landscape"],
        "rounds_run": len(receipts),
        "max_rounds": args.max_rounds,
        "saturated": bool(last["saturated"]),
        "stopped_by": "saturation" if last["saturated"] else "max_rounds (not saturated)",
        "counts_after": last["counts_after"],
        "last_round": last["round"],
    }
    with atomic_path(args.out, suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s: %d refinement round(s), %s", summary["landscape"], len(receipts), summary["stopped_by"])
    return 0
