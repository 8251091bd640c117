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
from lfl.explore.connection_files import PlannedPairs, load_pairs, load_records, save_pairs
from lfl.explore.eigenvector_following import hessian_index
from lfl.landscape import load_landscape
from workflow_helpers import run_snakemake, tiny_ljat3_config

LANDSCAPE = "D2_n50_e0_s0_h3_l0.001_kfull_reduced"


def connect_config(rounds: int) -> dict:
    return tiny_ljat3_config(
        basin_hopping={"runs": 2, "steps": 20, "chunk": 20, "seed": 1},
        connect={"rounds": rounds, "jobs": 2, "pairs_per_round": 4},
    )


@pytest.fixture(scope="module")
def connected_run(tmp_path_factory):
    """One real Snakemake run with three connection rounds; the tests below read what it left."""
    tmp_path = tmp_path_factory.mktemp("connect")
    result = run_snakemake(tmp_path, connect_config(rounds=3), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path


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
    for x, energy, m1, m2, rms in zip(ts_coords, ts_table["energy"], ts_table["min1_id"], ts_table["min2_id"],
                                      ts_table["rms_grad"]):
        assert rms < 1e-9
        n_negative, lowest, _ = hessian_index(system, x, dense_max=1000)
        assert n_negative == 1 and lowest < 0
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
    # the last round plans nothing once the landscape is connected: its jobs and ingest short-cut,
    # and its receipt still reads the database
    last = folder / "connect" / "round2"
    assert len(load_pairs(last / "pairs.npz")) == 0
    assert all(load_records(job).n_attempts == 0 for job in last.glob("job*.npz"))
    receipt = json.loads((last / "ingested.json").read_text())
    assert receipt["connected"] is True and receipt["counts_after"]["minima"] == ktn.n_minima


def test_killed_connect_job_leaves_nothing_and_a_rerun_duplicates_nothing(connected_run):
    tmp_path = connected_run
    url = f"sqlite:///{tmp_path}/results/landscapes.sqlite"
    folder = tmp_path / "results" / "landscapes" / LANDSCAPE
    definition, draw = folder / "definition.json", tmp_path / "results/draws/D2/n50_e0_s0.npz"
    round0 = folder / "connect" / "round0"
    planned = load_pairs(round0 / "pairs.npz")
    assert len(planned) >= 1
    with LandscapeStore(url) as store:
        before = store.counts(store.landscape(LANDSCAPE).id)

    # A connect job with far more work than it gets time for, killed mid-run: no output, no temp file.
    repeat = 20000  # ~0.01 s an attempt on this tiny network: minutes of work
    long_pairs = PlannedPairs(
        np.tile(planned.min1_ids, repeat), np.tile(planned.min2_ids, repeat),
        np.tile(planned.coords1, (repeat, 1)), np.tile(planned.coords2, (repeat, 1)), planned.metadata,
    )
    save_pairs(tmp_path / "long_pairs.npz", long_pairs)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    command = [sys.executable, "-m", "lfl", "--threads", "1", "connect", "run", "--landscape", str(definition),
               "--draw", str(draw), "--pairs", str(tmp_path / "long_pairs.npz"), "--out", str(scratch / "job0.npz")]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    time.sleep(6.0)
    assert process.poll() is None, "the long connect job ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert list(scratch.iterdir()) == []

    # The round's real job, rerun: the same attempts and transition states as the file Snakemake kept.
    rerun = subprocess.run(
        [*command[:12], str(round0 / "pairs.npz"), "--job", "0", "--jobs", "2", "--out", str(scratch / "job0.npz")],
        capture_output=True, text=True,
    )
    assert rerun.returncode == 0, rerun.stderr
    kept, again = load_records(round0 / "job0.npz"), load_records(scratch / "job0.npz")
    for name in ("attempt_min1", "attempt_min2", "attempt_outcome", "ts_energy"):
        np.testing.assert_array_equal(kept.arrays[name], again.arrays[name])

    # An ingest killed after its commit reruns: nothing is stored twice, attempts included.
    results = sorted(str(p) for p in round0.glob("job*.npz"))
    ingest = [sys.executable, "-m", "lfl", "--threads", "1", "ingest", "connections", "--db", url, "--landscape",
              str(definition), "--draw", str(draw), "--receipt", str(scratch / "receipt.json"), *results]
    for _ in range(2):
        done = subprocess.run(ingest, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    with LandscapeStore(url) as store:
        assert store.counts(store.landscape(LANDSCAPE).id) == before
