# Validate the config (defaults filled in) and name every file the rules produce.
import sys

import math
import shlex
import os

from lfl.config import all_draws, all_landscapes, database_url, validate_config
from lfl.errors import ConfigError

# Plain `snakemake --cores N` runs config.yaml (of the working directory); `--configfile FILE`
# replaces it whole (a `configfile:` directive would merge the two: the default study would run too).
if not config and os.path.exists("config.yaml"):
    import yaml

    with open("config.yaml") as handle:
        config.update(yaml.safe_load(handle) or {})

# Rules call the `lfl` next to the Python that runs Snakemake (the project's venv): it needs no
# activated venv and no PATH entry.
LFL = shlex.quote(os.path.join(os.path.dirname(sys.executable), "lfl"))

try:
    validate_config(config)
except ConfigError as exc:
    sys.stderr.write(f"lfl: config error: {exc}\n")
    sys.exit(1)

R = config["results_dir"]
THREADS = config["threads"]
DRAWS = {draw.stem: draw for draw in all_draws(config)}
LANDSCAPES = all_landscapes(config)
# LFL_DB_URL (with any password) stays in the environment, where `lfl` reads it: it never appears on a
# command line; without it, jobs get the configured URL
DB_ARGUMENT = "" if os.environ.get("LFL_DB_URL") else "--db " + shlex.quote(
    config["database"]["url"] or f"sqlite:///{R}/landscapes.sqlite"
)


def pool_path(dataset):
    return f"{R}/data/{dataset}.npz"


def draw_path(stem):
    return f"{R}/draws/{stem}.npz"


def pool_arguments(wildcards):
    """The `lfl data ...` arguments that make one pool, from its config entry."""
    spec = config["datasets"][wildcards.dataset]
    if spec["kind"] == "ljat3":
        box = f"--name {spec['name']}" if "name" in spec else f"--box-length {spec['box_length']!r}"
        minimiser = config["ljat3_minimiser"]
        return (
            f"ljat3 {box} --z {spec['z']!r} --n-samples {spec['n_samples']} --seed {spec['seed']} "
            f"--memory {minimiser['memory']} --max-step {minimiser['max_step']!r} "
            f"--initial-diag {minimiser['initial_diag']!r} --max-rise {minimiser['max_rise']!r} "
            f"--rms-gradient {minimiser['rms_gradient']!r} --max-iterations {minimiser['max_iterations']}"
        )
    if spec["kind"] == "digits":
        return f"digits --seed {spec['seed']}"
    if spec["kind"] == "mnist_5k":
        return f"mnist-5k --seed {spec['seed']} --n-train {spec['n_train']}"
    return f"mnist --path {spec['path']}"


def draw_arguments(wildcards):
    draw = DRAWS[wildcards.stem]
    n_test = "" if draw.n_test is None else f" --n-test {draw.n_test}"
    return f"--n-data {draw.n_data} --error-pct {draw.error_pct!r} --seed {draw.seed}{n_test}"


def definition_path(landscape):
    return f"{R}/landscapes/{landscape}/definition.json"


def chunk_path(landscape, run, chunk):
    return f"{R}/landscapes/{landscape}/minima/run{run}_chunk{chunk}.npz"


def minima_receipt(landscape):
    return f"{R}/landscapes/{landscape}/ingested/minima.json"


def chunks_of(landscape):
    """(run, chunk) of every basin-hopping job: runs x ceil(steps / chunk)."""
    schedule = LANDSCAPES[landscape].schedule
    n_chunks = math.ceil(schedule["steps"] / schedule["chunk"])
    return [(run, chunk) for run in range(schedule["runs"]) for chunk in range(n_chunks)]


def previous_chunk(wildcards):
    chunk = int(wildcards.chunk)
    return [] if chunk == 0 else [chunk_path(wildcards.landscape, wildcards.run, chunk - 1)]


def minima_receipts():
    return [minima_receipt(name) for name in LANDSCAPES]
