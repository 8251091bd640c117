# Validate the config (defaults filled in) and name every file the rules produce.
import sys

from lfl.config import all_draws, validate_config, LJAT3_BOX_LENGTHS
from lfl.errors import ConfigError

try:
    validate_config(config)
except ConfigError as exc:
    sys.stderr.write(f"lfl: config error: {exc}\n")
    sys.exit(1)

R = config["results_dir"]
THREADS = config["threads"]
DRAWS = {draw.stem: draw for draw in all_draws(config)}


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
    return f"mnist --path {spec['path']}"


def draw_arguments(wildcards):
    draw = DRAWS[wildcards.stem]
    n_test = "" if draw.n_test is None else f" --n-test {draw.n_test}"
    return f"--n-data {draw.n_data} --error-pct {draw.error_pct!r} --seed {draw.seed}{n_test}"
