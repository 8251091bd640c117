"""Entry points for the energy and gradient: :func:`kernel` (one weight vector; picks the one-layer
path or the general one), :func:`energy_kernel` (no gradient) and :func:`batch_kernel` (many weight
vectors, stacked first-layer products).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lfl import kernel_cache
from lfl.systems.mlp_kernels.layers import (
    add_l2, backward, forward, gemm, row_sums, scatter_into, softmax_cross_entropy,
)
from lfl.systems.mlp_kernels.one_layer import (
    hidden_tanh_rows, load_block, one_layer_backward, output_rows, softmax_delta, takes_one_layer_path,
)
from lfl.systems.mlp_kernels.work import BLOCK_PAD, block_views, layer_weights, tape_views

kernel_cache.install()


@njit(cache=True)
def one_layer_kernel(x, grad_out, var_index, n_full, sizes, xt, labels, lam, work):
    """:func:`kernel` for one hidden layer, at most four inputs and four classes, item loops in
    blocks (no BLAS); the arguments of :func:`kernel` but ``blas_first``. Leaves the tape alone
    (its block rows: :func:`block_views`)."""
    n_items = labels.size
    w_full = work[0:n_full]
    grad_full = work[n_full : 2 * n_full]
    scatter_into(x, var_index, w_full)
    grad_full[:] = 0.0
    w1, b1 = layer_weights(w_full, sizes, 1)
    w2, b2 = layer_weights(w_full, sizes, 2)
    grad_w1, grad_b1 = layer_weights(grad_full, sizes, 1)
    grad_w2, grad_b2 = layer_weights(grad_full, sizes, 2)
    four = sizes[2] > 3
    inv_n = 1.0 / n_items
    xb, acts, logits, out_delta, label_row = block_views(work, sizes, n_items, n_full)
    stride = label_row.size
    loss = 0.0
    for start in range(0, n_items, stride):
        m = min(stride, n_items - start)
        padded = (m + BLOCK_PAD - 1) // BLOCK_PAD * BLOCK_PAD
        load_block(xt, labels, start, m, padded, xb, label_row)
        hidden_tanh_rows(w1, b1, xb, acts, padded)
        output_rows(w2, b2, acts, logits, padded)
        loss += softmax_delta(logits[0], logits[1], logits[2], logits[3], label_row, inv_n,
                              out_delta[0], out_delta[1], out_delta[2], out_delta[3], four, m, padded)
        one_layer_backward(w2, xb, acts, out_delta, grad_w1, grad_b1, grad_w2, grad_b2, padded)
    return loss * inv_n + add_l2(x, var_index, grad_full, lam, grad_out)


@njit(cache=True)
def kernel(x, grad_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """Energy of the variable weights ``x`` (returned) and its gradient (written into ``grad_out``).

    kernel_args = (var_index int64[n_dof]   full-layout position of every variable weight,
                   n_full int               length of the full layout,
                   sizes int64[L+1]         (inputs, hidden..., outputs),
                   xt float64[n_in, N]      inputs, items innermost (C-contiguous),
                   labels int64[N]          classes 0 .. n_out-1,
                   lam float64              L2 coefficient,
                   blas_first bool          first layer through BLAS (wide inputs),
                   work float64[work_size]  scratch, overwritten: one caller (thread) at a time).
    Energy = mean softmax cross-entropy + lam * sum(x**2); NaN weights give a NaN energy.
    One hidden layer with at most four inputs, three or four classes and no ``blas_first`` runs
    :func:`one_layer_kernel`; everything else :func:`general_kernel`.
    """
    if takes_one_layer_path(sizes, blas_first):
        return one_layer_kernel(x, grad_out, var_index, n_full, sizes, xt, labels, lam, work)
    return general_kernel(x, grad_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work)


@njit(cache=True)
def general_kernel(x, grad_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """:func:`kernel` for any network: BLAS products, the full tape filled."""
    n_items = labels.size
    w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch = tape_views(work, sizes, n_items, n_full)
    scatter_into(x, var_index, w_full)
    forward(w_full, sizes, xt, blas_first, False, acts, logits)
    inv_n = 1.0 / n_items
    loss = softmax_cross_entropy(logits, labels, probs, out_delta, inv_n, True, scratch) * inv_n
    backward(w_full, sizes, xt, blas_first, False, acts, out_delta, upstream, delta, grad_full)
    return loss + add_l2(x, var_index, grad_full, lam, grad_out)


@njit(cache=True)
def energy_kernel(x, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """Energy only (forward pass); the arguments of :func:`kernel` without ``grad_out``."""
    n_items = labels.size
    w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch = tape_views(work, sizes, n_items, n_full)
    scatter_into(x, var_index, w_full)
    forward(w_full, sizes, xt, blas_first, False, acts, logits)
    loss = softmax_cross_entropy(logits, labels, probs, out_delta, 1.0 / n_items, False, scratch) / n_items
    sum_sq = 0.0
    for i in range(x.size):
        sum_sq += x[i] * x[i]
    return loss + lam * sum_sq


@njit(cache=True)
def batch_kernel(xs, energies, grads, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """kernel() for every row of xs (m, n_dof). With blas_first the first layer of all m vectors
    goes through two stacked matrix products (m * n_1 rows) instead of 2m thin ones."""
    n_images = xs.shape[0]
    n_items = labels.size
    w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch = tape_views(work, sizes, n_items, n_full)
    inv_n = 1.0 / n_items
    n_in = sizes[0]
    n_first = sizes[1]
    stacked = blas_first and n_images > 1
    if not stacked:
        for m in range(n_images):
            energies[m] = kernel(xs[m], grads[m], var_index, n_full, sizes, xt, labels, lam, blas_first, work)
        return
    weights_all = np.empty((n_images * n_first, n_in))
    for m in range(n_images):
        scatter_into(xs[m], var_index, w_full)
        weights, _ = layer_weights(w_full, sizes, 1)
        weights_all[m * n_first : (m + 1) * n_first] = weights
    z_first = np.empty((n_images * n_first, n_items))
    gemm(weights_all, xt, z_first)
    delta_first = np.empty((n_images * n_first, n_items))
    first_grads = np.empty((n_images, n_full))
    first = acts[0:n_first]  # at least one hidden layer
    for m in range(n_images):
        scatter_into(xs[m], var_index, w_full)
        first[:, :] = z_first[m * n_first : (m + 1) * n_first]  # forward() adds the bias
        forward(w_full, sizes, xt, blas_first, True, acts, logits)
        energies[m] = softmax_cross_entropy(logits, labels, probs, out_delta, inv_n, True, scratch) * inv_n
        backward(w_full, sizes, xt, blas_first, True, acts, out_delta, upstream, delta, grad_full)
        delta_first[m * n_first : (m + 1) * n_first] = delta[0:n_first]
        first_grads[m] = grad_full
    grad_first_all = np.empty((n_images * n_first, n_in))
    gemm(delta_first, xt.T, grad_first_all)
    for m in range(n_images):
        grad_full = first_grads[m]
        grad_w, grad_b = layer_weights(grad_full, sizes, 1)
        grad_w[:, :] = grad_first_all[m * n_first : (m + 1) * n_first]
        row_sums(delta_first[m * n_first : (m + 1) * n_first], grad_b, False)
        energies[m] += add_l2(xs[m], var_index, grad_full, lam, grads[m])
