"""Transition states and the pieces of a search for them: settings, what a search finds (minima,
transition states, the result of an attempt), pushing a saddle off both ways and minimising, and
refining a start into a transition state by hybrid eigenvector-following.

A connection attempt between two minima (:class:`~lfl.explore.connection_attempt.ConnectionAttempt`,
:func:`~lfl.explore.connection_attempt.connect_pair`) and the single-ended searches build on these.
Everything is pure: coordinates in, what was found out; storing it is the caller's job. A transition
state whose two sides fall into the same minimum is kept and flagged (``connects_distinct = False``):
it is no connection.

The pushed-off sides are minimised by :func:`~lfl.explore.network_quench.make_quench` (the compiled
L-BFGS for network losses, the generic one otherwise). :func:`network_connect_settings` holds the
settings measured fastest on small networks (bench/bench_connect.py).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from lfl.errors import LflError
from lfl.explore.eigenvector_following import (
    EFSettings,
    hessian_eigen_decomposition,
    hessian_index,
    hybrid_eigenvector_following,
)
from lfl.explore.neb import DNEBResult, DNEBSettings
from lfl.explore.network_quench import HessianPreconditioning, Quench, make_quench
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.systems.base import System

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectSettings:
    dneb: DNEBSettings = field(default_factory=DNEBSettings)
    ef: EFSettings = field(default_factory=EFSettings)
    quench: LBFGSSettings = field(default_factory=LBFGSSettings)  # minimisation of the pushed-off sides
    # Hessian preconditioning of those minimisations (network losses). Off by default: its Newton-metric
    # steps cross the flat valleys below a saddle in a few jumps, and on a [2,3,4,50] landscape the sides
    # then matched an independent minimiser's from the same push-off less often (2 of 18 sides differed,
    # against 1 plain), though 1.4x faster (bench/bench_connect.py): the sides define the connection.
    precondition: HessianPreconditioning | None = None
    max_candidates: int = 3  # refine at most this many band maxima (highest first)
    push_off: float = 0.01  # first displacement along the eigenvector, in system coordinates ...
    push_off_max: float = 0.32  # ... doubled, up to this, while a side does not fall below the TS
    saddle_escapes: int = 2  # a side's quench that stops on a saddle is pushed off it again (dense only)
    energy_tol: float = 1e-6  # two stationary points are the same when energies AND
    distance_tol: float = 1e-3  # symmetry-aligned distances are both within these
    dense_max: int = 300  # exact Hessian index of the pushed-off minima up to this many dof
    # DNEB cycles per attempt (OPTIM's NEWCONNECT): later cycles bridge the gaps the first left.
    max_cycles: int = 1
    max_tries_per_pair: int = 2  # bands per pair of minima within one attempt (a retry doubles the images)
    quench_images: bool = True  # after a cycle that leaves its pair unjoined, its band's images become minima
    # When the cycles leave x_b joined to nothing: eigenvector-following uphill from x_b along its
    # softest modes (each mode both ways; 0: never), until x_b is joined to some minimum (modes from
    # the dense Hessian up to dense_max, by Lanczos beyond).
    single_ended_modes: int = 0
    single_ended_step: float = 0.05

    def validate(self) -> None:
        self.dneb.validate()
        self.ef.validate()
        if self.max_cycles < 1 or self.max_tries_per_pair < 1:
            raise LflError("connect max_cycles and max_tries_per_pair must be >= 1")
        if self.max_candidates < 1:
            raise LflError(f"connect max_candidates must be >= 1, got {self.max_candidates}")
        if self.saddle_escapes < 0:
            raise LflError(f"connect saddle_escapes must be >= 0, got {self.saddle_escapes}")
        if not self.push_off_max >= self.push_off > 0.0:
            raise LflError("connect needs push_off_max >= push_off > 0")
        if not (self.energy_tol >= 0.0 and self.distance_tol >= 0.0):
            raise LflError("connect energy_tol and distance_tol must be >= 0")


def network_connect_settings(**overrides) -> ConnectSettings:
    """ConnectSettings measured fastest on [2,10,4,1000,1e-4] losses (bench/bench_connect.py); any field overridable.

    - DNEB: at most 50 iterations (RMS force 1e-3): a loose band is enough, eigenvector-following
      starts from its maximum either way (with 1000, unconverged bands cost 0.6 s a pair for the same
      transition states);
    - eigenvector-following: one Newton step per iteration in the orthogonal space from the exact
      dense Hessian (tangent_method "auto" with dense_max 1000);
    - push-off quenches: the compiled network L-BFGS with memory 200 (about 25 % fewer iterations
      than memory 100 and 8 times fewer than memory 4 on these flat minima);
    - exact Hessian index of the minima and saddles up to 1000 weights;
    - up to 500 eigenvector-following iterations: most converging searches take under 60, but some
      take 200-300 (a wandering one costs ~6 ms an iteration, 3 s in all; with a cap of 200, a
      [2,3,4] pair lost both of its transition states);
    - up to 5 DNEB cycles per attempt (on D2 label-noise landscapes 4 of 9 first-round pairs
      joined against 0 of 9 with one cycle).
    """
    dense_max = int(overrides.pop("dense_max", 1000))
    defaults = dict(
        dneb=DNEBSettings(n_images=10, spring_constant=1.0, max_iterations=50, rms_force=1e-3),
        ef=EFSettings(dense_max=dense_max, tangent_method="auto"),
        quench=LBFGSSettings(memory=200, max_step=1.0, rms_gradient=1e-9, max_iterations=20000),
        dense_max=dense_max,
        max_cycles=5,
        single_ended_modes=2,
    )
    return ConnectSettings(**{**defaults, **overrides})


@dataclass
class MinimumFound:
    x: np.ndarray
    energy: float
    rms_gradient: float
    n_neg: int  # negative Hessian eigenvalues (0 for a true minimum)
    lowest_eigenvalue: float
    log_prod_positive: float  # sum of log of the positive Hessian eigenvalues (NaN when iterative)
    converged: bool  # the quench reached its RMS gradient
    nit: int
    push_off: float  # displacement along the eigenvector that led here

    @property
    def is_minimum(self) -> bool:
        return self.converged and self.n_neg == 0


@dataclass
class TransitionState:
    x: np.ndarray
    energy: float
    eigenvalue: float  # the one negative Hessian eigenvalue
    eigenvector: np.ndarray
    rms_gradient: float
    n_neg: int
    minus: MinimumFound  # the side reached from x - push_off * eigenvector
    plus: MinimumFound
    minus_index: int  # positions of the two sides in ConnectionResult.minima
    plus_index: int
    connects_distinct: bool  # both sides are minima and they differ
    band_image: int  # the DNEB image it was refined from (-1: a single-ended search)
    ef_iterations: int
    log_prod_positive: float = math.nan  # sum of ln of the positive Hessian eigenvalues (NaN: not decomposed)

    @classmethod
    def found(cls, ef, minus: "MinimumFound", plus: "MinimumFound", minus_index: int, plus_index: int,
              band_image: int) -> "TransitionState":
        """From a converged search (an EFResult) and its two quenched sides (positions in the attempt's minima)."""
        return cls(x=ef.x, energy=ef.energy, eigenvalue=ef.eigenvalue, eigenvector=ef.eigenvector,
                   rms_gradient=ef.rms_gradient, n_neg=ef.n_neg, minus=minus, plus=plus, minus_index=minus_index,
                   plus_index=plus_index,
                   connects_distinct=minus.is_minimum and plus.is_minimum and minus_index != plus_index,
                   band_image=band_image, ef_iterations=ef.nit, log_prod_positive=ef.log_prod_positive)


@dataclass
class ConnectionResult:
    transition_states: list[TransitionState]  # distinct, valid index-one saddles found
    minima: list[MinimumFound]  # distinct minima the pushed-off sides fell into
    connected: bool  # x_a and x_b are joined through the transition states found
    success: bool  # at least one transition state joins two distinct minima
    message: str
    timings: dict[str, float]  # seconds: dneb, eigenvector_following, quench, total
    dneb: DNEBResult | None = None
    attempts: list[str] = field(default_factory=list)  # one line per candidate: what became of it
    endpoint_matches: dict[str, int | None] = field(default_factory=dict)  # "a"/"b" -> index in minima
    n_cycles: int = 0  # DNEB cycles run


def same_point(system: System, x1: np.ndarray, e1: float, x2: np.ndarray, e2: float, settings: ConnectSettings) -> bool:
    """Energies within energy_tol, then symmetry-aligned distance within distance_tol."""
    if abs(e1 - e2) > settings.energy_tol:
        return False
    return system.distance(x1, x2) <= settings.distance_tol


def quench(
    system: System, x0: np.ndarray, settings: LBFGSSettings, *, minimiser: Quench | None = None
) -> tuple[np.ndarray, float, float, bool, int]:
    """(x, energy, RMS gradient, converged, iterations) of a minimisation from x0.

    ``minimiser`` is a quench from :func:`~lfl.explore.network_quench.make_quench` (compiled for
    network losses: no Python per iteration); without one, a fresh one is made from ``settings``.
    """
    res = (minimiser or make_quench(system, settings))(x0)
    x = np.array(res.x, dtype=np.float64)
    return x, float(res.energy), float(res.rms_gradient), bool(res.success), int(res.nit)


def push_off_and_minimise(
    system: System,
    x_ts: np.ndarray,
    energy_ts: float,
    eigenvector: np.ndarray,
    sign: float,
    settings: ConnectSettings,
    *,
    minimiser: Quench | None = None,
) -> MinimumFound:
    """Minimise from x_ts + sign * d * eigenvector, doubling d until the quench has left the saddle.

    A too small displacement can leave the start with an RMS gradient already under the quench's
    tolerance (flat negative curvature), so that the "minimum" would be the saddle itself. The quench
    has left when it ends more than energy_tol below the saddle, or below it and farther from it than
    twice the displacement: on flat network losses a side's minimum can lie less than energy_tol
    below the saddle (8.8e-7 seen), and every doubling would find it again, a whole quench each.
    """
    minimiser = minimiser or make_quench(system, settings.quench, settings.precondition)
    displacement = settings.push_off
    while True:
        x, energy, rms, converged, nit = quench(
            system, x_ts + sign * displacement * eigenvector, settings.quench, minimiser=minimiser
        )
        left = energy < energy_ts - settings.energy_tol or (
            energy < energy_ts and float(np.linalg.norm(x - x_ts)) > 2.0 * displacement
        )
        if left or displacement * 2.0 > settings.push_off_max:
            break
        displacement *= 2.0
    n_neg, lowest, log_prod = hessian_index(system, x, dense_max=settings.dense_max)
    # A descent that runs inside a symmetric subspace (a ridge between permutational copies) can stop
    # on a saddle of that ridge, gradient converged: step off along its negative mode and go on down.
    for _ in range(settings.saddle_escapes):
        if not (converged and n_neg > 0 and system.n_dof <= settings.dense_max):
            break
        _, vectors = hessian_eigen_decomposition(system, x)
        x, energy, rms, converged, more = quench(
            system, x + settings.push_off * vectors[:, 0], settings.quench, minimiser=minimiser
        )
        nit += more
        n_neg, lowest, log_prod = hessian_index(system, x, dense_max=settings.dense_max)
    return MinimumFound(
        x=x,
        energy=energy,
        rms_gradient=rms,
        n_neg=n_neg,
        lowest_eigenvalue=lowest,
        log_prod_positive=log_prod,
        converged=converged,
        nit=nit,
        push_off=displacement,
    )


def refine_saddle(
    system: System,
    start: np.ndarray,
    settings: ConnectSettings,
    minimiser: Quench,
    timings: dict[str, float],
    *,
    known: list[TransitionState] = (),
    follow: np.ndarray | None = None,
):
    """Eigenvector-following from start (along the mode that overlaps ``follow`` most, when given),
    then both push-offs: (EFResult, minus side, plus side).

    A string instead says why there is nothing new: the search failed, or it converged onto one of
    the ``known`` transition states. ``timings`` gains the seconds spent in eigenvector-following and
    in the quenches. Shared by the double-ended attempts and the single-ended searches.
    """
    clock = time.perf_counter()
    ef = hybrid_eigenvector_following(system, start, settings.ef, follow=follow)
    timings["eigenvector_following"] = timings.get("eigenvector_following", 0.0) + time.perf_counter() - clock
    if not ef.success:
        return f"eigenvector-following failed ({ef.message})"
    if any(same_point(system, ts.x, ts.energy, ef.x, ef.energy, settings) for ts in known):
        return f"transition state already found (E={ef.energy:.12g})"
    clock = time.perf_counter()
    minus = push_off_and_minimise(system, ef.x, ef.energy, ef.eigenvector, -1.0, settings, minimiser=minimiser)
    plus = push_off_and_minimise(system, ef.x, ef.energy, ef.eigenvector, +1.0, settings, minimiser=minimiser)
    timings["quench"] = timings.get("quench", 0.0) + time.perf_counter() - clock
    return ef, minus, plus


class SaddleSearch:
    """What every transition-state search keeps: the distinct minima its push-offs fell into, the
    transition states it found, one line per start (``attempts``) and the seconds it spent
    (``timings``); :meth:`refine` is its one step. :class:`~lfl.explore.connection_attempt.ConnectionAttempt`
    adds a graph of nodes and links through the hooks :meth:`minimum_added` and :meth:`state_found`;
    :func:`~lfl.explore.single_ended.single_ended_search` uses it as it is."""

    def __init__(self, system: System, settings: ConnectSettings):
        self.system = system
        self.settings = settings
        settings.validate()
        self.started = time.perf_counter()
        self.timings = {"dneb": 0.0, "eigenvector_following": 0.0, "quench": 0.0, "total": 0.0}
        self.transition_states: list[TransitionState] = []
        self.minima: list[MinimumFound] = []
        self.attempts: list[str] = []
        self._minimiser: Quench | None = None

    @property
    def minimiser(self) -> Quench:
        """One quench for both sides of every candidate (made on first use)."""
        if self._minimiser is None:
            self._minimiser = make_quench(self.system, self.settings.quench, self.settings.precondition)
        return self._minimiser

    def index_of(self, x: np.ndarray, energy: float) -> int | None:
        """Position of the minimum at x in :attr:`minima` (None: not among them)."""
        return next((i for i, known in enumerate(self.minima)
                     if same_point(self.system, known.x, known.energy, x, energy, self.settings)), None)

    def add_minimum(self, found: MinimumFound) -> int:
        """Position of ``found`` in :attr:`minima`, appended when new."""
        index = self.index_of(found.x, found.energy)
        if index is None:
            self.minima.append(found)
            index = len(self.minima) - 1
            self.minimum_added(found)
        return index

    def minimum_added(self, found: MinimumFound) -> None:
        """Hook: a new distinct minimum was appended to :attr:`minima`."""

    def state_found(self, state: TransitionState) -> None:
        """Hook: a new transition state was appended to :attr:`transition_states`."""

    def describe(self, state: TransitionState) -> str:
        return f"transition state E={state.energy:.12g}" + ("" if state.connects_distinct else " (no connection)")

    def refine(self, start: np.ndarray, where: str, image: int = -1, *,
               follow: np.ndarray | None = None) -> TransitionState | None:
        """Eigenvector-following from start (along ``follow``'s best match, when given); a new
        transition state is pushed off both ways and kept. None: nothing new (see ``attempts``)."""
        found = refine_saddle(self.system, start, self.settings, self.minimiser, self.timings,
                              known=self.transition_states, follow=follow)
        if isinstance(found, str):
            self.attempts.append(f"{where}: {found}")
            return None
        ef, minus, plus = found
        state = TransitionState.found(ef, minus, plus, self.add_minimum(minus), self.add_minimum(plus), image)
        self.transition_states.append(state)
        self.state_found(state)
        self.attempts.append(f"{where}: {self.describe(state)}")
        return state

    def elapsed(self) -> dict[str, float]:
        """:attr:`timings` with the total so far."""
        self.timings["total"] = time.perf_counter() - self.started
        return dict(self.timings)


__all__ = [
    "ConnectSettings",
    "ConnectionResult",
    "MinimumFound",
    "SaddleSearch",
    "TransitionState",
    "network_connect_settings",
    "push_off_and_minimise",
    "refine_saddle",
    "same_point",
]
