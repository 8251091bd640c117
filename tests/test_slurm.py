"""The SLURM profile on a real single-node SLURM cluster (scripts/slurm-cluster.sh: Debian's slurm-wlm,
slurmdbd on the local MariaDB, munge), with the landscapes on the PostgreSQL server.

A cluster that does not come up fails these tests; they never skip.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from lfl.db import LandscapeStore
from workflow_helpers import CONNECTED_LANDSCAPE, ROOT, connect_config, run_snakemake

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLUSTER = ROOT / "scripts" / "slurm-cluster.sh"
# status checks every second instead of the plugin's 40 s: the jobs here take seconds
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
               "--latency-wait", "5"]


@pytest.fixture(scope="module")
def slurm_cluster():
    for action in ("install", "start"):
        done = subprocess.run(["bash", str(CLUSTER), action], capture_output=True, text=True, timeout=600)
        if done.returncode:
            pytest.fail(f"SLURM cluster: '{action}' failed: {(done.stderr or done.stdout).strip()[-2000:]}",
                        pytrace=False)
    yield
    subprocess.run(["bash", str(CLUSTER), "stop"], capture_output=True, text=True, timeout=120)


def run_on_slurm(workdir: Path, config: dict, db_url: str, *extra: str) -> subprocess.CompletedProcess:
    """`snakemake --profile profiles/slurm` as a user runs it: the database URL only in the environment."""
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    environment = dict(os.environ, LFL_DB_URL=db_url)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(config_path), "--profile", str(ROOT / "profiles" / "slurm"),
               *FAST_STATUS, *extra]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=workdir, timeout=900)


def landscape_points(url: str) -> dict[str, np.ndarray]:
    """Sorted energies of the landscape's minima and transition states, and the transition states' ends
    as pairs of minimum ranks (the order of the minima by energy: ids differ between databases)."""
    with LandscapeStore(url) as store:
        ktn = store.load_ktn(store.landscape(CONNECTED_LANDSCAPE).id)
    rank = {int(i): r for r, i in enumerate(ktn.minimum_ids[np.argsort(ktn.minimum_energies, kind="stable")])}
    ends = sorted((min(rank[int(a)], rank[int(b)]), max(rank[int(a)], rank[int(b)]))
                  for a, b in zip(ktn.ts_min1, ktn.ts_min2))
    return {"minima": np.sort(ktn.minimum_energies), "ts": np.sort(ktn.ts_energies), "ends": np.array(ends)}


def assert_same_landscape(got: dict, expected: dict) -> None:
    assert got["minima"].size == expected["minima"].size > 0
    assert got["ts"].size == expected["ts"].size > 0
    np.testing.assert_allclose(got["minima"], expected["minima"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["ts"], expected["ts"], rtol=0, atol=1e-12)
    assert np.array_equal(got["ends"], expected["ends"])


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The tiny study (two basin-hopping runs, one connection round) run locally on SQLite."""
    workdir = tmp_path_factory.mktemp("local")
    done = run_snakemake(workdir, connect_config(rounds=1), env={"LFL_DB_URL": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir, landscape_points(f"sqlite:///{workdir}/results/landscapes.sqlite")


def test_slurm_run_on_postgres_equals_the_local_sqlite_run(slurm_cluster, local_reference, tmp_path, pg_url):
    start = time.perf_counter()
    done = run_on_slurm(tmp_path, connect_config(rounds=1), pg_url)
    assert done.returncode == 0, done.stderr[-4000:]
    wall = time.perf_counter() - start
    submitted = done.stderr.count("has been submitted with SLURM jobid")
    # every rule but `all` went through sbatch, the two basin-hopping runs and their ingest as one group job:
    # data pool, landscape, draw, explore, connect, metrics, summary, figures, graphs
    assert submitted == 9
    assert not (tmp_path / "results" / "landscapes.sqlite").exists()
    assert_same_landscape(landscape_points(pg_url), local_reference[1])
    # every job is in SLURM's accounting (slurmdbd), finished
    ids = [line.split("SLURM jobid ")[1].split(" ")[0] for line in done.stderr.splitlines()
           if "has been submitted with SLURM jobid" in line]
    states = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(ids)],
                            capture_output=True, text=True, check=True).stdout.split()
    assert len(states) == len(ids) and all(s.endswith("|COMPLETED") for s in states), states
    print(f"SLURM run: {submitted} jobs in {wall:.0f} s")
