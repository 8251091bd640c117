"""The docs work as printed: every SQL query of README.md and docs/ returns rows from the database of a
small real run (the example landscape names replaced by that run's), every `lfl` command parses, and
every `snakemake` command dry-runs from the repository root with no venv on PATH."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from workflow_helpers import ROOT, run_snakemake, tiny_ljat3_config

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_NAMES = ("D2_n1000_e10_s0_h10_l0.0001_kfull_reduced", "D2_n1000_e10")  # longest first
LANDSCAPE = "D2_n50_e10_s0_h3_l0.001_kfull_reduced"


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for block in re.findall(rf"```{language}\n(.*?)```", path.read_text(), flags=re.S):
            found.append((path.name, block))
    return found


def sql_statements() -> list[tuple[str, str]]:
    statements = []
    for name, block in blocks("sql"):
        lines = [line for line in block.splitlines() if not line.strip().startswith("--")]
        statements += [(name, part.strip()) for part in "\n".join(lines).split(";") if part.strip()]
    return statements


def shell_lines(program: str) -> list[tuple[str, str]]:
    lines = []
    for name, block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.split(" ", 1)[0].endswith(program):
                lines.append((name, line))
    return lines


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A small real run with every stage: basin-hopping, connection, refinement, metrics, table."""
    workdir = tmp_path_factory.mktemp("docs")
    config = tiny_ljat3_config(basin_hopping={"runs": 1, "steps": 30, "chunk": 30, "seed": 3},
                               connect={"rounds": 2, "jobs": 1, "pairs_per_round": 4}, error_pct=(10,),
                               refine={"max_rounds": 2, "jobs": 1, "random_starts": 8, "random_copies": 2})
    result = run_snakemake(workdir, config, env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    return f"sqlite:///{workdir / 'results' / 'landscapes.sqlite'}"


def test_every_sql_query_of_the_docs_returns_rows_from_a_real_run(real_run):
    statements = sql_statements()
    assert len(statements) >= 10
    engine = create_engine(real_run)
    with engine.connect() as conn:
        for name, statement in statements:
            for example in EXAMPLE_NAMES:
                statement = statement.replace(f"'{example}'", f"'{LANDSCAPE}'")
            rows = conn.execute(text(statement)).all()
            assert rows, f"{name}: no rows from\n{statement}"
    engine.dispose()


def test_every_lfl_command_of_the_docs_parses():
    from lfl.cli import build_parser

    commands = shell_lines("lfl")
    assert len(commands) >= 15
    parser = build_parser()
    for name, line in commands:
        try:
            parser.parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"{name}: `{line}` does not parse")


def test_every_snakemake_command_of_the_docs_dry_runs_without_a_venv_on_path(tmp_path):
    # the SLURM profile runs for real in test_slurm.py, `--report` (which needs a finished run) in test_report.py
    commands = [(name, line) for name, line in shell_lines("snakemake")
                if "profiles/slurm" not in line and "--report" not in line]
    assert len(commands) >= 2
    venv = Path(sys.executable).parent
    env = dict(os.environ, PATH=os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                                 if p and Path(p).resolve() != venv.resolve()))
    env.pop("LFL_DB_URL", None)
    # plain `snakemake` (what `make run` calls) and every printed command, dry-run, from the repository
    for name, line in [("Makefile", ".venv/bin/snakemake --cores all"), *commands]:
        arguments = shlex.split(line)[1:]
        done = subprocess.run([str(venv / "snakemake"), *arguments, "--dry-run", "--quiet", "rules"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: `{line}` fails:\n{done.stderr[-2000:]}"
