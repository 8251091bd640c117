"""Imports point down the layers (issue 14): import-linter's contracts of pyproject.toml, checked on
the source tree, and shown to fail on a scratch copy that breaks each of them (so a broken contract
cannot pass unnoticed). import-linter reads function-level imports too (most of lfl imports lazily)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_source_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.fixture
def scratch(tmp_path):
    shutil.copytree(ROOT / "src" / "lfl", tmp_path / "src" / "lfl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(root: Path, module: str, statement: str) -> None:
    path = root / "src" / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n\ndef _upward():\n    {statement}\n")


@pytest.mark.parametrize(
    ("module", "statement", "broken"),
    [
        # the upward imports this issue removed
        ("lfl.systems.mlp", "from lfl.analysis.evaluate import probabilities", "lfl layers: imports point down"),
        ("lfl.data.ljat3", "from lfl.explore import basin_hopping", "lfl layers: imports point down"),
        ("lfl.numerics.lbfgs", "from lfl.systems import mlp", "lfl layers: imports point down"),
        # a worker that reaches into storage
        ("lfl.explore.basin_hopping", "import sqlalchemy", "the science never touches storage or commands"),
        ("lfl.explore.chunks", "from lfl.db import store", "the science never touches storage or commands"),
    ],
)
def test_an_upward_import_breaks_a_contract(scratch, module, statement, broken):
    add_import(scratch, module, statement)
    result = lint_imports(scratch)
    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout
    assert module in result.stdout


def test_a_new_unlisted_package_breaks_the_layers(scratch):
    # exhaustive: every module of lfl has its place in the list, so a new one must be placed
    (scratch / "src" / "lfl" / "misc.py").write_text('"""Nowhere in the layers."""\n')
    result = lint_imports(scratch)
    assert result.returncode != 0
    assert "lfl.misc" in result.stdout + result.stderr
