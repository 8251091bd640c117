"""`lfl refine ...`: grow a connected landscape towards completeness, in rounds, until it saturates.

``stage`` is the workflow's one job per landscape: round after round it plans from the database
(connection gaps, shortcut and untrap pairs, softest-mode searches, random starts, random
directions, random symmetric copies), runs the round's searches in a pool of forked workers (as many
as the job's threads; each search is pure and seeded, so what a round finds does not depend on the
number of workers), and writes everything the round found, its attempts, its row in
``exploration_rounds`` and its sightings in one transaction. After each round it decides whether to
go on (:func:`lfl.explore.saturation.stop_reason`): saturated, or a limit (CPU budget, max_rounds,
nothing left to try).

Rounds are recorded per *effort* (a hash of the settings that shape the searches): a rerun with the
same settings continues after the last round recorded (a stage that stopped stays stopped unless a
limit was raised), a rerun with other settings records rounds of its own. A stage killed anywhere
loses at most the round in progress, which is planned and run again.

``plan`` writes the next round's tasks to a file without running them (to look at).
"""

from __future__ import annotations

import argparse
import json
import logging

from lfl.commands.db import add_database_options, resolve_url

log = logging.getLogger(__name__)

DEFAULT_REFINE = {
    "max_rounds": 0,
    "cpu_budget": None,
    "jobs": 2,
    "seed": 0,
    "strategies": ["single_ended", "shortcut", "untrap", "random_start", "random_direction", "random_copy"],
    "connect_pairs": 8,
    "modes": 2,
    "searches_per_round": 8,
    "single_ended_step": 0.05,
    "random_starts": 32,
    "random_start_scale": 1.0,
    "random_directions": 4,
    "random_direction_step": 0.5,
    "random_copies": 4,
    "shortcut": {"pairs": 4, "k_nearest": 3, "min_steps": 3, "barrier_fraction": 0.25},
    "untrap": {"pairs": 4, "ratio": 2.0},
    "saturation": {"coverage": 0.95, "rounds": 2, "max_new_points": 1},
}
# settings that bound the effort without changing what a round searches: left out of the effort key
LIMITS = ("max_rounds", "cpu_budget", "jobs")


def register(groups) -> None:
    parser = groups.add_parser("refine", help="refinement rounds: grow a connected landscape until it saturates")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(command):
        add_database_options(command)
        command.add_argument("--landscape", required=True, help="landscape definition (JSON)")
        command.add_argument("--draw", required=True, help="the landscape's draw (.npz)")
        command.add_argument("--settings", default="{}", help="refinement settings as JSON (the config's refine section)")
        command.add_argument("--connect-settings", default="{}", help="the config's connect section as JSON")

    plan = sub.add_parser("plan", help="write the next round's tasks to a file (reads the database)")
    common(plan)
    plan.add_argument("--out", required=True, help="tasks file (.npz)")
    plan.set_defaults(func=run_plan)

    stage = sub.add_parser("stage", help="rounds until saturation or a limit (the workflow's job)")
    common(stage)
    stage.add_argument("--workers", type=int, default=1, help="processes searching at once (the job's cores)")
    stage.add_argument("--receipt", required=True, help="JSON summary written when the stage stops")
    stage.set_defaults(func=run_stage)


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
            if not isinstance(value, dict):
                raise LflError(f"config key 'refine.{key}': must be a mapping, got {value!r}")
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
    for key in ("max_rounds", "modes", "searches_per_round", "connect_pairs", "random_starts", "random_directions",
                "random_copies", "seed"):
        if not isinstance(settings[key], int) or isinstance(settings[key], bool) or settings[key] < 0:
            raise LflError(f"config key 'refine.{key}': must be a whole number >= 0, got {settings[key]!r}")
    if not isinstance(settings["jobs"], int) or settings["jobs"] < 1:
        raise LflError(f"config key 'refine.jobs': must be a whole number >= 1, got {settings['jobs']!r}")
    budget = settings["cpu_budget"]
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0):
        raise LflError(f"config key 'refine.cpu_budget': must be a number of CPU seconds > 0 (or null: no "
                       f"budget), got {budget!r}")
    for key in ("single_ended_step", "random_direction_step", "random_start_scale"):
        if isinstance(settings[key], bool) or not isinstance(settings[key], (int, float)) or not settings[key] > 0:
            raise LflError(f"config key 'refine.{key}': must be > 0, got {settings[key]!r}")
    if settings["max_rounds"]:
        criterion(settings).validate(settings["max_rounds"])
    return settings


def criterion(settings: dict):
    from lfl.explore.saturation import SaturationCriterion

    s = settings["saturation"]
    return SaturationCriterion(coverage=s["coverage"], rounds=s["rounds"], max_new_points=s["max_new_points"])


def refine_effort(settings: dict, connect: dict) -> str:
    from lfl.commands.connect import search_settings
    from lfl.commands.exploration_step import effort_key

    return effort_key({k: v for k, v in settings.items() if k not in LIMITS}, search_settings(connect))


def plan_round(landscape, system, store, record, settings: dict, connect: dict, round_: int, effort: str):
    """The round's tasks from the database, random coordinates drawn from the round's own stream
    (seed, effort, round): the same settings give the same tasks, other settings other draws."""
    import numpy as np

    from lfl import __version__
    from lfl.explore.refinement_files import RefinementTasks
    from lfl.explore.refinement_strategy import plan_refinement

    ktn = store.load_ktn(record.id)
    coords = store.coordinates(ktn.minimum_ids).reshape(-1, system.n_dof)
    attempts = store.connect_attempts(record.id)
    rng = np.random.default_rng([int(settings["seed"]), int(effort, 16), int(round_)])
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
        random_starts=settings["random_starts"], random_directions=settings["random_directions"],
        random_copies=settings["random_copies"], rng=rng,
    )
    position = {int(i): k for k, i in enumerate(ktn.minimum_ids.tolist())}
    coords1 = np.empty((len(tasks), system.n_dof))
    coords2 = np.empty((len(tasks), system.n_dof))
    for k, task in enumerate(tasks):
        if task.kind == "random_start":
            coords1[k] = coords2[k] = system.random_weights(rng, settings["random_start_scale"])
            continue
        coords1[k] = coords[position[task.min1_id]]
        if task.kind == "random_direction":
            coords2[k] = rng.standard_normal(system.n_dof)  # the direction (normalised by the search)
        elif task.kind == "random_copy":
            coords2[k] = system.random_copy(coords[position[task.min2_id]], rng)
        else:
            coords2[k] = coords[position[task.min2_id]]
    planned = RefinementTasks.from_tasks(
        tasks, coords1, coords2,
        {"landscape": landscape.name, "round": round_, "effort": effort, "n_minima": ktn.n_minima,
         "n_transition_states": ktn.n_transition_states, "lfl_version": __version__},
    )
    log.info("%s refinement round %d: %d minima, %d transition states; %d task(s) planned",
             landscape.name, round_, ktn.n_minima, ktn.n_transition_states, len(planned))
    return planned


def _prepare(args: argparse.Namespace):
    from lfl.commands.connect import connect_settings, parse_settings
    from lfl.landscape import load_landscape

    settings = parse_refine_settings(args.settings)
    connect = parse_settings(args.connect_settings)
    landscape = load_landscape(args.landscape, args.draw)
    return settings, connect, landscape, connect_settings(connect, landscape.definition)


def run_plan(args: argparse.Namespace) -> int:
    from lfl.db.store import LandscapeStore
    from lfl.explore.refinement_files import save_tasks

    settings, connect, landscape, _ = _prepare(args)
    effort = refine_effort(settings, connect)
    system = landscape.system()
    with LandscapeStore(resolve_url(args)) as store:
        record = store.landscape(landscape.name)
        round_ = len([r for r in store.exploration_rounds(record.id, "refine") if r["effort"] == effort])
        save_tasks(args.out, plan_round(landscape, system, store, record, settings, connect, round_, effort))
    return 0


def run_stage(args: argparse.Namespace) -> int:
    from lfl import compile_time
    from lfl.atomic import atomic_path
    from lfl.commands.exploration_step import ingest_step
    from lfl.commands.search_pool import SearchPool, round_records
    from lfl.db.store import LandscapeStore
    from lfl.explore.saturation import process_cpu_seconds, stop_reason
    from lfl.logs import mask_url

    settings, connect, landscape, options = _prepare(args)
    effort = refine_effort(settings, connect)
    rule = criterion(settings)
    url = resolve_url(args)

    def stop(rows):
        if settings["max_rounds"] == 0:
            return "max_rounds"
        return stop_reason(rows, rule, max_rounds=settings["max_rounds"], cpu_budget=settings["cpu_budget"])

    with SearchPool(landscape, options, settings, args.workers) as searches, LandscapeStore(url) as store:
        system = searches.system
        record = store.landscape(landscape.name)

        def rounds_so_far():
            return [r for r in store.exploration_rounds(record.id, "refine") if r["effort"] == effort]

        rows = rounds_so_far()
        stopped = stop(rows)
        cpu_before = compile_before = 0.0  # the first round run here carries this process's start-up
        while stopped is None:
            round_ = len(rows)
            tasks = plan_round(landscape, system, store, record, settings, connect, round_, effort)
            outcomes = searches.run(tasks)
            records = round_records(tasks, outcomes, system.n_dof,
                                    {"landscape": landscape.name, "round": round_, "stage": "refine"})
            # this process's share (planning, ingest, searches run here) plus the workers' searches
            cpu = process_cpu_seconds() - cpu_before + sum(o[3] for o in outcomes)
            compiled = compile_time.compile_seconds() - compile_before + sum(o[4] for o in outcomes)
            row, found = ingest_step(store, record.id, [records], n_dof=system.n_dof, distance=system.distance,
                                     stage="refine",
                                     step=f"round {round_} @{effort}", round_=round_, effort=effort,
                                     n_tasks=len(tasks), cpu_seconds=cpu, compile_seconds=compiled,
                                     found_by="refinement", source=f"refinement round {round_} ({effort})")
            rows = rounds_so_far()
            stopped = stop(rows)
            store.set_saturated(record.id, stage="refine", step=row["step"], saturated=stopped == "saturated",
                                stopped=stopped)
            cpu_before, compile_before = process_cpu_seconds(), compile_time.compile_seconds()
            log.info("%s refinement round %d: %d task(s), %d new minima, %d new transition states, "
                     "coverage minima %s, transition states %s; %.1f CPU s%s", landscape.name, round_, len(tasks),
                     found["n_new_minima"], found["n_new_transition_states"], _fmt(row["minima_coverage"]),
                     _fmt(row["transition_states_coverage"]), cpu, f"; stopped: {stopped}" if stopped else "")
        counts = store.counts(record.id)
        estimates = store.completeness(record.id)
    summary = {
        "landscape": landscape.name, "database": mask_url(url), "effort": effort, "rounds": len(rows),
        "stopped": stopped, "saturated": stopped == "saturated",
        "cpu_seconds": sum(r["cpu_seconds"] for r in rows), "counts_after": counts,
        "completeness": {kind: {k: v if v == v and abs(v) != float("inf") else None for k, v in c.as_dict().items()}
                         for kind, c in estimates.items()},
    }
    with atomic_path(args.receipt, suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s: refinement %s after %d round(s) (%s)", landscape.name,
             "saturated" if stopped == "saturated" else f"not saturated ({stopped})", len(rows), counts)
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"

