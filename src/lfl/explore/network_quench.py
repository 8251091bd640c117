"""Quenches of the network loss with no Python in the loop: the L-BFGS core and the MLP kernel, compiled together.

A network quench takes about a thousand L-BFGS iterations at RMS gradient 1e-9 (the minima are flat:
the smallest Hessian eigenvalue is about 2*lambda), and for the small networks one evaluation costs
tens of microseconds, so the Python round trip of the generic driver (:mod:`lfl.explore.lbfgs`) is a
large part of a quench. :func:`network_quench_kernel` loops the reverse-communication protocol of
:mod:`lfl.explore.lbfgs_core` and calls :func:`lfl.systems.mlp_kernels.kernel` directly. The kernel is
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

import numpy as np
from numba import njit

from lfl.errors import LflError
from lfl.explore import lbfgs_core as core
from lfl.explore.lbfgs import LBFGSSettings, minimize_lbfgs
from lfl.explore.result import OptimizeResult
from lfl.systems import mlp_kernels

log = logging.getLogger(__name__)

Quench = Callable[[np.ndarray], OptimizeResult]


@njit(cache=True)
def network_quench_kernel(x, gradient, work, fstate, istate, settings, kernel_args) -> int:
    """Minimise the MLP loss from ``x`` (overwritten) with state arrays from ``lbfgs_new_state``.

    ``kernel_args`` is the system's ``kernel_args`` tuple, handed to the kernel as it is. The state is
    zeroed first, so a run does not depend on the previous one. Returns the core's final code; the
    final point, gradient and energy are left in ``work`` / ``fstate`` (and copied into x, gradient).
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
    return code


def uses_compiled_quench(system) -> bool:
    """True when :func:`make_quench` gives ``system`` the compiled driver (an MLP loss)."""
    return getattr(system, "kernel", None) is mlp_kernels.kernel


class _CompiledNetworkQuench:
    """``quench(x0) -> OptimizeResult`` over the compiled driver, reusing its state arrays."""

    def __init__(self, system, settings: LBFGSSettings) -> None:
        self.system = system
        self.settings = settings
        self.n_dof = int(system.n_dof)
        self.memory = int(settings.memory)
        self._settings_array = settings.settings_array()
        self._work, self._fstate, self._istate = core.lbfgs_new_state(self.n_dof, self.memory)
        self._gradient = np.empty(self.n_dof)

    def __call__(self, x0: np.ndarray) -> OptimizeResult:
        x = np.array(x0, dtype=np.float64, order="C")  # our own copy: the driver writes trials into it
        if x.shape != (self.n_dof,):
            raise LflError(f"quench start must have shape ({self.n_dof},), got {x.shape}")
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise LflError(f"quench start contains {bad} NaN or infinite value(s)")
        code = network_quench_kernel(
            x, self._gradient, self._work, self._fstate, self._istate, self._settings_array, self.system.kernel_args
        )
        gradient = self._gradient.copy()
        return OptimizeResult(
            x=x,
            energy=float(self._fstate[core.F_ENERGY]),
            gradient=gradient,
            rms_gradient=math.sqrt(float(gradient @ gradient) / gradient.size),
            nit=int(self._istate[core.I_NIT]),
            nfev=int(self._istate[core.I_NFEV]),
            success=code == core.CONVERGED,
            message=core.MESSAGES[int(code)],
            n_resets=int(self._istate[core.I_RESETS]),
        )


def make_quench(system, settings: LBFGSSettings) -> Quench:
    """``quench(x0) -> OptimizeResult``: compiled for an MLP loss, the generic L-BFGS otherwise.

    The compiled quench holds state arrays and shares the system's kernel work array: use it from one
    thread at a time.
    """
    if not isinstance(settings, LBFGSSettings):
        raise LflError(f"make_quench needs LBFGSSettings, got {type(settings).__name__}")
    if uses_compiled_quench(system):
        return _CompiledNetworkQuench(system, settings)
    log.debug("no compiled quench for %s: using the generic L-BFGS driver", type(system).__name__)
    options = settings.as_dict()

    def quench(x0: np.ndarray) -> OptimizeResult:
        return minimize_lbfgs(system, x0, **options)

    return quench
