"""The neural-network loss as a system (SCIENCE.md §3-4): ``MLPSystem(spec, inputs, labels)``.

Energy of a variable weight vector ``x`` (layout: :mod:`lfl.systems.network`; frozen connectivity
weights are not part of ``x``)::

    E(x) = -(1/N) sum_n log softmax(y(x; input_n))[label_n]  +  lam * sum(x**2)

with tanh hidden layers and a linear output layer. Derivatives are exact: the gradient by
backpropagation, Hessian-vector products by Pearlmutter's R-operator, the dense Hessian of a
network with one hidden layer from its closed form (matrix products over items), of deeper networks
one R-operator column at a time (exact to round-off either way, no finite differences).

Compiled drivers call the kernel without Python::

    energy = system.kernel(x, grad_out, *system.kernel_args)

``kernel`` is :func:`lfl.systems.mlp_kernels.kernel` (documented there); ``kernel_args`` holds the
training data, the layout and a work array, so one system serves one thread at a time (make one
system per thread; processes are independent anyway).
"""

from __future__ import annotations

import logging

import numpy as np

from lfl.errors import DataError, LflError
from lfl.systems import mlp_kernels as _k
from lfl.systems import symmetry as _sym
from lfl.systems.base import System
from lfl.systems.network import NetworkSpec, check_inputs_labels, parse_network_spec

BLAS_MIN_INPUTS = 32  # first layers with at least this many inputs use BLAS products (measured)
LARGE_HESSIAN = 2000  # dense Hessians beyond this many weights: say what it costs

log = logging.getLogger(__name__)


class MLPSystem(System):
    """Softmax cross-entropy + L2 loss of an MLP on a fixed labelled data set."""

    kernel = staticmethod(_k.kernel)

    def __init__(self, spec, inputs: np.ndarray, labels: np.ndarray, *, blas_first: bool | None = None) -> None:
        self.spec: NetworkSpec = parse_network_spec(spec)
        self.layout = self.spec.layout
        inputs = np.asarray(inputs)
        labels = np.asarray(labels)
        if not np.issubdtype(inputs.dtype, np.number):
            raise DataError(f"MLP training data: inputs must be numeric, got dtype {inputs.dtype}")
        if labels.size and not np.issubdtype(labels.dtype, np.integer):
            if not np.issubdtype(labels.dtype, np.number) or np.any(labels != np.round(labels)):
                raise DataError("MLP training data: labels must be integers (class numbers)")
        inputs = np.array(inputs, dtype=np.float64, order="C")
        labels = np.array(labels, dtype=np.int64)
        check_inputs_labels(inputs, labels, self.spec.outputs, "MLP training data")
        if inputs.shape[1] != self.spec.inputs:
            raise DataError(
                f"MLP training data: the network has {self.spec.inputs} inputs but the data items have "
                f"{inputs.shape[1]} features"
            )
        if inputs.shape[0] == 0:
            raise DataError("MLP training data: no items")
        inputs.setflags(write=False)
        labels.setflags(write=False)
        self.inputs = inputs
        self.labels = labels
        self.n_items = int(labels.size)
        self.n_dof = self.layout.n_variable
        self.lam = self.spec.lam
        self.blas_first = bool(self.spec.inputs >= BLAS_MIN_INPUTS if blas_first is None else blas_first)
        sizes = np.array(self.spec.layer_sizes, dtype=np.int64)
        xt = np.ascontiguousarray(inputs.T)
        work = np.empty(_k.work_size(sizes, self.n_items, self.layout.n_full))
        self.kernel_args = (
            self.layout.variable_index,
            self.layout.n_full,
            sizes,
            xt,
            labels,
            float(self.lam),
            self.blas_first,
            work,
        )
        self.symmetries = _sym.NetworkDistance(self.layout)
        self.symmetry_groups = self.symmetries.groups

    # ----------------------------------------------------------------- checks
    def _vector(self, x: np.ndarray, what: str = "weight vector") -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.n_dof,):
            raise LflError(f"{what} must have shape ({self.n_dof},) for {self.spec.label()}, got {x.shape}")
        return x

    def _check_finite(self, value: float, x: np.ndarray) -> None:
        if np.isfinite(value):
            return
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise LflError(f"weight vector contains {bad} NaN or infinite value(s)")
        raise LflError("the loss is not finite for this weight vector (weights too large?)")

    # ------------------------------------------------------------- the system
    def energy(self, x: np.ndarray) -> float:
        x = self._vector(x)
        energy = _k.energy_kernel(x, *self.kernel_args)
        self._check_finite(energy, x)
        return float(energy)

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = self._vector(x)
        grad = np.empty(self.n_dof)
        energy = _k.kernel(x, grad, *self.kernel_args)
        self._check_finite(energy, x)
        return float(energy), grad

    def energy_gradient_batch(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies (m,) and gradients (m, n_dof) of m weight vectors in one compiled call."""
        xs = np.ascontiguousarray(xs, dtype=np.float64)
        if xs.ndim != 2 or xs.shape[1] != self.n_dof:
            raise LflError(f"batch of weight vectors must have shape (m, {self.n_dof}), got {xs.shape}")
        energies = np.empty(xs.shape[0])
        grads = np.empty_like(xs)
        _k.batch_kernel(xs, energies, grads, *self.kernel_args)
        if not np.all(np.isfinite(energies)):
            row = int(np.flatnonzero(~np.isfinite(energies))[0])
            self._check_finite(energies[row], xs[row])
        return energies, grads

    def hessian(self, x: np.ndarray, step: float | None = None) -> np.ndarray:
        """Exact dense Hessian (n_dof x n_dof), symmetric; ``step`` is ignored (no differences)."""
        x = self._vector(x)
        if self.n_dof > LARGE_HESSIAN:
            log.warning(
                "dense Hessian of %d weights: %.0f MB and %d Hessian-vector products; "
                "prefer hessian_vector for networks this large",
                self.n_dof,
                self.n_dof**2 * 8 / 1e6,
                self.n_dof,
            )
        hess = np.empty((self.n_dof, self.n_dof))
        _k.hessian_kernel(x, hess, *self.kernel_args)
        self._check_finite(float(hess.sum()), x)
        return hess

    def hessian_vector(self, x: np.ndarray, v: np.ndarray, step: float | None = None) -> np.ndarray:
        """Exact Hessian @ v (R-operator, no dense matrix); ``step`` is ignored."""
        x = self._vector(x)
        v = self._vector(v, "direction vector")
        out = np.empty(self.n_dof)
        _k.hessian_vector_kernel(x, v, out, *self.kernel_args)
        self._check_finite(float(out.sum()), x)
        return out

    def new_tapes(self, n_points: int) -> np.ndarray:
        """Room for the forward/backward tapes of ``n_points`` weight vectors (one work array each):
        :meth:`fill_tapes`, then any number of :meth:`hessian_vector_batch` products at those points."""
        return np.empty((int(n_points), self.kernel_args[-1].size))

    def fill_tapes(self, xs: np.ndarray, tapes: np.ndarray, slots: np.ndarray) -> None:
        """Tape of xs[m] into tapes[slots[m]] for every row m."""
        xs = np.ascontiguousarray(xs, dtype=np.float64)
        slots = np.asarray(slots, dtype=np.int64)
        if xs.ndim != 2 or xs.shape[1] != self.n_dof or slots.shape != (xs.shape[0],):
            raise LflError(f"fill_tapes needs xs (m, {self.n_dof}) and m slots, got {xs.shape} and {slots.shape}")
        var_index, n_full, sizes, xt, labels, _, blas_first, _ = self.kernel_args
        _k.fill_tapes_kernel(xs, slots, tapes, var_index, n_full, sizes, xt, labels, blas_first)

    def hessian_vector_batch(self, vs: np.ndarray, slots: np.ndarray, tapes: np.ndarray) -> np.ndarray:
        """Exact Hessian @ vs[m] at the point whose tape is tapes[slots[m]], for every row m, in one
        compiled call (stacked first-layer products): (m, n_dof)."""
        vs = np.ascontiguousarray(vs, dtype=np.float64)
        slots = np.ascontiguousarray(slots, dtype=np.int64)
        if vs.ndim != 2 or vs.shape[1] != self.n_dof or slots.shape != (vs.shape[0],):
            raise LflError(f"hessian_vector_batch needs vs (m, {self.n_dof}) and m slots, got {vs.shape} and {slots.shape}")
        var_index, n_full, sizes, xt, labels, lam, blas_first, _ = self.kernel_args
        out = np.empty_like(vs)
        _k.batch_hessian_vector_kernel(vs, out, slots, tapes, var_index, n_full, sizes, xt, labels, lam, blas_first)
        if not np.all(np.isfinite(out)):
            raise LflError("Hessian-vector product is not finite (weights too large?)")
        return out

    # --------------------------------------------------------------- symmetry
    def canonical(self, x: np.ndarray) -> np.ndarray:
        """The canonical member of x's orbit under the symmetries the connectivity mask preserves."""
        full = self.full_weights(x)
        return self.layout.to_variable(_sym.canonical_full(self.layout, self.symmetry_groups, full))

    def align(self, reference: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The symmetric copy of x closest (Euclidean) to ``reference``."""
        return self.symmetries.align(self._vector(reference), self._vector(x))

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Symmetry-invariant distance: align b to a, then the Euclidean norm of the difference."""
        return self.symmetries(self._vector(a), self._vector(b))

    def random_copy(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A symmetric copy of x under a group element drawn uniformly (same loss, other weights)."""
        element = _sym.random_element(self.layout, self.symmetry_groups, rng)
        return self.layout.to_variable(_sym.apply_element(self.layout, self.full_weights(x), element))

    # ---------------------------------------------------------------- helpers
    def random_weights(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Variable weights drawn uniformly from [-scale, scale]."""
        return rng.uniform(-scale, scale, self.n_dof)

    def full_weights(self, x: np.ndarray) -> np.ndarray:
        """The full layout (frozen weights as zeros) of a variable vector."""
        return self.layout.to_full(self._vector(x))

    def from_full_weights(self, full: np.ndarray) -> np.ndarray:
        """The variable vector of a full-layout vector (frozen entries must be zero)."""
        return self.layout.to_variable(full)

    def probabilities(self, x: np.ndarray, inputs: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (items, classes) on ``inputs`` (default: the training inputs)."""
        from lfl.systems.outputs import probabilities

        return probabilities(self, x, self.inputs if inputs is None else inputs)
