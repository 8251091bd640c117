"""Connection attempts on network losses: seconds per attempt, against the initial implementation, same run.

One attempt is :func:`lfl.explore.connection_attempt.connect_pair`: a DNEB between two minima,
eigenvector-following from its band maxima, and the two push-off minimisations of every transition
state found (with their Hessian index checks). Issue target: under 0.2 s per attempt for
[2,10,4,1000,1e-4] on LJAT3 D2.

Landscapes, all [2,10,4,1000,1e-4] (so one energy evaluation costs the same everywhere): D2 with the
issue's draw (pool seed 2, draw seed 0; its loss has only two minima: one pair), D2 with 10 %
mislabelled and D1 (more minima). Minima: compiled quenches (make_quench) of random weights,
deduplicated by energy and aligned distance, each verified by hessian_index(dense_max=1000). Pairs:
the first round's gaps, ``plan_pairs(strategy="shortest_path")`` with no transition states yet.

Contenders, each on every pair, timed in this run on ONE core:

- recommended: :func:`~lfl.explore.transition_states.network_connect_settings` (Newton steps in the
  orthogonal space from the exact Hessian, compiled push-off quenches with memory 200, DNEB up to 50
  iterations, up to 5 DNEB cycles per attempt with band-image quenches, single-ended searches from the
  second minimum when every band into it failed);
- one cycle: the same, one DNEB per attempt and nothing else (the first version of the recommended
  settings): cheaper per attempt, joins fewer pairs;
- reference: the initial implementation: hybrid eigenvector-following with L-BFGS steps in the
  orthogonal space (``tangent_method="lbfgs"``: 100 steps per iteration, 500 once converged along the
  mode), push-off quenches by the Python-loop L-BFGS with memory 4 (the system is wrapped so that the
  compiled quench does not apply), DNEB up to 1000 iterations, one cycle; ConnectSettings() otherwise,
  with dense_max 1000.

Printed: CPU seconds per attempt (``time.process_time``: the machine may be shared) mean and median,
the wall-clock breakdown (DNEB, eigenvector-following, push-off quenches with their index checks),
the success rate (a transition state joining two distinct minima), the connected rate (the pair itself
joined) and the check of every transition state (RMS gradient < 1e-9, one negative eigenvalue, above
both its minima); the cost of one gradient evaluation in this run (to scale to another machine); and
the time to the first result in a fresh process (numba caches warm).

Run: .venv/bin/python bench/bench_connect.py [--pairs-d2-10 3] [--pairs-d1 6] [--no-reference]
"""

from __future__ import annotations

# one core: the thread counts must be in the environment before numpy / numba load their libraries
from lfl.threads import set_thread_environment

set_thread_environment(1)

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from lfl.config import LJAT3_BOX_LENGTHS
from lfl.data.draw import draw_training_set
from lfl.data.ljat3 import generate_pool
from lfl.explore.connection_attempt import connect_pair
from lfl.explore.connection_strategy import plan_pairs
from lfl.explore.eigenvector_following import EFSettings, hessian_index
from lfl.explore.network_quench import make_quench
from lfl.explore.network_quench import HessianPreconditioning
from lfl.explore.transition_states import ConnectSettings, network_connect_settings
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.systems.base import System
from lfl.systems.mlp import MLPSystem

SPEC = [2, 10, 4, 1000, 1e-4]
DENSE_MAX = 1000


class PythonDriven(System):
    """The same loss without its compiled kernel: quenches go through the Python-loop L-BFGS (as first written)."""

    def __init__(self, inner: MLPSystem) -> None:
        self.inner = inner
        self.n_dof = inner.n_dof

    def energy_gradient(self, x):
        return self.inner.energy_gradient(x)

    def energy_gradient_batch(self, xs):
        return self.inner.energy_gradient_batch(xs)

    def hessian(self, x, step=None):
        return self.inner.hessian(x)

    def hessian_vector(self, x, v, step=None):
        return self.inner.hessian_vector(x, v)

    def align(self, reference, x):
        return self.inner.align(reference, x)

    def distance(self, a, b):
        return self.inner.distance(a, b)

    def canonical(self, x):
        return self.inner.canonical(x)


def reference_settings() -> ConnectSettings:
    return ConnectSettings(ef=EFSettings(dense_max=DENSE_MAX, tangent_method="lbfgs"), dense_max=DENSE_MAX)


def landscape(name: str, error_pct: int) -> MLPSystem:
    pool = generate_pool(box_length=LJAT3_BOX_LENGTHS[name], n_samples=20000, seed=2)
    draw = draw_training_set(pool, n_data=1000, error_pct=error_pct, seed=0)
    return MLPSystem(SPEC, draw.train_inputs, draw.train_labels)


def find_minima(system: MLPSystem, n_quenches: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct verified minima from quenches of random weights (uniform in +-1)."""
    quench = make_quench(system, LBFGSSettings(memory=100, max_step=1.0, rms_gradient=1e-9, max_iterations=20000))
    rng = np.random.default_rng(seed)
    minima: list[np.ndarray] = []
    energies: list[float] = []
    for _ in range(n_quenches):
        res = quench(system.random_weights(rng, 1.0))
        if not res.success or hessian_index(system, res.x, dense_max=DENSE_MAX)[0] != 0:
            continue
        if any(abs(res.energy - e) < 1e-6 and system.distance(m, res.x) < 1e-3 for m, e in zip(minima, energies)):
            continue
        minima.append(res.x)
        energies.append(res.energy)
    return np.array(minima), np.array(energies)


def check_transition_states(system: MLPSystem, result) -> tuple[int, int]:
    """(transition states passing every check, transition states) of one result."""
    good = 0
    for ts in result.transition_states:
        gradient = system.energy_gradient(ts.x)[1]
        rms = float(np.sqrt(gradient @ gradient / gradient.size))
        n_neg = hessian_index(system, ts.x, dense_max=DENSE_MAX)[0]
        above = ts.energy > max(ts.minus.energy, ts.plus.energy)
        good += rms < 1e-9 and n_neg == 1 and above and ts.minus.is_minimum and ts.plus.is_minimum
    return good, len(result.transition_states)


def run_contender(label: str, pairs, settings: ConnectSettings, wrap) -> dict:
    cpu, parts = [], {"dneb": [], "eigenvector_following": [], "quench": [], "total": []}
    success = connected = good = found = cycles = 0
    for system, x_a, x_b in pairs:
        started = time.process_time()
        result = connect_pair(wrap(system), x_a, x_b, settings)
        cpu.append(time.process_time() - started)
        for key in parts:
            parts[key].append(result.timings[key])
        success += result.success
        connected += result.connected
        cycles += result.n_cycles
        g, n = check_transition_states(system, result)
        good, found = good + g, found + n
    n = len(pairs)
    print(
        f"{label:12s} CPU s/attempt mean {statistics.mean(cpu):.3f} median {statistics.median(cpu):.3f} | wall: "
        f"DNEB {statistics.mean(parts['dneb']):.3f} EF {statistics.mean(parts['eigenvector_following']):.3f} "
        f"push-off {statistics.mean(parts['quench']):.3f} total {statistics.mean(parts['total']):.3f} | "
        f"success {success}/{n} connected {connected}/{n} | transition states checked {good}/{found} | "
        f"{cycles / n:.1f} DNEB cycles/attempt, CPU s per cycle {sum(cpu) / max(cycles, 1):.3f}",
        flush=True,
    )
    return {"cpu": cpu, "success": success}


def evaluation_cost(system: MLPSystem, x: np.ndarray, n: int = 2000) -> float:
    system.energy_gradient(x)
    started = time.process_time()
    for _ in range(n):
        system.energy_gradient(x)
    return (time.process_time() - started) / n


FRESH = """
import time
started = time.perf_counter()
from lfl.threads import set_thread_environment
set_thread_environment(1)
import numpy as np
from lfl.explore.connection_attempt import connect_pair
from lfl.explore.transition_states import network_connect_settings
from lfl.systems.mlp import MLPSystem
data = np.load({path!r})
system = MLPSystem({spec!r}, data["inputs"], data["labels"])
imported = time.perf_counter()
connect_pair(system, data["a"], data["b"], network_connect_settings())
print(f"{{imported - started:.2f}} {{time.perf_counter() - imported:.2f}}")
"""


def fresh_process_seconds(system: MLPSystem, x_a: np.ndarray, x_b: np.ndarray) -> tuple[float, float]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/pair.npz"
        np.savez(path, inputs=system.inputs, labels=system.labels, a=x_a, b=x_b)
        out = subprocess.run([sys.executable, "-c", FRESH.format(path=path, spec=SPEC)], capture_output=True,
                             text=True, check=True)
    imported, first = (float(v) for v in out.stdout.split())
    return imported, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs-d2-10", type=int, default=3)
    parser.add_argument("--pairs-d1", type=int, default=6)
    parser.add_argument("--quenches", type=int, default=40, help="random starts per landscape")
    parser.add_argument("--no-reference", action="store_true", help="time the recommended settings only")
    args = parser.parse_args()

    pairs = []
    for name, error_pct, n_pairs in (("D2", 0, 1), ("D2", 10, args.pairs_d2_10), ("D1", 0, args.pairs_d1)):
        if n_pairs <= 0:
            continue
        system = landscape(name, error_pct)
        minima, energies = find_minima(system, args.quenches, seed=5)
        planned = plan_pairs(minimum_ids=np.arange(len(minima)), energies=energies, ts_min1=[], ts_min2=[],
                             coords=minima, distance=system.distance, n_pairs=n_pairs)
        distances = [system.distance(minima[a], minima[b]) for a, b in planned]
        print(f"{name} {error_pct:3d} % mislabelled: {len(minima)} minima, {len(planned)} pair(s), aligned distances "
              + " ".join(f"{d:.2f}" for d in distances), flush=True)
        pairs += [(system, minima[a], minima[b]) for a, b in planned]
    if not pairs:
        raise SystemExit("no pairs to connect")

    first_system, first_a, first_b = pairs[0]
    seconds = evaluation_cost(first_system, first_a)
    print(f"one energy+gradient evaluation: {seconds * 1e6:.0f} µs CPU in this run; "
          f"one exact Hessian: {seconds_of(lambda: first_system.hessian(first_a)) * 1e3:.1f} ms")
    connect_pair(first_system, first_a, first_b, network_connect_settings())  # warm-up (caches, scipy)

    recommended = run_contender("recommended", pairs, network_connect_settings(), lambda s: s)
    # the same with one DNEB cycle, no band quenches, no single-ended searches (as in the first version)
    single = network_connect_settings(max_cycles=1, quench_images=False, single_ended_modes=0)
    run_contender("one cycle", pairs, single, lambda s: s)
    # the push-off minimisations Hessian-preconditioned like basin-hopping's quenches: faster, but their
    # Newton-metric steps follow the descent path from the saddle less closely (not the default)
    run_contender("precond.", pairs, network_connect_settings(precondition=HessianPreconditioning()), lambda s: s)
    if not args.no_reference:
        reference = run_contender("reference", pairs, reference_settings(), PythonDriven)
        ratio = statistics.median(reference["cpu"]) / statistics.median(recommended["cpu"])
        mean_ratio = statistics.mean(reference["cpu"]) / statistics.mean(recommended["cpu"])
        print(f"speed-up (reference / recommended): median {ratio:.1f}x, mean {mean_ratio:.1f}x")
    imported, first = fresh_process_seconds(first_system, first_a, first_b)
    print(f"fresh process: import + system {imported:.2f} s, first attempt {first:.2f} s (numba caches warm)")


def seconds_of(call, n: int = 20) -> float:
    call()
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) / n


if __name__ == "__main__":
    main()
