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
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse.csgraph import dijkstra

from lfl.errors import LflError
from lfl.explore.eigenvector_following import (
    EFSettings,
    hessian_eigen_decomposition,
    hessian_index,
    hybrid_eigenvector_following,
    lowest_eigenpairs_iterative,
)
from lfl.explore.lbfgs import LBFGSSettings
from lfl.explore.neb import DNEBResult, DNEBSettings, run_dneb
from lfl.explore.network_quench import HessianPreconditioning, Quench, make_quench
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

    @classmethod
    def found(cls, ef, minus: "MinimumFound", plus: "MinimumFound", minus_index: int, plus_index: int,
              band_image: int) -> "TransitionState":
        """From a converged search (an EFResult) and its two quenched sides (positions in the attempt's minima)."""
        return cls(x=ef.x, energy=ef.energy, eigenvalue=ef.eigenvalue, eigenvector=ef.eigenvector,
                   rms_gradient=ef.rms_gradient, n_neg=ef.n_neg, minus=minus, plus=plus, minus_index=minus_index,
                   plus_index=plus_index,
                   connects_distinct=minus.is_minimum and plus.is_minimum and minus_index != plus_index,
                   band_image=band_image, ef_iterations=ef.nit)


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
    """Search for transition states that join minima x_a and x_b, in up to ``max_cycles`` DNEB cycles.

    The first cycle runs a DNEB between x_a and x_b and refines its maxima. When that leaves the two
    unjoined but found other minima (a band between two minima far apart usually crosses several
    basins), the next cycle bridges the most promising gap left: over the minima known to this
    attempt, a shortest path from x_a to x_b in which joined minima cost nothing to pass between and
    other pairs cost their symmetry-aligned distance squared (favouring several short bands over one
    long one, as OPTIM's NEWCONNECT does); of the unjoined pairs on that path, the closest one gets
    the next band. A pair is tried at most ``max_tries_per_pair`` times, each retry with twice the
    images. The attempt ends when the end points are joined, no pair is left to try, or the cycles
    are spent.
    """
    settings = settings or ConnectSettings()
    settings.validate()
    started = time.perf_counter()
    timings = {"dneb": 0.0, "eigenvector_following": 0.0, "quench": 0.0, "total": 0.0}
    x_a = np.ascontiguousarray(x_a, dtype=np.float64).ravel()
    x_b = np.ascontiguousarray(x_b, dtype=np.float64).ravel()
    if x_a.size != system.n_dof or x_b.size != system.n_dof:
        raise LflError(f"connect needs two points of {system.n_dof} coordinates, got {x_a.size} and {x_b.size}")

    transition_states: list[TransitionState] = []
    minima: list[MinimumFound] = []
    minimiser = make_quench(system, settings.quench, settings.precondition)  # one for both sides of every candidate
    attempts: list[str] = []
    # The attempt's graph: node 0 is x_a, node 1 x_b, then every distinct minimum a push-off found.
    node_x: list[np.ndarray] = [x_a, x_b]
    node_energy: list[float] = [float(system.energy(x_a)), float(system.energy(x_b))]
    node_of_minimum: list[int] = []
    links = _UnionFind()
    tries: dict[tuple[int, int], int] = {}
    distances: dict[tuple[int, int], float] = {}
    first_band: DNEBResult | None = None

    def node_distance(u: int, v: int) -> float:
        key = (min(u, v), max(u, v))
        if key not in distances:
            distances[key] = float(system.distance(node_x[key[0]], node_x[key[1]]))
        return distances[key]

    def minimum_index(found: MinimumFound) -> int:
        for i, known in enumerate(minima):
            if same_point(system, known.x, known.energy, found.x, found.energy, settings):
                return i
        minima.append(found)
        node = next(
            (k for k in range(len(node_x)) if same_point(system, node_x[k], node_energy[k], found.x, found.energy, settings)),
            None,
        )
        if node is None:
            node_x.append(found.x)
            node_energy.append(found.energy)
            node = len(node_x) - 1
        node_of_minimum.append(node)
        return len(minima) - 1

    def refine(start: np.ndarray, where: str, image: int) -> None:
        """Eigenvector-following from start; a new transition state is pushed off both ways and kept."""
        found = refine_saddle(system, start, settings, minimiser, timings, known=transition_states)
        if isinstance(found, str):
            attempts.append(f"{where}: {found}")
            return
        ef, minus, plus = found
        state = TransitionState.found(ef, minus, plus, minimum_index(minus), minimum_index(plus), image)
        distinct = state.connects_distinct
        if distinct:
            links.union(node_of_minimum[state.minus_index], node_of_minimum[state.plus_index])
        transition_states.append(state)
        if distinct:
            what = "connects two distinct minima"
        elif minus.is_minimum and plus.is_minimum:
            what = "both sides fall into the same minimum (no connection)"
        else:
            what = "a side did not end in a minimum (no connection)"
        attempts.append(f"{where}: transition state E={ef.energy:.12g}, {what}")

    cycle = 0
    pair: tuple[int, int] | None = (0, 1)
    while pair is not None and cycle < settings.max_cycles:
        cycle += 1
        u, v = pair
        tried = tries.get((min(u, v), max(u, v)), 0)
        tries[(min(u, v), max(u, v))] = tried + 1
        dneb = settings.dneb if tried == 0 else replace(settings.dneb, n_images=settings.dneb.n_images * 2**tried)
        clock = time.perf_counter()
        try:
            band = run_dneb(system, node_x[u], node_x[v], dneb)
        except LflError as exc:
            if cycle == 1:
                raise  # the pair itself is unusable (e.g. one minimum twice): the caller's error
            attempts.append(f"cycle {cycle}, nodes {u}-{v}: DNEB failed ({exc})")
            pair = _next_gap(len(node_x), links, node_distance, tries, settings.max_tries_per_pair)
            continue
        timings["dneb"] += time.perf_counter() - clock
        first_band = first_band or band
        if band.candidates.size == 0:
            attempts.append(f"cycle {cycle}, nodes {u}-{v}: no local maximum along the band")

        for image in band.candidates[: settings.max_candidates]:
            refine(band.images[int(image)], f"cycle {cycle}, nodes {u}-{v}, image {int(image)}", int(image))
        if links.find(0) == links.find(1):
            break
        if settings.quench_images and cycle < settings.max_cycles and links.find(u) != links.find(v):
            clock = time.perf_counter()
            n_new = _add_band_minima(system, band, settings, minimiser, node_x, node_energy)
            timings["quench"] += time.perf_counter() - clock
            if n_new:
                attempts.append(f"cycle {cycle}, nodes {u}-{v}: {n_new} new minimum/minima from quenched band images")
        pair = _next_gap(len(node_x), links, node_distance, tries, settings.max_tries_per_pair)

    # Bands into x_b all failed: climb out of x_b itself, uphill along its softest modes (single-ended
    # eigenvector-following). Any transition state next to x_b joins it to some minimum, which the
    # planner of the next round can take further.
    if settings.single_ended_modes and not _joined_to_other(links, 1, len(node_x)):
        n_modes = min(settings.single_ended_modes, system.n_dof)
        if system.n_dof <= settings.dense_max:
            values, vectors = hessian_eigen_decomposition(system, x_b)
        else:  # Lanczos on Hessian-vector products: no dense matrix for large networks
            values, vectors = lowest_eigenpairs_iterative(system, x_b, n_modes)
        for mode in range(n_modes):
            for sign in (1.0, -1.0):
                if not _joined_to_other(links, 1, len(node_x)):
                    start = x_b + sign * settings.single_ended_step * vectors[:, mode]
                    refine(start, f"single-ended from b, mode {mode} ({values[mode]:.3g}), sign {sign:+.0f}", -1)

    # Which found minima are the end points (None: an end point was not found by a push-off)?
    endpoint_matches: dict[str, int | None] = {
        name: next((i for i, node in enumerate(node_of_minimum) if node == end), None)
        for name, end in (("a", 0), ("b", 1))
    }
    connected = links.find(0) == links.find(1)
    success = any(ts.connects_distinct for ts in transition_states)

    if first_band is not None and first_band.candidates.size == 0 and not transition_states:
        message = "no local maximum along the band"
    elif connected:
        message = (
            f"connected through {sum(ts.connects_distinct for ts in transition_states)} transition state(s) "
            f"in {cycle} cycle(s)"
        )
    elif success:
        message = f"transition states found, but they do not join the two end points ({cycle} cycle(s))"
    elif transition_states:
        message = f"transition states found, none joins two distinct minima ({cycle} cycle(s))"
    else:
        message = f"no transition state found ({cycle} cycle(s))"
    timings["total"] = time.perf_counter() - started
    log.info("connect: %s (%.2f s)", message, timings["total"])
    return ConnectionResult(
        transition_states=transition_states,
        minima=minima,
        connected=connected,
        success=success,
        message=message,
        timings=timings,
        dneb=first_band,
        attempts=attempts,
        endpoint_matches=endpoint_matches,
        n_cycles=cycle,
    )


def _add_band_minima(
    system: System,
    band: DNEBResult,
    settings: ConnectSettings,
    minimiser: Quench,
    node_x: list[np.ndarray],
    node_energy: list[float],
) -> int:
    """Quench the band's interior images; add the verified minima not yet known as nodes.

    A band between distant minima crosses other basins; when no transition state on it joins its
    ends, these minima are stepping stones for shorter bands in the next cycles (where a long band's
    maximum led eigenvector-following astray, a short one's often does not).
    """
    n_new = 0
    for image in band.images[1:-1]:
        x, energy, _, converged, _ = quench(system, image, settings.quench, minimiser=minimiser)
        if not converged:
            continue
        if any(same_point(system, node_x[k], node_energy[k], x, energy, settings) for k in range(len(node_x))):
            continue
        n_neg, _, _ = hessian_index(system, x, dense_max=settings.dense_max)
        if n_neg == 0:
            node_x.append(x)
            node_energy.append(energy)
            n_new += 1
    return n_new


def _joined_to_other(links: _UnionFind, node: int, n_nodes: int) -> bool:
    return any(links.find(k) == links.find(node) for k in range(n_nodes) if k != node)


def _next_gap(
    n_nodes: int,
    links: _UnionFind,
    node_distance: Callable[[int, int], float],
    tries: dict[tuple[int, int], int],
    max_tries: int,
) -> tuple[int, int] | None:
    """The closest unjoined pair on the cheapest path from node 0 to node 1 (None: no path left).

    Costs: nothing between joined nodes, distance squared between others; pairs tried max_tries
    times are no edges. Dijkstra over the components (the cheapest member pair between two
    components stands for the edge).
    """
    roots = [links.find(k) for k in range(n_nodes)]
    component = {root: c for c, root in enumerate(dict.fromkeys(roots))}
    labels = [component[r] for r in roots]
    n_comp = len(component)
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for u in range(n_nodes):
        for v in range(u + 1, n_nodes):
            cu, cv = labels[u], labels[v]
            if cu == cv or tries.get((u, v), 0) >= max_tries:
                continue
            d = node_distance(u, v)
            key = (min(cu, cv), max(cu, cv))
            if key not in best or d < best[key][0]:
                best[key] = (d, u, v)
    start, target = labels[0], labels[1]
    cost = np.zeros((n_comp, n_comp))  # csgraph: 0 = no edge, so every real cost is >= tiny
    for (cu, cv), (d, _, _) in best.items():
        cost[cu, cv] = cost[cv, cu] = max(d * d, np.finfo(np.float64).tiny)
    dist, previous = dijkstra(cost, directed=False, indices=start, return_predecessors=True)
    if not np.isfinite(dist[target]):
        return None
    gaps = []
    c = target
    while c != start:
        p = int(previous[c])
        gaps.append(best[(min(p, c), max(p, c))])
        c = p
    d, u, v = min(gaps)
    return (u, v)


__all__ = [
    "ConnectSettings",
    "ConnectionResult",
    "MinimumFound",
    "TransitionState",
    "connect_pair",
    "network_connect_settings",
    "push_off_and_minimise",
    "refine_saddle",
    "same_point",
]
