"""Real Snakemake runs of the refinement stage: rounds until saturation, a larger limit continues."""

import json

from sqlalchemy import create_engine, text

from lfl.db.store import LandscapeStore
from workflow_helpers import run_snakemake, tiny_ljat3_config

LANDSCAPE = "D2_n50_e0_s0_h3_l0.001_kfull_reduced"


def refine_config(max_rounds: int, **refine) -> dict:
    return tiny_ljat3_config(
        basin_hopping={"runs": 1, "steps": 20, "chunk": 20, "seed": 1},
        connect={"rounds": 1, "jobs": 1, "pairs_per_round": 4},
        refine={"max_rounds": max_rounds, "jobs": 2, "modes": 1, "searches_per_round": 2,
                "saturation": {"rounds": 1, "max_new_transition_states": 1}, **refine},
    )


def rounds_in_sql(url, stage):
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.round, r.n_new_minima, r.n_new_transition_states, r.cpu_seconds, r.saturated "
            "FROM exploration_rounds r JOIN landscapes l ON l.id = r.landscape_id "
            "WHERE l.name = :name AND r.stage = :stage ORDER BY r.id"), {"name": LANDSCAPE, "stage": stage}).all()
    engine.dispose()
    return rows


def test_rounds_stop_at_the_limit_then_continue_until_saturated(tmp_path):
    url = f"sqlite:///{tmp_path}/results/landscapes.sqlite"
    folder = tmp_path / "results" / "landscapes" / LANDSCAPE / "refine"
    result = run_snakemake(tmp_path, refine_config(1), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    done = json.loads((folder / "done_max1.json").read_text())
    first = rounds_in_sql(url, "refine")
    assert done["rounds_run"] == 1 == len(first)
    assert first[0][0] == 0 and first[0][3] > 0
    if done["saturated"]:
        return  # nothing left to try after one round: the continuation below has nothing to test
    assert not (folder / "round1").exists()
    # a larger limit continues: the next rounds only, round 0 neither planned nor run again
    planned_at = (folder / "round0" / "tasks.npz").stat().st_mtime_ns
    result = run_snakemake(tmp_path, refine_config(30), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / "round0" / "tasks.npz").stat().st_mtime_ns == planned_at
    done = json.loads((folder / "done_max30.json").read_text())
    rows = rounds_in_sql(url, "refine")
    assert done["saturated"] and done["rounds_run"] == len(rows) < 30
    assert [r[0] for r in rows] == list(range(len(rows)))
    # saturation declared only on the last round, and only when that round was quiet (or empty)
    assert [bool(r[4]) for r in rows] == [False] * (len(rows) - 1) + [True]
    assert rows[-1][1] == 0 and rows[-1][2] < 1
    assert not (folder / f"round{len(rows)}").exists()
    # once saturated, a rerun with a still larger limit runs nothing
    result = run_snakemake(tmp_path, refine_config(40), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(rounds_in_sql(url, "refine")) == len(rows)
    # the round records add up to the landscape: minima and transition states of every stage
    with LandscapeStore(url) as store:
        record = store.landscape(LANDSCAPE)
        counts = store.counts(record.id)
        all_rows = store.exploration_rounds(record.id)
    assert sum(r["n_new_minima"] for r in all_rows) == counts["minima"]
    assert sum(r["n_new_transition_states"] for r in all_rows) == counts["transition_states"]
    assert {r["stage"] for r in all_rows} == {"basin-hopping", "connect", "refine"}


def test_a_rerun_refinement_ingest_duplicates_nothing(tmp_path):
    """A refinement job or ingest killed and rerun: ingesting round 0's files again adds no point, no
    attempt and no round record."""
    import subprocess
    import sys
    from pathlib import Path

    result = run_snakemake(tmp_path, refine_config(1), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    url = f"sqlite:///{tmp_path}/results/landscapes.sqlite"
    folder = tmp_path / "results" / "landscapes" / LANDSCAPE

    def snapshot():
        with LandscapeStore(url) as store:
            record = store.landscape(LANDSCAPE)
            return store.counts(record.id), store.exploration_rounds(record.id)

    before = snapshot()
    lfl = Path(sys.executable).parent / "lfl"
    command = [str(lfl), "ingest", "refinement", "--db", url, "--landscape", str(folder / "definition.json"),
               "--draw", str(tmp_path / "results/draws/D2/n50_e0_s0.npz"),
               "--tasks", str(folder / "refine/round0/tasks.npz"),
               "--settings", '{"saturation": {"rounds": 1, "max_new_transition_states": 1}}',
               "--receipt", str(tmp_path / "again.json"),
               str(folder / "refine/round0/job0.npz"), str(folder / "refine/round0/job1.npz")]
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert snapshot() == before


def test_bad_refine_settings_give_one_line_naming_the_key():
    import pytest

    from lfl.commands.refine import parse_refine_settings
    from lfl.errors import LflError

    for text_, message in (('{"modes": -1}', "'refine.modes': must be a whole number >= 0"),
                           ('{"strategies": ["sideways"]}', "'refine.strategies': unknown strategy 'sideways'"),
                           ('{"max_rounds": 1, "saturation": {"rounds": 2}}', "2 quiet rounds can never hold"),
                           ('{"shortcut": {"pair": 3}}', "'refine.shortcut': unknown key(s) pair")):
        with pytest.raises(LflError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_refine_settings(text_)
