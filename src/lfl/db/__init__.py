"""The landscape database: SQLAlchemy models (:mod:`.models`), URL -> engine and schema versions
(:mod:`.engine`), the one reader/writer (:mod:`.store`), SQL views (:mod:`.views`) and the PATHSAMPLE
interchange format (:mod:`.pathsample`). See docs/database.md."""

from lfl.db.batches import MinimaBatch, TransitionStateBatch
from lfl.db.engine import SCHEMA_VERSION, SchemaVersionError
from lfl.db.ktn import KTN
from lfl.db.store import (
    DEFAULT_DISTANCE_TOL,
    DEFAULT_ENERGY_TOL,
    IngestResult,
    LandscapeRecord,
    LandscapeSpec,
    LandscapeStore,
    open_store,
)

__all__ = [
    "DEFAULT_DISTANCE_TOL",
    "DEFAULT_ENERGY_TOL",
    "KTN",
    "SCHEMA_VERSION",
    "IngestResult",
    "LandscapeRecord",
    "LandscapeSpec",
    "LandscapeStore",
    "MinimaBatch",
    "SchemaVersionError",
    "TransitionStateBatch",
    "open_store",
]
