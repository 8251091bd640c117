"""Batches of stationary points handed to the store: plain numpy arrays, validated on construction.

A :class:`MinimaBatch` is m minima (energies (m,), coordinates (m, n) float64 and optional per-row
properties). A :class:`TransitionStateBatch` is t transition states whose two minima are given either
as database ids, as rows of the minima batch ingested with it (``min_refs="rows"``), or as
coordinates (a :class:`MinimaBatch` per side, deduplicated like any other minimum).

Bad input (NaN energies or coordinates, infinities, wrong lengths, wrong shapes) raises
:class:`lfl.errors.DataError` with one line. In the optional properties (RMS gradient, ln product of
eigenvalues, negative eigenvalue) NaN means "not known" and is stored as NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lfl.errors import DataError


def _float_column(
    values, size: int, what: str, source: str, allow_missing: bool = True, nan_is_null: bool = False
) -> np.ndarray | None:
    if values is None:
        if allow_missing:
            return None
        raise DataError(f"{source}: {what} is required")
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(size, float(array))
    if array.shape != (size,):
        raise DataError(f"{source}: {what} has shape {array.shape}, expected ({size},)")
    bad = np.isinf(array) if nan_is_null else ~np.isfinite(array)
    if bad.any():
        raise DataError(f"{source}: non-finite value ({array[bad][0]}) in {what} at row {int(np.argmax(bad))}")
    return array


def _int_column(values, size: int, what: str, source: str) -> np.ndarray | None:
    if values is None:
        return None
    array = np.asarray(values)
    if array.ndim == 0:
        array = np.full(size, array)
    if array.shape != (size,):
        raise DataError(f"{source}: {what} has shape {array.shape}, expected ({size},)")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise DataError(f"{source}: {what} must hold integers")
    return array.astype(np.int64)


def _coordinates(values, size: int, source: str) -> np.ndarray:
    coords = np.asarray(values, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[0] != size:
        raise DataError(f"{source}: coordinates have shape {coords.shape}, expected ({size}, n_dof)")
    bad = ~np.isfinite(coords)
    if bad.any():
        raise DataError(f"{source}: non-finite value in coordinates at row {int(np.argmax(bad.any(axis=1)))}")
    # little-endian float64, C order: what the database stores byte for byte
    return np.ascontiguousarray(coords, dtype="<f8")


def _labels(values, size: int, what: str, source: str) -> list[str | None]:
    if values is None or isinstance(values, str):
        return [values] * size
    labels = list(values)
    if len(labels) != size:
        raise DataError(f"{source}: {what} has {len(labels)} entries, expected {size}")
    return [None if v is None else str(v) for v in labels]


@dataclass
class MinimaBatch:
    energies: np.ndarray
    coords: np.ndarray
    rms_grad: np.ndarray | None = None
    n_neg_eig: np.ndarray | None = None  # Hessian index
    log_prod_pos_eig: np.ndarray | None = None
    point_group_order: np.ndarray | None = None
    found_by: str | Sequence[str | None] | None = None
    source: str = field(default="minima batch", repr=False)

    def __post_init__(self) -> None:
        energies = np.asarray(self.energies, dtype=np.float64)
        if energies.ndim != 1:
            raise DataError(f"{self.source}: energies have shape {energies.shape}, expected (m,)")
        m = energies.size
        self.energies = _float_column(energies, m, "energies", self.source, allow_missing=False)
        self.coords = _coordinates(self.coords, m, self.source)
        self.rms_grad = _float_column(self.rms_grad, m, "rms_grad", self.source, nan_is_null=True)
        self.n_neg_eig = _int_column(self.n_neg_eig, m, "n_neg_eig", self.source)
        self.log_prod_pos_eig = _float_column(self.log_prod_pos_eig, m, "log_prod_pos_eig", self.source, nan_is_null=True)
        self.point_group_order = _int_column(self.point_group_order, m, "point_group_order", self.source)
        self.found_by = _labels(self.found_by, m, "found_by", self.source)

    def __len__(self) -> int:
        return int(self.energies.size)

    @property
    def n_dof(self) -> int:
        return int(self.coords.shape[1])

    def take(self, rows) -> "MinimaBatch":
        rows = np.asarray(rows, dtype=np.int64)
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return MinimaBatch(
            energies=self.energies[rows],
            coords=self.coords[rows],
            rms_grad=pick(self.rms_grad),
            n_neg_eig=pick(self.n_neg_eig),
            log_prod_pos_eig=pick(self.log_prod_pos_eig),
            point_group_order=pick(self.point_group_order),
            found_by=[self.found_by[i] for i in rows],
            source=self.source,
        )

    def column_values(self) -> dict[str, list]:
        """Per-row values of the optional columns (None -> NULL), as Python lists for an insert."""
        return {
            "rms_grad": _as_list(self.rms_grad, len(self)),
            "n_neg_eig": _as_list(self.n_neg_eig, len(self)),
            "log_prod_pos_eig": _as_list(self.log_prod_pos_eig, len(self)),
            "point_group_order": _as_list(self.point_group_order, len(self), default=1),
            "found_by": list(self.found_by),
        }


def _as_list(values: np.ndarray | None, size: int, default=None) -> list:
    if values is None:
        return [default] * size
    listed = values.tolist()
    if values.dtype.kind == "f":
        return [None if v != v else v for v in listed]  # NaN: unknown -> NULL
    return listed


@dataclass
class TransitionStateBatch:
    energies: np.ndarray
    coords: np.ndarray
    min1: np.ndarray | MinimaBatch
    min2: np.ndarray | MinimaBatch
    min_refs: Literal["ids", "rows"] = "ids"  # how integer min1/min2 are meant: database ids or batch rows
    neg_eigenvalue: np.ndarray | None = None
    rms_grad: np.ndarray | None = None
    log_prod_pos_eig: np.ndarray | None = None
    point_group_order: np.ndarray | None = None
    found_by: str | Sequence[str | None] | None = None
    source: str = field(default="transition-state batch", repr=False)

    def __post_init__(self) -> None:
        energies = np.asarray(self.energies, dtype=np.float64)
        if energies.ndim != 1:
            raise DataError(f"{self.source}: energies have shape {energies.shape}, expected (t,)")
        t = energies.size
        self.energies = _float_column(energies, t, "energies", self.source, allow_missing=False)
        self.coords = _coordinates(self.coords, t, self.source)
        if self.min_refs not in ("ids", "rows"):
            raise DataError(f"{self.source}: min_refs must be 'ids' or 'rows', not {self.min_refs!r}")
        for side in ("min1", "min2"):
            value = getattr(self, side)
            if isinstance(value, MinimaBatch):
                if len(value) != t:
                    raise DataError(f"{self.source}: {side} holds {len(value)} minima, expected {t}")
            else:
                refs = _int_column(value, t, side, self.source)
                if refs is None:
                    raise DataError(f"{self.source}: {side} is required")
                if refs.size and refs.min() < (0 if self.min_refs == "rows" else 1):
                    raise DataError(f"{self.source}: {side} holds an invalid reference ({refs.min()})")
                setattr(self, side, refs)
        self.neg_eigenvalue = _float_column(self.neg_eigenvalue, t, "neg_eigenvalue", self.source, nan_is_null=True)
        self.rms_grad = _float_column(self.rms_grad, t, "rms_grad", self.source, nan_is_null=True)
        self.log_prod_pos_eig = _float_column(self.log_prod_pos_eig, t, "log_prod_pos_eig", self.source, nan_is_null=True)
        self.point_group_order = _int_column(self.point_group_order, t, "point_group_order", self.source)
        self.found_by = _labels(self.found_by, t, "found_by", self.source)

    def __len__(self) -> int:
        return int(self.energies.size)

    @property
    def n_dof(self) -> int:
        return int(self.coords.shape[1])

    def column_values(self) -> dict[str, list]:
        return {
            "neg_eigenvalue": _as_list(self.neg_eigenvalue, len(self)),
            "rms_grad": _as_list(self.rms_grad, len(self)),
            "log_prod_pos_eig": _as_list(self.log_prod_pos_eig, len(self)),
            "point_group_order": _as_list(self.point_group_order, len(self), default=1),
            "found_by": list(self.found_by),
        }
