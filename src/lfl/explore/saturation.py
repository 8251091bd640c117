"""When a landscape's exploration stops: saturation from completeness estimates, or a limit (pure).

**Saturated** means that more effort stops adding stationary points, measured two ways at once:

- the Good-Turing sample coverage of minima *and* of transition states (over the landscape's
  independent sightings, :mod:`lfl.explore.completeness`) has reached ``coverage``: the next
  independent search would find a known point with at least that probability; and
- the last ``rounds`` rounds each did work (ran at least one task) and added fewer than
  ``max_new_points`` points (minima plus transition states).

Otherwise the stage stops for a limit, and says which (never "saturated"): ``budget`` (the stage's
CPU seconds reached ``cpu_budget``), ``max_rounds``, or ``exhausted`` (a round planned nothing: with
only finite strategies, every planned search was made). :func:`stop_reason` decides after each round.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Sequence
from dataclasses import dataclass

from lfl.errors import LflError

STOP_REASONS = ("saturated", "budget", "max_rounds", "exhausted")


@dataclass(frozen=True)
class SaturationCriterion:
    coverage: float = 0.95
    rounds: int = 2
    max_new_points: int = 1  # "fewer than": 1 means none at all

    def validate(self, max_rounds: int | None = None, *, key: str = "refine.saturation") -> None:
        if not (isinstance(self.coverage, (int, float)) and 0.0 < self.coverage <= 1.0):
            raise LflError(f"config key '{key}.coverage': must lie in (0, 1], got {self.coverage!r}")
        if int(self.rounds) != self.rounds or self.rounds < 1:
            raise LflError(f"config key '{key}.rounds': must be a whole number >= 1, got {self.rounds}")
        if int(self.max_new_points) != self.max_new_points or self.max_new_points < 1:
            raise LflError(f"config key '{key}.max_new_points': fewer than {self.max_new_points} new points "
                           f"can never hold (must be >= 1)")
        if max_rounds is not None and self.rounds > max_rounds:
            raise LflError(f"config key '{key}.rounds': {self.rounds} quiet rounds can never hold within "
                           f"refine.max_rounds = {max_rounds}")

    def quiet(self, rounds: Sequence[dict]) -> bool:
        """Whether the last ``self.rounds`` rows (exploration_rounds dicts, oldest first) each did work
        and added fewer than ``max_new_points`` points."""
        last = list(rounds)[-self.rounds:]
        return len(last) == self.rounds and all(
            r["n_tasks"] > 0 and r["n_new_minima"] + r["n_new_transition_states"] < self.max_new_points for r in last
        )

    def covered(self, row: dict) -> bool:
        """Whether the row's coverage of minima and of transition states both reach the target."""
        values = (row.get("minima_coverage"), row.get("transition_states_coverage"))
        return all(v is not None and not math.isnan(v) and v >= self.coverage for v in values)

    def holds(self, rounds: Sequence[dict]) -> bool:
        rounds = list(rounds)
        return bool(rounds) and self.quiet(rounds) and self.covered(rounds[-1])


def stop_reason(rounds: Sequence[dict], criterion: SaturationCriterion, *, max_rounds: int,
                cpu_budget: float | None) -> str | None:
    """Why the stage stops after its last round (``rounds``: its rows, oldest first), or None to go on."""
    rounds = list(rounds)
    if not rounds:
        return None
    if criterion.holds(rounds):
        return "saturated"
    if rounds[-1]["n_tasks"] == 0:
        return "exhausted"
    if cpu_budget is not None and sum(r["cpu_seconds"] for r in rounds) >= cpu_budget:
        return "budget"
    if len(rounds) >= max_rounds:
        return "max_rounds"
    return None


def process_cpu_seconds() -> float:
    """CPU seconds this process has used so far, start-up and imports included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return float(usage.ru_utime + usage.ru_stime)


__all__ = ["STOP_REASONS", "SaturationCriterion", "process_cpu_seconds", "stop_reason"]
