"""Seconds this process has spent compiling numba kernels or loading them from numba's cache.

Reported apart from the CPU seconds of each exploration step (``exploration_rounds.compile_seconds``):
the first job of a landscape compiles, later ones load, so CPU seconds with compilation included are
not comparable between steps. Measured as wall time under numba's compiler lock, which a kernel
holds while it compiles or loads (single-threaded work: about its CPU time). Counting starts when
:func:`start` is first called (``lfl`` calls it before any command runs); a forked worker counts on
from its parent's total, so take differences.
"""

from __future__ import annotations

_timer = None


def start() -> None:
    """Begin counting (idempotent; imports numba's event module only, not the compiler)."""
    global _timer
    if _timer is None:
        from numba.core import event

        _timer = event.TimingListener()
        event.register("numba:compiler_lock", _timer)


def compile_seconds() -> float:
    """Seconds spent so far (0.0 before :func:`start` or when nothing was compiled or loaded)."""
    return float(_timer.duration) if _timer is not None and _timer.done else 0.0


__all__ = ["compile_seconds", "start"]
