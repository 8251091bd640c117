"""Basin-hopping on network losses: verified quenches per second on one core, against numpy + scipy.

Default run (about two minutes), everything timed in this run on ONE core (numba and BLAS threads = 1),
in CPU seconds of this process (``time.process_time``: the machine may be shared):

1. for [2,10,4,1000,1e-4] on LJAT3 D2 and D1 and [64,10,10,1000,0.1] on the sklearn digits (all 898
   items of the digits training half): a basin-hopping walk (lfl.explore.basin_hopping with the
   compiled quench of lfl.explore.network_quench, minimised to RMS gradient 1e-9, each minimum verified
   by lfl.explore.eigenvector_following.hessian_index, dense Hessian) and, on the first few of the same
   starting points, a reference written here: a plain numpy loss and gradient,
   scipy.optimize.minimize(method="L-BFGS-B", jac=True) with gtol 1e-9 (a max-norm, so RMS <= 1e-9 when
   it gets there) and ftol 0, verified by the eigenvalues of a central-difference Hessian of the numpy
   gradient;
2. peak resident memory of a subprocess that takes a few basin-hopping steps on a 7960-weight
   [784,10,10,1000,0.1] network (random inputs of MNIST's shape), verified by Lanczos (no dense Hessian).

``--tune``: iterations and time per quench for memory M in {4,10,20,30,50,100} and max_step in
{0.1,0.5,1,2} on D2 (the same perturbed starts for every setting), the Hessian preconditioning's switch
point and refresh interval on D2, and the memories on digits.

Also printed: the cost of one L-BFGS iteration split into the energy+gradient kernel (timed alone) and the
rest (the L-BFGS step of lfl.numerics.lbfgs_core and the compiled driver).

Run: .venv/bin/python bench/bench_basin_hopping.py [--quick] [--tune] [--memory M] [--max-step S] [--cases ...]
"""

from __future__ import annotations

# one core: the thread counts must be in the environment before numpy / numba load their libraries
from lfl.threads import set_thread_environment

set_thread_environment(1)

import argparse
import math
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numba
import numpy as np
from scipy.optimize import minimize

from lfl.config import LJAT3_BOX_LENGTHS
from lfl.data.digits import load_digits_pool
from lfl.data.draw import draw_training_set
from lfl.data.ljat3 import generate_pool
from lfl.errors import LflError
from lfl.explore.basin_hopping import BasinHoppingReport, BasinHoppingSettings, basin_hopping, start_walk
from lfl.explore.eigenvector_following import hessian_index
from lfl.explore.network_quench import HessianPreconditioning, make_quench, uses_compiled_quench
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.systems import mlp_kernels
from lfl.systems.mlp import MLPSystem

RMS_TOL = 1e-9
REFERENCE_MAXCOR = 10  # scipy's default memory
REFERENCE_PAPER_RATE = (6.0, 9.0)  # quenches/s of an independent numpy/scipy code on [2,10,4,1000,1e-4]


# ------------------------------------------------------------------------------------------- data


def ljat3_draw(name: str, pool_seed: int):
    pool = generate_pool(box_length=LJAT3_BOX_LENGTHS[name], n_samples=20000, seed=pool_seed)
    draw = draw_training_set(pool, n_data=1000, error_pct=0, seed=0)
    return draw.train_inputs, draw.train_labels


def digits_draw():
    pool = load_digits_pool(seed=0)
    n_data = min(1000, int(pool.train_index.size))  # the training half holds 898 of the 1797 digits
    draw = draw_training_set(pool, n_data=n_data, error_pct=0, seed=0)
    return draw.train_inputs, draw.train_labels


# ------------------------------------------------------------------------------ numpy reference


class NumpyLoss:
    """Softmax cross-entropy + lam |w|^2 of a one-hidden-layer tanh MLP, in plain numpy (lfl's layout)."""

    def __init__(self, sizes, inputs: np.ndarray, labels: np.ndarray, lam: float) -> None:
        self.n_in, self.n_hidden, self.n_out = sizes
        self.inputs = np.ascontiguousarray(inputs, dtype=np.float64)
        self.labels = np.asarray(labels)
        self.onehot = np.eye(self.n_out)[self.labels]
        self.rows = np.arange(self.labels.size)
        self.lam = lam
        self.nfev = 0

    def unpack(self, w: np.ndarray):
        n_in, n_h, n_out = self.n_in, self.n_hidden, self.n_out
        o1 = n_h * n_in
        o2 = o1 + n_h
        o3 = o2 + n_out * n_h
        return w[:o1].reshape(n_h, n_in), w[o1:o2], w[o2:o3].reshape(n_out, n_h), w[o3:]

    def __call__(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        self.nfev += 1
        w1, b1, w2, b2 = self.unpack(w)
        n = self.labels.size
        hidden = np.tanh(self.inputs @ w1.T + b1)
        logits = hidden @ w2.T + b2
        top = logits.max(axis=1, keepdims=True)
        expd = np.exp(logits - top)
        total = expd.sum(axis=1, keepdims=True)
        log_label = logits[self.rows, self.labels] - top[:, 0] - np.log(total[:, 0])
        energy = -log_label.mean() + self.lam * (w @ w)
        d_logits = (expd / total - self.onehot) / n
        d_hidden = (d_logits @ w2) * (1.0 - hidden * hidden)
        gradient = np.concatenate(
            [(d_hidden.T @ self.inputs).ravel(), d_hidden.sum(0), (d_logits.T @ hidden).ravel(), d_logits.sum(0)]
        )
        return float(energy), gradient + 2.0 * self.lam * w

    def hessian_index(self, w: np.ndarray, step: float = 1e-5) -> tuple[int, float]:
        """(negative eigenvalues, lowest eigenvalue) of a central-difference Hessian of the gradient."""
        n = w.size
        hess = np.empty((n, n))
        probe = w.copy()
        for i in range(n):
            probe[i] = w[i] + step
            g_plus = self(probe)[1]
            probe[i] = w[i] - step
            g_minus = self(probe)[1]
            probe[i] = w[i]
            hess[i] = (g_plus - g_minus) / (2.0 * step)
        values = np.linalg.eigvalsh(0.5 * (hess + hess.T))
        # differences of a gradient good to ~1e-16 over 2e-5 blur eigenvalues by ~1e-10
        return int(np.count_nonzero(values < -1e-8)), float(values[0])


def reference_quench(loss: NumpyLoss, x0: np.ndarray):
    result = minimize(
        loss,
        x0,
        method="L-BFGS-B",
        jac=True,
        options={"maxcor": REFERENCE_MAXCOR, "gtol": RMS_TOL, "ftol": 0.0, "maxiter": 20000, "maxfun": 40000},
    )
    rms = math.sqrt(float(result.jac @ result.jac) / result.jac.size)
    return result, rms


# ------------------------------------------------------------------------------ lfl walk, timed


@dataclass
class Timed:
    """Wraps the quench and the verification: CPU seconds and the start of every quench."""

    quench: object
    system: MLPSystem
    dense_max: int = 300
    verify_failures: int = 0  # Lanczos gave no eigenvalue: counted as not verified, the walk goes on
    starts: list = field(default_factory=list)
    quench_cpu: list = field(default_factory=list)
    verify_cpu: list = field(default_factory=list)
    nit: list = field(default_factory=list)
    nfev: list = field(default_factory=list)
    nhev: list = field(default_factory=list)
    converged: list = field(default_factory=list)
    energies: list = field(default_factory=list)

    def run_quench(self, x0):
        self.starts.append(np.array(x0))
        t0 = time.process_time()
        result = self.quench(x0)
        self.quench_cpu.append(time.process_time() - t0)
        self.verify_cpu.append(0.0)
        self.nit.append(result.nit)
        self.nfev.append(result.nfev)
        self.nhev.append(result.nhev)
        self.converged.append(bool(result.success and result.rms_gradient < RMS_TOL))
        self.energies.append(result.energy)
        return result

    def run_verify(self, x):
        t0 = time.process_time()
        try:
            answer = hessian_index(self.system, x, dense_max=self.dense_max)
        except LflError:
            self.verify_failures += 1
            answer = (1, math.nan, math.nan)
        self.verify_cpu[-1] = time.process_time() - t0
        return answer


def walk(system: MLPSystem, settings: LBFGSSettings, n_steps: int, seed: int, dense_max: int = 300,
         precondition: HessianPreconditioning | None = None) -> tuple[Timed, BasinHoppingReport]:
    timed = Timed(make_quench(system, settings, precondition), system, dense_max)
    rng = np.random.default_rng(seed)
    report = BasinHoppingReport()
    bh = BasinHoppingSettings()
    state = start_walk(system.random_weights(rng), quench=timed.run_quench, verify=timed.run_verify,
                       step_size=bh.step_size, report=report, rng=rng)
    basin_hopping(state, n_steps=n_steps, settings=bh, rng=rng, quench=timed.run_quench,
                  verify=timed.run_verify, report=report)
    return timed, report


@numba.njit(cache=True)
def _kernel_loop(calls, x, gradient, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    total = 0.0
    for _ in range(calls):
        total += mlp_kernels.kernel(x, gradient, var_index, n_full, sizes, xt, labels, lam, blas_first, work)
    return total


def kernel_seconds(system: MLPSystem, x: np.ndarray, calls: int = 200, rounds: int = 5) -> float:
    """CPU seconds of one energy+gradient evaluation, best of ``rounds`` compiled loops."""
    gradient = np.empty(system.n_dof)
    _kernel_loop(1, x, gradient, *system.kernel_args)
    best = math.inf
    for _ in range(rounds):
        t0 = time.process_time()
        _kernel_loop(calls, x, gradient, *system.kernel_args)
        best = min(best, (time.process_time() - t0) / calls)
    return best


def bench_case(label: str, spec, inputs, labels, settings: LBFGSSettings, n_steps: int, n_ref: int,
               dense_max: int = 300, precondition: HessianPreconditioning | None = None) -> dict:
    system = MLPSystem(spec, inputs, labels)
    assert uses_compiled_quench(system)
    loss = NumpyLoss(system.spec.layer_sizes, inputs, labels, system.lam)
    probe = system.random_weights(np.random.default_rng(99))
    e_lfl, g_lfl = system.energy_gradient(probe)
    e_np, g_np = loss(probe)
    agreement = max(abs(e_lfl - e_np), float(np.max(np.abs(g_lfl - g_np))))
    if agreement > 1e-10:
        raise SystemExit(f"{label}: the numpy reference loss disagrees with lfl's by {agreement:.2e}")

    quench = make_quench(system, settings, precondition)
    plain = make_quench(system, settings)
    quench(probe)  # compile / load the cache outside the timing
    plain(probe)
    hessian_index(system, probe, dense_max=dense_max)
    kernel_before = kernel_seconds(system, probe)
    timed, report = walk(system, settings, n_steps, seed=1, dense_max=dense_max, precondition=precondition)
    n_q = len(timed.quench_cpu)
    quench_cpu = float(np.sum(timed.quench_cpu))
    # what the preconditioning is worth: plain L-BFGS (same M, max_step) from the same starts
    t0 = time.process_time()
    plain_results = [plain(x0) for x0 in timed.starts]
    plain_cpu = time.process_time() - t0
    verify_cpu = float(np.sum(timed.verify_cpu))
    kernel_s = min(kernel_before, kernel_seconds(system, probe))  # both sides of the walk: a shared machine
    eval_s = quench_cpu / float(np.sum(timed.nfev))

    ref_quench_cpu, ref_verify_cpu, ref_nit, ref_rms, ref_messages, ref_ok, same_minimum = [], [], [], [], {}, 0, 0
    for k, x0 in enumerate(timed.starts[:n_ref]):
        t0 = time.process_time()
        result, rms = reference_quench(loss, x0)
        ref_quench_cpu.append(time.process_time() - t0)
        t0 = time.process_time()
        loss.hessian_index(result.x)
        ref_verify_cpu.append(time.process_time() - t0)
        ref_nit.append(result.nit)
        ref_rms.append(rms)
        ref_messages[str(result.message)] = ref_messages.get(str(result.message), 0) + 1
        ref_ok += rms < RMS_TOL
        same_minimum += abs(result.fun - timed.energies[k]) < 1e-7
    m = len(ref_quench_cpu)
    ours_subset = float(np.sum(timed.quench_cpu[:m]) + np.sum(timed.verify_cpu[:m]))
    ref_total = float(np.sum(ref_quench_cpu) + np.sum(ref_verify_cpu))
    return {
        "label": label,
        "n_dof": system.n_dof,
        "n_quench": n_q,
        "converged": int(np.sum(timed.converged)),
        "verified": len(report.minima),
        "nit": float(np.mean(timed.nit)),
        "nfev": float(np.mean(timed.nfev)),
        "nhev": float(np.mean(timed.nhev)),
        "plain_nit": float(np.mean([r.nit for r in plain_results])),
        "plain_ok": sum(bool(r.success) for r in plain_results),
        "plain_quench_ms": 1e3 * plain_cpu / n_q,
        "kernel_us": 1e6 * kernel_s,
        "eval_us": 1e6 * eval_s,
        "step_us": 1e6 * (plain_cpu / sum(r.nit for r in plain_results) - kernel_s * sum(r.nfev for r in plain_results) / sum(r.nit for r in plain_results)),
        "quench_ms": 1e3 * quench_cpu / n_q,
        "verify_ms": 1e3 * verify_cpu / n_q,
        "rate": n_q / (quench_cpu + verify_cpu),
        "quench_rate": n_q / quench_cpu,
        "ref_n": m,
        "ref_ok": ref_ok,
        "ref_nit": float(np.mean(ref_nit)),
        "ref_rms": float(np.median(ref_rms)),
        "ref_messages": ref_messages,
        "ref_quench_ms": 1e3 * float(np.mean(ref_quench_cpu)),
        "ref_verify_ms": 1e3 * float(np.mean(ref_verify_cpu)),
        "ref_rate": m / ref_total,
        "ref_quench_rate": m / float(np.sum(ref_quench_cpu)),
        "speedup": ref_total / ours_subset,
        "quench_speedup": float(np.sum(ref_quench_cpu)) / float(np.sum(timed.quench_cpu[:m])),
        "same_minimum": same_minimum,
        "agreement": agreement,
        "verify_method": "dense" if system.n_dof <= dense_max else "Lanczos",
        "verify_failures": timed.verify_failures,
    }


def describe_precondition(precondition: HessianPreconditioning | None) -> str:
    if precondition is None or precondition.below_rms == 0:
        return "no preconditioning"
    return (f"Hessian-preconditioned below RMS {precondition.below_rms:g}, refreshed every {precondition.refresh_every}"
            f" steps, up to {precondition.max_weights} weights")


def print_bench_table(rows: list[dict], settings: LBFGSSettings, precondition: HessianPreconditioning | None) -> None:
    print(f"\nlfl: compiled network quench (M={settings.memory}, max_step={settings.max_step}, RMS grad < {RMS_TOL:g},"
          f" {describe_precondition(precondition)})"
          f" + hessian_index (dense Hessian up to its dense_max); reference: numpy loss + scipy L-BFGS-B (maxcor {REFERENCE_MAXCOR}, gtol {RMS_TOL:g},"
          " ftol 0) + central-difference Hessian. CPU time, one core.")
    head = (f"{'case':<28}{'dof':>5}{'steps':>6}{'conv':>6}{'ver':>5}{'nit':>7}{'q ms':>8}{'v ms':>8}{'ver q/s':>9}"
            f" | {'ref n':>5}{'RMS ok':>7}{'nit':>7}{'q ms':>8}{'v ms':>8}{'q/s':>7} | {'x q':>6}{'x all':>7}{'same':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if r["verify_failures"]:
            print(f"  ({r['label']}: {r['verify_failures']} verifications failed)")
        print(f"{r['label']:<28}{r['n_dof']:>5}{r['n_quench']:>6}{r['converged']:>6}{r['verified']:>5}{r['nit']:>7.0f}"
              f"{r['quench_ms']:>8.1f}{r['verify_ms']:>8.1f}{r['rate']:>9.1f}"
              f" | {r['ref_n']:>5}{r['ref_ok']:>4}/{r['ref_n']:<2}{r['ref_nit']:>7.0f}{r['ref_quench_ms']:>8.1f}"
              f"{r['ref_verify_ms']:>8.1f}{r['ref_rate']:>7.2f} | {r['quench_speedup']:>6.1f}{r['speedup']:>7.1f}"
              f"{r['same_minimum']:>4}/{r['ref_n']:<2}")
    print("columns: steps = quenches of the walk (start included); conv = reached RMS < 1e-9; ver = verified minima;"
          " nit = mean L-BFGS iterations; q/v ms = CPU ms per quench / per verification; ver q/s = quench +"
          " verification per CPU second; x q, x all = speed-up over the reference on the same starts (quench only,"
          " quench + verification); same = both reached the same energy (1e-7).")
    for r in rows:
        print(f"{r['label']}: the same starts by plain L-BFGS: {r['plain_quench_ms']:.1f} ms per quench,"
              f" {r['plain_nit']:.0f} iterations ({r['plain_ok']}/{r['n_quench']} converged); preconditioned"
              f" {r['quench_ms']:.1f} ms, {r['nit']:.0f} iterations, {r['nhev']:.1f} exact Hessians:"
              f" {r['plain_quench_ms'] / r['quench_ms']:.2f}x from the preconditioning")
    for r in rows:
        print(f"{r['label']}: plain L-BFGS per iteration {r['kernel_us'] + r['step_us']:.1f} us = energy+gradient"
              f" kernel {r['kernel_us']:.1f} us (x ~1.03 evaluations) + L-BFGS step and driver {r['step_us']:.1f} us")
    for r in rows:
        outcomes = "; ".join(f"{count} x {message}" for message, count in r["ref_messages"].items())
        print(f"{r['label']}: lfl verification {r['verify_method']}; reference: median final RMS gradient"
              f" {r['ref_rms']:.1e}, scipy said: {outcomes}")
    d2 = [r for r in rows if r["label"].startswith("D2")]
    if d2:
        low, high = REFERENCE_PAPER_RATE
        print(f"D2 quench-only rate {d2[0]['quench_rate']:.1f}/s = {d2[0]['quench_rate'] / high:.1f}x - "
              f"{d2[0]['quench_rate'] / low:.1f}x the independent numpy/scipy code's {low:g}-{high:g} quenches/s "
              "(target 10x, aim 20x)")


# --------------------------------------------------------------------------- memory (subprocess)


def peak_rss_mb() -> float:
    """Peak resident memory of this process: VmHWM (Linux; ru_maxrss would include the parent's peak,
    which a child inherits across fork and exec), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(n_steps: int, settings: LBFGSSettings) -> None:
    """A few basin-hopping steps on [784,10,10,1000,0.1]; prints peak RSS and the time they took."""
    before = peak_rss_mb()
    rng = np.random.default_rng(0)
    inputs = rng.uniform(0.0, 1.0, size=(1000, 784))  # MNIST's shape and scale
    labels = rng.integers(0, 10, size=1000)
    system = MLPSystem([784, 10, 10, 1000, 0.1], inputs, labels)
    dense_max = 300
    assert system.n_dof > dense_max  # verification by Lanczos: no dense Hessian is ever formed
    t0 = time.perf_counter()
    timed, report = walk(system, settings, n_steps, seed=2)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(f"MEMORY n_dof={system.n_dof} quenches={len(timed.quench_cpu)} verified={len(report.minima)} "
          f"nit={np.mean(timed.nit):.0f} quench_s={np.mean(timed.quench_cpu):.2f} verify_s={np.mean(timed.verify_cpu):.2f} "
          f"wall_s={seconds:.1f} lanczos_failures={timed.verify_failures} rss_after_imports_MB={before:.0f} peak_rss_MB={peak:.0f}")


def run_memory_child(n_steps: int, settings: LBFGSSettings) -> None:
    command = [sys.executable, __file__, "--memory-child", "--memory-steps", str(n_steps),
               "--memory", str(settings.memory), "--max-step", str(settings.max_step)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("MEMORY")]
    if out.returncode != 0 or not lines:
        print(f"memory subprocess failed ({out.returncode}):\n{out.stderr[-2000:]}")
        return
    fields = dict(item.split("=") for item in lines[-1].split()[1:])
    print(f"\n[784,10,10,1000,0.1] ({fields['n_dof']} weights, random MNIST-shaped inputs), start + {n_steps} "
          f"basin-hopping steps, verification by Lanczos (no dense Hessian):")
    print(f"  quenches {fields['quenches']}, verified {fields['verified']}, mean iterations {fields['nit']}, "
          f"CPU s per quench {fields['quench_s']}, per verification {fields['verify_s']}, wall {fields['wall_s']} s, "
          f"Lanczos failures {fields['lanczos_failures']}")
    print(f"  peak resident memory {fields['peak_rss_MB']} MB (after imports {fields['rss_after_imports_MB']} MB);"
          " target < 500 MB")


# -------------------------------------------------------------------------------------- tuning


def tune_starts(system: MLPSystem, n_starts: int, seed: int) -> list[np.ndarray]:
    """Basin-hopping-like starts: independent +-1 perturbations of one minimum."""
    rng = np.random.default_rng(seed)
    minimum = make_quench(system, LBFGSSettings(memory=30, max_step=0.5, max_iterations=50000))(system.random_weights(rng))
    return [minimum.x + rng.uniform(-1.0, 1.0, system.n_dof) for _ in range(n_starts)]


def tune_row(system, starts, memory: int, max_step: float, precondition: HessianPreconditioning | None = None) -> dict:
    quench = make_quench(system, LBFGSSettings(memory=memory, max_step=max_step, max_iterations=50000), precondition)
    t0 = time.process_time()
    results = [quench(x) for x in starts]
    cpu = time.process_time() - t0
    nit = np.array([r.nit for r in results])
    return {"memory": memory, "max_step": max_step, "nit_median": float(np.median(nit)), "nit_mean": float(nit.mean()),
            "nfev_mean": float(np.mean([r.nfev for r in results])), "ok": sum(r.success for r in results),
            "ms": 1e3 * cpu / len(starts), "us_per_eval": 1e6 * cpu / sum(r.nfev for r in results)}


def print_tune_rows(rows: list[dict], n: int, baseline: dict) -> None:
    print(f"{'M':>4}{'max_step':>9}{'nit med':>9}{'nit mean':>9}{'nfev':>7}{'ok':>6}{'ms/quench':>10}{'q/s':>7}"
          f"{'us/eval':>9}{'d nit':>8}{'d time':>8}")
    for r in rows:
        print(f"{r['memory']:>4}{r['max_step']:>9g}{r['nit_median']:>9.0f}{r['nit_mean']:>9.0f}{r['nfev_mean']:>7.0f}"
              f"{r['ok']:>4}/{n:<2}{r['ms']:>9.1f}{1e3 / r['ms']:>7.1f}{r['us_per_eval']:>9.1f}"
              f"{r['nit_mean'] - baseline['nit_mean']:>+8.0f}{100 * (r['ms'] / baseline['ms'] - 1):>+7.0f}%")


def tune(n_starts: int) -> None:
    numba.set_num_threads(1)
    inputs, labels = ljat3_draw("D2", pool_seed=2)
    system = MLPSystem([2, 10, 4, 1000, 1e-4], inputs, labels)
    starts = tune_starts(system, n_starts, seed=5)
    tune_row(system, starts[:1], 10, 0.5)  # compile / load the cache
    baseline = tune_row(system, starts, 10, 0.5)
    rows = [tune_row(system, starts, m, s) for m in (4, 10, 20, 30, 50, 100) for s in (0.1, 0.5, 1.0, 2.0)]
    print(f"\n[2,10,4,1000,1e-4] on D2: {n_starts} starts (+-1 perturbations of one minimum), RMS gradient < {RMS_TOL:g};"
          " d nit / d time against M=10, max_step=0.5 (the current config default); CPU time, one core")
    print_tune_rows(rows, n_starts, baseline)

    # the Hessian preconditioning of the quench's last phase (M=100, max_step 1): where to switch, how often
    # to refresh the Hessian; against plain L-BFGS with the same memory
    plain = tune_row(system, starts, 100, 1.0)
    print(f"\n[2,10,4,1000,1e-4] on D2, M=100, max_step 1: Hessian preconditioning below RMS b, a fresh Hessian every r"
          f" steps; plain L-BFGS {plain['ms']:.1f} ms, {plain['nit_mean']:.0f} iterations per quench")
    print(f"{'below':>8}{'every':>6}{'nit mean':>9}{'nhev':>6}{'ok':>6}{'ms/quench':>10}{'x plain':>8}")
    for below in (1e-4, 3e-5, 1e-5):
        for every in (20, 50, 100):
            quench = make_quench(system, LBFGSSettings(memory=100, max_step=1.0, max_iterations=50000),
                                 HessianPreconditioning(below_rms=below, refresh_every=every))
            quench(starts[0])  # the first row would pay the kernel's cache load
            t0 = time.process_time()
            results = [quench(x) for x in starts]
            ms = 1e3 * (time.process_time() - t0) / len(starts)
            print(f"{below:>8g}{every:>6}{np.mean([r.nit for r in results]):>9.0f}{np.mean([r.nhev for r in results]):>6.1f}"
                  f"{sum(r.success for r in results):>4}/{len(results):<2}{ms:>9.1f}{plain['ms'] / ms:>8.2f}")

    inputs, labels = digits_draw()
    system = MLPSystem([64, 10, 10, 1000, 0.1], inputs, labels)
    starts = tune_starts(system, max(4, n_starts // 2), seed=5)
    tune_row(system, starts[:1], 10, 0.5)
    baseline = tune_row(system, starts, 10, 0.5)
    rows = [tune_row(system, starts, m, s) for m in (4, 10, 20, 30, 50, 100) for s in (0.5, 2.0)]
    print(f"\n[64,10,10,1000,0.1] on digits ({system.n_dof} weights, {labels.size} items): {len(starts)} starts")
    print_tune_rows(rows, len(starts), baseline)


# ---------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="the memory / max_step table instead of the benchmark")
    parser.add_argument("--tune-starts", type=int, default=12)
    parser.add_argument("--memory", type=int, default=100, help="L-BFGS memory M of the lfl quench")
    parser.add_argument("--max-step", type=float, default=1.0, help="L-BFGS max_step of the lfl quench")
    parser.add_argument("--precondition-below-rms", type=float, default=HessianPreconditioning().below_rms,
                        help="RMS gradient below which the quench is Hessian-preconditioned (0: never)")
    parser.add_argument("--precondition-every", type=int, default=HessianPreconditioning().refresh_every)
    parser.add_argument("--steps", type=int, default=30, help="basin-hopping steps per LJAT3 case")
    parser.add_argument("--reference", type=int, default=8, help="starts given to the scipy reference per case")
    parser.add_argument("--memory-steps", type=int, default=2)
    parser.add_argument("--cases", nargs="+", default=["D2", "D1", "digits", "mnist"],
                        choices=["D2", "D1", "digits", "mnist"])
    parser.add_argument("--quick", action="store_true", help="D2 and D1 only, 2 reference starts each (about 20 s)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.cases = [case for case in args.cases if case in ("D2", "D1")] or ["D2", "D1"]
        args.reference = min(args.reference, 2)
    numba.set_num_threads(1)
    settings = LBFGSSettings(memory=args.memory, max_step=args.max_step, rms_gradient=RMS_TOL, max_iterations=20000)
    precondition = HessianPreconditioning(below_rms=args.precondition_below_rms, refresh_every=args.precondition_every)
    if args.memory_child:
        memory_child(args.memory_steps, settings)
        return
    if args.tune:
        tune(args.tune_starts)
        return

    started = time.perf_counter()
    rows = []
    for name, pool_seed in (("D2", 2), ("D1", 1)):
        if name not in args.cases:
            continue
        inputs, labels = ljat3_draw(name, pool_seed)
        rows.append(bench_case(f"{name} [2,10,4,1000,1e-4]", [2, 10, 4, 1000, 1e-4], inputs, labels, settings,
                               args.steps, args.reference, precondition=precondition))
        print(f"{rows[-1]['label']}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    if "digits" in args.cases:
        inputs, labels = digits_draw()
        # dense: Lanczos (ARPACK) does not converge on the near-degenerate bottom of this spectrum
        rows.append(bench_case(f"digits [64,10,10,{labels.size},0.1]", [64, 10, 10, 1000, 0.1], inputs, labels,
                               settings, max(5, args.steps // 2), max(3, args.reference // 2), dense_max=1000,
                               precondition=precondition))
        print(f"{rows[-1]['label']}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    if rows:
        print_bench_table(rows, settings, precondition)
    if "mnist" in args.cases:
        run_memory_child(args.memory_steps, settings)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
