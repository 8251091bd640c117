"""PATHSAMPLE interchange of a real landscape (the connected run), tried as a new user would: a plain
PATHSAMPLE directory without landscape.json, symmetric copies of stored minima, byte-swapped and
truncated points files, and export -> import -> export."""

import filecmp
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from lfl.landscape import load_landscape
from workflow_helpers import CONNECTED_LANDSCAPE as LANDSCAPE

FILES = ("min.data", "ts.data", "points.min", "points.ts")


@pytest.fixture
def run(connected_run, tmp_path):
    """The run's database (a copy), its definition and draw, and an export of its landscape."""
    db = tmp_path / "landscapes.sqlite"
    shutil.copy(connected_run / "results" / "landscapes.sqlite", db)
    definition = connected_run / "results" / "landscapes" / LANDSCAPE / "definition.json"
    draw = connected_run / "results" / "draws" / "D2" / "n50_e0_s0.npz"
    url = f"sqlite:///{db}"
    assert lfl("db", "export", "--db", url, "--landscape", LANDSCAPE, "--out", str(tmp_path / "export")).returncode == 0
    return url, definition, draw, tmp_path / "export"


def lfl(*args):
    return subprocess.run([sys.executable, "-m", "lfl", *args], capture_output=True, text=True)


def counts(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        result = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                  for table in ("landscapes", "minima", "transition_states")}
    engine.dispose()
    return result


def fortran_style(table_path, out_path):
    """The same table as the reference tools write it: D exponents, fixed widths."""
    lines = []
    for line in table_path.read_text().splitlines():
        fields = line.split()
        numbers = [f"{float(fields[0]):25.16E}".replace("E", "D"), f"{float(fields[1]):25.16E}".replace("E", "D")]
        lines.append(" ".join(numbers + [f"{int(fields[2]):5d}"] + fields[3:]))
    out_path.write_text("\n".join(lines) + "\n")


def test_export_import_export_is_byte_identical(run, tmp_path):
    _, _, _, export = run
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"  # one landscape's parameters live under one name per database
    assert lfl("db", "init", "--db", url).returncode == 0
    assert lfl("db", "import", "--db", url, "--landscape", "copy", "--dir", str(export)).returncode == 0
    again = tmp_path / "again"
    assert lfl("db", "export", "--db", url, "--landscape", "copy", "--out", str(again)).returncode == 0
    for name in FILES:
        assert filecmp.cmp(export / name, again / name, shallow=False), name
    original, copy = json.loads((export / "landscape.json").read_text()), json.loads((again / "landscape.json").read_text())
    assert {**original, "name": "copy"} == copy
    # the log products travel: no point of the run lacks one, so no 0.0 stands in for a missing one
    log_products = np.loadtxt(again / "ts.data", usecols=1, ndmin=1)
    assert np.all(log_products != 0.0)


def test_a_plain_pathsample_directory_needs_its_network_named(run, tmp_path):
    _, definition, draw, export = run
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    assert lfl("db", "init", "--db", url).returncode == 0
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("min.data", "ts.data"):
        fortran_style(export / name, plain / name)
    for name in ("points.min", "points.ts"):
        shutil.copy(export / name, plain / name)
    before = counts(url)
    refused = lfl("db", "import", "--db", url, "--landscape", "plain", "--dir", str(plain))
    assert refused.returncode == 2 and "--landscape-definition" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and counts(url) == before
    result = lfl("db", "import", "--db", url, "--landscape", "plain", "--dir", str(plain),
                 "--landscape-definition", str(definition), "--draw", str(draw))
    assert result.returncode == 0, result.stderr
    n_minima = len((export / "min.data").read_text().splitlines())
    n_ts = len((export / "ts.data").read_text().splitlines())
    assert f"{n_minima} new minima, {n_ts} new transition states" in result.stdout
    # energies that do not belong to the coordinates (another network, or the files of two runs)
    wrong = tmp_path / "wrong"
    shutil.copytree(plain, wrong)
    lines = (wrong / "min.data").read_text().splitlines()
    lines[0] = lines[0].replace(lines[0].split()[0], "0.5D+00", 1)
    (wrong / "min.data").write_text("\n".join(lines) + "\n")
    before = counts(url)
    refused = lfl("db", "import", "--db", url, "--landscape", "wrong", "--dir", str(wrong),
                  "--landscape-definition", str(definition), "--draw", str(draw))
    assert refused.returncode == 2 and "record 1 has energy 0.5" in refused.stderr and counts(url) == before


def test_symmetric_copies_of_stored_minima_are_not_new(run, tmp_path):
    url, definition, draw, export = run
    system = load_landscape(definition, draw).system()
    rng = np.random.default_rng(0)
    copies = tmp_path / "copies"
    shutil.copytree(export, copies)
    def moved_copy(x):  # a copy other than x itself (the group's identity can be drawn too)
        while np.linalg.norm((copy := system.random_copy(x, rng)) - x) < 1e-3:
            pass
        return copy

    coords = np.fromfile(export / "points.min", dtype="<f8").reshape(-1, system.n_dof)
    np.array([moved_copy(x) for x in coords]).astype("<f8").tofile(copies / "points.min")
    ts = np.fromfile(export / "points.ts", dtype="<f8").reshape(-1, system.n_dof)
    np.array([moved_copy(x) for x in ts]).astype("<f8").tofile(copies / "points.ts")
    before = counts(url)
    # into the stored landscape, with no definition: the store knows the network's symmetries
    result = lfl("db", "import", "--db", url, "--landscape", LANDSCAPE, "--dir", str(copies))
    assert result.returncode == 0, result.stderr
    assert "0 new minima, 0 new transition states" in result.stdout and counts(url) == before


@pytest.mark.parametrize("damage", ["big-endian", "truncated"])
def test_a_damaged_points_file_is_one_line_and_writes_nothing(run, tmp_path, damage):
    url, _, _, export = run
    broken = tmp_path / "broken"
    shutil.copytree(export, broken)
    raw = (export / "points.min").read_bytes()
    if damage == "big-endian":
        (broken / "points.min").write_bytes(np.frombuffer(raw, dtype="<f8").astype(">f8").tobytes())
        expected = "read as big-endian"
    else:
        (broken / "points.min").write_bytes(raw[:-8])
        expected = "truncated"
    before = counts(url)
    result = lfl("db", "import", "--db", url, "--landscape", "broken", "--dir", str(broken))
    assert result.returncode == 2 and expected in result.stderr and "points.min" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and counts(url) == before
