"""Dedup rules without a database: tolerance edges, symmetry copies, within-batch repeats, order."""

import itertools

import numpy as np
import pytest

from lfl.identity.dedup import energy_windows, match_batch

TOL = 2.0**-20  # exactly representable, so the edge cases below are exact in floating point


def block_canonical(x: np.ndarray, block: int = 4) -> np.ndarray:
    """Canonical form under block permutations and block sign flips (a test 'network' symmetry)."""
    blocks = np.asarray(x, dtype=float).reshape(-1, block).copy()
    blocks *= np.where(blocks[:, :1] < 0, -1.0, 1.0)
    return blocks[np.lexsort(blocks.T[::-1])].ravel()


def block_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(block_canonical(a) - block_canonical(b)))


def symmetric_copy(x: np.ndarray, rng: np.random.Generator, block: int = 4) -> np.ndarray:
    blocks = x.reshape(-1, block)[rng.permutation(x.size // block)]
    signs = rng.choice([-1.0, 1.0], size=(blocks.shape[0], 1))
    return (blocks * signs).ravel()


def test_energy_tolerance_is_inclusive_at_its_edge():
    stored = np.array([0.5])
    batch = np.array([0.5 + TOL, 0.5 - TOL, 0.5 + TOL + 2.0**-40, 0.5 - TOL - 2.0**-40])
    match = match_batch(batch, None, stored, None, energy_tol=TOL, distance_tol=0.0)
    # the first two sit exactly on the edge (same minimum); the others are one step beyond
    assert match.stored.tolist()[:2] == [0, 0]
    assert match.stored[2] == -1 and match.stored[3] == -1


def test_distance_tolerance_is_inclusive_at_its_edge():
    x0 = np.full(6, 0.25)
    on_edge = x0.copy()
    on_edge[0] += 2.0**-10  # distance exactly 2**-10
    beyond = on_edge.copy()
    beyond[0] += 2.0**-30
    batch = np.stack([on_edge, beyond])
    match = match_batch(
        np.array([1.0, 1.0]), batch, np.array([1.0]), x0[None, :], energy_tol=TOL, distance_tol=2.0**-10
    )
    assert match.stored[0] == 0
    # beyond is not the stored point, but it is within 2**-30 of on_edge: a repeat of no new row,
    # since on_edge itself matched the stored point; so it is new
    assert match.stored[1] == -1 and match.is_new[1]


def test_symmetry_copies_merge_only_with_the_invariant_distance():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    copies = np.stack([x] + [symmetric_copy(x, rng) for _ in range(7)])
    energies = np.full(8, 0.75)
    reduced = match_batch(energies, copies, np.empty(0), np.empty((0, 12)), energy_tol=TOL, distance_tol=1e-9, distance=block_distance)
    raw = match_batch(energies, copies, np.empty(0), np.empty((0, 12)), energy_tol=TOL, distance_tol=1e-9)
    by_energy = match_batch(energies, None, np.empty(0), None, energy_tol=TOL, distance_tol=1e-9)
    distinct_raw = len({tuple(np.round(c, 12)) for c in copies})
    assert reduced.is_new.sum() == 1
    assert raw.is_new.sum() == distinct_raw
    assert by_energy.is_new.sum() == 1


def test_distinct_minima_of_equal_energy_stay_apart_unless_identity_is_energy_alone():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 12))
    coords = np.stack([a, b])
    energies = np.array([0.3, 0.3 + TOL / 2])
    geometric = match_batch(energies, coords, np.empty(0), np.empty((0, 12)), energy_tol=TOL, distance_tol=1e-6, distance=block_distance)
    assert geometric.is_new.tolist() == [True, True]
    by_energy = match_batch(energies, None, np.empty(0), None, energy_tol=TOL, distance_tol=1e-6)
    assert by_energy.is_new.tolist() == [True, False] and by_energy.batch_rep[1] == 0


def test_within_batch_repeats_point_to_their_representative_whatever_the_row_order():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(5, 8))
    base_e = np.array([0.1, 0.2, 0.2 + TOL / 4, 0.4, 0.5])  # rows 1 and 2: near-equal energy, distinct
    rows = np.array([0, 1, 2, 3, 4, 1, 3, 3, 0, 2])
    coords = base[rows] + rng.normal(scale=1e-9, size=(rows.size, 8))
    energies = base_e[rows]
    for perm in [np.arange(rows.size), rng.permutation(rows.size), rng.permutation(rows.size)]:
        match = match_batch(energies[perm], coords[perm], np.empty(0), np.empty((0, 8)), energy_tol=TOL, distance_tol=1e-6)
        assert match.is_new.sum() == 5
        rep = np.where(match.batch_rep >= 0, match.batch_rep, np.arange(rows.size))
        # every row's representative is a copy of the same base minimum
        assert np.array_equal(rows[perm][rep], rows[perm])


def test_stored_match_prefers_the_nearest_candidate():
    stored_x = np.array([[0.0, 0.0], [0.0, 0.5e-3], [0.0, 0.9e-3]])
    match = match_batch(
        np.array([1.0]), np.array([[0.0, 0.8e-3]]), np.array([1.0, 1.0, 1.0]), stored_x, energy_tol=TOL, distance_tol=1e-3
    )
    assert match.stored[0] == 2


def test_energy_windows_cover_every_tolerance_interval_and_are_disjoint():
    rng = np.random.default_rng(6)
    energies = np.concatenate([rng.uniform(0, 1, 300), 0.5 + rng.uniform(0, 5 * TOL, 50)])
    lo, hi = energy_windows(energies, TOL)
    assert np.all(lo[1:] > hi[:-1])
    for e in energies:
        k = np.searchsorted(lo, e, side="right") - 1
        assert lo[k] <= e - TOL and e + TOL <= hi[k]


@pytest.mark.parametrize("seed", [0, 1])
def test_match_agrees_with_a_brute_force_reference(seed):
    """Random stored points and batch rows against an O(m*k) loop implementing the same rule."""
    rng = np.random.default_rng(seed)
    stored_e = rng.choice(np.arange(20) * 4 * TOL, size=15)
    stored_x = rng.integers(0, 3, size=(15, 2)).astype(float)
    batch_e = rng.choice(np.arange(40) * 2 * TOL, size=30)
    batch_x = rng.integers(0, 3, size=(30, 2)).astype(float)
    match = match_batch(batch_e, batch_x, stored_e, stored_x, energy_tol=TOL, distance_tol=0.5)

    order = np.argsort(batch_e, kind="stable")
    new_rows: list[int] = []
    for i in order:
        hits = [
            (np.linalg.norm(stored_x[j] - batch_x[i]), abs(stored_e[j] - batch_e[i]), j)
            for j in range(15)
            if abs(stored_e[j] - batch_e[i]) <= TOL and np.linalg.norm(stored_x[j] - batch_x[i]) <= 0.5
        ]
        if hits:
            assert match.stored[i] == min(hits)[2]
            continue
        assert match.stored[i] == -1
        reps = [r for r in new_rows if abs(batch_e[r] - batch_e[i]) <= TOL and np.linalg.norm(batch_x[r] - batch_x[i]) <= 0.5]
        if reps:
            assert match.batch_rep[i] in reps
        else:
            assert match.batch_rep[i] == i
            new_rows.append(i)


def test_block_distance_is_invariant_under_the_test_symmetry():
    rng = np.random.default_rng(7)
    x = rng.normal(size=12)
    for _ in range(5):
        assert block_distance(x, symmetric_copy(x, rng)) == pytest.approx(0.0, abs=1e-12)
    perms = list(itertools.permutations(range(3)))
    assert len({tuple(np.round(x.reshape(3, 4)[list(p)].ravel(), 12)) for p in perms}) == 6
