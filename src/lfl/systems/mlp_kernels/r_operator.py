"""Exact Hessian-vector products by Pearlmutter's R-operator on the tape of a forward/backward pass
(any network), and the dense Hessian column by column from them (the reference of the closed form
in :mod:`lfl.systems.mlp_kernels.hessian`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lfl import kernel_cache
from lfl.systems.mlp_kernels.layers import (
    add_bias, backward, forward, gemm, linear_rows, row_sums, scatter_into, softmax_cross_entropy,
)
from lfl.systems.mlp_kernels.transcendentals import ELEMENTWISE
from lfl.systems.mlp_kernels.work import hidden_row, layer_weights, tape_views

kernel_cache.install()


@njit(cache=True)
def r_work_size(sizes, n_items, n_full):
    n_layers = sizes.size - 1
    n_hidden = hidden_row(sizes, n_layers)
    return 2 * n_full + (3 * n_hidden + 2 * sizes[n_layers] + 1) * n_items


@njit(cache=True)
def r_views(r_work, sizes, n_items, n_full):
    """(r_acts, r_delta, r_up, r_logits, r_out_delta, mean) carved from r_work after its first
    2 n_full entries (which belong to the callers: v_full, hv_full)."""
    n_layers = sizes.size - 1
    n_hidden = hidden_row(sizes, n_layers)
    n_out = sizes[n_layers]
    hb = n_hidden * n_items
    ob = n_out * n_items
    at = 2 * n_full
    r_acts = r_work[at : at + hb].reshape((n_hidden, n_items))
    r_delta = r_work[at + hb : at + 2 * hb].reshape((n_hidden, n_items))
    r_up = r_work[at + 2 * hb : at + 3 * hb].reshape((n_hidden, n_items))
    at += 3 * hb
    r_logits = r_work[at : at + ob].reshape((n_out, n_items))
    r_out_delta = r_work[at + ob : at + 2 * ob].reshape((n_out, n_items))
    mean = r_work[at + 2 * ob : at + 2 * ob + n_items]
    return r_acts, r_delta, r_up, r_logits, r_out_delta, mean


@njit(cache=True)
def r_operator(w_full, v_full, sizes, xt, blas_first, acts, probs, out_delta, upstream, delta, hv_full, r_work,
               first_ready=False, defer_first=False):
    """Exact (Hessian of the data term) @ v over the full layout: Pearlmutter's R-operator on the
    tape of a forward/backward pass at w_full. No matrix is formed. r_work: float64[r_work_size].

    ``first_ready``: the caller already put V_1 @ X into the first layer's rows of r_acts (stacked
    product of a batch; bias still added here). ``defer_first``: leave the first layer's weight rows
    of hv_full to the caller (R{delta_1} @ X^T, stacked); R{delta_1} is in r_delta's first rows.
    """
    n_layers = sizes.size - 1
    n_items = xt.shape[1]
    r_acts, r_delta, r_up, r_logits, r_out_delta, mean = r_views(r_work, sizes, n_items, w_full.size)
    # R-forward: R{z_l} = V_l a_{l-1} + W_l R{a_{l-1}} + v_b; R{a_l} = (1 - a_l^2) R{z_l}.
    # W-terms through BLAS; V-terms by item loops, which skip zero blocks (a Hessian column's
    # direction is a unit vector).
    for l in range(1, n_layers + 1):
        v_w, v_b = layer_weights(v_full, sizes, l)
        out = r_logits if l == n_layers else r_acts[hidden_row(sizes, l) : hidden_row(sizes, l + 1)]
        if l == 1:
            if first_ready or blas_first:
                if not first_ready:
                    gemm(v_w, xt, out)
                add_bias(out, v_b, False)
            else:
                linear_rows(v_w, False, v_b, xt, out, True, False, False)
        else:
            weights, _ = layer_weights(w_full, sizes, l)
            lo = hidden_row(sizes, l - 1)
            hi = hidden_row(sizes, l)
            gemm(weights, r_acts[lo:hi], out)
            add_bias(out, v_b, False)
            linear_rows(v_w, False, v_b, acts[lo:hi], out, False, True, False)
        if l < n_layers:
            _scale_by_tanh_slope(out, acts[hidden_row(sizes, l) : hidden_row(sizes, l + 1)])
    # R{dE/dy} = (diag p - p p^T) R{y} / N
    _softmax_r(probs, r_logits, 1.0 / n_items, r_out_delta, mean)
    for l in range(n_layers, 0, -1):
        v_w, _ = layer_weights(v_full, sizes, l)
        weights, _ = layer_weights(w_full, sizes, l)
        hv_w, hv_b = layer_weights(hv_full, sizes, l)
        if l == n_layers:
            d = out_delta
            rd = r_out_delta
        else:
            d = delta[hidden_row(sizes, l) : hidden_row(sizes, l + 1)]
            rd = r_delta[hidden_row(sizes, l) : hidden_row(sizes, l + 1)]
        row_sums(rd, hv_b, False)
        if l == 1:
            if not defer_first:
                gemm(rd, xt.T, hv_w)
            continue
        lo = hidden_row(sizes, l - 1)
        hi = hidden_row(sizes, l)
        # Hv_W = R{d} a^T + d R{a}^T
        gemm(rd, acts[lo:hi].T, hv_w)
        second = np.empty_like(hv_w)
        gemm(d, r_acts[lo:hi].T, second)
        hv_w += second
        # R{dE/da_{l-1}} = W_l^T R{d} + V_l^T d
        gemm(weights.T, rd, r_up[lo:hi])
        linear_rows(v_w, True, hv_b, d, r_up[lo:hi], False, True, False)
        _tanh_r_backward(r_up[lo:hi], upstream[lo:hi], acts[lo:hi], r_acts[lo:hi], r_delta[lo:hi])


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def _scale_by_tanh_slope(rows, acts):
    n_rows, n_items = rows.shape
    for j in range(n_rows):
        r = rows[j]
        a = acts[j]
        for n in range(n_items):
            r[n] *= 1.0 - a[n] * a[n]


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def _softmax_r(probs, r_logits, inv_n, out, mean):
    n_out, n_items = probs.shape
    for n in range(n_items):
        mean[n] = 0.0
    for c in range(n_out):
        p = probs[c]
        r = r_logits[c]
        for n in range(n_items):
            mean[n] += p[n] * r[n]
    for c in range(n_out):
        p = probs[c]
        r = r_logits[c]
        o = out[c]
        for n in range(n_items):
            o[n] = p[n] * (r[n] - mean[n]) * inv_n


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def _tanh_r_backward(r_up, upstream, acts, r_acts, r_delta):
    """R{delta} = R{u} (1 - a^2) - 2 u a R{a}."""
    n_rows, n_items = acts.shape
    for j in range(n_rows):
        ru = r_up[j]
        u = upstream[j]
        a = acts[j]
        ra = r_acts[j]
        rd = r_delta[j]
        for n in range(n_items):
            rd[n] = ru[n] * (1.0 - a[n] * a[n]) - 2.0 * u[n] * a[n] * ra[n]


@njit(cache=True)
def _fill_tape(x, var_index, n_full, sizes, xt, labels, blas_first, work):
    n_items = labels.size
    w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch = tape_views(work, sizes, n_items, n_full)
    scatter_into(x, var_index, w_full)
    forward(w_full, sizes, xt, blas_first, False, acts, logits)
    softmax_cross_entropy(logits, labels, probs, out_delta, 1.0 / n_items, True, scratch)
    backward(w_full, sizes, xt, blas_first, False, acts, out_delta, upstream, delta, grad_full)
    return w_full, acts, probs, out_delta, upstream, delta


@njit(cache=True)
def hessian_vector_kernel(x, v, hv_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """hv_out = Hessian(x) @ v, exact (R-operator), over the variable weights."""
    w_full, acts, probs, out_delta, upstream, delta = _fill_tape(x, var_index, n_full, sizes, xt, labels, blas_first, work)
    r_work = np.empty(r_work_size(sizes, labels.size, n_full))
    v_full = r_work[0:n_full]
    hv_full = r_work[n_full : 2 * n_full]
    v_full[:] = 0.0
    for i in range(v.size):
        v_full[var_index[i]] = v[i]
    r_operator(w_full, v_full, sizes, xt, blas_first, acts, probs, out_delta, upstream, delta, hv_full, r_work)
    for i in range(v.size):
        hv_out[i] = hv_full[var_index[i]] + 2.0 * lam * v[i]


@njit(cache=True)
def fill_tapes_kernel(xs, slots, tapes, var_index, n_full, sizes, xt, labels, blas_first):
    """The forward/backward tape of every row m of xs (m, n_dof) into tapes[slots[m]] (tapes:
    (n, work_size)): what :func:`batch_hessian_vector_kernel` multiplies at."""
    for m in range(xs.shape[0]):
        _fill_tape(xs[m], var_index, n_full, sizes, xt, labels, blas_first, tapes[slots[m]])


@njit(cache=True)
def batch_hessian_vector_kernel(vs, hv_out, slots, tapes, var_index, n_full, sizes, xt, labels, lam, blas_first):
    """hv_out[m] = Hessian(x_m) @ vs[m] for every row m, where x_m is the point whose tape is
    tapes[slots[m]] (from :func:`fill_tapes_kernel`): exact, as :func:`hessian_vector_kernel`.

    The tape holds the forward pass at x_m, so a product costs only the R-passes; with blas_first the
    first layer's two products of all rows go through two stacked matrix products (m * n_1 rows:
    the data matrix is read once for the batch, not once per row).
    """
    n_rows = vs.shape[0]
    n_items = labels.size
    n_layers = sizes.size - 1
    r_work = np.empty(r_work_size(sizes, n_items, n_full))
    v_full = r_work[0:n_full]
    hv_full = r_work[n_full : 2 * n_full]
    r_acts, r_delta, _, _, _, _ = r_views(r_work, sizes, n_items, n_full)
    stacked = blas_first and n_rows > 1 and n_layers > 1
    n_in = sizes[0]
    n_first = sizes[1]
    hv_all = np.empty((n_rows, n_full))
    if stacked:
        v_first_all = np.empty((n_rows * n_first, n_in))
        for m in range(n_rows):
            v_full[:] = 0.0
            scatter_into(vs[m], var_index, v_full)
            v_w, _ = layer_weights(v_full, sizes, 1)
            v_first_all[m * n_first : (m + 1) * n_first] = v_w
        rz_first = np.empty((n_rows * n_first, n_items))
        gemm(v_first_all, xt, rz_first)
        rd_first = np.empty((n_rows * n_first, n_items))
    for m in range(n_rows):
        w_full, _, acts, _, probs, out_delta, upstream, delta, _ = tape_views(tapes[slots[m]], sizes, n_items, n_full)
        v_full[:] = 0.0
        scatter_into(vs[m], var_index, v_full)
        if stacked:
            r_acts[0:n_first] = rz_first[m * n_first : (m + 1) * n_first]
        r_operator(w_full, v_full, sizes, xt, blas_first, acts, probs, out_delta, upstream, delta, hv_full, r_work,
                   stacked, stacked)
        if stacked:
            rd_first[m * n_first : (m + 1) * n_first] = r_delta[0:n_first]
        hv_all[m] = hv_full
    if stacked:
        hv_first_all = np.empty((n_rows * n_first, n_in))
        gemm(rd_first, xt.T, hv_first_all)
        for m in range(n_rows):
            hv_w, _ = layer_weights(hv_all[m], sizes, 1)
            hv_w[:, :] = hv_first_all[m * n_first : (m + 1) * n_first]
    for m in range(n_rows):
        for i in range(vs.shape[1]):
            hv_out[m, i] = hv_all[m, var_index[i]] + 2.0 * lam * vs[m, i]


@njit(cache=True)
def r_operator_hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """Dense exact Hessian (n_dof, n_dof): one R-operator pass per column on a shared tape (any
    network; the reference of :func:`one_layer_hessian_kernel`)."""
    w_full, acts, probs, out_delta, upstream, delta = _fill_tape(x, var_index, n_full, sizes, xt, labels, blas_first, work)
    n_dof = x.size
    r_work = np.empty(r_work_size(sizes, labels.size, n_full))
    v_full = r_work[0:n_full]
    hv_full = r_work[n_full : 2 * n_full]
    v_full[:] = 0.0
    for col in range(n_dof):
        v_full[var_index[col]] = 1.0
        r_operator(w_full, v_full, sizes, xt, blas_first, acts, probs, out_delta, upstream, delta, hv_full, r_work)
        v_full[var_index[col]] = 0.0
        for i in range(n_dof):
            hess_out[i, col] = hv_full[var_index[i]]
    for i in range(n_dof):
        for j in range(i):
            mean = 0.5 * (hess_out[i, j] + hess_out[j, i])
            hess_out[i, j] = mean
            hess_out[j, i] = mean
        hess_out[i, i] += 2.0 * lam
