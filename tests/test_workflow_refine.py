"""Real Snakemake runs of the refinement stage (one job per landscape): rounds until saturation or a
limit, a larger limit continues, the same settings run nothing new, other settings record rounds of
their own, a killed stage duplicates nothing, bad settings write nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lfl.db.store import LandscapeStore
from workflow_helpers import run_snakemake, tiny_ljat3_config

LANDSCAPE = "D2_n50_e0_s0_h3_l0.001_kfull_reduced"
# small rounds that reach saturation on the tiny landscape within a few rounds
REFINE = {"jobs": 2, "modes": 1, "searches_per_round": 2, "random_starts": 16, "random_directions": 2,
          "random_copies": 2, "saturation": {"coverage": 0.9, "rounds": 1, "max_new_points": 1}}


def refine_config(max_rounds: int, **refine) -> dict:
    return tiny_ljat3_config(
        basin_hopping={"runs": 1, "steps": 20, "chunk": 20, "seed": 1},
        connect={"rounds": 1, "jobs": 1, "pairs_per_round": 4},
        refine={**REFINE, "max_rounds": max_rounds, **refine},
    )


def rounds_in_sql(url, stage="refine"):
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.round, r.n_new_minima, r.n_new_transition_states, r.cpu_seconds, r.saturated, r.stopped, "
            "r.effort, r.n_tasks, r.minima_coverage, r.transition_states_coverage "
            "FROM exploration_rounds r JOIN landscapes l ON l.id = r.landscape_id "
            "WHERE l.name = :name AND r.stage = :stage ORDER BY r.id"), {"name": LANDSCAPE, "stage": stage}).all()
    engine.dispose()
    return rows


def test_rounds_stop_at_the_limit_then_continue_until_saturated(tmp_path):
    url = f"sqlite:///{tmp_path}/results/landscapes.sqlite"
    receipt = tmp_path / "results" / "landscapes" / LANDSCAPE / "refine" / "stage.json"
    result = run_snakemake(tmp_path, refine_config(1), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    done = json.loads(receipt.read_text())
    first = rounds_in_sql(url)
    assert done["rounds"] == 1 == len(first) and done["stopped"] == "max_rounds" and not done["saturated"]
    assert first[0][0] == 0 and first[0][3] > 0 and first[0][5] == "max_rounds"
    # a larger limit continues: round 0 is neither planned nor run again
    result = run_snakemake(tmp_path, refine_config(30), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    done = json.loads(receipt.read_text())
    rows = rounds_in_sql(url)
    assert done["saturated"] and done["rounds"] == len(rows) < 30
    assert [r[0] for r in rows] == list(range(len(rows))) and len({r[6] for r in rows}) == 1
    # saturation declared on the last round only: it did work, added nothing, and both coverages reach 0.9
    assert [bool(r[4]) for r in rows] == [False] * (len(rows) - 1) + [True]
    last = rows[-1]
    assert last[5] == "saturated" and last[7] > 0 and last[1] + last[2] == 0 and last[8] >= 0.9 and last[9] >= 0.9
    # the coverage reported is what the sightings say, recomputed here by hand from SQL
    engine = create_engine(url)
    with engine.connect() as conn:
        counts = [n for (n,) in conn.execute(text(
            "SELECT SUM(s.n) FROM transition_state_sightings s WHERE s.independent GROUP BY s.ts_id")).all()]
    engine.dispose()
    assert last[9] == pytest.approx(1 - sum(1 for n in counts if n == 1) / sum(counts))
    # once saturated, a rerun with a still larger limit runs nothing (the job reruns: its params changed)
    result = run_snakemake(tmp_path, refine_config(40), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(rounds_in_sql(url)) == len(rows)
    # the same settings forced again: nothing new either
    result = run_snakemake(tmp_path, refine_config(40), "--forcerun", "refine_landscape", env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(rounds_in_sql(url)) == len(rows)
    # other settings: rounds of their own, numbered from 0, beside the old ones (none rewritten)
    result = run_snakemake(tmp_path, refine_config(1, random_starts=8), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    after = rounds_in_sql(url)
    assert after[: len(rows)] == rows and len(after) == len(rows) + 1
    assert after[-1][0] == 0 and after[-1][6] != rows[0][6]
    # the round records add up to the landscape: minima and transition states of every stage
    with LandscapeStore(url) as store:
        record = store.landscape(LANDSCAPE)
        counts = store.counts(record.id)
        all_rows = store.exploration_rounds(record.id)
    assert sum(r["n_new_minima"] for r in all_rows) == counts["minima"]
    assert sum(r["n_new_transition_states"] for r in all_rows) == counts["transition_states"]
    assert {r["stage"] for r in all_rows} == {"basin-hopping", "connect", "refine"}


def _stage_command(tmp_path: Path, db: Path, receipt: Path, workers: int, settings: dict) -> list[str]:
    results = tmp_path / "results"
    return [str(Path(sys.executable).parent / "lfl"), "--threads", "1", "refine", "stage", "--db", f"sqlite:///{db}",
            "--landscape", str(results / "landscapes" / LANDSCAPE / "definition.json"),
            "--draw", str(results / "draws/D2/n50_e0_s0.npz"), "--settings", json.dumps(settings),
            "--connect-settings", json.dumps({"rounds": 1, "jobs": 1, "pairs_per_round": 4}),
            "--workers", str(workers), "--receipt", str(receipt)]


def _content(db: Path):
    """Everything the stage adds, independent of insertion order: energies, edges, rounds, sightings."""
    with LandscapeStore(f"sqlite:///{db}") as store:
        record = store.landscape(LANDSCAPE)
        ktn = store.load_ktn(record.id)
        rounds = [(r["stage"], r["round"], r["n_tasks"], r["n_new_minima"], r["n_new_transition_states"],
                   r["stopped"]) for r in store.exploration_rounds(record.id)]
        energy = [round(float(e), 12) for e in ktn.minimum_energies]
        ends = zip(ktn.index_of(ktn.ts_min1).tolist(), ktn.index_of(ktn.ts_min2).tolist())
        edges = sorted((round(float(e), 12), *sorted((energy[a], energy[b]))) for e, (a, b) in zip(ktn.ts_energies, ends))
        sightings = (sorted(store.sighting_abundances(record.id, "minimum", independent_only=False)),
                     sorted(store.sighting_abundances(record.id, "transition_state", independent_only=False)))
        return store.counts(record.id), sorted(energy), edges, rounds, sightings


def test_workers_do_not_change_what_is_found_and_a_killed_stage_duplicates_nothing(tmp_path):
    import shutil

    result = run_snakemake(tmp_path, refine_config(0), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    start = tmp_path / "results" / "landscapes.sqlite"
    dbs = {name: tmp_path / f"{name}.sqlite" for name in ("one", "two", "killed")}
    for db in dbs.values():
        shutil.copy(start, db)
    before = _content(start)
    settings = {**REFINE, "max_rounds": 3}
    for name, workers in (("one", 1), ("two", 2)):
        run = subprocess.run(_stage_command(tmp_path, dbs[name], tmp_path / f"{name}.json", workers, settings),
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
    one, two = _content(dbs["one"]), _content(dbs["two"])
    assert one == two
    assert one[0]["transition_states"] > before[0]["transition_states"]  # the stage found something to compare

    # SIGKILL the stage and its workers in the middle of a round: what it committed stays, nothing twice
    receipt = tmp_path / "killed.json"
    process = subprocess.Popen(_stage_command(tmp_path, dbs["killed"], receipt, 2, settings),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        with LandscapeStore(f"sqlite:///{dbs['killed']}") as store:
            if len(store.exploration_rounds(store.landscape(LANDSCAPE).id, "refine")) >= 1:
                break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not receipt.exists()
    rerun = subprocess.run(_stage_command(tmp_path, dbs["killed"], receipt, 2, settings), capture_output=True,
                           text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _content(dbs["killed"]) == one


@pytest.mark.parametrize("settings, message", [
    ({"saturation": {"coverage": 1.5}}, "'refine.saturation.coverage': must lie in (0, 1]"),
    ({"saturation": {"coverage": 0}}, "'refine.saturation.coverage': must lie in (0, 1]"),
    ({"cpu_budget": -5}, "'refine.cpu_budget': must be a number of CPU seconds > 0"),
    ({"strategies": ["sideways"]}, "'refine.strategies': unknown strategy 'sideways'"),
    ({"modes": -1}, "'refine.modes': must be a whole number >= 0"),
    ({"saturation": {"rounds": 2}, "max_rounds": 1}, "2 quiet rounds can never hold"),
    ({"shortcut": {"pair": 3}}, "'refine.shortcut': unknown key(s) pair"),
])
def test_bad_refine_settings_give_one_line_naming_the_key_and_write_nothing(tmp_path, settings, message):
    from lfl.commands.refine import parse_refine_settings
    from lfl.errors import LflError

    with pytest.raises(LflError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_refine_settings(json.dumps({"max_rounds": 3, **settings}))
    # through the command: exit 2, one line, the database untouched
    db = tmp_path / "landscapes.sqlite"
    run = subprocess.run([str(Path(sys.executable).parent / "lfl"), "refine", "stage", "--db", f"sqlite:///{db}",
                          "--landscape", "x.json", "--draw", "x.npz", "--settings", json.dumps({"max_rounds": 3, **settings}),
                          "--receipt", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and "refine" in run.stderr
    assert not db.exists() and not (tmp_path / "r.json").exists()
