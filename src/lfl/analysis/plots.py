"""Figures: disconnectivity graphs coloured by a value per minimum, and AUC box plots.

Figures are built on :class:`matplotlib.figure.Figure` directly (Agg rendering, no pyplot state), so
they work without a display, in threads, and never pile up open figures.

Colouring of a disconnectivity graph: a segment with exactly one minimum below it (the branch of that
minimum, from the level where it became alone down to its own energy) takes the colour of that
minimum's value; segments above two or more minima are drawn in dark grey. Grey rather than a mean
over the basin, because a mean hides the spread inside the basin and, on a diverging map such as RdBu,
the mean of reds and blues falls on the pale centre that vanishes on a white page. Minima whose value
is NaN are drawn in light grey. Coloured branches carry a thin dark outline, so that values at the
pale centre of the map stay visible on any background.

Colour scales: a scale is never narrower than ``min_span`` (0.01 by default, in AUC): a landscape whose
minima all lie within 0.0005 of each other is drawn in nearly one colour, not stretched from red to
blue as if its minima were good and bad; the colour bar's label states the values' own range.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib import patheffects
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from lfl.analysis.disconnectivity import DisconnectivityTree
from lfl.atomic import atomic_path
from lfl.errors import LflError

log = logging.getLogger(__name__)

INTERNAL_COLOUR = to_rgba("0.2")
MISSING_COLOUR = to_rgba("0.6")
COLOURED_BACKGROUND = "0.88"
RASTERIZE_ABOVE = 5000
BRANCH_COLLECTION = "disconnectivity-branches"
FIGURE_FORMATS = (".png", ".svg")
SPLIT_COLOURS = ("#d6604d", "#4393c3", "#878787", "#b2abd2")
MIN_COLOUR_SPAN = 0.01  # the narrowest colour scale (AUC units): smaller spreads are not stretched
OUTLINE = "0.15"


def plot_disconnectivity(
    tree: DisconnectivityTree,
    values: np.ndarray | None = None,
    *,
    ax=None,
    cmap: str | Colormap = "RdBu",
    value_label: str = "AUC",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    ylabel: str = "training loss",
    linewidth: float | None = None,
    colorbar: bool = True,
    background: str | None = None,
    rasterize_above: int | None = RASTERIZE_ABOVE,
    min_span: float = MIN_COLOUR_SPAN,
) -> Figure:
    """Draw ``tree`` into ``ax`` (a new figure when None); returns the figure.

    ``values`` has one entry per input minimum (aligned with the arrays the tree was built from);
    None draws every branch in dark grey. The colour scale spans ``vmin``..``vmax`` (default: the
    range of the values of the minima in the tree, widened about its centre to ``min_span``). ``background`` is the axes colour (default: light
    grey when coloured, so that values at the pale centre of a diverging map stay visible; else white).
    Above ``rasterize_above`` segments (None: never) the branches are embedded in vector formats
    (SVG) as an image at the saving dpi, axes and text staying vector: tens of thousands of SVG
    paths take many seconds to write and to open, and cannot be told apart at any zoom a page offers.
    A tree of no or one minimum gives a figure that says so in text.
    """
    fig, ax = _figure_and_axes(ax, figsize=(8.0, 6.0))
    if title:
        ax.set_title(title)
    colour_map = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (tree.n_input,):
            raise LflError(f"values has shape {values.shape}; expected ({tree.n_input},), one per input minimum")
    if tree.n_minima <= 1:
        _say(ax, _few_minima_message(tree))
        return fig
    shown = [values[tree.kept]] if values is not None else []
    norm = _norm(shown, vmin, vmax, min_span)
    colours = segment_colours(tree, values, colour_map, norm)
    width = linewidth if linewidth is not None else _auto_linewidth(tree.n_minima)
    branches = LineCollection(tree.segments, colors=colours, linewidths=width, capstyle="butt")
    branches.set_label(BRANCH_COLLECTION)
    if values is not None:
        # an outline in proportion: thin lines of crowded graphs keep their colour
        outline = width + max(0.25, 0.6 * width)
        branches.set_path_effects([patheffects.withStroke(linewidth=outline, foreground=OUTLINE)])
    branches.set_rasterized(rasterize_above is not None and tree.segments.shape[0] > rasterize_above)
    ax.add_collection(branches)
    default_background = COLOURED_BACKGROUND if values is not None else "white"
    ax.set_facecolor(background if background is not None else default_background)
    _frame_tree_axes(ax, tree, ylabel)
    if values is not None and colorbar:
        fig.colorbar(ScalarMappable(norm=norm, cmap=colour_map), ax=ax, label=range_label(value_label, shown))
    return fig


def range_label(value_label: str, value_sets: Sequence[np.ndarray]) -> str:
    """The colour bar's label: what is coloured and the range of the values drawn."""
    finite = np.concatenate([v[np.isfinite(v)] for v in value_sets]) if value_sets else np.empty(0)
    if finite.size == 0:
        return value_label
    return f"{value_label} (minima: {finite.min():.4g} to {finite.max():.4g})"


def segment_colours(
    tree: DisconnectivityTree, values: np.ndarray | None, cmap: Colormap, norm: Normalize
) -> np.ndarray:
    """RGBA per segment of ``tree.segments``: the value's colour on one-minimum branches, else grey."""
    colours = np.tile(np.asarray(INTERNAL_COLOUR), (tree.segments.shape[0], 1))
    if values is None:
        return colours
    own = tree.segment_minimum >= 0
    branch_values = values[tree.segment_minimum[own]]
    branch_colours = cmap(norm(branch_values))
    branch_colours[~np.isfinite(branch_values)] = MISSING_COLOUR
    colours[own] = branch_colours
    return colours


def plot_disconnectivity_panel(
    trees: Mapping[str, DisconnectivityTree],
    values: Mapping[str, np.ndarray] | None = None,
    *,
    cmap: str | Colormap = "RdBu",
    value_label: str = "AUC",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    ylabel: str = "training loss",
    ncols: int | None = None,
    shared_scale: bool = False,
    min_span: float = MIN_COLOUR_SPAN,
) -> Figure:
    """Several landscapes side by side (e.g. 0/10/50/100 % noise).

    Each panel has its own colour scale and bar (default): the spread inside a landscape is what a
    reader compares, and one scale over 0.23..0.79 would draw every 0 % branch in one blue. With
    ``shared_scale`` one scale and one bar span every panel. ``values[label]`` is aligned with the
    input minima of ``trees[label]``; missing labels draw grey.
    """
    if not trees:
        fig, ax = _figure_and_axes(None, figsize=(6.0, 4.0))
        _say(ax, "no landscapes")
        return fig
    labels = list(trees)
    ncols = min(len(labels), 4) if ncols is None else int(ncols)
    if ncols < 1:
        raise LflError(f"ncols must be at least 1, got {ncols}")
    nrows = -(-len(labels) // ncols)
    fig = Figure(figsize=((4.2 if shared_scale else 5.0) * ncols + 1.2, 4.5 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    values = values or {}
    shared = [np.asarray(values[label], dtype=np.float64)[trees[label].kept] for label in labels if label in values]
    norm = _norm(shared, vmin, vmax, min_span) if shared_scale else None
    colour_map = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    for ax, label in zip(axes, labels):
        plot_disconnectivity(
            trees[label], values.get(label), ax=ax, cmap=colour_map, value_label=value_label,
            vmin=norm.vmin if norm else vmin, vmax=norm.vmax if norm else vmax, title=label, ylabel=ylabel,
            colorbar=not shared_scale, min_span=min_span,
        )
    for ax in axes[len(labels):]:
        ax.set_axis_off()
    if shared_scale and shared:
        fig.colorbar(ScalarMappable(norm=norm, cmap=colour_map), ax=list(axes[: len(labels)]),
                     label=range_label(value_label, shared))
    if title:
        fig.suptitle(title)
    return fig


def plot_auc_boxplots(
    groups: Mapping[str, Mapping[str, np.ndarray]],
    *,
    splits: Sequence[str] = ("train", "test"),
    title: str | None = None,
    ylabel: str = "AUC",
    ncols: int | None = None,
) -> Figure:
    """Box plots of AUC over the minima: one panel per group (e.g. noise level), one box per split.

    Each panel's axis is fitted to its own values (the spread within a landscape is what it shows:
    on one axis from 0.2 to 0.8 the boxes of 0 % noise collapse to lines). ``groups[label][split]``
    is an array of values; NaN values are dropped and their count is written under the box, with the
    number of minima used.
    """
    if not groups:
        fig, ax = _figure_and_axes(None, figsize=(6.0, 4.0))
        _say(ax, "no landscapes")
        if title:
            ax.set_title(title)
        return fig
    labels = list(groups)
    ncols = min(len(labels), 4) if ncols is None else int(ncols)
    nrows = -(-len(labels) // ncols)
    fig = Figure(figsize=(max(4.0, 1.2 * len(splits) + 1.6) * ncols, 4.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, label in zip(axes, labels):
        by_split = groups[label]
        notes = []
        for s, split in enumerate(splits):
            if split not in by_split:
                raise LflError(f"box plot group {label!r} has no {split!r} values (has {sorted(by_split)})")
            data = np.asarray(by_split[split], dtype=np.float64).ravel()
            finite = data[np.isfinite(data)]
            dropped = data.size - finite.size
            colour = SPLIT_COLOURS[s % len(SPLIT_COLOURS)]
            if finite.size:
                ax.boxplot(
                    [finite], positions=[s], widths=0.7, patch_artist=True, manage_ticks=False,
                    boxprops={"facecolor": colour, "alpha": 0.8}, medianprops={"color": "black", "gid": "median"},
                    flierprops={"marker": ".", "markersize": 3},
                )
            notes.append(f"{split} n={finite.size}" + (f", {dropped} NaN dropped" if dropped else ""))
            if dropped:
                log.info("box plot %s/%s: dropped %d NaN values of %d", label, split, dropped, data.size)
        ax.set_xticks(range(len(splits)), notes, fontsize="small")
        ax.set_xlim(-0.7, len(splits) - 0.3)
        ax.set_title(str(label), fontsize="medium")
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False)
    for ax in axes[len(labels):]:
        ax.set_axis_off()
    handles = [Patch(facecolor=SPLIT_COLOURS[s % len(SPLIT_COLOURS)], alpha=0.8, label=split)
               for s, split in enumerate(splits)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(splits), fontsize="small")
    if title:
        fig.suptitle(f"{title}\n(each panel's axis fitted to its own minima)")
    return fig


def save_figure(fig: Figure, path_without_suffix: str | Path, *, dpi: int = 150) -> list[Path]:
    """Write ``<path>.png`` and ``<path>.svg`` atomically; returns both paths.

    A trailing ``.png``/``.svg`` on the given path is dropped (other dots, as in ``noise_0.1``, stay).
    SVG ids and metadata are fixed so that the same figure gives the same bytes.
    """
    base = str(path_without_suffix)
    for suffix in FIGURE_FORMATS:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    written = []
    # constrained layout settles over a draw or two (long colour-bar labels move the axes): lay out
    # first, so that every save of the same figure gives the same bytes
    for _ in range(2):
        fig.draw_without_rendering()
    for suffix in FIGURE_FORMATS:
        target = Path(base + suffix)
        metadata = {"Date": None} if suffix == ".svg" else {}
        with matplotlib.rc_context({"svg.hashsalt": "lfl"}), atomic_path(target) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=dpi, metadata=metadata)
        written.append(target)
    log.info("wrote %s", ", ".join(str(p) for p in written))
    return written


def _figure_and_axes(ax, *, figsize):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _say(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize="large")
    ax.set_xticks([])
    ax.set_yticks([])


def _few_minima_message(tree: DisconnectivityTree) -> str:
    if tree.n_minima == 0:
        return "no minima"
    m = int(tree.kept[0])
    return f"one minimum only (id {tree.minimum_ids[m]}, E = {tree.energies[m]:.6g})"


def _norm(value_sets: list[np.ndarray], vmin: float | None, vmax: float | None,
          min_span: float = MIN_COLOUR_SPAN) -> Normalize:
    finite = [v[np.isfinite(v)] for v in value_sets]
    finite = np.concatenate(finite) if finite else np.empty(0)
    low = float(vmin) if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    high = float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if high < low:
        raise LflError(f"colour scale vmin {low:g} is above vmax {high:g}")
    if vmin is None and vmax is None and high - low < min_span:  # never stretch a small spread
        centre = 0.5 * (low + high)
        low, high = centre - 0.5 * min_span, centre + 0.5 * min_span
    if high == low:  # one value only: a flat scale would map everything to the bottom colour
        pad = 0.5 * abs(low) if low else 0.5
        low, high = (low - pad if vmin is None else low), (high + pad if vmax is None else high)
        if high == low:
            high = low + 1.0
    return Normalize(vmin=low, vmax=high)


def _auto_linewidth(n_minima: int) -> float:
    # thin lines once the leaves crowd: about one point per leaf slot in an 8-inch figure
    return float(np.clip(1.2 * np.sqrt(100.0 / max(n_minima, 1)), 0.1, 1.2))


def _frame_tree_axes(ax, tree: DisconnectivityTree, ylabel: str) -> None:
    x = tree.segments[:, :, 0]
    e = tree.segments[:, :, 1]
    e_low, e_high = float(e.min()), float(e.max())
    pad = 0.03 * (e_high - e_low) if e_high > e_low else 0.5
    ax.set_xlim(float(x.min()) - 1.0, float(x.max()) + 1.0)
    ax.set_ylim(e_low - pad, e_high + pad)
    ax.set_ylabel(ylabel)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
