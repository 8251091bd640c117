"""The conda environment (envs/lfl.yaml) and pyproject.toml must list the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"psycopg[binary]": "psycopg"}  # conda-forge ships the binary build as plain psycopg


def _name(requirement: str) -> str:
    requirement = CONDA_NAMES.get(re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0], requirement)
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].strip().lower()


def test_conda_environment_matches_pyproject():
    with open(ROOT / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    with open(ROOT / "envs" / "lfl.yaml") as handle:
        environment = yaml.safe_load(handle)
    pyproject_names = {_name(dep) for dep in project["dependencies"]}
    conda_names = {_name(dep) for dep in environment["dependencies"] if isinstance(dep, str)} - {"python", "pip"}
    assert pyproject_names == conda_names


def test_snakefile_only_includes():
    lines = [line.strip() for line in (ROOT / "Snakefile").read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    assert code and all(line.startswith("include:") for line in code)


def test_schema_is_shared_with_the_package():
    packaged = ROOT / "src" / "lfl" / "schemas" / "config.schema.yaml"
    assert packaged.read_text() == (ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text()
