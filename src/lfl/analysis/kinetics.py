"""One landscape read kinetically at a temperature T (``lfl analyse kinetics``): harmonic rates of
every transition state both ways, the rates between the global minimum's funnel and the rest of its
network by graph transformation, and per minimum the barrier to the global minimum, the equilibrium
occupation and the funnel. The science is :mod:`lfl.kinetics`; this module reads the store and
shapes tables.

The funnel level defaults to the most even split of the global minimum's part of the network:
minima join the global minimum's funnel at the highest transition state of their minimax path (where
their branch meets the global minimum's in the disconnectivity graph); just below one of those levels
the network falls into the global minimum's funnel (A) and the rest (B), and the default is the level
with the largest min(|A|, |B|). (The top split of the graph, the obvious choice, isolated a single
minimum in every label-noise landscape measured: a rate out of one outlier says little.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lfl.errors import DataError
from lfl.kinetics.barriers import barriers_to_global_minimum, funnels, global_minimum_position
from lfl.kinetics.graph_transformation import TwoStateRates, two_state_rates
from lfl.kinetics.harmonic import check_temperature, occupations, transition_state_rates
from lfl.kinetics.network import TransitionNetwork

LN10 = math.log(10.0)


@dataclass
class LandscapeKinetics:
    landscape: str
    temperature: float
    funnel_level: float
    minima: pd.DataFrame  # minimum_id, energy, barrier_to_global, occupation, funnel_minimum_id
    transition_states: pd.DataFrame  # ts_id, min1_id, min2_id, energy, log10_k_min1_to_min2, log10_k_min2_to_min1
    two_state: TwoStateRates  # A: the global minimum's funnel at funnel_level; B: the rest of its network
    n_a: int
    n_b: int

    @property
    def global_minimum_occupation(self) -> float:
        gmin = global_minimum_position(self.minima["energy"].to_numpy())
        return float(self.minima["occupation"].iloc[gmin])

    def summary(self) -> dict:
        """The landscape's kinetic figures as plain numbers (JSON)."""
        rates = asdict(self.two_state)
        return {
            "landscape": self.landscape,
            "temperature": self.temperature,
            "funnel_level": self.funnel_level,
            "n_minima": int(len(self.minima)),
            "n_transition_states": int(len(self.transition_states)),
            "n_funnel_a": self.n_a,
            "n_rest_b": self.n_b,
            "global_minimum_occupation": self.global_minimum_occupation,
            "log10_rate_a_to_b": rates["log_rate_a_to_b"] / LN10,
            "log10_rate_b_to_a": rates["log_rate_b_to_a"] / LN10,
            "log10_mfpt_a_to_b": rates["log_mfpt_a_to_b"] / LN10,
            "log10_mfpt_b_to_a": rates["log_mfpt_b_to_a"] / LN10,
            "occupation_a": math.exp(rates["log_occupation_a"]),
            "occupation_b": math.exp(rates["log_occupation_b"]),
        }


def transition_network(ktn) -> TransitionNetwork:
    """The kinetics' view of a landscape's network (:class:`~lfl.db.ktn.KTN`)."""
    i, j = ktn.edges()
    return TransitionNetwork(ktn.minimum_energies, ktn.minimum_log_products, ktn.ts_energies, ktn.ts_log_products,
                             i, j)


def balanced_split_level(energies: np.ndarray, barriers: np.ndarray) -> float:
    """The level that splits the global minimum's part of the network most evenly into its funnel (A)
    and the rest (B): of the levels just below the transition states at which minima join the global
    minimum's funnel, the one with the largest min(|A|, |B|) (the highest of equals)."""
    joined = np.isfinite(barriers)
    join_levels = np.sort((barriers + energies)[joined])  # where each minimum joins; the global minimum first
    candidates = np.unique(join_levels[1:])
    below = np.searchsorted(join_levels, candidates, side="left")  # minima joined strictly below each
    balance = np.minimum(below, join_levels.size - below)
    best = int(np.flatnonzero(balance == balance.max())[-1])
    return float(np.nextafter(candidates[best], -np.inf))


def landscape_kinetics(store, name: str, *, temperature: float, funnel_level: float | None = None,
                       funnel_pair: tuple[int, int] | None = None) -> LandscapeKinetics:
    """The landscape's kinetics at ``temperature``. A and B of the two-state rates: by default the
    global minimum's funnel at the level and the rest of its part of the network; ``funnel_pair``
    (two minimum ids) names two funnels instead, those of its two minima at the level."""
    temperature = check_temperature(temperature)
    record = store.landscape(name)
    ktn = store.load_ktn(record.id)
    if ktn.n_minima == 0:
        raise DataError(f"landscape '{name}' has no minima")
    network = transition_network(ktn)
    i, j = network.min1, network.min2
    if not np.any(i != j):
        raise DataError(f"landscape '{name}' has no transition state between two minima: no rates to compute")
    energies, ts_energies = ktn.minimum_energies, ktn.ts_energies
    p = occupations(energies, ktn.minimum_log_products, temperature)  # refuses missing log products
    rates = transition_state_rates(network, temperature)
    barriers = barriers_to_global_minimum(energies, ts_energies, i, j)
    level = balanced_split_level(energies, barriers) if funnel_level is None else float(funnel_level)
    funnel = funnels(energies, ts_energies, i, j, level)
    if funnel_pair is None:
        gmin = global_minimum_position(energies)
        in_a = funnel == funnel[gmin]
        in_b = np.isfinite(barriers) & ~in_a
        if not in_b.any():
            raise DataError(f"at funnel level {level:.10g} the global minimum's funnel holds all of its part of the "
                            f"network of '{name}': choose a lower --funnel-level")
    else:
        try:
            first, second = ktn.index_of(list(funnel_pair))
        except KeyError:
            raise DataError(f"--funnels {funnel_pair[0]} {funnel_pair[1]}: not minima of '{name}'") from None
        in_a, in_b = funnel == funnel[first], funnel == funnel[second]
        if funnel[first] == funnel[second]:
            raise DataError(f"minima {funnel_pair[0]} and {funnel_pair[1]} share one funnel at level {level:.10g}: "
                            "choose a lower --funnel-level")
    two_state = two_state_rates(network, in_a, in_b, temperature)
    minima = pd.DataFrame({
        "minimum_id": ktn.minimum_ids,
        "energy": energies,
        "barrier_to_global": barriers,
        "occupation": p,
        "funnel_minimum_id": ktn.minimum_ids[funnel],
    })
    transition_states = pd.DataFrame({
        "ts_id": ktn.ts_ids,
        "min1_id": ktn.ts_min1,
        "min2_id": ktn.ts_min2,
        "energy": ts_energies,
        "log10_k_min1_to_min2": rates.forward / LN10,
        "log10_k_min2_to_min1": rates.backward / LN10,
    })
    return LandscapeKinetics(name, temperature, level, minima, transition_states, two_state,
                             int(in_a.sum()), int(in_b.sum()))


__all__ = ["LandscapeKinetics", "landscape_kinetics", "balanced_split_level", "transition_network"]
