"""The figures of a landscape and of a study, from the database: disconnectivity graphs coloured by
training and testing AUC, a panel of a study's graphs side by side, and AUC box plots.

Until a landscape holds transition states its minima cannot be joined: its graph then shows every
minimum as a branch of its own (from the highest minimum down to its energy) and says so in its
title. A landscape with transition states shows the minima joined to the global minimum; the title
says how many others were left out. An empty landscape, or one of a single minimum, gives a figure
that says so. Figures go to PNG and SVG (:func:`lfl.analysis.plots.save_figure`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lfl.analysis.discovery import DISCOVERY_STEM, STUDY_DISCOVERY_STEM

# matplotlib and pandas are imported where figures are made: the workflow imports this module for the
# file names alone, when it parses the Snakefile
log = logging.getLogger(__name__)

COLOURINGS = {"train": "training AUC", "test": "testing AUC"}
GRAPH_STEM = "disconnectivity_{split}_auc"
PANEL_STEM = "disconnectivity_panel_{split}_auc"
BOXPLOT_STEM = "auc_boxplots"
FREE_GRAPH_STEM = "free_energy_disconnectivity_{split}_auc"
HEAT_CAPACITY_STEM = "heat_capacity"
ENERGY_LABEL = "training loss E"


def graph_stems() -> list[str]:
    """File stems (no suffix) of one landscape's figures: its graphs and its discovery curve."""
    return [GRAPH_STEM.format(split=split) for split in COLOURINGS] + [DISCOVERY_STEM]


def study_stems() -> list[str]:
    """File stems (no suffix) of a study's figures: the panels, the box plots, the discovery curves."""
    return [PANEL_STEM.format(split=split) for split in COLOURINGS] + [BOXPLOT_STEM, STUDY_DISCOVERY_STEM,
                                                                       HEAT_CAPACITY_STEM]


def landscape_tree(tables, *, levels: int, lowest_n: int | None = None):
    """The landscape's disconnectivity tree (input arrays: the KTN's minima by id) and a note on what
    it shows ("" when it shows every minimum joined); ``tables`` from :func:`~lfl.analysis.summary.read_landscape`."""
    from lfl.analysis.disconnectivity import build_disconnectivity_tree

    ktn = tables.ktn
    if ktn is None or ktn.n_minima == 0:
        empty = np.empty(0)
        index = np.empty(0, dtype=np.int64)
        return build_disconnectivity_tree(empty, empty, index, index, n_levels=levels), "no minima"
    joined = ktn.n_transition_states > 0
    a, b = ktn.edges()
    tree = build_disconnectivity_tree(
        ktn.minimum_energies, ktn.ts_energies, a, b, minimum_ids=ktn.minimum_ids, n_levels=levels,
        lowest_n=lowest_n, gmin_component_only=joined,
    )
    shown = min(ktn.n_minima, lowest_n) if lowest_n else ktn.n_minima
    if not joined:
        note = "no transition states yet" + (f": {ktn.n_minima} minima, not joined" if ktn.n_minima > 1 else "")
    elif tree.n_minima < shown:
        note = f"{tree.n_minima} of {shown} minima joined to the global minimum"
    else:
        note = ""
    if lowest_n and ktn.n_minima > lowest_n:
        note = ", ".join(part for part in (f"lowest {lowest_n} of {ktn.n_minima} minima", note) if part)
    return tree, note


def minimum_values(tables, column: str) -> np.ndarray:
    """A metric per minimum, aligned with the KTN's minima (NaN where not computed)."""
    if tables.ktn is None:
        return np.empty(0)
    by_id = tables.minima.set_index("minimum_id")[column]
    return by_id.reindex(tables.ktn.minimum_ids).to_numpy(dtype=np.float64)


def _title(name: str, colouring: str, note: str) -> str:
    return f"{name}\ncoloured by {colouring}" + (f"\n({note})" if note else "")


def landscape_figures(store, name: str, out_dir: str | Path, *, levels: int, lowest_n: int | None = None,
                      min_colour_span: float = 0.01) -> list[Path]:
    """One landscape's disconnectivity graphs coloured by training and testing AUC (PNG and SVG)."""
    import pandas as pd

    from lfl.analysis.discovery import discovery_curve, plot_discovery_curves
    from lfl.analysis.plots import plot_disconnectivity, save_figure
    from lfl.analysis.summary import landscape_labels, read_landscape, summary_row

    tables = read_landscape(store, name)
    tree, note = landscape_tree(tables, levels=levels, lowest_n=lowest_n)
    if note:
        log.info("%s: %s", name, note)
    label = landscape_labels(pd.DataFrame([summary_row(tables)]))[0]
    heading = name if label == name else f"{label} ({name})"
    written = []
    for split, colouring in COLOURINGS.items():
        fig = plot_disconnectivity(tree, minimum_values(tables, f"{split}_auc"), value_label=colouring,
                                   title=_title(heading, colouring, note), ylabel=ENERGY_LABEL,
                                   min_span=min_colour_span)
        written += save_figure(fig, Path(out_dir) / GRAPH_STEM.format(split=split))
    fig = plot_discovery_curves({label: discovery_curve(tables.rounds)}, title=f"{heading}: discovery curve")
    written += save_figure(fig, Path(out_dir) / DISCOVERY_STEM)
    return written


def study_figures(store, names: Sequence[str], out_dir: str | Path, *, study: str, levels: int,
                  lowest_n: int | None = None, min_colour_span: float = 0.01) -> list[Path]:
    """A study's panels of graphs (one per colouring, each landscape on its own colour scale), its AUC
    box plots and its discovery curves."""
    import pandas as pd

    from lfl.analysis.discovery import discovery_curve, plot_discovery_curves
    from lfl.analysis.plots import plot_auc_boxplots, plot_disconnectivity_panel, save_figure
    from lfl.analysis.summary import landscape_labels, read_landscape, summary_row

    tables = [read_landscape(store, name) for name in names]
    labels = landscape_labels(pd.DataFrame([summary_row(t, study=study) for t in tables]))
    trees, titles = {}, []
    for label, table in zip(labels, tables):
        tree, note = landscape_tree(table, levels=levels, lowest_n=lowest_n)
        title = f"{label}\n({note})" if note else label  # a panel's titles are its keys
        trees[title] = tree
        titles.append(title)
    written = []
    for split, colouring in COLOURINGS.items():
        values = {title: minimum_values(table, f"{split}_auc") for title, table in zip(titles, tables)}
        fig = plot_disconnectivity_panel(trees, values, value_label=colouring,
                                         title=f"{study}: coloured by {colouring}", ylabel=ENERGY_LABEL,
                                         min_span=min_colour_span)
        written += save_figure(fig, Path(out_dir) / PANEL_STEM.format(split=split))
    groups = {label: {"train": table.minima["train_auc"].to_numpy(dtype=np.float64),
                      "test": table.minima["test_auc"].to_numpy(dtype=np.float64)}
              for label, table in zip(labels, tables)}
    fig = plot_auc_boxplots(groups, title=f"{study}: AUC over the minima", ylabel="AUC")
    written += save_figure(fig, Path(out_dir) / BOXPLOT_STEM)
    fig = plot_discovery_curves({label: discovery_curve(table.rounds) for label, table in zip(labels, tables)},
                                title=f"{study}: discovery curves")
    written += save_figure(fig, Path(out_dir) / STUDY_DISCOVERY_STEM)
    fig = plot_heat_capacities({label: heat_capacity_curve(table) for label, table in zip(labels, tables)},
                               title=f"{study}: heat capacity of the harmonic superposition")
    written += save_figure(fig, Path(out_dir) / HEAT_CAPACITY_STEM)
    return written


def heat_capacity_curve(tables, *, points: int = 200) -> dict | None:
    """C_V(T) / k_B of a landscape's minima over T from 1e-3 to 10 times their energy span, with its
    peak; None when the landscape cannot give one (fewer than two minima, missing log products)."""
    from lfl.kinetics.harmonic import heat_capacity, heat_capacity_peak

    ktn = tables.ktn
    if (ktn is None or ktn.n_minima < 2 or tables.record is None
            or not np.all(np.isfinite(ktn.minimum_log_products)) or np.ptp(ktn.minimum_energies) == 0):
        return None
    span = float(np.ptp(ktn.minimum_energies))
    temperatures = np.geomspace(1e-3 * span, 10.0 * span, points)
    n_dof = tables.record.spec.n_dof
    values = heat_capacity(ktn.minimum_energies, ktn.minimum_log_products, temperatures, n_dof)
    peak_t, peak = heat_capacity_peak(ktn.minimum_energies, ktn.minimum_log_products, n_dof)
    return {"temperature": temperatures, "cv": values - n_dof, "peak_temperature": peak_t, "peak": peak - n_dof}


def plot_heat_capacities(curves: dict, *, title: str):
    """C_V(T) - kappa (the part the landscape's minima add to the harmonic wells' own kappa), one line
    per landscape on a log temperature axis, the peak marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    missing = [label for label, curve in curves.items() if curve is None]
    for label, curve in curves.items():
        if curve is None:
            continue
        (line,) = ax.plot(curve["temperature"], curve["cv"], label=label, linewidth=1.5)
        ax.plot([curve["peak_temperature"]], [curve["peak"]], marker="o", color=line.get_color(), linestyle="none")
    ax.set_xscale("log")
    ax.set_xlabel("temperature T (loss units, k_B = 1)")
    ax.set_ylabel("C_V / k_B - κ (κ: number of weights)")
    ax.grid(alpha=0.3)
    if len(missing) < len(curves):
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no landscape with two minima and their log products", ha="center", va="center",
                transform=ax.transAxes)
    note = f"\n(no curve: {', '.join(missing)})" if missing and len(missing) < len(curves) else ""
    fig.suptitle(f"{title}\n(dot: the peak, where the low minima stop dominating){note}")
    return fig


def free_energy_figures(store, name: str, out_dir: str | Path, *, temperature: float, threshold: float,
                        levels: int, min_colour_span: float = 0.01) -> list[Path]:
    """A landscape's free-energy disconnectivity graphs at ``temperature`` (minima regrouped while
    free-energy barriers between groups are below ``threshold``), each group coloured by the
    occupation-weighted mean training or testing AUC of its minima."""
    from lfl.analysis.disconnectivity import build_disconnectivity_tree
    from lfl.analysis.kinetics import transition_network
    from lfl.analysis.plots import plot_disconnectivity, save_figure
    from lfl.analysis.summary import read_landscape
    from lfl.errors import DataError
    from lfl.kinetics.free_energy import regroup_free_energy

    tables = read_landscape(store, name)
    ktn = tables.ktn
    if ktn is None or ktn.n_minima == 0:
        raise DataError(f"landscape '{name}' has no minima")
    network = regroup_free_energy(transition_network(ktn), temperature=temperature, threshold=threshold)
    tree = build_disconnectivity_tree(network.free_energies, network.edge_free_energies, network.edge_a,
                                      network.edge_b, n_levels=levels, gmin_component_only=network.edge_a.size > 0)
    # within a group, minimum i weighs exp(-F_i / T)
    f_min = network.minimum_free_energies
    weight = np.exp(-(f_min - f_min.min()) / temperature)
    written = []
    for split, colouring in COLOURINGS.items():
        values = minimum_values(tables, f"{split}_auc")
        known = np.isfinite(values)
        total = np.bincount(network.group[known], weights=weight[known] * values[known], minlength=network.n_groups)
        norm = np.bincount(network.group[known], weights=weight[known], minlength=network.n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            group_values = np.where(norm > 0, total / norm, np.nan)
        title = (f"{name}: free energy at T = {temperature:g}, regrouped below {threshold:g}\n"
                 f"{network.n_groups} groups of {ktn.n_minima} minima, coloured by {colouring} (occupation-weighted)")
        fig = plot_disconnectivity(tree, group_values, value_label=colouring, title=title,
                                   ylabel="free energy F (loss units)", min_span=min_colour_span)
        written += save_figure(fig, Path(out_dir) / FREE_GRAPH_STEM.format(split=split))
    return written
