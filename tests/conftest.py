"""Shared fixtures. Database tests run on SQLite and on the real PostgreSQL server.

PostgreSQL: ``LFL_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Every
test gets a fresh schema of its own (selected through ``search_path`` in the URL, so subprocesses use
it too), dropped afterwards. A server that cannot be reached FAILS the tests: it is never a skip.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL = os.environ.get("LFL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _admin_engine():
    from sqlalchemy import create_engine

    from lfl.db.engine import parse_url

    return create_engine(parse_url(PG_URL), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})


@pytest.fixture(scope="session")
def pg_admin():
    """An autocommit engine on the test server; fails (never skips) when the server is unreachable."""
    from sqlalchemy import text

    from lfl.logs import mask_url

    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is a test failure
        engine.dispose()
        first_line = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        pytest.fail(f"PostgreSQL test server {mask_url(PG_URL)} unreachable ({first_line}); set LFL_TEST_PG_URL", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin):
    """URL of a fresh, empty schema on the test server; the schema is dropped after the test."""
    from sqlalchemy import text

    from lfl.db.engine import parse_url

    schema = f"lfl_test_{uuid.uuid4().hex[:16]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = parse_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '20s'"))  # a leaked transaction must not hang the run
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'landscapes.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """The same test on SQLite (a file in tmp_path) and on PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'landscapes.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def make_spec():
    """Factory of landscape definitions with small defaults; keyword overrides any field."""
    from lfl.db.store import LandscapeSpec

    def make(name: str = "test_landscape", **overrides):
        values = dict(
            name=name,
            dataset="D1",
            data_hash="0" * 64,
            n_data=100,
            error_pct=10.0,
            draw_seed=0,
            architecture=(2, 2, 4),
            l2_lambda=1e-4,
            connectivity_k=None,
            symmetry_mode="raw",
            n_dof=12,
            energy_tol=2.0**-20,
            distance_tol=1e-3,
        )
        values.update(overrides)
        return LandscapeSpec(**values)

    return make


class BlockSymmetry:
    """A test symmetry like a hidden layer's: permuting blocks of weights and flipping a block's sign."""

    def __init__(self, block: int = 4) -> None:
        self.block = block

    def canonical(self, x):
        import numpy as np

        blocks = np.asarray(x, dtype=float).reshape(-1, self.block).copy()
        blocks *= np.where(blocks[:, :1] < 0, -1.0, 1.0)
        return blocks[np.lexsort(blocks.T[::-1])].ravel()

    def distance(self, a, b) -> float:
        import numpy as np

        return float(np.linalg.norm(self.canonical(a) - self.canonical(b)))

    def copy(self, x, rng):
        import numpy as np

        blocks = np.asarray(x).reshape(-1, self.block)[rng.permutation(x.size // self.block)]
        return (blocks * rng.choice([-1.0, 1.0], size=(blocks.shape[0], 1))).ravel()


@pytest.fixture
def block_symmetry():
    return BlockSymmetry()


@pytest.fixture(scope="session")
def connected_run(tmp_path_factory):
    """One real Snakemake run with three connection rounds, shared by the tests that only read it
    (or copy its database before changing it)."""
    from workflow_helpers import connect_config, run_snakemake

    tmp_path = tmp_path_factory.mktemp("connect")
    result = run_snakemake(tmp_path, connect_config(rounds=3), env={"LFL_DB_URL": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path
