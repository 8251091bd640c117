"""How complete is a landscape: sample coverage and estimated totals from sighting counts (pure).

Each independent search is a draw from the landscape's stationary points, weighted by how easily
each is reached (SCIENCE.md §6). From the number of times each point was drawn (its *abundance*):

- ``n`` draws, ``S_obs`` distinct points, ``f1`` / ``f2`` points drawn exactly once / twice;
- **Good-Turing sample coverage** (Good 1953, Biometrika 40, 237): ``C = 1 - f1 / n``, the
  probability that the next draw finds a point already seen; 0 with no draws;
- **Chao1** (Chao 1984, Scand. J. Stat. 11, 265; variance and log-normal interval: Chao 1987,
  Biometrics 43, 783), in the small-sample form of Chao's own SpadeR (Chao et al.):
  ``S = S_obs + (n - 1)/n * f1^2 / (2 f2)`` when f1, f2 > 0; the bias-corrected
  ``S_obs + (n - 1)/n * f1 (f1 - 1) / 2`` when f2 = 0 and f1 > 1; otherwise ``S_obs`` with
  Chao's interval for an estimate that adds nothing (based on ``P = sum_k f_k exp(-k) / S_obs``,
  the chance that a point of the landscape was missed by every draw). The 95 % interval of the
  first two forms is log-normal: with ``t = S - S_obs`` and
  ``K = exp(z sqrt(ln(1 + var / t^2)))`` it is ``[S_obs + t / K, S_obs + t K]``, so its lower
  end never falls below ``S_obs``.

Only independent draws enter (random-start quenches; searches from random directions; connections
to randomly chosen partners). Basin-hopping steps are correlated and would overstate coverage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959963984540054  # the normal distribution's 97.5 % quantile


@dataclass(frozen=True)
class Completeness:
    """Coverage and estimated total of one kind of stationary point."""

    n_draws: int  # independent sightings
    n_observed: int  # distinct points among them
    f1: int  # seen exactly once
    f2: int  # seen exactly twice
    coverage: float  # Good-Turing: chance that the next draw finds a known point (0 with no draws)
    estimate: float  # Chao1 total
    estimate_low: float  # 95 % interval
    estimate_high: float

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


def completeness(abundances: Iterable[int], *, z: float = Z95) -> Completeness:
    """Coverage and Chao1 estimate from how often each observed point was drawn (zeros ignored)."""
    counts = np.asarray(list(abundances), dtype=np.int64)
    if counts.size and counts.min() < 0:
        raise ValueError("sighting counts must be >= 0")
    counts = counts[counts > 0]
    n = int(counts.sum())
    observed = int(counts.size)
    f1 = int(np.count_nonzero(counts == 1))
    f2 = int(np.count_nonzero(counts == 2))
    if n == 0:
        return Completeness(0, 0, 0, 0, 0.0, 0.0, 0.0, math.inf)
    coverage = 1.0 - f1 / n
    shrink = (n - 1) / n
    if f1 > 0 and f2 > 0:
        ratio = f1 / f2
        estimate = observed + shrink * f1 * f1 / (2.0 * f2)
        variance = f2 * (shrink * ratio**2 / 2.0 + shrink**2 * ratio**3 + shrink**2 * ratio**4 / 4.0)
        low, high = _log_normal_interval(observed, estimate, variance, z)
    elif f1 > 1:  # f2 == 0
        estimate = observed + shrink * f1 * (f1 - 1) / 2.0
        variance = (shrink * f1 * (f1 - 1) / 2.0 + shrink**2 * f1 * (2 * f1 - 1) ** 2 / 4.0
                    - shrink**2 * f1**4 / (4.0 * estimate))
        low, high = _log_normal_interval(observed, estimate, variance, z)
    else:
        estimate = float(observed)
        values, freq = np.unique(counts, return_counts=True)
        decay = np.exp(-values.astype(np.float64))
        variance = float(np.sum(freq * (decay - decay**2)) - np.sum(values * decay * freq) ** 2 / n)
        missed = float(np.sum(freq * decay) / observed)
        spread = z * math.sqrt(max(variance, 0.0)) / (1.0 - missed)
        centre = observed / (1.0 - missed)
        low, high = max(float(observed), centre - spread), centre + spread
    return Completeness(n, observed, f1, f2, coverage, float(estimate), float(low), float(high))


def _log_normal_interval(observed: int, estimate: float, variance: float, z: float) -> tuple[float, float]:
    unseen = estimate - observed
    k = math.exp(z * math.sqrt(math.log(1.0 + max(variance, 0.0) / unseen**2)))
    return observed + unseen / k, observed + unseen * k


__all__ = ["Completeness", "Z95", "completeness"]
