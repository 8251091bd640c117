"""GMIN-style L-BFGS for any :class:`~lfl.systems.base.System` (rules: :mod:`lfl.numerics.lbfgs_core`).

Two ways in:

- :func:`minimize_lbfgs` (scipy-like): one call, returns an :class:`OptimizeResult`;
- :class:`LBFGS` (ASE-like): an object to step and watch: ``.step()`` advances to the next accepted
  step and returns the state, ``.run()`` yields the state after every accepted step, ``.result()``
  gives the outcome so far.

Per evaluation the Python overhead is one ``system.energy_gradient`` call and one compiled call of
the step logic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

from lfl.errors import LflError
from lfl.numerics import lbfgs_core as core
from lfl.numerics.result import OptimizeResult

_RUNNING = "running"
_STOPPED_BY_CALLBACK = "stopped: the callback asked to stop"


@dataclass(frozen=True)
class LBFGSSettings:
    memory: int = 4
    max_step: float = 0.4
    initial_diag: float = 0.1
    max_rise: float | None = 1e-10  # None (or inf) disables the guard: forces that are not a gradient
    rms_gradient: float = 1e-9
    max_iterations: int = 10000

    def __post_init__(self) -> None:
        check_settings(self)

    def as_dict(self) -> dict:
        return asdict(self)

    def settings_array(self) -> np.ndarray:
        max_rise = math.inf if self.max_rise is None else float(self.max_rise)
        return core.lbfgs_settings(
            float(self.max_step), float(self.initial_diag), max_rise, float(self.rms_gradient), int(self.max_iterations)
        )


def check_settings(settings, error: type[LflError] = LflError) -> None:
    """Raise ``error`` with one line for the first setting out of range (shared with the LJAT3 data)."""
    if int(settings.memory) != settings.memory or settings.memory < 1:
        raise error(f"L-BFGS memory must be a whole number >= 1, got {settings.memory}")
    if not (settings.max_step > 0 and math.isfinite(settings.max_step)):
        raise error(f"L-BFGS max_step must be a positive number, got {settings.max_step}")
    if not (settings.initial_diag > 0 and math.isfinite(settings.initial_diag)):
        raise error(f"L-BFGS initial_diag must be a positive number, got {settings.initial_diag}")
    if settings.max_rise is not None and not settings.max_rise >= 0:
        raise error(f"L-BFGS max_rise must be >= 0 (or None to disable), got {settings.max_rise}")
    if not settings.rms_gradient >= 0:
        raise error(f"L-BFGS rms_gradient must be >= 0, got {settings.rms_gradient}")
    if int(settings.max_iterations) != settings.max_iterations or settings.max_iterations < 0:
        raise error(f"L-BFGS max_iterations must be a whole number >= 0, got {settings.max_iterations}")


class LBFGS:
    """One L-BFGS minimisation of ``system`` from ``x0``, advanced step by step."""

    def __init__(
        self,
        system,
        x0: np.ndarray,
        *,
        memory: int = 4,
        max_step: float = 0.4,
        initial_diag: float = 0.1,
        max_rise: float | None = 1e-10,
        rms_gradient: float = 1e-9,
        max_iterations: int = 10000,
    ) -> None:
        self.settings = LBFGSSettings(
            memory=memory,
            max_step=max_step,
            initial_diag=initial_diag,
            max_rise=max_rise,
            rms_gradient=rms_gradient,
            max_iterations=max_iterations,
        )
        self.system = system
        self._x = np.array(x0, dtype=np.float64).ravel()  # our own buffer: the core writes trials into it
        if self._x.size == 0:
            raise LflError("L-BFGS needs at least one variable, got an empty x0")
        self._settings = self.settings.settings_array()
        self._work, self._fstate, self._istate = core.lbfgs_new_state(self._x.size, int(memory))
        self._code = core.TRIAL
        self._message = _RUNNING
        # the start is evaluated like any trial: the first _advance hands it to the core

    # --- the one hot path ---------------------------------------------------------------------
    def _advance(self) -> int:
        """Evaluate the pending point and hand it to the core: one Python and one compiled call."""
        energy, gradient = self.system.energy_gradient(self._x)
        self._code = core.lbfgs_advance(
            self._x,
            float(energy),
            np.ascontiguousarray(gradient, dtype=np.float64),
            self._work,
            self._fstate,
            self._istate,
            self._settings,
        )
        return self._code

    @property
    def done(self) -> bool:
        return self._code > core.ACCEPTED or self._message == _STOPPED_BY_CALLBACK

    @property
    def started(self) -> bool:
        return self._istate[core.I_NFEV] > 0

    def step(self) -> OptimizeResult:
        """Advance to the next accepted step (or the end); return the state there."""
        if not self.done:
            code = self._advance()  # the start, when not yet evaluated, is no step: keep going
            while code == core.TRIAL:
                code = self._advance()
        return self.result()

    def run(self) -> Iterator[OptimizeResult]:
        """Yield the state after every accepted step until convergence or failure."""
        while not self.done:
            yield self.step()

    def stop(self) -> None:
        """End the run where it stands (what a callback's True does)."""
        if not self.done:
            self._message = _STOPPED_BY_CALLBACK

    def result(self) -> OptimizeResult:
        """The current (last accepted) point and how the run stands."""
        memory = self.settings.memory
        x = self._work[2 * memory].copy()
        gradient = self._work[2 * memory + 1].copy()
        if self._code > core.ACCEPTED:
            message = core.MESSAGES[self._code]
        elif not self.started:
            message = "not started"
        else:
            message = self._message
        return OptimizeResult(
            x=x,
            energy=float(self._fstate[core.F_ENERGY]),
            gradient=gradient,
            rms_gradient=float(np.sqrt(gradient @ gradient / gradient.size)),
            nit=int(self._istate[core.I_NIT]),
            nfev=int(self._istate[core.I_NFEV]),
            success=self._code == core.CONVERGED,
            message=message,
            n_resets=int(self._istate[core.I_RESETS]),
        )


def minimize_lbfgs(
    system,
    x0: np.ndarray,
    *,
    memory: int = 4,
    max_step: float = 0.4,
    initial_diag: float = 0.1,
    max_rise: float | None = 1e-10,
    rms_gradient: float = 1e-9,
    max_iterations: int = 10000,
    callback: Callable[[OptimizeResult], bool | None] | None = None,
) -> OptimizeResult:
    """Minimise ``system`` from ``x0``; ``callback(state)`` after each accepted step may return True to stop."""
    optimiser = LBFGS(
        system,
        x0,
        memory=memory,
        max_step=max_step,
        initial_diag=initial_diag,
        max_rise=max_rise,
        rms_gradient=rms_gradient,
        max_iterations=max_iterations,
    )
    advance = optimiser._advance
    if callback is None:
        code = advance()
        while code <= core.ACCEPTED:
            code = advance()
        return optimiser.result()
    reported = 0
    code = advance()
    while True:
        if optimiser._istate[core.I_NIT] != reported:  # every accepted step, the last one included
            reported = int(optimiser._istate[core.I_NIT])
            if callback(optimiser.result()):
                optimiser.stop()
                break
        if code > core.ACCEPTED:
            break
        code = advance()
    return optimiser.result()
