"""Refinement strategies head to head, and what a workflow spends starting processes.

Part 1 (``--results DIR --landscape NAME``): from a finished workflow run's database, one round of
each refinement strategy alone (``single_ended``, ``shortcut``, ``untrap``) and one connection round
as today's reference, each on its own copy of the database, through the real commands (plan, jobs,
ingest, or one `lfl refine round`): new transition states, new minima and CPU seconds (every process, start-up included, from
``exploration_rounds``), and transition states per CPU second.

Part 2: process start-up. One round of all three strategies run as separate processes (plan, one per
job, ingest: the reference) and as one ``lfl refine round`` (the workflow's rule), CPU and wall
seconds of each on its own copy; then the CPU seconds of an ``lfl`` process that loads nothing (a refine job with
no share) and of one that loads the landscape's compiled kernels, times the number of jobs of the run
(its Snakemake benchmark files), as a share of the run's recorded CPU seconds.

    python bench/bench_refine.py --results /tmp/run/results --landscape D2_n1000_e0_s0_h10_l0.0001_kfull_reduced
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LFL = str(Path(sys.executable).parent / "lfl")


def run(command: list[str]) -> float:
    """Run a command; its CPU seconds (user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def last_round(url: str, name: str) -> dict:
    from lfl.db.store import LandscapeStore

    with LandscapeStore(url) as store:
        return store.exploration_rounds(store.landscape(name).id)[-1]


def refine_settings(strategies: list[str], settings: dict, jobs: int) -> str:
    return json.dumps({"strategies": strategies, "connect_pairs": 0, "modes": settings["modes"], "jobs": jobs,
                       "searches_per_round": settings["pairs"],
                       "shortcut": {"pairs": settings["pairs"], "min_steps": 2},
                       "untrap": {"pairs": settings["pairs"], "ratio": 0.5}})


def one_round(results: Path, name: str, strategy: str, scratch: Path, jobs: int, settings: dict,
              shape: str = "round", label: str | None = None) -> tuple[dict, float, float]:
    """(the round's exploration_rounds row, CPU seconds of every process, wall seconds).

    ``shape`` "round": one ``lfl refine round`` process (the workflow's rule); "separate": plan, one
    process per job and ingest (the workflow's shape before rounds were bundled)."""
    import time

    folder = scratch / (label or strategy)
    folder.mkdir()
    db = folder / "landscapes.sqlite"
    shutil.copy(results / "landscapes.sqlite", db)
    url = f"sqlite:///{db}"
    definition = results / "landscapes" / name / "definition.json"
    draw_stem = json.loads(definition.read_text())["draw"]
    dataset = json.loads(definition.read_text())["dataset"]
    draw = results / "draws" / dataset / f"n{draw_stem['n_data']}_e{draw_stem['error_pct']:g}_s{draw_stem['seed']}.npz"
    common = ["--landscape", str(definition), "--draw", str(draw)]
    outs = [str(folder / f"job{j}.npz") for j in range(jobs)]
    strategies = strategy.split("+")
    start, cpu = time.perf_counter(), 0.0
    if strategy == "connect":
        pairs = str(folder / "pairs.npz")
        connect = json.dumps({"pairs_per_round": settings["pairs"]})
        cpu += run([LFL, "connect", "plan", "--db", url, *common, "--settings", connect, "--round", "99",
                    "--out", pairs])
        for j, out in enumerate(outs):
            cpu += run([LFL, "--threads", "1", "connect", "run", *common, "--pairs", pairs, "--settings", connect,
                        "--job", str(j), "--jobs", str(jobs), "--out", out])
        cpu += run([LFL, "ingest", "connections", "--db", url, *common, "--receipt", str(folder / "r.json"), *outs])
    elif shape == "separate":
        refine = refine_settings(strategies, settings, jobs)
        tasks = str(folder / "tasks.npz")
        cpu += run([LFL, "refine", "plan", "--db", url, *common, "--settings", refine, "--round", "99",
                    "--out", tasks])
        for j, out in enumerate(outs):
            cpu += run([LFL, "--threads", "1", "refine", "run", *common, "--tasks", tasks, "--settings", refine,
                        "--job", str(j), "--jobs", str(jobs), "--out", out])
        cpu += run([LFL, "ingest", "refinement", "--db", url, *common, "--tasks", tasks, "--settings", refine,
                    "--receipt", str(folder / "r.json"), *outs])
    else:
        refine = refine_settings(strategies, settings, jobs)
        cpu += run([LFL, "--threads", "1", "refine", "round", "--db", url, *common, "--settings", refine,
                    "--round", "99", "--workers", str(jobs), "--folder", str(folder),
                    "--receipt", str(folder / "r.json")])
    return last_round(url, name), cpu, time.perf_counter() - start


def startup_seconds(results: Path, name: str, scratch: Path, repeats: int) -> tuple[float, float]:
    """CPU seconds of a bare `lfl` job (nothing to load) and of loading the landscape's kernels."""
    definition = results / "landscapes" / name / "definition.json"
    spec = json.loads(definition.read_text())
    draw = (results / "draws" / spec["dataset"] /
            f"n{spec['draw']['n_data']}_e{spec['draw']['error_pct']:g}_s{spec['draw']['seed']}.npz")
    import numpy as np

    from lfl.explore.refinement_files import RefinementTasks, save_tasks

    empty = scratch / "empty_tasks.npz"
    none = np.zeros((0, 1))
    save_tasks(empty, RefinementTasks.from_tasks([], none, none, {"landscape": name, "round": 0}))
    bare = [run([LFL, "refine", "run", "--landscape", str(definition), "--draw", str(draw), "--tasks", str(empty),
                 "--job", "0", "--jobs", "1", "--out", str(scratch / "bare.npz")]) for _ in range(repeats)]
    code = ("import sys; from lfl.landscape import load_landscape; s = load_landscape(sys.argv[1], sys.argv[2]).system();"
            "import numpy as np; x = np.zeros(s.n_dof); s.energy_gradient(x); s.hessian(x)")
    loaded = [run([sys.executable, "-c", code, str(definition), str(draw)]) for _ in range(repeats)]
    return min(bare), min(loaded)


def benchmark_jobs(results: Path, name: str) -> tuple[int, float]:
    """(jobs, CPU seconds) of one landscape in Snakemake's benchmark files."""
    folder = results / "benchmarks" / "landscapes" / name
    n, total = 0, 0.0
    for path in folder.glob("*.tsv"):
        with open(path) as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                n += 1
                total += float(row["cpu_time"])
    return n, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True, help="results_dir of a finished workflow run")
    parser.add_argument("--landscape", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=8, help="tasks per strategy (pairs, or (minimum, mode) searches)")
    parser.add_argument("--modes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from lfl.db.store import LandscapeStore

    url = f"sqlite:///{args.results / 'landscapes.sqlite'}"
    with LandscapeStore(url) as store:
        record = store.landscape(args.landscape)
        counts = store.counts(record.id)
        rows = store.exploration_rounds(record.id)
    print(f"bench_refine: {args.landscape}: {counts['minima']} minima, {counts['transition_states']} transition "
          f"states; one round of each strategy alone ({args.pairs} tasks, {args.jobs} jobs), each on a copy")
    print(f"{'strategy':<14} {'tasks':>5} {'new TS':>6} {'new min':>7} {'CPU s':>7} {'TS / CPU s':>10}")
    settings = {"pairs": args.pairs, "modes": args.modes}
    with tempfile.TemporaryDirectory(prefix="lfl-bench-refine-") as scratch:
        scratch = Path(scratch)
        for strategy in ("connect", "single_ended", "shortcut", "untrap"):
            row, _, _ = one_round(args.results, args.landscape, strategy, scratch, args.jobs, settings)
            rate = row["n_new_transition_states"] / row["cpu_seconds"] if row["cpu_seconds"] else float("nan")
            label = "connect (ref)" if strategy == "connect" else strategy
            print(f"{label:<14} {row['n_tasks']:>5} {row['n_new_transition_states']:>6} {row['n_new_minima']:>7} "
                  f"{row['cpu_seconds']:>7.1f} {rate:>10.3f}")
        # the same round of all three strategies in the two workflow shapes, each on its own copy
        every = "single_ended+shortcut+untrap"
        sep, sep_cpu, sep_wall = one_round(args.results, args.landscape, every, scratch, args.jobs, settings,
                                           shape="separate", label="separate")
        one, one_cpu, one_wall = one_round(args.results, args.landscape, every, scratch, args.jobs, settings,
                                           shape="round", label="bundled")
        bare, loaded = startup_seconds(args.results, args.landscape, scratch, args.repeats)
    n_jobs, bench_cpu = benchmark_jobs(args.results, args.landscape)
    recorded = sum(r["cpu_seconds"] for r in rows)
    same = all(sep[k] == one[k] for k in ("n_tasks", "n_new_minima", "n_new_transition_states"))
    print(f"one round of {every.replace('+', ', ')} ({args.jobs} jobs): as {args.jobs + 2} processes (plan, "
          f"jobs, ingest; reference) {sep_cpu:.1f} CPU s, {sep_wall:.1f} s wall; as one `lfl refine round` "
          f"{one_cpu:.1f} CPU s ({one_cpu / max(sep_cpu, 1e-9):.2f} x), {one_wall:.1f} s wall "
          f"({one_wall / max(sep_wall, 1e-9):.2f} x); same new minima and transition states: {same}")
    print(f"start-up per process: {bare:.2f} CPU s bare (imports, nothing loaded), {loaded:.2f} CPU s with the "
          f"landscape's compiled kernels loaded (warm cache; best of {args.repeats})")
    print(f"the run of {args.landscape}: {n_jobs} jobs with benchmark files, {bench_cpu:.1f} CPU s in them, "
          f"{recorded:.1f} CPU s in exploration_rounds; start-up at most {n_jobs * loaded:.1f} CPU s = "
          f"{100 * n_jobs * loaded / max(bench_cpu, 1e-9):.0f} % of the benchmarked CPU time "
          f"(at least {100 * n_jobs * bare / max(bench_cpu, 1e-9):.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
