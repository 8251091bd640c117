"""A landscape as the jobs see it: its definition file, its loss (a system) and its database identity.

The definition is a small JSON file written once per landscape (``lfl explore define``): the draw,
the network, the identity convention and the exploration settings. Jobs read it together with the
draw file, so no job needs the workflow config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lfl.atomic import atomic_path
from lfl.data.draw import Draw, load_draw
from lfl.errors import LflError

DEFINITION_KEYS = ("name", "study", "dataset", "draw", "network", "symmetry", "identity", "minimiser", "basin_hopping")


@dataclass(frozen=True, eq=False)
class Landscape:
    definition: dict
    draw: Draw

    @property
    def name(self) -> str:
        return self.definition["name"]

    def network_spec(self):
        from lfl.systems.network import parse_network_spec

        network = self.definition["network"]
        return parse_network_spec(
            {
                "inputs": self.draw.train_inputs.shape[1],
                "hidden": network["hidden"],
                "outputs": self.draw.n_classes,
                "lambda": network["lambda"],
                "connectivity_k": network.get("connectivity_k"),
                "n_data": self.draw.train_labels.size,
            }
        )

    def system(self):
        """The training loss: the network on the training items with their labels as given (noisy)."""
        from lfl import compile_time

        compile_time.start()  # its kernels compile or load from here on: counted apart (exploration_rounds)
        from lfl.systems.mlp import MLPSystem

        return MLPSystem(self.network_spec(), self.draw.train_inputs, self.draw.train_labels)

    def test_system(self):
        """The same network on the testing items (testing loss with the L2 term)."""
        from lfl.systems.mlp import MLPSystem

        return MLPSystem(self.network_spec(), self.draw.test_inputs, self.draw.test_labels)

    def database_spec(self):
        """The database identity: every parameter that defines the landscape, and the data's hash."""
        from lfl.db.store import LandscapeSpec

        spec = self.network_spec()
        identity = self.definition["identity"]
        return LandscapeSpec(
            name=self.name,
            dataset=self.definition["dataset"],
            data_hash=self.draw.metadata.get("content_hash") or self.draw.content_hash(),
            n_data=int(self.draw.train_labels.size),
            error_pct=float(self.draw.metadata["error_pct"]),
            draw_seed=int(self.draw.metadata["seed"]),
            architecture=spec.layer_sizes,
            l2_lambda=spec.lam,
            connectivity_k=spec.connectivity_k,
            symmetry_mode=self.definition["symmetry"],
            n_dof=spec.n_weights,
            energy_tol=float(identity["energy_tol"]),
            distance_tol=float(identity["distance_tol"]),
        )


def save_definition(definition: dict, path: str | Path) -> None:
    missing = [key for key in DEFINITION_KEYS if key not in definition]
    if missing:
        raise LflError(f"landscape definition lacks {', '.join(missing)}")
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(definition, indent=2, sort_keys=True) + "\n")


def load_definition(path: str | Path) -> dict:
    path = Path(path)
    try:
        definition = json.loads(path.read_text())
    except FileNotFoundError:
        raise LflError(f"{path}: no such landscape definition") from None
    except json.JSONDecodeError as exc:
        raise LflError(f"{path}: not a landscape definition (invalid JSON: {exc})") from None
    missing = [key for key in DEFINITION_KEYS if key not in definition]
    if missing:
        raise LflError(f"{path}: landscape definition lacks {', '.join(missing)}")
    return definition


def load_landscape(definition_path: str | Path, draw_path: str | Path) -> Landscape:
    return Landscape(load_definition(definition_path), load_draw(draw_path))
