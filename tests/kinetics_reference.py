"""Independent references for the kinetics tests: brute-force searches written for clarity, not speed."""

import math
from collections import deque


def brute_force_barrier(energies, edges, source: int, target: int) -> float:
    """The lowest level at which ``source`` and ``target`` are joined by edges ``(a, b, energy)`` at or
    below it, minus the source's energy (NaN: never joined); a breadth-first search per level."""
    for level in sorted({e for _, _, e in edges}):
        seen, queue = {source}, deque([source])
        while queue:
            node = queue.popleft()
            for a, b, e in edges:
                if e <= level and node in (a, b):
                    other = b if node == a else a
                    if other not in seen:
                        seen.add(other)
                        queue.append(other)
        if target in seen:
            return level - energies[source]
    return math.nan
