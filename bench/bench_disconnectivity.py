"""Benchmark: disconnectivity tree and drawing for a random connected KTN (10,000 minima, ~20,000 TS).

References timed in the same run:
- tree: the groups of every level by scipy's connected_components, one graph per level (an
  independent method; its partitions are also checked against the tree's);
- drawing: one Line2D per segment (the naive way) against one LineCollection, on a 1,000-minimum
  landscape (the naive way is too slow to wait for at 10,000).

Usage: .venv/bin/python bench/bench_disconnectivity.py [--minima 10000] [--ts 20000] [--levels 40] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lfl.analysis.disconnectivity import build_disconnectivity_tree
from lfl.analysis.plots import plot_disconnectivity, save_figure


def random_ktn(n_minima: int, n_ts: int, seed: int):
    """A connected KTN with nested funnels, like a real landscape.

    Minima sit along a line on a rough profile (a random walk plus noise); a TS joins neighbours on the
    line, and extra TS join minima a few places apart over the highest minimum between them plus a
    random barrier. AUC falls with energy, with noise.
    """
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, 1.0, size=n_minima))
    energies = 0.1 + 0.3 * (walk - walk.min()) / np.ptp(walk) + rng.gamma(2.0, 0.01, size=n_minima)
    n_extra = n_ts - (n_minima - 1)
    ends_a = np.concatenate([np.arange(n_minima - 1), rng.integers(0, n_minima, size=n_extra)])
    hops = np.concatenate([np.ones(n_minima - 1, dtype=np.int64), 1 + rng.geometric(0.3, size=n_extra)])
    ends_b = np.minimum(ends_a + hops, n_minima - 1)
    ends_a, ends_b = ends_a[ends_a != ends_b], ends_b[ends_a != ends_b]
    highest_between = np.array([energies[i: j + 1].max() for i, j in zip(ends_a.tolist(), ends_b.tolist())])
    ts_energies = highest_between + rng.exponential(0.01, size=ends_a.size)
    auc = np.clip(0.97 - 1.5 * (energies - energies.min()) + rng.normal(0, 0.04, size=n_minima), 0, 1)
    return energies, ts_energies, ends_a, ends_b, auc


def reference_groups(energies, ts_energies, a, b, level_energy):
    """Partition at one level by connected_components over the minima and TS below the level."""
    exists = energies <= level_energy
    join = np.maximum(ts_energies, np.maximum(energies[a], energies[b]))
    use = (join <= level_energy) & (a != b)
    n = energies.size
    graph = coo_matrix((np.ones(use.sum()), (a[use], b[use])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    groups = {}
    for m in np.flatnonzero(exists):
        groups.setdefault(labels[m], set()).add(int(m))
    return {frozenset(g) for g in groups.values()}


def time_tree(energies, ts, a, b, levels):
    start = time.perf_counter()
    tree = build_disconnectivity_tree(energies, ts, a, b, n_levels=levels)
    return tree, time.perf_counter() - start


def time_draw(tree, values, out: Path, name: str, **options):
    """Seconds to draw, to draw and save the PNG, and to save both PNG and SVG (save_figure)."""
    start = time.perf_counter()
    fig = plot_disconnectivity(tree, values, title=f"random KTN, {tree.n_minima} minima", **options)
    drawn = time.perf_counter() - start
    fig.savefig(out / f"{name}_only.png", dpi=150)
    with_png = time.perf_counter() - start
    start = time.perf_counter()
    paths = save_figure(fig, out / name)
    return drawn, with_png, time.perf_counter() - start, paths


def time_naive_draw(tree, values, out: Path):
    import matplotlib

    cmap = matplotlib.colormaps["RdBu"]
    start = time.perf_counter()
    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot()
    lo, hi = np.nanmin(values), np.nanmax(values)
    for segment, m in zip(tree.segments, tree.segment_minimum):
        colour = cmap((values[m] - lo) / (hi - lo)) if m >= 0 else "0.2"
        ax.plot(segment[:, 0], segment[:, 1], color=colour, linewidth=0.5)
    fig.savefig(out / "naive.png", dpi=150)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minima", type=int, default=10_000)
    parser.add_argument("--ts", type=int, default=20_000)
    parser.add_argument("--levels", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None, help="keep the figures here (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_dg_"))
    out.mkdir(parents=True, exist_ok=True)

    energies, ts, a, b, auc = random_ktn(args.minima, args.ts, seed=1)
    tree, t_tree = time_tree(energies, ts, a, b, args.levels)
    start = time.perf_counter()
    reference = [reference_groups(energies, ts, a, b, e) for e in tree.level_energies]
    t_reference = time.perf_counter() - start
    agree = all(set(tree.groups_at_level(k)) == reference[k] for k in range(tree.level_energies.size))
    print(f"KTN: {args.minima} minima, {args.ts} TS, {tree.level_energies.size} levels, {len(tree.nodes)} nodes, "
          f"{tree.segments.shape[0]} segments")
    print(f"tree build (union-find, layout, segments): {t_tree:.3f} s")
    print(f"reference partitions only (connected_components per level): {t_reference:.3f} s "
          f"(ratio tree/reference {t_tree / t_reference:.2f}); partitions agree: {agree}")

    for label, options in (("branches rasterized in SVG", {}), ("all vector SVG", {"rasterize_above": None})):
        drawn, with_png, both, paths = time_draw(tree, auc, out, "bench_dg_10k" + ("_vector" if options else ""),
                                                 **options)
        sizes = ", ".join(f"{p.suffix[1:]} {p.stat().st_size / 1e6:.2f} MB" for p in paths)
        print(f"{label}: draw {drawn:.3f} s; draw + save PNG {with_png:.3f} s (target < 10 s); "
              f"save_figure PNG + SVG {both:.3f} s ({sizes})")

    small = random_ktn(1000, 2000, seed=2)
    small_tree, _ = time_tree(*small[:4], args.levels)
    _, t_collection, _, _ = time_draw(small_tree, small[4], out, "bench_dg_1k")
    t_naive = time_naive_draw(small_tree, small[4], out)
    print(f"1,000 minima, draw + save PNG: LineCollection {t_collection:.3f} s, one Line2D per segment "
          f"{t_naive:.3f} s (ratio {t_naive / t_collection:.1f}x)")
    print(f"figures in {out}")


if __name__ == "__main__":
    main()
