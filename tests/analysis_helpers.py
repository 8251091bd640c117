"""Small landscapes in a database for the analysis tests: a synthetic pool, a noisy draw, a definition
file, and "minima" (random weight vectors stored with their training loss as energy; the analysis
never asks whether they are stationary), optionally joined by transition states."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lfl.analysis.evaluate import evaluate
from lfl.data.draw import draw_training_set, save_draw
from lfl.data.pool import DataPool
from lfl.db.batches import MinimaBatch, TransitionStateBatch
from lfl.db.store import LandscapeStore
from lfl.landscape import load_landscape, save_definition

HIDDEN = [3]
LAMBDA = 1e-3


def synthetic_pool(n_items: int = 240, seed: int = 0) -> DataPool:
    """Two inputs, four classes that depend on them (so a network can do better than chance)."""
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.8, 2.5, size=(n_items, 2))
    labels = (np.digitize(inputs[:, 0] + 0.3 * rng.normal(size=n_items), [1.3, 1.7, 2.1])).astype(np.int64)
    order = rng.permutation(n_items)
    half = n_items // 2
    metadata = {"kind": "synthetic", "name": "S", "n_classes": 4}
    return DataPool(inputs, labels, np.sort(order[:half]), np.sort(order[half:]), metadata).validate()


def definition(name: str, error_pct: float, n_data: int, seed: int = 0, n_test: int | None = None) -> dict:
    return {
        "name": name,
        "study": "test",
        "dataset": "S",
        "draw": {"n_data": n_data, "error_pct": error_pct, "seed": seed, "n_test": n_test},
        "network": {"hidden": HIDDEN, "lambda": LAMBDA, "connectivity_k": None},
        "symmetry": "raw",
        "identity": {"energy_tol": 1e-9, "distance_tol": 1e-6},
        "minimiser": {},
        "basin_hopping": {},
    }


def make_landscape(folder: Path, name: str, *, error_pct: float = 25.0, n_data: int = 40, seed: int = 0):
    """Definition and draw files for a landscape; returns (definition path, draw path, Landscape)."""
    folder.mkdir(parents=True, exist_ok=True)
    draw = draw_training_set(synthetic_pool(), n_data=n_data, error_pct=error_pct, seed=seed)
    draw_path = folder / f"{name}_draw.npz"
    save_draw(draw, draw_path)
    definition_path = folder / f"{name}.json"
    save_definition(definition(name, error_pct, n_data, seed), definition_path)
    return definition_path, draw_path, load_landscape(definition_path, draw_path)


def random_minima(landscape, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(energies, weights) of n random weight vectors; energy = the training loss with L2."""
    spec = landscape.network_spec()
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 1.0, size=(n, spec.n_weights))
    energies = np.array([evaluate(spec, x, landscape.draw.train_inputs, landscape.draw.train_labels).loss
                         for x in weights])
    return energies, weights


def store_minima(url: str, landscape, energies, weights, *, chain_ts: bool = False) -> np.ndarray:
    """Ingest the minima (and, with ``chain_ts``, a transition state between each pair of neighbours
    in the given order, above both); returns their ids."""
    with LandscapeStore(url, create=True) as store:
        record = store.get_or_create_landscape(landscape.database_spec())
        result = store.ingest(record.id, minima=MinimaBatch(np.asarray(energies, dtype=float), np.asarray(weights)))
        ids = result.minimum_ids
        if chain_ts and ids.size > 1:
            e = np.asarray(energies)
            ts_e = np.maximum(e[:-1], e[1:]) + 0.05 + 0.01 * np.arange(ids.size - 1)
            ts_x = 0.5 * (np.asarray(weights)[:-1] + np.asarray(weights)[1:])
            store.ingest(record.id, transition_states=TransitionStateBatch(ts_e, ts_x, ids[:-1], ids[1:]))
    return ids


def definition_name(path: Path) -> str:
    return json.loads(Path(path).read_text())["name"]
