"""Basin-hopping walkers in lockstep: B walks of one network loss, their evaluations batched.

A walk on a wide network ([784,10,10,1000,0.1], 7,960 weights) spends its time in two kinds of
products with the data matrix X (784 x 1000): the first layer's W_1 X and delta_1 X^T of every
gradient, and the same two products of every Hessian-vector product that verifies a minimum. For one
walker these are matrix-vector-like (10 rows against 784 x 1000) and X streams from memory each time;
B walkers stack their rows (10 B against X), so X is read once for all of them.

Each walker runs the same walk program as the serial driver (:func:`lfl.explore.basin_hopping.walk_program`,
its own random stream), and each trial runs the same L-BFGS rules (:mod:`lfl.numerics.lbfgs_core`) and
the same verification (:func:`lfl.explore.eigenvector_following.hessian_index`'s Lanczos, seeded start,
and its ARPACK fallback), written here as generators of requests:

- ``GRADIENT x``: energy and gradient at x (answered for all walkers by one ``batch_kernel`` call);
- ``TAPE x``: keep the forward/backward pass at x for the products to come (:meth:`MLPSystem.fill_tapes`);
- ``PRODUCT v``: Hessian @ v at the walker's taped point (one ``hessian_vector_batch`` call for all).

Walkers never wait for each other: whichever requests are pending are answered together, so a walker
that finishes its quench early verifies or starts its next step while the others still descend. The
minima are those of the walkers run one at a time with the same seeds; only the rounding of the
stacked products differs (BLAS blocks a 10 B-row product differently from a 10-row one), so the
points agree to round-off, not bit for bit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Generator

import numpy as np

from lfl.errors import LflError
from lfl.explore.basin_hopping import (
    BasinHoppingReport, BasinHoppingSettings, WalkerState, WalkProgram, classify_quench, start_program, walk_program,
)
from lfl.explore.eigenvector_following import (
    VERIFY_MAX_PRODUCTS, VERIFY_TOL, hessian_index, index_from_arpack, index_from_lanczos,
)
from lfl.explore.network_quench import HessianPreconditioning, uses_compiled_quench
from lfl.numerics import lbfgs_core as core
from lfl.numerics.lanczos import LanczosLowest
from lfl.numerics.lbfgs import LBFGSSettings
from lfl.numerics.result import OptimizeResult
from lfl.systems import mlp_kernels

log = logging.getLogger(__name__)

GRADIENT, TAPE, PRODUCT = "gradient", "tape", "product"
Request = tuple[str, np.ndarray]


class _Trial:
    """One walker's quench-and-verify machinery (its L-BFGS state arrays are reused trial after trial)."""

    def __init__(self, system, settings: LBFGSSettings, dense_max: int) -> None:
        self.system = system
        self.n = int(system.n_dof)
        self.settings_array = settings.settings_array()
        self.work, self.fstate, self.istate = core.lbfgs_new_state(self.n, int(settings.memory))
        self.dense_max = int(dense_max)

    def quench(self, x0: np.ndarray) -> Generator[Request, tuple[float, np.ndarray], OptimizeResult]:
        """network_quench_kernel's loop, one evaluation per request."""
        x = np.array(x0, dtype=np.float64)
        gradient = np.empty(self.n)
        self.work[:] = 0.0
        self.fstate[:] = 0.0
        self.istate[:] = 0
        code = core.TRIAL
        while code <= core.ACCEPTED:
            energy, gradient[:] = yield GRADIENT, x
            code = core.lbfgs_advance(x, energy, gradient, self.work, self.fstate, self.istate, self.settings_array)
        core.lbfgs_restore_current(x, gradient, self.work)
        return OptimizeResult(
            x=x, energy=float(self.fstate[core.F_ENERGY]), gradient=gradient,
            rms_gradient=math.sqrt(float(gradient @ gradient) / gradient.size), nit=int(self.istate[core.I_NIT]),
            nfev=int(self.istate[core.I_NFEV]), success=code == core.CONVERGED, message=core.MESSAGES[int(code)],
            n_resets=int(self.istate[core.I_RESETS]),
        )

    def verify(self, x: np.ndarray) -> Generator[Request, np.ndarray | None, tuple[int, float, float]]:
        """hessian_index(system, x, dense_max=dense_max), its products requested."""
        if self.n <= self.dense_max:
            return hessian_index(self.system, x, dense_max=self.dense_max)
        yield TAPE, x
        lanczos = LanczosLowest(self.n, n_eigen=2, tol=VERIFY_TOL, max_steps=VERIFY_MAX_PRODUCTS)
        while not lanczos.done:
            lanczos.feed((yield PRODUCT, lanczos.vector))
        return index_from_lanczos(lanczos.result()) or index_from_arpack(self.system, x, 2, 0.0)

    def run(self, program: WalkProgram, report: BasinHoppingReport) -> Generator[Request, object, WalkerState]:
        """Answer every trial of a walk program with a quench and a verification."""
        trial, step = next(program)
        while True:
            result = yield from self.quench(trial)
            verdict = (yield from self.verify(result.x)) if result.success else None
            found = classify_quench(result, verdict, step, report)
            try:
                trial, step = program.send(found)
            except StopIteration as stop:
                return stop.value


def check_lockstep(system, settings: LBFGSSettings, precondition: HessianPreconditioning | None) -> None:
    """Lockstep walkers need a network loss and the plain L-BFGS (no Hessian preconditioning)."""
    if not uses_compiled_quench(system):
        raise LflError(f"lockstep walkers need a network loss, got {type(system).__name__}")
    if precondition is not None and precondition.applies(int(system.n_dof), settings):
        raise LflError(
            f"lockstep walkers use plain L-BFGS: set network_minimiser.precondition_max_weights below "
            f"{system.n_dof} (or precondition_below_rms: 0) for this network, or use one walker per run"
        )


def run_lockstep(system, programs: list[Generator[Request, object, WalkerState]], *,
                 progress_interval: float = 5.0, name: str = "lockstep") -> list[WalkerState]:
    """Drive request generators (from :meth:`_Trial.run`) to the end, answering the pending requests
    of all of them together; the walker states they end in."""
    n_walkers = len(programs)
    tapes = None
    pending: dict[int, Request] = {}
    ends: list[WalkerState | None] = [None] * n_walkers

    def answer(walker: int, value) -> None:
        try:
            pending[walker] = programs[walker].send(value)
        except StopIteration as stop:
            ends[walker] = stop.value
            pending.pop(walker, None)

    for walker in range(n_walkers):
        answer(walker, None)
    kernel_args = system.kernel_args
    started = last = time.perf_counter()
    rounds = 0
    while pending:
        rounds += 1
        asking = [w for w, (kind, _) in pending.items() if kind == GRADIENT]
        if asking:
            xs = np.array([pending[w][1] for w in asking])
            energies = np.empty(len(asking))
            gradients = np.empty_like(xs)
            mlp_kernels.batch_kernel(xs, energies, gradients, *kernel_args)
            for row, walker in enumerate(asking):
                answer(walker, (float(energies[row]), gradients[row]))
        asking = [w for w, (kind, _) in pending.items() if kind == TAPE]
        if asking:
            if tapes is None:
                tapes = system.new_tapes(n_walkers)
            system.fill_tapes(np.array([pending[w][1] for w in asking]), tapes, np.array(asking))
            for walker in asking:
                answer(walker, None)
        asking = [w for w, (kind, _) in pending.items() if kind == PRODUCT]
        if asking:
            products = system.hessian_vector_batch(np.array([pending[w][1] for w in asking]), np.array(asking), tapes)
            for row, walker in enumerate(asking):
                answer(walker, products[row])
        now = time.perf_counter()
        if now - last >= progress_interval:
            log.info("%s: %d of %d walkers running, %d evaluation rounds, %.0f s", name, len(pending), n_walkers,
                     rounds, now - started)
            last = now
    return ends


def lockstep_basin_hopping(
    system,
    walkers: list[tuple[WalkerState | np.ndarray, np.random.Generator]],
    *,
    n_steps: int,
    settings: BasinHoppingSettings,
    lbfgs: LBFGSSettings,
    dense_max: int = 1000,
    name: str = "lockstep",
) -> list[BasinHoppingReport]:
    """B basin-hopping walks in lockstep; one report per walker, as :func:`basin_hopping` gives it.

    ``walkers``: (state, rng) to continue a walk, or (starting point, rng) to start one (quenched into
    a verified minimum as :func:`start_walk` does, perturbed by ``rng`` on failure, then ``n_steps``
    steps). ``dense_max``: minima of networks up to this many weights are verified densely (one at a
    time), larger ones by the batched Lanczos.
    """
    if not walkers:
        raise LflError("lockstep basin-hopping needs at least one walker")
    reports = [BasinHoppingReport() for _ in walkers]
    requests = []
    for (start, rng), report in zip(walkers, reports):
        program = _walker_program(start, rng, report, n_steps=n_steps, settings=settings)
        requests.append(_Trial(system, lbfgs, dense_max).run(program, report))
    started = time.perf_counter()
    run_lockstep(system, requests, name=name)
    seconds = time.perf_counter() - started
    for report in reports:
        report.seconds = seconds
    return reports


def _walker_program(start, rng, report, *, n_steps, settings) -> WalkProgram:
    if isinstance(start, WalkerState):
        state = start
    else:
        state = yield from start_program(start, step_size=settings.step_size, report=report, rng=rng)
    return (yield from walk_program(state, n_steps=n_steps, settings=settings, rng=rng, report=report))
