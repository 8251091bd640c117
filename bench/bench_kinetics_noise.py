"""What label noise does to a landscape read kinetically: the D1 and D2 label-noise landscapes at 0,
10, 50 and 100 % mislabelled, grown by the real workflow with a smaller effort than the study's, then
per landscape the global minimum's occupation and the frustration index at T (the analysis
temperature, 0.01 by default), where C_V(T) peaks, and the rate out of the global minimum's funnel.

The effort (per landscape): basin-hopping ``--runs`` x ``--steps``, ``--rounds`` connection rounds of
32 pairs, refinement up to ``--budget`` CPU seconds. The whole study's effort (8 x 2000 steps, 20
rounds, 1800 CPU s) is ``--runs 8 --steps 2000 --rounds 20 --budget 1800`` (many hours on 2 cores).

    python bench/bench_kinetics_noise.py --workdir /tmp/kinetics_noise [--runs 4 --steps 1000 --rounds 10 --budget 120]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from bench_saturation import run_study  # this folder is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lfl_bench_kinetics_noise")
    parser.add_argument("--datasets", nargs="+", default=["D2", "D1"])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()

    config = yaml.safe_load((ROOT / "studies" / "label_noise_ljat3.yaml").read_text())
    config["results_dir"] = "results"
    config["datasets"] = {name: config["datasets"][name] for name in args.datasets}
    studies = {}
    for name in args.datasets:
        study = config["studies"][f"label_noise_{name}"]
        study["basin_hopping"] = {**study["basin_hopping"], "runs": args.runs, "steps": args.steps, "chunk": args.steps}
        study["connect"] = {**study["connect"], "rounds": args.rounds}
        study["refine"] = {**study["refine"], "cpu_budget": args.budget}
        studies[f"label_noise_{name}"] = study
    config["studies"] = studies
    wall = run_study(config, args.workdir, args.cores)
    print(f"bench_kinetics_noise: {', '.join(args.datasets)} at 0/10/50/100 % mislabelled; per landscape "
          f"basin-hopping {args.runs} x {args.steps} steps, {args.rounds} connection rounds, refinement up to "
          f"{args.budget:g} CPU s; {args.cores} cores, {wall / 60:.1f} min wall (data included)")
    print(f"{'landscape':<40} {'minima':>6} {'TS':>5} {'T':>6} {'P(GM)':>8} {'frustration':>11} {'T(C_V max)':>10} "
          f"{'C_V max':>9} {'log10 k(A->B)':>13} {'|A|':>5} {'|B|':>5}")
    for name in args.datasets:
        table = pd.read_csv(args.workdir / "results" / "tables" / f"label_noise_{name}.csv")
        for _, row in table.iterrows():
            kinetics = json.loads((args.workdir / "results" / "landscapes" / row["landscape"] / "analysis"
                                   / "kinetics.json").read_text())
            rate = kinetics.get("log10_rate_a_to_b", math.nan)
            print(f"{row['landscape']:<40} {row['n_minima']:>6} {row['n_transition_states']:>5} "
                  f"{row['kinetics_temperature']:>6g} {row['global_min_occupation']:>8.3g} {row['frustration']:>11.3g} "
                  f"{row['cv_peak_temperature']:>10.3g} {row['cv_peak']:>9.4g} "
                  f"{rate:>13.3f} {kinetics.get('n_funnel_a', 0):>5} {kinetics.get('n_rest_b', 0):>5}")
    print("P(GM): the global minimum's equilibrium occupation at T; frustration: de Souza, Niroomand and Wales's "
          "index at T; T(C_V max): the heat capacity's peak; C_V max: its height (k_B units, kappa included); "
          "k(A->B): rate out of the global minimum's funnel (A) into the rest (B), split at the most even level")
    return 0


if __name__ == "__main__":
    sys.exit(main())
