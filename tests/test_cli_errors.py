"""The command line's error paths as a newcomer meets them: one line and a non-zero exit, nothing
written, and a closed pipe ends quietly."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lfl.db import LandscapeStore, MinimaBatch

LFL = str(Path(sys.executable).parent / "lfl")


@pytest.fixture
def database(tmp_path, make_spec):
    url = f"sqlite:///{tmp_path / 'landscapes.sqlite'}"
    with LandscapeStore(url, create=True) as store:
        land = store.get_or_create_landscape(make_spec(name="tiny"))
        store.ingest(land.id, minima=MinimaBatch([0.1, 0.2], np.eye(2, 12)))
    return url


def run(*arguments, **options):
    return subprocess.run([LFL, *arguments], capture_output=True, text=True, **options)


def one_line_error(done) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lfl: error:") and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_export_onto_an_existing_file_or_nowhere_is_one_line(database, tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me\n")
    line = one_line_error(run("db", "export", "--db", database, "--landscape", "tiny", "--out", str(existing)))
    assert "notes.txt" in line
    assert existing.read_text() == "keep me\n"
    line = one_line_error(run("db", "export", "--db", database, "--landscape", "tiny", "--out", "/proc/nope/out"))
    assert "/proc/nope" in line


def test_a_closed_pipe_ends_quietly(database):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written (`lfl db info | head -0`)
    done = subprocess.run([LFL, "db", "info", "--db", database], stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    assert done.returncode == 0 and done.stderr == ""


@pytest.mark.parametrize("threads", ["-2", "0", "many"])
def test_invalid_thread_counts_are_refused(database, threads):
    done = run("--threads", threads, "db", "info", "--db", database)
    assert done.returncode == 2 and "--threads" in done.stderr and "Traceback" not in done.stderr
