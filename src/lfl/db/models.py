"""Tables of the landscape database (SQLAlchemy 2 typed declarative models).

One row of ``landscapes`` per loss landscape (every parameter that defines it, plus the dedup
tolerances that define what "the same minimum" means there). ``minima`` and ``transition_states``
hold stationary points (energies as float64); their coordinates, raw little-endian float64 bytes
(never pickles), live in ``minimum_coords`` and ``transition_state_coords``, one row per point. Keeping
the blobs out of the point tables keeps those rows narrow (~80 bytes instead of ~600 for a 74-weight
network, 64 KB for an MNIST one), so reading a whole network of minima and transition states, the
views and most SQL queries never touch coordinates.

A transition state references its two minima through *composite* foreign keys ``(landscape_id,
min1_id) -> minima(landscape_id, id)``, so the database itself refuses a transition state that joins
minima of another landscape.

Identity of a stationary point is decided within tolerances (energy, then distance), which no unique
constraint can express; it is guaranteed by serialising the writers of a landscape (see
:mod:`lfl.db.store`). Unique constraints hold where identity is exact: landscape names and parameter
hashes, one value per (minimum, split, metric), one row per schema version.

Column names are what SQL users type; :mod:`lfl.db.views` adds views over them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

SYMMETRY_MODES = ("reduced", "raw", "energy")
SPLITS = ("train", "train_correct", "train_incorrect", "test")
METRICS = ("auc", "auc_macro", "loss", "cross_entropy", "accuracy")  # auc: the landscape's reference class
CONNECT_OUTCOMES = ("connected", "partial", "failed")
STAGES = ("basin-hopping", "connect", "refine")  # exploration_rounds.stage
# Which search sighted a point (minimum_sightings / transition_state_sightings .search), and whether
# its sightings are independent draws from the landscape (SCIENCE.md §6). Minima: random-start
# quenches only. Transition states: single-ended searches from random minima along random
# directions, and connections from random minima to random symmetric copies of random minima. The
# minima on either side of those transition states are not draws: the searches start from chosen,
# stored minima and mostly fall back into them, which would make known minima look common.
# Basin-hopping steps are correlated; planned searches (connection gaps, softest modes, shortcut,
# untrap) choose where to look, so none of them is a draw.
SEARCHES = ("basin-hopping", "random-start", "connect", "single-ended", "shortcut", "untrap",
            "random-direction", "random-copy")
INDEPENDENT_SEARCHES = {"minimum": ("random-start",), "transition_state": ("random-direction", "random-copy")}

# BIGINT keys on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the fast rowid alias
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SchemaVersion(Base):
    """One row per schema version applied; the database's version is the largest."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())


class Landscape(Base):
    __tablename__ = "landscapes"
    __table_args__ = (
        CheckConstraint(_in("symmetry_mode", SYMMETRY_MODES), name="symmetry_mode"),
        CheckConstraint("n_data > 0 AND n_dof > 0", name="sizes"),
        CheckConstraint("error_pct >= 0 AND error_pct <= 100", name="error_pct"),
        CheckConstraint("energy_tol >= 0 AND distance_tol >= 0", name="tolerances"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # sha256 of the canonical JSON of every defining parameter: one row per distinct landscape
    params_hash: Mapped[str] = mapped_column(String(64), unique=True)
    dataset: Mapped[str] = mapped_column(String(200))
    data_hash: Mapped[str] = mapped_column(String(128))
    n_data: Mapped[int] = mapped_column(Integer)
    error_pct: Mapped[float] = mapped_column(Double)
    draw_seed: Mapped[int] = mapped_column(BigInteger)
    architecture: Mapped[str] = mapped_column(String(200))  # JSON list of layer sizes, e.g. "[2,10,4]"
    l2_lambda: Mapped[float] = mapped_column(Double)
    connectivity_k: Mapped[int | None] = mapped_column(Integer)  # NULL: fully connected
    symmetry_mode: Mapped[str] = mapped_column(String(16))
    n_dof: Mapped[int] = mapped_column(Integer)  # variable weights: the length of every coordinate vector
    energy_tol: Mapped[float] = mapped_column(Double)
    distance_tol: Mapped[float] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())


class Minimum(Base):
    __tablename__ = "minima"
    __table_args__ = (
        # target of the composite foreign keys of transition_states and connect_attempts
        UniqueConstraint("landscape_id", "id"),
        Index("ix_minima_landscape_energy", "landscape_id", "energy"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    landscape_id: Mapped[int] = mapped_column(ForeignKey("landscapes.id", ondelete="CASCADE"))
    energy: Mapped[float] = mapped_column(Double)
    rms_grad: Mapped[float | None] = mapped_column(Double)
    n_neg_eig: Mapped[int | None] = mapped_column(Integer)  # Hessian index (0 for a true minimum)
    log_prod_pos_eig: Mapped[float | None] = mapped_column(Double)
    point_group_order: Mapped[int] = mapped_column(Integer, server_default="1")
    found_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())


class TransitionState(Base):
    __tablename__ = "transition_states"
    __table_args__ = (
        ForeignKeyConstraint(
            ["landscape_id", "min1_id"], ["minima.landscape_id", "minima.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["landscape_id", "min2_id"], ["minima.landscape_id", "minima.id"], ondelete="CASCADE"
        ),
        Index("ix_transition_states_landscape_energy", "landscape_id", "energy"),
        Index("ix_transition_states_min1", "min1_id"),
        Index("ix_transition_states_min2", "min2_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    landscape_id: Mapped[int] = mapped_column(ForeignKey("landscapes.id", ondelete="CASCADE"))
    energy: Mapped[float] = mapped_column(Double)
    min1_id: Mapped[int] = mapped_column(Id)
    min2_id: Mapped[int] = mapped_column(Id)
    neg_eigenvalue: Mapped[float | None] = mapped_column(Double)
    rms_grad: Mapped[float | None] = mapped_column(Double)
    log_prod_pos_eig: Mapped[float | None] = mapped_column(Double)
    point_group_order: Mapped[int] = mapped_column(Integer, server_default="1")
    found_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())


class MinimumCoords(Base):
    """Coordinates of a minimum: raw little-endian float64, n_dof of them (never a pickle)."""

    __tablename__ = "minimum_coords"

    minimum_id: Mapped[int] = mapped_column(Id, ForeignKey("minima.id", ondelete="CASCADE"), primary_key=True)
    coords: Mapped[bytes] = mapped_column(LargeBinary)


class TransitionStateCoords(Base):
    """Coordinates of a transition state, as :class:`MinimumCoords`."""

    __tablename__ = "transition_state_coords"

    ts_id: Mapped[int] = mapped_column(
        Id, ForeignKey("transition_states.id", ondelete="CASCADE"), primary_key=True
    )
    coords: Mapped[bytes] = mapped_column(LargeBinary)


class ConnectAttempt(Base):
    """Every attempt to connect two minima, so that the planner does not retry a failed pair forever."""

    __tablename__ = "connect_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["landscape_id", "min1_id"], ["minima.landscape_id", "minima.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["landscape_id", "min2_id"], ["minima.landscape_id", "minima.id"], ondelete="CASCADE"
        ),
        CheckConstraint(_in("outcome", CONNECT_OUTCOMES), name="outcome"),
        Index("ix_connect_attempts_pair", "landscape_id", "min1_id", "min2_id"),
        # An ingest job killed after recording its attempts and rerun must not record them twice;
        # NULL keys (attempts recorded by hand) never collide.
        Index("uq_connect_attempts_key", "landscape_id", "attempt_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    landscape_id: Mapped[int] = mapped_column(ForeignKey("landscapes.id", ondelete="CASCADE"))
    min1_id: Mapped[int] = mapped_column(Id)
    min2_id: Mapped[int] = mapped_column(Id)
    outcome: Mapped[str] = mapped_column(String(16))
    n_ts_found: Mapped[int] = mapped_column(Integer, server_default="0")
    n_minima_found: Mapped[int] = mapped_column(Integer, server_default="0")
    method: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[str | None] = mapped_column(Text)  # free-form JSON
    attempt_key: Mapped[str | None] = mapped_column(String(200))  # unique per landscape: which job and pair
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())


class MinimumMetric(Base):
    __tablename__ = "minimum_metrics"
    __table_args__ = (
        CheckConstraint(_in("split", SPLITS), name="split"),
        CheckConstraint(_in("metric", METRICS), name="metric"),
    )

    minimum_id: Mapped[int] = mapped_column(ForeignKey("minima.id", ondelete="CASCADE"), primary_key=True)
    split: Mapped[str] = mapped_column(String(16), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[float | None] = mapped_column(Double)  # NULL: undefined (e.g. an empty split)


class ExplorationRound(Base):
    """What one ingest added to a landscape: the discovery curve and the saturation test read these.

    One row per ingest, keyed by (stage, step): a basin-hopping chunk, a connection round or a
    refinement round. The counts after the ingest are the landscape's whole network at that moment
    (``n_connections``: distinct pairs of minima joined by a transition state; ``n_degenerate``:
    transition states whose two sides are one minimum); the ``n_new_*`` are the differences from the
    landscape's previous row (from nothing for its first). ``cpu_seconds``: the CPU time of the
    processes that produced and ingested the step (imports and start-up included).
    """

    __tablename__ = "exploration_rounds"
    __table_args__ = (
        CheckConstraint(_in("stage", STAGES), name="stage"),
        UniqueConstraint("landscape_id", "stage", "step"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    landscape_id: Mapped[int] = mapped_column(ForeignKey("landscapes.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(100))  # e.g. "round 3", "run 0 chunk 1"
    round: Mapped[int | None] = mapped_column(Integer)
    n_minima: Mapped[int] = mapped_column(Integer)
    n_transition_states: Mapped[int] = mapped_column(Integer)
    n_connections: Mapped[int] = mapped_column(Integer)
    n_degenerate: Mapped[int] = mapped_column(Integer)
    n_new_minima: Mapped[int] = mapped_column(Integer)
    n_new_transition_states: Mapped[int] = mapped_column(Integer)
    n_new_connections: Mapped[int] = mapped_column(Integer)
    n_new_degenerate: Mapped[int] = mapped_column(Integer)
    n_tasks: Mapped[int] = mapped_column(Integer, server_default="0")  # quenches or attempts run
    cpu_seconds: Mapped[float] = mapped_column(Double, server_default="0")
    saturated: Mapped[bool | None] = mapped_column(Boolean)  # refinement rounds: the criterion held after it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.current_timestamp())
    # schema 4: the settings behind the step (a hash: a rerun with other settings records new steps),
    # the part of cpu_seconds spent compiling or loading compiled kernels, why the stage stopped
    # after this step (saturated, budget, max_rounds; NULL: it went on), and the completeness
    # estimates over every independent sighting of the landscape up to this step (lfl.explore.completeness)
    effort: Mapped[str | None] = mapped_column(String(16))
    compile_seconds: Mapped[float | None] = mapped_column(Double)
    stopped: Mapped[str | None] = mapped_column(String(16))
    n_minimum_draws: Mapped[int | None] = mapped_column(Integer)
    minima_coverage: Mapped[float | None] = mapped_column(Double)
    minima_estimate: Mapped[float | None] = mapped_column(Double)
    minima_estimate_low: Mapped[float | None] = mapped_column(Double)
    minima_estimate_high: Mapped[float | None] = mapped_column(Double)
    n_transition_state_draws: Mapped[int | None] = mapped_column(Integer)
    transition_states_coverage: Mapped[float | None] = mapped_column(Double)
    transition_states_estimate: Mapped[float | None] = mapped_column(Double)
    transition_states_estimate_low: Mapped[float | None] = mapped_column(Double)
    transition_states_estimate_high: Mapped[float | None] = mapped_column(Double)


ROUND_V4_COLUMNS = (
    "effort", "compile_seconds", "stopped", "n_minimum_draws", "minima_coverage", "minima_estimate",
    "minima_estimate_low", "minima_estimate_high", "n_transition_state_draws", "transition_states_coverage",
    "transition_states_estimate", "transition_states_estimate_low", "transition_states_estimate_high",
)


class _Sighting:
    """Columns of both sightings tables: the step (exploration_rounds row), the search, how often that
    search found the point in the step (stored or new), and whether these sightings are draws."""

    @declared_attr
    def round_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("exploration_rounds.id", ondelete="CASCADE"), primary_key=True)

    search: Mapped[str] = mapped_column(String(24), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    independent: Mapped[bool] = mapped_column(Boolean)

    @staticmethod
    def constraints(point_column: str, index_name: str) -> tuple:
        return (CheckConstraint(_in("search", SEARCHES), name="search"), CheckConstraint("n > 0", name="n"),
                Index(index_name, point_column))


class MinimumSighting(_Sighting, Base):
    __tablename__ = "minimum_sightings"
    __table_args__ = _Sighting.constraints("minimum_id", "ix_minimum_sightings_minimum")

    minimum_id: Mapped[int] = mapped_column(ForeignKey("minima.id", ondelete="CASCADE"), primary_key=True)


class TransitionStateSighting(_Sighting, Base):
    __tablename__ = "transition_state_sightings"
    __table_args__ = _Sighting.constraints("ts_id", "ix_transition_state_sightings_ts")

    ts_id: Mapped[int] = mapped_column(ForeignKey("transition_states.id", ondelete="CASCADE"), primary_key=True)


class MinimumKinetics(Base):
    """What the network says of each minimum at one temperature and funnel level (``lfl analyse
    kinetics``): ``barrier_to_global`` (the lowest possible highest transition state on a path to the
    global minimum, minus the minimum's energy; 0 for the global minimum, NULL where no path exists),
    ``occupation`` (equilibrium probability, harmonic superposition over the landscape's minima) and
    ``funnel_minimum_id`` (the lowest minimum of the set joined to it by transition states at or below
    ``funnel_level``). A rerun for the same temperature and level replaces its rows."""

    __tablename__ = "minimum_kinetics"
    __table_args__ = (
        CheckConstraint("temperature > 0", name="temperature"),
        CheckConstraint("occupation >= 0 AND occupation <= 1", name="occupation"),
        Index("ix_minimum_kinetics_funnel", "funnel_minimum_id"),
    )

    minimum_id: Mapped[int] = mapped_column(ForeignKey("minima.id", ondelete="CASCADE"), primary_key=True)
    temperature: Mapped[float] = mapped_column(Double, primary_key=True)
    funnel_level: Mapped[float] = mapped_column(Double, primary_key=True)
    barrier_to_global: Mapped[float | None] = mapped_column(Double)
    occupation: Mapped[float] = mapped_column(Double)
    funnel_minimum_id: Mapped[int] = mapped_column(ForeignKey("minima.id", ondelete="CASCADE"))


LFL_TABLES = tuple(Base.metadata.tables)
