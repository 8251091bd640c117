"""How good is a minimum? Class probabilities, cross-entropy, loss, accuracy and AUC on any data.

The network is given either as an :class:`~lfl.systems.mlp.MLPSystem` (weights: its variable
vector) or as a network spec (:func:`lfl.systems.network.parse_network_spec`; weights: the full
layout or the variable vector, told apart by length). Evaluation is plain numpy (BLAS products,
numpy's tanh), chunked over items, independent of the compiled training kernels.

Metrics work on log-probabilities, so nothing underflows: the AUC uses log p_ref as the score
(the same ranking as p_ref, without ties from underflow). A *subset* is a boolean mask over the
items or an array of item indices. A subset lacking one of the two AUC classes has an undefined
AUC (NaN); an empty subset gives NaN for every metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from lfl.errors import DataError
from lfl.systems.network import check_inputs_labels
from lfl.systems.outputs import checked_inputs, log_probabilities, probabilities, spec_and_full_weights

__all__ = ["Metrics", "accuracy", "auc", "cross_entropy", "evaluate", "log_probabilities", "probabilities"]


@dataclass(frozen=True)
class Metrics:
    """Metrics of one minimum on one set of items (NaN where undefined)."""

    n_items: int
    cross_entropy: float  # mean -log p_label
    loss: float  # cross_entropy + lambda * sum of squared variable weights (SCIENCE.md §7 "loss")
    accuracy: float  # fraction of items whose most probable class is the label
    auc: float  # ROC AUC of the reference class against the rest, score p_ref

    def as_dict(self) -> dict:
        return asdict(self)


def _select(n_items: int, subset) -> np.ndarray:
    if subset is None:
        return np.arange(n_items)
    subset = np.asarray(subset)
    if subset.dtype == bool:
        if subset.shape != (n_items,):
            raise DataError(f"subset mask must have shape ({n_items},), got {subset.shape}")
        return np.flatnonzero(subset)
    if subset.size and not np.issubdtype(subset.dtype, np.integer):
        raise DataError("subset must be a boolean mask or an array of item indices")
    subset = subset.astype(np.int64).ravel()
    if subset.size and (subset.min() < 0 or subset.max() >= n_items):
        raise DataError(f"subset indices must lie in 0..{n_items - 1}")
    return subset


def _checked_labels(log_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (log_probs.shape[0],):
        raise DataError(f"labels must have shape ({log_probs.shape[0]},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= log_probs.shape[1]):
        raise DataError(f"labels must lie in 0..{log_probs.shape[1] - 1}")
    return labels.astype(np.int64)


def cross_entropy(log_probs: np.ndarray, labels: np.ndarray, subset=None) -> float:
    """Mean -log p_label over the (subset of) items; NaN for no items."""
    labels = _checked_labels(log_probs, labels)
    index = _select(labels.size, subset)
    if index.size == 0:
        return float("nan")
    return float(-np.mean(log_probs[index, labels[index]]))


def accuracy(log_probs: np.ndarray, labels: np.ndarray, subset=None) -> float:
    """Fraction of items whose most probable class is their label; NaN for no items."""
    labels = _checked_labels(log_probs, labels)
    index = _select(labels.size, subset)
    if index.size == 0:
        return float("nan")
    return float(np.mean(np.argmax(log_probs[index], axis=1) == labels[index]))


def auc(log_probs: np.ndarray, labels: np.ndarray, ref_class: int = 0, subset=None) -> float:
    """ROC AUC of ``ref_class`` against the rest (score p_ref); NaN unless both kinds are present."""
    labels = _checked_labels(log_probs, labels)
    if not 0 <= ref_class < log_probs.shape[1]:
        raise DataError(f"reference class {ref_class} outside 0..{log_probs.shape[1] - 1}")
    index = _select(labels.size, subset)
    positive = labels[index] == ref_class
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, log_probs[index, ref_class]))


def evaluate(model, weights: np.ndarray, inputs: np.ndarray, labels: np.ndarray, *, ref_class: int = 0, subset=None) -> Metrics:
    """All metrics of one weight vector on one data set (optionally a subset of its items)."""
    spec, full = spec_and_full_weights(model, weights)
    inputs = np.asarray(inputs)
    labels = np.asarray(labels)
    check_inputs_labels(checked_inputs(spec, inputs), labels, spec.outputs, "evaluation data")
    log_probs = log_probabilities(spec, full, inputs)
    index = _select(labels.size, subset)
    ce = cross_entropy(log_probs, labels, index)
    return Metrics(
        n_items=int(index.size),
        cross_entropy=ce,
        loss=ce + spec.lam * float(full @ full),
        accuracy=accuracy(log_probs, labels, index),
        auc=auc(log_probs, labels, ref_class, index),
    )
