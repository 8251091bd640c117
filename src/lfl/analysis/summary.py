"""Landscape summaries (SCIENCE.md §7): one row per landscape, read from the database with SQL.

Every number comes from the database (minima, transition states, metric rows), so a landscape that
grew over many runs is summarised whole. Per landscape: its parameters; numbers of minima and
transition states; whether every minimum is joined to the global minimum; the global minimum's
training and testing AUC, loss (the full E, L2 term included) and plain mean cross-entropy; and over
all minima the mean and standard deviation (sample, ddof = 1) of the training, mislabelled-part,
correct-part and testing AUC (NaN values, i.e. undefined AUCs, left out).

A study's table is written as CSV (every column, full precision) and Markdown (the paper's shape:
the parameters that vary within the study, then the numbers, means as ``mean ± sd``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from lfl.analysis.counts import (
    DEFAULT_ENERGY_ONLY_TOL,
    degenerate_rearrangements,
    distinct_connections,
    distinct_energies,
)
from lfl.atomic import atomic_path
from lfl.db.models import METRICS, SPLITS
from lfl.errors import LflError

log = logging.getLogger(__name__)

AUC_SPLITS = ("train", "train_incorrect", "train_correct", "test")
AUC_LABELS = {"": "auc", " (macro)": "auc_macro"}  # heading suffix -> metric: both conventions, labelled
GMIN_METRICS = (("train", "auc"), ("train", "loss"), ("train", "cross_entropy"),
                ("test", "auc"), ("test", "loss"), ("test", "cross_entropy"))
N_METRIC_ROWS = len(SPLITS) * len(METRICS)
DEFAULT_TEMPERATURE = 0.01  # of the kinetic columns: basin-hopping's default temperature

# (column in the CSV, heading in the Markdown table) of the parameters that may vary within a study
PARAMETER_HEADINGS = {
    "dataset": "Data set",
    "hidden": "Hidden",
    "l2_lambda": "λ",
    "n_data": "N_data",
    "connectivity_k": "k",
    "draw_seed": "Seed",
    "symmetry_mode": "Identity",
}


@dataclass
class LandscapeTables:
    """What the summary and the figures read of one landscape (``record`` None: not in the database)."""

    name: str
    record: object | None
    ktn: object | None
    minima: pd.DataFrame  # one row per minimum: minimum_id, energy, n_metric_rows, <split>_<metric>
    rounds: list = field(default_factory=list)  # exploration_rounds rows, oldest first

    @property
    def n_minima(self) -> int:
        return int(len(self.minima))


def _metrics_query() -> str:
    columns = ",\n    ".join(
        f"max(CASE WHEN k.split = '{split}' AND k.metric = '{metric}' THEN k.value END) AS {split}_{metric}"
        for split in SPLITS
        for metric in METRICS
    )
    return f"""
SELECT m.id AS minimum_id, m.energy, count(k.minimum_id) AS n_metric_rows,
    {columns}
FROM minima m
LEFT JOIN minimum_metrics k ON k.minimum_id = m.id
WHERE m.landscape_id = :landscape_id
GROUP BY m.id, m.energy
ORDER BY m.id
"""


_METRICS_SQL = _metrics_query()


def minima_metrics(store, landscape_id: int) -> pd.DataFrame:
    """Every minimum of a landscape with every metric (NaN where undefined or not computed yet)."""
    with store.engine.connect() as conn:
        frame = pd.read_sql_query(text(_METRICS_SQL), conn, params={"landscape_id": int(landscape_id)})
    value_columns = [f"{split}_{metric}" for split in SPLITS for metric in METRICS]
    frame[value_columns] = frame[value_columns].astype(np.float64)
    return frame


def _no_minima() -> pd.DataFrame:
    columns = ["minimum_id", "energy", "n_metric_rows", *[f"{s}_{m}" for s in SPLITS for m in METRICS]]
    return pd.DataFrame({column: pd.Series(dtype=np.float64) for column in columns})


def read_landscape(store, name: str) -> LandscapeTables:
    """A landscape's network and metrics by name; an empty record (and a warning) when it is not stored."""
    try:
        record = store.landscape(name)
    except LflError:
        log.warning("landscape '%s' is not in database %s: summarised as empty", name, store.url)
        return LandscapeTables(name, None, None, _no_minima())
    return LandscapeTables(name, record, store.load_ktn(record.id), minima_metrics(store, record.id),
                           store.exploration_rounds(record.id))


def parameter_values(spec) -> dict:
    """The study-level parameters of a landscape spec (None when not stored)."""
    if spec is None:
        return {key: None for key in PARAMETER_HEADINGS} | {"error_pct": None, "architecture": None}
    hidden = spec.architecture[1:-1]
    return {
        "dataset": spec.dataset,
        "architecture": "[" + ",".join(str(n) for n in spec.architecture) + "]",
        "hidden": "-".join(str(n) for n in hidden),
        "l2_lambda": spec.l2_lambda,
        "n_data": spec.n_data,
        "connectivity_k": "full" if spec.connectivity_k is None else spec.connectivity_k,
        "draw_seed": spec.draw_seed,
        "symmetry_mode": spec.symmetry_mode,
        "error_pct": spec.error_pct,
    }


def _mean_std(values: pd.Series) -> tuple[float, float, int]:
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    mean = float(finite.mean()) if finite.size else float("nan")
    std = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    return mean, std, int(finite.size)


ESTIMATE_COLUMNS = (
    "n_minimum_draws", "minima_coverage", "minima_estimate", "minima_estimate_low", "minima_estimate_high",
    "n_transition_state_draws", "transition_states_coverage", "transition_states_estimate",
    "transition_states_estimate_low", "transition_states_estimate_high",
)


def landscape_thermodynamics(ktn, n_dof: int | None, temperature: float) -> dict:
    """The global minimum's occupation and the frustration index at ``temperature``, and the peak of
    C_V(T) (lfl.kinetics); NaN where the landscape cannot give them (no minima, minima without log
    products, no transition state for the frustration)."""
    values = {"kinetics_temperature": float(temperature), "global_min_occupation": math.nan,
              "frustration": math.nan, "cv_peak_temperature": math.nan, "cv_peak": math.nan}
    if ktn is None or ktn.n_minima == 0 or n_dof is None or not np.all(np.isfinite(ktn.minimum_log_products)):
        return values
    from lfl.kinetics.barriers import barriers_to_global_minimum, global_minimum_position
    from lfl.kinetics.frustration import frustration_index
    from lfl.kinetics.harmonic import heat_capacity_peak, occupations

    energies, log_products = ktn.minimum_energies, ktn.minimum_log_products
    values["global_min_occupation"] = float(occupations(energies, log_products, temperature)[global_minimum_position(energies)])
    i, j = ktn.edges()
    barriers = barriers_to_global_minimum(energies, ktn.ts_energies, i, j)
    values["frustration"] = frustration_index(energies, log_products, barriers, temperature)
    values["cv_peak_temperature"], values["cv_peak"] = heat_capacity_peak(energies, log_products, n_dof)
    return values


def summary_row(tables: LandscapeTables, *, study: str = "", energy_only_tol: float = DEFAULT_ENERGY_ONLY_TOL,
                temperature: float = DEFAULT_TEMPERATURE) -> dict:
    """One landscape's summary (the CSV columns), from what :func:`read_landscape` read."""
    spec = tables.record.spec if tables.record is not None else None
    row: dict = {"study": study, "landscape": tables.name, **parameter_values(spec)}
    ktn = tables.ktn
    n_minima = tables.n_minima
    n_ts = 0 if ktn is None else ktn.n_transition_states
    n_connected = int(ktn.connected_to_global_minimum().sum()) if ktn is not None and n_minima else 0
    frame = tables.minima
    row.update(
        n_minima=n_minima,
        n_transition_states=n_ts,
        n_connected_to_global_minimum=n_connected,
        connected=bool(n_minima) and n_connected == n_minima,
        n_scored=int((frame["n_metric_rows"] == N_METRIC_ROWS).sum()) if n_minima else 0,
        n_minima_energy_only=distinct_energies(frame["energy"], energy_only_tol) if n_minima else 0,
        n_transition_states_energy_only=distinct_energies(ktn.ts_energies, energy_only_tol) if n_ts else 0,
        n_connections=distinct_connections(ktn.ts_min1, ktn.ts_min2) if n_ts else 0,
        n_degenerate=degenerate_rearrangements(ktn.ts_min1, ktn.ts_min2) if n_ts else 0,
    )
    refine_rounds = [r for r in tables.rounds if r["stage"] == "refine"]
    last = tables.rounds[-1] if tables.rounds else {}
    row.update(
        n_refine_rounds=len(refine_rounds),
        # None: no refinement round has run; otherwise whether the last one declared saturation
        saturated=bool(refine_rounds[-1]["saturated"]) if refine_rounds else None,
        # why the refinement stopped: saturated, budget, max_rounds, exhausted (None: it had not stopped)
        stopped=refine_rounds[-1].get("stopped") if refine_rounds else None,
        cpu_seconds=float(sum(r["cpu_seconds"] for r in tables.rounds)),
        compile_seconds=float(sum(r.get("compile_seconds") or 0.0 for r in tables.rounds)),
    )
    # completeness over every independent sighting so far (the last step's estimates; NaN: no draws)
    for column in ESTIMATE_COLUMNS:
        value = last.get(column)
        row[column] = float("nan") if value is None else value
    if n_minima:  # lowest energy, lowest id on ties (as the store and the KTN choose it)
        gmin = frame.sort_values(["energy", "minimum_id"], kind="stable").iloc[0]
        gmin_id, gmin_energy = int(gmin["minimum_id"]), float(gmin["energy"])
    else:
        gmin_id, gmin_energy, gmin = None, float("nan"), None
    row["global_min_id"] = gmin_id
    row["global_min_energy"] = gmin_energy
    for split, metric in GMIN_METRICS:
        row[f"global_min_{split}_{metric}"] = float(gmin[f"{split}_{metric}"]) if gmin is not None else float("nan")
    for metric in ("auc", "auc_macro"):  # the reference class against the rest; the macro one-vs-rest mean
        for split in AUC_SPLITS:
            column = f"{split}_{metric}"
            mean, std, count = _mean_std(frame[column]) if n_minima else (float("nan"), float("nan"), 0)
            row[f"mean_{column}"] = mean
            row[f"std_{column}"] = std
            row[f"n_{column}"] = count
    row.update(landscape_thermodynamics(ktn, None if spec is None else spec.n_dof, temperature))
    if n_minima and row["n_scored"] < n_minima:
        log.warning("%s: %d of %d minima have no metrics yet (run `lfl analyse metrics`)", tables.name,
                    n_minima - row["n_scored"], n_minima)
    return row


def study_summary(store, names: Sequence[str], *, study: str = "",
                  energy_only_tol: float = DEFAULT_ENERGY_ONLY_TOL, temperature: float = DEFAULT_TEMPERATURE) -> pd.DataFrame:
    """The summary rows of a study's landscapes, in the order given."""
    rows = [summary_row(read_landscape(store, name), study=study, energy_only_tol=energy_only_tol,
                        temperature=temperature) for name in names]
    columns = list(summary_row(LandscapeTables("", None, None, _no_minima())))
    return pd.DataFrame(rows, columns=columns)


def varying_parameters(frame: pd.DataFrame) -> list[str]:
    """The parameter columns whose values differ between the rows (error_pct not included)."""
    return [key for key in PARAMETER_HEADINGS if key in frame and frame[key].astype(str).nunique() > 1]


def landscape_labels(frame: pd.DataFrame) -> list[str]:
    """A short label per row for figures: the data set, what varies within the study, the noise level
    ("D2, 10 % mislabelled"; "D1, Hidden=10, k=1, 0 % mislabelled")."""
    varying = varying_parameters(frame)
    labels = []
    for _, row in frame.iterrows():
        parts = [f"{PARAMETER_HEADINGS[key]}={_text(row[key])}" for key in varying]
        if pd.isna(row["error_pct"]):  # not stored: its name is all there is
            labels.append(str(row["landscape"]))
            continue
        if "dataset" not in varying:
            parts.insert(0, str(row["dataset"]))
        parts.append(f"{row['error_pct']:g} % mislabelled")
        labels.append(", ".join(parts))
    if len(set(labels)) < len(labels):  # e.g. landscapes not stored: their names tell them apart
        labels = [str(name) for name in frame["landscape"]]
    return labels


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _text(value) -> str:
    if value is None or _isnan(value):
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _number(value, digits: int) -> str:
    return "–" if value is None or _isnan(value) else f"{value:.{digits}f}"


def _saturated(value, stopped=None) -> str:
    if value is None or _isnan(value):
        return "–"  # no refinement rounds
    if bool(value):
        return "yes"
    return f"no ({stopped})" if isinstance(stopped, str) else "no (running)"


def _significant(value, digits: int = 3) -> str:
    return "–" if value is None or _isnan(value) else f"{value:.{digits}g}"


def _coverage(value) -> str:
    return "–" if value is None or _isnan(value) else f"{value:.2f}"


def _estimate(value, low, high) -> str:
    if value is None or _isnan(value):
        return "–"
    return f"{value:.0f} [{_number(low, 0)}, {_number(high, 0)}]"


def _mean_sd(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± sd`` with at least ``digits`` decimals, more when the sd needs them to show two
    significant figures (0.81207 ± 0.00027, never 0.812 ± 0.000)."""
    if _isnan(mean):
        return "–"
    if _isnan(std):
        return f"{mean:.{digits}f}"
    if std > 0:
        digits = max(digits, min(12, 1 - math.floor(math.log10(std))))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(frame: pd.DataFrame, *, study: str = "", reference_class: int | str | None = None) -> str:
    """The study's table in Markdown, shaped like a paper's: varying parameters, then the numbers."""
    varying = varying_parameters(frame)
    constant = [key for key in PARAMETER_HEADINGS if key not in varying and key in frame and len(frame)]
    headings = [PARAMETER_HEADINGS[key] for key in varying] + [
        "Error %", "Minima", "TS", "Connected", "Minima (E-only)", "TS (E-only)", "Degenerate TS", "Saturated",
        "Coverage min", "Est. minima [95 %]", "Coverage TS", "Est. TS [95 %]", "CPU s",
        "GM train AUC", "GM train loss", "GM train CE", "GM test AUC", "GM test loss", "GM test CE",
        *[f"{split} AUC{suffix}" for suffix in AUC_LABELS for split in ("Train", "Incorrect", "Correct", "Test")],
        "P(GM)", "Frustration", "T at C_V max",
    ]
    lines = [f"# {study or 'Landscape summary'}", ""]
    if constant:
        first = frame.iloc[0]
        lines.append("Common to every row: " + ", ".join(
            f"{PARAMETER_HEADINGS[key]} {_text(first[key])}" for key in constant) + ".")
    if reference_class is not None:
        what = ("the macro mean of one-vs-rest AUCs" if reference_class == "macro"
                else f"class {reference_class} against the rest")
        lines.append(f"AUC: {what}; AUC (macro): the mean of the one-vs-rest AUCs of every class. GM: the global "
                     "minimum. Loss: E with the L2 term; CE: the mean cross-entropy. Train/Incorrect/Correct/Test "
                     "AUC: mean ± standard deviation over the minima (training set with its noisy labels, its "
                     "mislabelled part, its correct part, the testing set).")
    if len(frame) and not _isnan(frame["kinetics_temperature"].iloc[0]):
        lines.append(f"At T = {frame['kinetics_temperature'].iloc[0]:g} (k_B = 1, loss units): P(GM) the global "
                     "minimum's equilibrium occupation (harmonic superposition); Frustration: de Souza, Niroomand "
                     "and Wales's index (J. Chem. Phys. 146, 124103, 2017); T at C_V max: where the heat capacity "
                     "peaks (SCIENCE.md §9).")
    lines.append("Coverage: Good-Turing sample coverage of the independent searches (the chance that the next one "
                 "finds a known point); Est.: Chao1 estimate of the total with its 95 % interval (SCIENCE.md §6). "
                 "Saturated: yes, or why the refinement stopped without (budget, max_rounds, exhausted).")
    missing = [str(name) for name, stored in zip(frame["landscape"], frame["dataset"]) if pd.isna(stored)]
    if missing:
        lines.append("Not in the database (rows of dashes): " + ", ".join(missing) + ".")
    lines += ["", "| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    for _, row in frame.iterrows():
        if row["n_minima"]:
            connected = "yes" if row["connected"] else f"no ({row['n_connected_to_global_minimum']}/{row['n_minima']})"
        else:
            connected = "–"
        cells = [_text(row[key]) for key in varying] + [
            _text(row["error_pct"]), str(row["n_minima"]), str(row["n_transition_states"]), connected,
            str(row["n_minima_energy_only"]), str(row["n_transition_states_energy_only"]), str(row["n_degenerate"]),
            _saturated(row["saturated"], row["stopped"]),
            _coverage(row["minima_coverage"]),
            _estimate(row["minima_estimate"], row["minima_estimate_low"], row["minima_estimate_high"]),
            _coverage(row["transition_states_coverage"]),
            _estimate(row["transition_states_estimate"], row["transition_states_estimate_low"],
                      row["transition_states_estimate_high"]),
            _number(row["cpu_seconds"], 0),
            _number(row["global_min_train_auc"], 4), _number(row["global_min_train_loss"], 5),
            _number(row["global_min_train_cross_entropy"], 5), _number(row["global_min_test_auc"], 4),
            _number(row["global_min_test_loss"], 5), _number(row["global_min_test_cross_entropy"], 5),
            *[_mean_sd(row[f"mean_{split}_{metric}"], row[f"std_{split}_{metric}"])
              for metric in AUC_LABELS.values() for split in AUC_SPLITS],
            _significant(row["global_min_occupation"]), _significant(row["frustration"]),
            _significant(row["cv_peak_temperature"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if frame.empty:
        lines.append("")
        lines.append("(no landscapes)")
    return "\n".join(lines) + "\n"


def write_tables(frame: pd.DataFrame, *, csv_path: str | Path, md_path: str | Path, study: str = "",
                 reference_class: int | str | None = None) -> None:
    """The CSV (every column, full precision) and the Markdown table, each written atomically."""
    with atomic_path(csv_path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False, float_format="%.17g")
    with atomic_path(md_path, suffix=".md") as tmp:
        Path(tmp).write_text(markdown_table(frame, study=study, reference_class=reference_class))
    log.info("wrote %s and %s (%d landscapes)", csv_path, md_path, len(frame))
