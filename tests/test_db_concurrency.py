"""Many writers at once, and writers killed mid-ingest, on SQLite and PostgreSQL (real processes)."""

import json
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from lfl.db import LandscapeStore

pytestmark = pytest.mark.slow

N_DOF = 74
N_WORKERS = 8

def _worker(url: str, data_path: str, mode: str, marker: str, log_path: str) -> None:
    """One writer process: opens the database (creating the schema if need be: the first ones race),
    gets or creates the landscape (racing too), and ingests its sub-batches. With "hang" it stops
    inside the transaction of its last batch, after every row is inserted, and waits to be killed."""
    import traceback

    from lfl.db import LandscapeSpec, MinimaBatch, TransitionStateBatch
    import lfl.db.store as store_module

    try:
        data = np.load(data_path)
        spec = LandscapeSpec(**json.loads(str(data["spec"])))
        n_batches = int(data["n_batches"])
        if mode == "hang":
            original = store_module.LandscapeStore._insert_points
            calls = {"ts": 0}

            def insert_then_hang(conn, table, *args):
                ids = original(conn, table, *args)
                if table == "transition_states":
                    calls["ts"] += 1
                    if calls["ts"] == n_batches:
                        open(marker, "w").close()
                        time.sleep(600)
                return ids

            store_module.LandscapeStore._insert_points = staticmethod(insert_then_hang)
        with LandscapeStore(url, create=True) as store:
            land = store.get_or_create_landscape(spec)
            for k in range(n_batches):
                sides = [MinimaBatch(data[f"s{k}_{side}_e"], data[f"s{k}_{side}_x"]) for side in (1, 2)]
                store.ingest(
                    land.id,
                    minima=MinimaBatch(data[f"m{k}_e"], data[f"m{k}_x"], found_by="worker"),
                    transition_states=TransitionStateBatch(data[f"t{k}_e"], data[f"t{k}_x"], sides[0], sides[1]),
                )
    except BaseException:
        with open(log_path, "w") as handle:
            handle.write(traceback.format_exc())
        os._exit(1)


def _spec_json(make_spec) -> str:
    spec = make_spec("concurrent", n_dof=N_DOF, energy_tol=1e-6, distance_tol=1e-3)
    values = dict(spec.__dict__)
    values["architecture"] = list(spec.architecture)
    return json.dumps(values)


def _universe(rng, n_minima, n_ts):
    # distinct minima 1e-3 apart in energy (1000 tolerances) and O(1) apart in coordinates
    min_e = np.sort(rng.choice(np.arange(0, 10, 1e-3), size=n_minima, replace=False))
    min_x = rng.normal(size=(n_minima, N_DOF))
    ts_e = np.sort(rng.choice(np.arange(20, 30, 1e-3), size=n_ts, replace=False))
    ts_x = rng.normal(size=(n_ts, N_DOF))
    ends = np.stack([rng.choice(n_minima, size=2, replace=False) for _ in range(n_ts)])
    return min_e, min_x, ts_e, ts_x, ends


def _noisy(rng, energies, coords):
    """Copies as a repeated quench gives them: energies within a fraction of the tolerance, weights within 1e-6."""
    return energies + rng.uniform(-4e-7, 4e-7, energies.size), coords + rng.normal(scale=1e-7, size=coords.shape)


def _write_worker_data(path, rng, spec_json, universe, picks_min, picks_ts, n_batches):
    min_e, min_x, ts_e, ts_x, ends = universe
    arrays = {"spec": np.array(spec_json), "n_batches": np.array(n_batches)}
    for k, (pm, pt) in enumerate(zip(np.array_split(picks_min, n_batches), np.array_split(picks_ts, n_batches))):
        arrays[f"m{k}_e"], arrays[f"m{k}_x"] = _noisy(rng, min_e[pm], min_x[pm])
        arrays[f"t{k}_e"], arrays[f"t{k}_x"] = _noisy(rng, ts_e[pt], ts_x[pt])
        for side in (1, 2):
            rows = ends[pt, side - 1]
            arrays[f"s{k}_{side}_e"], arrays[f"s{k}_{side}_x"] = _noisy(rng, min_e[rows], min_x[rows])
    np.savez(path, **arrays)


def _start(url, data_path, mode="run", marker=""):
    """A real process (forked: it shares the imports of this one, not its connections: none is open)."""
    log_path = f"{data_path}.{mode}.log"
    proc = multiprocessing.get_context("fork").Process(
        target=_worker, args=(url, str(data_path), mode, str(marker), log_path)
    )
    proc.start()
    proc.log_path = log_path
    return proc


def _finish(proc, timeout=120):
    proc.join(timeout)
    assert proc.exitcode == 0, open(proc.log_path).read()[-3000:] if os.path.exists(proc.log_path) else proc.exitcode


def test_eight_processes_ingesting_overlapping_batches_store_each_point_once(db_url, tmp_path, make_spec):
    rng = np.random.default_rng(21)
    universe = _universe(rng, n_minima=150, n_ts=80)
    min_e, min_x, ts_e, ts_x, ends = universe
    spec_json = _spec_json(make_spec)
    used_minima, used_ts = set(), set()
    procs = []
    for w in range(N_WORKERS):
        picks_min = rng.choice(150, size=70, replace=False)
        picks_min = np.concatenate([picks_min, picks_min[:10]])  # repeats inside one batch as well
        picks_ts = rng.choice(80, size=30, replace=False)
        used_minima |= set(picks_min.tolist()) | set(ends[picks_ts].ravel().tolist())
        used_ts |= set(picks_ts.tolist())
        path = tmp_path / f"worker{w}.npz"
        _write_worker_data(path, rng, spec_json, universe, rng.permutation(picks_min), picks_ts, n_batches=3)
        procs.append(path)
    procs = [_start(db_url, path) for path in procs]  # all at once: they race from schema creation on
    for proc in procs:
        _finish(proc)

    with LandscapeStore(db_url) as store:
        land = store.landscape("concurrent")
        minima = store.point_table(land.id)
        ts = store.point_table(land.id, kind="transition_states")
    # each stored minimum is the copy of exactly one universe minimum, and each used one is stored once
    nearest = np.searchsorted(min_e, minima["energy"])
    nearest = np.where(
        (nearest > 0) & ((nearest == min_e.size) | (np.abs(min_e[np.minimum(nearest, min_e.size - 1)] - minima["energy"]) > 1e-6)),
        nearest - 1,
        nearest,
    )
    assert np.all(np.abs(min_e[nearest] - minima["energy"]) <= 1e-6)
    assert np.all(np.linalg.norm(min_x[nearest] - minima["coords"], axis=1) <= 1e-3)
    assert sorted(nearest.tolist()) == sorted(used_minima)
    assert minima["id"].size == len(used_minima)
    # transition states likewise, joined to the right minima
    ts_index = np.searchsorted(ts_e, ts["energy"] - 1e-6)
    assert np.all(np.abs(ts_e[ts_index] - ts["energy"]) <= 1e-6)
    assert sorted(ts_index.tolist()) == sorted(used_ts)
    universe_of = dict(zip(minima["id"].tolist(), nearest.tolist()))
    for k, t in enumerate(ts_index.tolist()):
        assert (universe_of[int(ts["min1_id"][k])], universe_of[int(ts["min2_id"][k])]) == tuple(ends[t])


def test_a_writer_killed_mid_ingest_leaves_its_batch_all_out_and_a_rerun_completes_it(db_url, tmp_path, make_spec):
    rng = np.random.default_rng(22)
    n_min, n_ts = 4000, 1000
    universe = _universe(rng, n_minima=n_min, n_ts=n_ts)
    spec_json = _spec_json(make_spec)
    # first batch: 300 minima and 50 transition states; second: everything (the large one)
    first = tmp_path / "first.npz"
    _write_worker_data(first, rng, spec_json, universe, np.arange(300), np.arange(50), n_batches=1)
    _finish(_start(db_url, first))
    with LandscapeStore(db_url) as store:
        before = store.counts(store.landscape("concurrent").id)

    large = tmp_path / "large.npz"
    _write_worker_data(large, rng, spec_json, universe, np.arange(n_min), np.arange(n_ts), n_batches=1)
    marker = tmp_path / "inserted"
    proc = _start(db_url, large, mode="hang", marker=marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.is_alive(), open(proc.log_path).read()[-3000:] if os.path.exists(proc.log_path) else "worker died"
        assert time.monotonic() < deadline, "the worker never reached the middle of its ingest"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL

    with LandscapeStore(db_url) as store:
        land = store.landscape("concurrent")
        assert store.counts(land.id) == before  # nothing of the killed batch
        if store.backend == "sqlite":
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    _finish(_start(db_url, large))  # the rerun takes the lock the dead writer held, and completes
    with LandscapeStore(db_url) as store:
        counts = store.counts(store.landscape("concurrent").id)
    # the sides of the transition states are universe minima too, so every minimum is there once
    assert counts == {"minima": n_min, "transition_states": n_ts, "connect_attempts": 0}
