"""Where everything lives in the one float64 work array a kernel is given: the layers of the full
weight layout, the tape of the general path (:func:`tape_views`) and, for the one-hidden-layer path,
its aligned block rows (:func:`block_views`). The size of the work array (:func:`work_size`) covers
every path, so one array serves every kernel of a system.
"""

from __future__ import annotations

from numba import njit

from lfl import kernel_cache

kernel_cache.install()


@njit(cache=True)
def layer_offset(sizes, layer):
    offset = 0
    for l in range(1, layer):
        offset += sizes[l] * sizes[l - 1] + sizes[l]
    return offset


@njit(cache=True)
def layer_weights(w_full, sizes, layer):
    """Views (W_l, b_l) of layer ``layer`` (1-based) of a full vector."""
    offset = layer_offset(sizes, layer)
    n_rows = sizes[layer]
    n_prev = sizes[layer - 1]
    weights = w_full[offset : offset + n_rows * n_prev].reshape((n_rows, n_prev))
    bias = w_full[offset + n_rows * n_prev : offset + n_rows * n_prev + n_rows]
    return weights, bias


@njit(cache=True)
def hidden_row(sizes, layer):
    """First row of hidden layer ``layer`` (1-based) in the stacked hidden arrays; layer L gives
    the number of hidden rows. (A loop, not an array: no allocation per call.)"""
    row = 0
    for l in range(1, layer):
        row += sizes[l]
    return row


@njit(cache=True)
def _tape_size(sizes, n_items, n_full):
    n_layers = sizes.size - 1
    return 2 * n_full + (3 * hidden_row(sizes, n_layers) + 3 * sizes[n_layers] + 3) * n_items


@njit(cache=True)
def work_size(sizes, n_items, n_full):
    """Length of the float64 work array of :func:`kernel`: :func:`tape_views`, then for the shapes
    of :func:`one_layer_kernel` its block rows (:func:`block_views`; 8 more for their alignment)."""
    size = _tape_size(sizes, n_items, n_full)
    if one_layer_shape(sizes):
        size += _block_rows(sizes) * block_items(n_items) + 8
    return size


@njit(cache=True)
def tape_views(work, sizes, n_items, n_full):
    """(w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch) carved from work."""
    n_layers = sizes.size - 1
    n_hidden = hidden_row(sizes, n_layers)
    n_out = sizes[n_layers]
    hidden_block = n_hidden * n_items
    out_block = n_out * n_items
    w_full = work[0:n_full]
    grad_full = work[n_full : 2 * n_full]
    at = 2 * n_full
    acts = work[at : at + hidden_block].reshape((n_hidden, n_items))
    at += hidden_block
    upstream = work[at : at + hidden_block].reshape((n_hidden, n_items))
    at += hidden_block
    delta = work[at : at + hidden_block].reshape((n_hidden, n_items))
    at += hidden_block
    logits = work[at : at + out_block].reshape((n_out, n_items))
    at += out_block
    probs = work[at : at + out_block].reshape((n_out, n_items))
    at += out_block
    out_delta = work[at : at + out_block].reshape((n_out, n_items))
    at += out_block
    scratch = work[at : at + 3 * n_items]
    return w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch


_BLOCK_ITEMS = 480  # at most, a multiple of BLOCK_PAD; 4**480 < 2**1000 (see softmax_delta)
BLOCK_PAD = 32  # a vector iteration: 8 doubles in a 512-bit vector, 4 interleaved


@njit(cache=True)
def one_layer_shape(sizes) -> bool:
    return sizes.size == 3 and sizes[0] <= 4 and 3 <= sizes[2] <= 4


@njit(cache=True)
def block_items(n_items):
    """Length of the block rows of :func:`one_layer_kernel`: the items split into equal blocks of at
    most _BLOCK_ITEMS, rounded up to a multiple of BLOCK_PAD (each block runs whole vector iterations)."""
    n_blocks = (max(n_items, 1) + _BLOCK_ITEMS - 1) // _BLOCK_ITEMS
    per_block = (max(n_items, 1) + n_blocks - 1) // n_blocks
    return (per_block + BLOCK_PAD - 1) // BLOCK_PAD * BLOCK_PAD


@njit(cache=True)
def _block_rows(sizes):
    """Rows of the block arrays: 4 inputs, the hidden nodes, 4 logits, 4 dE/dy, the labels."""
    return 4 + sizes[1] + 4 + 4 + 1


@njit(cache=True)
def block_views(work, sizes, n_items, n_full):
    """(x, acts, logits, out_delta, labels) of one block, (4 | H | 4 | 4 | 1, block_items) arrays
    carved from the end of work (after the tape), every row on a 64-byte boundary."""
    stride = block_items(n_items)
    at = _tape_size(sizes, n_items, n_full)
    at += ((-work[at:].ctypes.data) % 64) // 8
    x, at = carve(work, at, 4, stride)
    acts, at = carve(work, at, sizes[1], stride)
    logits, at = carve(work, at, 4, stride)
    out_delta, at = carve(work, at, 4, stride)
    return x, acts, logits, out_delta, work[at : at + stride]


@njit(cache=True, inline="always")
def carve(buf, at, n_rows, m):
    """The (n_rows, m) view of buf starting at ``at``, and the offset after it."""
    return buf[at : at + n_rows * m].reshape((n_rows, m)), at + n_rows * m
