"""Reduced connectivity masks from the unit-line rule (SCIENCE.md §4)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from lfl.errors import ConfigError
from lfl.systems.connectivity import edge_masks, nearest_nodes, unit_line_positions


def test_positions_on_the_unit_line():
    assert unit_line_positions(1) == [Fraction(1, 2)]
    assert unit_line_positions(3) == [0, Fraction(1, 2), 1]
    assert unit_line_positions(10)[9] == 1


def test_ties_go_to_the_lower_index():
    # hidden node 2 of 5 sits at 1/2, exactly between outputs 1 (1/3) and 2 (2/3) of 4
    keep = nearest_nodes(5, 4, 1)
    assert keep[2].tolist() == [False, True, False, False]
    # a lone node (1/2) is equally far from both inputs 0 and 1
    assert nearest_nodes(1, 2, 1)[0].tolist() == [True, False]


def test_hand_derived_mask_of_2_10_4_with_k1():
    w1, w2 = edge_masks((2, 10, 4), 1)
    # hidden j at j/9: inputs at 0 and 1 -> nodes 0..4 take input 0, nodes 5..9 input 1
    assert np.array_equal(np.argmax(w1, axis=1), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    # outputs at 0, 1/3, 2/3, 1: nearest of j/9
    assert np.array_equal(np.argmax(w2, axis=0), [0, 0, 1, 1, 1, 2, 2, 2, 3, 3])
    assert w1.sum() == 10 and w2.sum() == 10


@pytest.mark.parametrize(("k", "frozen"), [(1, 40), (2, 20), (3, 10), (4, 0), (7, 0)])
def test_frozen_counts_of_2_10_4(k, frozen):
    masks = edge_masks((2, 10, 4), k)
    assert sum(int((~m).sum()) for m in masks) == frozen


def _nearest_by_floats(n_from, n_to, k):
    """Independent check, valid for sizes without a tie at the k-th place (floats cannot see ties)."""
    src = np.array([0.5]) if n_from == 1 else np.linspace(0.0, 1.0, n_from)
    dst = np.array([0.5]) if n_to == 1 else np.linspace(0.0, 1.0, n_to)
    keep = np.zeros((n_from, n_to), dtype=bool)
    for a in range(n_from):
        keep[a, np.argsort(np.abs(src[a] - dst), kind="stable")[:k]] = True
    return keep


@pytest.mark.parametrize(("n_from", "n_to", "k"), [(10, 4, 2), (7, 3, 1), (4, 9, 3), (5, 6, 2), (3, 8, 2)])
def test_nearest_matches_a_float_implementation_without_ties(n_from, n_to, k):
    assert np.array_equal(nearest_nodes(n_from, n_to, k), _nearest_by_floats(n_from, n_to, k))


def test_deep_masks_keep_at_most_k_edges_per_hidden_node_and_every_bias():
    sizes = (2, 5, 6, 4)
    k = 2
    masks = edge_masks(sizes, k)
    # every hidden node: at most k edges below and above
    for l in (1, 2):
        assert masks[l - 1].sum(axis=1).max() <= k
        assert masks[l].sum(axis=0).max() <= k
    # an edge between two hidden layers survives only when both ends keep it
    both = nearest_nodes(6, 5, k) & nearest_nodes(5, 6, k).T
    assert np.array_equal(masks[1], both)
    # edges to inputs and outputs are decided by the hidden end alone
    assert np.array_equal(masks[0], nearest_nodes(5, 2, k))
    assert np.array_equal(masks[2], nearest_nodes(6, 4, k).T)


def test_fully_connected_without_k_and_bad_k():
    assert all(m.all() for m in edge_masks((3, 4, 4, 2), None))
    with pytest.raises(ConfigError, match="at least 1"):
        edge_masks((2, 10, 4), 0)
