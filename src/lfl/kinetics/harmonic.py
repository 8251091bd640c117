"""Harmonic superposition and harmonic transition-state theory over a kinetic transition network.

Occupation of minimum i at temperature T: ``p_i ∝ exp(-E_i / T - L_i / 2)`` (every point-group
order 1: in the reduced convention a minimum stands for all its symmetric copies, so the copies are
not counted apart). Rate constant out of minimum i over transition state t, as PATHSAMPLE computes
it with unit masses and k_B = 1::

    k(i -> t) = exp((L_i - L_t) / 2) / (2 pi) * exp(-(E_t - E_i) / T)

so that ``p_i k(i -> t) = p_j k(j -> t)`` for the two minima i, j of t (detailed balance). Rates
are returned as natural logarithms: at low T they underflow a double long before their ratios do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lfl.errors import DataError
from lfl.kinetics.network import TransitionNetwork

LOG_TWO_PI = math.log(2.0 * math.pi)


def check_temperature(temperature: float) -> float:
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature > 0.0):
        raise DataError(f"temperature must be a finite number > 0, got {temperature!r}")
    return temperature


def check_log_products(log_products: np.ndarray, what: str) -> np.ndarray:
    """The log products as float64; a NaN (a point stored without one) is refused in one line."""
    log_products = np.asarray(log_products, dtype=np.float64)
    missing = int(np.count_nonzero(~np.isfinite(log_products)))
    if missing:
        raise DataError(
            f"{missing} of {log_products.size} {what} have no log product of positive Hessian eigenvalues "
            "(stored before it was recorded, or verified by Lanczos): fill them with `lfl db upgrade --definition`"
        )
    return log_products


def log_occupations(energies: np.ndarray, log_products: np.ndarray, temperature: float) -> np.ndarray:
    """ln p_i of every minimum (normalised: the p_i sum to 1)."""
    temperature = check_temperature(temperature)
    energies = np.asarray(energies, dtype=np.float64)
    log_products = check_log_products(log_products, "minima")
    if energies.size == 0:
        raise DataError("no minima: occupations need at least one")
    log_weights = -energies / temperature - 0.5 * log_products
    top = log_weights.max()
    return log_weights - (top + math.log(np.exp(log_weights - top).sum()))


def occupations(energies: np.ndarray, log_products: np.ndarray, temperature: float) -> np.ndarray:
    """Equilibrium occupation probability p_i of every minimum (harmonic superposition)."""
    return np.exp(log_occupations(energies, log_products, temperature))


def log_rate_constants(
    minimum_energies: np.ndarray,
    minimum_log_products: np.ndarray,
    ts_energies: np.ndarray,
    ts_log_products: np.ndarray,
    temperature: float,
) -> np.ndarray:
    """ln k(i -> t) for minima i and transition states t given pairwise (arrays of equal length)."""
    temperature = check_temperature(temperature)
    return (
        0.5 * (np.asarray(minimum_log_products, dtype=np.float64) - np.asarray(ts_log_products, dtype=np.float64))
        - LOG_TWO_PI
        - (np.asarray(ts_energies, dtype=np.float64) - np.asarray(minimum_energies, dtype=np.float64)) / temperature
    )


@dataclass(frozen=True)
class TransitionStateRates:
    """ln k of every transition state in both directions: ``forward`` from min1 to min2 over it,
    ``backward`` from min2 to min1 (aligned with the transition states given)."""

    forward: np.ndarray
    backward: np.ndarray


def transition_state_rates(network: TransitionNetwork, temperature: float) -> TransitionStateRates:
    """Harmonic rate constants over every transition state of the network, both ways."""
    minimum_log_products = check_log_products(network.minimum_log_products, "minima")
    ts_log_products = check_log_products(network.ts_log_products, "transition states")
    min1, min2, energies = network.min1, network.min2, network.minimum_energies
    forward = log_rate_constants(energies[min1], minimum_log_products[min1], network.ts_energies, ts_log_products,
                                 temperature)
    backward = log_rate_constants(energies[min2], minimum_log_products[min2], network.ts_energies, ts_log_products,
                                  temperature)
    return TransitionStateRates(forward, backward)


def heat_capacity(energies: np.ndarray, log_products: np.ndarray, temperatures: np.ndarray, n_dof: int) -> np.ndarray:
    """C_V / k_B = kappa + (<E^2> - <E>^2) / T^2 at every temperature (harmonic superposition over
    the minima, kappa = n_dof: each well's classical harmonic share)."""
    energies = np.asarray(energies, dtype=np.float64)
    temperatures = np.atleast_1d(np.asarray(temperatures, dtype=np.float64))
    if int(n_dof) <= 0:
        raise DataError(f"n_dof must be a positive integer, got {n_dof!r}")
    half_log_products = 0.5 * check_log_products(log_products, "minima")
    shifted = energies - energies.min()  # variances do not see the shift; it keeps squares small
    out = np.empty(temperatures.size)
    for k, temperature in enumerate(temperatures):
        log_weights = -shifted / check_temperature(temperature) - half_log_products
        p = np.exp(log_weights - log_weights.max())
        p /= p.sum()
        mean = float(p @ shifted)
        variance = float(p @ (shifted - mean) ** 2)
        out[k] = int(n_dof) + variance / temperature**2
    return out


def heat_capacity_peak(energies: np.ndarray, log_products: np.ndarray, n_dof: int, *,
                       points: int = 400) -> tuple[float, float]:
    """(T, C_V / k_B) at the highest point of C_V(T): a log-spaced scan over T from 1e-3 to 10 times
    the energy span of the minima, refined by a golden-section search around the best grid point.
    (NaN, n_dof) for a single minimum (C_V is flat)."""
    energies = np.asarray(energies, dtype=np.float64)
    span = float(np.ptp(energies)) if energies.size else 0.0
    if energies.size < 2 or span == 0.0:
        return math.nan, float(n_dof)
    grid = np.geomspace(1e-3 * span, 10.0 * span, points)
    k = int(np.argmax(heat_capacity(energies, log_products, grid, n_dof)))
    from scipy.optimize import minimize_scalar

    def negative(log_t: float) -> float:
        return -float(heat_capacity(energies, log_products, [math.exp(log_t)], n_dof)[0])

    bracket = (math.log(grid[max(k - 1, 0)]), math.log(grid[min(k + 1, points - 1)]))
    best = minimize_scalar(negative, bounds=bracket, method="bounded", options={"xatol": 1e-12})
    return math.exp(best.x), -float(best.fun)


__all__ = [
    "TransitionStateRates",
    "check_temperature",
    "heat_capacity",
    "heat_capacity_peak",
    "log_occupations",
    "log_rate_constants",
    "occupations",
    "transition_state_rates",
]
