"""Compiled kernels of the MLP loss (SCIENCE.md §3): energy, gradient, Hessian-vector product,
dense Hessian; one module per concern:

=================== ==========================================================================
``transcendentals`` vectorisable exp and tanh, the fast-math flag sets
``work``            the work array: layers of the full layout, the tape, the aligned block rows
``layers``          generic layer passes of any network: affine + tanh, softmax, forward, backward
``one_layer``       the blocked, register-blocked path of one hidden layer (<= 4 inputs, 3-4 classes)
``energy``          entry points: :func:`kernel`, :func:`energy_kernel`, :func:`batch_kernel`
``r_operator``      Hessian-vector products (Pearlmutter's R-operator), Hessian by columns
``hessian``         the dense Hessian: closed form for one hidden layer, R-operator otherwise
=================== ==========================================================================

Imports between them point down this table. Every kernel is cached by numba under one stamp of all
lfl kernel sources (:mod:`lfl.kernel_cache`), so editing a callee in one module recompiles its
callers in the others.

Everything works on the *full* weight layout of :mod:`lfl.systems.network` (per layer ``W_l``
row-major, then ``b_l``); :func:`kernel` and the other entry points scatter the variable weights
into it and gather the results back.

Speed (see DESIGN.md, performance notes):

- data items are innermost and contiguous everywhere (``xt`` is inputs x items), so every inner loop
  runs over items with unit stride and the compiler vectorises it; loops index row views from 0
  (an index like ``start + k`` keeps numba's negative-index wrap-around check and stops vectorising);
- tanh and exp are vectorisable (``transcendentals``), because numba calls scalar libm for
  ``np.tanh``/``np.exp``;
- :func:`kernel` of a network with ONE hidden layer, up to four inputs and three or four classes
  (the landscapes' [2,10,4]) runs :func:`one_layer_kernel`: blocks of items through all phases on
  aligned, padded block rows, register-blocked loops in 512-bit vectors (see ``one_layer``);
  [2,10,4,1000] 16 us, 1.8x faster than the general path and 5.6x faster than numpy;
- the general path (deeper networks, wide inputs, the R-operator's tape): matrix products through
  BLAS (``np.dot`` into preallocated arrays), except a narrow first layer, which runs item loops
  (tanh over each row right after its affine pass), and the direction terms of the R-operator,
  whose item loops skip zero blocks (a Hessian column's direction is a unit vector);
- ``log`` of the softmax normalisers is taken of products of blocks of items (one call per block).

Work arrays ("tape"), float64, N = items, H = hidden nodes of all layers stacked in layer order:
``acts`` (H, N) activations; ``upstream`` (H, N) dE/da; ``delta`` (H, N) dE/dz; ``probs``
(n_out, N) class probabilities; ``out_delta`` (n_out, N) dE/dy = (p - onehot)/N; ``logits``
(n_out, N).
"""

from lfl.systems.mlp_kernels.energy import batch_kernel, energy_kernel, general_kernel, kernel, one_layer_kernel
from lfl.systems.mlp_kernels.hessian import (
    ONE_LAYER_HESSIAN_MAX_INPUTS,
    hessian_kernel,
    one_layer_hessian_kernel,
    takes_one_layer_hessian_path,
)
from lfl.systems.mlp_kernels.layers import backward, forward, softmax_cross_entropy
from lfl.systems.mlp_kernels.one_layer import (
    hidden_tanh_rows,
    one_layer_backward,
    output_rows,
    softmax_delta,
    takes_one_layer_path,
)
from lfl.systems.mlp_kernels.r_operator import (
    batch_hessian_vector_kernel, fill_tapes_kernel, hessian_vector_kernel, r_operator_hessian_kernel, r_work_size,
)
from lfl.systems.mlp_kernels.transcendentals import exp_array, tanh_inplace
from lfl.systems.mlp_kernels.work import BLOCK_PAD, block_items, block_views, layer_weights, tape_views, work_size

__all__ = [
    "BLOCK_PAD",
    "ONE_LAYER_HESSIAN_MAX_INPUTS",
    "backward",
    "batch_kernel",
    "block_items",
    "block_views",
    "energy_kernel",
    "exp_array",
    "forward",
    "general_kernel",
    "hessian_kernel",
    "hessian_vector_kernel",
    "hidden_tanh_rows",
    "kernel",
    "layer_weights",
    "one_layer_backward",
    "one_layer_hessian_kernel",
    "one_layer_kernel",
    "output_rows",
    "r_operator_hessian_kernel",
    "batch_hessian_vector_kernel",
    "fill_tapes_kernel",
    "r_work_size",
    "softmax_cross_entropy",
    "softmax_delta",
    "takes_one_layer_hessian_path",
    "takes_one_layer_path",
    "tanh_inplace",
    "tape_views",
    "work_size",
]
