"""Rates between two sets of minima by graph transformation (Trygubenko and Wales 2006; Wales 2009,
"NGT"), exact on networks with dead ends, self-loops and parallel transition states.

The continuous-time Markov chain of the network: from minimum x the chain leaves after a mean
waiting time ``tau_x = 1 / sum_y k_xy`` to y with branching probability ``P(y <- x) = k_xy tau_x``
(parallel transition states between one pair add their rates; a transition state whose two sides are
one minimum, a degenerate rearrangement, changes nothing and is left out). Removing a node x and
sending every path through it straight on to its neighbours, with renormalised probabilities and
waiting times, leaves every mean first-passage time of the remaining nodes unchanged:

    P'(g <- b) = P(g <- b) + P(x <- b) P(g <- x) / (1 - P(x <- x))
    tau'_b     = tau_b + P(x <- b) tau_x / (1 - P(x <- x))

with ``1 - P(x <- x)`` summed from the probabilities of leaving x (no cancellation: Wales 2009).
Nodes go in order of fewest neighbours (a lazily updated heap), which keeps the fill-in small on
landscape-like networks. With the target set absorbing, removing every other node and substituting
back in reverse order gives the mean first-passage time to the target from *every* node in one pass.

Rates between A and B as PATHSAMPLE's NGT defines them (Wales 2009, eq. 19; Wales's notation
reads right to left, so ``rate_a_to_b`` is his k_BA):

    k(A -> B) = (1 / p_A) sum_{a in A} p_a / T(B <- a),    T(A -> B) = sum_{a in A} (p_a / p_A) T(B <- a)

with p the equilibrium occupations. Everything is in natural logarithms: rates span hundreds of
orders of magnitude over a temperature range.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, types
from numba.typed import Dict, List

from lfl import kernel_cache
from lfl.errors import DataError
from lfl.kinetics.harmonic import log_occupations, transition_state_rates
from lfl.kinetics.network import TransitionNetwork

kernel_cache.install()


@dataclass(frozen=True)
class TwoStateRates:
    """Rates and mean first-passage times between minima sets A and B at one temperature, natural
    logarithms (``rate_*`` and ``mfpt_*`` give the plain numbers, 0 or inf where a double cannot)."""

    temperature: float
    log_rate_a_to_b: float
    log_rate_b_to_a: float
    log_mfpt_a_to_b: float
    log_mfpt_b_to_a: float
    log_occupation_a: float
    log_occupation_b: float
    n_minima: int  # in the network the rates were computed on (the component holding A and B)
    n_edges: int  # distinct pairs of minima joined by transition states

    @property
    def rate_a_to_b(self) -> float:
        return _plain(self.log_rate_a_to_b)

    @property
    def rate_b_to_a(self) -> float:
        return _plain(self.log_rate_b_to_a)

    @property
    def mfpt_a_to_b(self) -> float:
        return _plain(self.log_mfpt_a_to_b)

    @property
    def mfpt_b_to_a(self) -> float:
        return _plain(self.log_mfpt_b_to_a)


def _plain(log_value: float) -> float:
    """exp of a natural logarithm, inf where a double overflows."""
    return math.exp(log_value) if log_value < 709.0 else math.inf


@dataclass(frozen=True)
class MarkovChain:
    """The embedded chain of a network: per node, its neighbours (CSR rows, no self-loops),
    ``log P(neighbour <- node)`` and ``log tau_node``."""

    indptr: np.ndarray
    indices: np.ndarray
    log_branching: np.ndarray
    log_waiting: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.indptr.size - 1)


def markov_chain(n_nodes: int, source: np.ndarray, target: np.ndarray, log_rates: np.ndarray) -> MarkovChain:
    """The chain of directed rates ``source -> target`` (ln k); parallel ones add up, self-loops
    are dropped. Every node needs at least one way out."""
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    log_rates = np.asarray(log_rates, dtype=np.float64)
    keep = source != target
    source, target, log_rates = source[keep], target[keep], log_rates[keep]
    order = np.lexsort((target, source))
    source, target, log_rates = source[order], target[order], log_rates[order]
    if source.size:
        first = np.ones(source.size, dtype=bool)
        first[1:] = (source[1:] != source[:-1]) | (target[1:] != target[:-1])
        starts = np.flatnonzero(first)
        log_rates = np.logaddexp.reduceat(log_rates, starts)
        source, target = source[starts], target[starts]
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.add.at(indptr, source + 1, 1)
    indptr = np.cumsum(indptr)
    if np.any(np.diff(indptr) == 0):
        lonely = int(np.flatnonzero(np.diff(indptr) == 0)[0])
        raise DataError(f"minimum at position {lonely} has no transition state to another minimum")
    log_out = np.logaddexp.reduceat(log_rates, indptr[:-1])
    log_branching = log_rates - np.repeat(log_out, np.diff(indptr))
    return MarkovChain(indptr, target, log_branching, -log_out)


def log_first_passage_times(chain: MarkovChain, absorbing: np.ndarray) -> np.ndarray:
    """ln of the mean first-passage time into the ``absorbing`` nodes (a boolean mask) from every
    node (-inf for the absorbing ones), by graph transformation. Every node must reach the
    absorbing set."""
    absorbing = np.asarray(absorbing, dtype=np.bool_)
    if not absorbing.any():
        raise DataError("the target set of a first-passage time is empty")
    # one time unit for all: the slowest waiting time, so no waiting time overflows a double
    shift = float(chain.log_waiting.max())
    times, status = _first_passage_times(
        chain.indptr, chain.indices, np.exp(chain.log_branching), np.exp(chain.log_waiting - shift), absorbing
    )
    if status != 0:
        raise DataError("a minimum cannot reach the target set (or its escape probability underflowed)")
    with np.errstate(divide="ignore"):
        logs = np.log(times) + shift
    logs[absorbing] = -np.inf
    return logs


def two_state_rates(network: TransitionNetwork, set_a, set_b, temperature: float) -> TwoStateRates:
    """NGT rates and mean first-passage times between minima sets A and B (position arrays or
    boolean masks over the minima), harmonic rates at ``temperature``. Only the connected part of
    the network that holds A and B takes part; minima elsewhere cannot affect A <-> B."""
    n = network.n_minima
    in_a, in_b = _as_mask(set_a, n, "A"), _as_mask(set_b, n, "B")
    if np.any(in_a & in_b):
        raise DataError("sets A and B share a minimum")
    min1, min2 = network.min1, network.min2
    rates = transition_state_rates(network, temperature)
    keep = _component_of(n, min1, min2, in_a, in_b)
    position = np.cumsum(keep) - 1
    edge = keep[min1] & keep[min2] & (min1 != min2)
    u, v = position[min1[edge]], position[min2[edge]]
    n_keep = int(keep.sum())
    chain = markov_chain(n_keep, np.concatenate([u, v]), np.concatenate([v, u]),
                         np.concatenate([rates.forward[edge], rates.backward[edge]]))
    log_p = log_occupations(network.minimum_energies[keep], network.minimum_log_products[keep], temperature)
    a, b = in_a[keep], in_b[keep]
    to_b = log_first_passage_times(chain, b)
    to_a = log_first_passage_times(chain, a)
    log_pa, log_pb = _logsumexp(log_p[a]), _logsumexp(log_p[b])
    return TwoStateRates(
        temperature=float(temperature),
        log_rate_a_to_b=_logsumexp(log_p[a] - to_b[a]) - log_pa,
        log_rate_b_to_a=_logsumexp(log_p[b] - to_a[b]) - log_pb,
        log_mfpt_a_to_b=_logsumexp(log_p[a] + to_b[a]) - log_pa,
        log_mfpt_b_to_a=_logsumexp(log_p[b] + to_a[b]) - log_pb,
        log_occupation_a=log_pa,
        log_occupation_b=log_pb,
        n_minima=n_keep,
        n_edges=int(chain.indices.size // 2),
    )


def _as_mask(members, n: int, name: str) -> np.ndarray:
    members = np.asarray(members)
    if members.dtype == bool:
        if members.shape != (n,):
            raise DataError(f"set {name}: a mask over {n} minima must have shape ({n},), got {members.shape}")
        mask = members.copy()
    else:
        members = members.astype(np.int64).ravel()
        if members.size and (members.min() < 0 or members.max() >= n):
            raise DataError(f"set {name}: minimum positions must lie in 0..{n - 1}")
        mask = np.zeros(n, dtype=bool)
        mask[members] = True
    if not mask.any():
        raise DataError(f"set {name} is empty")
    return mask


def _component_of(n: int, min1: np.ndarray, min2: np.ndarray, in_a: np.ndarray, in_b: np.ndarray) -> np.ndarray:
    """Mask of the minima connected to A; refuses when some of A or B lies elsewhere."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(min1.size, dtype=np.int8), (min1, min2)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    labels_ab = np.unique(labels[in_a | in_b])
    if labels_ab.size != 1:
        raise DataError(
            f"sets A and B are not joined by transition states: they lie in {labels_ab.size} separate parts of the network"
        )
    return labels == labels_ab[0]


def _logsumexp(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return -math.inf
    top = float(values.max())
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.exp(values - top).sum()))


_ROW = types.DictType(types.int64, types.float64)


@njit(cache=True)
def _first_passage_times(indptr, indices, branching, waiting, absorbing):
    """Graph transformation of every non-absorbing node (fewest neighbours first), then back
    substitution: (mean first-passage times into the absorbing set, status 0 or 1 = stuck)."""
    n = indptr.size - 1
    rows = List.empty_list(_ROW)
    for x in range(n):
        row = Dict.empty(types.int64, types.float64)
        for k in range(indptr[x], indptr[x + 1]):
            row[indices[k]] = branching[k]
        rows.append(row)
    tau = waiting.copy()
    n_free = 0
    heap = [(np.int64(0), np.int64(0))]
    heap.pop()
    for x in range(n):
        if not absorbing[x]:
            heap.append((np.int64(len(rows[x])), np.int64(x)))
            n_free += 1
    heapq.heapify(heap)
    eliminated = np.zeros(n, dtype=np.bool_)
    order = np.empty(n_free, dtype=np.int64)
    saved_tau = np.empty(n_free)
    saved_escape = np.empty(n_free)
    saved_ptr = np.zeros(n_free + 1, dtype=np.int64)
    saved_node = List.empty_list(types.int64)
    saved_p = List.empty_list(types.float64)
    count = 0
    while len(heap) > 0:
        degree, x = heapq.heappop(heap)
        if eliminated[x] or degree != len(rows[x]):
            continue  # a stale entry: x was eliminated, or its current degree has an entry of its own
        row = rows[x]
        escape = 0.0
        for y, p in row.items():
            if y != x:
                escape += p
                saved_node.append(y)
                saved_p.append(p)
        if not escape > 0.0:
            return np.zeros(n), 1
        order[count] = x
        saved_tau[count] = tau[x]
        saved_escape[count] = escape
        saved_ptr[count + 1] = len(saved_node)
        count += 1
        for b in row.keys():
            if b == x or absorbing[b]:
                continue  # an absorbing node's own way on never matters
            neighbour = rows[b]
            to_x = neighbour.pop(x)
            share = to_x / escape
            tau[b] += share * tau[x]
            for g, p in row.items():
                if g != x:
                    neighbour[g] = neighbour.get(g, 0.0) + share * p
            heapq.heappush(heap, (np.int64(len(neighbour)), b))
        eliminated[x] = True
        rows[x] = Dict.empty(types.int64, types.float64)
    times = np.zeros(n)
    for k in range(count - 1, -1, -1):
        total = saved_tau[k]
        for m in range(saved_ptr[k], saved_ptr[k + 1]):
            total += saved_p[m] * times[saved_node[m]]
        times[order[k]] = total / saved_escape[k]
    return times, 0


__all__ = ["MarkovChain", "TwoStateRates", "log_first_passage_times", "markov_chain", "two_state_rates"]
