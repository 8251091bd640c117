"""Metrics of minima: rank AUC, every split and metric against an independent per-item calculation,
the hand-made mislabelled-part case, and the incremental database writer (`lfl analyse metrics`)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from analysis_helpers import make_landscape, random_minima, store_minima
from lfl.analysis.metrics import ScoringData, check_reference_class, rank_auc, score_minima
from lfl.analysis.scoring import score_landscape
from lfl.cli import main
from lfl.db.models import METRICS, SPLITS
from lfl.db.store import LandscapeStore
from lfl.errors import DataError, LflError
from lfl.systems.network import parse_network_spec


def pairwise_auc(scores, positive) -> float:
    """Probability that a positive item outscores a negative one, ties counting one half."""
    pos, neg = scores[positive], scores[~positive]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def per_item_probabilities(spec, x, inputs):
    """One item at a time, straight from SCIENCE.md §3."""
    layers = spec.layout.unpack(spec.layout.to_full(x))
    rows = []
    for item in inputs:
        a = item
        for w, b in layers[:-1]:
            a = np.tanh(w @ a + b)
        y = layers[-1][0] @ a + layers[-1][1]
        e = np.exp(y - y.max())
        rows.append(e / e.sum())
    return np.array(rows)


def test_rank_auc_matches_pairwise_counting_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        scores = np.round(rng.normal(size=n), 1)  # many ties
        positive = rng.random(n) < 0.4
        expected = pairwise_auc(scores, positive)
        got = rank_auc(scores, positive)
        if math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(expected, abs=1e-13)
            assert got == pytest.approx(roc_auc_score(positive, scores), abs=1e-13)
    assert math.isnan(rank_auc(np.arange(3.0), np.zeros(3, dtype=bool)))
    assert math.isnan(rank_auc(np.empty(0), np.empty(0, dtype=bool)))
    assert rank_auc(np.ones(4), np.array([True, False, True, False])) == 0.5


def test_mislabelled_part_is_scored_against_the_labels_as_given():
    """[1,1,2], lambda 0: p_0 rises with x. Items at x = -1 (truly 1, given 0) and x = 1 (truly 0,
    given 1) are mislabelled: against the given labels their AUC is 0 (it would be 1 against the true
    ones); the correct part is separated perfectly; on all six items 6 of 9 pairs are ordered."""
    spec = parse_network_spec({"inputs": 1, "hidden": [1], "outputs": 2, "lambda": 0.0})
    x = spec.layout.pack([(np.array([[1.0]]), np.array([0.0])), (np.array([[1.0], [0.0]]), np.array([0.0, 0.0]))])
    inputs = np.array([[-2.0], [-1.0], [-0.5], [0.5], [1.0], [2.0]])
    true = np.array([1, 1, 1, 0, 0, 0])
    given = np.array([1, 0, 1, 0, 1, 0])
    data = ScoringData(inputs, given, given != true, inputs, true, 2)
    scores = score_minima(spec, x[None, :], data, reference_class=0)
    assert scores["train_incorrect", "auc"][0] == 0.0
    assert scores["train_correct", "auc"][0] == 1.0
    assert scores["train", "auc"][0] == pytest.approx(6 / 9, abs=1e-15)
    assert scores["test", "auc"][0] == 1.0
    # reference class 1: the mirror image
    mirrored = score_minima(spec, x[None, :], data, reference_class=1)
    assert mirrored["train_incorrect", "auc"][0] == 0.0 and mirrored["train", "auc"][0] == pytest.approx(6 / 9)


def test_every_split_and_metric_against_a_per_item_calculation():
    spec = parse_network_spec({"inputs": 2, "hidden": [4], "outputs": 3, "lambda": 1e-2, "connectivity_k": 2})
    rng = np.random.default_rng(7)
    train_x, test_x = rng.normal(size=(50, 2)), rng.normal(size=(70, 2))
    train_y, test_y = rng.integers(0, 3, 50), rng.integers(0, 3, 70)
    mislabelled = rng.random(50) < 0.3
    data = ScoringData(train_x, train_y, mislabelled, test_x, test_y, 3)
    weights = rng.normal(0, 1.5, size=(3, spec.n_weights))
    for reference in (0, 2, "macro"):
        scores = score_minima(spec, weights, data, reference_class=reference)
        assert set(scores) == {(s, m) for s in SPLITS for m in METRICS}
        for row, x in enumerate(weights):
            for split, inputs, labels, subset in (
                ("train", train_x, train_y, np.ones(50, bool)),
                ("train_incorrect", train_x, train_y, mislabelled),
                ("train_correct", train_x, train_y, ~mislabelled),
                ("test", test_x, test_y, np.ones(70, bool)),
            ):
                probs = per_item_probabilities(spec, x, inputs[subset])
                y = labels[subset]
                ce = -np.mean(np.log(probs[np.arange(y.size), y]))
                assert scores[split, "cross_entropy"][row] == pytest.approx(ce, rel=1e-12)
                assert scores[split, "loss"][row] == pytest.approx(ce + 1e-2 * np.sum(x**2), rel=1e-12)
                assert scores[split, "accuracy"][row] == pytest.approx(np.mean(probs.argmax(axis=1) == y))
                macro = np.nanmean([pairwise_auc(probs[:, c], y == c) for c in range(3)])
                if np.all(np.bincount(y, minlength=3) > 0):
                    assert macro == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"), abs=1e-12)
                expected = macro if reference == "macro" else pairwise_auc(probs[:, reference], y == reference)
                assert scores[split, "auc"][row] == pytest.approx(expected, abs=1e-12)
                # the macro convention is stored whatever the reference class
                assert scores[split, "auc_macro"][row] == pytest.approx(macro, abs=1e-12)


def test_empty_parts_give_nan_and_bad_reference_classes_are_refused():
    spec = parse_network_spec([2, 3, 2, 4, 0.0])
    inputs = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.2]])
    labels = np.array([0, 1, 0, 1])
    data = ScoringData(inputs, labels, np.zeros(4, dtype=bool), inputs, labels, 2)  # 0 % noise
    scores = score_minima(spec, np.ones((1, spec.n_weights)), data)
    assert all(math.isnan(scores["train_incorrect", m][0]) for m in METRICS)
    assert not math.isnan(scores["train_correct", "auc"][0])
    assert check_reference_class("1", 2) == 1 and check_reference_class("macro", 2) == "macro"
    for bad in (2, -1, "first", True, 0.5):
        with pytest.raises(LflError, match="reference class"):
            check_reference_class(bad, 2)
    with pytest.raises(DataError, match="weights must have shape"):
        score_minima(spec, np.ones((1, 3)), data)
    with pytest.raises(DataError, match="mislabelled mask"):
        ScoringData(inputs, labels, np.zeros(3, dtype=bool), inputs, labels, 2)


def test_metrics_command_scores_only_new_minima(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    definition, draw, landscape = make_landscape(tmp_path, "L25", error_pct=25.0)
    energies, weights = random_minima(landscape, 5, seed=1)
    store_minima(url, landscape, energies, weights)
    receipt = tmp_path / "metrics.json"
    arguments = ["analyse", "metrics", "--db", url, "--landscape", str(definition), "--draw", str(draw),
                 "--reference-class", "0", "--receipt", str(receipt)]
    assert main(arguments) == 0
    first = json.loads(receipt.read_text())
    assert (first["n_minima"], first["n_scored_before"], first["n_scored_now"]) == (5, 0, 5)
    assert first["max_energy_deviation"] < 1e-12  # the training loss is the stored energy

    with LandscapeStore(url) as store:
        record = store.landscape("L25")
        ids, train_auc = store.read_metrics(record.id, "train", "auc")
        # a stored value is overwritten by hand: a rerun that rescored old minima would restore it
        store.write_metrics(ids[:1], "train", "auc", [0.123])
    more_energies, more_weights = random_minima(landscape, 3, seed=2)
    store_minima(url, landscape, more_energies, more_weights)
    assert main(arguments) == 0
    second = json.loads(receipt.read_text())
    assert (second["n_minima"], second["n_scored_before"], second["n_scored_now"]) == (8, 5, 3)
    with LandscapeStore(url) as store:
        for split in SPLITS:
            for metric in METRICS:
                ids_now, _ = store.read_metrics(record.id, split, metric)
                assert ids_now.size == 8
        ids_now, auc_now = store.read_metrics(record.id, "train", "auc")
        assert auc_now[0] == 0.123
        np.testing.assert_array_equal(auc_now[1:5], train_auc[1:5])
        # the values stored are those of the pure scorer
        coords = store.coordinates(ids_now)
        expected = score_minima(landscape.network_spec(), coords, ScoringData.from_draw(landscape.draw))
        _, test_loss = store.read_metrics(record.id, "test", "loss")
        np.testing.assert_allclose(test_loss, expected["test", "loss"], rtol=1e-14)
        _, incorrect = store.read_metrics(record.id, "train_incorrect", "auc")
        np.testing.assert_allclose(incorrect, expected["train_incorrect", "auc"], rtol=1e-14)
        # --rescore: every minimum again
        report = score_landscape(store, landscape, reference_class=0, rescore=True)
        assert report.n_scored_now == 8
        assert store.read_metrics(record.id, "train", "auc")[1][0] != 0.123


def test_metrics_refuse_another_draw_and_a_landscape_not_stored(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    definition, draw, landscape = make_landscape(tmp_path, "A", error_pct=10.0)
    store_minima(url, landscape, *random_minima(landscape, 2, seed=0))
    _, other_draw, _ = make_landscape(tmp_path / "other", "A", error_pct=10.0, seed=5)
    assert main(["analyse", "metrics", "--db", url, "--landscape", str(definition), "--draw", str(other_draw)]) == 2
    assert "not the one the landscape was built on" in capsys.readouterr().err
    missing_def, missing_draw, _ = make_landscape(tmp_path, "B")
    assert main(["analyse", "metrics", "--db", url, "--landscape", str(missing_def), "--draw", str(missing_draw)]) == 2
    assert "ingest its minima first" in capsys.readouterr().err
