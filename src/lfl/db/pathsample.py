"""PATHSAMPLE's file format: export a landscape for the Fortran tools, import one back.

Files (one directory per landscape):

- ``min.data``: one line per minimum: energy, ln of the product of the positive Hessian eigenvalues,
  point-group order, three moments of inertia. Networks have no rotations: the order is 1 and the
  moments are written as 1.0 1.0 1.0 (what PATHSAMPLE databases of non-molecular systems hold: ones keep
  the rotational factor of its rate expressions neutral, where zeros would make it 0/0).
- ``ts.data``: one line per transition state: energy, ln product, order, the 1-based line numbers of
  its two minima in ``min.data``, three moments of inertia.
- ``points.min`` / ``points.ts``: the coordinates, n_dof little-endian float64 per record, in file order.
- ``landscape.json``: lfl's own addition (PATHSAMPLE ignores it): the landscape's defining parameters,
  so that an import into an empty database can create the landscape.

Numbers are written with Python's shortest exact representation, so a round trip is exact. A missing
ln product (NULL) is written as 0.0; a transition state's negative eigenvalue and RMS gradient have no
place in the format and are not exported.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from lfl.atomic import atomic_path
from lfl.db.batches import MinimaBatch, TransitionStateBatch
from lfl.db.ingest import IngestResult
from lfl.db.store import LandscapeSpec, LandscapeStore
from lfl.errors import DataError, LflError
from lfl.identity.dedup import Distance

log = logging.getLogger(__name__)

MOMENTS = "1.0 1.0 1.0"
FOUND_BY = "pathsample-import"


def _number(value: float) -> str:
    return repr(float(value))


def export_pathsample(store: LandscapeStore, landscape: int | str, out_dir: str | Path) -> dict[str, int]:
    """Write min.data, ts.data, points.min, points.ts and landscape.json; returns the counts."""
    land = store.landscape(landscape)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    minima = store.point_table(land.id, kind="minima")
    ts = store.point_table(land.id, kind="transition_states")
    line_of = {int(i): k + 1 for k, i in enumerate(minima["id"].tolist())}

    missing = int(np.isnan(minima["log_prod_pos_eig"]).sum() + np.isnan(ts["log_prod_pos_eig"]).sum())
    if missing:  # the format has no blank: PATHSAMPLE would compute wrong rates from these zeros
        log.warning("%d stationary points of '%s' have no log product of positive Hessian eigenvalues: written as "
                    "0.0, so rates from this export are wrong for them (`lfl db upgrade --landscape-definition` "
                    "fills them)", missing, land.name)

    def log_prod(values: np.ndarray) -> list[str]:
        return [_number(0.0 if np.isnan(v) else v) for v in values.tolist()]

    min_lines = [
        f"{_number(e)} {lp} {int(order)} {MOMENTS}\n"
        for e, lp, order in zip(minima["energy"].tolist(), log_prod(minima["log_prod_pos_eig"]), minima["point_group_order"])
    ]
    ts_lines = [
        f"{_number(e)} {lp} {int(order)} {line_of[a]} {line_of[b]} {MOMENTS}\n"
        for e, lp, order, a, b in zip(
            ts["energy"].tolist(),
            log_prod(ts["log_prod_pos_eig"]),
            ts["point_group_order"],
            ts["min1_id"].tolist(),
            ts["min2_id"].tolist(),
        )
    ]
    with atomic_path(out / "min.data") as tmp:
        tmp.write_text("".join(min_lines))
    with atomic_path(out / "ts.data") as tmp:
        tmp.write_text("".join(ts_lines))
    with atomic_path(out / "points.min") as tmp:
        tmp.write_bytes(np.ascontiguousarray(minima["coords"], dtype="<f8").tobytes())
    with atomic_path(out / "points.ts") as tmp:
        tmp.write_bytes(np.ascontiguousarray(ts["coords"], dtype="<f8").tobytes())
    spec = asdict(land.spec)
    spec["architecture"] = list(land.spec.architecture)
    with atomic_path(out / "landscape.json") as tmp:
        tmp.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    counts = {"minima": len(min_lines), "transition_states": len(ts_lines)}
    log.info("exported landscape '%s' to %s: %d minima, %d transition states", land.name, out, *counts.values())
    return counts


def _read_table(path: Path, n_columns: int) -> np.ndarray:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    text = path.read_text()
    rows = [line.split() for line in text.splitlines() if line.strip()]
    for number, row in enumerate(rows, start=1):
        if len(row) < n_columns:
            raise DataError(f"{path}: line {number} has {len(row)} fields, expected {n_columns}")
    try:
        table = np.array([[float(v.replace("D", "E").replace("d", "e")) for v in row[:n_columns]] for row in rows])
    except ValueError as exc:
        raise DataError(f"{path}: not a number ({exc})") from None
    return table.reshape(len(rows), n_columns)


def _plausible(values: np.ndarray) -> np.ndarray:
    """Which float64 values look like coordinates: finite, and zero or of a magnitude in 1e-100..1e100
    (bytes read in the wrong order land far outside that, or on NaN and infinity)."""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & ((values == 0.0) | ((magnitude > 1e-100) & (magnitude < 1e100)))


def _read_points(path: Path, n_records: int, n_dof: int) -> np.ndarray:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if len(raw) != n_records * n_dof * 8:
        raise DataError(
            f"{path}: {len(raw)} bytes, expected {n_records} records of {n_dof} float64 ({n_records * n_dof * 8} bytes): "
            "truncated, or written for another number of weights"
        )
    values = np.frombuffer(raw, dtype="<f8")
    plausible = _plausible(values)
    if not plausible.all():
        swapped = _plausible(np.frombuffer(raw, dtype=">f8"))
        if swapped.sum() > plausible.sum():
            raise DataError(f"{path}: the coordinates read as big-endian float64; lfl reads and writes little-endian "
                            "(convert the file, e.g. numpy's byteswap)")
        bad = int(np.flatnonzero(~plausible)[0])
        raise DataError(f"{path}: value {float(values[bad])!r} at record {bad // n_dof + 1} is not a coordinate "
                        "(NaN, infinite or of absurd magnitude): not a float64 points file")
    return values.reshape(n_records, n_dof)


def _check_energies(path: Path, energies: np.ndarray, coords: np.ndarray, energy, tolerance: float) -> None:
    """Every energy of the table against the network's loss at its coordinates."""
    for k, (expected, x) in enumerate(zip(energies, coords)):
        actual = float(energy(x))
        if not abs(actual - expected) <= tolerance * max(1.0, abs(expected)):
            raise DataError(f"{path}: record {k + 1} has energy {float(expected)!r} but the network's loss at its "
                            f"coordinates is {actual!r}: another network or data set, or coordinates in another order")


def read_landscape_spec(in_dir: str | Path, name: str | None = None) -> LandscapeSpec:
    """The landscape.json of an export (renamed to ``name`` when given)."""
    path = Path(in_dir) / "landscape.json"
    if not path.exists():
        raise LflError(f"{path}: no such file, and landscape '{name}' is not in the database: name its network and "
                       "data with --landscape-definition JSON --draw NPZ")
    values = json.loads(path.read_text())
    if name is not None:
        values["name"] = name
    try:
        return LandscapeSpec(**values)
    except TypeError as exc:
        raise DataError(f"{path}: not a landscape description ({exc})") from None


def import_pathsample(
    store: LandscapeStore,
    landscape: int | str,
    in_dir: str | Path,
    *,
    distance: Distance | None = None,
    create: bool = True,
    spec: LandscapeSpec | None = None,
    energy=None,
    energy_tol: float = 1e-9,
) -> IngestResult:
    """Ingest a PATHSAMPLE directory into a landscape (deduplicated like any batch, with the
    landscape's own identity: for ``reduced`` ones the network's symmetry-invariant distance; one
    transaction). Everything is read and checked before anything is written.

    A landscape that does not exist is created (when ``create``) from ``spec``, else from the
    directory's landscape.json. ``energy`` (the network's loss, from a landscape definition) checks
    every energy of min.data and ts.data against its coordinates (relative ``energy_tol``).
    """
    in_dir = Path(in_dir)
    try:
        land = store.landscape(landscape)
    except LflError:
        if not create or not isinstance(landscape, str):
            raise
        land = None
        new_spec = replace(spec, name=landscape) if spec is not None else read_landscape_spec(in_dir, name=landscape)
    n_dof = land.spec.n_dof if land is not None else new_spec.n_dof
    min_table = _read_table(in_dir / "min.data", 3)
    ts_table = _read_table(in_dir / "ts.data", 5)
    min_coords = _read_points(in_dir / "points.min", len(min_table), n_dof)
    ts_coords = _read_points(in_dir / "points.ts", len(ts_table), n_dof)
    refs = ts_table[:, 3:5]
    if refs.size and (refs.min() < 1 or refs.max() > len(min_table) or np.any(refs != np.round(refs))):
        raise DataError(f"{in_dir / 'ts.data'}: minimum numbers must be integers in 1..{len(min_table)}")
    if energy is not None:
        _check_energies(in_dir / "min.data", min_table[:, 0], min_coords, energy, energy_tol)
        _check_energies(in_dir / "ts.data", ts_table[:, 0], ts_coords, energy, energy_tol)
    minima = MinimaBatch(
        energies=min_table[:, 0],
        coords=min_coords,
        log_prod_pos_eig=min_table[:, 1],
        point_group_order=min_table[:, 2],
        found_by=FOUND_BY,
        source=str(in_dir / "min.data"),
    )
    transition_states = TransitionStateBatch(
        energies=ts_table[:, 0],
        coords=ts_coords,
        min1=refs[:, 0].astype(np.int64) - 1,
        min2=refs[:, 1].astype(np.int64) - 1,
        min_refs="rows",
        log_prod_pos_eig=ts_table[:, 1],
        point_group_order=ts_table[:, 2],
        found_by=FOUND_BY,
        source=str(in_dir / "ts.data"),
    )
    if land is None:
        land = store.get_or_create_landscape(new_spec)
    result = store.ingest(land.id, minima=minima, transition_states=transition_states, distance=distance)
    log.info(
        "imported %s into landscape '%s': %d new minima, %d new transition states",
        in_dir,
        land.name,
        result.n_new_minima,
        result.n_new_transition_states,
    )
    return result
