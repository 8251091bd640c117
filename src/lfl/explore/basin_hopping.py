"""Basin-hopping (SCIENCE.md §6): perturb, quench, verify, Metropolis; every distinct minimum is kept.

Pure: the caller supplies the quench (``x -> OptimizeResult``) and the verification
(``x -> (n_negative, lowest_eigenvalue, log_product_of_positive_eigenvalues)``), so the same walk
serves any system and any minimiser (the generic L-BFGS, or a compiled driver for networks).

A walk is cut into chunks that continue one another exactly: chunk k draws from
``default_rng([seed, k])`` and starts from the state the previous chunk ended in, so running more
steps later adds chunks instead of recomputing the old ones.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np

from lfl.errors import LflError
from lfl.numerics.result import OptimizeResult

log = logging.getLogger(__name__)

Quench = Callable[[np.ndarray], OptimizeResult]
Verify = Callable[[np.ndarray], tuple[int, float, float]]


@dataclass(frozen=True)
class BasinHoppingSettings:
    step_size: float = 1.0
    temperature: float = 1e-2
    adaptive: bool = True
    target_acceptance: float = 0.5
    adapt_interval: int = 10
    adapt_factor: float = 0.9
    min_step_size: float = 1e-3
    max_step_size: float = 10.0

    def __post_init__(self) -> None:
        if not self.step_size > 0:
            raise LflError(f"basin-hopping step_size must be positive, got {self.step_size}")
        if not self.temperature >= 0:
            raise LflError(f"basin-hopping temperature must be >= 0, got {self.temperature}")
        if not 0 < self.adapt_factor < 1:
            raise LflError(f"basin-hopping adapt_factor must lie in (0, 1), got {self.adapt_factor}")


@dataclass
class WalkerState:
    """Where a walk stands between chunks: the current minimum and the step size in force."""

    x: np.ndarray
    energy: float
    step_size: float
    steps_done: int = 0
    n_accepted: int = 0


@dataclass
class VerifiedMinimum:
    x: np.ndarray
    energy: float
    rms_gradient: float
    n_negative: int
    lowest_eigenvalue: float
    log_prod_positive: float
    step: int


@dataclass
class BasinHoppingReport:
    minima: list[VerifiedMinimum] = field(default_factory=list)
    n_quenches: int = 0
    n_unconverged: int = 0
    n_not_minimum: int = 0  # converged on a point with a negative Hessian eigenvalue
    n_unverified: int = 0  # converged, but the Hessian check could not establish the index: not kept
    n_accepted: int = 0
    n_iterations: int = 0
    seconds: float = 0.0
    state: WalkerState | None = None

    @property
    def quenches_per_second(self) -> float:
        return self.n_quenches / self.seconds if self.seconds > 0 else math.nan


def combined_report(reports: list[BasinHoppingReport]) -> BasinHoppingReport:
    """The walkers of a lockstep run as one report: minima in walker order, counts summed, the wall
    time of the run (they ran together); ``state`` stays None (each walker has its own)."""
    combined = BasinHoppingReport()
    for report in reports:
        combined.minima.extend(report.minima)
        for name in ("n_quenches", "n_unconverged", "n_not_minimum", "n_unverified", "n_accepted", "n_iterations"):
            setattr(combined, name, getattr(combined, name) + getattr(report, name))
    combined.seconds = max((r.seconds for r in reports), default=0.0)
    return combined


def metropolis_accept(e_new: float, e_old: float, temperature: float, rng: np.random.Generator) -> bool:
    """min(1, exp(-(E_new - E_old)/T)); downhill always; T = 0 accepts downhill only.

    One uniform number is drawn per call whatever the outcome, so the random stream (and hence the
    walk) does not depend on how earlier comparisons came out numerically at the margin.
    """
    u = rng.random()
    if e_new <= e_old:
        return True
    if temperature == 0.0:
        return False
    return u < math.exp(-(e_new - e_old) / temperature)


def classify_quench(result: OptimizeResult, verdict: tuple[int, float, float] | None, step: int,
                    report: BasinHoppingReport) -> VerifiedMinimum | None:
    """Count one quench (and its verification: None when it did not converge) in ``report``; the
    minimum when it is one."""
    report.n_quenches += 1
    report.n_iterations += result.nit
    if not result.success:
        report.n_unconverged += 1
        return None
    n_negative, lowest, log_prod = verdict
    if n_negative != 0:  # a saddle, or a point the check could not verify (negative index)
        if n_negative < 0:
            report.n_unverified += 1
        else:
            report.n_not_minimum += 1
        return None
    return VerifiedMinimum(result.x, float(result.energy), float(result.rms_gradient), int(n_negative),
                           float(lowest), float(log_prod), step)


def _verified(x0: np.ndarray, quench: Quench, verify: Verify, step: int, report: BasinHoppingReport):
    result = quench(x0)
    return classify_quench(result, verify(result.x) if result.success else None, step, report)


# A walk program yields (trial point, step number) and is sent the verified minimum its quench ended
# in (None: none); it returns the walker state it ends in. The serial driver answers with one quench at
# a time, :mod:`lfl.explore.lockstep` answers many programs' trials with batched evaluations: both run
# the same rules and draw the same random numbers.
WalkProgram = Generator[tuple[np.ndarray, int], "VerifiedMinimum | None", WalkerState]


def start_program(x0: np.ndarray, *, step_size: float, report: BasinHoppingReport, max_tries: int = 10,
                  rng: np.random.Generator | None = None) -> WalkProgram:
    """:func:`start_walk` as a walk program."""
    x = np.array(x0, dtype=np.float64)
    for _ in range(max_tries):
        found = yield x, 0
        if found is not None:
            report.minima.append(found)
            return WalkerState(found.x.copy(), found.energy, step_size)
        if rng is None:
            break
        x = x + rng.uniform(-step_size, step_size, size=x.size)
    raise LflError(f"basin-hopping could not start: no verified minimum from the start after {max_tries} quenches")


def walk_program(state: WalkerState, *, n_steps: int, settings: BasinHoppingSettings, rng: np.random.Generator,
                 report: BasinHoppingReport) -> WalkProgram:
    """:func:`basin_hopping` as a walk program (sets ``report.state`` at the end)."""
    if n_steps < 1:
        raise LflError(f"basin-hopping needs at least 1 step, got {n_steps}")
    current = WalkerState(state.x.copy(), state.energy, state.step_size, state.steps_done, state.n_accepted)
    accepted_since_adapt = 0
    for step in range(1, n_steps + 1):
        trial = current.x + rng.uniform(-current.step_size, current.step_size, size=current.x.size)
        found = yield trial, current.steps_done + 1
        accepted = False
        if found is not None:
            report.minima.append(found)
            accepted = metropolis_accept(found.energy, current.energy, settings.temperature, rng)
        if accepted:
            current.x, current.energy = found.x.copy(), found.energy
            current.n_accepted += 1
            report.n_accepted += 1
            accepted_since_adapt += 1
        current.steps_done += 1
        if settings.adaptive and step % settings.adapt_interval == 0:
            ratio = accepted_since_adapt / settings.adapt_interval
            factor = 1.0 / settings.adapt_factor if ratio > settings.target_acceptance else settings.adapt_factor
            current.step_size = min(settings.max_step_size, max(settings.min_step_size, current.step_size * factor))
            accepted_since_adapt = 0
    report.state = current
    return current


def _drive(program: WalkProgram, quench: Quench, verify: Verify, report: BasinHoppingReport, on_step=None):
    """Run a walk program serially: one quench and verification per trial."""
    trial, step = next(program)
    while True:
        found = _verified(trial, quench, verify, step, report)
        if on_step is not None:
            on_step()
        try:
            trial, step = program.send(found)
        except StopIteration as stop:
            return stop.value


def start_walk(x0: np.ndarray, *, quench: Quench, verify: Verify, step_size: float,
               report: BasinHoppingReport, max_tries: int = 10,
               rng: np.random.Generator | None = None) -> WalkerState:
    """Quench a starting point into a verified minimum (retrying from perturbed points if needed)."""
    program = start_program(x0, step_size=step_size, report=report, max_tries=max_tries, rng=rng)
    return _drive(program, quench, verify, report)


def basin_hopping(
    state: WalkerState,
    *,
    n_steps: int,
    settings: BasinHoppingSettings,
    rng: np.random.Generator,
    quench: Quench,
    verify: Verify,
    report: BasinHoppingReport | None = None,
    progress: Callable[[BasinHoppingReport, int], None] | None = None,
    progress_interval: float = 5.0,
) -> BasinHoppingReport:
    """Run ``n_steps`` steps from ``state``; every verified minimum goes into the report (accepted or not)."""
    report = report or BasinHoppingReport()
    program = walk_program(state, n_steps=n_steps, settings=settings, rng=rng, report=report)
    started = time.perf_counter()
    clock = {"last": started, "step": 0}

    def on_step() -> None:
        clock["step"] += 1
        now = time.perf_counter()
        if progress is not None and now - clock["last"] >= progress_interval:
            report.seconds = now - started
            progress(report, clock["step"])
            clock["last"] = now

    _drive(program, quench, verify, report, on_step)
    report.seconds = time.perf_counter() - started
    return report


def distinct_minima(minima: list[VerifiedMinimum], *, energy_tol: float, distance_tol: float,
                    distance: Callable[[np.ndarray, np.ndarray], float] | None,
                    by_energy_only: bool = False) -> list[VerifiedMinimum]:
    """One representative per distinct minimum, by the database's identity rule."""
    return distinct_minima_counted(minima, energy_tol=energy_tol, distance_tol=distance_tol, distance=distance,
                                   by_energy_only=by_energy_only)[0]


def distinct_minima_counted(minima: list[VerifiedMinimum], *, energy_tol: float, distance_tol: float,
                            distance: Callable[[np.ndarray, np.ndarray], float] | None,
                            by_energy_only: bool = False) -> tuple[list[VerifiedMinimum], np.ndarray]:
    """(representatives, how many of ``minima`` each one stands for): the walk's sightings of each."""
    from lfl.identity.dedup import match_batch

    if not minima:
        return [], np.zeros(0, dtype=np.int64)
    energies = np.array([m.energy for m in minima])
    coords = None if by_energy_only else np.array([m.x for m in minima])
    match = match_batch(energies, coords, np.empty(0), None if coords is None else np.empty((0, coords.shape[1])),
                        energy_tol=energy_tol, distance_tol=distance_tol, distance=distance)
    new = np.flatnonzero(match.is_new)
    counts = np.bincount(match.batch_rep, minlength=len(minima))[new]
    return [minima[k] for k in new.tolist()], counts.astype(np.int64)
