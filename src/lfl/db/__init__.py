"""The landscape database: SQLAlchemy models (:mod:`.models`), URL -> engine and schema versions
(:mod:`.engine`), the one reader/writer (:mod:`.store`), SQL views (:mod:`.views`) and the PATHSAMPLE
interchange format (:mod:`.pathsample`). See docs/database.md.

The names below load on first use (PEP 562): jobs that only need the pure modules (:mod:`.batches`;
the identity rule lives in :mod:`lfl.identity.dedup`) do not pay SQLAlchemy's import (~0.25 s a process).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MinimaBatch": "lfl.db.batches",
    "TransitionStateBatch": "lfl.db.batches",
    "SCHEMA_VERSION": "lfl.db.engine",
    "SchemaVersionError": "lfl.db.engine",
    "KTN": "lfl.db.ktn",
    "DEFAULT_DISTANCE_TOL": "lfl.db.store",
    "DEFAULT_ENERGY_TOL": "lfl.db.store",
    "IngestResult": "lfl.db.ingest",
    "LandscapeRecord": "lfl.db.store",
    "LandscapeSpec": "lfl.db.store",
    "LandscapeStore": "lfl.db.store",
    "open_store": "lfl.db.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lfl.db' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
