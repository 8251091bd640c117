"""Class probabilities of a network on any inputs: a plain numpy forward pass (BLAS products,
numpy's tanh), chunked over items, independent of the compiled training kernels (so the metrics
check the kernels rather than repeat them).

The network is given either as an :class:`~lfl.systems.mlp.MLPSystem` (weights: its variable
vector) or as a network spec (:func:`lfl.systems.network.parse_network_spec`; weights: the full
layout or the variable vector, told apart by length). Log-probabilities are exact for outputs of any
size (nothing underflows).
"""

from __future__ import annotations

import numpy as np

from lfl.errors import DataError, LflError
from lfl.systems.network import NetworkSpec, parse_network_spec

_CHUNK_ITEMS = 8192


def spec_and_full_weights(model, weights: np.ndarray) -> tuple[NetworkSpec, np.ndarray]:
    if hasattr(model, "layout") and hasattr(model, "spec") and hasattr(model, "full_weights"):
        return model.spec, model.full_weights(weights)
    spec = parse_network_spec(model)
    weights = np.asarray(weights, dtype=np.float64)
    layout = spec.layout
    if weights.shape == (layout.n_full,):
        full = weights
        if layout.is_masked and np.any(full[~layout.variable_mask] != 0.0):
            raise LflError("full weight vector has nonzero entries at frozen (masked) positions")
    elif weights.shape == (layout.n_variable,):
        full = layout.to_full(weights)
    else:
        raise LflError(
            f"weight vector of shape {weights.shape} fits neither the full layout ({layout.n_full}) nor the "
            f"variable weights ({layout.n_variable}) of {spec.label()}"
        )
    return spec, full


def checked_inputs(spec: NetworkSpec, inputs: np.ndarray) -> np.ndarray:
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 2 or inputs.shape[1] != spec.inputs:
        raise DataError(f"evaluation inputs must have shape (items, {spec.inputs}), got {inputs.shape}")
    if not np.all(np.isfinite(inputs)):
        raise DataError("evaluation inputs contain NaN or infinite values")
    return inputs


def log_probabilities(model, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """log p_c for every item (rows) and class (columns), stable for outputs of any size."""
    spec, full = spec_and_full_weights(model, weights)
    if not np.all(np.isfinite(full)):
        raise LflError(f"weight vector contains {int(np.count_nonzero(~np.isfinite(full)))} NaN or infinite value(s)")
    inputs = checked_inputs(spec, inputs)
    layers = spec.layout.unpack(full)
    out = np.empty((inputs.shape[0], spec.outputs))
    for start in range(0, inputs.shape[0], _CHUNK_ITEMS):
        activation = inputs[start : start + _CHUNK_ITEMS]
        for weights_l, bias_l in layers[:-1]:
            activation = np.tanh(activation @ weights_l.T + bias_l)
        logits = activation @ layers[-1][0].T + layers[-1][1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        out[start : start + _CHUNK_ITEMS] = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


def probabilities(model, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Class probabilities (items, classes)."""
    return np.exp(log_probabilities(model, weights, inputs))
