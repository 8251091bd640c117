"""Analytic model surfaces with known stationary points, for testing the explorers.

- :class:`MullerBrown`: the two-dimensional Müller-Brown potential (three minima, two saddles);
- :class:`DoubleWell`: ``barrier (x0^2 - 1)^2`` plus harmonic coordinates, optionally coupled;
- :class:`SeparableWells`: a sum of one-dimensional terms, tilted double wells and soft harmonic
  ones, whose stationary points are products of the terms' (every minimum and index-one saddle known
  by root finding in one dimension), with the soft modes leading nowhere;
- :class:`EmbeddedSurface`: any surface embedded in more dimensions with extra stiff (harmonic plus
  quartic) coordinates, the whole rotated by a random orthogonal matrix, so that no Hessian
  eigenvector lies along a coordinate axis.

Every surface has an analytic gradient and Hessian; the approximate stationary points given here are
starting guesses only (tests refine them independently, e.g. by root finding on the gradient).
"""

from __future__ import annotations

import numpy as np

from lfl.errors import LflError
from lfl.systems.base import System

# Müller & Brown, Theor. Chim. Acta 53, 75 (1979).
_MB_A = np.array([-200.0, -100.0, -170.0, 15.0])
_MB_a = np.array([-1.0, -1.0, -6.5, 0.7])
_MB_b = np.array([0.0, 0.0, 11.0, 0.6])
_MB_c = np.array([-10.0, -10.0, -6.5, 0.7])
_MB_X0 = np.array([1.0, 0.0, -0.5, -1.0])
_MB_Y0 = np.array([0.0, 0.5, 1.5, 1.0])

# Literature values to about 1e-6 (starting guesses, not references).
MULLER_BROWN_MINIMA_APPROX = np.array([[-0.558224, 1.441726], [0.623499, 0.028038], [-0.050011, 0.466694]])
MULLER_BROWN_SADDLES_APPROX = np.array([[-0.822002, 0.624313], [0.212487, 0.292988]])


class MullerBrown(System):
    """The Müller-Brown surface, multiplied by ``scale`` (1 gives the usual energies around -150 .. -40)."""

    n_dof = 2

    def __init__(self, *, scale: float = 1.0) -> None:
        self.scale = float(scale)

    def _terms(self, xs: np.ndarray) -> tuple[np.ndarray, ...]:
        # xs: (m, 2) -> per-point, per-term arrays (m, 4)
        dx = xs[:, 0:1] - _MB_X0
        dy = xs[:, 1:2] - _MB_Y0
        exps = self.scale * _MB_A * np.exp(_MB_a * dx * dx + _MB_b * dx * dy + _MB_c * dy * dy)
        ux = 2.0 * _MB_a * dx + _MB_b * dy
        uy = _MB_b * dx + 2.0 * _MB_c * dy
        return exps, ux, uy

    def energy_gradient_batch(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs = np.asarray(xs, dtype=np.float64).reshape(-1, 2)
        exps, ux, uy = self._terms(xs)
        gradients = np.stack([(exps * ux).sum(axis=1), (exps * uy).sum(axis=1)], axis=1)
        return exps.sum(axis=1), gradients

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        energies, gradients = self.energy_gradient_batch(np.asarray(x).reshape(1, 2))
        return float(energies[0]), gradients[0]

    def hessian(self, x: np.ndarray, step: float = 0.0) -> np.ndarray:
        exps, ux, uy = self._terms(np.asarray(x, dtype=np.float64).reshape(1, 2))
        hxx = (exps * (ux * ux + 2.0 * _MB_a)).sum()
        hxy = (exps * (ux * uy + _MB_b)).sum()
        hyy = (exps * (uy * uy + 2.0 * _MB_c)).sum()
        return np.array([[hxx, hxy], [hxy, hyy]])

    def hessian_vector(self, x: np.ndarray, v: np.ndarray, step: float = 0.0) -> np.ndarray:
        return self.hessian(x) @ v


class DoubleWell(System):
    """``barrier (x0^2 - 1)^2 + stiffness/2 sum_{i>0} x_i^2 + coupling x0 x1``.

    Without coupling: minima at x0 = +-1 (other coordinates 0), the saddle at the origin with Hessian
    eigenvalue ``-4 barrier`` along x0. The coupling tilts the saddle's eigenvectors off the axes and
    leaves the saddle at the origin.
    """

    def __init__(self, *, n_dof: int = 2, barrier: float = 1.0, stiffness: float = 1.0, coupling: float = 0.0):
        if n_dof < 1 or (coupling != 0.0 and n_dof < 2):
            raise LflError(f"DoubleWell needs n_dof >= 1 (>= 2 with coupling), got {n_dof}")
        self.n_dof = int(n_dof)
        self.barrier = float(barrier)
        self.stiffness = float(stiffness)
        self.coupling = float(coupling)

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        q = x[0] * x[0] - 1.0
        energy = self.barrier * q * q + 0.5 * self.stiffness * float(x[1:] @ x[1:])
        gradient = self.stiffness * x.copy()
        gradient[0] = 4.0 * self.barrier * x[0] * q
        if self.coupling:
            energy += self.coupling * x[0] * x[1]
            gradient[0] += self.coupling * x[1]
            gradient[1] += self.coupling * x[0]
        return float(energy), gradient

    def hessian(self, x: np.ndarray, step: float = 0.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        hess = np.diag(np.full(self.n_dof, self.stiffness))
        hess[0, 0] = self.barrier * (12.0 * x[0] * x[0] - 4.0)
        if self.coupling:
            hess[0, 1] = hess[1, 0] = self.coupling
        return hess

    def hessian_vector(self, x: np.ndarray, v: np.ndarray, step: float = 0.0) -> np.ndarray:
        return self.hessian(x) @ v


class SeparableWells(System):
    """``sum_i a_i (x_i^2 - 1)^2 + b_i x_i`` over the well coordinates plus ``sum_j c_j x_j^2 / 2``
    over the harmonic ones (listed first).

    Each well term has two minima and one maximum (for |b_i| small); the surface's minima pick a
    minimum in every well (2^n of them), its index-one saddles the maximum in exactly one well
    (n 2^(n-1)). Harmonic curvatures below the wells' (about 8 a_i) make the softest Hessian modes
    the harmonic ones, along which no saddle lies: searches must go beyond the two softest modes.
    """

    def __init__(self, *, wells=((1.0, 0.1), (1.3, 0.15), (1.7, 0.2)), harmonic=(0.2, 0.3, 0.4)) -> None:
        self.a = np.array([w[0] for w in wells], dtype=np.float64)
        self.b = np.array([w[1] for w in wells], dtype=np.float64)
        self.c = np.array(harmonic, dtype=np.float64)
        self.n_harmonic = self.c.size
        self.n_dof = self.c.size + self.a.size

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.asarray(x, dtype=np.float64).ravel()
        h, w = x[: self.n_harmonic], x[self.n_harmonic:]
        energy = 0.5 * np.sum(self.c * h * h) + np.sum(self.a * (w * w - 1.0) ** 2 + self.b * w)
        gradient = np.concatenate([self.c * h, 4.0 * self.a * w * (w * w - 1.0) + self.b])
        return float(energy), gradient

    def hessian(self, x: np.ndarray, step: float = 0.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).ravel()
        w = x[self.n_harmonic:]
        return np.diag(np.concatenate([self.c, self.a * (12.0 * w * w - 4.0)]))

    def hessian_vector(self, x: np.ndarray, v: np.ndarray, step: float = 0.0) -> np.ndarray:
        return self.hessian(x) @ np.asarray(v, dtype=np.float64)

    def stationary_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(minima, index-one saddles) as rows, from the roots of each well's cubic 4a x^3 - 4a x + b."""
        import itertools

        lows, tops = [], []
        for a, b in zip(self.a, self.b):
            roots = np.sort(np.roots([4.0 * a, 0.0, -4.0 * a, b]).real)
            lows.append((roots[0], roots[2]))
            tops.append(roots[1])
        zeros = np.zeros(self.n_harmonic)
        minima = [np.concatenate([zeros, choice]) for choice in itertools.product(*lows)]
        saddles = []
        for k in range(self.a.size):
            others = [lows[i] if i != k else (tops[k],) for i in range(self.a.size)]
            saddles.extend(np.concatenate([zeros, choice]) for choice in itertools.product(*others))
        return np.array(minima), np.array(saddles)


def random_rotation(n: int, *, seed: int) -> np.ndarray:
    """A random orthogonal n x n matrix (Haar-distributed: QR of a Gaussian with the sign fixed)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


class EmbeddedSurface(System):
    """``base(u) + sum_i (k_i/2 z_i^2 + quartic/4 z_i^4)`` with ``(u, z) = R^T x``.

    ``u`` holds the base surface's coordinates, ``z`` the extra ones (stiffness ``k_i``), ``R`` a
    random rotation. Stationary points of the base map to ``embed(u_stationary)`` with the same
    Hessian index (the extra coordinates are stiff minima at z = 0).
    """

    def __init__(self, base: System, *, n_dof: int, stiffness=10.0, quartic: float = 1.0, seed: int = 0):
        n_extra = int(n_dof) - base.n_dof
        if n_extra < 0:
            raise LflError(f"EmbeddedSurface needs n_dof >= base.n_dof = {base.n_dof}, got {n_dof}")
        stiffness = np.broadcast_to(np.asarray(stiffness, dtype=np.float64), (n_extra,)).copy()
        if np.any(stiffness <= 0.0):
            raise LflError("EmbeddedSurface stiffness must be positive")
        self.base = base
        self.n_dof = int(n_dof)
        self.n_base = base.n_dof
        self.stiffness = stiffness
        self.quartic = float(quartic)
        self.rotation = random_rotation(self.n_dof, seed=seed)

    def embed(self, u: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """The full vector of base coordinates u (and extra coordinates z, default 0)."""
        z = np.zeros(self.n_dof - self.n_base) if z is None else np.asarray(z, dtype=np.float64)
        return self.rotation @ np.concatenate([np.asarray(u, dtype=np.float64), z])

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, z) of a full vector x."""
        w = self.rotation.T @ np.asarray(x, dtype=np.float64)
        return w[: self.n_base], w[self.n_base :]

    def energy_gradient_batch(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ws = np.asarray(xs, dtype=np.float64).reshape(-1, self.n_dof) @ self.rotation
        us, zs = ws[:, : self.n_base], ws[:, self.n_base :]
        base_energies, base_gradients = self.base.energy_gradient_batch(np.ascontiguousarray(us))
        z2 = zs * zs
        energies = base_energies + (0.5 * self.stiffness * z2 + 0.25 * self.quartic * z2 * z2).sum(axis=1)
        grad_w = np.concatenate([base_gradients, zs * (self.stiffness + self.quartic * z2)], axis=1)
        return energies, grad_w @ self.rotation.T

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        energies, gradients = self.energy_gradient_batch(np.asarray(x).reshape(1, -1))
        return float(energies[0]), gradients[0]

    def hessian(self, x: np.ndarray, step: float = 0.0) -> np.ndarray:
        u, z = self.split(x)
        hess_w = np.zeros((self.n_dof, self.n_dof))
        hess_w[: self.n_base, : self.n_base] = self.base.hessian(u)
        extra = np.arange(self.n_base, self.n_dof)
        hess_w[extra, extra] = self.stiffness + 3.0 * self.quartic * z * z
        return self.rotation @ hess_w @ self.rotation.T

    def hessian_vector(self, x: np.ndarray, v: np.ndarray, step: float = 0.0) -> np.ndarray:
        u, z = self.split(x)
        vw = self.rotation.T @ np.asarray(v, dtype=np.float64)
        out = np.empty(self.n_dof)
        out[: self.n_base] = self.base.hessian(u) @ vw[: self.n_base]
        out[self.n_base :] = (self.stiffness + 3.0 * self.quartic * z * z) * vw[self.n_base :]
        return self.rotation @ out
