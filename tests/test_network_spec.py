"""Network specs, weight counts and the one parameter layout (SCIENCE.md §3)."""

from __future__ import annotations

import numpy as np
import pytest

from lfl.errors import ConfigError, LflError
from lfl.systems.network import NetworkSpec, ParameterLayout, parse_network_spec


@pytest.mark.parametrize(
    ("spec", "n_weights"),
    [
        ([2, 10, 4, 1000, 1e-4], 74),
        ([784, 10, 10, 1000, 0.1], 7960),
        ([64, 10, 10, 1000, 0.1], 760),
        ({"inputs": 2, "hidden": [5, 5], "outputs": 4, "lambda": 1e-4}, 69),
        ({"inputs": 2, "hidden": [4, 4, 4], "outputs": 4, "lambda": 1e-4}, 72),
        ([2, [5, 5], 4, 100, 1e-4], 69),
    ],
)
def test_weight_counts(spec, n_weights):
    parsed = parse_network_spec(spec)
    assert parsed.n_full_weights == n_weights
    assert parsed.n_weights == n_weights


def test_list_and_dict_forms_agree():
    from_list = parse_network_spec([2, 10, 4, 1000, 1e-4])
    from_dict = parse_network_spec({"inputs": 2, "hidden": 10, "outputs": 4, "lambda": 1e-4, "n_data": 1000})
    assert from_list == from_dict
    assert from_list.hidden == (10,) and from_list.n_data == 1000 and from_list.lam == 1e-4
    assert parse_network_spec(from_list.to_dict()) == from_list
    assert parse_network_spec(from_list) == from_list
    assert parse_network_spec(from_list, connectivity_k=2).connectivity_k == 2
    assert parse_network_spec({"inputs": 2, "hidden": [10], "outputs": 4, "lam": 0.0, "k": 3}).connectivity_k == 3


@pytest.mark.parametrize(("k", "frozen"), [(1, 40), (2, 20), (3, 10), (4, 0), (None, 0)])
def test_connectivity_freezes_weights(k, frozen):
    spec = parse_network_spec([2, 10, 4, 1000, 1e-4], connectivity_k=k)
    assert spec.n_full_weights == 74
    assert spec.layout.n_frozen == frozen
    assert spec.n_weights == 74 - frozen


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ([2, 0, 4, 1000, 1e-4], "hidden nodes per layer must be at least 1"),
        ({"inputs": 2, "hidden": [5, 0], "outputs": 4, "lambda": 1e-4}, "hidden nodes per layer must be at least 1"),
        ({"inputs": 2, "hidden": [], "outputs": 4, "lambda": 1e-4}, "at least one hidden layer"),
        ({"inputs": 2, "hidden": 5, "outputs": 4, "lambda": 1e-4, "connectivity_k": 0}, "connectivity k must be at least 1"),
        ({"inputs": 2, "hidden": 5, "outputs": 4, "lambda": -1.0}, "lambda must be a finite number >= 0"),
        ({"inputs": 2, "hidden": 5, "outputs": 4, "lambda": float("nan")}, "lambda must be a finite number"),
        ({"inputs": 2, "hidden": 5, "outputs": 1, "lambda": 0.1}, "outputs (classes) must be at least 2"),
        ({"inputs": 0, "hidden": 5, "outputs": 4, "lambda": 0.1}, "inputs must be at least 1"),
        ({"inputs": 2.5, "hidden": 5, "outputs": 4, "lambda": 0.1}, "inputs must be an integer"),
        ({"inputs": 2, "hidden": 5, "outputs": 4}, "lacks lambda"),
        ({"inputs": 2, "hidden": 5, "outputs": 4, "lambda": 0.1, "colour": 3}, "unknown key 'colour'"),
        ([2, 10, 4], "5 entries"),
        ("2,10,4", "must be a list"),
    ],
)
def test_bad_specs_give_one_clear_error(spec, fragment):
    with pytest.raises(ConfigError) as info:
        parse_network_spec(spec)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, LflError)


def test_layout_offsets_follow_the_documented_convention():
    layout = ParameterLayout((3, 4, 2))
    # W1 (4x3) row-major, b1 (4), W2 (2x4) row-major, b2 (2)
    assert layout.weight_offsets == [0, 16]
    assert layout.bias_offsets == [12, 24]
    assert layout.n_full == 26
    full = np.arange(26.0)
    (w1, b1), (w2, b2) = layout.unpack(full)
    assert w1[2, 1] == 2 * 3 + 1  # W1[j=2, i=1] at j*n_in + i
    assert b1[3] == 12 + 3
    assert w2[1, 3] == 16 + 1 * 4 + 3
    assert b2[1] == 25
    names = layout.names()
    assert names[2 * 3 + 1] == "W1[2,1]" and names[15] == "b1[3]" and names[16 + 7] == "W2[1,3]" and names[25] == "b2[1]"
    assert np.array_equal(layout.pack(layout.unpack(full)), full)


def test_variable_vector_drops_frozen_weights_in_order():
    spec = parse_network_spec([2, 10, 4, 1000, 1e-4], connectivity_k=1)
    layout = spec.layout
    rng = np.random.default_rng(3)
    x = rng.normal(size=layout.n_variable)
    full = layout.to_full(x)
    assert full.shape == (74,)
    assert np.all(full[~layout.variable_mask] == 0.0)
    assert np.array_equal(full[layout.variable_mask], x)
    assert np.array_equal(layout.to_variable(full), x)
    assert np.all(np.diff(layout.variable_index) > 0)
    assert len(layout.names()) == layout.n_variable
    bad = full.copy()
    bad[np.flatnonzero(~layout.variable_mask)[0]] = 1.0
    with pytest.raises(LflError, match="frozen"):
        layout.to_variable(bad)
    with pytest.raises(LflError, match="shape"):
        layout.to_full(np.zeros(74))


def test_label_is_readable():
    assert NetworkSpec(inputs=2, hidden=(10,), outputs=4, lam=1e-4, n_data=1000).label() == "[2,10,4,1000,0.0001]"
    assert "k=2" in NetworkSpec(inputs=2, hidden=(5, 5), outputs=4, lam=1e-4, connectivity_k=2).label()


def test_config_form_takes_inputs_and_outputs_from_the_data():
    # workflow config: {hidden, lambda, connectivity_k}; inputs/outputs/n_data come from the data set
    spec = parse_network_spec({"hidden": [10], "lambda": 1e-4, "connectivity_k": None}, inputs=2, outputs=4, n_data=1000)
    assert spec == parse_network_spec([2, 10, 4, 1000, 1e-4])
    assert parse_network_spec({"hidden": [10], "lambda": 1e-4, "connectivity_k": 2}, inputs=2, outputs=4).n_weights == 54
