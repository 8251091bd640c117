"""Disconnectivity trees: a hand-made KTN with groupings worked out by hand, and random KTNs checked
against scipy's connected components (an independent method)."""

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lfl.analysis.disconnectivity import build_disconnectivity_tree
from lfl.errors import DataError, LflError

# Hand-made KTN. Minima 0..5; minimum 5 has no transition state (disconnected).
#   TS a: 0-4 at 1.2   TS b: 1-2 at 1.8   TS c: 0-1 at 3.0   TS d: 2-3 at 2.2   TS e: 3-3 at 0.1 (self)
ENERGIES = np.array([0.0, 0.45, 0.9, 1.4, 0.2, 0.8])
TS_E = np.array([1.2, 1.8, 3.0, 2.2, 0.1])
TS_1 = np.array([0, 1, 0, 2, 3])
TS_2 = np.array([4, 2, 1, 3, 3])
IDS = np.array([101, 102, 103, 104, 105, 106])

# With delta = 0.5 the top level is the highest TS (3.0): levels 3.0, 2.5, 2.0, 1.5, 1.0, 0.5.
# By hand, the minima at or below each level and the TS at or below it give:
HAND_LEVELS = [3.0, 2.5, 2.0, 1.5, 1.0, 0.5]
HAND_GROUPS = [
    {frozenset({0, 1, 2, 3, 4})},                                           # a, b, c, d
    {frozenset({0, 4}), frozenset({1, 2, 3})},                              # a, b, d
    {frozenset({0, 4}), frozenset({1, 2}), frozenset({3})},                 # a, b
    {frozenset({0, 4}), frozenset({1}), frozenset({2}), frozenset({3})},    # a
    {frozenset({0}), frozenset({4}), frozenset({1}), frozenset({2})},       # none; 3 (1.4) is above
    {frozenset({0}), frozenset({4}), frozenset({1})},                       # 2 (0.9) is above
]
# Group nodes (a group of one ends its branch, so no nodes below it), each with its parent group.
HAND_NODES = {
    (0, frozenset({0, 1, 2, 3, 4})): None,
    (1, frozenset({0, 4})): (0, frozenset({0, 1, 2, 3, 4})),
    (1, frozenset({1, 2, 3})): (0, frozenset({0, 1, 2, 3, 4})),
    (2, frozenset({0, 4})): (1, frozenset({0, 4})),
    (2, frozenset({1, 2})): (1, frozenset({1, 2, 3})),
    (2, frozenset({3})): (1, frozenset({1, 2, 3})),
    (3, frozenset({0, 4})): (2, frozenset({0, 4})),
    (3, frozenset({1})): (2, frozenset({1, 2})),
    (3, frozenset({2})): (2, frozenset({1, 2})),
    (4, frozenset({0})): (3, frozenset({0, 4})),
    (4, frozenset({4})): (3, frozenset({0, 4})),
}
# The node each minimum's leaf hangs from: its group of one.
HAND_LEAF_PARENT = {0: (4, {0}), 4: (4, {4}), 1: (3, {1}), 2: (3, {2}), 3: (2, {3})}


def node_key(tree, index):
    node = tree.nodes[index]
    return (node.level, frozenset(node.members.tolist()))


def hand_tree(**options):
    options.setdefault("delta", 0.5)
    return build_disconnectivity_tree(ENERGIES, TS_E, TS_1, TS_2, minimum_ids=IDS, **options)


def test_levels_and_groups_match_hand_grouping():
    tree = hand_tree()
    np.testing.assert_allclose(tree.level_energies, HAND_LEVELS)
    assert tree.delta == pytest.approx(0.5)
    for level, expected in enumerate(HAND_GROUPS):
        assert set(tree.groups_at_level(level)) == expected, f"level {level}"


def test_nodes_and_parents_match_hand_tree():
    tree = hand_tree()
    groups = [i for i, node in enumerate(tree.nodes) if not node.is_leaf]
    found = {node_key(tree, i): (None if tree.nodes[i].parent is None else node_key(tree, tree.nodes[i].parent))
             for i in groups}
    assert found == HAND_NODES
    for i in groups:
        assert tree.nodes[i].energy == pytest.approx(HAND_LEVELS[tree.nodes[i].level])
        for child in tree.nodes[i].children:
            assert tree.nodes[child].parent == i


def test_every_branch_ends_at_its_minimum():
    tree = hand_tree()
    assert tree.global_minimum == 0
    assert tree.branch_end(0) == ENERGIES[0]
    for m, (level, members) in HAND_LEAF_PARENT.items():
        leaf = tree.nodes[tree.leaf_of[m]]
        assert leaf.is_leaf and leaf.minimum == m
        assert leaf.energy == ENERGIES[m] == tree.branch_end(m)
        assert node_key(tree, leaf.parent) == (level, frozenset(members))
        # the drawn branch of a minimum reaches down exactly to its energy, vertically below its group of one
        own = tree.segments[tree.segment_minimum == m]
        assert own[:, :, 1].min() == pytest.approx(ENERGIES[m])
        drop = tree.segments[tree.segment_node == tree.leaf_of[m]][0]
        assert drop[0, 0] == drop[1, 0]
        assert drop[0, 1] == pytest.approx(HAND_LEVELS[level])


def test_gmin_component_filter_drops_disconnected_minimum():
    tree = hand_tree()
    assert tree.kept.tolist() == [0, 1, 2, 3, 4]
    assert tree.leaf_of[5] == -1
    with pytest.raises(LflError, match="not in the disconnectivity tree"):
        tree.branch_end(5)
    forest = hand_tree(gmin_component_only=False)
    assert forest.kept.tolist() == [0, 1, 2, 3, 4, 5]
    assert len(forest.roots) == 2
    assert frozenset({5}) in set(forest.groups_at_level(0))
    assert forest.branch_end(5) == ENERGIES[5]


def test_self_ts_ignored_and_ts_above_e_max_ignored():
    # TS e joins minimum 3 to itself at 0.1: were it used, 3 would exist below its own energy
    tree = hand_tree()
    assert tree.n_ts_used == 4
    # a TS f joining 4 and 5 at 5.0: without e_max it lifts the top level to 5.0 and brings 5 in
    ts_e, ts_1, ts_2 = np.append(TS_E, 5.0), np.append(TS_1, 4), np.append(TS_2, 5)
    joined = build_disconnectivity_tree(ENERGIES, ts_e, ts_1, ts_2, delta=0.5)
    assert joined.level_energies[0] == 5.0
    assert set(joined.groups_at_level(0)) == {frozenset(range(6))}
    # e_max 2.6 drops f and c (3.0): the component of the global minimum is {0, 4}
    capped = build_disconnectivity_tree(ENERGIES, ts_e, ts_1, ts_2, delta=0.5, e_max=2.6)
    np.testing.assert_allclose(capped.level_energies, [2.6, 2.1, 1.6, 1.1, 0.6, 0.1])
    assert capped.kept.tolist() == [0, 4]
    assert set(capped.groups_at_level(2)) == {frozenset({0, 4})}  # 1.6: a (1.2) joins them
    assert set(capped.groups_at_level(3)) == {frozenset({0}), frozenset({4})}  # 1.1: a is above


def test_saddle_below_its_minimum_joins_at_the_minimum():
    # minimum 1 (1.0) lies above both its saddles (round-off): at level 0.95 it does not exist yet,
    # so it must not bridge minima 0 and 2
    energies = np.array([0.0, 1.0, 0.1])
    tree = build_disconnectivity_tree(energies, np.array([0.9, 0.95]), np.array([0, 1]), np.array([1, 2]),
                                      delta=0.05)
    assert tree.level_energies[1] == pytest.approx(0.95)
    assert set(tree.groups_at_level(0)) == {frozenset({0, 1, 2})}
    assert set(tree.groups_at_level(1)) == {frozenset({0}), frozenset({2})}


def test_lowest_n_filter():
    tree = hand_tree(lowest_n=3)  # minima 0 (0.0), 4 (0.2), 1 (0.45); TS a (0-4, 1.2), c (0-1, 3.0)
    assert tree.kept.tolist() == [0, 1, 4]
    expected = [
        {frozenset({0, 1, 4})},
        {frozenset({0, 4}), frozenset({1})},
        {frozenset({0, 4}), frozenset({1})},
        {frozenset({0, 4}), frozenset({1})},
        {frozenset({0}), frozenset({4}), frozenset({1})},
        {frozenset({0}), frozenset({4}), frozenset({1})},
    ]
    for level, groups in enumerate(expected):
        assert set(tree.groups_at_level(level)) == groups


def test_n_levels_spacing():
    tree = hand_tree(delta=None, n_levels=4)  # from 3.0 down to the global minimum 0.0 in 4 steps
    np.testing.assert_allclose(tree.level_energies, [3.0, 2.25, 1.5, 0.75])
    assert tree.delta == pytest.approx(0.75)


def test_layout_order_and_centred_trunk():
    tree = hand_tree()
    leaves_x = {tree.nodes[tree.leaf_of[m]].minimum: tree.nodes[tree.leaf_of[m]].x for m in range(5)}
    assert sorted(leaves_x.values()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    # the global minimum's ancestors stand straight above it
    node = tree.nodes[tree.leaf_of[0]]
    while node.parent is not None:
        assert tree.nodes[node.parent].x == node.x
        node = tree.nodes[node.parent]
    # without centring, the root's children are ordered by lowest energy (basin of 0 first) ...
    plain = hand_tree(center_gmin=False)
    root = plain.nodes[plain.roots[0]]
    first, second = sorted(root.children, key=lambda c: plain.nodes[c].x)
    assert set(plain.nodes[first].members.tolist()) == {0, 4}
    # ... or by size, largest basin first
    by_size = hand_tree(center_gmin=False, order_by="size")
    root = by_size.nodes[by_size.roots[0]]
    first, second = sorted(root.children, key=lambda c: by_size.nodes[c].x)
    assert set(by_size.nodes[first].members.tolist()) == {1, 2, 3}
    # a group node sits at the mean x of its children when not on the trunk
    for node in plain.nodes:
        if not node.is_leaf:
            assert node.x == pytest.approx(np.mean([plain.nodes[c].x for c in node.children]))


def test_centring_puts_gmin_between_other_branches():
    # a star: the global minimum 0 joined to four others at one barrier each
    energies = np.array([0.0, 0.3, 0.4, 0.5, 0.6])
    tree = build_disconnectivity_tree(energies, np.array([1.0, 1.0, 1.0, 1.0]), np.zeros(4, dtype=int),
                                      np.arange(1, 5), n_levels=2)
    xs = sorted(tree.nodes[tree.leaf_of[m]].x for m in range(5))
    assert tree.nodes[tree.leaf_of[0]].x == xs[2]


def test_minimum_ids_carried():
    tree = hand_tree()
    assert tree.minimum_ids[tree.nodes[tree.leaf_of[3]].minimum] == 104


def test_single_minimum_and_empty():
    single = build_disconnectivity_tree(np.array([0.7]), np.empty(0), np.empty(0, dtype=int), np.empty(0, dtype=int))
    assert single.n_minima == 1 and single.branch_end(0) == 0.7 and single.global_minimum == 0
    empty = build_disconnectivity_tree(np.empty(0), np.empty(0), np.empty(0, dtype=int), np.empty(0, dtype=int))
    assert empty.is_empty and empty.nodes == [] and empty.segments.shape == (0, 2, 2)
    all_above = hand_tree(e_max=-1.0)
    assert all_above.is_empty


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_levels": 5, "delta": 0.1}, LflError, "not both"),
        ({"delta": -1.0}, LflError, "delta"),
        ({"n_levels": 0}, LflError, "n_levels"),
        ({"order_by": "colour"}, LflError, "order_by"),
        ({"lowest_n": 0}, LflError, "lowest_n"),
        ({"delta": 1e-9}, LflError, "levels"),
    ],
)
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        build_disconnectivity_tree(ENERGIES, TS_E, TS_1, TS_2, **kwargs)


def test_bad_arrays():
    with pytest.raises(DataError, match="NaN"):
        build_disconnectivity_tree(np.array([0.0, np.nan]), np.array([1.0]), np.array([0]), np.array([1]))
    with pytest.raises(DataError, match="outside"):
        build_disconnectivity_tree(ENERGIES, TS_E, TS_1, np.array([4, 2, 1, 3, 6]))
    with pytest.raises(DataError, match="shape"):
        build_disconnectivity_tree(ENERGIES, TS_E, TS_1[:3], TS_2)
    with pytest.raises(DataError, match="integer"):
        build_disconnectivity_tree(ENERGIES, TS_E, TS_1.astype(float), TS_2)
    with pytest.raises(DataError, match="outside"):
        build_disconnectivity_tree(np.empty(0), np.array([1.0]), np.array([0]), np.array([0]))


def random_ktn(rng, n_minima, n_ts):
    """Random KTN, possibly disconnected, with self-joins and saddles slightly below a minimum."""
    energies = rng.normal(size=n_minima)
    a = rng.integers(0, n_minima, size=n_ts)
    b = rng.integers(0, n_minima, size=n_ts)
    ts = np.maximum(energies[a], energies[b]) + rng.exponential(0.5, size=n_ts) - 0.05
    return energies, ts, a, b


def scipy_partition(energies, ts, a, b, level):
    """Groups at one level by connected_components, joining at max(E_ts, E_1, E_2) as documented."""
    exists = energies <= level
    use = (np.maximum(ts, np.maximum(energies[a], energies[b])) <= level) & (a != b)
    n = energies.size
    _, labels = connected_components(coo_matrix((np.ones(use.sum()), (a[use], b[use])), shape=(n, n)),
                                     directed=False)
    groups = {}
    for m in np.flatnonzero(exists):
        groups.setdefault(labels[m], set()).add(int(m))
    return {frozenset(g) for g in groups.values()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_ktn_partitions_match_connected_components(seed):
    rng = np.random.default_rng(seed)
    energies, ts, a, b = random_ktn(rng, 150, 160)
    tree = build_disconnectivity_tree(energies, ts, a, b, n_levels=15, gmin_component_only=False)
    for level, e_level in enumerate(tree.level_energies):
        assert set(tree.groups_at_level(level)) == scipy_partition(energies, ts, a, b, e_level)
    # the component filter keeps exactly the component of the global minimum
    top = scipy_partition(energies, ts, a, b, np.inf)
    gmin_group = next(g for g in top if int(np.argmin(energies)) in g)
    only = build_disconnectivity_tree(energies, ts, a, b, n_levels=15)
    assert set(only.kept.tolist()) == gmin_group


@pytest.mark.parametrize("order_by", ["energy", "size"])
def test_random_tree_invariants(order_by):
    rng = np.random.default_rng(7)
    energies, ts, a, b = random_ktn(rng, 300, 900)
    tree = build_disconnectivity_tree(energies, ts, a, b, delta=0.2, order_by=order_by)
    leaves = [node for node in tree.nodes if node.is_leaf]
    assert sorted(node.minimum for node in leaves) == tree.kept.tolist()
    assert sorted(node.x for node in leaves) == list(range(len(leaves)))
    for node in tree.nodes:
        if node.is_leaf:
            assert node.energy == energies[node.minimum] and not node.children
            continue
        # children split their parent's minima exactly, and lie below it
        below = np.sort(np.concatenate([tree.nodes[c].members for c in node.children]))
        np.testing.assert_array_equal(below, node.members)
        assert all(tree.nodes[c].energy <= node.energy for c in node.children)
        assert all(energies[node.members] <= node.energy)
    assert tree.segments.shape[0] == len(tree.nodes) - len(tree.roots)
    assert np.all(tree.segments[:, 0, 1] >= tree.segments[:, 1, 1])
