"""DNEB: the model surfaces' derivatives, tangents, band forces (against a per-image re-derivation), runs."""

import numpy as np
import pytest

from lfl.errors import LflError
from lfl.explore.neb import (
    BandSystem,
    DNEBSettings,
    band_forces,
    improved_tangents,
    interpolate,
    local_maxima,
    run_dneb,
)
from lfl.systems.base import System
from lfl.systems.test_surfaces import (
    MULLER_BROWN_MINIMA_APPROX,
    MULLER_BROWN_SADDLES_APPROX,
    DoubleWell,
    EmbeddedSurface,
    MullerBrown,
)


def numeric_gradient(system, x, h=1e-6):
    out = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (system.energy(x + e) - system.energy(x - e)) / (2 * h)
    return out


SURFACES = [
    (MullerBrown(), np.array([-0.3, 0.8])),
    (MullerBrown(scale=0.01), np.array([0.4, 0.2])),
    (DoubleWell(n_dof=3, barrier=2.0, stiffness=3.0, coupling=0.7), np.array([0.4, -0.3, 0.9])),
    (EmbeddedSurface(MullerBrown(), n_dof=7, stiffness=np.linspace(5, 50, 5), quartic=2.0, seed=3), None),
]


@pytest.mark.parametrize("index", range(len(SURFACES)))
def test_surface_derivatives_match_finite_differences(index):
    system, x = SURFACES[index]
    if x is None:
        x = system.embed(np.array([-0.2, 0.7]), np.array([0.1, -0.2, 0.05, 0.3, -0.1]))
    energy, gradient = system.energy_gradient(x)
    assert energy == pytest.approx(system.energy(x))
    np.testing.assert_allclose(gradient, numeric_gradient(system, x), rtol=1e-6, atol=1e-6 * (1 + abs(energy)))
    # The analytic Hessian against the base class's central differences of the analytic gradient.
    np.testing.assert_allclose(system.hessian(x), System.hessian(system, x), rtol=1e-5, atol=1e-4)
    v = np.random.default_rng(index).standard_normal(x.size)
    np.testing.assert_allclose(system.hessian_vector(x, v), System.hessian(system, x) @ v, rtol=1e-5, atol=1e-4)
    xs = np.stack([x, x + 0.01, x - 0.02])
    energies, gradients = system.energy_gradient_batch(xs)
    for k in range(3):
        e_k, g_k = system.energy_gradient(xs[k])
        assert energies[k] == pytest.approx(e_k, rel=1e-13)
        np.testing.assert_allclose(gradients[k], g_k, rtol=1e-12, atol=1e-12)


def test_embedded_surface_maps_base_points():
    mb = MullerBrown()
    system = EmbeddedSurface(mb, n_dof=6, stiffness=20.0, seed=1)
    u = MULLER_BROWN_SADDLES_APPROX[0]
    x = system.embed(u)
    assert system.energy(x) == pytest.approx(mb.energy(u), rel=1e-13)
    u_back, z_back = system.split(x)
    np.testing.assert_allclose(u_back, u, atol=1e-14)
    np.testing.assert_allclose(z_back, 0.0, atol=1e-14)
    # the rotation is orthogonal and mixes every axis
    np.testing.assert_allclose(system.rotation @ system.rotation.T, np.eye(6), atol=1e-12)
    assert np.max(np.abs(system.rotation)) < 0.99


def test_interpolate_is_evenly_spaced_with_fixed_ends():
    a, b = np.array([0.0, 1.0, 2.0]), np.array([3.0, -1.0, 2.0])
    band = interpolate(a, b, 4)
    assert band.shape == (6, 3)
    np.testing.assert_array_equal(band[0], a)
    np.testing.assert_allclose(band[-1], b)
    spacing = np.linalg.norm(np.diff(band, axis=0), axis=1)
    np.testing.assert_allclose(spacing, np.linalg.norm(b - a) / 5)


def test_improved_tangent_picks_uphill_neighbour_and_mixes_at_a_maximum():
    images = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 1.0], [3.0, 1.0], [4.0, 3.0]])
    # image 1: energy rising through it -> forward segment; image 2: maximum; image 3: falling -> backward
    energies = np.array([0.0, 1.0, 3.0, 2.0, 0.5])
    tangents = improved_tangents(images, energies)
    np.testing.assert_allclose(tangents[0], [1 / np.sqrt(2), 1 / np.sqrt(2)])  # x2 - x1 = (1, 1)
    np.testing.assert_allclose(tangents[2], [1.0, 0.0])  # x3 - x2 = (1, 0)
    # at the maximum: dV+ = -1, dV- = -2, V(next) > V(prev) -> forward*max + backward*min
    mixed = (images[3] - images[2]) * 2.0 + (images[2] - images[1]) * 1.0
    np.testing.assert_allclose(tangents[1], mixed / np.linalg.norm(mixed))
    np.testing.assert_allclose(np.linalg.norm(tangents, axis=1), 1.0)


def reference_dneb_force(x_prev, x, x_next, v_prev, v, v_next, gradient, k):
    """Trygubenko & Wales (2004) eqs. written out for one image, with the HJ (2000) tangent."""
    if v_next > v > v_prev:
        tau = x_next - x
    elif v_next < v < v_prev:
        tau = x - x_prev
    else:
        d_max = max(abs(v_next - v), abs(v_prev - v))
        d_min = min(abs(v_next - v), abs(v_prev - v))
        if v_next > v_prev:
            tau = (x_next - x) * d_max + (x - x_prev) * d_min
        else:
            tau = (x_next - x) * d_min + (x - x_prev) * d_max
    tau = tau / np.linalg.norm(tau)
    g_perp = gradient - gradient.dot(tau) * tau
    f_spring_par = k * (np.linalg.norm(x_next - x) - np.linalg.norm(x - x_prev)) * tau
    f_spring = k * (x_next - 2 * x + x_prev)
    f_spring_perp = f_spring - f_spring.dot(tau) * tau
    g_hat = g_perp / np.linalg.norm(g_perp)
    f_dneb = f_spring_perp - f_spring_perp.dot(g_hat) * g_hat
    return -g_perp + f_spring_par + f_dneb


def test_band_forces_match_per_image_formulas():
    rng = np.random.default_rng(7)
    system = EmbeddedSurface(MullerBrown(), n_dof=5, stiffness=30.0, seed=2)
    images = interpolate(system.embed(MULLER_BROWN_MINIMA_APPROX[0]), system.embed(MULLER_BROWN_MINIMA_APPROX[2]), 6)
    images[1:-1] += 0.05 * rng.standard_normal(images[1:-1].shape)
    energies, gradients_all = system.energy_gradient_batch(images)
    k = 17.0
    forces = band_forces(images, energies, gradients_all[1:-1], k, doubly_nudged=True)
    plain = band_forces(images, energies, gradients_all[1:-1], k, doubly_nudged=False)
    for i in range(1, images.shape[0] - 1):
        expected = reference_dneb_force(
            images[i - 1], images[i], images[i + 1], energies[i - 1], energies[i], energies[i + 1], gradients_all[i], k
        )
        np.testing.assert_allclose(forces[i - 1], expected, rtol=1e-12, atol=1e-10)
    # the doubly-nudged term is perpendicular to both the tangent and the perpendicular true force
    tangents = improved_tangents(images, energies)
    extra = forces - plain
    np.testing.assert_allclose(np.einsum("ij,ij->i", extra, tangents), 0.0, atol=1e-9)
    g_perp = gradients_all[1:-1] - np.einsum("ij,ij->i", gradients_all[1:-1], tangents)[:, None] * tangents
    np.testing.assert_allclose(np.einsum("ij,ij->i", extra, g_perp), 0.0, atol=1e-8)


def test_band_system_gradient_is_minus_the_force():
    system = MullerBrown()
    a, b = MULLER_BROWN_MINIMA_APPROX[0], MULLER_BROWN_MINIMA_APPROX[1]
    settings = DNEBSettings(n_images=5, spring_constant=50.0)
    band = BandSystem(system, a, b, 5, settings)
    interior = interpolate(a, b, 5)[1:-1] + 0.01
    energy, gradient = band.energy_gradient(interior.ravel())
    images = np.concatenate([a[None], interior, b[None]])
    energies, gradients = system.energy_gradient_batch(images)
    expected = band_forces(images, energies, gradients[1:-1], 50.0)
    np.testing.assert_allclose(gradient, -expected.ravel(), rtol=1e-13)
    springs = 0.5 * 50.0 * np.sum(np.diff(images, axis=0) ** 2)
    assert energy == pytest.approx(energies[1:-1].sum() + springs, rel=1e-13)


def test_local_maxima_are_interior_and_sorted_by_energy():
    energies = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 0.0, 6.0])
    np.testing.assert_array_equal(local_maxima(energies), [4, 2])
    assert local_maxima(np.array([0.0, 1.0, 2.0])).size == 0


def test_dneb_on_muller_brown_brackets_both_saddles():
    system = MullerBrown()
    a, b = MULLER_BROWN_MINIMA_APPROX[0], MULLER_BROWN_MINIMA_APPROX[1]
    result = run_dneb(system, a, b, DNEBSettings(n_images=20, spring_constant=100.0, max_iterations=2000))
    assert result.success, result.message
    assert result.rms_force < 1e-3
    assert result.images.shape == (22, 2)
    np.testing.assert_array_equal(result.images[0], a)
    np.testing.assert_array_equal(result.images[-1], b)
    assert result.candidates.size == 2
    # the highest candidate lies next to the higher saddle, the other one next to the lower saddle
    for candidate, saddle in zip(result.candidates, MULLER_BROWN_SADDLES_APPROX):
        assert np.linalg.norm(result.images[candidate] - saddle) < 0.05
    # a converged band is (nearly) evenly spaced: the parallel springs balance
    spacing = np.linalg.norm(np.diff(result.images, axis=0), axis=1)
    assert spacing.max() / spacing.min() < 1.5


class _MirrorDoubleWell(DoubleWell):
    """A double well whose symmetry maps x -> -x (its two wells are one minimum)."""

    def align(self, reference, x):
        x = np.asarray(x, dtype=np.float64)
        return x if np.linalg.norm(reference - x) <= np.linalg.norm(reference + x) else -x


def test_dneb_aligns_the_second_end_point_and_rejects_coincident_ends():
    system = _MirrorDoubleWell(n_dof=2)
    a = np.array([-1.0, 0.3])
    b = np.array([1.0, 0.3])  # its mirror image (-1, -0.3) is closer to a
    result = run_dneb(system, a, b, DNEBSettings(n_images=3, spring_constant=5.0, max_iterations=50))
    np.testing.assert_allclose(result.images[-1], [-1.0, -0.3])
    with pytest.raises(LflError, match="coincide"):
        run_dneb(system, a, -a, DNEBSettings(n_images=3))
    unaligned = run_dneb(system, a, b, DNEBSettings(n_images=3, max_iterations=0, align=False))
    np.testing.assert_allclose(unaligned.images[-1], b)


@pytest.mark.parametrize(
    "settings",
    [
        DNEBSettings(n_images=0),
        DNEBSettings(spring_constant=0.0),
        DNEBSettings(rms_force=-1.0),
        DNEBSettings(max_step=0.0),
    ],
)
def test_bad_dneb_settings_raise(settings):
    with pytest.raises(LflError):
        run_dneb(MullerBrown(), MULLER_BROWN_MINIMA_APPROX[0], MULLER_BROWN_MINIMA_APPROX[1], settings)


def test_dneb_rejects_wrong_shapes():
    with pytest.raises(LflError, match="coordinates"):
        run_dneb(MullerBrown(), np.zeros(3), np.ones(3))
    with pytest.raises(LflError, match="initial_images"):
        run_dneb(MullerBrown(), np.zeros(2), np.ones(2), DNEBSettings(n_images=4), initial_images=np.zeros((3, 2)))
