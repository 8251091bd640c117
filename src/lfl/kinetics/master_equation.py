"""Mean first-passage times and two-state rates by dense linear algebra on the master equation: the
independent check of :mod:`.graph_transformation` on networks small enough for an n x n matrix.

With the target set absorbing, the mean first-passage times T of the other nodes solve
``sum_y k_xy (T_x - T_y) = 1`` (T = 0 on the target): one dense ``numpy.linalg.solve``. The rates
then follow from the same definitions as NGT's (see :mod:`.graph_transformation`).
"""

from __future__ import annotations

import numpy as np

from lfl.errors import DataError
from lfl.kinetics.harmonic import occupations, transition_state_rates
from lfl.kinetics.network import TransitionNetwork

DENSE_MAX = 5000  # nodes: beyond this the n x n matrix is the wrong tool


def rate_matrix(n_nodes: int, source: np.ndarray, target: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """K[x, y] = sum of the rates x -> y (self-loops dropped)."""
    if n_nodes > DENSE_MAX:
        raise DataError(f"{n_nodes} minima: the dense master equation stops at {DENSE_MAX}")
    matrix = np.zeros((n_nodes, n_nodes))
    keep = np.asarray(source) != np.asarray(target)
    np.add.at(matrix, (np.asarray(source)[keep], np.asarray(target)[keep]), np.asarray(rates)[keep])
    return matrix


def first_passage_times(matrix: np.ndarray, absorbing: np.ndarray) -> np.ndarray:
    """Mean first-passage time into ``absorbing`` (a mask) from every node (0 on the absorbing ones)."""
    absorbing = np.asarray(absorbing, dtype=bool)
    free = ~absorbing
    system = np.diag(matrix[free].sum(axis=1)) - matrix[np.ix_(free, free)]
    times = np.zeros(matrix.shape[0])
    times[free] = np.linalg.solve(system, np.ones(int(free.sum())))
    return times


def two_state_rates_dense(network: TransitionNetwork, in_a, in_b, temperature: float) -> dict[str, float]:
    """rate_a_to_b, rate_b_to_a, mfpt_a_to_b, mfpt_b_to_a (plain numbers) on the whole network, which
    must be connected."""
    rates = transition_state_rates(network, temperature)
    min1, min2 = network.min1, network.min2
    matrix = rate_matrix(network.n_minima, np.concatenate([min1, min2]), np.concatenate([min2, min1]),
                         np.exp(np.concatenate([rates.forward, rates.backward])))
    p = occupations(network.minimum_energies, network.minimum_log_products, temperature)
    in_a, in_b = np.asarray(in_a, dtype=bool), np.asarray(in_b, dtype=bool)
    to_b, to_a = first_passage_times(matrix, in_b), first_passage_times(matrix, in_a)
    pa, pb = p[in_a].sum(), p[in_b].sum()
    return {
        "rate_a_to_b": float((p[in_a] / to_b[in_a]).sum() / pa),
        "rate_b_to_a": float((p[in_b] / to_a[in_b]).sum() / pb),
        "mfpt_a_to_b": float((p[in_a] * to_b[in_a]).sum() / pa),
        "mfpt_b_to_a": float((p[in_b] * to_a[in_b]).sum() / pb),
    }


__all__ = ["DENSE_MAX", "first_passage_times", "rate_matrix", "two_state_rates_dense"]
