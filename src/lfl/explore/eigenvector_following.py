"""Hybrid eigenvector-following (Munro & Wales, PRB 59, 3969 (1999); Kumeda, Munro & Wales, CPL 341, 185 (2001)).

Each iteration: find the Hessian eigenvector of lowest eigenvalue (dense diagonalisation for small
systems, Lanczos on Hessian-vector products for large ones), take an eigenvector-following step
*uphill* along it within a trust radius, then minimise the energy in the space orthogonal to it:
with the dense Hessian at hand, one damped Newton step along all the other modes (``"newton"``);
otherwise a few L-BFGS steps on the projected gradient (``"lbfgs"``). Stop when the RMS gradient is
converged; accept the point only when its Hessian has exactly one negative eigenvalue.

Also here: :func:`hessian_index`, the index / lowest eigenvalue / log-product check used to verify
minima and transition states.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, lobpcg

from lfl.errors import LflError
from lfl.numerics.lanczos import LanczosResult, lowest_eigenvalues
from lfl.numerics.lbfgs import minimize_lbfgs
from lfl.systems.base import System

log = logging.getLogger(__name__)

# Energy changes below this (relative to max(1, |E|)) are too close to round-off to judge a step by.
_ROUND_OFF_CHANGE = 1e-9


def _rms(vector: np.ndarray) -> float:
    return float(np.sqrt(np.dot(vector, vector) / vector.size))


# --- lowest eigenpairs ------------------------------------------------------------------------------


def lowest_eigenpairs_dense(system: System, x: np.ndarray, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The n lowest Hessian eigenvalues (ascending) and eigenvectors (columns) by full diagonalisation."""
    hessian = np.asarray(system.hessian(np.asarray(x, dtype=np.float64)), dtype=np.float64)
    hessian = 0.5 * (hessian + hessian.T)
    n = min(int(n), hessian.shape[0])
    values, vectors = scipy.linalg.eigh(hessian, subset_by_index=[0, n - 1])
    return values, vectors


def lowest_eigenpairs_iterative(
    system: System,
    x: np.ndarray,
    n: int = 1,
    *,
    v0: np.ndarray | None = None,
    tol: float = 1e-8,
    max_iterations: int = 50,
    fallback_iterations: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """The n lowest Hessian eigenvalues and eigenvectors from Hessian-vector products only.

    Implicitly restarted Lanczos (ARPACK ``eigsh``, at most ``max_iterations`` restarts), warm-started
    from ``v0`` (e.g. the previous iteration's eigenvector). Loss Hessians have a cluster of tiny
    eigenvalues (about 2*lambda) far below their largest ones, where Lanczos can need thousands of
    products; if it stops short, LOBPCG (``fallback_iterations``) gives Ritz estimates instead
    (logged at debug level). Ritz values never lie below the true eigenvalues they approximate, so
    a negative one proves a negative eigenvalue (see :func:`hessian_index`).
    """
    values, vectors, _ = _lowest_eigenpairs_checked(system, x, n, v0=v0, tol=tol, max_iterations=max_iterations,
                                                    fallback_iterations=fallback_iterations)
    return values, vectors


def _lowest_eigenpairs_checked(system, x, n, *, v0=None, tol=1e-8, max_iterations=50, fallback_iterations=200):
    """:func:`lowest_eigenpairs_iterative` and whether Lanczos converged (False: LOBPCG estimates)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    n_dof = x.size
    n = int(n)
    if n_dof <= n + 1:  # ARPACK needs k < n_dof; tiny problems are cheap to do densely anyway
        return (*lowest_eigenpairs_dense(system, x, n), True)

    def product(v: np.ndarray) -> np.ndarray:
        return system.hessian_vector(x, np.ascontiguousarray(v, dtype=np.float64).ravel())

    operator = LinearOperator((n_dof, n_dof), matvec=product, dtype=np.float64)
    start = None if v0 is None else np.asarray(v0, dtype=np.float64).ravel()
    if start is not None and not np.linalg.norm(start) > 0.0:
        start = None
    ncv = min(n_dof, max(2 * n + 1, 20))
    converged = True
    try:
        values, vectors = eigsh(operator, k=n, which="SA", v0=start, tol=tol, ncv=ncv, maxiter=max_iterations)
    except ArpackNoConvergence as err:
        log.debug(  # expected on loss Hessians: not worth a warning per eigenvector-following step
            "Lanczos: %d of %d lowest eigenpairs after %d restarts; LOBPCG estimates instead",
            err.eigenvalues.size, n, max_iterations,
        )
        values, vectors = _lobpcg_lowest(operator, n, start, err.eigenvectors, tol, fallback_iterations)
        converged = False
    order = np.argsort(values)
    return values[order], vectors[:, order], converged


def _lobpcg_lowest(operator, n: int, v0, known, tol: float, max_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """LOBPCG Ritz pairs (converged or not), started from v0 and any converged Lanczos vectors."""
    n_dof = operator.shape[0]
    columns = [] if known is None else [known[:, j] for j in range(known.shape[1])]
    if v0 is not None:
        columns.append(v0)
    rng = np.random.default_rng(0)  # fixed: the same point gives the same estimate
    while len(columns) < n:
        columns.append(rng.standard_normal(n_dof))
    block = np.linalg.qr(np.stack(columns[:n], axis=1))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not reach tolerance": expected here, logged above
        values, vectors = lobpcg(operator, block, largest=False, tol=tol, maxiter=max_iterations)
    return np.asarray(values), np.asarray(vectors)


def lowest_eigenpair(
    system: System, x: np.ndarray, *, dense_max: int = 300, v0: np.ndarray | None = None, tol: float = 1e-8
) -> tuple[float, np.ndarray]:
    """The lowest Hessian eigenvalue and its unit eigenvector: dense for n_dof <= dense_max, else Lanczos."""
    if system.n_dof <= dense_max:
        values, vectors = lowest_eigenpairs_dense(system, x, 1)
    else:
        values, vectors = lowest_eigenpairs_iterative(system, x, 1, v0=v0, tol=tol)
    vector = vectors[:, 0]
    return float(values[0]), vector / np.linalg.norm(vector)


UNVERIFIED = -1  # the index hessian_index gives a point whose spectrum it could not establish


def hessian_index(
    system: System, x: np.ndarray, *, dense_max: int = 300, tol: float = 0.0, n_iterative: int = 2
) -> tuple[int, float, float]:
    """(number of eigenvalues below -tol, lowest eigenvalue, sum of log of eigenvalues above tol).

    Dense eigvalsh for n_dof <= dense_max. Beyond that only the ``n_iterative`` lowest eigenvalues
    are estimated (an unrestarted Lanczos from a seeded start, :mod:`lfl.numerics.lanczos`; should it
    run out of steps, ARPACK's restarted one, else LOBPCG Ritz values, which are upper bounds of the
    true ones): the count is then exact when an iteration converged and the count is below
    ``n_iterative``; when neither Lanczos converged the point is :data:`UNVERIFIED` (-1): no minimum,
    no transition state, whatever the estimates say. The log product is NaN. The log product of the positive eigenvalues (the
    harmonic vibrational entropy term of a minimum) is also NaN when no eigenvalue is above tol.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if system.n_dof <= dense_max:
        hessian = np.asarray(system.hessian(x), dtype=np.float64)
        values = scipy.linalg.eigvalsh(0.5 * (hessian + hessian.T))
        positive = values[values > tol]
        log_prod = float(np.sum(np.log(positive))) if positive.size else math.nan
        return int(np.count_nonzero(values < -tol)), float(values[0]), log_prod
    n_eigen = min(int(n_iterative), system.n_dof)
    lanczos = lowest_eigenvalues(lambda v: system.hessian_vector(x, v), system.n_dof, n_eigen=n_eigen,
                                 tol=VERIFY_TOL, max_steps=VERIFY_MAX_PRODUCTS)
    return index_from_lanczos(lanczos, tol) or index_from_arpack(system, x, n_eigen, tol)


VERIFY_TOL = 1e-8  # relative residual of the lowest Ritz pairs in hessian_index's iterative check
VERIFY_MAX_PRODUCTS = 300  # its unrestarted Lanczos (converged in 90-110 on [784,10,10,1000,0.1] minima)


def index_from_lanczos(result: LanczosResult, tol: float = 0.0) -> tuple[int, float, float] | None:
    """hessian_index's answer from a converged :class:`LanczosResult`; None when it did not converge."""
    if not result.converged:
        return None
    return int(np.count_nonzero(result.values < -tol)), float(result.values[0]), math.nan


def index_from_arpack(system: System, x: np.ndarray, n_eigen: int, tol: float) -> tuple[int, float, float]:
    """The fallback when the unrestarted Lanczos ran out of steps: ARPACK's restarted Lanczos."""
    values, _, converged = _lowest_eigenpairs_checked(system, x, n_eigen, tol=VERIFY_TOL)
    if not converged:  # Ritz estimates bound the true eigenvalues from above: they prove nothing positive
        return UNVERIFIED, float(values[0]), math.nan
    return int(np.count_nonzero(values < -tol)), float(values[0]), math.nan


# --- hybrid eigenvector-following -------------------------------------------------------------------

TANGENT_METHODS = ("auto", "newton", "lbfgs")


@dataclass(frozen=True)
class EFSettings:
    rms_gradient: float = 1e-9  # convergence on the full RMS gradient
    max_iterations: int = 500  # eigenvector-following iterations (each: eigenpair, uphill step, L-BFGS)
    max_uphill_step: float = 0.1  # trust radius of the uphill step (upper bound, in system coordinates)
    min_uphill_step: float = 1e-7  # the trust radius never shrinks below this
    # L-BFGS steps in the orthogonal space per iteration, and once the uphill gradient has converged.
    # Ill-conditioned losses (Hessian eigenvalues 1e-4 .. 10) need ~100: with 10 a network's search
    # did not converge in 500 iterations; 100 converged in 30-140.
    tangent_steps: int = 100
    tangent_steps_converged: int = 500
    # ... but stop each orthogonal minimisation once it has moved this far (None: no limit): long
    # slides in a plane that no longer holds the uphill mode let the search fall into a minimum.
    max_tangent_displacement: float | None = 0.3
    dense_max: int = 300  # exact diagonalisation up to this many degrees of freedom, Lanczos above
    eigen_tol: float = 1e-8  # Lanczos relative tolerance
    memory: int = 4  # L-BFGS in the orthogonal space
    max_step: float = 0.1
    initial_diag: float = 0.1
    max_rise: float | None = 1e-10  # the projected gradient IS the gradient on the tangent plane
    # How to minimise in the orthogonal space: "newton" takes one damped Newton step per iteration
    # from the eigen-decomposition of the exact dense Hessian (which the eigenpair needs anyway);
    # "lbfgs" takes up to tangent_steps L-BFGS steps; "auto" is newton when n_dof <= dense_max.
    # Measured on [2,10,4,1000,1e-4] losses: newton needs 4-30 iterations of ~40 gradient costs each
    # (Hessian + eigh), lbfgs 1300-5000 gradients for the same saddles.
    tangent_method: str = "auto"
    newton_max_step: float = 0.2  # newton: trust radius bound on the whole step (uphill part included)
    # newton: bound on the step along each orthogonal mode. Loss Hessians have many modes of
    # curvature ~1e-5..1e-4 where the quadratic model reaches far; with 1.0 instead of 0.1 the search
    # wandered off to other saddles or not converged in 300 iterations on 3 of 11 network candidates.
    newton_mode_step: float = 0.1

    def validate(self) -> None:
        if not self.rms_gradient > 0.0:
            raise LflError(f"eigenvector-following rms_gradient must be > 0, got {self.rms_gradient}")
        if self.max_iterations < 1:
            raise LflError(f"eigenvector-following max_iterations must be >= 1, got {self.max_iterations}")
        if not self.max_uphill_step > self.min_uphill_step > 0.0:
            raise LflError("eigenvector-following needs max_uphill_step > min_uphill_step > 0")
        if self.tangent_steps < 0 or self.tangent_steps_converged < 0:
            raise LflError("eigenvector-following tangent_steps must be >= 0")
        if self.max_tangent_displacement is not None and not self.max_tangent_displacement > 0.0:
            raise LflError("eigenvector-following max_tangent_displacement must be > 0 (or None)")
        if self.tangent_method not in TANGENT_METHODS:
            raise LflError(
                f"eigenvector-following tangent_method must be one of {', '.join(TANGENT_METHODS)}, "
                f"got {self.tangent_method!r}"
            )
        if not (self.newton_max_step > 0.0 and self.newton_mode_step > 0.0):
            raise LflError("eigenvector-following newton_max_step and newton_mode_step must be > 0")

    def uses_newton(self, n_dof: int) -> bool:
        """Whether the orthogonal minimisation takes Newton steps for a system of n_dof coordinates."""
        return self.tangent_method == "newton" or (self.tangent_method == "auto" and n_dof <= self.dense_max)


@dataclass
class EFResult:
    x: np.ndarray
    energy: float
    eigenvalue: float  # lowest Hessian eigenvalue at x
    eigenvector: np.ndarray  # its unit eigenvector
    rms_gradient: float
    n_neg: int  # negative Hessian eigenvalues at x (from hessian_index)
    nit: int
    success: bool  # converged, and exactly one negative eigenvalue
    message: str
    nfev: int = 0
    # sum of ln of the positive Hessian eigenvalues at x (harmonic rates: lfl.kinetics); NaN where
    # the Hessian was not decomposed in full (Lanczos beyond dense_max)
    log_prod_positive: float = math.nan


class OrthogonalSystem(System):
    """``system`` seen on the plane through x orthogonal to the unit vector ``direction``.

    Its gradient is the projected one: from a start on the plane, L-BFGS steps (combinations of
    projected gradients and earlier steps) never leave it, and the energy-rise guard stays valid
    because the projected gradient is the exact gradient of the energy restricted to the plane.
    """

    def __init__(
        self, system: System, direction: np.ndarray, *, known: tuple[np.ndarray, float, np.ndarray] | None = None
    ):
        self.system = system
        self.n_dof = system.n_dof
        self.direction = direction
        self.nfev = 0
        # (x, energy, full gradient) of the last evaluation: L-BFGS starts and ends on known points
        self._last = None if known is None else (np.array(known[0]), float(known[1]), np.asarray(known[2]))

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        energy, gradient = self.full_energy_gradient(x)
        return energy, gradient - np.dot(gradient, self.direction) * self.direction

    def full_energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy and unprojected gradient; the last evaluation is remembered (L-BFGS ends on it)."""
        if self._last is not None and np.array_equal(self._last[0], x):
            return self._last[1], self._last[2]
        self.nfev += 1
        energy, gradient = self.system.energy_gradient(x)
        gradient = np.asarray(gradient, dtype=np.float64)
        self._last = (np.array(x, dtype=np.float64), float(energy), gradient)
        return float(energy), gradient


def uphill_step_length(gradient_along: float, eigenvalue: float, trust_radius: float) -> float:
    """Signed step along the eigenvector that maximises the energy along it (EF formula).

    With negative curvature this is the Newton step ``g/|b|`` damped by the rational-function form
    ``2g / (|b| (1 + sqrt(1 + 4 g^2/b^2)))``; with positive (wrong) curvature the quadratic model has no
    maximum, so the full trust radius is taken uphill.
    """
    sign = 1.0 if gradient_along >= 0.0 else -1.0
    if eigenvalue >= 0.0:
        return sign * trust_radius
    b = abs(eigenvalue)
    g = gradient_along
    step = 2.0 * g / (b * (1.0 + math.sqrt(1.0 + 4.0 * g * g / (b * b))))
    return max(-trust_radius, min(trust_radius, step))


def _displacement_limit(start: np.ndarray, limit: float | None):
    """An L-BFGS callback that stops the run once it has moved more than ``limit`` from ``start``."""
    if limit is None:
        return None
    start = np.array(start, dtype=np.float64)

    def stop_when_far(state) -> bool:
        return bool(np.linalg.norm(state.x - start) > limit)

    return stop_when_far


def updated_trust_radius(
    radius: float, predicted: float, actual: float, energy: float, smallest: float, largest: float
) -> float:
    """Double the radius when the actual energy change is within 10 % of the predicted one, halve
    it beyond 100 %, within [smallest, largest]. Near convergence both changes drown in round-off of
    the energy: then the ratio says nothing, and shrinking on it would freeze the step (seen on
    network losses at 1e-9), so the radius stays."""
    if abs(predicted) > _ROUND_OFF_CHANGE * max(1.0, abs(energy)):
        ratio = actual / predicted
        if abs(ratio - 1.0) < 0.1:
            return min(largest, 2.0 * radius)
        if abs(ratio - 1.0) > 1.0:
            return max(smallest, 0.5 * radius)
    return radius


def plain_first_step_diag(initial_diag: float, gradient_norm: float) -> float:
    """The L-BFGS ``initial_diag`` that makes its first step ``-initial_diag * g``.

    The GMIN-style L-BFGS scales a first step (empty memory) by ``min(1/|g|, |g|)``, cautious for a
    wild start but quadratic in |g| near convergence: restarted every iteration close to a saddle,
    its first step falls below round-off and it stalls. Eigenvector-following restarts it every
    iteration, so it undoes that factor.
    """
    if not gradient_norm > 0.0 or not math.isfinite(gradient_norm):
        return initial_diag
    return initial_diag * max(gradient_norm, 1.0 / gradient_norm)


def hybrid_eigenvector_following(system: System, x0: np.ndarray, settings: EFSettings | None = None, *,
                                 follow: np.ndarray | None = None) -> EFResult:
    """Refine x0 (e.g. the highest image of a band) to a transition state (index-one saddle).

    ``follow`` (a direction): mode-following, as OPTIM's single-ended searches along a chosen mode.
    Uphill goes along the Hessian eigenvector that overlaps most with the mode followed so far
    (starting with ``follow``), not along the lowest: out of a minimum, a search along its k-th mode
    then climbs that mode instead of falling back to the softest one. Only with the dense Hessian
    (``tangent_method`` newton); the L-BFGS variant always follows the lowest mode.
    """
    settings = settings or EFSettings()
    settings.validate()
    x = np.array(x0, dtype=np.float64).ravel()
    if x.size != system.n_dof:
        raise LflError(f"eigenvector-following start needs {system.n_dof} coordinates, got {x.size}")
    if follow is not None:
        follow = np.asarray(follow, dtype=np.float64).ravel()
        if follow.size != x.size or not np.linalg.norm(follow) > 0.0:
            raise LflError(f"eigenvector-following: the mode to follow needs {x.size} values, not all zero")
    if settings.uses_newton(x.size):
        return _newton_eigenvector_following(system, x, settings, follow)
    return _lbfgs_eigenvector_following(system, x, settings)


def rfo_mode_steps(along: np.ndarray, curvatures: np.ndarray) -> np.ndarray:
    """Per-mode rational-function steps ``2 g / (|b| + sqrt(b^2 + 4 g^2))`` (sign of g, uphill).

    The Newton step g/|b| for small |g/b|, at most 1 in size for large |g/b| or vanishing b (the form
    of the uphill step of :func:`uphill_step_length`, written so that b = 0 is no division by zero).
    Negate for downhill steps.
    """
    along = np.asarray(along, dtype=np.float64)
    curvatures = np.abs(np.asarray(curvatures, dtype=np.float64))
    denominator = curvatures + np.sqrt(curvatures * curvatures + 4.0 * along * along)
    safe = np.where(denominator > 0.0, denominator, 1.0)
    return np.where(denominator > 0.0, 2.0 * along / safe, 0.0)


def symmetric_eigen_decomposition(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All eigenvalues (ascending) and unit eigenvectors (columns) of the symmetrised matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    # the divide-and-conquer driver: 0.7 ms against numpy's 1.6 ms for 74 weights (measured)
    return scipy.linalg.eigh(0.5 * (matrix + matrix.T), driver="evd", check_finite=False)


def hessian_eigen_decomposition(system: System, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All eigenvalues (ascending) and unit eigenvectors (columns) of the exact, symmetrised Hessian."""
    return symmetric_eigen_decomposition(system.hessian(x))


def _newton_eigenvector_following(system: System, x: np.ndarray, settings: EFSettings,
                                  follow: np.ndarray | None = None) -> EFResult:
    """Eigenvector-following with the whole dense Hessian: uphill along the lowest mode, Newton down the rest.

    Each iteration diagonalises the Hessian at x; along the lowest mode it takes the uphill step of
    :func:`uphill_step_length`, along every other mode a downhill rational-function step (bounded by
    newton_mode_step), the whole within a trust radius that follows the quality of the quadratic
    model. The orthogonal minimisation is thus one Newton step per iteration instead of L-BFGS
    steps: near the saddle it converges quadratically, and the Hessian it needs is the one the
    eigenpair came from. (Bofill-updated Hessians between exact ones were tried on network losses:
    2-10 times the iterations, and other saddles, so every iteration takes the exact Hessian.)
    """
    n = x.size
    trust_radius = min(settings.max_uphill_step, settings.newton_max_step)
    energy, gradient = system.energy_gradient(x)
    gradient = np.asarray(gradient, dtype=np.float64)
    nfev = 1
    message = f"not converged in {settings.max_iterations} iterations"
    converged = False
    nit = 0
    values: np.ndarray | None = None  # the Hessian decomposition at the current x, when there is one
    vectors = np.zeros((n, n))
    previous_vector: np.ndarray | None = None

    for nit in range(1, settings.max_iterations + 1):
        rms = _rms(gradient)
        if not (np.isfinite(energy) and np.isfinite(rms) and np.all(np.isfinite(x))):
            message = "non-finite energy or gradient"
            values = None
            break
        values, vectors = hessian_eigen_decomposition(system, x)
        if follow is not None:  # the followed mode first: the uphill step below goes along column 0
            j = int(np.argmax(np.abs(vectors.T @ (follow if previous_vector is None else previous_vector))))
            if j:
                order = np.r_[j, np.delete(np.arange(n), j)]
                values, vectors = values[order], vectors[:, order]
        if previous_vector is not None and np.dot(vectors[:, 0], previous_vector) < 0.0:
            vectors[:, 0] = -vectors[:, 0]  # a continuous orientation (the step sign follows the gradient)
        previous_vector = vectors[:, 0]
        if rms < settings.rms_gradient and values[0] < 0.0:
            converged = True
            message = "converged"
            break

        along = vectors.T @ gradient
        steps = -np.clip(rfo_mode_steps(along, values), -settings.newton_mode_step, settings.newton_mode_step)
        steps[0] = uphill_step_length(float(along[0]), float(values[0]), min(trust_radius, settings.max_uphill_step))
        length = float(np.linalg.norm(steps))
        if length > trust_radius:
            steps *= trust_radius / length
        if not length > 0.0:
            message = "stalled: zero step at a point that is not a converged saddle"
            break
        x_new = x + vectors @ steps
        energy_new, gradient_new = system.energy_gradient(x_new)
        gradient_new = np.asarray(gradient_new, dtype=np.float64)
        nfev += 1
        predicted = float(np.dot(along, steps) + 0.5 * np.dot(values, steps * steps))
        trust_radius = updated_trust_radius(
            trust_radius, predicted, energy_new - energy, energy, settings.min_uphill_step, settings.newton_max_step
        )
        log.debug(
            "EF (newton) %d: E=%.12g lowest eigenvalue %.4g RMS gradient %.3g trust %.3g",
            nit, energy_new, values[0], _rms(gradient_new), trust_radius,
        )
        x, energy, gradient = x_new, float(energy_new), gradient_new
        values = None  # x moved: the decomposition belongs to the previous point

    finite = bool(np.isfinite(energy) and np.all(np.isfinite(gradient)) and np.all(np.isfinite(x)))
    if values is None and finite:
        values, vectors = hessian_eigen_decomposition(system, x)  # the eigenpair of the final point
    log_prod = math.nan
    if values is None or not finite:
        eigenvalue, vector, n_neg = math.nan, np.zeros(n), -1
    else:
        eigenvalue, vector, n_neg = float(values[0]), vectors[:, 0].copy(), int(np.count_nonzero(values < 0.0))
        positive = values[values > 0.0]
        log_prod = float(np.sum(np.log(positive))) if positive.size else math.nan
    success = converged and n_neg == 1
    if converged and n_neg != 1:
        message = f"converged to a stationary point with {n_neg} negative Hessian eigenvalues, not 1"
    return EFResult(
        x=x,
        energy=float(energy),
        eigenvalue=eigenvalue,
        eigenvector=vector,
        rms_gradient=_rms(gradient),
        n_neg=n_neg,
        nit=nit,
        success=success,
        message=message,
        nfev=nfev,
        log_prod_positive=log_prod,
    )


def _lbfgs_eigenvector_following(system: System, x: np.ndarray, settings: EFSettings) -> EFResult:
    """Eigenvector-following with L-BFGS steps in the orthogonal space (any size; Lanczos when large)."""
    n = x.size
    trust_radius = settings.max_uphill_step
    previous_vector: np.ndarray | None = None
    energy, gradient = system.energy_gradient(x)
    nfev = 1
    message = f"not converged in {settings.max_iterations} iterations"
    converged = False
    nit = 0
    eigenvalue, vector = math.nan, np.zeros(n)

    for nit in range(1, settings.max_iterations + 1):
        rms = _rms(gradient)
        if not (np.isfinite(energy) and np.isfinite(rms) and np.all(np.isfinite(x))):
            message = "non-finite energy or gradient"
            break
        eigenvalue, vector = lowest_eigenpair(
            system, x, dense_max=settings.dense_max, v0=previous_vector, tol=settings.eigen_tol
        )
        if previous_vector is not None and np.dot(vector, previous_vector) < 0.0:
            vector = -vector  # keep a continuous orientation (cosmetic: the step sign follows the gradient)
        previous_vector = vector
        if rms < settings.rms_gradient and eigenvalue < 0.0:
            converged = True
            message = "converged"
            break

        # Uphill along the lowest mode. The trust radius follows the quality of the quadratic model
        # along it: predicted and actual energy changes within 10 % grow it, beyond 100 % shrink it.
        gradient_along = float(np.dot(gradient, vector))
        step = uphill_step_length(gradient_along, eigenvalue, trust_radius)
        if step != 0.0:
            x_new = x + step * vector
            energy_new, gradient_new = system.energy_gradient(x_new)
            nfev += 1
            predicted = gradient_along * step + 0.5 * eigenvalue * step * step
            trust_radius = updated_trust_radius(
                trust_radius, predicted, energy_new - energy, energy, settings.min_uphill_step, settings.max_uphill_step
            )
            x, energy, gradient = x_new, energy_new, np.asarray(gradient_new, dtype=np.float64)

        # Minimise in the orthogonal space; more steps once the uphill direction is converged.
        uphill_converged = abs(gradient_along) < settings.rms_gradient * math.sqrt(n)
        n_steps = settings.tangent_steps_converged if uphill_converged else settings.tangent_steps
        if n_steps > 0 and n > 1:
            plane = OrthogonalSystem(system, vector, known=(x, energy, gradient))
            gradient_perp = gradient - np.dot(gradient, vector) * vector
            res = minimize_lbfgs(
                plane,
                x,
                memory=settings.memory,
                max_step=settings.max_step,
                initial_diag=plain_first_step_diag(settings.initial_diag, float(np.linalg.norm(gradient_perp))),
                max_rise=settings.max_rise,
                rms_gradient=settings.rms_gradient,
                max_iterations=n_steps,
                callback=_displacement_limit(x, settings.max_tangent_displacement),
            )
            if res.nit > 0:
                x = np.array(res.x, dtype=np.float64)
                energy, gradient = plane.full_energy_gradient(x)  # the full gradient, not the projected one
            nfev += plane.nfev
        log.debug(
            "EF %d: E=%.12g lowest eigenvalue %.4g RMS gradient %.3g trust %.3g",
            nit, energy, eigenvalue, _rms(gradient), trust_radius,
        )

    finite = bool(np.isfinite(energy) and np.all(np.isfinite(gradient)) and np.all(np.isfinite(x)))
    if not converged and finite:  # report the eigenpair of the final point
        eigenvalue, vector = lowest_eigenpair(
            system, x, dense_max=settings.dense_max, v0=previous_vector, tol=settings.eigen_tol
        )
    rms = _rms(gradient)
    n_neg, _, log_prod = hessian_index(system, x, dense_max=settings.dense_max) if finite else (-1, math.nan, math.nan)
    success = converged and n_neg == 1
    if converged and n_neg != 1:
        message = f"converged to a stationary point with {n_neg} negative Hessian eigenvalues, not 1"
    return EFResult(
        x=x,
        energy=float(energy),
        eigenvalue=float(eigenvalue),
        eigenvector=vector,
        rms_gradient=rms,
        n_neg=n_neg,
        nit=nit,
        success=success,
        message=message,
        nfev=nfev,
        log_prod_positive=log_prod,
    )
