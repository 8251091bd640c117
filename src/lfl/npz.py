"""Arrays plus JSON metadata in one ``.npz`` file, the exchange format of every job's output (data
pools and draws, basin-hopping chunks, connection and refinement records): written atomically, read
without pickles, every failure one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lfl.atomic import atomic_path
from lfl.errors import DataError


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict) -> None:
    """Write arrays plus JSON metadata atomically (a killed job leaves no partial file)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, metadata=np.array(json.dumps(metadata, sort_keys=True)), **arrays)


def load_npz(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as exc:  # zipfile/format errors of every kind become one clear line
        raise DataError(f"{path}: not a readable .npz data file ({exc.__class__.__name__}: {exc})") from None
    if "metadata" not in arrays:
        raise DataError(f"{path}: no 'metadata' entry; not an lfl data file")
    metadata = json.loads(str(arrays.pop("metadata")))
    return arrays, metadata
