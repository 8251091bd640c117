"""Load and validate the workflow configuration against workflow/schemas/config.schema.yaml.

Errors name the key (as a dotted path) and the schema rule it broke, in one line. Defaults from the
schema are filled in, so every later step reads complete settings.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from lfl.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("schemas") / "config.schema.yaml"

LJAT3_BOX_LENGTHS = {"D1": 2.0 * 3.0**0.5, "D2": 1.385, "D3": 2.0 * 2.0**0.5}


def load_schema() -> dict:
    with open(SCHEMA_PATH) as handle:
        schema = yaml.safe_load(handle)
    _hoist_ref_defaults(schema, schema.get("$defs", {}))
    return schema


def _hoist_ref_defaults(node, definitions: dict) -> None:
    """Copy the default of a referenced definition onto each ``$ref`` that has none, so that
    the default-filling validator (which sees only the referencing schema) fills it in."""
    if isinstance(node, dict):
        target = node.get("$ref", "")
        if target.startswith("#/$defs/") and "default" not in node:
            referenced = definitions.get(target.rsplit("/", 1)[1], {})
            if "default" in referenced:
                node["default"] = copy.deepcopy(referenced["default"])
        for value in node.values():
            _hoist_ref_defaults(value, definitions)
    elif isinstance(node, list):
        for value in node:
            _hoist_ref_defaults(value, definitions)


def _with_defaults(validator_class):
    """A validator that fills each property's ``default`` before checking the object."""
    check_properties = validator_class.VALIDATORS["properties"]

    def fill_then_check(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": fill_then_check})


_Validator = _with_defaults(Draft202012Validator)


def _describe(error) -> str:
    path = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    # oneOf failures hide the useful message in the best-matching sub-error
    from jsonschema.exceptions import best_match

    if error.validator == "oneOf" and not error.context:
        # valid under several alternatives, e.g. both `name` and `box_length` given
        keys = [key for option in error.validator_value for key in option.get("required", [])]
        return f"config key '{path}': give exactly one of {', '.join(keys)} (schema rule: oneOf)"
    if error.context:
        error = best_match(error.context)
        path = ".".join(str(part) for part in error.absolute_path) or path
    return f"config key '{path}': {error.message} (schema rule: {error.validator})"


def validate_config(config: dict) -> dict:
    """Validate in place (defaults filled) and return the config; raise ConfigError on the first error."""
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping of keys to values")
    validator = _Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        raise ConfigError(_describe(errors[0]))
    _check_references(config)
    return config


def _check_references(config: dict) -> None:
    url = config["database"]["url"]
    if url and _has_password(url):
        raise ConfigError(
            "config key 'database.url': holds a password; set the URL in the environment as LFL_DB_URL "
            "instead (schema rule: no secrets in files)"
        )
    datasets = config["datasets"]
    for name, study in config["studies"].items():
        if study["dataset"] not in datasets:
            raise ConfigError(
                f"config key 'studies.{name}.dataset': unknown data set '{study['dataset']}' "
                f"(defined: {', '.join(sorted(datasets))}) (schema rule: reference)"
            )
        refine = study["refine"]
        quiet = refine["saturation"]["rounds"]
        if refine["max_rounds"] and quiet > refine["max_rounds"]:
            raise ConfigError(
                f"config key 'studies.{name}.refine.saturation.rounds': {quiet} quiet rounds can never hold "
                f"within max_rounds = {refine['max_rounds']} (schema rule: a criterion that can hold)"
            )
        dataset = datasets[study["dataset"]]
        pool = {"ljat3": lambda d: (d["n_samples"] // 2, "n_samples / 2"),
                "mnist_5k": lambda d: (d["n_train"], "its n_train")}.get(dataset["kind"])
        if pool is not None:
            pool_size, what = pool(dataset)
            for n_data in as_list(study["n_data"]):
                if n_data > pool_size:
                    raise ConfigError(
                        f"config key 'studies.{name}.n_data': {n_data} is larger than the training pool of "
                        f"'{study['dataset']}' ({pool_size} = {what}) (schema rule: pool size)"
                    )


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password is not None
    except ArgumentError:
        raise ConfigError(f"config key 'database.url': {url!r} is not an SQLAlchemy URL (schema rule: format)") from None


def load_config(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    with open(path) as handle:
        try:
            config = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    return validate_config(config or {})


def as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def format_pct(pct: float) -> str:
    """10 -> '10', 12.5 -> '12.5': stable, readable file-name fragments."""
    return f"{float(pct):g}"


@dataclass(frozen=True)
class DrawSpec:
    """One training/testing draw: everything that defines the data of one landscape."""

    dataset: str
    n_data: int
    error_pct: float
    seed: int
    n_test: int | None

    @property
    def stem(self) -> str:
        test = "" if self.n_test is None else f"_t{self.n_test}"
        return f"{self.dataset}/n{self.n_data}_e{format_pct(self.error_pct)}_s{self.seed}{test}"


def draws_of_study(study: dict) -> list[DrawSpec]:
    return [
        DrawSpec(study["dataset"], int(n_data), float(pct), int(seed), study.get("n_test"))
        for n_data in as_list(study["n_data"])
        for pct in study["error_pct"]
        for seed in as_list(study["draw_seed"])
    ]


def all_draws(config: dict) -> list[DrawSpec]:
    seen: dict[str, DrawSpec] = {}
    for study in config["studies"].values():
        for draw in draws_of_study(study):
            seen.setdefault(draw.stem, draw)
    return list(seen.values())


def database_url(config: dict) -> str:
    """The database URL: LFL_DB_URL from the environment wins over the config (passwords stay out of
    files); without either, an SQLite file in the results folder."""
    configured = config.get("database", {}).get("url")
    return os.environ.get("LFL_DB_URL") or configured or f"sqlite:///{config['results_dir']}/landscapes.sqlite"


def network_tag(network: dict) -> str:
    """A file-name-safe tag: hidden [10], lambda 1e-4, k None -> 'h10_l0.0001_kfull'."""
    hidden = "-".join(str(n) for n in network["hidden"])
    k = network.get("connectivity_k")
    return f"h{hidden}_l{float(network['lambda']):g}_k{'full' if k is None else k}"


# basin-hopping keys that decide which jobs exist (not how one job runs): kept out of the definition
# so that more runs or steps later add jobs instead of invalidating the finished ones
_SCHEDULE_KEYS = ("runs", "steps", "chunk")
# basin_hopping.walkers: 1 is what every definition meant before the key existed; it is left out of the
# definition so that older landscapes keep their definitions and effort keys (nothing reruns)


@dataclass(frozen=True, eq=False)
class ConfiguredLandscape:
    """One landscape of a study: a draw, a network, the identity convention and how to explore it."""

    study: str
    draw: DrawSpec
    hidden: tuple[int, ...]
    lam: float
    connectivity_k: int | None
    symmetry: str
    study_settings: dict

    @property
    def network(self) -> dict:
        return {"hidden": list(self.hidden), "lambda": self.lam, "connectivity_k": self.connectivity_k}

    @property
    def name(self) -> str:
        return f"{self.draw.stem.replace('/', '_')}_{network_tag(self.network)}_{self.symmetry}"

    @property
    def schedule(self) -> dict:
        """runs, steps, chunk: how many basin-hopping jobs there are."""
        bh = self.study_settings["basin_hopping"]
        return {key: bh[key] for key in _SCHEDULE_KEYS}

    @property
    def connect(self) -> dict:
        return dict(self.study_settings["connect"])

    @property
    def refine(self) -> dict:
        return dict(self.study_settings["refine"])

    @property
    def analysis(self) -> dict:
        return dict(self.study_settings["analysis"])

    def definition(self) -> dict:
        """What a job needs to know about the landscape (written to its definition file)."""
        settings = self.study_settings
        return {
            "name": self.name,
            "study": self.study,
            "dataset": self.draw.dataset,
            "draw": {"n_data": self.draw.n_data, "error_pct": self.draw.error_pct, "seed": self.draw.seed,
                     "n_test": self.draw.n_test},
            "network": self.network,
            "symmetry": self.symmetry,
            "identity": dict(settings["identity"]),
            "minimiser": dict(settings["minimiser"]),
            "basin_hopping": {k: v for k, v in settings["basin_hopping"].items()
                              if k not in _SCHEDULE_KEYS and (k, v) != ("walkers", 1)},
        }


def landscapes_of_study(study_name: str, study: dict) -> list[ConfiguredLandscape]:
    settings = {key: study[key] for key in ("identity", "minimiser", "basin_hopping", "connect", "refine", "analysis")}
    return [
        ConfiguredLandscape(
            study=study_name,
            draw=draw,
            hidden=tuple(int(n) for n in network["hidden"]),
            lam=float(network["lambda"]),
            connectivity_k=network.get("connectivity_k"),
            symmetry=study["symmetry"],
            study_settings=settings,
        )
        for network in study.get("networks", [])
        for draw in draws_of_study(study)
    ]


def all_landscapes(config: dict) -> dict[str, ConfiguredLandscape]:
    """Every landscape by name; a landscape shared by two studies is explored with the first one's settings."""
    landscapes: dict[str, ConfiguredLandscape] = {}
    for name, study in config["studies"].items():
        for spec in landscapes_of_study(name, study):
            landscapes.setdefault(spec.name, spec)
    return landscapes
