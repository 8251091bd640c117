"""Metrics of a minimum: probabilities, cross-entropy, loss, accuracy, AUC, subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lfl.analysis.evaluate import Metrics, accuracy, auc, cross_entropy, evaluate, log_probabilities, probabilities
from lfl.errors import DataError, LflError
from lfl.systems.mlp import MLPSystem
from lfl.systems.network import parse_network_spec


@pytest.fixture(scope="module")
def trained():
    spec = parse_network_spec({"inputs": 2, "hidden": [4, 3], "outputs": 4, "lambda": 1e-3})
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(60, 2))
    labels = rng.integers(0, 4, 60)
    system = MLPSystem(spec, inputs, labels)
    return system, system.random_weights(rng, 1.5), inputs, labels


def per_item_probabilities(system, x, inputs):
    """One item at a time, straight from SCIENCE.md §3 (no shared code with the evaluator)."""
    layers = system.layout.unpack(system.full_weights(x))
    rows = []
    for item in inputs:
        a = item
        for w, b in layers[:-1]:
            a = np.tanh(w @ a + b)
        y = layers[-1][0] @ a + layers[-1][1]
        e = np.exp(y - y.max())
        rows.append(e / e.sum())
    return np.array(rows)


def test_probabilities_match_a_per_item_computation(trained):
    system, x, inputs, _ = trained
    probs = probabilities(system, x, inputs)
    np.testing.assert_allclose(probs, per_item_probabilities(system, x, inputs), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(system.probabilities(x), probs, rtol=1e-14)


def test_training_loss_equals_the_system_energy(trained):
    system, x, inputs, labels = trained
    metrics = evaluate(system, x, inputs, labels)
    assert isinstance(metrics, Metrics) and metrics.n_items == 60
    assert metrics.loss == pytest.approx(system.energy(x), rel=1e-12)
    assert metrics.cross_entropy == pytest.approx(system.energy(x) - system.lam * float(x @ x), rel=1e-12)
    probs = per_item_probabilities(system, x, inputs)
    assert metrics.accuracy == pytest.approx(np.mean(probs.argmax(axis=1) == labels))
    assert metrics.auc == pytest.approx(roc_auc_score(labels == 0, probs[:, 0]), rel=1e-12)
    assert set(metrics.as_dict()) == {"n_items", "cross_entropy", "loss", "accuracy", "auc"}


def test_spec_with_full_or_variable_weights_and_other_reference_class():
    spec = parse_network_spec({"inputs": 2, "hidden": 5, "outputs": 3, "lambda": 1e-2, "connectivity_k": 1})
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(50, 2))
    labels = rng.integers(0, 3, 50)
    system = MLPSystem(spec, inputs, labels)
    x = system.random_weights(rng, 1.0)
    by_system = evaluate(system, x, inputs, labels, ref_class=2)
    by_spec_variable = evaluate(spec, x, inputs, labels, ref_class=2)
    by_spec_full = evaluate(spec.to_dict(), system.full_weights(x), inputs, labels, ref_class=2)
    assert by_system == by_spec_variable == by_spec_full
    probs = per_item_probabilities(system, x, inputs)
    assert by_system.auc == pytest.approx(roc_auc_score(labels == 2, probs[:, 2]), rel=1e-12)
    with pytest.raises(LflError, match="fits neither"):
        evaluate(spec, np.zeros(7), inputs, labels)


def test_subsets_by_mask_and_by_index(trained):
    system, x, inputs, labels = trained
    mask = np.zeros(60, dtype=bool)
    mask[::3] = True
    by_mask = evaluate(system, x, inputs, labels, subset=mask)
    by_index = evaluate(system, x, inputs, labels, subset=np.flatnonzero(mask))
    direct = evaluate(system, x, inputs[mask], labels[mask])
    assert by_mask == by_index
    assert by_mask.n_items == 20
    for field in ("cross_entropy", "loss", "accuracy", "auc"):
        assert getattr(by_mask, field) == pytest.approx(getattr(direct, field), rel=1e-12)


def test_subset_without_one_class_has_undefined_auc(trained):
    system, x, inputs, labels = trained
    only_reference = labels == 0
    no_reference = labels != 0
    assert math.isnan(evaluate(system, x, inputs, labels, subset=only_reference).auc)
    metrics = evaluate(system, x, inputs, labels, subset=no_reference)
    assert math.isnan(metrics.auc) and not math.isnan(metrics.cross_entropy)
    empty = evaluate(system, x, inputs, labels, subset=np.zeros(60, dtype=bool))
    assert empty.n_items == 0
    assert all(math.isnan(v) for v in (empty.cross_entropy, empty.loss, empty.accuracy, empty.auc))


def test_huge_outputs_do_not_underflow_the_metrics():
    spec = parse_network_spec([2, 3, 2, 4, 0.0])
    layout = spec.layout
    full = np.zeros(layout.n_full)
    (w1, b1), (w2, b2) = layout.unpack(full)
    w1[:, 0] = 1.0
    w2[0, :] = 800.0  # logits 0 and up to +-2400
    inputs = np.array([[5.0, 0.0], [-5.0, 0.0], [0.1, 0.0], [-0.1, 0.0], [-8.0, 0.0]])
    labels = np.array([1, 0, 1, 0, 1])
    log_probs = log_probabilities(spec, full, inputs)
    assert np.all(np.isfinite(log_probs))
    # item 0: logit 0 for class 1 against ~2400 for class 0
    assert log_probs[0, 1] == pytest.approx(-2400.0 * np.tanh(5.0), rel=1e-12)
    assert cross_entropy(log_probs, labels) > 1000
    assert accuracy(log_probs, labels) == pytest.approx(0.2)
    # items 1 (class 0) and 4 (class 1): p_0 underflows to 0 for both, log p_0 still ranks them
    assert np.exp(log_probs[[1, 4], 0]).max() == 0.0
    assert auc(log_probs, labels, 0, subset=[1, 4]) == 1.0


def test_bad_input_gives_one_clear_error(trained):
    system, x, inputs, labels = trained
    with pytest.raises(DataError, match="labels must lie in 0..3"):
        evaluate(system, x, inputs, np.where(labels == 0, 7, labels))
    with pytest.raises(DataError, match=r"shape \(items, 2\)"):
        evaluate(system, x, inputs[:, :1], labels)
    with pytest.raises(DataError, match="subset mask"):
        evaluate(system, x, inputs, labels, subset=np.ones(3, dtype=bool))
    with pytest.raises(DataError, match="reference class"):
        auc(log_probabilities(system, x, inputs), labels, ref_class=4)
    bad = x.copy()
    bad[0] = np.nan
    with pytest.raises(LflError, match="NaN"):
        evaluate(system, bad, inputs, labels)
