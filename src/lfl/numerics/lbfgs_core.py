"""The step logic of the GMIN-style L-BFGS, compiled, in reverse-communication style.

No function is passed in: the caller evaluates the energy and gradient at ``x`` and hands them to
:func:`lbfgs_advance`, which returns a code saying what to do next. The same compiled core therefore
serves the Python driver (:mod:`lfl.numerics.lbfgs`, any :class:`~lfl.systems.base.System`) and
compiled drivers specialised to one system (the LJAT3 batch in :mod:`lfl.data.ljat3`), without the
per-process recompilation that a jitted function passed as an argument costs.

The rules (SCIENCE.md §1, after GMIN's ``mylbfgs``):

- memory of M (s, y) pairs; every pair is kept, negative curvature included. A pair with
  ``s.y == 0`` or ``y == 0`` carries no curvature at all and resets the memory instead;
- inverse-Hessian guess ``initial_diag`` for a step from an empty memory, with GMIN's cautious
  scale ``min(1/|g|, |g|)``; afterwards ``H0 = s.y / y.y`` of the newest pair (sign kept, as GMIN);
- no line search: a direction pointing uphill is reversed, the step is cut to ``max_step``;
- if the energy rises by more than ``max_rise`` the step is divided by 10 and tried again; after
  10 cuts the memory is reset and a steepest-descent step tried from the same point; if that fails
  the same way, the run stops (it would repeat itself exactly);
- a step too small to change ``x`` (round-off; typically after a first pair from overlapping atoms,
  energy ~1e22, that makes ``H0`` collapse) resets the memory; a steepest-descent step that small
  stops the run as stalled;
- converged when ``|g| / sqrt(n) < rms_gradient`` at an accepted point.

Protocol::

    work, fstate, istate = lbfgs_new_state(n, memory)
    settings = lbfgs_settings(max_step, initial_diag, max_rise, rms_gradient, max_iterations)
    energy = evaluate(x, gradient)                  # the start
    code = lbfgs_advance(x, energy, gradient, work, fstate, istate, settings)
    while code == TRIAL or code == ACCEPTED:        # x now holds a trial point
        energy = evaluate(x, gradient)
        code = lbfgs_advance(x, energy, gradient, work, fstate, istate, settings)
    # on every code the current (best accepted) point is work[x_row], work[g_row], fstate[F_ENERGY];
    # lbfgs_restore_current copies it back into x and gradient.

``lbfgs_advance`` writes only ``x``; it never writes the caller's gradient array.

Cost: the two-loop recursion is 4 M n multiply-adds per step. From ``FUSED_MIN_N`` variables on
(networks) it runs fused passes with SIMD dot products, 6.6 us for n = 74, M = 100 instead of 27 us
(whose sequential sums wait on the adder's latency); below it (LJAT3) the sums stay sequential, so
LJAT3 labels are bitwise what they were.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lfl import kernel_cache

kernel_cache.install()

# --- return codes of lbfgs_advance -------------------------------------------------------------
TRIAL = 0  # x holds a (new or cut) trial point: evaluate it and call again
ACCEPTED = 1  # the last trial was accepted (now the current point); x holds the next trial
CONVERGED = 2
MAX_ITERATIONS = 3
FAILED_NO_DESCENT = 4  # even a steepest-descent step cut 10 times raised the energy
FAILED_STALLED = 5  # even a steepest-descent step is below round-off
FAILED_NOT_FINITE = 6  # the starting energy or gradient is NaN or infinite

MESSAGES = {
    CONVERGED: "converged: RMS gradient below tolerance",
    MAX_ITERATIONS: "stopped: maximum number of iterations reached before convergence",
    FAILED_NO_DESCENT: "failed: no step lowers the energy, even steepest descent cut 10 times after a memory reset",
    FAILED_STALLED: "failed: the step fell below round-off, even steepest descent after a memory reset",
    FAILED_NOT_FINITE: "failed: the starting energy or gradient is not finite",
}

# --- layout of the state arrays ------------------------------------------------------------------
# work rows: s_0..s_{M-1}, y_0..y_{M-1}, then the current point, its gradient, the search direction
# fstate: current energy, step scale, H0, then rho_0..rho_{M-1}, alpha_0..alpha_{M-1}
F_ENERGY = 0
F_STP = 1
F_H0 = 2
F_HEAD = 3
# istate
I_PAIRS = 0  # pairs held (0..M)
I_POINT = 1  # slot of the next pair
I_CUTS = 2  # step cuts of the current step
I_NIT = 3  # accepted steps
I_NFEV = 4  # evaluations handed to lbfgs_advance
I_PHASE = 5  # 0: the next call brings the start, 1: it brings a trial
I_FROM_EMPTY = 6  # 1 when the current trial direction came from an empty memory
I_RESETS = 7  # memory resets (diagnostic)
I_CODE = 8  # last code returned
I_SIZE = 9
# settings
S_MAX_STEP = 0
S_INITIAL_DIAG = 1
S_MAX_RISE = 2
S_RMS_TOL = 3
S_MAX_ITER = 4
S_SIZE = 5

MAX_CUTS = 10
# from this many variables on, the two-loop recursion takes the fused pass with SIMD dot products
# (networks); below it (LJAT3: 9) the sums stay sequential, so those runs are bitwise unchanged
FUSED_MIN_N = 32
# a step shorter than this times |x| cannot move x (a few ulps at most)
_ROUND_OFF = 8.0 * np.finfo(np.float64).eps


# Small helpers are inlined at numba-IR level (inline="always"): about 25 % of the step time of a
# 9-variable system went to call boundaries. The larger _direction and _propose stay calls.


@njit(cache=True)
def lbfgs_new_state(n: int, memory: int):
    """Fresh state arrays (work, fstate, istate) for n variables and M = memory pairs."""
    work = np.zeros((2 * memory + 3, n))
    fstate = np.zeros(F_HEAD + 2 * memory)
    istate = np.zeros(I_SIZE, dtype=np.int64)
    return work, fstate, istate


@njit(cache=True)
def lbfgs_settings(max_step: float, initial_diag: float, max_rise: float, rms_gradient: float, max_iterations: int):
    """The settings array lbfgs_advance reads (max_rise = inf disables the energy guard)."""
    settings = np.empty(S_SIZE)
    settings[S_MAX_STEP] = max_step
    settings[S_INITIAL_DIAG] = initial_diag
    settings[S_MAX_RISE] = max_rise
    settings[S_RMS_TOL] = rms_gradient
    settings[S_MAX_ITER] = max_iterations
    return settings


@njit(cache=True, inline="always")
def lbfgs_memory(work) -> int:
    return (work.shape[0] - 3) // 2


@njit(cache=True)
def lbfgs_restore_current(x, gradient, work) -> None:
    """Copy the current (last accepted) point and its gradient into x and gradient."""
    memory = lbfgs_memory(work)
    x[:] = work[2 * memory]
    gradient[:] = work[2 * memory + 1]


@njit(cache=True, inline="always")
def lbfgs_rms(gradient) -> float:
    """RMS of a vector: |g| / sqrt(n)."""
    total = 0.0
    for i in range(gradient.shape[0]):
        total += gradient[i] * gradient[i]
    return np.sqrt(total / gradient.shape[0])


@njit(cache=True, inline="always")
def _all_finite(a) -> bool:
    for i in range(a.shape[0]):
        if not np.isfinite(a[i]):
            return False
    return True


@njit(cache=True, inline="always")
def _reset_memory(istate) -> None:
    istate[I_PAIRS] = 0
    istate[I_POINT] = 0
    istate[I_RESETS] += 1


@njit(cache=True, fastmath={"reassoc", "contract"})
def _two_loop_fused(work, fstate, pairs: int, newest: int) -> None:
    """direction row = -H g by the two-loop recursion, for n >= FUSED_MIN_N (the network quench).

    Each pass over the direction both applies one pair's update and takes the dot product the next
    pair needs (half the passes of the textbook loops), and the dot products are split over SIMD lanes
    (``reassoc``): about 4x faster than :func:`_two_loop` for 74 variables and M = 100 (6.6 against
    27 us here). The rounding differs from the sequential loop by a few ulps; it is deterministic on
    one machine (the lanes follow the vector width the compiler picks for it).
    """
    memory = lbfgs_memory(work)
    n = work.shape[1]
    gi = 2 * memory + 1
    di = 2 * memory + 2
    rho = F_HEAD
    alpha = F_HEAD + memory
    h0 = fstate[F_H0]
    slot = newest
    acc = 0.0
    for i in range(n):
        v = -work[gi, i]
        work[di, i] = v
        acc += work[slot, i] * v
    for k in range(pairs):  # newest to oldest; acc = s_slot . q on entry
        a = acc * fstate[rho + slot]
        fstate[alpha + slot] = a
        yi = memory + slot
        slot = slot - 1 if slot > 0 else memory - 1
        acc = 0.0
        if k == pairs - 1:
            for i in range(n):
                work[di, i] = (work[di, i] - a * work[yi, i]) * h0
        else:
            for i in range(n):
                v = work[di, i] - a * work[yi, i]
                work[di, i] = v
                acc += work[slot, i] * v
    slot = slot + 1 if slot < memory - 1 else 0  # the oldest pair
    acc = 0.0
    for i in range(n):
        acc += work[memory + slot, i] * work[di, i]
    for k in range(pairs):  # oldest to newest; acc = y_slot . r on entry
        b = fstate[alpha + slot] - fstate[rho + slot] * acc
        si = slot
        slot = slot + 1 if slot < memory - 1 else 0
        yi = memory + slot
        acc = 0.0
        if k == pairs - 1:
            for i in range(n):
                work[di, i] += b * work[si, i]
        else:
            for i in range(n):
                v = work[di, i] + b * work[si, i]
                work[di, i] = v
                acc += work[yi, i] * v


@njit(cache=True, inline="always")
def _two_loop(work, fstate, pairs: int, newest: int) -> None:
    """direction row = -H g by the textbook two-loop recursion, sums in sequential order (small n:
    the LJAT3 data generation, whose labels must not depend on the machine's vector width)."""
    memory = lbfgs_memory(work)
    n = work.shape[1]
    gi = 2 * memory + 1
    di = 2 * memory + 2
    rho = F_HEAD
    alpha = F_HEAD + memory
    for i in range(n):
        work[di, i] = -work[gi, i]
    slot = newest
    for _ in range(pairs):  # newest to oldest
        a = 0.0
        for i in range(n):
            a += work[slot, i] * work[di, i]
        a *= fstate[rho + slot]
        fstate[alpha + slot] = a
        for i in range(n):
            work[di, i] -= a * work[memory + slot, i]
        slot -= 1
        if slot < 0:
            slot = memory - 1
    h0 = fstate[F_H0]
    for i in range(n):
        work[di, i] *= h0
    for _ in range(pairs):  # oldest to newest
        slot += 1
        if slot == memory:
            slot = 0
        b = 0.0
        for i in range(n):
            b += work[memory + slot, i] * work[di, i]
        b = fstate[alpha + slot] - fstate[rho + slot] * b
        for i in range(n):
            work[di, i] += b * work[slot, i]


@njit(cache=True)
def _direction(work, fstate, istate, settings) -> None:
    """Search direction into the direction row and its scale into fstate[F_STP] (GMIN's rules).

    Written with 2-d indexing instead of row views: views cost reference counting in the hot loop.
    """
    memory = lbfgs_memory(work)
    n = work.shape[1]
    gi = 2 * memory + 1
    di = 2 * memory + 2
    pairs = istate[I_PAIRS]
    if pairs == 0:
        diag = settings[S_INITIAL_DIAG]
        gg = 0.0
        for i in range(n):
            work[di, i] = -diag * work[gi, i]
            gg += work[gi, i] * work[gi, i]
        gnorm = np.sqrt(gg)
        if gnorm == 0.0:
            gnorm = 1.0
        stp = min(1.0 / gnorm, gnorm)  # GMIN: a cautious first step
        istate[I_FROM_EMPTY] = 1
    else:
        newest = istate[I_POINT] - 1
        if newest < 0:
            newest = memory - 1
        if n >= FUSED_MIN_N:
            _two_loop_fused(work, fstate, pairs, newest)
        else:
            _two_loop(work, fstate, pairs, newest)
        stp = 1.0
        istate[I_FROM_EMPTY] = 0
    gd = 0.0
    dd = 0.0
    for i in range(n):
        gd += work[gi, i] * work[di, i]
        dd += work[di, i] * work[di, i]
    # no line search: an uphill direction is reversed (negative curvature pairs can cause one)
    if gd > 0.0:
        for i in range(n):
            work[di, i] = -work[di, i]
    length = np.sqrt(dd)
    if stp * length > settings[S_MAX_STEP]:
        stp = settings[S_MAX_STEP] / length
    fstate[F_STP] = stp


@njit(cache=True, inline="always")
def _place_trial(x, work, fstate) -> None:
    memory = lbfgs_memory(work)
    xi = 2 * memory
    di = 2 * memory + 2
    stp = fstate[F_STP]
    for i in range(x.shape[0]):
        x[i] = work[xi, i] + stp * work[di, i]


@njit(cache=True, inline="always")
def _step_collapsed(work, fstate) -> bool:
    memory = lbfgs_memory(work)
    xi = 2 * memory
    di = 2 * memory + 2
    dd = 0.0
    xx = 0.0
    for i in range(work.shape[1]):
        dd += work[di, i] * work[di, i]
        xx += work[xi, i] * work[xi, i]
    return not (fstate[F_STP] * np.sqrt(dd) > _ROUND_OFF * np.sqrt(xx))


@njit(cache=True)
def _propose(x, work, fstate, istate, settings) -> int:
    """Next trial from the current point: TRIAL, or FAILED_STALLED if even a reset cannot move x."""
    _direction(work, fstate, istate, settings)
    if _step_collapsed(work, fstate):
        if istate[I_FROM_EMPTY] == 1:
            return FAILED_STALLED
        _reset_memory(istate)
        _direction(work, fstate, istate, settings)
        if _step_collapsed(work, fstate):
            return FAILED_STALLED
    istate[I_CUTS] = 0
    _place_trial(x, work, fstate)
    return TRIAL


@njit(cache=True, inline="always")
def _finish(x, work, istate, code: int) -> int:
    """Leave x at the current point for a terminal code."""
    xi = 2 * lbfgs_memory(work)
    for i in range(x.shape[0]):
        x[i] = work[xi, i]
    istate[I_CODE] = code
    return code


@njit(cache=True, inline="always")
def _store_pair(x, gradient, work, fstate, istate) -> None:
    memory = lbfgs_memory(work)
    xi = 2 * memory
    gi = 2 * memory + 1
    slot = istate[I_POINT]
    yi = memory + slot
    ys = 0.0
    yy = 0.0
    for i in range(x.shape[0]):
        s = x[i] - work[xi, i]
        y = gradient[i] - work[gi, i]
        work[slot, i] = s
        work[yi, i] = y
        ys += y * s
        yy += y * y
    if ys == 0.0 or yy == 0.0 or not np.isfinite(ys) or not np.isfinite(yy):
        _reset_memory(istate)  # no curvature information at all: start afresh
        return
    fstate[F_HEAD + slot] = 1.0 / ys
    fstate[F_H0] = ys / yy
    istate[I_POINT] = (slot + 1) % memory
    if istate[I_PAIRS] < memory:
        istate[I_PAIRS] += 1


@njit(cache=True, inline="always")
def _accept(x, energy, gradient, work, fstate, istate) -> None:
    memory = lbfgs_memory(work)
    xi = 2 * memory
    gi = 2 * memory + 1
    for i in range(x.shape[0]):
        work[xi, i] = x[i]
        work[gi, i] = gradient[i]
    fstate[F_ENERGY] = energy


@njit(cache=True)
def lbfgs_advance(x, energy: float, gradient, work, fstate, istate, settings) -> int:
    """Take the energy and gradient at x (the start, then each trial); return what to do next."""
    istate[I_NFEV] += 1
    if istate[I_PHASE] == 0:  # the start
        istate[I_PHASE] = 1
        if not (np.isfinite(energy) and _all_finite(gradient)):
            _accept(x, energy, gradient, work, fstate, istate)
            return _finish(x, work, istate, FAILED_NOT_FINITE)
        _accept(x, energy, gradient, work, fstate, istate)
        if lbfgs_rms(gradient) < settings[S_RMS_TOL]:
            return _finish(x, work, istate, CONVERGED)
        if istate[I_NIT] >= settings[S_MAX_ITER]:
            return _finish(x, work, istate, MAX_ITERATIONS)
        code = _propose(x, work, fstate, istate, settings)
        if code != TRIAL:
            return _finish(x, work, istate, code)
        istate[I_CODE] = TRIAL
        return TRIAL

    rise = energy - fstate[F_ENERGY]
    # a non-finite energy or gradient counts as a rise (also when max_rise = inf disables the guard)
    if rise <= settings[S_MAX_RISE] and np.isfinite(energy) and _all_finite(gradient):
        _store_pair(x, gradient, work, fstate, istate)
        _accept(x, energy, gradient, work, fstate, istate)
        istate[I_NIT] += 1
        if lbfgs_rms(gradient) < settings[S_RMS_TOL]:
            return _finish(x, work, istate, CONVERGED)
        if istate[I_NIT] >= settings[S_MAX_ITER]:
            return _finish(x, work, istate, MAX_ITERATIONS)
        code = _propose(x, work, fstate, istate, settings)
        if code != TRIAL:
            return _finish(x, work, istate, code)
        istate[I_CODE] = ACCEPTED
        return ACCEPTED

    if istate[I_CUTS] < MAX_CUTS:
        istate[I_CUTS] += 1
        fstate[F_STP] /= 10.0
        _place_trial(x, work, fstate)
        istate[I_CODE] = TRIAL
        return TRIAL
    if istate[I_FROM_EMPTY] == 1:  # steepest descent from this point failed: a retry repeats it
        return _finish(x, work, istate, FAILED_NO_DESCENT)
    _reset_memory(istate)
    code = _propose(x, work, fstate, istate, settings)
    if code != TRIAL:
        return _finish(x, work, istate, code)
    istate[I_CODE] = TRIAL
    return TRIAL
