"""Doubly-nudged elastic band (DNEB; Trygubenko & Wales, J. Chem. Phys. 120, 2082 (2004)).

A chain of images between two minima; each interior image feels

- the true force perpendicular to the path tangent (improved tangent of Henkelman & Jónsson,
  J. Chem. Phys. 113, 9978 (2000));
- the spring force parallel to the tangent, ``k (|x_{i+1}-x_i| - |x_i-x_{i-1}|) tau``, which keeps
  the images evenly spaced;
- the "doubly nudged" part: the component of the perpendicular spring force that is also
  perpendicular to the perpendicular true force, which stops the band from kinking while L-BFGS
  minimises it.

The whole band is one vector handed to L-BFGS through :class:`BandSystem`. The DNEB force is not the
gradient of any function, so by default the L-BFGS energy-rise guard is off (``max_rise=None``) and
the step is bounded by ``max_step`` alone; the reported band "energy" (image energies plus the spring
energy ``k/2 sum |x_{i+1}-x_i|^2``) is for logging. (Measured on Müller-Brown: with the guard at
1e-10 on that band energy, no band converged in 2000 iterations; without it, 50-250 iterations.)
Local maxima of the energy along the band are the transition-state candidates.

The spring constant must suit the surface: on Müller-Brown (curvatures ~1e2-1e3) k = 1 or 10 lets
the band drift or blow up, k = 100-1000 converges; on a [2,10,4] network loss (curvatures 1e-4-10,
minima 15-20 apart) k = 0.1-10 all gave usable candidates. On [2,10,4,1000,1e-4] losses a band
reaches RMS force 1e-3 in 2-50 iterations but hardly relaxes: its highest image stays about 1e-3
above the saddle eigenvector-following finds, after 50 or 200 iterations alike (k 0.01-1, L-BFGS
memory 4-50 measured), so for networks a short, loose band is the cheap choice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from lfl.errors import LflError
from lfl.numerics.lbfgs import minimize_lbfgs
from lfl.systems.base import System

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DNEBSettings:
    n_images: int = 10  # interior images (the two end points come on top)
    spring_constant: float = 1.0  # in energy / distance^2 of the system's coordinates
    max_iterations: int = 1000  # L-BFGS iterations on the whole band
    rms_force: float = 1e-3  # converged when the RMS DNEB force per band coordinate is below this
    doubly_nudged: bool = True
    align: bool = True  # align the second end point to the first under the system's symmetries
    memory: int = 4
    max_step: float = 0.1  # the longest L-BFGS step, measured over the whole band vector
    initial_diag: float = 0.1
    max_rise: float | None = None  # None: no energy-rise guard (the DNEB force is not a gradient)

    def validate(self) -> None:
        if self.n_images < 1:
            raise LflError(f"DNEB n_images must be >= 1, got {self.n_images}")
        if not self.spring_constant > 0.0:
            raise LflError(f"DNEB spring_constant must be > 0, got {self.spring_constant}")
        if self.max_iterations < 0:
            raise LflError(f"DNEB max_iterations must be >= 0, got {self.max_iterations}")
        if not self.rms_force > 0.0:
            raise LflError(f"DNEB rms_force must be > 0, got {self.rms_force}")
        if not self.max_step > 0.0:
            raise LflError(f"DNEB max_step must be > 0, got {self.max_step}")


@dataclass
class DNEBResult:
    images: np.ndarray  # (n_images + 2, n_dof), end points included (the second one aligned)
    energies: np.ndarray  # (n_images + 2,)
    candidates: np.ndarray  # indices into images of interior local maxima, highest energy first
    rms_force: float
    nit: int
    nfev: int
    success: bool  # the band converged to rms_force (candidates are usable either way)
    message: str


def interpolate(x_a: np.ndarray, x_b: np.ndarray, n_images: int) -> np.ndarray:
    """Straight-line band: (n_images + 2, n_dof) with x_a first and x_b last."""
    fractions = np.linspace(0.0, 1.0, n_images + 2)[:, None]
    return (1.0 - fractions) * x_a[None, :] + fractions * x_b[None, :]


def improved_tangents(images: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Unit tangents (n_images, n_dof) of the interior images (Henkelman & Jónsson 2000).

    Uphill neighbour only where the energy rises or falls monotonically through the image; at an
    extremum the two segments are mixed, weighted by the energy differences, so that the tangent
    turns smoothly and the band does not kink.
    """
    forward = images[2:] - images[1:-1]
    backward = images[1:-1] - images[:-2]
    e_next, e_here, e_prev = energies[2:], energies[1:-1], energies[:-2]
    d_next = e_next - e_here
    d_prev = e_prev - e_here
    d_max = np.maximum(np.abs(d_next), np.abs(d_prev))[:, None]
    d_min = np.minimum(np.abs(d_next), np.abs(d_prev))[:, None]
    mixed = np.where(
        (e_next > e_prev)[:, None], forward * d_max + backward * d_min, forward * d_min + backward * d_max
    )
    rising = ((e_next > e_here) & (e_here > e_prev))[:, None]
    falling = ((e_next < e_here) & (e_here < e_prev))[:, None]
    tangents = np.where(rising, forward, np.where(falling, backward, mixed))
    norms = np.linalg.norm(tangents, axis=1, keepdims=True)
    # An image exactly at a flat extremum (equal energies) gets the chord through its neighbours.
    chord = images[2:] - images[:-2]
    tangents = np.where(norms > 0.0, tangents, chord)
    norms = np.linalg.norm(tangents, axis=1, keepdims=True)
    return tangents / np.where(norms > 0.0, norms, 1.0)


def band_forces(
    images: np.ndarray,
    energies: np.ndarray,
    gradients: np.ndarray,
    spring_constant: float,
    *,
    doubly_nudged: bool = True,
) -> np.ndarray:
    """DNEB forces (n_images, n_dof) on the interior images.

    ``images`` and ``energies`` include the two end points; ``gradients`` are those of the interior
    images only.
    """
    tangents = improved_tangents(images, energies)
    forward = images[2:] - images[1:-1]
    backward = images[1:-1] - images[:-2]

    def along(vectors: np.ndarray, units: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", vectors, units)[:, None] * units

    gradient_perp = gradients - along(gradients, tangents)
    stretch = np.linalg.norm(forward, axis=1) - np.linalg.norm(backward, axis=1)
    forces = -gradient_perp + spring_constant * stretch[:, None] * tangents
    if doubly_nudged:
        spring = spring_constant * (forward - backward)
        spring_perp = spring - along(spring, tangents)
        gperp_norm = np.linalg.norm(gradient_perp, axis=1, keepdims=True)
        gperp_unit = gradient_perp / np.where(gperp_norm > 0.0, gperp_norm, 1.0)
        forces += spring_perp - along(spring_perp, gperp_unit)
    return forces


class BandSystem(System):
    """The interior images of a band as one vector; energy_gradient gives (band energy, -DNEB force)."""

    def __init__(self, system: System, x_a: np.ndarray, x_b: np.ndarray, n_images: int, settings: DNEBSettings):
        self.system = system
        self.n_images = int(n_images)
        self.n_image_dof = int(x_a.size)
        self.n_dof = self.n_images * self.n_image_dof
        self.settings = settings
        self.ends = np.stack([x_a, x_b])
        self.end_energies = np.asarray(system.energy_gradient_batch(self.ends)[0], dtype=np.float64)

    def full_band(self, x: np.ndarray) -> np.ndarray:
        interior = np.asarray(x, dtype=np.float64).reshape(self.n_images, self.n_image_dof)
        return np.concatenate([self.ends[:1], interior, self.ends[1:]])

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(full band, full energies, interior gradients)."""
        images = self.full_band(x)
        energies_in, gradients = self.system.energy_gradient_batch(np.ascontiguousarray(images[1:-1]))
        energies = np.concatenate([self.end_energies[:1], energies_in, self.end_energies[1:]])
        return images, energies, gradients

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        images, energies, gradients = self.evaluate(x)
        k = self.settings.spring_constant
        forces = band_forces(images, energies, gradients, k, doubly_nudged=self.settings.doubly_nudged)
        segments = np.diff(images, axis=0)
        band_energy = float(energies[1:-1].sum() + 0.5 * k * np.einsum("ij,ij->", segments, segments))
        return band_energy, -forces.ravel()


def local_maxima(energies: np.ndarray) -> np.ndarray:
    """Interior indices i with energies[i] above both neighbours, highest energy first."""
    inner = np.arange(1, energies.size - 1)
    is_max = (energies[1:-1] > energies[:-2]) & (energies[1:-1] > energies[2:])
    found = inner[is_max]
    return found[np.argsort(-energies[found], kind="stable")]


def run_dneb(
    system: System,
    x_a: np.ndarray,
    x_b: np.ndarray,
    settings: DNEBSettings | None = None,
    *,
    initial_images: np.ndarray | None = None,
) -> DNEBResult:
    """Relax a DNEB between minima x_a and x_b; candidates are the local maxima of the relaxed band.

    ``initial_images`` (n_images, n_dof) replaces the straight-line interpolation (e.g. a band
    resumed from an earlier run); the end points are still x_a and the aligned x_b.
    """
    settings = settings or DNEBSettings()
    settings.validate()
    x_a = np.ascontiguousarray(x_a, dtype=np.float64).ravel()
    x_b = np.ascontiguousarray(x_b, dtype=np.float64).ravel()
    if x_a.size != system.n_dof or x_b.size != system.n_dof:
        raise LflError(f"DNEB end points need {system.n_dof} coordinates, got {x_a.size} and {x_b.size}")
    if settings.align:
        x_b = np.ascontiguousarray(system.align(x_a, x_b), dtype=np.float64)
    if not np.linalg.norm(x_b - x_a) > 0.0:
        raise LflError("DNEB end points coincide (after alignment): nothing to connect")

    if initial_images is None:
        start = interpolate(x_a, x_b, settings.n_images)[1:-1]
    else:
        start = np.asarray(initial_images, dtype=np.float64)
        if start.shape != (settings.n_images, system.n_dof):
            expected = (settings.n_images, system.n_dof)
            raise LflError(f"DNEB initial_images must have shape {expected}, got {start.shape}")
    band = BandSystem(system, x_a, x_b, settings.n_images, settings)
    res = minimize_lbfgs(
        band,
        np.ascontiguousarray(start.ravel()),
        memory=settings.memory,
        max_step=settings.max_step,
        initial_diag=settings.initial_diag,
        max_rise=settings.max_rise,
        rms_gradient=settings.rms_force,
        max_iterations=settings.max_iterations,
    )
    images, energies, _ = band.evaluate(res.x)
    success, message = bool(res.success), str(res.message)
    if np.all(np.isfinite(energies)) and np.all(np.isfinite(images)):
        candidates = local_maxima(energies)
    else:  # a blown-up band (springs far too soft or too stiff for max_step) names no candidate
        candidates = np.empty(0, dtype=np.int64)
        success, message = False, "the band left the finite region: " + message
    log.debug(
        "DNEB: %d images, %d iterations, RMS force %.3g, %d candidate(s)",
        settings.n_images, res.nit, res.rms_gradient, candidates.size,
    )
    return DNEBResult(
        images=images,
        energies=energies,
        candidates=candidates,
        rms_force=float(res.rms_gradient),
        nit=int(res.nit),
        nfev=int(res.nfev),
        success=success,
        message=message,
    )
