"""How complete do landscapes get: a study's landscapes run to saturation or a CPU budget.

Runs the real workflow (Snakemake, this repository's Snakefile) on one study of a config file, with
the refinement's CPU budget and round limit set from the command line, then prints per landscape:
minima and transition states (reduced and energy-only), the coverage and estimated totals of both,
how the refinement stopped, CPU seconds (recorded in exploration_rounds, compilation apart), the
Snakemake jobs of the landscape and the share of its CPU time spent starting processes, with the
reference's counts beside them where SCIENCE.md gives them.

    python bench/bench_saturation.py --configfile studies/label_noise_ljat3.yaml --study label_noise_D2 \\
        --budget 300 --workdir /tmp/saturation        # the whole D2 part: --budget 1800 (about 2.5 h on 2 cores)
    python bench/bench_saturation.py --configfile studies/label_noise_ljat3.yaml --study label_noise_D1 \\
        --error-pct 0 --budget 1800 --workdir /tmp/saturation_d1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench_refine import benchmark_jobs, startup_seconds  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
# SCIENCE.md §6: the reference study's minima / transition states (energy-only identity)
REFERENCE = {("D2", 0.0): (6, 20), ("D2", 10.0): (13, 66), ("D2", 50.0): (26, 155), ("D2", 100.0): (20, 148),
             ("D1", 0.0): (122, 592)}


def run_study(config: dict, workdir: Path, cores: int) -> float:
    """Run this repository's workflow on ``config`` in ``workdir`` (its own SQLite database, the venv's
    tools on PATH); the wall seconds. A failed run ends the benchmark with the log's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("LFL_DB_URL", None)
    started = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                               str(workdir), "--configfile", str(config_path), "--cores", str(cores),
                               "--profile", str(ROOT / "profiles" / "default")], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"snakemake failed (exit {done.returncode}): see {workdir / 'snakemake.log'}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the defaults (`make bench` runs every script bare): the D2 study at 300 CPU s, about 30 min
    parser.add_argument("--configfile", type=Path, default=ROOT / "studies" / "label_noise_ljat3.yaml")
    parser.add_argument("--study", default="label_noise_D2")
    parser.add_argument("--error-pct", type=float, nargs="*", help="only these noise levels")
    parser.add_argument("--budget", type=float, default=300.0, help="refine.cpu_budget per landscape (CPU s)")
    parser.add_argument("--max-rounds", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lfl_bench_saturation")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()

    config = yaml.safe_load(args.configfile.read_text())
    study = config["studies"][args.study]
    config["studies"] = {args.study: study}
    config["datasets"] = {study["dataset"]: config["datasets"][study["dataset"]]}
    config["results_dir"] = "results"
    if args.error_pct:
        study["error_pct"] = list(args.error_pct)
    study["refine"] = {**study.get("refine", {}), "cpu_budget": args.budget, "max_rounds": args.max_rounds}
    wall = run_study(config, args.workdir, args.cores)

    from lfl.analysis.counts import distinct_energies
    from lfl.db.store import LandscapeStore

    results = args.workdir / "results"
    jobs = benchmark_jobs(results)
    names = [record.name for record in LandscapeStore(f"sqlite:///{results / 'landscapes.sqlite'}").landscapes()]
    bare, loaded = startup_seconds(results, names[0], 3) if names else (0.0, 0.0)
    print(f"bench_saturation: {args.study}, refinement budget {args.budget:g} CPU s per landscape, "
          f"{args.cores} cores: {wall / 60:.1f} min wall for the whole run (data included)")
    print(f"{'landscape':<42} {'min':>4} {'(E)':>4} {'ref':>4} {'TS':>5} {'(E)':>5} {'ref':>4} {'cov min':>7} "
          f"{'est min [95 %]':>16} {'cov TS':>6} {'est TS [95 %]':>18} {'stopped':>10} {'CPU s':>7} {'compile':>7} "
          f"{'jobs':>4} {'start-up':>8}")
    totals = {"jobs": 0, "cpu": 0.0}
    with LandscapeStore(f"sqlite:///{results / 'landscapes.sqlite'}") as store:
        for record in store.landscapes():
            rows = store.exploration_rounds(record.id)
            ktn = store.load_ktn(record.id)
            last = rows[-1]
            refine = [r for r in rows if r["stage"] == "refine"]
            cpu = sum(r["cpu_seconds"] for r in rows)
            compiled = sum(r["compile_seconds"] or 0.0 for r in rows)
            n_jobs, job_cpu = jobs.get(record.name, (0, 0.0))
            n_jobs += 1  # the definition job, which writes no benchmark file
            ref = REFERENCE.get((record.spec.dataset, float(record.spec.error_pct)), ("–", "–"))

            def est(prefix):
                if last[f"{prefix}_estimate"] is None:
                    return "–"
                return (f"{last[f'{prefix}_estimate']:.0f} [{last[f'{prefix}_estimate_low']:.0f}, "
                        f"{last[f'{prefix}_estimate_high']:.0f}]")

            cov_min = "–" if last["minima_coverage"] is None else f"{last['minima_coverage']:.3f}"
            cov_ts = "–" if last["transition_states_coverage"] is None else f"{last['transition_states_coverage']:.3f}"
            print(f"{record.name:<42} {ktn.n_minima:>4} {distinct_energies(ktn.minimum_energies, 1e-6):>4} "
                  f"{ref[0]:>4} {ktn.n_transition_states:>5} {distinct_energies(ktn.ts_energies, 1e-6):>5} "
                  f"{ref[1]:>4} {cov_min:>7} {est('minima'):>16} {cov_ts:>6} {est('transition_states'):>18} "
                  f"{(refine[-1]['stopped'] if refine else '–') or 'running':>10} {cpu:>7.0f} {compiled:>7.1f} "
                  f"{n_jobs:>4} {100 * n_jobs * loaded / max(cpu, 1e-9):>7.1f}%")
            totals["jobs"] += n_jobs
            totals["cpu"] += cpu
    print(f"start-up: at most {loaded:.2f} CPU s per job (an `lfl` process that loads the landscape's compiled "
          f"kernels; {bare:.2f} s with imports only) times the landscape's jobs, as a share of the CPU seconds "
          f"recorded in exploration_rounds ('CPU s'); the study: {totals['jobs']} landscape jobs, "
          f"{100 * totals['jobs'] * loaded / max(totals['cpu'], 1e-9):.1f} % of {totals['cpu']:.0f} CPU s. "
          f"'compile': seconds compiling or loading numba kernels, inside 'CPU s'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
