"""Label noise (SCIENCE.md §5): exactly round(p N / 100) items get a wrong class, uniform over the others."""

from __future__ import annotations

import math

import numpy as np

from lfl.errors import DataError


def n_mislabelled(n_items: int, error_pct: float) -> int:
    """round(p N / 100) with halves rounded up (Python's round() would round 2.5 to 2)."""
    return int(math.floor(error_pct * n_items / 100.0 + 0.5))


def mislabel(
    labels: np.ndarray, *, error_pct: float, n_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return (noisy labels, mislabelled mask).

    The items are ranked by one random permutation and the first k are changed, each to
    ``(c + r) mod n_classes`` with r uniform in 1..n_classes-1 drawn for every item up front. So for one
    rng state the mislabelled sets of increasing percentages are nested and share their wrong labels:
    the landscapes of a noise series differ only by the extra noise.
    """
    if not 0.0 <= error_pct <= 100.0 or not np.isfinite(error_pct):
        raise DataError(f"error percentage must lie in 0..100, got {error_pct}")
    if n_classes < 2:
        raise DataError(f"label noise needs at least 2 classes, got {n_classes}")
    labels = np.asarray(labels, dtype=np.int64)
    order = rng.permutation(labels.size)
    shifts = rng.integers(1, n_classes, size=labels.size)
    chosen = order[: n_mislabelled(labels.size, error_pct)]
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + shifts[chosen]) % n_classes
    mask = np.zeros(labels.size, dtype=bool)
    mask[chosen] = True
    return noisy, mask
