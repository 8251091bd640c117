"""`lfl analyse kinetics` and the log-product fill of `lfl db upgrade` on a landscape grown by a real
Snakemake run (the connected run of test_workflow_connect), every number checked independently:
occupation ratios by the harmonic formula from the SQL rows, barriers by a brute-force search,
detailed balance of the rate table, the funnel rates by the dense master equation, the filled log
products against the values the exploration stored."""

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from kinetics_reference import brute_force_barrier
from lfl.db.store import LandscapeStore
from lfl.kinetics.master_equation import two_state_rates_dense
from lfl.kinetics.network import TransitionNetwork
from workflow_helpers import CONNECTED_LANDSCAPE as LANDSCAPE

TEMPERATURE = 0.01


@pytest.fixture
def database(connected_run, tmp_path):
    """A copy of the run's database, free to change."""
    copy = tmp_path / "landscapes.sqlite"
    shutil.copy(connected_run / "results" / "landscapes.sqlite", copy)
    return f"sqlite:///{copy}"


def lfl(*args):
    return subprocess.run([sys.executable, "-m", "lfl", *args], capture_output=True, text=True)


def rows(url, sql, **params):
    engine = create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(text(sql), params).all()
    engine.dispose()
    return result


def test_kinetics_of_a_real_landscape(database, tmp_path):
    result = lfl("analyse", "kinetics", "--db", database, "--landscape", LANDSCAPE, "--temperature", str(TEMPERATURE),
                 "--out-rates", str(tmp_path / "rates.csv"), "--out-summary", str(tmp_path / "summary.json"))
    assert result.returncode == 0, result.stderr
    minima = rows(database, """SELECT m.id, m.energy, m.log_prod_pos_eig, k.barrier_to_global, k.occupation,
                                      k.funnel_minimum_id, k.funnel_level
                               FROM minima m JOIN minimum_kinetics k ON k.minimum_id = m.id
                               WHERE k.temperature = :t ORDER BY m.id""", t=TEMPERATURE)
    ts = rows(database, "SELECT id, min1_id, min2_id, energy, log_prod_pos_eig FROM transition_states ORDER BY id")
    n_minima = rows(database, "SELECT count(*) FROM minima")[0][0]
    assert len(minima) == n_minima >= 2 and all(r.log_prod_pos_eig is not None for r in ts)
    # occupations: normalised, and in the ratio of the harmonic formula
    assert sum(r.occupation for r in minima) == pytest.approx(1.0, abs=1e-12)
    first = minima[0]
    for r in minima[1:]:
        ratio = math.exp(-(r.energy - first.energy) / TEMPERATURE - (r.log_prod_pos_eig - first.log_prod_pos_eig) / 2)
        assert r.occupation / first.occupation == pytest.approx(ratio, rel=1e-9)
    # barriers: against a brute-force search over levels
    position = {r.id: k for k, r in enumerate(minima)}
    energies = [r.energy for r in minima]
    edges = [(position[t.min1_id], position[t.min2_id], t.energy) for t in ts]
    target = int(np.argmin(energies))
    for k, r in enumerate(minima):
        expected = 0.0 if k == target else brute_force_barrier(energies, edges, k, target)
        assert r.barrier_to_global == pytest.approx(expected, abs=1e-12)
    # the rate table: detailed balance on every transition state, with the SQL occupations
    occupation = {r.id: r.occupation for r in minima}
    table = np.genfromtxt(tmp_path / "rates.csv", delimiter=",", names=True)
    table = np.atleast_1d(table)
    assert table.size == len(ts)
    for row in table:
        lhs = math.log10(occupation[int(row["min1_id"])]) + row["log10_k_min1_to_min2"]
        rhs = math.log10(occupation[int(row["min2_id"])]) + row["log10_k_min2_to_min1"]
        assert lhs == pytest.approx(rhs, abs=1e-9)
    # the funnel rates: the dense master equation on the same network and sets
    summary = json.loads((tmp_path / "summary.json").read_text())
    gmin_id = minima[target].id
    in_a = np.array([r.funnel_minimum_id == gmin_id for r in minima])
    in_b = ~in_a  # this run's network is connected: the rest is all of B
    network = TransitionNetwork(energies, [r.log_prod_pos_eig for r in minima], [t.energy for t in ts],
                                [t.log_prod_pos_eig for t in ts], [e[0] for e in edges], [e[1] for e in edges])
    dense = two_state_rates_dense(network, in_a, in_b, TEMPERATURE)
    assert summary["n_funnel_a"] == int(in_a.sum()) and summary["n_rest_b"] == int(in_b.sum())
    assert summary["log10_rate_a_to_b"] == pytest.approx(math.log10(dense["rate_a_to_b"]), abs=1e-6)
    assert summary["log10_rate_b_to_a"] == pytest.approx(math.log10(dense["rate_b_to_a"]), abs=1e-6)
    assert summary["log10_mfpt_a_to_b"] == pytest.approx(math.log10(dense["mfpt_a_to_b"]), abs=1e-6)
    assert summary["global_minimum_occupation"] == pytest.approx(minima[target].occupation, rel=1e-12)
    # two named funnels at the same level: the global minimum's and another's
    other = next(r for r in minima if r.funnel_minimum_id != gmin_id)
    in_b = np.array([r.funnel_minimum_id == other.funnel_minimum_id for r in minima])
    named = lfl("analyse", "kinetics", "--db", database, "--landscape", LANDSCAPE, "--temperature", str(TEMPERATURE),
                "--funnel-level", repr(minima[0].funnel_level), "--funnels", str(gmin_id), str(other.id),
                "--out-summary", str(tmp_path / "named.json"))
    assert named.returncode == 0, named.stderr
    named_summary = json.loads((tmp_path / "named.json").read_text())
    dense = two_state_rates_dense(network, in_a, in_b, TEMPERATURE)
    assert named_summary["n_rest_b"] == int(in_b.sum())
    assert named_summary["log10_rate_a_to_b"] == pytest.approx(math.log10(dense["rate_a_to_b"]), abs=1e-6)
    assert named_summary["log10_mfpt_b_to_a"] == pytest.approx(math.log10(dense["mfpt_b_to_a"]), abs=1e-6)
    same = lfl("analyse", "kinetics", "--db", database, "--landscape", LANDSCAPE, "--temperature", str(TEMPERATURE),
               "--funnels", str(gmin_id), str(gmin_id))
    assert same.returncode == 2 and "share one funnel" in same.stderr
    # a second run at the same temperature replaces its rows
    assert lfl("analyse", "kinetics", "--db", database, "--landscape", LANDSCAPE,
               "--temperature", str(TEMPERATURE)).returncode == 0
    assert rows(database, "SELECT count(*) FROM minimum_kinetics")[0][0] == n_minima


def test_bad_kinetics_input_is_one_line_and_writes_nothing(database, tmp_path):
    stored = rows(database, "SELECT * FROM minimum_kinetics ORDER BY minimum_id, temperature")  # the run's own
    result = lfl("analyse", "kinetics", "--db", database, "--landscape", LANDSCAPE, "--temperature", "0")
    assert result.returncode == 2 and "must be > 0" in result.stderr
    result = lfl("analyse", "kinetics", "--db", database, "--landscape", "nowhere", "--temperature", "0.1")
    assert result.returncode == 2 and "'nowhere' is not in database" in result.stderr
    # transition states stored before log products were recorded
    engine = create_engine(database)
    with engine.begin() as conn:
        conn.execute(text("UPDATE transition_states SET log_prod_pos_eig = NULL"))
    engine.dispose()
    result = lfl("analyse", "kinetics", "--db", database, "--landscape", LANDSCAPE, "--temperature", "0.1")
    assert result.returncode == 2 and "have no log product" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert rows(database, "SELECT * FROM minimum_kinetics ORDER BY minimum_id, temperature") == stored
    # a landscape with minima only
    url = f"sqlite:///{tmp_path}/lonely.sqlite"
    with LandscapeStore(database) as source, LandscapeStore(url, create=True) as store:
        spec = source.landscape(LANDSCAPE).spec
        record = store.get_or_create_landscape(spec)
        from lfl.db.batches import MinimaBatch

        store.ingest(record.id, minima=MinimaBatch([0.1, 0.2], np.eye(2, spec.n_dof), log_prod_pos_eig=[1.0, 2.0]))
    result = lfl("analyse", "kinetics", "--db", url, "--landscape", LANDSCAPE, "--temperature", "0.1")
    assert result.returncode == 2 and "no transition state between two minima" in result.stderr


def test_upgrade_fills_missing_log_products_from_the_coordinates(connected_run, database):
    before = {r.id: r.log_prod_pos_eig for r in rows(database, "SELECT id, log_prod_pos_eig FROM transition_states")}
    minima_before = {r.id: r.log_prod_pos_eig for r in rows(database, "SELECT id, log_prod_pos_eig FROM minima")}
    engine = create_engine(database)
    with engine.begin() as conn:  # what a database of an earlier lfl holds
        conn.execute(text("UPDATE transition_states SET log_prod_pos_eig = NULL"))
        conn.execute(text("UPDATE minima SET log_prod_pos_eig = NULL WHERE id = (SELECT min(id) FROM minima)"))
    engine.dispose()
    plain = lfl("db", "upgrade", "--db", database)
    assert plain.returncode == 0 and f"{len(before) + 1} stationary points have no log product" in plain.stdout
    definition = connected_run / "results" / "landscapes" / LANDSCAPE / "definition.json"
    draw = connected_run / "results" / "draws" / "D2" / "n50_e0_s0.npz"
    result = lfl("db", "upgrade", "--db", database, "--landscape-definition", str(definition), "--draw", str(draw))
    assert result.returncode == 0, result.stderr
    assert f"1 of 1 minima and {len(before)} of {len(before)} transition states" in result.stdout
    after = {r.id: r.log_prod_pos_eig for r in rows(database, "SELECT id, log_prod_pos_eig FROM transition_states")}
    for key, value in before.items():
        assert after[key] == pytest.approx(value, rel=1e-9, abs=1e-9)
    minima_after = {r.id: r.log_prod_pos_eig for r in rows(database, "SELECT id, log_prod_pos_eig FROM minima")}
    for key, value in minima_before.items():
        assert minima_after[key] == pytest.approx(value, rel=1e-9, abs=1e-9)
    # half the pair of options is refused before anything is touched
    refused = lfl("db", "upgrade", "--db", database, "--draw", str(draw))
    assert refused.returncode == 2 and "go together" in refused.stderr


def test_free_energy_graphs_of_a_real_landscape(database, tmp_path):
    out = tmp_path / "graphs"
    result = lfl("analyse", "graphs", "--db", database, "--landscape", LANDSCAPE, "--out-dir", str(out),
                 "--free-energy-temperature", str(TEMPERATURE))
    assert result.returncode == 0, result.stderr
    for split in ("train", "test"):
        for suffix in (".png", ".svg"):
            assert (out / f"free_energy_disconnectivity_{split}_auc{suffix}").stat().st_size > 1000
    svg = (out / "free_energy_disconnectivity_test_auc.svg").read_text()
    assert f"free energy at T = {TEMPERATURE:g}" in svg and "groups of" in svg
    elsewhere = tmp_path / "refused"
    bad = lfl("analyse", "graphs", "--db", database, "--landscape", LANDSCAPE, "--out-dir", str(elsewhere),
              "--free-energy-temperature", "0.01", "--regroup-threshold", "-1")
    assert bad.returncode == 2 and "must be >= 0" in bad.stderr and not elsewhere.exists()
