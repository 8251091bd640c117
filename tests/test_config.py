import copy
from pathlib import Path

import pytest
import yaml

from lfl.config import all_draws, database_url, load_config, validate_config
from lfl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    with open(ROOT / "config.yaml") as handle:
        return yaml.safe_load(handle)


def test_default_config_is_valid_and_gets_defaults(config):
    validated = validate_config(config)
    assert validated["ljat3_minimiser"]["memory"] == 4
    assert validated["ljat3_minimiser"]["rms_gradient"] == 1e-10
    assert validated["datasets"]["D2"]["z"] == 2.0
    assert validated["studies"]["label_noise_D2"]["draw_seed"] == 0


def test_study_configs_are_valid():
    for path in sorted((ROOT / "studies").glob("*.yaml")) if (ROOT / "studies").exists() else []:
        load_config(path)


@pytest.mark.parametrize(
    "mutate, key, rule",
    [
        (lambda c: c["datasets"]["D2"].update(n_sample=3), "datasets.D2", "additionalProperties"),
        (lambda c: c.update(thred=2), "(top level)", "additionalProperties"),
        (lambda c: c["studies"]["label_noise_D2"].update(error_pct=[0, 150]), "error_pct.1", "maximum"),
        (lambda c: c["studies"]["label_noise_D2"].update(error_pct=[-1]), "error_pct.0", "minimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(n_data="many"), "n_data", "type"),
        (lambda c: c["studies"]["label_noise_D2"].update(n_data=10**7), "n_data", "pool size"),
        (lambda c: c["datasets"]["D2"].update(kind="ljat4"), "datasets.D2.kind", "enum"),
        (lambda c: c["datasets"]["D2"].update(box_length=1.0), "datasets.D2", "oneOf"),
        (lambda c: c["studies"]["label_noise_D2"].update(dataset="D9"), "dataset", "reference"),
        (lambda c: c.update(ljat3_minimiser={"memory": 0}), "ljat3_minimiser", "minimum"),
        (lambda c: c.update(threads=0), "threads", "minimum"),
        (lambda c: c.update(database={"url": "postgresql://u:secret@h/db"}), "database.url", "no secrets in files"),
        (lambda c: c.update(database={"url": "not a url"}), "database.url", "format"),
        (lambda c: c["studies"]["label_noise_D2"].update(networks=[{"hidden": [0], "lambda": 1e-4}]), "hidden.0",
         "minimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(networks=[{"hidden": [3], "lambda": 1e-4,
                                                                   "connectivity_k": 0}]), "connectivity_k", "minimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(basin_hopping={"steps": 0}), "steps", "minimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(basin_hopping={"temperature": -1}), "temperature",
         "minimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(networks=[{"hidden": [3]}]), "networks.0", "required"),
        (lambda c: c["studies"]["label_noise_D2"].update(refine={"modes": -1}), "refine.modes", "minimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(refine={"strategies": ["sideways"]}), "refine.strategies.0",
         "enum"),
        (lambda c: c["studies"]["label_noise_D2"].update(refine={"max_rounds": 2, "saturation": {"rounds": 3}}),
         "refine.saturation.rounds", "a criterion that can hold"),
        (lambda c: c["studies"]["label_noise_D2"].update(
            refine={"saturation": {"max_new_points": 0}}), "refine.saturation.max_new_points", "minimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(
            refine={"saturation": {"coverage": 1.5}}), "refine.saturation.coverage", "maximum"),
        (lambda c: c["studies"]["label_noise_D2"].update(refine={"cpu_budget": -1}), "refine.cpu_budget",
         "exclusiveMinimum"),
        (lambda c: c["studies"]["label_noise_D2"].update(identity={"energy_only_tol": 0}), "identity.energy_only_tol",
         "exclusiveMinimum"),
    ],
)
def test_bad_config_names_key_and_rule(config, mutate, key, rule):
    bad = copy.deepcopy(config)
    mutate(bad)
    with pytest.raises(ConfigError) as info:
        validate_config(bad)
    message = str(info.value)
    assert key in message and f"schema rule: {rule}" in message
    assert "\n" not in message


def test_the_embedded_mnist_gets_its_defaults_and_its_pool_size(config):
    config["datasets"]["M"] = {"kind": "mnist_5k"}
    config["studies"]["label_noise_D2"]["dataset"] = "M"
    validated = validate_config(copy.deepcopy(config))
    assert validated["datasets"]["M"] == {"kind": "mnist_5k", "seed": 0, "n_train": 2500}
    config["studies"]["label_noise_D2"]["n_data"] = 3000
    with pytest.raises(ConfigError, match=r"n_data': 3000 is larger than the training pool of 'M' \(2500 = its n_train\)"):
        validate_config(config)


def test_negative_box_length_is_refused(config):
    bad = copy.deepcopy(config)
    del bad["datasets"]["D2"]["name"]
    bad["datasets"]["D2"]["box_length"] = -1.0
    with pytest.raises(ConfigError, match="box_length.*exclusiveMinimum"):
        validate_config(bad)


def test_draws_expand_lists(config):
    config["studies"]["label_noise_D2"].update(n_data=[100, 200], draw_seed=[0, 1])
    draws = all_draws(validate_config(config))
    assert len(draws) == 2 * 4 * 2
    assert len({d.stem for d in draws}) == len(draws)


def test_database_url_prefers_environment(config, monkeypatch):
    validate_config(config)
    monkeypatch.delenv("LFL_DB_URL", raising=False)
    assert database_url(config).startswith("sqlite:///")
    monkeypatch.setenv("LFL_DB_URL", "postgresql+psycopg://u:secret@h/db")
    assert database_url(config) == "postgresql+psycopg://u:secret@h/db"


def test_unreadable_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
