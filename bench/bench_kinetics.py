"""Rates between sets of minima by graph transformation (lfl.kinetics), against the dense master
equation in the same run, and at the size of the deepest reference landscapes.

Synthetic landscape-like networks: minima at random points of the unit square, each joined to its
nearest neighbours by a transition state (a few pairs twice: parallel transition states; a few
degenerate rearrangements), energies from a smooth two-funnel surface plus noise, transition states
above both minima. A = the global minimum's funnel below a level, B = the lowest minimum of the
other funnel; T = 0.1 of the energy range. Printed:
1. small networks (500, 2000 minima): seconds of NGT and of the dense linear solve, and the largest
   relative difference of their four numbers (rates and mean first-passage times both ways);
2. 100,000 minima and 300,000 transition states: NGT seconds and the peak resident memory of the
   process that ran it (a subprocess, so the figure is its own), and the largest relative difference
   from a sparse LU solve (scipy's SuperLU) of the same first-passage equations.

    python bench/bench_kinetics.py [--minima 100000] [--transition-states 300000]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

import numpy as np


def synthetic_network(n_minima: int, n_ts: int, seed: int = 0):
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    points = rng.uniform(0.0, 1.0, (n_minima, 2))
    funnel_a = np.exp(-((points - 0.25) ** 2).sum(axis=1) / 0.05)
    funnel_b = 0.9 * np.exp(-((points - 0.75) ** 2).sum(axis=1) / 0.05)
    energies = 1.0 - funnel_a - funnel_b + 0.05 * rng.standard_normal(n_minima)
    k = max(2, int(round(n_ts / n_minima)) + 1)
    _, neighbours = cKDTree(points).query(points, k=k + 1)
    min1 = np.repeat(np.arange(n_minima), k)
    min2 = neighbours[:, 1:].ravel()
    pairs = np.unique(np.sort(np.stack([min1, min2], axis=1), axis=1), axis=0)
    if pairs.shape[0] >= n_ts:
        pairs = pairs[rng.choice(pairs.shape[0], n_ts - n_ts // 50, replace=False)]
    extra = n_ts - pairs.shape[0]
    doubled = pairs[rng.choice(pairs.shape[0], extra - extra // 5)]  # parallel transition states
    loops = np.repeat(rng.choice(n_minima, extra // 5)[:, None], 2, axis=1)  # degenerate rearrangements
    pairs = np.concatenate([pairs, doubled, loops])
    min1, min2 = pairs[:, 0], pairs[:, 1]
    ts_energies = np.maximum(energies[min1], energies[min2]) + rng.exponential(0.05, min1.size)
    from lfl.kinetics.network import TransitionNetwork

    network = TransitionNetwork(energies, rng.normal(0.0, 1.0, n_minima), ts_energies, rng.normal(0.0, 1.0, min1.size),
                                min1, min2)
    return network, points


def sets(network, points):
    """A: the minima of the lower-left quarter (the global minimum's funnel) in the part of the
    network that holds the global minimum; B: the lowest minimum of the upper-right quarter there."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    energies, n = network.minimum_energies, network.n_minima
    graph = coo_matrix((np.ones(network.n_transition_states), (network.min1, network.min2)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    main = labels == labels[np.argmin(energies)]
    in_a = main & (points[:, 0] < 0.5) & (points[:, 1] < 0.5)
    in_b = np.zeros(n, dtype=bool)
    other = np.flatnonzero(main & (points[:, 0] > 0.5) & (points[:, 1] > 0.5))
    in_b[other[np.argmin(energies[other])]] = True
    return in_a, in_b


def largest_difference(ngt, reference: dict) -> float:
    ours = {"rate_a_to_b": ngt.rate_a_to_b, "rate_b_to_a": ngt.rate_b_to_a,
            "mfpt_a_to_b": ngt.mfpt_a_to_b, "mfpt_b_to_a": ngt.mfpt_b_to_a}
    return max(abs(ours[k] - reference[k]) / abs(reference[k]) for k in ours)


def sparse_reference(network, in_a, in_b, temperature):
    """The same definitions, first-passage times from scipy's sparse LU."""
    from scipy.sparse import coo_matrix, diags
    from scipy.sparse.linalg import spsolve

    from lfl.kinetics.harmonic import occupations, transition_state_rates

    rates = transition_state_rates(network, temperature)
    min1, min2 = network.min1, network.min2
    keep = min1 != min2
    n = network.n_minima
    source = np.concatenate([min1[keep], min2[keep]])
    target = np.concatenate([min2[keep], min1[keep]])
    values = np.exp(np.concatenate([rates.forward[keep], rates.backward[keep]]))
    matrix = coo_matrix((values, (source, target)), shape=(n, n)).tocsr()
    out = np.asarray(matrix.sum(axis=1)).ravel()
    p = occupations(network.minimum_energies, network.minimum_log_products, temperature)

    def passage(absorbing):
        free = np.flatnonzero(~absorbing)
        system = (diags(out[free]) - matrix[free][:, free]).tocsc()
        times = np.zeros(n)
        times[free] = spsolve(system, np.ones(free.size))
        return times

    to_b, to_a = passage(in_b), passage(in_a)
    pa, pb = p[in_a].sum(), p[in_b].sum()
    return {"rate_a_to_b": float((p[in_a] / to_b[in_a]).sum() / pa), "rate_b_to_a": float((p[in_b] / to_a[in_b]).sum() / pb),
            "mfpt_a_to_b": float((p[in_a] * to_b[in_a]).sum() / pa), "mfpt_b_to_a": float((p[in_b] * to_a[in_b]).sum() / pb)}


LARGE = """
import json, resource, sys, time
sys.path.insert(0, {bench!r})
import numpy as np
from bench_kinetics import sets, synthetic_network, sparse_reference, largest_difference
from lfl.kinetics.graph_transformation import two_state_rates
network, points = synthetic_network({n_minima}, {n_ts})
in_a, in_b = sets(network, points)
temperature = 0.1 * float(np.ptp(network.minimum_energies))
started = time.process_time()
result = two_state_rates(network, in_a, in_b, temperature)
seconds = time.process_time() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started = time.process_time()
reference = sparse_reference(network, in_a, in_b, temperature)
sparse_seconds = time.process_time() - started
print(json.dumps({{"seconds": seconds, "peak_mb": peak, "sparse_seconds": sparse_seconds,
                  "difference": largest_difference(result, reference), "n_a": int(in_a.sum()),
                  "log10_rate_a_to_b": result.log_rate_a_to_b / np.log(10), "n_edges": result.n_edges}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minima", type=int, default=100_000)
    parser.add_argument("--transition-states", type=int, default=300_000)
    args = parser.parse_args()

    from lfl.kinetics.graph_transformation import two_state_rates
    from lfl.kinetics.master_equation import two_state_rates_dense

    print("small networks: graph transformation (NGT) against the dense master equation, same networks")
    for n in (500, 2000):
        network, points = synthetic_network(n, 3 * n, seed=1)
        in_a, in_b = sets(network, points)
        args_ = (network, in_a, in_b, 0.1 * float(np.ptp(network.minimum_energies)))
        two_state_rates(*args_)  # compiled once
        started = time.process_time()
        ngt = two_state_rates(*args_)
        t_ngt = time.process_time() - started
        started = time.process_time()
        dense = two_state_rates_dense(*args_)
        t_dense = time.process_time() - started
        print(f"  {n:6d} minima, {network.n_transition_states:6d} transition states: NGT {t_ngt:7.3f} s, dense solve {t_dense:7.3f} s "
              f"({t_dense / t_ngt:6.1f}x), largest relative difference {largest_difference(ngt, dense):.1e}, "
              f"k(A->B) = {ngt.rate_a_to_b:.3e}")

    bench_dir = str(__import__("pathlib").Path(__file__).resolve().parent)
    code = LARGE.format(bench=bench_dir, n_minima=args.minima, n_ts=args.transition_states)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.minima} minima, {args.transition_states} transition states ({row['n_edges']} distinct pairs), "
          f"|A| = {row['n_a']}, |B| = 1:")
    print(f"  NGT {row['seconds']:.2f} CPU s (goal < 10 s), peak memory of the process {row['peak_mb']:.0f} MB "
          f"(goal < 2048 MB); sparse LU reference {row['sparse_seconds']:.2f} s, largest relative difference "
          f"{row['difference']:.1e}; log10 k(A->B) = {row['log10_rate_a_to_b']:.2f}; wall {time.perf_counter() - started:.0f} s")
    if not math.isfinite(row["difference"]):
        raise SystemExit("NGT and the sparse reference disagree")


if __name__ == "__main__":
    main()
