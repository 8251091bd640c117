"""Connect two minima: DNEB candidates -> hybrid eigenvector-following -> push off both ways and minimise.

:func:`connect_pair` is pure: it reads two coordinate vectors and returns what it found (transition
states, each with the two minima its pushed-off sides fall into, and every distinct minimum seen);
storing them is the caller's job. A transition state whose two sides fall into the same minimum is
kept and flagged (``connects_distinct = False``): it is no connection.

The pushed-off sides are minimised by :func:`~lfl.explore.network_quench.make_quench` (the compiled
L-BFGS for network losses, the generic one otherwise). :func:`network_connect_settings` holds the
settings measured fastest on small networks (bench/bench_connect.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from lfl.errors import LflError
from lfl.explore.eigenvector_following import EFSettings, hessian_index, hybrid_eigenvector_following
from lfl.explore.lbfgs import LBFGSSettings
from lfl.explore.neb import DNEBResult, DNEBSettings, run_dneb
from lfl.explore.network_quench import Quench, make_quench
from lfl.systems.base import System

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectSettings:
    dneb: DNEBSettings = field(default_factory=DNEBSettings)
    ef: EFSettings = field(default_factory=EFSettings)
    quench: LBFGSSettings = field(default_factory=LBFGSSettings)  # minimisation of the pushed-off sides
    max_candidates: int = 3  # refine at most this many band maxima (highest first)
    push_off: float = 0.01  # first displacement along the eigenvector, in system coordinates ...
    push_off_max: float = 0.32  # ... doubled, up to this, while a side does not fall below the TS
    energy_tol: float = 1e-6  # two stationary points are the same when energies AND
    distance_tol: float = 1e-3  # symmetry-aligned distances are both within these
    dense_max: int = 300  # exact Hessian index of the pushed-off minima up to this many dof

    def validate(self) -> None:
        self.dneb.validate()
        self.ef.validate()
        if self.max_candidates < 1:
            raise LflError(f"connect max_candidates must be >= 1, got {self.max_candidates}")
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
    - exact Hessian index of the minima and saddles up to 1000 weights.
    """
    dense_max = int(overrides.pop("dense_max", 1000))
    defaults = dict(
        dneb=DNEBSettings(n_images=10, spring_constant=1.0, max_iterations=50, rms_force=1e-3),
        ef=EFSettings(dense_max=dense_max, tangent_method="auto"),
        quench=LBFGSSettings(memory=200, max_step=1.0, rms_gradient=1e-9, max_iterations=20000),
        dense_max=dense_max,
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
    band_image: int  # the DNEB image it was refined from
    ef_iterations: int


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
    minimiser = minimiser or make_quench(system, settings.quench)
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


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, key):
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a, b) -> None:
        self.parent[self.find(a)] = self.find(b)


def connect_pair(
    system: System, x_a: np.ndarray, x_b: np.ndarray, settings: ConnectSettings | None = None
) -> ConnectionResult:
    """Search for transition states between minima x_a and x_b (DNEB, then eigenvector-following)."""
    settings = settings or ConnectSettings()
    settings.validate()
    started = time.perf_counter()
    timings = {"dneb": 0.0, "eigenvector_following": 0.0, "quench": 0.0, "total": 0.0}
    x_a = np.ascontiguousarray(x_a, dtype=np.float64).ravel()
    x_b = np.ascontiguousarray(x_b, dtype=np.float64).ravel()

    clock = time.perf_counter()
    band = run_dneb(system, x_a, x_b, settings.dneb)
    timings["dneb"] = time.perf_counter() - clock
    energy_a, energy_b = float(band.energies[0]), float(band.energies[-1])

    transition_states: list[TransitionState] = []
    minima: list[MinimumFound] = []
    minimiser = make_quench(system, settings.quench)  # one for both sides of every candidate
    attempts: list[str] = []

    def minimum_index(found: MinimumFound) -> int:
        for i, known in enumerate(minima):
            if same_point(system, known.x, known.energy, found.x, found.energy, settings):
                return i
        minima.append(found)
        return len(minima) - 1

    for image in band.candidates[: settings.max_candidates]:
        image = int(image)
        clock = time.perf_counter()
        ef = hybrid_eigenvector_following(system, band.images[image], settings.ef)
        timings["eigenvector_following"] += time.perf_counter() - clock
        if not ef.success:
            attempts.append(f"image {image}: eigenvector-following failed ({ef.message})")
            continue
        if any(same_point(system, ts.x, ts.energy, ef.x, ef.energy, settings) for ts in transition_states):
            attempts.append(f"image {image}: transition state already found (E={ef.energy:.12g})")
            continue
        clock = time.perf_counter()
        minus = push_off_and_minimise(system, ef.x, ef.energy, ef.eigenvector, -1.0, settings, minimiser=minimiser)
        plus = push_off_and_minimise(system, ef.x, ef.energy, ef.eigenvector, +1.0, settings, minimiser=minimiser)
        timings["quench"] += time.perf_counter() - clock
        minus_index, plus_index = minimum_index(minus), minimum_index(plus)
        distinct = minus.is_minimum and plus.is_minimum and minus_index != plus_index
        transition_states.append(
            TransitionState(
                x=ef.x,
                energy=ef.energy,
                eigenvalue=ef.eigenvalue,
                eigenvector=ef.eigenvector,
                rms_gradient=ef.rms_gradient,
                n_neg=ef.n_neg,
                minus=minus,
                plus=plus,
                minus_index=minus_index,
                plus_index=plus_index,
                connects_distinct=distinct,
                band_image=image,
                ef_iterations=ef.nit,
            )
        )
        if distinct:
            what = "connects two distinct minima"
        elif minus.is_minimum and plus.is_minimum:
            what = "both sides fall into the same minimum (no connection)"
        else:
            what = "a side did not end in a minimum (no connection)"
        attempts.append(f"image {image}: transition state E={ef.energy:.12g}, {what}")

    # Which minima are the end points, and are the end points joined through what was found?
    endpoint_matches: dict[str, int | None] = {}
    for name, x_end, e_end in (("a", x_a, energy_a), ("b", band.images[-1], energy_b)):
        endpoint_matches[name] = next(
            (i for i, m in enumerate(minima) if same_point(system, m.x, m.energy, x_end, e_end, settings)), None
        )
    links = _UnionFind()
    for ts in transition_states:
        if ts.connects_distinct:
            links.union(ts.minus_index, ts.plus_index)
    ia, ib = endpoint_matches["a"], endpoint_matches["b"]
    connected = ia is not None and ib is not None and links.find(ia) == links.find(ib)
    success = any(ts.connects_distinct for ts in transition_states)

    if band.candidates.size == 0:
        message = "no local maximum along the band"
    elif connected:
        message = f"connected through {sum(ts.connects_distinct for ts in transition_states)} transition state(s)"
    elif success:
        message = "transition states found, but they do not join the two end points"
    elif transition_states:
        message = "transition states found, none joins two distinct minima"
    else:
        message = "no transition state found"
    timings["total"] = time.perf_counter() - started
    log.info("connect: %s (%.2f s)", message, timings["total"])
    return ConnectionResult(
        transition_states=transition_states,
        minima=minima,
        connected=connected,
        success=success,
        message=message,
        timings=timings,
        dneb=band,
        attempts=attempts,
        endpoint_matches=endpoint_matches,
    )


__all__ = [
    "ConnectSettings",
    "ConnectionResult",
    "MinimumFound",
    "TransitionState",
    "connect_pair",
    "network_connect_settings",
    "push_off_and_minimise",
    "same_point",
]
