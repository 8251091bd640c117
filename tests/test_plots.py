"""Figures: branch colours follow the values through the colour map, files are valid PNG and SVG,
degenerate landscapes give a message instead of a crash, box plots drop NaN values and say so."""

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from lfl.analysis.disconnectivity import build_disconnectivity_tree
from lfl.analysis.plots import (
    BRANCH_COLLECTION,
    INTERNAL_COLOUR,
    MISSING_COLOUR,
    plot_auc_boxplots,
    plot_disconnectivity,
    plot_disconnectivity_panel,
    save_figure,
)
from lfl.errors import LflError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# 0-4 with TS a: 0-4 at 1.2, b: 1-2 at 1.8, c: 0-1 at 3.0, d: 2-3 at 2.2; minimum 5 disconnected
ENERGIES = np.array([0.0, 0.45, 0.9, 1.4, 0.2, 0.8])
TS_E = np.array([1.2, 1.8, 3.0, 2.2])
TS_1 = np.array([0, 1, 0, 2])
TS_2 = np.array([4, 2, 1, 3])
VALUES = np.array([0.9, 0.2, 0.6, 0.4, 0.8, 0.0])  # minimum 5 is filtered out: its 0.0 must not set the scale


def hand_tree():
    return build_disconnectivity_tree(ENERGIES, TS_E, TS_1, TS_2, delta=0.5)


def branches(ax):
    found = [c for c in ax.collections if c.get_label() == BRANCH_COLLECTION]
    assert len(found) == 1
    return found[0]


def texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def expected_rgba(values, vmin, vmax):
    """RdBu applied by hand to (value - vmin) / (vmax - vmin)."""
    return matplotlib.colormaps["RdBu"]((np.asarray(values) - vmin) / (vmax - vmin))


def test_leaf_colours_follow_values_and_internal_segments_grey():
    tree = hand_tree()
    fig = plot_disconnectivity(tree, VALUES, vmin=0.0, vmax=1.0)
    colours = branches(fig.axes[0]).get_colors()
    assert colours.shape == (tree.segments.shape[0], 4)
    own = tree.segment_minimum >= 0
    np.testing.assert_allclose(colours[own], expected_rgba(VALUES[tree.segment_minimum[own]], 0.0, 1.0))
    np.testing.assert_allclose(colours[~own], np.tile(INTERNAL_COLOUR, ((~own).sum(), 1)))
    # every minimum's own branch is coloured: 5 leaves, plus the segment above each group of one
    assert set(tree.segment_minimum[own].tolist()) == {0, 1, 2, 3, 4}
    assert len(fig.axes) == 2  # the tree and its colour bar


def test_default_scale_spans_values_of_minima_in_tree_red_low_blue_high():
    tree = hand_tree()
    fig = plot_disconnectivity(tree, VALUES)
    colours = branches(fig.axes[0]).get_colors()
    leaf = {m: colours[np.flatnonzero(tree.segment_node == tree.leaf_of[m])[0]] for m in range(5)}
    np.testing.assert_allclose(leaf[1], expected_rgba(0.2, 0.2, 0.9))  # lowest value in the tree
    np.testing.assert_allclose(leaf[0], expected_rgba(0.9, 0.2, 0.9))  # highest
    assert leaf[1][0] > leaf[1][2]  # low: red
    assert leaf[0][2] > leaf[0][0]  # high: blue
    colour_bar = fig.axes[1]
    assert colour_bar.get_ylim() == pytest.approx((0.2, 0.9))


def test_nan_value_drawn_missing_colour_and_no_values_all_grey():
    tree = hand_tree()
    values = VALUES.copy()
    values[3] = np.nan
    colours = branches(plot_disconnectivity(tree, values).axes[0]).get_colors()
    np.testing.assert_allclose(colours[tree.segment_minimum == 3], np.tile(MISSING_COLOUR, (2, 1)))
    plain = plot_disconnectivity(tree)
    np.testing.assert_allclose(branches(plain.axes[0]).get_colors(),
                               np.tile(INTERNAL_COLOUR, (tree.segments.shape[0], 1)))
    assert len(plain.axes) == 1  # no colour bar without values


def test_values_of_wrong_length_rejected():
    with pytest.raises(LflError, match="one per input minimum"):
        plot_disconnectivity(hand_tree(), VALUES[:5])


def test_vertical_axis_is_energy():
    tree = hand_tree()
    ax = plot_disconnectivity(tree, VALUES).axes[0]
    low, high = ax.get_ylim()
    assert low < ENERGIES[:5].min() and high > 3.0
    assert "loss" in ax.get_ylabel()


def assert_valid_files(paths):
    png, svg = paths
    assert png.suffix == ".png" and svg.suffix == ".svg"
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")


def test_save_figure_writes_png_and_svg_atomically(tmp_path):
    fig = plot_disconnectivity(hand_tree(), VALUES, title="hand KTN")
    paths = save_figure(fig, tmp_path / "figures" / "dg_noise_0.1")
    assert [p.name for p in paths] == ["dg_noise_0.1.png", "dg_noise_0.1.svg"]
    assert_valid_files(paths)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["dg_noise_0.1.png", "dg_noise_0.1.svg"]
    again = save_figure(fig, tmp_path / "figures" / "dg_noise_0.1.png")  # a suffix given is dropped
    assert again == paths
    first_svg = paths[1].read_bytes()
    save_figure(fig, tmp_path / "figures" / "dg_noise_0.1")
    assert paths[1].read_bytes() == first_svg  # same figure, same SVG bytes


@pytest.mark.parametrize(
    ("energies", "message"),
    [(np.array([0.7]), "one minimum only"), (np.empty(0), "no minima")],
)
def test_single_and_empty_landscapes_give_message(tmp_path, energies, message):
    none = np.empty(0, dtype=int)
    tree = build_disconnectivity_tree(energies, np.empty(0), none, none)
    fig = plot_disconnectivity(tree, np.full(energies.size, 0.5))
    assert message in texts(fig)
    assert_valid_files(save_figure(fig, tmp_path / "degenerate"))


def panel_case():
    trees = {"0 %": hand_tree(), "10 %": hand_tree(), "50 %": hand_tree()}
    trees["100 %"] = build_disconnectivity_tree(np.empty(0), np.empty(0), np.empty(0, dtype=int),
                                                np.empty(0, dtype=int))
    values = {"0 %": VALUES, "10 %": VALUES * 0.5, "50 %": VALUES + 0.05, "100 %": np.empty(0)}
    return trees, values


def test_panel_can_share_one_colour_scale(tmp_path):
    trees, values = panel_case()
    fig = plot_disconnectivity_panel(trees, values, title="label noise", shared_scale=True)
    tree = trees["0 %"]
    own = tree.segment_minimum >= 0
    vmin, vmax = 0.1, 0.95  # over the minima in all trees: 0.2 * 0.5 and 0.9 + 0.05
    for ax, label in zip(fig.axes[:3], ["0 %", "10 %", "50 %"]):
        assert ax.get_title() == label
        colours = branches(ax).get_colors()
        np.testing.assert_allclose(colours[own],
                                   expected_rgba(values[label][tree.segment_minimum[own]], vmin, vmax))
    assert "no minima" in " ".join(t.get_text() for t in fig.axes[3].texts)
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colour_bars) == 1 and colour_bars[0].get_ylim() == pytest.approx((vmin, vmax))
    assert_valid_files(save_figure(fig, tmp_path / "panel"))


def test_panel_default_gives_each_landscape_its_own_scale_and_bar():
    trees, values = panel_case()
    fig = plot_disconnectivity_panel(trees, values)
    tree = trees["0 %"]
    own = tree.segment_minimum >= 0
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 3  # one per landscape with values; none for the empty one
    for bar, label in zip(bars, ["0 %", "10 %", "50 %"]):
        low, high = values[label][:5].min(), values[label][:5].max()  # the minima in the tree: 0..4
        assert bar.get_ylim() == pytest.approx((low, high))
        assert f"{low:.4g} to {high:.4g}" in bar.get_ylabel()  # the bar states the values' range
    for ax, label in zip(fig.axes, ["0 %", "10 %", "50 %"]):
        low, high = values[label][:5].min(), values[label][:5].max()
        np.testing.assert_allclose(branches(ax).get_colors()[own],
                                   expected_rgba(values[label][tree.segment_minimum[own]], low, high))


def test_a_spread_smaller_than_the_minimum_span_is_not_stretched():
    """Minima within 0.0005 of each other: a scale 0.01 wide about their centre, so they all look
    alike (near the map's centre), not red to blue; the smallest and largest differ little."""
    tree = hand_tree()
    values = 0.8121 + np.array([0.0005, 0.0, 0.0003, 0.0001, 0.0004, 0.0002])
    fig = plot_disconnectivity(tree, values)
    centre = 0.5 * (values[:5].min() + values[:5].max())
    assert fig.axes[1].get_ylim() == pytest.approx((centre - 0.005, centre + 0.005))
    colours = branches(fig.axes[0]).get_colors()[tree.segment_minimum >= 0]
    assert np.abs(colours - colours[0]).max() < 0.1
    stretched = plot_disconnectivity(tree, values, min_span=0.0)  # the old behaviour, for contrast
    wide = branches(stretched.axes[0]).get_colors()[tree.segment_minimum >= 0]
    assert np.abs(wide - wide[0]).max() > 0.5


def test_boxplots_drop_nan_and_note_count(tmp_path):
    rng = np.random.default_rng(3)
    train = rng.uniform(0.8, 1.0, 40)
    test = rng.uniform(0.6, 0.9, 40)
    test[:3] = np.nan
    groups = {"0 %": {"train": train, "test": test}, "50 %": {"train": train - 0.2, "test": test - 0.1}}
    fig = plot_auc_boxplots(groups, title="D1")
    first, second = fig.axes[:2]
    assert first.get_title() == "0 %" and second.get_title() == "50 %"
    labels = [t.get_text() for t in first.get_xticklabels()]
    assert labels == ["train n=40", "test n=37, 3 NaN dropped"]
    # two boxes a panel; each median line sits at the median of the finite values
    for ax, shift in ((first, (0.0, 0.0)), (second, (0.2, 0.1))):
        medians = sorted(line.get_ydata()[0] for line in ax.lines if line.get_gid() == "median")
        expected = sorted([np.median(train) - shift[0], np.nanmedian(test) - shift[1]])
        np.testing.assert_allclose(medians, expected)
        # the axis is fitted to this panel's values, not shared
        low, high = ax.get_ylim()
        values = np.concatenate([groups[ax.get_title()]["train"], groups[ax.get_title()]["test"]])
        assert low <= np.nanmin(values) and high >= np.nanmax(values) and high - low < 1.2 * np.ptp(values[~np.isnan(values)]) + 0.05
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"train", "test"}
    assert_valid_files(save_figure(fig, tmp_path / "box"))


def test_boxplots_all_nan_empty_and_missing_split(tmp_path):
    fig = plot_auc_boxplots({"0 %": {"train": np.array([np.nan, np.nan]), "test": np.array([0.7])}})
    assert "train n=0, 2 NaN dropped" == fig.axes[0].get_xticklabels()[0].get_text()
    assert "no landscapes" in texts(plot_auc_boxplots({}))
    with pytest.raises(LflError, match="no 'test' values"):
        plot_auc_boxplots({"0 %": {"train": np.array([0.5])}})


def test_figures_use_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot_disconnectivity(hand_tree(), VALUES, ax=ax, colorbar=False) is fig
    assert branches(ax).get_colors().shape[1] == 4
    assert to_rgba(ax.get_facecolor()) != to_rgba("white")  # pale values stay visible on grey


def test_many_branches_rasterized_in_svg(tmp_path):
    tree = hand_tree()
    fig = plot_disconnectivity(tree, VALUES, rasterize_above=3)
    assert branches(fig.axes[0]).get_rasterized()
    _, svg = save_figure(fig, tmp_path / "raster")
    assert "<image" in svg.read_text()
    assert not branches(plot_disconnectivity(tree, VALUES).axes[0]).get_rasterized()
