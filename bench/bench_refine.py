"""Refinement strategies head to head, and what a workflow run spends starting processes.

Part 1 (``--results DIR --landscape NAME``): from a finished workflow run's database, each
refinement strategy alone (``single_ended``, ``shortcut``, ``untrap``, ``random_start``,
``random_direction``, ``random_copy``) as one ``lfl refine stage`` of ``--rounds`` rounds (or
``--budget`` CPU seconds), each on its own copy of the database, and one connection round (plan,
jobs, ingest: the reference), in the same run: new transition states, new minima and CPU seconds
(every process, start-up included, from ``exploration_rounds``), transition states per CPU second.

Part 2: process start-up. The CPU seconds of an ``lfl`` process that does nothing (``lfl --help``)
and of one that loads the landscape's compiled kernels, against the jobs of the run (its Snakemake
benchmark files): jobs per landscape, and start-up as a share of the run's CPU time.

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
STRATEGIES = ("single_ended", "shortcut", "untrap", "random_start", "random_direction", "random_copy")


def run(command: list[str]) -> float:
    """Run a command; its CPU seconds (user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def landscape_files(results: Path, name: str) -> list[str]:
    definition = results / "landscapes" / name / "definition.json"
    spec = json.loads(definition.read_text())
    draw = (results / "draws" / spec["dataset"] /
            f"n{spec['draw']['n_data']}_e{spec['draw']['error_pct']:g}_s{spec['draw']['seed']}.npz")
    return ["--landscape", str(definition), "--draw", str(draw)]


def copy_database(results: Path, scratch: Path, label: str) -> str:
    folder = scratch / label
    folder.mkdir()
    shutil.copy(results / "landscapes.sqlite", folder / "landscapes.sqlite")
    return f"sqlite:///{folder / 'landscapes.sqlite'}"


def new_rows(url: str, name: str, stage: str, skip: int) -> list[dict]:
    from lfl.db.store import LandscapeStore

    with LandscapeStore(url) as store:
        return store.exploration_rounds(store.landscape(name).id, stage)[skip:]


def strategy_stage(results: Path, name: str, scratch: Path, strategy: str, args) -> dict:
    url = copy_database(results, scratch, strategy)
    before = len(new_rows(url, name, "refine", 0))
    settings = {"strategies": [strategy], "connect_pairs": 0, "jobs": args.jobs, "max_rounds": args.rounds,
                "seed": 11, "searches_per_round": args.tasks, "shortcut": {"pairs": args.tasks, "min_steps": 2},
                "untrap": {"pairs": args.tasks, "ratio": 0.5}, "random_directions": args.tasks,
                "random_copies": args.tasks, "random_starts": 8 * args.tasks,
                "saturation": {"rounds": 1}, "cpu_budget": args.budget}
    cpu = run([LFL, "--threads", "1", "refine", "stage", "--db", url, *landscape_files(results, name),
               "--settings", json.dumps(settings), "--workers", str(args.jobs),
               "--receipt", str(scratch / strategy / "stage.json")])
    return summarise(new_rows(url, name, "refine", before), cpu)


def connection_round(results: Path, name: str, scratch: Path, args) -> dict:
    url = copy_database(results, scratch, "connect")
    before = len(new_rows(url, name, "connect", 0))
    folder = scratch / "connect"
    files = landscape_files(results, name)
    connect = json.dumps({"pairs_per_round": args.tasks})
    cpu = 0.0
    for round_ in range(args.rounds):
        pairs = str(folder / f"pairs{round_}.npz")
        outs = [str(folder / f"r{round_}_job{j}.npz") for j in range(args.jobs)]
        cpu += run([LFL, "connect", "plan", "--db", url, *files, "--settings", connect, "--round", str(90 + round_),
                    "--out", pairs])
        for j, out in enumerate(outs):
            cpu += run([LFL, "--threads", "1", "connect", "run", *files, "--pairs", pairs, "--settings", connect,
                        "--job", str(j), "--jobs", str(args.jobs), "--out", out])
        cpu += run([LFL, "ingest", "connections", "--db", url, *files, "--receipt", str(folder / "r.json"), *outs])
    return summarise(new_rows(url, name, "connect", before), cpu)


def summarise(rows: list[dict], process_cpu: float) -> dict:
    recorded = sum(r["cpu_seconds"] for r in rows)
    return {"rounds": len(rows), "tasks": sum(r["n_tasks"] for r in rows),
            "new_ts": sum(r["n_new_transition_states"] for r in rows),
            "new_minima": sum(r["n_new_minima"] for r in rows), "cpu": recorded, "process_cpu": process_cpu,
            "coverage": (rows[-1]["minima_coverage"], rows[-1]["transition_states_coverage"]) if rows else (None, None)}


def startup_seconds(results: Path, name: str, repeats: int) -> tuple[float, float]:
    """CPU seconds of a bare `lfl` process (imports only) and of one that loads the landscape's kernels."""
    files = landscape_files(results, name)
    bare = [run([LFL, "--help"]) for _ in range(repeats)]
    code = ("import sys; from lfl.landscape import load_landscape; s = load_landscape(sys.argv[1], sys.argv[2]).system();"
            "import numpy as np; x = np.zeros(s.n_dof); s.energy_gradient(x); s.hessian(x)")
    loaded = [run([sys.executable, "-c", code, files[1], files[3]]) for _ in range(repeats)]
    return min(bare), min(loaded)


def benchmark_jobs(results: Path) -> dict[str, tuple[int, float]]:
    """{landscape: (jobs, CPU seconds)} from the run's Snakemake benchmark files."""
    jobs: dict[str, tuple[int, float]] = {}
    for folder in sorted((results / "benchmarks" / "landscapes").glob("*")):
        n, total = 0, 0.0
        for path in folder.glob("*.tsv"):
            with open(path) as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    n += 1
                    total += float(row["cpu_time"])
        jobs[folder.name] = (n, total)
    return jobs


def _fmt(value) -> str:
    return "  n/a" if value is None else f"{value:5.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True, help="results_dir of a finished workflow run")
    parser.add_argument("--landscape", required=True)
    parser.add_argument("--jobs", type=int, default=2, help="workers (and connect jobs)")
    parser.add_argument("--tasks", type=int, default=8, help="tasks per round of each strategy")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of each strategy (and connection rounds)")
    parser.add_argument("--budget", type=float, default=None, help="CPU seconds per strategy (stops its rounds)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-strategies", action="store_true", help="part 2 only")
    args = parser.parse_args()

    from lfl.db.store import LandscapeStore

    url = f"sqlite:///{args.results / 'landscapes.sqlite'}"
    with LandscapeStore(url) as store:
        counts = store.counts(store.landscape(args.landscape).id)
    if not args.skip_strategies:
        print(f"bench_refine: {args.landscape}: {counts['minima']} minima, {counts['transition_states']} transition "
              f"states; each strategy alone, {args.rounds} round(s) of {args.tasks} tasks "
              f"(random_start: {8 * args.tasks}), {args.jobs} workers, each on a copy of the database")
        print(f"{'strategy':<16} {'rounds':>6} {'tasks':>5} {'new TS':>6} {'new min':>7} {'CPU s':>7} "
              f"{'TS / CPU s':>10} {'vs ref':>7} {'cov min':>7} {'cov TS':>7}")
        with tempfile.TemporaryDirectory(prefix="lfl-bench-refine-") as scratch:
            scratch = Path(scratch)
            reference = connection_round(args.results, args.landscape, scratch, args)
            ref_rate = reference["new_ts"] / reference["cpu"] if reference["cpu"] else float("nan")
            for label, row in [("connect (ref)", reference)] + [
                    (s, strategy_stage(args.results, args.landscape, scratch, s, args)) for s in STRATEGIES]:
                rate = row["new_ts"] / row["cpu"] if row["cpu"] else float("nan")
                print(f"{label:<16} {row['rounds']:>6} {row['tasks']:>5} {row['new_ts']:>6} {row['new_minima']:>7} "
                      f"{row['cpu']:>7.1f} {rate:>10.3f} {rate / ref_rate if ref_rate else float('nan'):>6.2f}x "
                      f"{_fmt(row['coverage'][0]):>7} {_fmt(row['coverage'][1]):>7}")
    bare, loaded = startup_seconds(args.results, args.landscape, args.repeats)
    jobs = benchmark_jobs(args.results)
    print(f"start-up per process: {bare:.2f} CPU s bare (`lfl --help`: imports), {loaded:.2f} CPU s with the "
          f"landscape's compiled kernels loaded (warm cache; best of {args.repeats})")
    total_jobs = sum(n for n, _ in jobs.values())
    total_cpu = sum(c for _, c in jobs.values())
    for name, (n, cpu) in jobs.items():
        print(f"  {name}: {n} jobs, {cpu:.1f} CPU s; start-up at most {n * loaded:.1f} CPU s "
              f"({100 * n * loaded / max(cpu, 1e-9):.0f} %)")
    print(f"the run: {total_jobs} landscape jobs, {total_cpu:.1f} CPU s; start-up at most "
          f"{100 * total_jobs * loaded / max(total_cpu, 1e-9):.0f} % (at least "
          f"{100 * total_jobs * bare / max(total_cpu, 1e-9):.0f} %) of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
