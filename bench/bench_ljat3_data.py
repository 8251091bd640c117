"""LJAT3 data generation: compiled GMIN-style L-BFGS batch vs a plain scipy L-BFGS-B loop.

Prints, all timed in this run:
- D1 minimisations per second of the compiled batch on 2 threads (target: 200,000 in < 10 s);
- the same for a plain scipy.optimize.minimize(method="L-BFGS-B", jac=True) (default options) over
  the first few thousand of the same starts (same compiled energy and gradient, so the difference
  is the minimiser loop),
  the ratio, and the class fractions both give on those starts (the labels depend on the minimiser);
- the per-evaluation overhead of the Python driver (minimize_lbfgs) over the bare energy call;
- class fractions of D1, D2, D3 with default settings at 200,000 samples.

Run: .venv/bin/python bench/bench_ljat3_data.py [--n-samples 200000] [--n-scipy 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from scipy.optimize import minimize

from lfl.config import LJAT3_BOX_LENGTHS
from lfl.data.ljat3 import LJAT3Settings, classify_batch, generate_pool, minimise_batch, random_starts
from lfl.numerics import lbfgs_core as core
from lfl.numerics.lbfgs import minimize_lbfgs
from lfl.systems.ljat3 import LJAT3System


def fractions(labels: np.ndarray) -> str:
    counts = np.bincount(labels[labels >= 0], minlength=4)
    shares = counts / max(1, counts.sum())
    return "[" + ", ".join(f"{s:.4f}" for s in shares) + f"]  unclassified {int(np.count_nonzero(labels < 0))}"


def settings_array(settings: LJAT3Settings) -> np.ndarray:
    return core.lbfgs_settings(
        settings.max_step, settings.initial_diag, settings.max_rise, settings.rms_gradient, settings.max_iterations
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument("--n-scipy", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    threads = numba.get_num_threads()
    settings = LJAT3Settings()
    array = settings_array(settings)
    system = LJAT3System()
    starts = random_starts(LJAT3_BOX_LENGTHS["D1"], args.n_samples, args.seed)
    minimise_batch(starts[:100], 2.0, settings.memory, array)  # compile / load the cache outside the timing
    classify_batch(starts[:10])

    t0, c0 = time.perf_counter(), time.process_time()
    finals, _, codes, iterations = minimise_batch(starts, 2.0, settings.memory, array)
    labels = classify_batch(finals)
    compiled_s, compiled_cpu = time.perf_counter() - t0, time.process_time() - c0
    compiled_rate = args.n_samples / compiled_s
    # CPU seconds beside wall seconds: on a shared machine the wall time includes waiting for a core
    print(f"D1, {args.n_samples} starts, {threads} threads: compiled GMIN-style L-BFGS {compiled_s:.2f} s wall, "
          f"{compiled_cpu:.2f} s CPU ({args.n_samples / compiled_cpu * threads:,.0f} minimisations/s on {threads} "
          f"uncontended cores by CPU time)")
    print(f"  {compiled_rate:,.0f} minimisations/s, {iterations.mean():.1f} iterations per start, "
          f"{int(np.count_nonzero(codes != core.CONVERGED))} unconverged")
    print(f"  class fractions {fractions(labels[codes == core.CONVERGED])}")

    n_scipy = min(args.n_scipy, args.n_samples)
    scipy_labels = np.empty(n_scipy, dtype=np.int64)
    scipy_failed = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(n_scipy):
        result = minimize(
            system.energy_gradient,
            starts[k],
            jac=True,
            method="L-BFGS-B",
        )
        scipy_failed += int(not result.success)
        scipy_labels[k] = system.classify(result.x)
    scipy_s, scipy_cpu = time.perf_counter() - t0, time.process_time() - c0
    scipy_rate = n_scipy / scipy_s
    print(f"scipy L-BFGS-B loop (1 thread), first {n_scipy} of the same starts: "
          f"{scipy_s / n_scipy * 1e3:.3f} ms per start, "
          f"{scipy_rate:,.0f} minimisations/s ({scipy_cpu / n_scipy * 1e3:.3f} ms CPU per start), "
          f"{scipy_failed} reported failure")
    print(f"  class fractions {fractions(scipy_labels)}")
    print(f"  compiled batch on the same {n_scipy} starts: class fractions {fractions(labels[:n_scipy])}, "
          f"labels differing from scipy's {int(np.count_nonzero(labels[:n_scipy] != scipy_labels))}")
    print(f"ratio compiled ({threads} threads) / scipy (1 thread): {compiled_rate / scipy_rate:,.0f}x; "
          f"per thread {compiled_rate / threads / scipy_rate:,.0f}x")

    # Python driver: per-evaluation cost beyond the energy call itself
    few = starts[:500]
    minimize_lbfgs(system, few[0], rms_gradient=1e-10)
    evaluations = 0
    t0 = time.process_time()  # single-threaded: CPU time is immune to other jobs on the machine
    for x in few:
        evaluations += minimize_lbfgs(system, x, rms_gradient=1e-10).nfev
    driver_s = time.process_time() - t0
    t0 = time.process_time()
    for _ in range(evaluations):
        system.energy_gradient(few[0])
    energy_s = time.process_time() - t0
    print(f"Python driver minimize_lbfgs on LJAT3System (CPU time): "
          f"{driver_s / evaluations * 1e6:.2f} us per evaluation, "
          f"of which energy_gradient {energy_s / evaluations * 1e6:.2f} us: overhead "
          f"{(driver_s - energy_s) / evaluations * 1e6:.2f} us per iteration")

    for name in ("D1", "D2", "D3"):
        t0 = time.perf_counter()
        pool = generate_pool(box_length=LJAT3_BOX_LENGTHS[name], n_samples=args.n_samples, seed=args.seed, name=name)
        meta = pool.metadata
        print(f"{name} (L={meta['box_length']:.4f}, {args.n_samples} samples, seed {args.seed}): class fractions "
              f"[{', '.join(f'{f:.4f}' for f in meta['class_fractions'])}], unconverged {meta['n_unconverged']}, "
              f"unclassified {meta['n_unclassified']}, generate_pool {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
