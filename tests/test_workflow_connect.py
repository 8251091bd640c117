"""A real Snakemake run of data -> basin-hopping -> connection rounds, checked in SQL and as a graph."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from lfl.db.store import LandscapeStore
from lfl.explore.connection_files import load_pairs
from lfl.explore.eigenvector_following import hessian_index
from lfl.landscape import load_landscape
from lfl.systems.base import System
from workflow_helpers import CONNECTED_LANDSCAPE as LANDSCAPE
from workflow_helpers import connect_config, run_snakemake


def test_connection_rounds_join_the_landscape(connected_run):
    tmp_path = connected_run
    url = f"sqlite:///{tmp_path}/results/landscapes.sqlite"
    folder = tmp_path / "results" / "landscapes" / LANDSCAPE
    landscape = load_landscape(folder / "definition.json", tmp_path / "results/draws/D2/n50_e0_s0.npz")
    system = landscape.system()
    with LandscapeStore(url) as store:
        record = store.landscape(LANDSCAPE)
        ktn = store.load_ktn(record.id)
        ts_table = store.point_table(record.id, kind="transition_states")
        ts_coords = store.coordinates(ts_table["id"], kind="transition_states")
        attempts = store.connect_attempts(record.id)
    assert ktn.n_minima >= 2 and ktn.n_transition_states >= 1
    assert len(attempts.outcomes) >= 1
    # every transition state: converged, exactly one negative eigenvalue, above both of its minima
    energies = dict(zip(ktn.minimum_ids.tolist(), ktn.minimum_energies.tolist()))
    for x, energy, m1, m2, rms, log_prod in zip(ts_coords, ts_table["energy"], ts_table["min1_id"],
                                                ts_table["min2_id"], ts_table["rms_grad"], ts_table["log_prod_pos_eig"]):
        assert rms < 1e-9
        n_negative, lowest, _ = hessian_index(system, x, dense_max=1000)
        assert n_negative == 1 and lowest < 0
        # stored with the log product of its positive eigenvalues: a central-difference Hessian agrees
        values = np.linalg.eigvalsh(System.hessian(system, x, step=1e-5))
        assert log_prod == pytest.approx(float(np.sum(np.log(values[1:]))), abs=1e-3)
        assert energy > energies[int(m1)] and energy > energies[int(m2)]
    # one connected component, seen by the graph and by SQL (union-find in SQL: a recursive query)
    assert ktn.connected_to_global_minimum().all()
    engine = create_engine(url)
    with engine.connect() as conn:
        reached = conn.execute(text(
            """
            WITH RECURSIVE reach(id) AS (
                SELECT id FROM minima WHERE landscape_id = :l
                  AND energy = (SELECT MIN(energy) FROM minima WHERE landscape_id = :l)
                UNION
                SELECT CASE WHEN t.min1_id = r.id THEN t.min2_id ELSE t.min1_id END
                FROM transition_states t JOIN reach r ON t.min1_id = r.id OR t.min2_id = r.id
                WHERE t.landscape_id = :l
            )
            SELECT COUNT(*) FROM reach
            """), {"l": record.id}).scalar_one()
        total = conn.execute(text("SELECT COUNT(*) FROM minima WHERE landscape_id = :l"), {"l": record.id}).scalar_one()
    engine.dispose()
    assert reached == total == ktn.n_minima
    assert np.all(ts_table["energy"] > ktn.minimum_energies.min())
    # the stage stops once a round plans nothing (connected), or after its rounds; its receipt says so
    receipt = json.loads((folder / "connect" / "stage.json").read_text())
    assert receipt["connected"] is True and receipt["counts_after"]["minima"] == ktn.n_minima
    with LandscapeStore(url) as store:
        rows = store.exploration_rounds(store.landscape(LANDSCAPE).id, "connect")
    assert receipt["rounds"] == len(rows) <= 3 and [r["round"] for r in rows] == list(range(len(rows)))
    assert len(rows) == 3 or rows[-1]["n_tasks"] == 0
    assert sum(r["n_new_transition_states"] for r in rows) == ktn.n_transition_states


def _stage(tmp_path, db, receipt, workers=2):
    folder = tmp_path / "results" / "landscapes" / LANDSCAPE
    return [sys.executable, "-m", "lfl", "--threads", "1", "connect", "stage", "--db", f"sqlite:///{db}",
            "--landscape", str(folder / "definition.json"), "--draw", str(tmp_path / "results/draws/D2/n50_e0_s0.npz"),
            "--settings", json.dumps({"rounds": 3, "jobs": 2, "pairs_per_round": 4}), "--workers", str(workers),
            "--receipt", str(receipt)]


def _content(db):
    with LandscapeStore(f"sqlite:///{db}") as store:
        record = store.landscape(LANDSCAPE)
        ktn = store.load_ktn(record.id)
        rounds = [(r["stage"], r["round"], r["n_tasks"], r["n_new_minima"], r["n_new_transition_states"])
                  for r in store.exploration_rounds(record.id)]
        attempts = store.connect_attempts(record.id)
        return (store.counts(record.id), sorted(np.round(ktn.minimum_energies, 12).tolist()),
                sorted(np.round(ktn.ts_energies, 12).tolist()), rounds, sorted(attempts.outcomes),
                sorted(store.sighting_abundances(record.id, "transition_state", independent_only=False)))


def test_killed_connect_stage_duplicates_nothing_and_workers_change_nothing(tmp_path):
    import shutil

    result = run_snakemake(tmp_path, connect_config(rounds=0), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    start = tmp_path / "results" / "landscapes.sqlite"
    dbs = {name: tmp_path / f"{name}.sqlite" for name in ("one", "two", "killed", "by_hand")}
    for db in dbs.values():
        shutil.copy(start, db)
    for name, workers in (("one", 1), ("two", 2)):
        done = subprocess.run(_stage(tmp_path, dbs[name], tmp_path / f"{name}.json", workers), capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    one = _content(dbs["one"])
    assert one == _content(dbs["two"]) and one[0]["transition_states"] >= 1

    # SIGKILL the stage while it waits to write its first round (the test holds the write lock): nothing
    # of the round is stored, and a rerun finishes the stage with nothing twice
    import sqlite3

    receipt = tmp_path / "killed.json"
    lock = sqlite3.connect(dbs["killed"], isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    process = subprocess.Popen(_stage(tmp_path, dbs["killed"], receipt), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(6.0)  # start-up, planning and the round's searches take about 3 s here; then it waits
    assert process.poll() is None, "the stage ended although it could not write"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    lock.execute("ROLLBACK")
    lock.close()
    assert not receipt.exists()
    with LandscapeStore(f"sqlite:///{dbs['killed']}") as store:
        assert store.exploration_rounds(store.landscape(LANDSCAPE).id, "connect") == []
    done = subprocess.run(_stage(tmp_path, dbs["killed"], receipt), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _content(dbs["killed"]) == one

    # the same round by hand (plan, two jobs, ingest), ingested twice: nothing is stored twice
    folder = tmp_path / "results" / "landscapes" / LANDSCAPE
    url = f"sqlite:///{dbs['by_hand']}"
    files = ["--landscape", str(folder / "definition.json"), "--draw", str(tmp_path / "results/draws/D2/n50_e0_s0.npz")]
    lfl = [sys.executable, "-m", "lfl", "--threads", "1"]
    settings = json.dumps({"pairs_per_round": 4})
    steps = [[*lfl, "connect", "plan", "--db", url, *files, "--settings", settings, "--out", str(tmp_path / "p.npz")]]
    steps += [[*lfl, "connect", "run", *files, "--pairs", str(tmp_path / "p.npz"), "--settings", settings,
               "--job", str(j), "--jobs", "2", "--out", str(tmp_path / f"j{j}.npz")] for j in range(2)]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert len(load_pairs(tmp_path / "p.npz")) >= 1
    ingest = [*lfl, "ingest", "connections", "--db", url, *files, "--receipt", str(tmp_path / "r.json"),
              str(tmp_path / "j0.npz"), str(tmp_path / "j1.npz")]
    counts = []
    for _ in range(2):
        done = subprocess.run(ingest, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        counts.append(_content(dbs["by_hand"]))
    assert counts[0] == counts[1] and counts[0][0]["transition_states"] >= 1
