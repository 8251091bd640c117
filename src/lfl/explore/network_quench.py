"""Quenches of the network loss with no Python in the loop: the L-BFGS core and the MLP kernel, compiled together.

A network quench takes about a thousand L-BFGS iterations at RMS gradient 1e-9 (the minima are flat:
the smallest Hessian eigenvalue is about 2*lambda), and for the small networks one evaluation costs
tens of microseconds, so the Python round trip of the generic driver (:mod:`lfl.numerics.lbfgs`) is a
large part of a quench. :func:`network_quench_kernel` loops the reverse-communication protocol of
:mod:`lfl.numerics.lbfgs_core` and calls :func:`lfl.systems.mlp_kernels.kernel` directly. The kernel is
called by name, not passed in: a jitted function passed as an argument is recompiled in every process.

:func:`make_quench` is what explorers use: ``quench = make_quench(system, settings)`` gives
``quench(x0) -> OptimizeResult``, compiled for an :class:`~lfl.systems.mlp.MLPSystem` and the generic
driver for any other system. Both follow the same rules step for step, so their iterates agree to
round-off (tests/test_network_quench.py checks it).

A quench function owns its L-BFGS state arrays and uses the system's kernel work array: one quench at a
time per function (make one system and one quench per thread).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from lfl import kernel_cache
from lfl.errors import LflError
from lfl.explore.hessian_preconditioner import preconditioner_root, root_times, root_transpose_times
from lfl.numerics import lbfgs_core as core
from lfl.numerics.lbfgs import LBFGSSettings, minimize_lbfgs
from lfl.numerics.result import OptimizeResult
from lfl.systems import mlp_kernels

kernel_cache.install()

log = logging.getLogger(__name__)

Quench = Callable[[np.ndarray], OptimizeResult]

# the counts array the compiled quenches fill
COUNT_NIT = 0
COUNT_NFEV = 1
COUNT_RESETS = 2
COUNT_NHEV = 3
COUNT_SIZE = 4


@dataclass(frozen=True)
class HessianPreconditioning:
    """When the network quench switches to Hessian-preconditioned L-BFGS (:mod:`lfl.explore.hessian_preconditioner`).

    ``below_rms``: switch once the RMS gradient is below this (0 = never); ``refresh_every``: accepted
    steps between exact Hessians; ``max_weights``: only networks up to this many weights (one dense
    Hessian is n^2 doubles and costs ~n Hessian-vector products).
    """

    below_rms: float = 3e-5
    refresh_every: int = 50
    max_weights: int = 300

    def __post_init__(self) -> None:
        if not (self.below_rms >= 0 and math.isfinite(self.below_rms)):
            raise LflError(f"precondition_below_rms must be a number >= 0, got {self.below_rms}")
        if int(self.refresh_every) != self.refresh_every or self.refresh_every < 1:
            raise LflError(f"precondition_every must be a whole number >= 1, got {self.refresh_every}")
        if int(self.max_weights) != self.max_weights or self.max_weights < 0:
            raise LflError(f"precondition_max_weights must be a whole number >= 0, got {self.max_weights}")

    def applies(self, n_dof: int, settings: LBFGSSettings) -> bool:
        return self.below_rms > settings.rms_gradient and 0 < n_dof <= self.max_weights


# network_minimiser keys of the config that are HessianPreconditioning's fields
PRECONDITION_KEYS = {"precondition_below_rms": "below_rms", "precondition_every": "refresh_every",
                     "precondition_max_weights": "max_weights"}


def quench_settings(minimiser: dict) -> tuple[LBFGSSettings, HessianPreconditioning]:
    """The config's ``network_minimiser`` mapping split into L-BFGS settings and preconditioning
    (keys absent from older landscape definitions take their defaults)."""
    options = dict(minimiser)
    precondition = {field: options.pop(key) for key, field in PRECONDITION_KEYS.items() if key in options}
    return LBFGSSettings(**options), HessianPreconditioning(**precondition)


@njit(cache=True)
def _lbfgs_phase(x, gradient, work, fstate, istate, settings, kernel_args, counts) -> int:
    """Plain L-BFGS from ``x`` (overwritten, left at the final point with its gradient in ``gradient``).

    The state is zeroed first, so a run does not depend on the previous one; the iterations and
    evaluations are added to ``counts``. Returns the core's final code; the final energy is
    ``fstate[F_ENERGY]``.
    """
    work[:] = 0.0
    fstate[:] = 0.0
    istate[:] = 0
    energy = mlp_kernels.kernel(x, gradient, *kernel_args)
    code = core.lbfgs_advance(x, energy, gradient, work, fstate, istate, settings)
    while code <= core.ACCEPTED:
        energy = mlp_kernels.kernel(x, gradient, *kernel_args)
        code = core.lbfgs_advance(x, energy, gradient, work, fstate, istate, settings)
    core.lbfgs_restore_current(x, gradient, work)
    counts[COUNT_NIT] += istate[core.I_NIT]
    counts[COUNT_NFEV] += istate[core.I_NFEV]
    counts[COUNT_RESETS] += istate[core.I_RESETS]
    return code


@njit(cache=True)
def network_quench_kernel(x, gradient, work, fstate, istate, settings, kernel_args, counts) -> int:
    """Minimise the MLP loss from ``x`` (overwritten) with state arrays from ``lbfgs_new_state``.

    ``kernel_args`` is the system's ``kernel_args`` tuple, handed to the kernel as it is; ``counts``
    (zeroed here) receives iterations, evaluations, memory resets and Hessians. Returns the core's
    final code; the final point, gradient and energy are left in x, gradient and ``fstate[F_ENERGY]``.
    """
    counts[:] = 0
    return _lbfgs_phase(x, gradient, work, fstate, istate, settings, kernel_args, counts)


@njit(cache=True)
def preconditioned_quench_kernel(
    x, gradient, work, fstate, istate, settings, loose_settings, inner_settings, refresh_every, kernel_args,
    matrices, vectors, counts,
) -> int:
    """:func:`network_quench_kernel` in two phases: plain L-BFGS down to the RMS gradient of
    ``loose_settings``, then L-BFGS in the variables z of :mod:`lfl.explore.hessian_preconditioner`
    (x = x_ref + R z, R^T H R = I at x_ref), with a fresh exact Hessian every ``refresh_every``
    accepted steps, until the RMS of the *true* gradient is below the tolerance of ``settings``.

    ``inner_settings`` are the L-BFGS settings in z (tolerance 0: convergence is judged here, on the
    true gradient); ``matrices`` is (2, n, n) work space (Hessian, R), ``vectors`` (5, n). Should the
    preconditioned phase fail (no descent, stalled), plain L-BFGS finishes from the best point, so the
    outcome is never worse than that of :func:`network_quench_kernel`.
    """
    counts[:] = 0
    code = _lbfgs_phase(x, gradient, work, fstate, istate, loose_settings, kernel_args, counts)
    tolerance = settings[core.S_RMS_TOL]
    max_iterations = int(settings[core.S_MAX_ITER])
    if code != core.CONVERGED or core.lbfgs_rms(gradient) < tolerance:
        return code
    energy = fstate[core.F_ENERGY]
    hessian = matrices[0]
    root = matrices[1]
    x_ref = vectors[0]
    z = vectors[1]
    z_gradient = vectors[2]
    x_trial = vectors[3]
    g_trial = vectors[4]
    while counts[COUNT_NIT] < max_iterations:
        mlp_kernels.hessian_kernel(x, hessian, *kernel_args)
        counts[COUNT_NHEV] += 1
        preconditioner_root(hessian, root)
        x_ref[:] = x
        z[:] = 0.0
        root_transpose_times(root, gradient, z_gradient)
        work[:] = 0.0
        fstate[:] = 0.0
        istate[:] = 0
        inner_settings[core.S_MAX_ITER] = min(refresh_every, max_iterations - counts[COUNT_NIT])
        code = core.lbfgs_advance(z, energy, z_gradient, work, fstate, istate, inner_settings)
        accepted = 0
        while code <= core.ACCEPTED or (code == core.MAX_ITERATIONS and istate[core.I_NIT] > accepted):
            if istate[core.I_NIT] > accepted:  # the trial just evaluated is the new current point
                accepted = istate[core.I_NIT]
                counts[COUNT_NIT] += 1
                x[:] = x_trial
                gradient[:] = g_trial
                energy = fstate[core.F_ENERGY]
                if core.lbfgs_rms(gradient) < tolerance:
                    return core.CONVERGED
                if code == core.MAX_ITERATIONS:
                    break
            root_times(root, z, x_ref, x_trial)
            trial_energy = mlp_kernels.kernel(x_trial, g_trial, *kernel_args)
            counts[COUNT_NFEV] += 1
            root_transpose_times(root, g_trial, z_gradient)
            code = core.lbfgs_advance(z, trial_energy, z_gradient, work, fstate, istate, inner_settings)
        counts[COUNT_RESETS] += istate[core.I_RESETS]
        if code != core.MAX_ITERATIONS:  # the preconditioned steps failed: plain L-BFGS takes over
            remaining = settings.copy()
            remaining[core.S_MAX_ITER] = max(max_iterations - counts[COUNT_NIT], 1)
            return _lbfgs_phase(x, gradient, work, fstate, istate, remaining, kernel_args, counts)
    return core.MAX_ITERATIONS  # fstate still holds the energy of the last accepted point


def uses_compiled_quench(system) -> bool:
    """True when :func:`make_quench` gives ``system`` the compiled driver (an MLP loss)."""
    return getattr(system, "kernel", None) is mlp_kernels.kernel


class _CompiledNetworkQuench:
    """``quench(x0) -> OptimizeResult`` over the compiled driver, reusing its state arrays."""

    def __init__(self, system, settings: LBFGSSettings, precondition: HessianPreconditioning | None) -> None:
        self.system = system
        self.settings = settings
        self.n_dof = n = int(system.n_dof)
        self.memory = int(settings.memory)
        self._settings_array = settings.settings_array()
        self._work, self._fstate, self._istate = core.lbfgs_new_state(n, self.memory)
        self._gradient = np.empty(n)
        self._counts = np.zeros(COUNT_SIZE, dtype=np.int64)
        self.precondition = precondition if precondition is not None and precondition.applies(n, settings) else None
        if self.precondition is not None:
            self._loose_array = replace(settings, rms_gradient=self.precondition.below_rms).settings_array()
            # in z the Hessian is the identity: a unit initial diagonal is the Newton step, and the
            # tolerance 0 leaves convergence to the driver (it is judged on the true gradient)
            self._inner_array = replace(settings, initial_diag=1.0, rms_gradient=0.0).settings_array()
            self._matrices = np.empty((2, n, n))
            self._vectors = np.empty((5, n))

    def __call__(self, x0: np.ndarray) -> OptimizeResult:
        x = np.array(x0, dtype=np.float64, order="C")  # our own copy: the driver writes trials into it
        if x.shape != (self.n_dof,):
            raise LflError(f"quench start must have shape ({self.n_dof},), got {x.shape}")
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise LflError(f"quench start contains {bad} NaN or infinite value(s)")
        state = (x, self._gradient, self._work, self._fstate, self._istate, self._settings_array)
        if self.precondition is None:
            code = network_quench_kernel(*state, self.system.kernel_args, self._counts)
        else:
            code = preconditioned_quench_kernel(
                *state, self._loose_array, self._inner_array, int(self.precondition.refresh_every),
                self.system.kernel_args, self._matrices, self._vectors, self._counts,
            )
        gradient = self._gradient.copy()
        return OptimizeResult(
            x=x,
            energy=float(self._fstate[core.F_ENERGY]),
            gradient=gradient,
            rms_gradient=math.sqrt(float(gradient @ gradient) / gradient.size),
            nit=int(self._counts[COUNT_NIT]),
            nfev=int(self._counts[COUNT_NFEV]),
            success=code == core.CONVERGED,
            message=core.MESSAGES[int(code)],
            n_resets=int(self._counts[COUNT_RESETS]),
            nhev=int(self._counts[COUNT_NHEV]),
        )


def make_quench(system, settings: LBFGSSettings, precondition: HessianPreconditioning | None = None) -> Quench:
    """``quench(x0) -> OptimizeResult``: compiled for an MLP loss, the generic L-BFGS otherwise.

    ``precondition`` (MLP losses only; None: plain L-BFGS throughout) switches to Hessian-preconditioned
    L-BFGS near the minimum, for networks small enough. The compiled quench holds state arrays and
    shares the system's kernel work array: use it from one thread at a time.
    """
    if not isinstance(settings, LBFGSSettings):
        raise LflError(f"make_quench needs LBFGSSettings, got {type(settings).__name__}")
    if uses_compiled_quench(system):
        return _CompiledNetworkQuench(system, settings, precondition)
    log.debug("no compiled quench for %s: using the generic L-BFGS driver", type(system).__name__)
    options = settings.as_dict()

    def quench(x0: np.ndarray) -> OptimizeResult:
        return minimize_lbfgs(system, x0, **options)

    return quench
