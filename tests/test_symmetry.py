"""Hidden-node permutations and tanh sign flips: invariance, canonical forms, aligned distances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from lfl.systems import symmetry
from lfl.systems.mlp import MLPSystem
from lfl.systems.network import parse_network_spec

NETWORKS = {
    "single": [2, 6, 4, 30, 1e-3],
    "deep": {"inputs": 2, "hidden": [5, 5], "outputs": 4, "lambda": 1e-4},
    "deeper": {"inputs": 2, "hidden": [4, 4, 4], "outputs": 4, "lambda": 1e-4},
    "masked": {"inputs": 2, "hidden": 10, "outputs": 4, "lambda": 1e-4, "connectivity_k": 1},
    "masked_deep": {"inputs": 3, "hidden": [5, 4], "outputs": 4, "lambda": 1e-3, "connectivity_k": 2},
}


def make_system(name: str, seed: int = 0) -> MLPSystem:
    spec = parse_network_spec(NETWORKS[name])
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(30, spec.inputs))
    return MLPSystem(spec, inputs, rng.integers(0, spec.outputs, 30))


def permute_and_flip(layout, full, layer, perm, signs):
    """Written out independently of lfl.systems.symmetry: move node perm[i] to i, times signs[i]."""
    out = full.copy()
    (w_in, b_in), (w_out, _) = layout.unpack(out)[layer - 1], layout.unpack(out)[layer]
    new_w_in = w_in[perm] * signs[:, None]
    new_b_in = b_in[perm] * signs
    new_w_out = w_out[:, perm] * signs[None, :]
    w_in[...] = new_w_in
    b_in[...] = new_b_in
    w_out[...] = new_w_out
    return out


def random_group_element(system, rng):
    """A random symmetry the mask allows: permutations inside each group, any signs."""
    element = []
    for l, groups in enumerate(system.symmetry_groups, start=1):
        n = system.layout.layer_sizes[l]
        perm = np.arange(n)
        for members in groups:
            perm[members] = rng.permutation(members)
        element.append((perm, rng.choice([-1.0, 1.0], size=n)))
    return element


def random_copy(system, x, rng):
    full = system.full_weights(x)
    for l, (perm, signs) in enumerate(random_group_element(system, rng), start=1):
        full = permute_and_flip(system.layout, full, l, perm, signs)
    return system.from_full_weights(full)  # raises if a frozen weight became nonzero


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_energy_is_unchanged_by_permutations_and_sign_flips(name):
    system = make_system(name)
    rng = np.random.default_rng(1)
    x = system.random_weights(rng, 1.0)
    energy, grad = system.energy_gradient(x)
    for _ in range(5):
        copy = random_copy(system, x, rng)
        assert not np.allclose(copy, x)
        assert system.energy(copy) == pytest.approx(energy, rel=1e-13)
        assert np.linalg.norm(system.energy_gradient(copy)[1]) == pytest.approx(np.linalg.norm(grad), rel=1e-12)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_orbit_member_has_the_same_canonical_form(name):
    system = make_system(name)
    rng = np.random.default_rng(2)
    x = system.random_weights(rng, 1.0)
    canonical = system.canonical(x)
    assert system.energy(canonical) == pytest.approx(system.energy(x), rel=1e-13)
    assert np.array_equal(system.canonical(canonical), canonical)
    for _ in range(8):
        assert np.array_equal(system.canonical(random_copy(system, x, rng)), canonical)
    other = system.random_weights(rng, 1.0)
    assert not np.array_equal(system.canonical(other), canonical)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_distance_to_a_symmetric_copy_is_zero(name):
    system = make_system(name)
    rng = np.random.default_rng(3)
    x = system.random_weights(rng, 1.0)
    for _ in range(5):
        copy = random_copy(system, x, rng)
        assert np.linalg.norm(copy - x) > 0.5
        assert system.distance(x, copy) == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(system.align(x, copy), x, atol=1e-12)
        # invariant: moving either argument inside its orbit changes nothing
        y = system.random_weights(rng, 1.0)
        assert system.distance(copy, y) == pytest.approx(system.distance(x, y), rel=1e-9)


def _all_elements(layout, groups):
    per_layer = []
    for l, layer_groups in enumerate(groups, start=1):
        n = layout.layer_sizes[l]
        options = []
        for perms in itertools.product(*[itertools.permutations(members) for members in layer_groups]):
            perm = np.arange(n)
            for members, chosen in zip(layer_groups, perms):
                perm[members] = chosen
            for signs in itertools.product([-1.0, 1.0], repeat=n):
                options.append((perm.copy(), np.array(signs)))
        per_layer.append(options)
    return itertools.product(*per_layer)


@pytest.mark.parametrize(
    ("spec", "exact"),
    [
        ([2, 4, 3, 10, 1e-3], True),
        ({"inputs": 2, "hidden": 5, "outputs": 4, "lambda": 1e-3, "connectivity_k": 1}, True),
        ({"inputs": 2, "hidden": [2, 3], "outputs": 3, "lambda": 1e-3}, False),
    ],
)
def test_alignment_against_brute_force_over_the_whole_group(spec, exact):
    spec = parse_network_spec(spec)
    rng = np.random.default_rng(4)
    system = MLPSystem(spec, rng.normal(size=(10, spec.inputs)), rng.integers(0, spec.outputs, 10))
    layout, groups = system.layout, system.symmetry_groups
    elements = list(_all_elements(layout, groups))
    assert len(elements) == symmetry.group_order(layout, groups)
    for _ in range(3):
        a = system.full_weights(system.random_weights(rng, 1.0))
        b = system.full_weights(system.random_weights(rng, 1.0))
        best = math.inf
        for element in elements:
            moved = b
            for l, (perm, signs) in enumerate(element, start=1):
                moved = permute_and_flip(layout, moved, l, perm, signs)
            best = min(best, float(np.linalg.norm(a - moved)))
        found = system.distance(system.from_full_weights(a), system.from_full_weights(b))
        assert found >= best - 1e-12  # never below the true minimum: it is a real copy
        if exact:
            assert found == pytest.approx(best, rel=1e-12)
        assert found <= np.linalg.norm(a - b) + 1e-12


def test_mask_restricts_the_permutations():
    system = make_system("masked")
    groups = [sorted(m.tolist()) for m in system.symmetry_groups[0]]
    # [2,10,4] with k = 1: inputs {0-4 | 5-9}, outputs {0,1 | 2,3,4 | 5,6,7 | 8,9}
    assert sorted(groups) == [[0, 1], [2, 3, 4], [5, 6, 7], [8, 9]]
    assert symmetry.group_order(system.layout, system.symmetry_groups) == 2**10 * 2 * 6 * 6 * 2
    x = system.random_weights(np.random.default_rng(5), 1.0)
    canonical_full = system.full_weights(system.canonical(x))
    assert np.all(canonical_full[~system.layout.variable_mask] == 0.0)
    full = make_system("single")
    assert symmetry.group_order(full.layout, full.symmetry_groups) == math.factorial(6) * 2**6


def test_canonical_form_fixes_signs_and_sorts():
    system = make_system("single")
    x = system.random_weights(np.random.default_rng(6), 1.0)
    (w1, b1), _ = system.layout.unpack(system.full_weights(system.canonical(x)))
    received = np.column_stack([b1, w1])
    largest = received[np.arange(received.shape[0]), np.argmax(np.abs(received), axis=1)]
    assert np.all(largest > 0)
    assert np.all(np.diff(b1) >= 0)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_system_random_copy_is_a_uniform_group_element_applied(name):
    """MLPSystem.random_copy (the refinement's random symmetric partners) against this file's own
    construction from the same random stream: the same copy, the same energy, the same orbit."""
    system = make_system(name)
    x = system.random_weights(np.random.default_rng(7), 1.0)
    copy = system.random_copy(x, np.random.default_rng(8))
    np.testing.assert_array_equal(copy, random_copy(system, x, np.random.default_rng(8)))
    assert system.energy(copy) == pytest.approx(system.energy(x), rel=1e-13)
    assert np.array_equal(system.canonical(copy), system.canonical(x)) and not np.allclose(copy, x)
