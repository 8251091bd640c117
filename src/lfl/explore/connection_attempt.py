"""One attempt to join two minima by transition states, as an object whose steps can be run and
observed one by one (like ASE's optimisers), or all at once by :func:`connect_pair`.

The attempt keeps a small graph of its own: node 0 is x_a, node 1 x_b, then every distinct minimum a
push-off or a quenched band image found; transition states that join two distinct minima link their
nodes (a union-find). A *cycle* runs a DNEB between two nodes and refines the band's maxima
(:meth:`ConnectionAttempt.band_cycle`); :meth:`ConnectionAttempt.next_pair` picks the gap the next
cycle bridges (:func:`next_gap`); :meth:`ConnectionAttempt.climb_out_of_b` is the single-ended
fallback; :meth:`ConnectionAttempt.result` says what the attempt found so far. Pure: coordinates in,
a :class:`~lfl.explore.transition_states.ConnectionResult` out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy.sparse.csgraph import dijkstra

from lfl.errors import LflError
from lfl.explore.eigenvector_following import hessian_eigen_decomposition, hessian_index, lowest_eigenpairs_iterative
from lfl.explore.neb import DNEBResult, run_dneb
from lfl.explore.transition_states import (
    ConnectionResult,
    ConnectSettings,
    MinimumFound,
    SaddleSearch,
    TransitionState,
    quench,
    same_point,
)
from lfl.systems.base import System

log = logging.getLogger(__name__)

END_A, END_B = 0, 1  # the nodes of the two end points


class UnionFind:
    """Which nodes are joined (path halving)."""

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


class ConnectionAttempt(SaddleSearch):
    """Search for transition states that join minima x_a and x_b, in up to ``max_cycles`` DNEB cycles.

    The first cycle runs a DNEB between x_a and x_b and refines its maxima. When that leaves the two
    unjoined but found other minima (a band between two minima far apart usually crosses several
    basins), the next cycle bridges the most promising gap left (:func:`next_gap`, as OPTIM's
    NEWCONNECT). A pair is tried at most ``max_tries_per_pair`` times, each retry with twice the
    images. The attempt ends when the end points are joined, no pair is left to try, or the cycles
    are spent; then, when every band into x_b failed, single-ended searches climb out of x_b.

    State (read it between steps): besides :class:`~lfl.explore.transition_states.SaddleSearch`'s
    ``minima``, ``transition_states``, ``attempts`` and ``timings``, the graph: ``node_x`` and
    ``node_energy`` (its nodes), ``node_of_minimum`` (the node of every minimum), ``links``,
    ``tries`` per pair, ``n_cycles``.
    """

    def __init__(self, system: System, x_a: np.ndarray, x_b: np.ndarray, settings: ConnectSettings | None = None):
        super().__init__(system, settings or ConnectSettings())
        x_a = np.ascontiguousarray(x_a, dtype=np.float64).ravel()
        x_b = np.ascontiguousarray(x_b, dtype=np.float64).ravel()
        if x_a.size != system.n_dof or x_b.size != system.n_dof:
            raise LflError(f"connect needs two points of {system.n_dof} coordinates, got {x_a.size} and {x_b.size}")
        self.node_x: list[np.ndarray] = [x_a, x_b]
        self.node_energy: list[float] = [float(system.energy(x_a)), float(system.energy(x_b))]
        self.node_of_minimum: list[int] = []
        self.links = UnionFind()
        self.tries: dict[tuple[int, int], int] = {}
        self._distances: dict[tuple[int, int], float] = {}
        self.first_band: DNEBResult | None = None
        self.n_cycles = 0

    # --- the graph -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.links.find(END_A) == self.links.find(END_B)

    def node_distance(self, u: int, v: int) -> float:
        """Symmetry-aligned distance between two nodes (computed once per pair)."""
        key = (min(u, v), max(u, v))
        if key not in self._distances:
            self._distances[key] = float(self.system.distance(self.node_x[key[0]], self.node_x[key[1]]))
        return self._distances[key]

    def node_of(self, x: np.ndarray, energy: float) -> int | None:
        return next(
            (k for k in range(len(self.node_x))
             if same_point(self.system, self.node_x[k], self.node_energy[k], x, energy, self.settings)),
            None,
        )

    def minimum_added(self, found: MinimumFound) -> None:
        node = self.node_of(found.x, found.energy)
        if node is None:
            self.node_x.append(found.x)
            self.node_energy.append(found.energy)
            node = len(self.node_x) - 1
        self.node_of_minimum.append(node)

    def joined_to_other(self, node: int) -> bool:
        return any(self.links.find(k) == self.links.find(node) for k in range(len(self.node_x)) if k != node)

    # --- steps -----------------------------------------------------------------------------------

    def state_found(self, state: TransitionState) -> None:
        if state.connects_distinct:
            self.links.union(self.node_of_minimum[state.minus_index], self.node_of_minimum[state.plus_index])

    def describe(self, state: TransitionState) -> str:
        if state.connects_distinct:
            what = "connects two distinct minima"
        elif state.minus.is_minimum and state.plus.is_minimum:
            what = "both sides fall into the same minimum (no connection)"
        else:
            what = "a side did not end in a minimum (no connection)"
        return f"transition state E={state.energy:.12g}, {what}"

    def band_cycle(self, u: int, v: int) -> DNEBResult | None:
        """One cycle: a DNEB between nodes u and v (twice the images per earlier try of the pair), its
        maxima refined; while the pair stays unjoined, its interior images quenched for new nodes.
        None when the DNEB failed (the first cycle's failure is the caller's error: a bad pair)."""
        settings = self.settings
        self.n_cycles += 1
        cycle = self.n_cycles
        key = (min(u, v), max(u, v))
        tried = self.tries.get(key, 0)
        self.tries[key] = tried + 1
        dneb = settings.dneb if tried == 0 else replace(settings.dneb, n_images=settings.dneb.n_images * 2**tried)
        clock = time.perf_counter()
        try:
            band = run_dneb(self.system, self.node_x[u], self.node_x[v], dneb)
        except LflError as exc:
            if cycle == 1:
                raise  # the pair itself is unusable (e.g. one minimum twice): the caller's error
            self.attempts.append(f"cycle {cycle}, nodes {u}-{v}: DNEB failed ({exc})")
            return None
        self.timings["dneb"] += time.perf_counter() - clock
        self.first_band = self.first_band or band
        if band.candidates.size == 0:
            self.attempts.append(f"cycle {cycle}, nodes {u}-{v}: no local maximum along the band")
        for image in band.candidates[: settings.max_candidates]:
            self.refine(band.images[int(image)], f"cycle {cycle}, nodes {u}-{v}, image {int(image)}", int(image))
        if self.connected:
            return band
        if settings.quench_images and cycle < settings.max_cycles and self.links.find(u) != self.links.find(v):
            clock = time.perf_counter()
            n_new = self.add_band_minima(band)
            self.timings["quench"] += time.perf_counter() - clock
            if n_new:
                self.attempts.append(f"cycle {cycle}, nodes {u}-{v}: {n_new} new minimum/minima from quenched band images")
        return band

    def add_band_minima(self, band: DNEBResult) -> int:
        """Quench the band's interior images; add the verified minima not yet known as nodes.

        A band between distant minima crosses other basins; when no transition state on it joins its
        ends, these minima are stepping stones for shorter bands in the next cycles (where a long
        band's maximum led eigenvector-following astray, a short one's often does not).
        """
        n_new = 0
        for image in band.images[1:-1]:
            x, energy, _, converged, _ = quench(self.system, image, self.settings.quench, minimiser=self.minimiser)
            if not converged or self.node_of(x, energy) is not None:
                continue
            n_neg, _, _ = hessian_index(self.system, x, dense_max=self.settings.dense_max)
            if n_neg == 0:
                self.node_x.append(x)
                self.node_energy.append(energy)
                n_new += 1
        return n_new

    def next_pair(self) -> tuple[int, int] | None:
        """The gap the next cycle bridges (None: none left)."""
        return next_gap(len(self.node_x), self.links, self.node_distance, self.tries, self.settings.max_tries_per_pair)

    def climb_out_of_b(self) -> None:
        """Single-ended eigenvector-following from x_b, uphill along its softest modes both ways, until
        x_b is joined to some minimum (which the next round's planner can take further)."""
        settings, system = self.settings, self.system
        x_b = self.node_x[END_B]
        n_modes = min(settings.single_ended_modes, system.n_dof)
        if system.n_dof <= settings.dense_max:
            values, vectors = hessian_eigen_decomposition(system, x_b)
        else:  # Lanczos on Hessian-vector products: no dense matrix for large networks
            values, vectors = lowest_eigenpairs_iterative(system, x_b, n_modes)
        for mode in range(n_modes):
            for sign in (1.0, -1.0):
                if not self.joined_to_other(END_B):
                    start = x_b + sign * settings.single_ended_step * vectors[:, mode]
                    self.refine(start, f"single-ended from b, mode {mode} ({values[mode]:.3g}), sign {sign:+.0f}", -1)

    def run(self) -> ConnectionResult:
        """Every step: cycles while a gap is left, then the single-ended fallback; the result."""
        pair: tuple[int, int] | None = (END_A, END_B)
        while pair is not None and self.n_cycles < self.settings.max_cycles:
            band = self.band_cycle(*pair)
            if band is not None and self.connected:
                break
            pair = self.next_pair()
        # bands into x_b all failed: climb out of x_b itself
        if self.settings.single_ended_modes and not self.joined_to_other(END_B):
            self.climb_out_of_b()
        return self.result()

    def result(self) -> ConnectionResult:
        """What the attempt found so far."""
        transition_states = self.transition_states
        # which found minima are the end points (None: an end point was not found by a push-off)
        endpoint_matches: dict[str, int | None] = {
            name: next((i for i, node in enumerate(self.node_of_minimum) if node == end), None)
            for name, end in (("a", END_A), ("b", END_B))
        }
        connected = self.connected
        success = any(ts.connects_distinct for ts in transition_states)
        cycle = self.n_cycles
        if self.first_band is not None and self.first_band.candidates.size == 0 and not transition_states:
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
        timings = self.elapsed()
        log.info("connect: %s (%.2f s)", message, timings["total"])
        return ConnectionResult(
            transition_states=transition_states,
            minima=self.minima,
            connected=connected,
            success=success,
            message=message,
            timings=timings,
            dneb=self.first_band,
            attempts=self.attempts,
            endpoint_matches=endpoint_matches,
            n_cycles=cycle,
        )


def connect_pair(
    system: System, x_a: np.ndarray, x_b: np.ndarray, settings: ConnectSettings | None = None
) -> ConnectionResult:
    """Search for transition states that join minima x_a and x_b: :meth:`ConnectionAttempt.run`."""
    return ConnectionAttempt(system, x_a, x_b, settings).run()


def next_gap(
    n_nodes: int,
    links: UnionFind,
    node_distance: Callable[[int, int], float],
    tries: dict[tuple[int, int], int],
    max_tries: int,
) -> tuple[int, int] | None:
    """The closest unjoined pair on the cheapest path from node 0 to node 1 (None: no path left).

    Costs: nothing between joined nodes, distance squared between others (favouring several short
    bands over one long one); pairs tried max_tries times are no edges. Dijkstra over the components
    (the cheapest member pair between two components stands for the edge).
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
    start, target = labels[END_A], labels[END_B]
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


__all__ = ["ConnectionAttempt", "UnionFind", "connect_pair", "next_gap"]
