"""Reduced connectivity (SCIENCE.md §4): which edge weights of a layered network are kept.

The nodes of every layer sit on the unit line at ``0, 1/(N-1), ..., 1`` (a one-node layer at 0.5).
Every *hidden* node keeps only its ``k`` nearest nodes in the layer below and its ``k`` nearest nodes
in the layer above (all of them when that layer has fewer than ``k`` nodes); ties go to the lower
index. Input and output nodes impose no rule of their own, so with one hidden layer every edge is
decided by exactly one hidden node.

Between two hidden layers an edge has two hidden ends, and each end "keeps only" its ``k`` nearest:
the edge survives only when *both* ends keep it (intersection). This keeps the promise that no
hidden node has more than ``k`` edges on either side; a hidden node may then end up with fewer than
``k`` edges towards another hidden layer of a different size.

Distances are compared exactly (rational arithmetic), so ties are real ties and not round-off.
Biases are never frozen; they are not edges.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from lfl.errors import ConfigError


def unit_line_positions(n_nodes: int) -> list[Fraction]:
    """Exact positions of ``n_nodes`` nodes on the unit line (a lone node at 1/2)."""
    if n_nodes < 1:
        raise ConfigError(f"a layer needs at least one node, got {n_nodes}")
    if n_nodes == 1:
        return [Fraction(1, 2)]
    return [Fraction(i, n_nodes - 1) for i in range(n_nodes)]


def nearest_nodes(n_from: int, n_to: int, k: int) -> np.ndarray:
    """Boolean (n_from, n_to): entry (a, b) is True when b is among the k nearest of node a.

    Nearness is ``|x_a - x_b|`` on the unit line; ties go to the lower index of ``b``.
    """
    if k < 1:
        raise ConfigError(f"connectivity k must be at least 1, got {k}")
    source = unit_line_positions(n_from)
    target = unit_line_positions(n_to)
    keep = np.zeros((n_from, n_to), dtype=bool)
    for a, x_a in enumerate(source):
        order = sorted(range(n_to), key=lambda b: (abs(x_a - target[b]), b))
        keep[a, order[: min(k, n_to)]] = True
    return keep


def edge_masks(layer_sizes: tuple[int, ...], k: int | None) -> list[np.ndarray]:
    """One boolean mask per weight matrix, shaped (nodes of layer l, nodes of layer l-1).

    ``layer_sizes`` is (inputs, hidden..., outputs). ``k=None`` means fully connected.
    """
    sizes = tuple(int(n) for n in layer_sizes)
    masks = [np.ones((sizes[l], sizes[l - 1]), dtype=bool) for l in range(1, len(sizes))]
    if k is None:
        return masks
    last = len(sizes) - 1
    for l in range(1, len(sizes)):
        if l < last:  # the upper end (layer l) is hidden: it keeps its k nearest below
            masks[l - 1] &= nearest_nodes(sizes[l], sizes[l - 1], k)
        if l - 1 >= 1:  # the lower end (layer l-1) is hidden: it keeps its k nearest above
            masks[l - 1] &= nearest_nodes(sizes[l - 1], sizes[l], k).T
    return masks
