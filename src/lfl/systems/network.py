"""Network specifications and THE parameter layout used everywhere (kernels, database, export).

Specification
-------------
``[A, B, C, D, E]`` = inputs, hidden nodes, outputs, training items, lambda (SCIENCE.md §3); ``B``
may be a list for several hidden layers (``[2, [5, 5], 4, 1000, 1e-4]``). ``D`` is informative only
(the data set decides how many items there are). The dict form is
``{inputs: 2, hidden: [5, 5], outputs: 4, lambda: 1e-4, connectivity_k: 2, n_data: 1000}``
(``hidden`` an int or a list; ``connectivity_k`` and ``n_data`` optional; ``lam`` and ``k`` are
accepted as aliases).

Parameter layout
----------------
Layers are numbered ``l = 1 .. L``: hidden layers ``1 .. L-1`` (tanh), output layer ``L`` (linear).
``n_0`` is the number of inputs, ``n_l`` the number of nodes of layer ``l``. The *full* weight vector
is the concatenation, for ``l = 1 .. L`` in order, of

1. the weight matrix ``W_l`` of shape ``(n_l, n_{l-1})`` in row-major order: entry ``W_l[j, i]``
   (node ``j`` of layer ``l`` fed by node ``i`` of layer ``l-1``) sits at ``off_l + j*n_{l-1} + i``;
2. the biases ``b_l`` (``n_l`` entries): ``b_l[j]`` sits at ``off_l + n_l*n_{l-1} + j``;

where ``off_1 = 0`` and ``off_{l+1} = off_l + n_l*n_{l-1} + n_l``. Layer ``l`` computes
``z_l = W_l a_{l-1} + b_l`` with ``a_0`` the inputs and ``a_l = tanh(z_l)`` for hidden layers.

The *variable* vector (what every explorer, the database and the export see as coordinates) is the
full vector with the frozen entries (connectivity masks, :mod:`lfl.systems.connectivity`) deleted,
order unchanged. Without a mask the two are the same. ``ParameterLayout.names()`` labels every
variable entry (``W1[3,0]``, ``b2[1]``, ...; layer numbers from 1, node numbers from 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from numbers import Integral, Real

import numpy as np

from lfl.errors import ConfigError, DataError
from lfl.systems.connectivity import edge_masks

_DICT_KEYS = {
    "inputs": "inputs",
    "hidden": "hidden",
    "outputs": "outputs",
    "lambda": "lam",
    "lam": "lam",
    "connectivity_k": "connectivity_k",
    "k": "connectivity_k",
    "n_data": "n_data",
}


def _as_int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (Integral, Real)):
        raise ConfigError(f"network spec: {what} must be an integer, got {value!r}")
    if isinstance(value, Real) and not isinstance(value, Integral):
        if not math.isfinite(value) or value != int(value):
            raise ConfigError(f"network spec: {what} must be an integer, got {value!r}")
    number = int(value)
    if number < minimum:
        raise ConfigError(f"network spec: {what} must be at least {minimum}, got {number}")
    return number


@dataclass(frozen=True)
class NetworkSpec:
    """An MLP: ``inputs`` -> tanh layers ``hidden`` -> linear ``outputs`` -> softmax; L2 ``lam``."""

    inputs: int
    hidden: tuple[int, ...]
    outputs: int
    lam: float
    connectivity_k: int | None = None
    n_data: int | None = None

    def __post_init__(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, (Integral, Real)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if not isinstance(hidden, (tuple, list)) or len(hidden) == 0:
            raise ConfigError(f"network spec: hidden must list at least one hidden layer, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(_as_int(h, "hidden nodes per layer", 1) for h in hidden))
        object.__setattr__(self, "inputs", _as_int(self.inputs, "inputs", 1))
        object.__setattr__(self, "outputs", _as_int(self.outputs, "outputs (classes)", 2))
        if isinstance(self.lam, bool) or not isinstance(self.lam, Real) or not math.isfinite(self.lam) or self.lam < 0:
            raise ConfigError(f"network spec: lambda must be a finite number >= 0, got {self.lam!r}")
        object.__setattr__(self, "lam", float(self.lam))
        if self.connectivity_k is not None:
            object.__setattr__(self, "connectivity_k", _as_int(self.connectivity_k, "connectivity k", 1))
        if self.n_data is not None:
            object.__setattr__(self, "n_data", _as_int(self.n_data, "n_data", 1))

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.inputs, *self.hidden, self.outputs)

    @property
    def n_full_weights(self) -> int:
        sizes = self.layer_sizes
        return sum(sizes[l] * sizes[l - 1] + sizes[l] for l in range(1, len(sizes)))

    @property
    def n_weights(self) -> int:
        """Number of variable weights (frozen connectivity weights excluded)."""
        return self.layout.n_variable

    @cached_property
    def layout(self) -> "ParameterLayout":
        return ParameterLayout(self.layer_sizes, self.connectivity_k)

    def to_dict(self) -> dict:
        """The dict form (JSON-ready), accepted back by :func:`parse_network_spec`."""
        out = {"inputs": self.inputs, "hidden": list(self.hidden), "outputs": self.outputs, "lambda": self.lam}
        if self.connectivity_k is not None:
            out["connectivity_k"] = self.connectivity_k
        if self.n_data is not None:
            out["n_data"] = self.n_data
        return out

    def label(self) -> str:
        """Short text such as ``[2,10,4,1000,0.0001]`` or ``[2,[5,5],4,-,0.0001] k=2``."""
        hidden = str(self.hidden[0]) if len(self.hidden) == 1 else "[" + ",".join(map(str, self.hidden)) + "]"
        data = "-" if self.n_data is None else str(self.n_data)
        text = f"[{self.inputs},{hidden},{self.outputs},{data},{self.lam:g}]"
        return text if self.connectivity_k is None else f"{text} k={self.connectivity_k}"


def parse_network_spec(spec, **overrides) -> NetworkSpec:
    """A NetworkSpec from a NetworkSpec, a list ``[A, B, C, D, E]`` or a dict; keyword overrides win.

    Overrides use the dataclass names (``lam``, ``connectivity_k``, ``n_data``, ...).
    """
    if isinstance(spec, NetworkSpec):
        fields = {
            "inputs": spec.inputs,
            "hidden": spec.hidden,
            "outputs": spec.outputs,
            "lam": spec.lam,
            "connectivity_k": spec.connectivity_k,
            "n_data": spec.n_data,
        }
    elif isinstance(spec, dict):
        fields = {}
        for key, value in spec.items():
            if key not in _DICT_KEYS:
                raise ConfigError(f"network spec: unknown key {key!r} (known: {', '.join(sorted(_DICT_KEYS))})")
            fields[_DICT_KEYS[key]] = value
    elif isinstance(spec, (list, tuple)):
        if len(spec) != 5:
            raise ConfigError(
                f"network spec {list(spec)!r}: expected [inputs, hidden, outputs, n_data, lambda] (5 entries)"
            )
        hidden = spec[1]
        fields = {
            "inputs": spec[0],
            "hidden": tuple(hidden) if isinstance(hidden, (list, tuple)) else hidden,
            "outputs": spec[2],
            "n_data": spec[3],
            "lam": spec[4],
        }
    else:
        raise ConfigError(f"network spec must be a list [A,B,C,D,E] or a mapping, got {type(spec).__name__}")
    fields.update(overrides)
    missing = [name for name in ("inputs", "hidden", "outputs", "lam") if name not in fields]
    if missing:
        raise ConfigError(f"network spec lacks {', '.join('lambda' if m == 'lam' else m for m in missing)}")
    return NetworkSpec(**fields)


class ParameterLayout:
    """Where every weight lives in the full and in the variable vector (see the module docstring)."""

    def __init__(self, layer_sizes: tuple[int, ...], connectivity_k: int | None = None) -> None:
        self.layer_sizes = tuple(int(n) for n in layer_sizes)
        self.connectivity_k = connectivity_k
        sizes = self.layer_sizes
        self.n_layers = len(sizes) - 1
        self.weight_offsets: list[int] = []
        self.bias_offsets: list[int] = []
        offset = 0
        for l in range(1, len(sizes)):
            self.weight_offsets.append(offset)
            offset += sizes[l] * sizes[l - 1]
            self.bias_offsets.append(offset)
            offset += sizes[l]
        self.n_full = offset
        self.edge_masks = edge_masks(sizes, connectivity_k)
        full_mask = np.ones(self.n_full, dtype=bool)
        for l, mask in enumerate(self.edge_masks):
            start = self.weight_offsets[l]
            full_mask[start : start + mask.size] = mask.ravel()
        full_mask.setflags(write=False)
        self.variable_mask = full_mask
        self.variable_index = np.flatnonzero(full_mask).astype(np.int64)
        self.variable_index.setflags(write=False)
        self.n_variable = int(self.variable_index.size)
        self.n_frozen = self.n_full - self.n_variable

    @property
    def is_masked(self) -> bool:
        return self.n_frozen > 0

    def unpack(self, full: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views ``(W_l, b_l)`` for l = 1 .. L into a full weight vector."""
        full = np.asarray(full)
        if full.shape != (self.n_full,):
            raise ConfigError(f"full weight vector must have shape ({self.n_full},), got {full.shape}")
        sizes = self.layer_sizes
        layers = []
        for l in range(1, len(sizes)):
            w0, b0 = self.weight_offsets[l - 1], self.bias_offsets[l - 1]
            layers.append((full[w0:b0].reshape(sizes[l], sizes[l - 1]), full[b0 : b0 + sizes[l]]))
        return layers

    def pack(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """The full vector from ``[(W_1, b_1), ..., (W_L, b_L)]``."""
        full = np.empty(self.n_full)
        for (dst_w, dst_b), (w, b) in zip(self.unpack(full), layers, strict=True):
            dst_w[...] = w
            dst_b[...] = b
        return full

    def to_full(self, variable: np.ndarray) -> np.ndarray:
        """Full vector with frozen weights at zero."""
        variable = np.asarray(variable, dtype=np.float64)
        if variable.shape != (self.n_variable,):
            raise ConfigError(f"weight vector must have shape ({self.n_variable},), got {variable.shape}")
        full = np.zeros(self.n_full)
        full[self.variable_index] = variable
        return full

    def to_variable(self, full: np.ndarray, *, check_frozen: bool = True) -> np.ndarray:
        """Variable entries of a full vector; frozen entries must be zero unless ``check_frozen=False``."""
        full = np.asarray(full, dtype=np.float64)
        if full.shape != (self.n_full,):
            raise ConfigError(f"full weight vector must have shape ({self.n_full},), got {full.shape}")
        if check_frozen and self.is_masked and np.any(full[~self.variable_mask] != 0.0):
            raise ConfigError("full weight vector has nonzero entries at frozen (masked) positions")
        return np.ascontiguousarray(full[self.variable_index])

    def names(self, *, variable_only: bool = True) -> list[str]:
        """Labels ``W{l}[j,i]`` and ``b{l}[j]`` in layout order."""
        sizes = self.layer_sizes
        labels = []
        for l in range(1, len(sizes)):
            labels += [f"W{l}[{j},{i}]" for j in range(sizes[l]) for i in range(sizes[l - 1])]
            labels += [f"b{l}[{j}]" for j in range(sizes[l])]
        if variable_only:
            return [labels[i] for i in self.variable_index]
        return labels


def check_inputs_labels(inputs: np.ndarray, labels: np.ndarray, n_classes: int, source: str) -> None:
    """Raise a one-line DataError for the problems users actually hit: NaN, shapes, label range."""
    if inputs.ndim != 2:
        raise DataError(f"{source}: inputs must be a 2-d array (items x features), got shape {inputs.shape}")
    if labels.ndim != 1 or labels.shape[0] != inputs.shape[0]:
        raise DataError(
            f"{source}: labels must be a 1-d array with one entry per item "
            f"({inputs.shape[0]} items), got shape {labels.shape}"
        )
    if not np.all(np.isfinite(inputs)):
        bad = int(np.count_nonzero(~np.isfinite(inputs)))
        raise DataError(f"{source}: inputs contain {bad} NaN or infinite value(s)")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{source}: labels must lie in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
