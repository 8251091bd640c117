"""Generic layer passes of any network (the general path, and the tape the R-operator reads): affine
passes with tanh, the softmax cross-entropy, the forward and backward passes over the stacked
hidden layers (BLAS products into preallocated arrays, item loops for a narrow first layer),
scattering the variable weights into the full layout and the L2 term.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lfl import kernel_cache
from lfl.systems.mlp_kernels.transcendentals import ELEMENTWISE, EXP_FLOOR, SUMS, expm1_parts, tanh_row
from lfl.systems.mlp_kernels.work import hidden_row, layer_weights

kernel_cache.install()


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy", inline="always")
def _add_terms(row, n_terms, w0, s0, w1, s1, w2, s2, w3, s3):
    """row += w0 s0 + ... for four, two or one source rows (three = two + one)."""
    n_items = row.size
    if n_terms == 4:
        for n in range(n_items):
            row[n] += w0 * s0[n] + w1 * s1[n] + w2 * s2[n] + w3 * s3[n]
    elif n_terms == 2:
        for n in range(n_items):
            row[n] += w0 * s0[n] + w1 * s1[n]
    else:
        for n in range(n_items):
            row[n] += w0 * s0[n]


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def linear_rows(coeff, transpose, bias, src, out, use_bias, accumulate, apply_tanh):
    """out[r, :] = (bias[r] | out[r, :] | 0) + sum_k C[r, k] * src[k, :], then tanh if asked, where
    C is ``coeff`` or, with ``transpose``, ``coeff.T``.

    Up to four source rows per pass over the items. Blocks of zero coefficients (frozen weights,
    the unit directions of Hessian columns) are skipped. tanh runs on each row while it is in cache
    (a separate pass: tanh fused into the affine loop was 20 % slower).
    """
    n_rows = coeff.shape[1] if transpose else coeff.shape[0]
    n_src = coeff.shape[0] if transpose else coeff.shape[1]
    for r in range(n_rows):
        row = out[r]
        if not accumulate:
            base = bias[r] if use_bias else 0.0
            for n in range(row.size):
                row[n] = base
        k = 0
        while k < n_src:
            n_terms = 4 if n_src - k >= 4 else (2 if n_src - k >= 2 else 1)
            w0 = coeff[k, r] if transpose else coeff[r, k]
            w1 = 0.0
            w2 = 0.0
            w3 = 0.0
            if n_terms > 1:
                w1 = coeff[k + 1, r] if transpose else coeff[r, k + 1]
            if n_terms > 2:
                w2 = coeff[k + 2, r] if transpose else coeff[r, k + 2]
                w3 = coeff[k + 3, r] if transpose else coeff[r, k + 3]
            if w0 != 0.0 or w1 != 0.0 or w2 != 0.0 or w3 != 0.0:
                s0 = src[k]
                s1 = src[k + 1] if n_terms > 1 else s0
                s2 = src[k + 2] if n_terms > 2 else s0
                s3 = src[k + 3] if n_terms > 2 else s0
                _add_terms(row, n_terms, w0, s0, w1, s1, w2, s2, w3, s3)
            k += n_terms
        if apply_tanh:
            tanh_row(row)


@njit(cache=True, fastmath=SUMS, error_model="numpy")
def row_sums(rows, out, accumulate):
    n_rows, n_items = rows.shape
    for j in range(n_rows):
        values = rows[j]
        acc = 0.0
        for n in range(n_items):
            acc += values[n]
        out[j] = out[j] + acc if accumulate else acc


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def tanh_backward(upstream, acts, delta):
    """delta = upstream * (1 - a^2) (dE/dz from dE/da through tanh)."""
    n_rows, n_items = acts.shape
    for j in range(n_rows):
        u = upstream[j]
        a = acts[j]
        d = delta[j]
        for n in range(n_items):
            d[n] = u[n] * (1.0 - a[n] * a[n])


@njit(cache=True)
def gemm(a, b, out):
    """out = a @ b through BLAS (one compiled instance for every caller: np.dot is costly to compile)."""
    np.dot(a, b, out)


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def add_bias(rows, bias, apply_tanh):
    """rows += bias[:, None], then tanh row by row (while the row is in cache) if asked."""
    n_rows, n_items = rows.shape
    for j in range(n_rows):
        b = bias[j]
        row = rows[j]
        for n in range(n_items):
            row[n] += b
        if apply_tanh:
            tanh_row(row)


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def _column_max(logits, out):
    n_out, n_items = logits.shape
    first = logits[0]
    for n in range(n_items):
        out[n] = first[n]
    for c in range(1, n_out):
        row = logits[c]
        for n in range(n_items):
            out[n] = row[n] if row[n] > out[n] else out[n]


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def _softmax_terms(logits, labels, max_logit, probs, total, label_logit):
    """probs = exp(y - max) (unnormalised), total = column sums, label_logit = y[label]."""
    n_out, n_items = logits.shape
    for n in range(n_items):
        total[n] = 0.0
        label_logit[n] = 0.0
    for c in range(n_out):
        row = logits[c]
        out = probs[c]
        for n in range(n_items):
            y = row[n]
            w = y - max_logit[n]
            wc = w if w > EXP_FLOOR else EXP_FLOOR
            scale, q = expm1_parts(wc)
            e = scale + scale * q
            e = e if w > EXP_FLOOR else 0.0
            out[n] = e
            total[n] += e
            label_logit[n] += y if labels[n] == c else 0.0


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def _normalise(probs, total, labels, inv_n, out_delta, with_delta):
    """probs /= total; out_delta = (probs - onehot) * inv_n; total is left holding 1 / total."""
    n_out, n_items = probs.shape
    for n in range(n_items):
        total[n] = 1.0 / total[n]
    for c in range(n_out):
        p = probs[c]
        if with_delta:
            d = out_delta[c]
            for n in range(n_items):
                pn = p[n] * total[n]
                p[n] = pn
                d[n] = (pn - (1.0 if labels[n] == c else 0.0)) * inv_n
        else:
            for n in range(n_items):
                p[n] *= total[n]


@njit(cache=True, fastmath=SUMS, error_model="numpy")
def _block_product(values):
    prod = 1.0
    for n in range(values.size):
        prod *= values[n]
    return prod


@njit(cache=True, fastmath=SUMS, error_model="numpy")
def _cross_entropy_sum(max_logit, label_logit, inv_total, block):
    """sum_n [max_n + log(total_n) - y_label,n]; logs taken of products over blocks of items."""
    acc = 0.0
    n_items = max_logit.size
    for n in range(n_items):
        acc += max_logit[n] - label_logit[n]
    log_total = 0.0
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        log_total -= np.log(_block_product(inv_total[start:stop]))
    return acc + log_total


@njit(cache=True)
def softmax_cross_entropy(logits, labels, probs, out_delta, inv_n, with_delta, scratch):
    """Sum over items of -log p_label (stable for logits of any size); probs and out_delta filled.

    scratch: float64[3 * N] work space.
    """
    n_out, n_items = logits.shape
    max_logit = scratch[0:n_items]
    total = scratch[n_items : 2 * n_items]
    label_logit = scratch[2 * n_items : 3 * n_items]
    _column_max(logits, max_logit)
    _softmax_terms(logits, labels, max_logit, probs, total, label_logit)
    _normalise(probs, total, labels, inv_n, out_delta, with_delta)
    # every normaliser lies in [1, n_out]: a product of `block` of them stays within 2**+-1000
    block = max(1, int(1000.0 / math.log2(max(n_out, 2))))
    return _cross_entropy_sum(max_logit, label_logit, total, block)


@njit(cache=True)
def forward(w_full, sizes, xt, blas_first, first_ready, acts, logits):
    """Activations into ``acts`` and logits into ``logits``.

    Layers after the first, and a first layer with ``blas_first``, multiply through BLAS; a narrow
    first layer (few inputs) runs the item loop with tanh fused. ``first_ready``: the caller
    already put W_1 @ X into the first layer's rows (stacked product of a batch); bias still added.
    """
    n_layers = sizes.size - 1
    for l in range(1, n_layers + 1):
        weights, bias = layer_weights(w_full, sizes, l)
        hidden = l < n_layers
        out = acts[hidden_row(sizes, l) : hidden_row(sizes, l + 1)] if hidden else logits
        if l == 1 and not (blas_first or first_ready):
            linear_rows(weights, False, bias, xt, out, True, False, hidden)
            continue
        if l == 1:
            if not first_ready:
                gemm(weights, xt, out)
        else:
            gemm(weights, acts[hidden_row(sizes, l - 1) : hidden_row(sizes, l)], out)
        add_bias(out, bias, hidden)


@njit(cache=True)
def backward(w_full, sizes, xt, blas_first, defer_first, acts, out_delta, upstream, delta, grad_full):
    """Gradient of the data term over the full layout, from out_delta down; upstream/delta filled.

    ``defer_first``: leave the first layer's weight gradient to the caller (stacked product of a
    batch); its ``delta`` rows are filled all the same.
    """
    n_layers = sizes.size - 1
    for l in range(n_layers, 0, -1):
        weights, _ = layer_weights(w_full, sizes, l)
        grad_w, grad_b = layer_weights(grad_full, sizes, l)
        d = out_delta if l == n_layers else delta[hidden_row(sizes, l) : hidden_row(sizes, l + 1)]
        if l == 1:
            if not defer_first:
                gemm(d, xt.T, grad_w)
                row_sums(d, grad_b, False)
            continue
        lo = hidden_row(sizes, l - 1)
        hi = hidden_row(sizes, l)
        gemm(d, acts[lo:hi].T, grad_w)
        row_sums(d, grad_b, False)
        gemm(weights.T, d, upstream[lo:hi])
        tanh_backward(upstream[lo:hi], acts[lo:hi], delta[lo:hi])


@njit(cache=True)
def scatter_into(x, var_index, w_full):
    if x.size != w_full.size:
        w_full[:] = 0.0
    for i in range(x.size):
        w_full[var_index[i]] = x[i]


@njit(cache=True)
def add_l2(x, var_index, grad_full, lam, grad_out):
    """lam * sum(x^2) returned; grad_out = grad_full[variables] + 2 lam x."""
    sum_sq = 0.0
    for i in range(x.size):
        xi = x[i]
        sum_sq += xi * xi
        grad_out[i] = grad_full[var_index[i]] + 2.0 * lam * xi
    return lam * sum_sq
