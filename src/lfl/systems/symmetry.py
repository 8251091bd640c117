"""Weight-space symmetries of tanh MLPs: canonical forms and a symmetry-invariant distance.

The loss is unchanged when the nodes of a hidden layer are permuted (with their incoming weights,
bias and outgoing weights) and when all weights into and out of one hidden node change sign (tanh
is odd). With a connectivity mask only symmetries that map the mask onto itself count: a node may
change sign freely, but two nodes of one layer may swap only when they have the same incoming and
the same outgoing mask pattern (:func:`node_groups`). Permutations that must move several layers
at once to preserve a mask are not used (they do not occur with one hidden layer); the distance is
then an upper bound, never a false zero.

A group element is, per hidden layer, a permutation ``perm`` and signs ``signs``: new node ``i``
is old node ``perm[i]`` multiplied by ``signs[i]``.

Everything here works on *full* weight vectors (:mod:`lfl.systems.network`).

- :func:`canonical_full`: forward through the layers, fix each node's sign so that the entry of
  largest magnitude among (bias, incoming weights) is positive, then sort the nodes of each
  permutable group by (bias, incoming weights) lexicographically. The incoming weights are already
  canonical when a layer is handled, so every member of an orbit gets bitwise the same result
  (ties between identical nodes fall back to their outgoing weights, which are canonical for the
  last hidden layer only).
- :func:`align_full`: the copy of ``x`` closest to ``reference``. Each layer's permutation and
  signs are an assignment problem (scipy's ``linear_sum_assignment`` on the overlaps of incoming
  and outgoing weights, best sign per pair), exact with one hidden layer. Deeper networks work
  between the two canonical forms (so the distance depends on the orbits only) and sweep the
  layers until nothing changes, from two starts, keeping the better: a local optimum of a
  quadratic assignment problem, never below the true distance, zero for copies of one vector.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from lfl.systems.network import ParameterLayout

MAX_SWEEPS = 50


def node_groups(layout: ParameterLayout) -> list[list[np.ndarray]]:
    """Per hidden layer, the groups of node indices that may be permuted among each other."""
    groups = []
    for l in range(1, layout.n_layers):
        incoming = layout.edge_masks[l - 1]  # (n_l, n_{l-1})
        outgoing = layout.edge_masks[l]  # (n_{l+1}, n_l)
        by_pattern: dict[bytes, list[int]] = {}
        for j in range(layout.layer_sizes[l]):
            key = incoming[j].tobytes() + b"|" + outgoing[:, j].tobytes()
            by_pattern.setdefault(key, []).append(j)
        groups.append([np.array(members, dtype=np.int64) for members in by_pattern.values()])
    return groups


def group_order(layout: ParameterLayout, groups: list[list[np.ndarray]]) -> int:
    """Number of symmetric copies of a generic weight vector (prod of |group|! * 2^nodes)."""
    order = 1
    for l, layer_groups in enumerate(groups, start=1):
        order *= 2 ** layout.layer_sizes[l]
        for members in layer_groups:
            order *= math.factorial(len(members))
    return order


def identity_element(layout: ParameterLayout) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.arange(layout.layer_sizes[l]), np.ones(layout.layer_sizes[l])) for l in range(1, layout.n_layers)
    ]


def apply_layer(layout: ParameterLayout, full: np.ndarray, layer: int, perm: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Permute and flip the nodes of hidden layer ``layer`` (1-based) of a full vector (a new copy)."""
    out = np.array(full, dtype=np.float64)
    layers = layout.unpack(out)
    weights_in, bias = layers[layer - 1]
    weights_out, _ = layers[layer]
    weights_in[...] = weights_in[perm] * signs[:, None]
    bias[...] = bias[perm] * signs
    weights_out[...] = weights_out[:, perm] * signs[None, :]
    return out


def apply_element(layout: ParameterLayout, full: np.ndarray, element: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    out = np.array(full, dtype=np.float64)
    for layer, (perm, signs) in enumerate(element, start=1):
        out = apply_layer(layout, out, layer, perm, signs)
    return out


def random_element(layout: ParameterLayout, groups: list[list[np.ndarray]], rng: np.random.Generator):
    """A group element drawn uniformly: a random permutation within each permutable group and a
    random sign for every hidden node (the copies of a path end point the reference tools meet)."""
    element = []
    for l, layer_groups in enumerate(groups, start=1):
        n = layout.layer_sizes[l]
        perm = np.arange(n)
        for members in layer_groups:
            perm[members] = members[rng.permutation(members.size)]
        element.append((perm, rng.choice(np.array([-1.0, 1.0]), size=n)))
    return element


def inverse_element(element: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """y_i = s_i x_perm[i]  =>  x_k = s_q[k] y_q[k] with q = perm^-1."""
    inverse = []
    for perm, signs in element:
        q = np.argsort(perm)
        inverse.append((q, signs[q]))
    return inverse


def _node_signature(weights_in: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Rows (bias_j, W_in[j, :]): what a node receives, canonical once earlier layers are."""
    return np.column_stack([bias, weights_in])


def canonical_element(layout: ParameterLayout, groups: list[list[np.ndarray]], full: np.ndarray):
    """(canonical full vector, the group element that maps ``full`` onto it)."""
    current = np.array(full, dtype=np.float64)
    element = []
    for layer in range(1, layout.n_layers):
        layers = layout.unpack(current)
        weights_in, bias = layers[layer - 1]
        weights_out, _ = layers[layer]
        signature = _node_signature(weights_in, bias)
        n_nodes = signature.shape[0]
        signs = np.ones(n_nodes)
        for j in range(n_nodes):
            row = signature[j]
            if not np.any(row):  # a node that receives nothing: decide by what it sends
                row = weights_out[:, j]
            if np.any(row):
                signs[j] = 1.0 if row[int(np.argmax(np.abs(row)))] > 0 else -1.0
        current = apply_layer(layout, current, layer, np.arange(n_nodes), signs)
        layers = layout.unpack(current)
        weights_in, bias = layers[layer - 1]
        weights_out, _ = layers[layer]
        keys = np.column_stack([_node_signature(weights_in, bias), weights_out.T])
        perm = np.arange(n_nodes)
        for members in groups[layer - 1]:
            # np.lexsort sorts by its last key first: feed the columns in reverse
            order = np.lexsort(keys[members].T[::-1])
            perm[members] = members[order]
        current = apply_layer(layout, current, layer, perm, np.ones(n_nodes))
        element.append((perm, signs[perm]))
    return current, element


def canonical_full(layout: ParameterLayout, groups: list[list[np.ndarray]], full: np.ndarray) -> np.ndarray:
    return canonical_element(layout, groups, full)[0]


def _best_layer_assignment(layout, groups, layer, reference, current, use_outgoing=True):
    """Permutation and signs of ``layer`` that bring ``current`` closest to ``reference`` with all
    other layers fixed (exact: the distance separates over the nodes of the layer). Without
    ``use_outgoing`` only what the nodes receive is compared (a start for deep networks)."""
    ref_layers = layout.unpack(reference)
    cur_layers = layout.unpack(current)
    ref_in = _node_signature(ref_layers[layer - 1][0], ref_layers[layer - 1][1])
    cur_in = _node_signature(cur_layers[layer - 1][0], cur_layers[layer - 1][1])
    ref_out = ref_layers[layer][0]
    cur_out = cur_layers[layer][0]
    overlap = ref_in @ cur_in.T  # (reference node, current node)
    if use_outgoing:
        overlap = overlap + ref_out.T @ cur_out
    n_nodes = overlap.shape[0]
    perm = np.arange(n_nodes)
    signs = np.ones(n_nodes)
    for members in groups[layer - 1]:
        block = overlap[np.ix_(members, members)]
        rows, cols = linear_sum_assignment(-np.abs(block))
        perm[members[rows]] = members[cols]
        signs[members[rows]] = np.where(block[rows, cols] < 0.0, -1.0, 1.0)
    return perm, signs


def _descend(layout, groups, reference, start):
    current = np.array(start, dtype=np.float64)
    for _ in range(MAX_SWEEPS):
        changed = False
        for layer in range(1, layout.n_layers):
            perm, signs = _best_layer_assignment(layout, groups, layer, reference, current)
            if np.any(perm != np.arange(perm.size)) or np.any(signs < 0):
                candidate = apply_layer(layout, current, layer, perm, signs)
                if np.linalg.norm(reference - candidate) < np.linalg.norm(reference - current):
                    current = candidate
                    changed = True
        if not changed:
            break
    return current


def _forward_matching(layout, groups, reference, start):
    """Match layer after layer on what the nodes receive (earlier layers already matched)."""
    current = np.array(start, dtype=np.float64)
    for layer in range(1, layout.n_layers):
        perm, signs = _best_layer_assignment(layout, groups, layer, reference, current, use_outgoing=False)
        current = apply_layer(layout, current, layer, perm, signs)
    return current


def align_full(layout: ParameterLayout, groups: list[list[np.ndarray]], reference: np.ndarray, full: np.ndarray) -> np.ndarray:
    """The member of ``full``'s orbit closest to ``reference`` (both full vectors).

    One hidden layer: one assignment problem, exact. Deeper: both vectors are first mapped to their
    canonical forms, so the answer depends only on the two orbits (the distance is invariant
    exactly), then layer sweeps from two starts (as canonical, and matched layer by layer on
    incoming weights); the better result is mapped back into the reference's frame.
    """
    reference = np.asarray(reference, dtype=np.float64)
    full = np.asarray(full, dtype=np.float64)
    if layout.n_layers < 2:
        return full.copy()
    if layout.n_layers == 2:
        return _descend(layout, groups, reference, full)
    reference_canonical, reference_element = canonical_element(layout, groups, reference)
    full_canonical, _ = canonical_element(layout, groups, full)
    best = None
    best_distance = math.inf
    for start in (full_canonical, _forward_matching(layout, groups, reference_canonical, full_canonical)):
        candidate = _descend(layout, groups, reference_canonical, start)
        distance = float(np.linalg.norm(reference_canonical - candidate))
        if distance < best_distance:
            best, best_distance = candidate, distance
    return apply_element(layout, best, inverse_element(reference_element))


def distance_full(layout: ParameterLayout, groups: list[list[np.ndarray]], a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a) - align_full(layout, groups, a, b)))


class NetworkDistance:
    """The symmetry-invariant distance between two *variable* weight vectors of a network of this
    layout: align b to a, then the Euclidean norm of the difference. It needs the network's shape
    only, not its data: the identity of minima in a ``reduced`` landscape (``MLPSystem.distance``,
    and the store's deduplication when it is given no system, e.g. a PATHSAMPLE import)."""

    def __init__(self, layout: ParameterLayout) -> None:
        self.layout = layout
        self.groups = node_groups(layout)

    def align(self, reference: np.ndarray, x: np.ndarray) -> np.ndarray:
        aligned = align_full(self.layout, self.groups, self.layout.to_full(reference), self.layout.to_full(x))
        return self.layout.to_variable(aligned)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        a = np.asarray(a, dtype=np.float64)
        return float(np.linalg.norm(a - self.align(a, b)))
