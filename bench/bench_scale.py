"""Scale: a landscape of the reference's deepest size in the real schema, and what each analysis step costs.

Builds, on SQLite and on PostgreSQL, one landscape of ``--minima`` minima (default 200,000; 74
coordinates each, synthetic) and ``--ts`` transition states (default 550,000; each joins a random
pair of minima, its energy above both), ingested in batches of 10,000 with deduplication as the
workflow does, plus per-minimum metrics (AUC and loss on the training and testing sets). Then each
step runs in a fresh process, timed from the step's first call (interpreter start-up and imports
excluded), with that process's peak resident memory:

- ``ingest``: one more batch of 10,000 new minima with deduplication (the landscape at full size);
- ``plan``: planning a connection round (``plan_pairs``: KTN, coordinates and attempts read, shortest
  paths to the global minimum, 8 pairs);
- ``summary``: the study summary row (``study_summary``: KTN, metrics, counts, thermodynamics);
- ``metrics``: per-minimum metrics queries: one metric of every minimum (``read_metrics``) and the
  100 minima of best testing AUC through the ``minima_with_metrics`` view;
- ``graph``: the disconnectivity graph of the 10,000 lowest minima, drawn to PNG (``landscape_figures``);
- ``pathsample``: PATHSAMPLE export (min.data, ts.data, points files) and its import into an empty
  database (deduplicated like any batch).

Goals (issue 17): each step under 60 s and 4 GB; the 10,000-batch ingest at least as fast as at
100,000 minima (bench/bench_db.py: 25,700/s SQLite, 11,000/s PostgreSQL).

Run: .venv/bin/python bench/bench_scale.py [--minima 200000] [--ts 550000] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_db import PG_DEFAULT, minima_batch, postgres_schema, spec
from lfl.db import LandscapeStore, TransitionStateBatch

BATCH = 10_000

STEP = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
step, url, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
from lfl.db import LandscapeStore
import bench_db
if step == "ingest":
    pass
elif step == "plan":
    from lfl.explore.connection_strategy import plan_pairs
elif step == "summary":
    from lfl.analysis.summary import study_summary
elif step == "metrics":
    from sqlalchemy import text
elif step == "graph":
    from lfl.analysis.figures import landscape_figures
elif step == "pathsample":
    from lfl.db.pathsample import export_pathsample, import_pathsample
start = time.perf_counter()
detail = ""
with LandscapeStore(url) as store:
    land = store.landscape("bench")
    if step == "ingest":
        batch = bench_db.minima_batch(np.random.default_rng(99), 10_000)
        t0 = time.perf_counter()
        result = store.ingest(land.id, minima=batch)
        detail = f"{10_000 / (time.perf_counter() - t0):,.0f} minima/s, {result.n_new_minima:,} new"
    elif step == "plan":
        ktn = store.load_ktn(land.id)
        coords = store.coordinates(ktn.minimum_ids).reshape(ktn.n_minima, -1)
        attempts = store.connect_attempts(land.id)
        pairs = plan_pairs(minimum_ids=ktn.minimum_ids, energies=ktn.minimum_energies, ts_min1=ktn.ts_min1,
                           ts_min2=ktn.ts_min2, coords=coords,
                           attempts=(attempts.min1_ids, attempts.min2_ids, attempts.outcomes), n_pairs=8, fill=True)
        detail = f"{len(pairs)} pairs"
    elif step == "summary":
        frame = study_summary(store, ["bench"], study="scale")
        detail = f"{int(frame['n_minima'].iloc[0]):,} minima, {int(frame['n_transition_states'].iloc[0]):,} TS"
    elif step == "metrics":
        ids, values = store.read_metrics(land.id, "test", "auc")
        with store.engine.connect() as conn:
            best = conn.execute(text("SELECT minimum_id, test_auc FROM minima_with_metrics WHERE landscape_id = :l "
                                     "AND test_auc IS NOT NULL ORDER BY test_auc DESC LIMIT 100"), {"l": land.id}).all()
        detail = f"{ids.size:,} values read, best test AUC {best[0][1]:.4f}"
    elif step == "graph":
        paths = landscape_figures(store, "bench", work / "graphs", levels=40, lowest_n=10_000)
        detail = f"{len(paths)} files"
    elif step == "pathsample":
        counts = export_pathsample(store, "bench", work / "pathsample")
        with LandscapeStore(f"sqlite:///{work / 'imported.sqlite'}", create=True) as other:
            result = import_pathsample(other, "bench", work / "pathsample")
        detail = (f"exported {counts}, imported {result.n_new_minima:,} minima, "
                  f"{result.n_new_transition_states:,} TS")
print(json.dumps({"seconds": time.perf_counter() - start, "detail": detail,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

STEPS = ("ingest", "plan", "summary", "metrics", "graph", "pathsample")


def build(url: str, n_minima: int, n_ts: int) -> None:
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    with LandscapeStore(url, create=True) as store:
        land = store.get_or_create_landscape(spec())
        ids, energies = [], []
        for _ in range(n_minima // BATCH):
            batch = minima_batch(rng, BATCH)
            ids.append(store.ingest(land.id, minima=batch).minimum_ids)
            energies.append(batch.energies)
        ids, energies = np.concatenate(ids), np.concatenate(energies)
        minima_s = time.perf_counter() - start
        for done in range(0, n_ts, BATCH):
            t = min(BATCH, n_ts - done)
            a, b = rng.integers(0, ids.size, t), rng.integers(0, ids.size, t)
            store.ingest(land.id, transition_states=TransitionStateBatch(
                energies=np.maximum(energies[a], energies[b]) + rng.uniform(0.01, 0.5, t),
                coords=rng.normal(size=(t, 74)), min1=ids[a], min2=ids[b],
                neg_eigenvalue=-rng.uniform(0.01, 1.0, t), rms_grad=1e-10))
        ts_s = time.perf_counter() - start - minima_s
        for split in ("train", "test"):
            for metric in ("auc", "loss"):
                store.write_metrics(ids, split, metric, rng.uniform(0.5, 1.0, ids.size))
    print(f"built: {n_minima:,} minima in {minima_s:.0f} s ({n_minima / minima_s:,.0f}/s with dedup), "
          f"{n_ts:,} TS in {ts_s:.0f} s, metrics in {time.perf_counter() - start - minima_s - ts_s:.0f} s")


def run_steps(url: str, work: Path, timeout: float, steps: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    for step in steps:
        try:
            done = subprocess.run([sys.executable, "-c", STEP, step, url, str(work)], capture_output=True, text=True,
                                  env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  {step:<11} over {timeout} s: stopped")
            continue
        if done.returncode:
            print(f"  {step:<11} FAILED: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?'}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {step:<11} {r['seconds']:7.1f} s  peak {r['peak_mb']:6.0f} MB  {r['detail']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minima", type=int, default=200_000)
    parser.add_argument("--ts", type=int, default=550_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--step-timeout", type=float, default=600.0, help="seconds before a step is stopped")
    parser.add_argument("--pg-url", default=os.environ.get("LFL_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), help="the steps to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.backend in ("sqlite", "both"):
            print("== SQLite")
            url = f"sqlite:///{work / 'scale.sqlite'}"
            build(url, args.minima, args.ts)
            run_steps(url, work / "sqlite", args.step_timeout, args.steps)
        if args.backend in ("postgres", "both"):
            with postgres_schema(args.pg_url, "lfl_scale") as url:
                print("== PostgreSQL")
                build(url, args.minima, args.ts)
                run_steps(url, work / "postgres", args.step_timeout, args.steps)


if __name__ == "__main__":
    main()
