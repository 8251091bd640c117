"""Benchmark: ingest rates and KTN loading of the landscape database, on SQLite and PostgreSQL.

Prints, all timed in this run:
- ingest rate (minima/s) of a batch of 10,000 new 74-weight minima into a landscape that already
  holds 100,000, dedup on ("raw": energy window, then Euclidean distance), one transaction;
- the same batch again (every row a duplicate: the dedup path alone);
- ingest rate (TS/s) of 10,000 transition states (sides as minimum ids) into a table of 100,000;
- the reference: one row at a time through the ORM (per row: an indexed energy-window query,
  a Python distance check, an INSERT and a commit: how existing tools work), on a few hundred rows
  into the same table, and the ratio;
- the time and peak resident memory of loading a KTN of 100,000 minima and 200,000 transition states
  (ids, energies, the two minima of every TS; no coordinates) plus its connected components, in a
  fresh process.

Targets: >= 20,000 minima/s into SQLite; the KTN in < 5 s and < 2 GB.

Usage: .venv/bin/python bench/bench_db.py [--backend sqlite|postgres|both] [--existing 100000]
       [--batch 10000] [--ts 200000] [--pg-url URL] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lfl.db import LandscapeSpec, LandscapeStore, MinimaBatch, TransitionStateBatch

N_DOF = 74
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

KTN_PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from lfl.db import LandscapeStore
t1 = time.perf_counter()
with LandscapeStore(sys.argv[1]) as store:
    land = store.landscape("bench")
    t2 = time.perf_counter()
    ktn = store.load_ktn(land.id)
    t3 = time.perf_counter()
    labels = ktn.components()
    gmin = ktn.global_minimum()
    t4 = time.perf_counter()
print(json.dumps({
    "import_s": t1 - t0, "load_s": t3 - t2, "components_s": t4 - t3,
    "n_minima": ktn.n_minima, "n_ts": ktn.n_transition_states, "n_components": int(labels.max()) + 1,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def spec() -> LandscapeSpec:
    return LandscapeSpec(
        name="bench",
        dataset="D1",
        data_hash="bench",
        n_data=1000,
        error_pct=0.0,
        draw_seed=0,
        architecture=(2, 10, 4),
        l2_lambda=1e-4,
        connectivity_k=None,
        symmetry_mode="raw",
        n_dof=N_DOF,
        energy_tol=1e-6,
        distance_tol=1e-3,
    )


def minima_batch(rng: np.random.Generator, m: int) -> MinimaBatch:
    return MinimaBatch(
        energies=rng.uniform(0.0, 1.0, m),
        coords=rng.normal(size=(m, N_DOF)),
        rms_grad=rng.uniform(1e-10, 1e-9, m),
        n_neg_eig=0,
        log_prod_pos_eig=rng.normal(size=m),
        found_by="bench",
    )


def ts_batch(rng: np.random.Generator, t: int, minimum_ids: np.ndarray) -> TransitionStateBatch:
    return TransitionStateBatch(
        energies=rng.uniform(1.0, 2.0, t),
        coords=rng.normal(size=(t, N_DOF)),
        min1=rng.choice(minimum_ids, t),
        min2=rng.choice(minimum_ids, t),
        neg_eigenvalue=-rng.uniform(0.01, 1.0, t),
        rms_grad=1e-10,
    )


def reference_row_at_a_time(url: str, landscape_id: int, batch: MinimaBatch, energy_tol: float, distance_tol: float) -> float:
    """Rows per second of the classic loop: query candidates, compare, add, commit, one row at a time."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from lfl.db.engine import make_engine
    from lfl.db.models import Minimum, MinimumCoords

    engine = make_engine(url)
    start = time.perf_counter()
    with Session(engine) as session:
        for e, x in zip(batch.energies.tolist(), batch.coords):
            candidates = session.execute(
                select(MinimumCoords.coords)
                .join(Minimum, Minimum.id == MinimumCoords.minimum_id)
                .where(Minimum.landscape_id == landscape_id, Minimum.energy.between(e - energy_tol, e + energy_tol))
            ).scalars()
            if any(np.linalg.norm(np.frombuffer(c, dtype="<f8") - x) <= distance_tol for c in candidates):
                continue
            minimum = Minimum(landscape_id=landscape_id, energy=e, found_by="reference")
            session.add(minimum)
            session.flush()
            session.add(MinimumCoords(minimum_id=minimum.id, coords=x.tobytes()))
            session.commit()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return len(batch) / elapsed


def run_backend(name: str, url: str, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(1)
    print(f"\n== {name}: {url.split('?')[0]}")
    with LandscapeStore(url, create=True) as store:
        land = store.get_or_create_landscape(spec())
        t0 = time.perf_counter()
        ids = []
        for _ in range(args.existing // args.batch):
            ids.append(store.ingest(land.id, minima=minima_batch(rng, args.batch)).minimum_ids)
        ids = np.concatenate(ids)
        fill_s = time.perf_counter() - t0
        print(f"filled {ids.size:,} minima in {fill_s:.1f} s ({ids.size / fill_s:,.0f} minima/s on average)")

        batch = minima_batch(rng, args.batch)
        t0 = time.perf_counter()
        result = store.ingest(land.id, minima=batch)
        new_s = time.perf_counter() - t0
        assert result.n_new_minima == args.batch
        t0 = time.perf_counter()
        again = store.ingest(land.id, minima=batch)
        dup_s = time.perf_counter() - t0
        assert again.n_new_minima == 0
        print(f"minima: {args.batch:,} new into {ids.size:,}: {new_s:.3f} s = {args.batch / new_s:,.0f} minima/s")
        print(f"minima: the same {args.batch:,} again (all duplicates): {dup_s:.3f} s = {args.batch / dup_s:,.0f} minima/s")
        all_ids = np.concatenate([ids, result.minimum_ids])

        ts_rate = None
        t0 = time.perf_counter()
        n_ts_batches = args.ts // args.batch
        for k in range(n_ts_batches):
            tb = ts_batch(rng, args.batch, all_ids)
            t1 = time.perf_counter()
            store.ingest(land.id, transition_states=tb)
            if k == n_ts_batches // 2:  # table holds args.ts / 2 transition states (100,000 by default)
                ts_rate = args.batch / (time.perf_counter() - t1)
        ts_s = time.perf_counter() - t0
        print(f"transition states: {args.ts:,} in {ts_s:.1f} s; a batch of {args.batch:,} into "
              f"{args.ts // 2:,}: {ts_rate:,.0f} TS/s")


    probe = subprocess.run([sys.executable, "-c", KTN_PROBE, url], capture_output=True, text=True, check=True)
    stats = json.loads(probe.stdout.strip().splitlines()[-1])
    print(
        f"KTN load: {stats['n_minima']:,} minima + {stats['n_ts']:,} TS in {stats['load_s']:.2f} s "
        f"(+ components {stats['components_s']:.2f} s, {stats['n_components']} components); "
        f"peak RSS {stats['peak_rss_mb']:.0f} MB (process total, interpreter and imports included; "
        f"import {stats['import_s']:.2f} s)"
    )

    ref_rate = reference_row_at_a_time(url, land.id, minima_batch(rng, args.reference_rows), 1e-6, 1e-3)
    print(
        f"reference (row at a time, ORM, commit per row): {ref_rate:,.0f} minima/s; "
        f"batch ingest is {args.batch / new_s / ref_rate:,.0f}x faster"
    )


@contextmanager
def postgres_schema(pg_url: str, prefix: str):
    """A URL whose connections work in a fresh schema of the server (dropped, with its tables, afterwards)."""
    from sqlalchemy import create_engine, text

    from lfl.db.engine import parse_url

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(parse_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = parse_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--ts", type=int, default=200_000)
    parser.add_argument("--reference-rows", type=int, default=300)
    parser.add_argument("--pg-url", default=os.environ.get("LFL_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        if args.backend in ("sqlite", "both"):
            run_backend("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args)
        if args.backend in ("postgres", "both"):
            with postgres_schema(args.pg_url, "lfl_bench") as url:
                run_backend("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
