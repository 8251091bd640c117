"""The one interface every explorer uses (L-BFGS, basin-hopping, DNEB, eigenvector-following).

A system is a scalar function of one flat, C-contiguous float64 vector ``x`` of length ``n_dof``
(for networks: the *variable* weights only, in the layout documented by the network module).

Required: :meth:`energy_gradient`. Everything else has a correct, slower default:

- :meth:`energy` calls :meth:`energy_gradient`;
- :meth:`hessian` builds the dense matrix from central differences of gradients;
- :meth:`hessian_vector` uses a central difference of gradients along ``v``;
- :meth:`distance` / :meth:`align` / :meth:`canonical` treat every vector as distinct (no symmetry).

Systems with analytic Hessians or symmetries override them. Systems with a compiled kernel expose it
through :attr:`kernel` (a numba function ``kernel(x, grad_out, *kernel_args) -> energy``) and
:attr:`kernel_args`, so that compiled drivers can call it without Python in the loop.
"""

from __future__ import annotations

import numpy as np


class System:
    n_dof: int
    kernel = None
    kernel_args: tuple = ()

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def energy(self, x: np.ndarray) -> float:
        return self.energy_gradient(x)[0]

    def energy_gradient_batch(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies (m,) and gradients (m, n_dof) of m vectors (elastic-band images, walkers)."""
        energies = np.empty(xs.shape[0])
        gradients = np.empty_like(xs)
        for i, x in enumerate(xs):
            energies[i], gradients[i] = self.energy_gradient(x)
        return energies, gradients

    def hessian(self, x: np.ndarray, step: float = 1e-5) -> np.ndarray:
        n = x.size
        hess = np.empty((n, n))
        probe = np.array(x, dtype=np.float64)
        for i in range(n):
            saved = probe[i]
            probe[i] = saved + step
            g_plus = self.energy_gradient(probe)[1]
            probe[i] = saved - step
            g_minus = self.energy_gradient(probe)[1]
            probe[i] = saved
            hess[i] = (g_plus - g_minus) / (2.0 * step)
        return 0.5 * (hess + hess.T)

    def hessian_vector(self, x: np.ndarray, v: np.ndarray, step: float = 1e-6) -> np.ndarray:
        norm = np.linalg.norm(v)
        if norm == 0.0:
            return np.zeros_like(x)
        h = step / norm
        g_plus = self.energy_gradient(x + h * v)[1]
        g_minus = self.energy_gradient(x - h * v)[1]
        return (g_plus - g_minus) / (2.0 * h)

    def canonical(self, x: np.ndarray) -> np.ndarray:
        """A representative of x's symmetry orbit (identity for systems without symmetry)."""
        return np.asarray(x, dtype=np.float64)

    def align(self, reference: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The copy of x (under the system's symmetries) closest to ``reference``."""
        return np.asarray(x, dtype=np.float64)

    def random_copy(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A symmetric copy of x drawn at random (x itself for systems without symmetry)."""
        return np.array(x, dtype=np.float64)

    def random_weights(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """A random start: coordinates uniform in [-scale, scale]."""
        return rng.uniform(-scale, scale, self.n_dof)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Symmetry-invariant Euclidean distance: align b to a, then measure."""
        return float(np.linalg.norm(np.asarray(a) - self.align(a, b)))
