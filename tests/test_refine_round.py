"""`lfl refine round` (the workflow's one process per refinement round): the number of workers does not
change what is found, and a round killed before its ingest leaves the database as it was."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lfl.db.store import LandscapeStore
from workflow_helpers import run_snakemake, tiny_ljat3_config

LANDSCAPE = "D2_n50_e0_s0_h3_l0.001_kfull_reduced"
CONNECT = {"rounds": 1, "jobs": 1, "pairs_per_round": 4}
REFINE = {"jobs": 2, "modes": 2, "searches_per_round": 6, "connect_pairs": 4,
          "saturation": {"rounds": 1, "max_new_transition_states": 1}}


def connected_landscape(tmp_path: Path) -> Path:
    """A connected landscape from the real workflow, refinement off: the database a round starts from."""
    config = tiny_ljat3_config(basin_hopping={"runs": 1, "steps": 30, "chunk": 30, "seed": 3}, connect=CONNECT,
                               refine={"max_rounds": 0})
    result = run_snakemake(tmp_path, config, env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / "results" / "landscapes.sqlite"


def round_command(tmp_path: Path, db: Path, folder: Path, workers: int) -> list[str]:
    results = tmp_path / "results"
    return [str(Path(sys.executable).parent / "lfl"), "--threads", "1", "refine", "round", "--db", f"sqlite:///{db}",
            "--landscape", str(results / "landscapes" / LANDSCAPE / "definition.json"),
            "--draw", str(results / "draws/D2/n50_e0_s0.npz"),
            "--settings", json.dumps(REFINE), "--connect-settings", json.dumps(CONNECT), "--round", "0",
            "--workers", str(workers), "--folder", str(folder), "--receipt", str(folder / "ingested.json")]


def content(db: Path):
    """Everything a round adds, in an order independent of insertion: energies, edges, round record."""
    with LandscapeStore(f"sqlite:///{db}") as store:
        record = store.landscape(LANDSCAPE)
        ktn = store.load_ktn(record.id)
        rounds = [(r["stage"], r["round"], r["n_tasks"], r["n_new_minima"], r["n_new_transition_states"],
                   r["saturated"]) for r in store.exploration_rounds(record.id)]
        energy = [round(float(e), 12) for e in ktn.minimum_energies]
        ends = zip(ktn.index_of(ktn.ts_min1).tolist(), ktn.index_of(ktn.ts_min2).tolist())
        edges = sorted((round(float(e), 12), *sorted((energy[a], energy[b])))
                       for e, (a, b) in zip(ktn.ts_energies, ends))
        energies = sorted(energy)
        return store.counts(record.id), energies, edges, rounds


def test_one_worker_or_two_find_the_same_and_a_killed_round_leaves_the_database_as_it_was(tmp_path):
    start = connected_landscape(tmp_path)
    dbs = {name: tmp_path / f"{name}.sqlite" for name in ("one", "two", "killed")}
    for db in dbs.values():
        shutil.copy(start, db)
    before = content(start)

    for name, workers in (("one", 1), ("two", 2)):
        run = subprocess.run(round_command(tmp_path, dbs[name], tmp_path / name, workers), capture_output=True,
                             text=True)
        assert run.returncode == 0, run.stderr[-2000:]
    one, two = content(dbs["one"]), content(dbs["two"])
    assert one == two
    assert one[0]["transition_states"] > before[0]["transition_states"]  # the round found something to compare
    assert (tmp_path / "two" / "job0.npz").exists() and (tmp_path / "two" / "job1.npz").exists()

    # SIGKILL the round and its forked workers once they are searching: no partial ingest
    folder = tmp_path / "killed"
    process = subprocess.Popen(round_command(tmp_path, dbs["killed"], folder, 2), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (folder / "tasks.npz").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and not (folder / "ingested.json").exists()
    assert content(dbs["killed"]) == before
    # run again, as Snakemake would: the same round, found once
    rerun = subprocess.run(round_command(tmp_path, dbs["killed"], folder, 2), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert content(dbs["killed"]) == one
