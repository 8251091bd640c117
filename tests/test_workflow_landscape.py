"""Real Snakemake runs of data -> basin-hopping -> ingest into SQLite and PostgreSQL, grown in place."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lfl.db.batches import MinimaBatch
from lfl.db.store import LandscapeStore
from lfl.explore.chunks import load_chunk
from lfl.landscape import load_landscape
from workflow_helpers import run_snakemake, tiny_ljat3_config

LANDSCAPE = "D2_n50_e0_s0_h3_l0.001_kfull_reduced"


def tiny_config(runs: int, steps: int = 10) -> dict:
    return tiny_ljat3_config(
        basin_hopping={"runs": runs, "steps": steps, "chunk": 10, "seed": 4},
        connect={"rounds": 0},  # tests/test_workflow_connect.py runs the rounds
    )


def landscape_files(workdir):
    folder = workdir / "results" / "landscapes" / LANDSCAPE
    return folder / "definition.json", workdir / "results" / "draws" / "D2" / "n50_e0_s0.npz", folder


def stored_minima(url):
    with LandscapeStore(url) as store:
        record = store.landscape(LANDSCAPE)
        table = store.point_table(record.id)
        coords = store.coordinates(table["id"])
    return table, coords


def check_database(workdir, url, expected_chunks):
    definition, draw, folder = landscape_files(workdir)
    landscape = load_landscape(definition, draw)
    system = landscape.system()
    chunk_files = sorted((folder / "minima").glob("*.npz"))
    assert [f.name for f in chunk_files] == expected_chunks
    table, coords = stored_minima(url)
    assert table["id"].size >= 1
    # every stored minimum is verified: converged and no negative Hessian eigenvalue
    assert np.all(table["rms_grad"] < 1e-9) and np.all(table["n_neg_eig"] == 0)
    for x, energy in zip(coords, table["energy"]):
        assert system.energy(x) == pytest.approx(energy, rel=1e-12, abs=1e-14)
    # no two stored minima are the same minimum, and re-ingesting every chunk adds nothing
    spec = landscape.database_spec()
    for i in range(len(coords)):
        for j in range(i):
            same_energy = abs(table["energy"][i] - table["energy"][j]) <= spec.energy_tol
            assert not (same_energy and system.distance(coords[i], coords[j]) <= spec.distance_tol)
    chunks = [load_chunk(f) for f in chunk_files]
    batch = MinimaBatch(np.concatenate([c.energies for c in chunks]), np.concatenate([c.coords for c in chunks]))
    with LandscapeStore(url) as store:
        again = store.ingest(store.landscape(LANDSCAPE).id, minima=batch, distance=system.distance)
    assert again.n_new_minima == 0
    return table


def grow_and_check(tmp_path, url, env):
    first = run_snakemake(tmp_path, tiny_config(runs=2), env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    check_database(tmp_path, url, ["run0_chunk0.npz", "run1_chunk0.npz"])
    _, _, folder = landscape_files(tmp_path)
    before = {f.name: f.stat().st_mtime_ns for f in (folder / "minima").glob("*.npz")}

    # a third run and a second chunk per run: only the new jobs run, the database grows in place
    second = run_snakemake(tmp_path, tiny_config(runs=3, steps=20), env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    table = check_database(
        tmp_path, url,
        ["run0_chunk0.npz", "run0_chunk1.npz", "run1_chunk0.npz", "run1_chunk1.npz", "run2_chunk0.npz",
         "run2_chunk1.npz"],
    )
    after = {f.name: f.stat().st_mtime_ns for f in (folder / "minima").glob("*.npz")}
    assert all(after[name] == mtime for name, mtime in before.items())  # nothing recomputed
    # one ingest job: the four new chunks ingested, the two recorded before skipped, one step per chunk
    receipt = json.loads((folder / "ingested" / "minima.json").read_text())
    assert len(receipt["files"]) == 6 and len(receipt["already_recorded"]) == 2
    assert receipt["counts_after"]["minima"] == table["id"].size
    with LandscapeStore(url) as store:
        steps = [r["step"].split(" @")[0] for r in store.exploration_rounds(store.landscape(LANDSCAPE).id)]
    assert sorted(steps) == sorted(name[:-4] for name in after)
    # every verified quench of every chunk is one basin-hopping sighting of the minimum it ended in
    seen = sum(load_chunk(path).metadata["n_minima_seen"] for path in (folder / "minima").glob("*.npz"))
    with LandscapeStore(url) as store:
        assert sum(store.sighting_abundances(store.landscape(LANDSCAPE).id, "minimum", independent_only=False)) == seen
    # chunk 1 continued chunk 0 exactly: it started from the walker state chunk 0 ended in
    assert load_chunk(folder / "minima" / "run0_chunk1.npz").state.steps_done == 20


def test_workflow_grows_sqlite_database(tmp_path):
    grow_and_check(tmp_path, f"sqlite:///{tmp_path}/results/landscapes.sqlite", env={"LFL_DB_URL": ""})


@pytest.mark.postgres
def test_workflow_grows_postgres_database(tmp_path, pg_url):
    grow_and_check(tmp_path, pg_url, env={"LFL_DB_URL": pg_url})
    assert not (tmp_path / "results" / "landscapes.sqlite").exists()  # the environment's URL won


def test_killed_basin_hopping_job_leaves_nothing_and_reruns(tmp_path):
    first = run_snakemake(tmp_path, tiny_config(runs=1), env={"LFL_DB_URL": ""})
    assert first.returncode == 0, first.stderr[-3000:]
    definition, draw, folder = landscape_files(tmp_path)
    out = folder / "minima" / "long.npz"
    command = [sys.executable, "-m", "lfl", "--threads", "1", "explore", "basin-hopping", "--landscape",
               str(definition), "--draw", str(draw), "--run", "7", "--steps", "100000", "--out", str(out)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    time.sleep(4.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists()
    rerun = subprocess.run(command[:-4] + ["--steps", "3", "--out", str(out)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert load_chunk(out).state.steps_done == 3
