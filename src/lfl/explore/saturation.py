"""When a landscape has stopped growing: the saturation criterion over refinement rounds (pure).

A landscape is called saturated when its last ``rounds`` refinement rounds each added no minimum
and fewer than ``max_new_transition_states`` transition states, or when a round had nothing left to
try (every minimum searched along every mode, no shortcut or untrap pair left): more rounds of the
same effort would change nothing.
"""

from __future__ import annotations

import resource
from collections.abc import Sequence
from dataclasses import dataclass

from lfl.errors import LflError


@dataclass(frozen=True)
class SaturationCriterion:
    rounds: int = 2
    max_new_transition_states: int = 1  # "fewer than": 1 means none at all

    def validate(self, max_rounds: int, *, key: str = "refine.saturation") -> None:
        if int(self.rounds) != self.rounds or self.rounds < 1:
            raise LflError(f"config key '{key}.rounds': must be a whole number >= 1, got {self.rounds}")
        if int(self.max_new_transition_states) != self.max_new_transition_states or self.max_new_transition_states < 1:
            raise LflError(f"config key '{key}.max_new_transition_states': fewer than "
                           f"{self.max_new_transition_states} new transition states can never hold (must be >= 1)")
        if self.rounds > max_rounds:
            raise LflError(f"config key '{key}.rounds': {self.rounds} quiet rounds can never hold within "
                           f"refine.max_rounds = {max_rounds}")

    def holds(self, rounds: Sequence[dict]) -> bool:
        """Whether the last ``self.rounds`` rows (exploration_rounds dicts, oldest first) were all quiet."""
        last = list(rounds)[-self.rounds:]
        return len(last) == self.rounds and all(
            r["n_new_minima"] == 0 and r["n_new_transition_states"] < self.max_new_transition_states for r in last
        )


def process_cpu_seconds() -> float:
    """CPU seconds this process has used so far, start-up and imports included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return float(usage.ru_utime + usage.ru_stime)


__all__ = ["SaturationCriterion", "process_cpu_seconds"]
