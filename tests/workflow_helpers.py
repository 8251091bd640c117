"""Run the real Snakemake workflow of this repository on a tiny config in a temporary folder."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_snakemake(workdir: Path, config: dict, *extra: str, cores: int = 2, env: dict | None = None):
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    environment = dict(os.environ, **(env or {}))
    # a clean PATH, as a user who never activated the venv has it: the rules must find `lfl` themselves
    venv_bin = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join(part for part in environment.get("PATH", "").split(os.pathsep)
                                          if part and Path(part).resolve() != Path(venv_bin).resolve())
    environment.pop("VIRTUAL_ENV", None)
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(config_path), "--cores", str(cores), "--profile", str(ROOT / "profiles" / "default"),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=workdir)


def tiny_ljat3_config(*, basin_hopping: dict, connect: dict, error_pct=(0,), analysis: dict | None = None,
                      refine: dict | None = None) -> dict:
    """The smallest real landscape study: [2,3,4,50,1e-3] on a 400-start D2 pool."""
    study = {
        "dataset": "D2",
        "n_data": 50,
        "error_pct": list(error_pct),
        "networks": [{"hidden": [3], "lambda": 1.0e-3}],
        "basin_hopping": basin_hopping,
        "connect": connect,
    }
    if analysis is not None:
        study["analysis"] = analysis
    if refine is not None:
        study["refine"] = refine
    return {
        "results_dir": "results",
        "threads": 1,
        "datasets": {"D2": {"kind": "ljat3", "name": "D2", "n_samples": 400, "seed": 5}},
        "studies": {"tiny": study},
    }


CONNECTED_LANDSCAPE = "D2_n50_e0_s0_h3_l0.001_kfull_reduced"


def connect_config(rounds: int) -> dict:
    """A tiny LJAT3 landscape with ``rounds`` connection rounds (the ``connected_run`` fixture's)."""
    return tiny_ljat3_config(
        basin_hopping={"runs": 2, "steps": 20, "chunk": 20, "seed": 1},
        connect={"rounds": rounds, "jobs": 2, "pairs_per_round": 4},
    )
