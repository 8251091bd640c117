"""Single-ended transition-state searches out of one minimum (OPTIM's uphill searches along soft modes).

:func:`single_ended_search` is pure, like :func:`~lfl.explore.connection_attempt.connect_pair`: a
minimum's coordinates in, a :class:`~lfl.explore.transition_states.ConnectionResult` out. From the
minimum it steps ``step`` along each chosen Hessian eigenvector (softest first), in both directions,
and hands the displaced point to hybrid eigenvector-following in mode-following form: it climbs the
eigenvector that keeps overlapping most with the chosen one (following the lowest mode instead would
lead every search back up the softest direction; dense Hessians only, see
:func:`~lfl.explore.eigenvector_following.hybrid_eigenvector_following`); every new transition state is pushed off both ways and both sides are quenched.
Such searches find the saddles *around* a minimum, not only those on the way to another one, which
is what a completed landscape needs beyond a connected one (SCIENCE.md §6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lfl.errors import LflError
from lfl.explore.eigenvector_following import hessian_eigen_decomposition, lowest_eigenpairs_iterative
from lfl.explore.transition_states import ConnectionResult, ConnectSettings, SaddleSearch
from lfl.systems.base import System


def softest_modes(system: System, x: np.ndarray, n_modes: int, *, dense_max: int) -> tuple[np.ndarray, np.ndarray]:
    """The n_modes lowest Hessian eigenpairs at x (values ascending, vectors as columns)."""
    if system.n_dof <= dense_max:
        values, vectors = hessian_eigen_decomposition(system, x)
        return values[:n_modes], vectors[:, :n_modes]
    return lowest_eigenpairs_iterative(system, x, n_modes)  # Lanczos: no dense matrix for large networks


def single_ended_search(
    system: System,
    x_min: np.ndarray,
    modes: Sequence[int],
    settings: ConnectSettings,
    *,
    step: float | None = None,
    directions: np.ndarray | None = None,
) -> ConnectionResult:
    """Transition states next to the minimum x_min, from searches along its soft ``modes``.

    ``modes`` are positions in the ascending Hessian spectrum (0: the softest); each is searched in
    both directions. ``directions`` (rows, any length; normalised here) replace the modes: searches
    along random directions are independent draws of the saddles around a minimum, which the
    softest modes, the same few every time, are not. ``connected`` says whether some transition state found joins x_min to another
    minimum; ``endpoint_matches["a"]`` is x_min's position in ``minima`` when a push-off fell back
    into it.
    """
    x_min = np.ascontiguousarray(x_min, dtype=np.float64).ravel()
    if x_min.size != system.n_dof:
        raise LflError(f"single-ended search needs {system.n_dof} coordinates, got {x_min.size}")
    if directions is not None:
        directions = np.atleast_2d(np.asarray(directions, dtype=np.float64))
        norms = np.linalg.norm(directions, axis=1)
        if directions.shape[1] != system.n_dof or not np.all(norms > 0.0):
            raise LflError(f"single-ended directions must be nonzero rows of {system.n_dof} values")
        modes = list(range(directions.shape[0]))
    modes = [int(m) for m in modes]
    if directions is None and any(not 0 <= m < system.n_dof for m in modes):
        raise LflError(f"single-ended modes must lie in 0..{system.n_dof - 1}, got {modes}")
    step = settings.single_ended_step if step is None else float(step)
    if not step > 0.0:
        raise LflError(f"single-ended step must be > 0, got {step}")
    search = SaddleSearch(system, settings)
    if not modes:
        return ConnectionResult([], [], False, False, "no modes to search", search.timings, endpoint_matches={"a": None})
    energy_min = float(system.energy(x_min))
    if directions is None:
        values, vectors = softest_modes(system, x_min, max(modes) + 1, dense_max=settings.dense_max)
    else:
        values, vectors = np.full(len(modes), np.nan), (directions / norms[:, None]).T
    for mode in modes:
        for sign in (1.0, -1.0):
            where = (f"mode {mode} ({values[mode]:.3g})" if directions is None else f"direction {mode}") + \
                f", sign {sign:+.0f}"
            # mode-following: climb this mode (or the random direction's best-matching one), not the softest
            search.refine(x_min + sign * step * vectors[:, mode], where, follow=sign * vectors[:, mode])

    transition_states = search.transition_states
    home = search.index_of(x_min, energy_min)
    connected = home is not None and any(
        ts.connects_distinct and home in (ts.minus_index, ts.plus_index) for ts in transition_states
    )
    success = any(ts.connects_distinct for ts in transition_states)
    message = (f"{len(transition_states)} transition state(s) from {2 * len(modes)} search(es)"
               f"{', one joins the minimum to another' if connected else ''}")
    return ConnectionResult(transition_states, search.minima, connected, success, message, search.elapsed(),
                            attempts=search.attempts, endpoint_matches={"a": home})


__all__ = ["single_ended_search", "softest_modes"]
