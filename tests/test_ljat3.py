"""LJAT3: the potential against an independent numpy version, its minima, classes, and the data pools."""

from __future__ import annotations

import itertools
import logging

import numba
import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from lfl.config import LJAT3_BOX_LENGTHS
from lfl.data.ljat3 import LJAT3Settings, generate_pool, minimise_batch
from lfl.errors import DataError
from lfl.numerics import lbfgs_core as core
from lfl.numerics.lbfgs import minimize_lbfgs
from lfl.systems.ljat3 import LJAT3System, ljat3_classify

Z = 2.0
TRIANGLE_ENERGY = -2.18510  # SCIENCE.md / the issue, to 5 decimals
TRIANGLE_SIDE = 1.169
LINEAR_ENERGY = -2.21910


def energy_numpy(x: np.ndarray, z: float = Z) -> float:
    """Independent re-implementation: pair sums and the angles from bond vectors, not the squared-distance form."""
    p = np.asarray(x, dtype=float).reshape(3, 3)
    energy = 0.0
    for i, j in ((0, 1), (0, 2), (1, 2)):
        r = np.linalg.norm(p[i] - p[j])
        energy += 4.0 * (r**-12 - r**-6)
    cosines = []
    for k in range(3):
        u, v = (p[m] - p[k] for m in range(3) if m != k)
        cosines.append(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
    r12, r13, r23 = (np.linalg.norm(p[i] - p[j]) for i, j in ((0, 1), (0, 2), (1, 2)))
    return energy + z * (1.0 + 3.0 * np.prod(cosines)) / (r12 * r13 * r23) ** 3


def triangle(side: float = TRIANGLE_SIDE) -> np.ndarray:
    return np.array([0.0, 0.0, 0.0, side, 0.0, 0.0, side / 2, side * np.sqrt(3) / 2, 0.0])


def linear(middle: int, bond: float = 1.109) -> np.ndarray:
    """A straight chain along x with atom ``middle`` (1, 2 or 3) at the centre."""
    ends = [atom for atom in (1, 2, 3) if atom != middle]
    p = np.zeros((3, 3))
    p[ends[0] - 1, 0] = -bond
    p[ends[1] - 1, 0] = bond
    return p.ravel()


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def moved(x: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Rotated, translated and jiggled copy of a 9-vector."""
    p = x.reshape(3, 3) @ random_rotation(rng).T + rng.normal(size=3)
    return (p + rng.normal(scale=noise, size=(3, 3))).ravel()


# --- the potential ---------------------------------------------------------------------------------


def test_energy_matches_the_independent_numpy_version():
    rng = np.random.default_rng(11)
    system = LJAT3System(z=Z)
    for _ in range(50):
        x = rng.uniform(0.0, 2.5, 9)
        assert system.energy(x) == pytest.approx(energy_numpy(x), rel=1e-12, abs=1e-12)
    for z in (0.0, 0.5, 7.0):
        x = rng.uniform(0.0, 2.5, 9)
        assert LJAT3System(z=z).energy(x) == pytest.approx(energy_numpy(x, z), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_gradient_matches_central_differences(seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2.0, 9)
    while min(np.linalg.norm(x[i : i + 3] - x[j : j + 3]) for i, j in ((0, 3), (0, 6), (3, 6))) < 0.8:
        x = rng.uniform(0.0, 2.0, 9)  # keep r^-12 moderate so differences resolve it
    system = LJAT3System(z=Z)
    energy, gradient = system.energy_gradient(x)
    step = 1e-6
    numeric = np.array([(energy_numpy(x + step * e) - energy_numpy(x - step * e)) / (2 * step) for e in np.eye(9)])
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(numeric).max()))
    assert energy == pytest.approx(energy_numpy(x), rel=1e-12)


def test_gradient_is_translation_and_rotation_free():
    x = np.random.default_rng(2).uniform(0.0, 2.0, 9)
    _, gradient = LJAT3System().energy_gradient(x)
    np.testing.assert_allclose(gradient.reshape(3, 3).sum(axis=0), 0.0, atol=1e-10)
    torque = sum(np.cross(x.reshape(3, 3)[k], gradient.reshape(3, 3)[k]) for k in range(3))
    np.testing.assert_allclose(torque, 0.0, atol=1e-9)


# --- the four minima -------------------------------------------------------------------------------


def test_minima_found_by_scipy_on_the_numpy_energy():
    """Independent of lfl: 1-d scans of the symmetric shapes, then full 9-d minimisation by scipy."""
    scan = {"method": "bounded", "options": {"xatol": 1e-10}}
    tri = minimize_scalar(lambda s: energy_numpy(triangle(s)), bounds=(1.0, 1.4), **scan)
    assert tri.fun == pytest.approx(TRIANGLE_ENERGY, abs=1e-5)
    assert tri.x == pytest.approx(TRIANGLE_SIDE, abs=1e-3)
    lin = minimize_scalar(lambda b: energy_numpy(linear(2, b)), bounds=(0.9, 1.4), **scan)
    assert lin.fun == pytest.approx(LINEAR_ENERGY, abs=1e-5)
    rng = np.random.default_rng(4)
    for start, expected in ((triangle(), TRIANGLE_ENERGY), (linear(2), LINEAR_ENERGY)):
        found = minimize(energy_numpy, moved(start, rng, 0.02), method="BFGS", options={"gtol": 1e-8})
        assert found.fun == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("middle", [0, 1, 2, 3])
def test_lbfgs_finds_each_minimum_and_agrees_with_the_independent_energy(middle):
    rng = np.random.default_rng(middle)
    start = triangle() if middle == 0 else linear(middle)
    system = LJAT3System()
    result = minimize_lbfgs(system, moved(start, rng, 0.03), rms_gradient=1e-10)
    assert result.success
    expected = TRIANGLE_ENERGY if middle == 0 else LINEAR_ENERGY
    assert result.energy == pytest.approx(expected, abs=1e-5)
    assert energy_numpy(result.x) == pytest.approx(result.energy, abs=1e-12)
    assert system.classify(result.x) == middle


def test_starts_near_each_minimum_get_the_class_of_the_middle_atom_under_every_permutation():
    rng = np.random.default_rng(9)
    starts, expected = [], []
    for order in itertools.permutations(range(3)):
        # atom order[k] takes the place of atom k; the middle atom of the chain is atom 2 before relabelling
        for shape, middle in ((triangle(), None), (linear(2), 2)):
            p = shape.reshape(3, 3)[list(order)]
            starts.append(moved(p.ravel(), rng, 0.05))
            expected.append(0 if middle is None else order.index(middle - 1) + 1)
    settings = core.lbfgs_settings(0.4, 0.1, 1e-10, 1e-10, 10000)
    finals, energies, codes, _ = minimise_batch(np.array(starts), Z, 4, settings)
    assert np.all(codes == core.CONVERGED)
    assert [int(ljat3_classify(x)) for x in finals] == expected


def test_classification_of_shapes_that_are_no_minimum():
    assert ljat3_classify(triangle()) == 0
    for middle in (1, 2, 3):
        assert ljat3_classify(linear(middle)) == middle
    right_angle = np.array([0, 0, 0, 1.1, 0, 0, 0, 1.1, 0.0])
    assert ljat3_classify(right_angle) == -1
    uneven_chain = np.array([-1.0, 0, 0, 0, 0, 0, 1.5, 0, 0.0])
    assert ljat3_classify(uneven_chain) == -1
    bent_chain = np.array([-1.1, 0, 0, 0, 0, 0, 1.1 * np.cos(0.2), 1.1 * np.sin(0.2), 0.0])
    assert ljat3_classify(bent_chain) == -1
    overlapping = np.zeros(9)
    assert ljat3_classify(overlapping) == -1


# --- data pools ------------------------------------------------------------------------------------


def test_pool_layout_and_metadata():
    pool = generate_pool(box_length=LJAT3_BOX_LENGTHS["D1"], n_samples=301, seed=3, name="D1")
    meta = pool.metadata
    n = pool.labels.size
    assert n == 301 - meta["n_unconverged"] - meta["n_unclassified"]
    assert meta["kind"] == "ljat3" and meta["name"] == "D1" and meta["n_classes"] == 4 and meta["n_inputs"] == 2
    assert meta["box_length"] == LJAT3_BOX_LENGTHS["D1"] and meta["z"] == 2.0 and meta["seed"] == 3
    assert meta["minimiser"]["memory"] == 4 and meta["minimiser"]["rms_gradient"] == 1e-10
    assert sum(meta["class_fractions"]) == pytest.approx(1.0)
    np.testing.assert_allclose(meta["class_fractions"], np.bincount(pool.labels, minlength=4) / n)
    np.testing.assert_array_equal(pool.train_index, np.arange(n // 2))
    np.testing.assert_array_equal(pool.test_index, np.arange(n // 2, n))
    coords = pool.extras["initial_coords"]
    assert coords.shape == (n, 9) and coords.min() >= 0 and coords.max() <= LJAT3_BOX_LENGTHS["D1"]
    np.testing.assert_allclose(pool.inputs[:, 0], np.linalg.norm(coords[:, 0:3] - coords[:, 3:6], axis=1))
    np.testing.assert_allclose(pool.inputs[:, 1], np.linalg.norm(coords[:, 0:3] - coords[:, 6:9], axis=1))
    # every label is the class of the minimum the Python driver reaches from the same start (fresh state;
    # the batch reuses its state arrays within a chunk of starts)
    system = LJAT3System()
    for k in list(range(0, n, 37)) + [n - 1]:
        result = minimize_lbfgs(system, coords[k], rms_gradient=1e-10)
        assert system.classify(result.x) == pool.labels[k]
        assert result.energy == pool.extras["final_energy"][k]  # same core, same kernel: bit for bit
        expected = TRIANGLE_ENERGY if pool.labels[k] == 0 else LINEAR_ENERGY
        assert result.energy == pytest.approx(expected, abs=1e-5)


def test_same_seed_same_pool_other_seed_other_pool():
    a = generate_pool(box_length=1.385, n_samples=200, seed=5)
    b = generate_pool(box_length=1.385, n_samples=200, seed=5)
    c = generate_pool(box_length=1.385, n_samples=200, seed=6)
    assert a.content_hash() == b.content_hash()
    np.testing.assert_array_equal(a.extras["final_energy"], b.extras["final_energy"])
    assert a.content_hash() != c.content_hash()


def test_pool_does_not_depend_on_the_thread_count():
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = generate_pool(box_length=LJAT3_BOX_LENGTHS["D3"], n_samples=500, seed=8)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = generate_pool(box_length=LJAT3_BOX_LENGTHS["D3"], n_samples=500, seed=8)
    finally:
        numba.set_num_threads(before)
    assert one.content_hash() == two.content_hash()
    np.testing.assert_array_equal(one.extras["final_energy"], two.extras["final_energy"])


def test_unconverged_starts_are_counted_logged_and_left_out(caplog):
    settings = LJAT3Settings(max_iterations=35)
    with caplog.at_level(logging.WARNING, logger="lfl.data.ljat3"):
        pool = generate_pool(box_length=LJAT3_BOX_LENGTHS["D1"], n_samples=200, seed=2, settings=settings)
    n_unconverged = pool.metadata["n_unconverged"]
    assert 0 < n_unconverged < 200
    assert pool.labels.size == 200 - n_unconverged - pool.metadata["n_unclassified"]
    assert any("did not converge" in record.message for record in caplog.records)
    assert pool.metadata["minimiser"]["max_iterations"] == 35


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"box_length": 0.0}, "box_length"),
        ({"box_length": -1.0}, "box_length"),
        ({"box_length": float("nan")}, "box_length"),
        ({"n_samples": 1}, "n_samples"),
        ({"n_samples": 10.5}, "n_samples"),
        ({"seed": -1}, "seed"),
        ({"z": float("inf")}, "z"),
        ({"settings": LJAT3Settings(memory=0)}, "memory"),
        ({"settings": LJAT3Settings(max_step=0.0)}, "max_step"),
        ({"settings": LJAT3Settings(rms_gradient=-1.0)}, "rms_gradient"),
        ({"settings": LJAT3Settings(max_iterations=-3)}, "max_iterations"),
    ],
)
def test_bad_arguments_raise_one_line_data_errors(kwargs, word):
    arguments = {"box_length": 2.0, "n_samples": 10, "seed": 0, **kwargs}
    with pytest.raises(DataError) as info:
        generate_pool(**arguments)
    assert word in str(info.value) and "\n" not in str(info.value)


def test_system_rejects_coordinates_of_the_wrong_size():
    from lfl.errors import LflError

    with pytest.raises(LflError, match="9"):
        LJAT3System().energy_gradient(np.zeros(6))
