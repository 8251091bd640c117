"""Imports point down the layers (issue 14, first contract): the science packages never reach into
the database or the commands. Read from the source with the ast module, function-level imports
included (most of lfl imports lazily)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lfl"
# package -> packages it must never import
FORBIDDEN = {
    "identity": ("lfl.db", "lfl.commands", "lfl.explore", "lfl.analysis"),
    "systems": ("lfl.db", "lfl.commands", "lfl.explore"),
    "explore": ("lfl.db", "lfl.commands", "lfl.analysis"),
    "data": ("lfl.db", "lfl.commands"),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_science_packages_never_import_storage_or_commands(package):
    offences = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[package]):
                offences.append(f"{path.relative_to(SRC.parent)} imports {name}")
    assert not offences, "\n".join(offences)
