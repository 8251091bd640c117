"""Whole landscapes end to end: the real Snakemake workflow (data -> basin-hopping -> connection rounds).

Runs the repository's Snakefile on a study of [2,10,4,N_data,1e-4] landscapes (LJAT3 data sets,
label-noise levels, draw seed 0) in a scratch folder, on ``--cores`` cores, and prints per
landscape: minima, transition states, whether every minimum is joined to the global minimum (and
after which round), the global minimum's energy, and the CPU seconds its jobs took (basin-hopping,
connection) from Snakemake's benchmark files; then the wall time of the whole run, split into
the data stage (pool + draws) and the rest. The analysis stage is not run.

Issue target (issue 6): the D2 0 % landscape, basin-hopping + connection until connected, in under
3 minutes on 2 cores.

    python bench/bench_workflow.py                       # D2, 0 %: the issue's figure
    python bench/bench_workflow.py --datasets D1 D2 --errors 0 10 50 100 --rounds 8
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def study_config(args: argparse.Namespace, results: Path) -> dict:
    datasets = {name: {"kind": "ljat3", "name": name, "n_samples": args.n_samples, "seed": 2} for name in args.datasets}
    studies = {
        f"bench_{name}": {
            "dataset": name,
            "n_data": args.n_data,
            "error_pct": list(args.errors),
            "draw_seed": 0,
            "networks": [{"hidden": [10], "lambda": 1.0e-4}],
            "symmetry": "reduced",
            "basin_hopping": {"runs": args.runs, "steps": args.steps, "chunk": args.steps, "seed": 0},
            "connect": {"rounds": args.rounds, "jobs": args.cores, "pairs_per_round": args.pairs},
        }
        for name in args.datasets
    }
    return {"results_dir": str(results), "database": {"url": None}, "threads": args.cores,
            "datasets": datasets, "studies": studies}


def snakemake(workdir: Path, config_path: Path, cores: int, *targets: str) -> float:
    environment = dict(os.environ, LFL_DB_URL="")
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", str(cores), "--profile", str(ROOT / "profiles" / "default"), *targets,
               "--configfile", str(config_path)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=workdir)
    if done.returncode != 0:
        sys.exit(f"snakemake failed:\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


def cpu_seconds(folder: Path, prefix: str) -> float:
    total = 0.0
    for path in folder.glob(f"{prefix}*.tsv"):
        with open(path) as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                total += float(row["cpu_time"])
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["D2"])
    parser.add_argument("--errors", nargs="+", type=float, default=[0])
    parser.add_argument("--n-data", type=int, default=1000)
    parser.add_argument("--n-samples", type=int, default=20000, help="LJAT3 pool size (half training, half testing)")
    parser.add_argument("--runs", type=int, default=2, help="basin-hopping runs per landscape")
    parser.add_argument("--steps", type=int, default=100, help="basin-hopping steps per run")
    parser.add_argument("--rounds", type=int, default=6, help="connection rounds")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per round")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()

    from lfl.db.store import LandscapeStore

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="lfl-bench-workflow-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = workdir / "results"
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(study_config(args, results)))
    print(f"bench_workflow: {args.datasets} x errors {args.errors}, [2,10,4,{args.n_data},1e-4], "
          f"basin-hopping {args.runs} runs x {args.steps} steps, connection {args.rounds} rounds x {args.pairs} "
          f"pairs, {args.cores} cores; folder {workdir}")

    # The data stage first, on its own: the figure is basin-hopping + connection.
    data_targets = [str(results / "draws" / name / f"n{args.n_data}_e{error:g}_s0.npz")
                    for name in args.datasets for error in args.errors]
    data_wall = snakemake(workdir, config_path, args.cores, *data_targets)
    landscape_wall = snakemake(workdir, config_path, args.cores, "--omit-from", "analyse_metrics", "summary_table",
                               "disconnectivity_graphs", "study_figures")

    url = f"sqlite:///{results / 'landscapes.sqlite'}"
    print(f"{'landscape':<44} {'minima':>6} {'TS':>5} {'joined':>7} {'connected':>10} {'GM energy':>12} "
          f"{'BH cpu s':>9} {'connect cpu s':>13}")
    with LandscapeStore(url) as store:
        for record in store.landscapes():
            ktn = store.load_ktn(record.id)
            joined = int(ktn.connected_to_global_minimum().sum())
            folder = results / "landscapes" / record.name / "connect"
            when = "no"
            for receipt in sorted(folder.glob("round*/ingested.json"), key=lambda p: int(p.parent.name[5:])):
                if json.loads(receipt.read_text()).get("connected"):
                    when = f"round {receipt.parent.name[5:]}"
                    break
            if ktn.n_minima == 1:
                when = "(1 minimum)"
            benchmarks = results / "benchmarks" / "landscapes" / record.name
            print(f"{record.name:<44} {ktn.n_minima:>6} {ktn.n_transition_states:>5} {joined:>7} {when:>10} "
                  f"{ktn.global_minimum()[1]:>12.8f} {cpu_seconds(benchmarks, 'bh_'):>9.1f} "
                  f"{cpu_seconds(benchmarks, 'connect_'):>13.1f}")
    print(f"wall time: data stage {data_wall:.1f} s; basin-hopping + connection {landscape_wall:.1f} s "
          f"(Snakemake start-up included) on {args.cores} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
