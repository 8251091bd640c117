"""How frustrated a landscape is: de Souza, Niroomand and Wales, "Defining and quantifying frustration
in the energy landscape", J. Chem. Phys. 146, 124103 (2017).

Their frustration index weights, for every minimum other than the global one, the ratio of its
barrier to the global minimum to its energy above the global minimum by its equilibrium occupation:

    f(T) = sum_{a != gm} q_a(T) * b_a / (E_a - E_gm),   q_a = p_a / sum_{b != gm} p_b

(b_a as in :mod:`.barriers`; p the harmonic-superposition occupations). The weights are normalised
over the minima other than the global one, as we read the paper: otherwise every landscape's index
would vanish at low T, where the global minimum holds all the weight, instead of tending to the
ratio of the lowest competing minimum. A single funnel (low minima with low barriers, high ones
downhill all the way) gives small values; competing funnels, where a low minimum sits behind a high
barrier, large ones. Minima not joined to the global minimum, or at its energy, are left out.
"""

from __future__ import annotations

import math

import numpy as np

from lfl.kinetics.harmonic import log_occupations


def frustration_index(energies: np.ndarray, log_products: np.ndarray, barriers: np.ndarray, temperature: float,
                      *, tolerance: float = 0.0) -> float:
    """f(T) over the minima joined to the global minimum and more than ``tolerance`` above it (NaN
    when there are none)."""
    energies = np.asarray(energies, dtype=np.float64)
    barriers = np.asarray(barriers, dtype=np.float64)
    log_p = log_occupations(energies, log_products, temperature)
    gap = energies - energies.min()
    counted = np.isfinite(barriers) & (gap > tolerance)
    if not counted.any():
        return math.nan
    log_q = log_p[counted] - np.logaddexp.reduce(log_p[counted])
    return float(np.sum(np.exp(log_q) * barriers[counted] / gap[counted]))


__all__ = ["frustration_index"]
