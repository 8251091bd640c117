"""Compiled kernels of the MLP loss (SCIENCE.md §3): energy, gradient, Hessian-vector product,
dense Hessian.

Everything works on the *full* weight layout of :mod:`lfl.systems.network` (per layer ``W_l``
row-major, then ``b_l``); :func:`kernel` and the other entry points scatter the variable weights
into it and gather the results back.

Speed (see DESIGN.md, performance notes):

- data items are innermost and contiguous everywhere (``xt`` is inputs x items), so every inner loop
  runs over items with unit stride and the compiler vectorises it; loops index row views from 0
  (an index like ``start + k`` keeps numba's negative-index wrap-around check and stops vectorising);
- tanh and exp are vectorisable (Cody-Waite reduction, 2**k built from its bits), because numba
  calls scalar libm for ``np.tanh``/``np.exp``: exp by a degree-11 polynomial, tanh by the [6/6]
  Pade approximant of exp with one division (:func:`_tanh_value`); relative error below 5e-16
  (tests/test_mlp.py checks both against numpy);
- :func:`kernel` of a network with ONE hidden layer, up to four inputs and three or four classes
  (the landscapes' [2,10,4]) runs :func:`one_layer_kernel`: blocks of items through all phases on
  aligned, padded block rows, register-blocked loops in 512-bit vectors (see the comment above it);
  [2,10,4,1000] 16 us, 1.8x faster than the general path and 5.6x faster than numpy;
- the general path (deeper networks, wide inputs, the R-operator's tape): matrix products through
  BLAS (``np.dot`` into preallocated arrays), except a narrow first layer, which runs item loops
  (tanh over each row right after its affine pass), and the direction terms of the R-operator,
  whose item loops skip zero blocks (a Hessian column's direction is a unit vector);
- ``log`` of the softmax normalisers is taken of products of blocks of items (one call per block).

Fast-math: element-wise loops allow fused multiply-add only (``contract``); loops that sum over
items also allow reassociation (``reassoc``), so a sum is split over SIMD lanes. Nothing assumes
finite values: NaN weights give a NaN energy (the L2 term alone guarantees it, even with lambda 0).

Work arrays ("tape"), float64, N = items, H = hidden nodes of all layers stacked in layer order:
``acts`` (H, N) activations; ``upstream`` (H, N) dE/da; ``delta`` (H, N) dE/dz; ``probs``
(n_out, N) class probabilities; ``out_delta`` (n_out, N) dE/dy = (p - onehot)/N; ``logits``
(n_out, N).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_ELEMENTWISE = {"contract"}
_SUMS = {"contract", "reassoc"}

_INV_LN2 = 1.4426950408889634
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: adding and subtracting it rounds to an integer
_SHIFTER_BITS = 0x4338000000000000  # its bits: those of k + _SHIFTER minus these are k (|k| < 2**51)
_LN2_HI = 6.93147180369123816490e-01  # fdlibm split of ln 2: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_TANH_CLAMP = 40.0  # |2z| beyond this: tanh(z) rounds to +-1 exactly
_EXP_FLOOR = -700.0  # exp below this is returned as 0 (keeps the exponent field normal)
# (expm1(r) - r) / r**2 on |r| <= ln2/2: Chebyshev interpolant of degree 9 computed in 50-digit
# decimal arithmetic; expm1 = r + r**2 P(r) has relative error below 5e-17 before rounding.
_P0, _P1, _P2, _P3, _P4 = 0.5000000000000001, 0.16666666666666669, 0.04166666666662413, 0.008333333333330062, 0.0013888888917213717
_P5, _P6, _P7, _P8, _P9 = 0.00019841269863053618, 2.4801521295954376e-05, 2.7557268459997064e-06, 2.7620088445409746e-07, 2.510038549551032e-08
# [6/6] Pade approximant of exp: c_j = (12 - j)! 6! / (12! j! (6 - j)!); its error on |r| <= ln2/2
# is below 2e-19, so rounding alone sets the accuracy of tanh
_PADE1, _PADE2, _PADE3 = 0.5, 0.11363636363636363, 0.015151515151515152
_PADE4, _PADE5, _PADE6 = 0.0012626262626262627, 6.313131313131313e-05, 1.503126503126503e-06


@intrinsic
def _bits_as_float(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64 (vectorisable, unlike ldexp)."""
    signature = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return signature, codegen


@intrinsic
def _float_bits(typingctx, value):
    """The 64 bits of a float64 as an int64 (the inverse of _bits_as_float)."""
    signature = types.int64(types.float64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return signature, codegen


@njit(cache=True, inline="always")
def _power_of_two(shifted):
    """2**k from shifted = k + _SHIFTER: k sits in the low bits of its mantissa. Integer adds and a
    shift vectorise; np.int64(kf) does not (AVX2 has no packed double -> int64 conversion: LLVM
    emitted four scalar conversions and shuffles per vector, ~25 % of a tanh)."""
    return _bits_as_float((_float_bits(shifted) - _SHIFTER_BITS + 1023) << 52)


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def _expm1_parts(w):
    """(2**k, expm1(r)) with w = k ln2 + r, |r| <= ln2/2, for -1022 < k < 1024."""
    shifted = w * _INV_LN2 + _SHIFTER
    kf = shifted - _SHIFTER
    r = (w - kf * _LN2_HI) - kf * _LN2_LO
    p = _P9
    p = p * r + _P8
    p = p * r + _P7
    p = p * r + _P6
    p = p * r + _P5
    p = p * r + _P4
    p = p * r + _P3
    p = p * r + _P2
    p = p * r + _P1
    p = p * r + _P0
    q = r + r * r * p
    return _power_of_two(shifted), q


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy", inline="always")
def _exp_nonpositive(w):
    """exp(w) for w <= 0, below -700 returned as 0."""
    wc = w if w > _EXP_FLOOR else _EXP_FLOOR
    scale, q = _expm1_parts(wc)
    e = scale + scale * q
    return e if w > _EXP_FLOOR else 0.0


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def exp_array(values, out):
    """out = exp(values) for values <= 0 (exp below -700 returned as 0); a checked helper for tests."""
    for n in range(values.size):
        out[n] = _exp_nonpositive(values[n])


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy", inline="always")
def _tanh_value(z):
    """tanh(z) = (1 - e)/(1 + e), e = exp(-2|z|) = 2**k * N(r)/N(-r) with the [6/6] Pade approximant
    N(r) = even(r^2) + r odd(r^2) of exp: one division for the whole tanh, and with s = 2**k,
        tanh|z| = ((1 - s) even - (1 + s) r odd) / ((1 + s) even - (1 - s) r odd),
    where 1 - s is exact and nothing cancels (for k = 0 the numerator is -2 r odd). As many
    operations as expm1 by a degree-11 polynomial (the former way, also one division) but shorter
    dependency chains (two polynomials in r^2 of degree 3): 15 % faster. Relative error below
    5e-16; the [5/5] approximant (two operations fewer) misses it: 2.6e-15."""
    w = max(-2.0 * abs(z), -_TANH_CLAMP)
    shifted = w * _INV_LN2 + _SHIFTER
    kf = shifted - _SHIFTER
    r = (w - kf * _LN2_HI) - kf * _LN2_LO
    r2 = r * r
    even = ((_PADE6 * r2 + _PADE4) * r2 + _PADE2) * r2 + 1.0
    odd = ((_PADE5 * r2 + _PADE3) * r2 + _PADE1) * r
    s = _power_of_two(shifted)
    numerator = (1.0 - s) * even - (1.0 + s) * odd
    denominator = (1.0 + s) * even - (1.0 - s) * odd
    return math.copysign(numerator / denominator, z)


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy", inline="always")
def _tanh_row(values):
    for n in range(values.size):
        values[n] = _tanh_value(values[n])


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def tanh_inplace(rows):
    """rows[:, :] = tanh(rows) for a 2-d C-contiguous block (relative error < 5e-16)."""
    for j in range(rows.shape[0]):
        _tanh_row(rows[j])


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy", inline="always")
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


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
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
            _tanh_row(row)


@njit(cache=True, fastmath=_SUMS, error_model="numpy")
def row_sums(rows, out, accumulate):
    n_rows, n_items = rows.shape
    for j in range(n_rows):
        values = rows[j]
        acc = 0.0
        for n in range(n_items):
            acc += values[n]
        out[j] = out[j] + acc if accumulate else acc


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
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


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def _add_bias(rows, bias, apply_tanh):
    """rows += bias[:, None], then tanh row by row (while the row is in cache) if asked."""
    n_rows, n_items = rows.shape
    for j in range(n_rows):
        b = bias[j]
        row = rows[j]
        for n in range(n_items):
            row[n] += b
        if apply_tanh:
            _tanh_row(row)


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def _column_max(logits, out):
    n_out, n_items = logits.shape
    first = logits[0]
    for n in range(n_items):
        out[n] = first[n]
    for c in range(1, n_out):
        row = logits[c]
        for n in range(n_items):
            out[n] = row[n] if row[n] > out[n] else out[n]


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
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
            wc = w if w > _EXP_FLOOR else _EXP_FLOOR
            scale, q = _expm1_parts(wc)
            e = scale + scale * q
            e = e if w > _EXP_FLOOR else 0.0
            out[n] = e
            total[n] += e
            label_logit[n] += y if labels[n] == c else 0.0


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
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


@njit(cache=True, fastmath=_SUMS, error_model="numpy")
def _block_product(values):
    prod = 1.0
    for n in range(values.size):
        prod *= values[n]
    return prod


@njit(cache=True, fastmath=_SUMS, error_model="numpy")
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
    if _one_layer_shape(sizes):
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
        _add_bias(out, bias, hidden)


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
def _scatter_into(x, var_index, w_full):
    if x.size != w_full.size:
        w_full[:] = 0.0
    for i in range(x.size):
        w_full[var_index[i]] = x[i]


@njit(cache=True)
def _add_l2(x, var_index, grad_full, lam, grad_out):
    """lam * sum(x^2) returned; grad_out = grad_full[variables] + 2 lam x."""
    sum_sq = 0.0
    for i in range(x.size):
        xi = x[i]
        sum_sq += xi * xi
        grad_out[i] = grad_full[var_index[i]] + 2.0 * lam * xi
    return lam * sum_sq


# --- one hidden layer, up to four inputs and four classes: the landscapes' [2,10,4], without BLAS ---
# The items run in blocks through all four phases (affine + tanh, output layer, softmax, backward
# sums; the gradient sums carried over the blocks), on block rows of their own at the end of the work
# array (:func:`block_views`): 64-byte aligned, padded to whole vector iterations (_BLOCK_PAD items),
# with padding rows for missing inputs and classes (zero inputs, zero weights), so that every loop
# takes all four inputs or classes and runs over the padded length. Padding items are made exactly
# neutral (zero inputs; logits (0, -inf, ...) and label 0, hence dE/dy = 0: see :func:`softmax_delta`).
# Register blocking: all classes by four hidden rows per pass in the output layer, two hidden rows per
# pass in the backward sums. [2,10,4,1000] on one core of a Xeon with AVX-512, same runs: 22.9 -> 16.0
# us (numpy 88 us); what each step gave, measured in turn:
# - 512-bit vectors (:func:`_prefer_512_bit_vectors`): tanh 7.1 -> 5.9 us per 10,000, exp 2.6 -> 1.8
#   us per 4,000, the backward sums 5.0 -> 3.7 us, but only on rows aligned to 64 bytes (a row 16
#   bytes off splits every load over two cache lines and loses the gain; the tape's rows, N apart,
#   are not aligned), hence the block rows;
# - the softmax in one pass over the items (it took five): 4.6 -> 2.6 us;
# - the backward sums two hidden rows per pass: 3.7 -> 2.6 us (one row per pass reloads the four
#   dE/dy rows and the inputs for 13 operations);
# - padding to whole vector iterations: the vectorised loops leave up to 31 items to scalar code,
#   ~0.5 us per block in scalar tanh and exp;
# - the block functions without numba's reference counting (``_nrt=False``: they allocate nothing, and
#   their arguments outlive them): it increments and decrements every array argument and row view
#   atomically, dozens per call, ~0.8 us per block: 18.4 -> 16.0 us;
# - the block length: at most 480 items (1000 items: 3 blocks of 352 padded) against 256 (+2 %) and
#   160 (+6 %; fixed costs per block); a single block is not allowed by the softmax's product of
#   normalisers.
# Tried, no gain: two tanh with one division (1/(d1 d2) and a correction step), in 256 or 512 bits; the
# affine pass and tanh in separate loops (equal in 512 bits; 20 % better in 256).
_BLOCK_ITEMS = 480  # at most, a multiple of _BLOCK_PAD; 4**480 < 2**1000 (see softmax_delta)
_BLOCK_PAD = 32  # a vector iteration: 8 doubles in a 512-bit vector, 4 interleaved


@intrinsic
def _prefer_512_bit_vectors(typingctx):
    """Let LLVM vectorise the loops of the calling function in 512-bit vectors (a called function
    needs its own call): on Intel's AVX-512 cores it prefers 256 bits by default, as older parts drop
    their clock in 512-bit code; on this Xeon 512 bits are faster (see the comment above). The function
    attribute "prefer-vector-width" of clang's -mprefer-vector-width; without AVX-512 it changes
    nothing. llvmlite checks attribute names against a list without key-value attributes, hence
    set.add; should a later llvmlite refuse even that, the function keeps LLVM's default width (the
    same results, a few microseconds slower)."""
    signature = types.void()

    def codegen(context, builder, sig, args):
        try:
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except Exception:  # noqa: BLE001 - a hint to the compiler, never worth failing for
            pass
        return context.get_dummy_value()

    return signature, codegen


@njit(cache=True)
def _one_layer_shape(sizes) -> bool:
    return sizes.size == 3 and sizes[0] <= 4 and 3 <= sizes[2] <= 4


@njit(cache=True)
def takes_one_layer_path(sizes, blas_first) -> bool:
    """True when :func:`kernel` runs :func:`one_layer_kernel` for this shape. (Beyond four inputs or
    classes, padding and extra passes made the general path faster: [2,10,2] by 5 %, [2,10,6] and
    [8,10,4] by 10 %, measured with the former unblocked 256-bit kernel.)"""
    return _one_layer_shape(sizes) and not blas_first


@njit(cache=True)
def block_items(n_items):
    """Length of the block rows of :func:`one_layer_kernel`: the items split into equal blocks of at
    most _BLOCK_ITEMS, rounded up to a multiple of _BLOCK_PAD (each block runs whole vector iterations)."""
    n_blocks = (max(n_items, 1) + _BLOCK_ITEMS - 1) // _BLOCK_ITEMS
    per_block = (max(n_items, 1) + n_blocks - 1) // n_blocks
    return (per_block + _BLOCK_PAD - 1) // _BLOCK_PAD * _BLOCK_PAD


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
    x, at = _carve(work, at, 4, stride)
    acts, at = _carve(work, at, sizes[1], stride)
    logits, at = _carve(work, at, 4, stride)
    out_delta, at = _carve(work, at, 4, stride)
    return x, acts, logits, out_delta, work[at : at + stride]


@njit(cache=True, error_model="numpy", _nrt=False)
def load_block(xt, labels, start, m, padded, x, label_row):
    """Items start .. start + m of the inputs and labels (as floats: exact) into the block rows;
    zeros beyond them up to ``padded`` and in the rows of missing inputs."""
    _prefer_512_bit_vectors()
    n_in = xt.shape[0]
    for i in range(4):
        row = x[i]
        if i < n_in:
            src = xt[i, start : start + m]
            for n in range(m):
                row[n] = src[n]
        else:
            for n in range(m):
                row[n] = 0.0
        for n in range(m, padded):
            row[n] = 0.0
    src_labels = labels[start : start + m]
    for n in range(m):
        label_row[n] = src_labels[n]
    for n in range(m, padded):
        label_row[n] = 0.0


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy", _nrt=False)
def hidden_tanh_rows(w1, b1, x, acts, padded):
    """acts = tanh(w1 @ x + b1) over a block, x with four rows (zero beyond the inputs)."""
    _prefer_512_bit_vectors()
    n_hidden, n_in = w1.shape
    x0 = x[0]
    x1 = x[1]
    x2 = x[2]
    x3 = x[3]
    for j in range(n_hidden):
        row = acts[j]
        base = b1[j]
        v0 = w1[j, 0]
        v1 = w1[j, 1] if n_in > 1 else 0.0
        if n_in <= 2:  # the usual (r12, r13) inputs
            for n in range(padded):
                row[n] = _tanh_value(base + v0 * x0[n] + v1 * x1[n])
        else:
            v2 = w1[j, 2]
            v3 = w1[j, 3] if n_in > 3 else 0.0
            for n in range(padded):
                row[n] = _tanh_value(base + v0 * x0[n] + v1 * x1[n] + v2 * x2[n] + v3 * x3[n])


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy", _nrt=False)
def output_rows(w2, b2, acts, logits, padded):
    """logits = w2 @ acts + b2 over a block: all four logit rows (a missing class: zero weights) by
    four hidden rows per pass, then two, then one; the first pass writes the rows."""
    _prefer_512_bit_vectors()
    n_out, n_hidden = w2.shape
    four = n_out > 3
    r0 = logits[0]
    r1 = logits[1]
    r2 = logits[2]
    r3 = logits[3]
    k = 0
    while k < n_hidden:
        first = k == 0
        c0 = b2[0] if first else 0.0
        c1 = b2[1] if first else 0.0
        c2 = b2[2] if first else 0.0
        c3 = b2[3] if first and four else 0.0
        h0 = acts[k]
        v00 = w2[0, k]
        v10 = w2[1, k]
        v20 = w2[2, k]
        v30 = w2[3, k] if four else 0.0
        if n_hidden - k >= 4:
            h1 = acts[k + 1]
            h2 = acts[k + 2]
            h3 = acts[k + 3]
            v01 = w2[0, k + 1]
            v02 = w2[0, k + 2]
            v03 = w2[0, k + 3]
            v11 = w2[1, k + 1]
            v12 = w2[1, k + 2]
            v13 = w2[1, k + 3]
            v21 = w2[2, k + 1]
            v22 = w2[2, k + 2]
            v23 = w2[2, k + 3]
            v31 = w2[3, k + 1] if four else 0.0
            v32 = w2[3, k + 2] if four else 0.0
            v33 = w2[3, k + 3] if four else 0.0
            if first:
                for n in range(padded):
                    a0 = h0[n]
                    a1 = h1[n]
                    a2 = h2[n]
                    a3 = h3[n]
                    r0[n] = c0 + v00 * a0 + v01 * a1 + v02 * a2 + v03 * a3
                    r1[n] = c1 + v10 * a0 + v11 * a1 + v12 * a2 + v13 * a3
                    r2[n] = c2 + v20 * a0 + v21 * a1 + v22 * a2 + v23 * a3
                    r3[n] = c3 + v30 * a0 + v31 * a1 + v32 * a2 + v33 * a3
            else:
                for n in range(padded):
                    a0 = h0[n]
                    a1 = h1[n]
                    a2 = h2[n]
                    a3 = h3[n]
                    r0[n] += v00 * a0 + v01 * a1 + v02 * a2 + v03 * a3
                    r1[n] += v10 * a0 + v11 * a1 + v12 * a2 + v13 * a3
                    r2[n] += v20 * a0 + v21 * a1 + v22 * a2 + v23 * a3
                    r3[n] += v30 * a0 + v31 * a1 + v32 * a2 + v33 * a3
            k += 4
        elif n_hidden - k >= 2:
            h1 = acts[k + 1]
            v01 = w2[0, k + 1]
            v11 = w2[1, k + 1]
            v21 = w2[2, k + 1]
            v31 = w2[3, k + 1] if four else 0.0
            if first:
                for n in range(padded):
                    a0 = h0[n]
                    a1 = h1[n]
                    r0[n] = c0 + v00 * a0 + v01 * a1
                    r1[n] = c1 + v10 * a0 + v11 * a1
                    r2[n] = c2 + v20 * a0 + v21 * a1
                    r3[n] = c3 + v30 * a0 + v31 * a1
            else:
                for n in range(padded):
                    a0 = h0[n]
                    a1 = h1[n]
                    r0[n] += v00 * a0 + v01 * a1
                    r1[n] += v10 * a0 + v11 * a1
                    r2[n] += v20 * a0 + v21 * a1
                    r3[n] += v30 * a0 + v31 * a1
            k += 2
        else:
            if first:
                for n in range(padded):
                    a0 = h0[n]
                    r0[n] = c0 + v00 * a0
                    r1[n] = c1 + v10 * a0
                    r2[n] = c2 + v20 * a0
                    r3[n] = c3 + v30 * a0
            else:
                for n in range(padded):
                    a0 = h0[n]
                    r0[n] += v00 * a0
                    r1[n] += v10 * a0
                    r2[n] += v20 * a0
                    r3[n] += v30 * a0
            k += 1


@njit(cache=True, fastmath=_SUMS, error_model="numpy", _nrt=False)
def softmax_delta(y0, y1, y2, y3, labels, inv_n, d0, d1, d2, d3, four, m, padded):
    """Sum over a block's m items of -log p_label, and dE/dy = (p - onehot) / N into d0 .. d3, in one
    pass over the items. ``four``: a fourth class, else y3 and d3 are padding rows (p3 = 0).

    Items m .. padded are padding: given logits (0, -inf, ...) and label 0 here, they get p = onehot,
    hence dE/dy = 0 exactly and nothing in the sum. The log normalisers are one log of their
    product: each lies in [1, 4], a block has at most _BLOCK_ITEMS. (The rows are separate arguments:
    LLVM does not vectorise this loop over rows of two 2-d arrays.)"""
    _prefer_512_bit_vectors()
    for n in range(m, padded):
        y0[n] = 0.0
        y1[n] = -np.inf
        y2[n] = -np.inf
        y3[n] = -np.inf
    acc = 0.0
    prod = 1.0
    for n in range(padded):
        a0 = y0[n]
        a1 = y1[n]
        a2 = y2[n]
        a3 = y3[n]
        a3 = a3 if four else a2
        m01 = a0 if a0 > a1 else a1
        m23 = a2 if a2 > a3 else a3
        top = m01 if m01 > m23 else m23
        e0 = _exp_nonpositive(a0 - top)
        e1 = _exp_nonpositive(a1 - top)
        e2 = _exp_nonpositive(a2 - top)
        e3 = _exp_nonpositive(a3 - top)
        e3 = e3 if four else 0.0
        total = (e0 + e1) + (e2 + e3)
        prod *= total
        scale = inv_n / total
        label = labels[n]
        acc += top - (a0 if label == 0.0 else (a1 if label == 1.0 else (a2 if label == 2.0 else a3)))
        d0[n] = e0 * scale - (inv_n if label == 0.0 else 0.0)
        d1[n] = e1 * scale - (inv_n if label == 1.0 else 0.0)
        d2[n] = e2 * scale - (inv_n if label == 2.0 else 0.0)
        d3[n] = e3 * scale - (inv_n if label == 3.0 else 0.0)
    return acc + np.log(prod)


@njit(cache=True, fastmath=_SUMS, error_model="numpy", _nrt=False)
def one_layer_backward(w2, x, acts, d, grad_w1, grad_b1, grad_w2, grad_b2, padded):
    """Gradient sums of a block added into grad_*, from d = dE/dy (four rows; zero for a missing
    class and for padding items): per pair of hidden rows j, k one pass over the items gives
    grad_w2[:, j] += d . a_j, delta_j = (sum_c w2[c, j] d_c)(1 - a_j^2), grad_w1[j] += delta_j . x,
    grad_b1[j] += sum(delta_j), the same for k. An odd last row is paired with itself (its twin's
    sums dropped)."""
    _prefer_512_bit_vectors()
    n_out, n_hidden = w2.shape
    n_in = grad_w1.shape[1]
    four = n_out > 3
    for c in range(n_out):
        total = 0.0
        for n in range(padded):
            total += d[c, n]
        grad_b2[c] += total
    for j in range(0, n_hidden, 2):
        k = j + 1 if j + 1 < n_hidden else j
        v0 = w2[0, j]
        v1 = w2[1, j]
        v2 = w2[2, j]
        v3 = w2[3, j] if four else 0.0
        u0 = w2[0, k]
        u1 = w2[1, k]
        u2 = w2[2, k]
        u3 = w2[3, k] if four else 0.0
        sa0 = 0.0
        sa1 = 0.0
        sa2 = 0.0
        sa3 = 0.0
        sb0 = 0.0
        sb1 = 0.0
        sb2 = 0.0
        sb3 = 0.0
        ta = 0.0
        tb = 0.0
        ga0 = 0.0
        ga1 = 0.0
        ga2 = 0.0
        ga3 = 0.0
        gb0 = 0.0
        gb1 = 0.0
        gb2 = 0.0
        gb3 = 0.0
        if n_in <= 2:  # the usual (r12, r13) inputs: two input sums per row
            for n in range(padded):
                an = acts[j, n]
                bn = acts[k, n]
                e0 = d[0, n]
                e1 = d[1, n]
                e2 = d[2, n]
                e3 = d[3, n]
                sa0 += e0 * an
                sa1 += e1 * an
                sa2 += e2 * an
                sa3 += e3 * an
                sb0 += e0 * bn
                sb1 += e1 * bn
                sb2 += e2 * bn
                sb3 += e3 * bn
                da = (v0 * e0 + v1 * e1 + v2 * e2 + v3 * e3) * (1.0 - an * an)
                db = (u0 * e0 + u1 * e1 + u2 * e2 + u3 * e3) * (1.0 - bn * bn)
                ta += da
                tb += db
                xn0 = x[0, n]
                xn1 = x[1, n]
                ga0 += da * xn0
                ga1 += da * xn1
                gb0 += db * xn0
                gb1 += db * xn1
        else:
            for n in range(padded):
                an = acts[j, n]
                bn = acts[k, n]
                e0 = d[0, n]
                e1 = d[1, n]
                e2 = d[2, n]
                e3 = d[3, n]
                sa0 += e0 * an
                sa1 += e1 * an
                sa2 += e2 * an
                sa3 += e3 * an
                sb0 += e0 * bn
                sb1 += e1 * bn
                sb2 += e2 * bn
                sb3 += e3 * bn
                da = (v0 * e0 + v1 * e1 + v2 * e2 + v3 * e3) * (1.0 - an * an)
                db = (u0 * e0 + u1 * e1 + u2 * e2 + u3 * e3) * (1.0 - bn * bn)
                ta += da
                tb += db
                xn0 = x[0, n]
                xn1 = x[1, n]
                xn2 = x[2, n]
                xn3 = x[3, n]
                ga0 += da * xn0
                ga1 += da * xn1
                ga2 += da * xn2
                ga3 += da * xn3
                gb0 += db * xn0
                gb1 += db * xn1
                gb2 += db * xn2
                gb3 += db * xn3
        _add_row_sums(grad_w1, grad_b1, grad_w2, j, sa0, sa1, sa2, sa3, ta, ga0, ga1, ga2, ga3)
        if k != j:
            _add_row_sums(grad_w1, grad_b1, grad_w2, k, sb0, sb1, sb2, sb3, tb, gb0, gb1, gb2, gb3)


@njit(cache=True, _nrt=False)
def _add_row_sums(grad_w1, grad_b1, grad_w2, j, s0, s1, s2, s3, t, g0, g1, g2, g3):
    """The sums of hidden row j into the gradient (those of padding classes and inputs dropped)."""
    n_out = grad_w2.shape[0]
    n_in = grad_w1.shape[1]
    grad_w2[0, j] += s0
    grad_w2[1, j] += s1
    grad_w2[2, j] += s2
    if n_out > 3:
        grad_w2[3, j] += s3
    grad_b1[j] += t
    grad_w1[j, 0] += g0
    if n_in > 1:
        grad_w1[j, 1] += g1
    if n_in > 2:
        grad_w1[j, 2] += g2
    if n_in > 3:
        grad_w1[j, 3] += g3


@njit(cache=True)
def one_layer_kernel(x, grad_out, var_index, n_full, sizes, xt, labels, lam, work):
    """:func:`kernel` for one hidden layer, at most four inputs and four classes, item loops in
    blocks (no BLAS); the arguments of :func:`kernel` but ``blas_first``. Leaves the tape alone
    (its block rows: :func:`block_views`)."""
    n_items = labels.size
    w_full = work[0:n_full]
    grad_full = work[n_full : 2 * n_full]
    _scatter_into(x, var_index, w_full)
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
        padded = (m + _BLOCK_PAD - 1) // _BLOCK_PAD * _BLOCK_PAD
        load_block(xt, labels, start, m, padded, xb, label_row)
        hidden_tanh_rows(w1, b1, xb, acts, padded)
        output_rows(w2, b2, acts, logits, padded)
        loss += softmax_delta(logits[0], logits[1], logits[2], logits[3], label_row, inv_n,
                              out_delta[0], out_delta[1], out_delta[2], out_delta[3], four, m, padded)
        one_layer_backward(w2, xb, acts, out_delta, grad_w1, grad_b1, grad_w2, grad_b2, padded)
    return loss * inv_n + _add_l2(x, var_index, grad_full, lam, grad_out)


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
    _scatter_into(x, var_index, w_full)
    forward(w_full, sizes, xt, blas_first, False, acts, logits)
    inv_n = 1.0 / n_items
    loss = softmax_cross_entropy(logits, labels, probs, out_delta, inv_n, True, scratch) * inv_n
    backward(w_full, sizes, xt, blas_first, False, acts, out_delta, upstream, delta, grad_full)
    return loss + _add_l2(x, var_index, grad_full, lam, grad_out)


@njit(cache=True)
def energy_kernel(x, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """Energy only (forward pass); the arguments of :func:`kernel` without ``grad_out``."""
    n_items = labels.size
    w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch = tape_views(work, sizes, n_items, n_full)
    _scatter_into(x, var_index, w_full)
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
        _scatter_into(xs[m], var_index, w_full)
        weights, _ = layer_weights(w_full, sizes, 1)
        weights_all[m * n_first : (m + 1) * n_first] = weights
    z_first = np.empty((n_images * n_first, n_items))
    gemm(weights_all, xt, z_first)
    delta_first = np.empty((n_images * n_first, n_items))
    first_grads = np.empty((n_images, n_full))
    first = acts[0:n_first]  # at least one hidden layer
    for m in range(n_images):
        _scatter_into(xs[m], var_index, w_full)
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
        energies[m] += _add_l2(xs[m], var_index, grad_full, lam, grads[m])


@njit(cache=True)
def r_work_size(sizes, n_items, n_full):
    n_layers = sizes.size - 1
    n_hidden = hidden_row(sizes, n_layers)
    return 2 * n_full + (3 * n_hidden + 2 * sizes[n_layers] + 1) * n_items


@njit(cache=True)
def r_operator(w_full, v_full, sizes, xt, blas_first, acts, probs, out_delta, upstream, delta, hv_full, r_work):
    """Exact (Hessian of the data term) @ v over the full layout: Pearlmutter's R-operator on the
    tape of a forward/backward pass at w_full. No matrix is formed. r_work: float64[r_work_size]."""
    n_layers = sizes.size - 1
    n_items = xt.shape[1]
    n_hidden = hidden_row(sizes, n_layers)
    n_out = sizes[n_layers]
    hb = n_hidden * n_items
    ob = n_out * n_items
    at = 2 * w_full.size  # the first 2 n_full entries belong to the callers
    r_acts = r_work[at : at + hb].reshape((n_hidden, n_items))
    r_delta = r_work[at + hb : at + 2 * hb].reshape((n_hidden, n_items))
    r_up = r_work[at + 2 * hb : at + 3 * hb].reshape((n_hidden, n_items))
    at += 3 * hb
    r_logits = r_work[at : at + ob].reshape((n_out, n_items))
    r_out_delta = r_work[at + ob : at + 2 * ob].reshape((n_out, n_items))
    mean = r_work[at + 2 * ob : at + 2 * ob + n_items]
    # R-forward: R{z_l} = V_l a_{l-1} + W_l R{a_{l-1}} + v_b; R{a_l} = (1 - a_l^2) R{z_l}.
    # W-terms through BLAS; V-terms by item loops, which skip zero blocks (a Hessian column's
    # direction is a unit vector).
    for l in range(1, n_layers + 1):
        v_w, v_b = layer_weights(v_full, sizes, l)
        out = r_logits if l == n_layers else r_acts[hidden_row(sizes, l) : hidden_row(sizes, l + 1)]
        if l == 1:
            if blas_first:
                gemm(v_w, xt, out)
                _add_bias(out, v_b, False)
            else:
                linear_rows(v_w, False, v_b, xt, out, True, False, False)
        else:
            weights, _ = layer_weights(w_full, sizes, l)
            lo = hidden_row(sizes, l - 1)
            hi = hidden_row(sizes, l)
            gemm(weights, r_acts[lo:hi], out)
            _add_bias(out, v_b, False)
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


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def _scale_by_tanh_slope(rows, acts):
    n_rows, n_items = rows.shape
    for j in range(n_rows):
        r = rows[j]
        a = acts[j]
        for n in range(n_items):
            r[n] *= 1.0 - a[n] * a[n]


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
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


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
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
    _scatter_into(x, var_index, w_full)
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
def hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """Dense exact Hessian (n_dof, n_dof) into ``hess_out``, symmetric to the last bit; the
    arguments of :func:`kernel`. One hidden layer: :func:`one_layer_hessian_kernel` (matrix
    products over items); deeper networks: :func:`r_operator_hessian_kernel`."""
    if takes_one_layer_hessian_path(sizes):
        one_layer_hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work)
    else:
        r_operator_hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work)


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


# --- dense Hessian of a network with one hidden layer: matrix products over items ---
# Per item (x~ = (x, 1), a~ = (a, 1), s = 1 - a^2, p = softmax(y), g = dE/dy = (p - onehot)/N,
# u = W2^T g = dE/da, q = W2^T p, w_c = row c of W2, D_ck = (w_ck - q_k) s_k), summed over items:
#   d2E / dW2[c,j] dW2[c',k] = A_cc' a~_j a~_k                  A = (diag p - p p^T) / N
#   d2E / dW1[j,i] dW1[k,l]  = B_jk x~_i x~_l                   B = D^T diag(p) D / N + diag(-2 u a s)
#   d2E / dW2[c,j] dW1[k,i]  = (p_c D_ck / N) a~_j x~_i + [j = k] g_c s_k x~_i
# (j = H or i = I: the biases, where a~ or x~ is 1). The Gauss-Newton part of B uses
# W2^T A W2 = sum_c p_c (w_c - q)(w_c - q)^T (as sum_c p_c = 1): a sum of non-negative terms, so
# confident items (p one-hot) give 0, not a difference of equal products. diag(-2 u a s) is the
# tanh curvature (tanh'' = -2 a s), the [j = k] term the one of y = W2 tanh(W1 x~) in (W2, W1).
# Every block is (pairs x items) @ (items x pairs) through BLAS: the column-by-column R-operator
# redoes a forward/backward pass per weight. The W1-W1 and W2-W2 blocks are symmetric in both
# pairs (j, k) and (i, l), so only j <= k, i <= l are formed: a quarter of the products, and every
# entry of the Hessian and of its transpose comes from one number (symmetric exactly). Items run in
# chunks so that the pair arrays stay small (a [64,10,10] network has 2145 input pairs).
# Time against the R-operator columns (one core, 1000 items, same run, bench/bench_mlp.py):
# [2,10,4] 0.48 against 4.2 ms (numpy's analytic Hessian: 15 ms), [64,10,10] 18 against 178 ms.
# Of the 0.48 ms roughly a third builds the factors, half goes to the four products (narrow: 55 x 6,
# 40 x 33, 4 x 30, 10 x 66 over 1000 items, far from the peak of BLAS), the rest the forward pass.
ONE_LAYER_HESSIAN_MAX_INPUTS = 128


@njit(cache=True, inline="always")
def _carve(buf, at, n_rows, m):
    """The (n_rows, m) view of buf starting at ``at``, and the offset after it."""
    return buf[at : at + n_rows * m].reshape((n_rows, m)), at + n_rows * m


@njit(cache=True)
def _pair_table(m):
    """table[j, k] = table[k, j] = index of the pair j <= k among the m (m + 1) / 2, row by row."""
    table = np.empty((m, m), dtype=np.int64)
    at = 0
    for j in range(m):
        for k in range(j, m):
            table[j, k] = at
            table[k, j] = at
            at += 1
    return table


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def _pair_products(rows, table, out):
    """out[table[j, k]] = rows[j] * rows[k] for j <= k."""
    m, n_items = rows.shape
    for j in range(m):
        rj = rows[j]
        for k in range(j, m):
            rk = rows[k]
            o = out[table[j, k]]
            for n in range(n_items):
                o[n] = rj[n] * rk[n]


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy", inline="always")
def _add_row_products(row, n_terms, a0, b0, a1, b1, a2, b2, a3, b3):
    """row += a0 b0 + ... (element-wise) for four, two or one pairs of rows."""
    n_items = row.size
    if n_terms == 4:
        for n in range(n_items):
            row[n] += a0[n] * b0[n] + a1[n] * b1[n] + a2[n] * b2[n] + a3[n] * b3[n]
    elif n_terms == 2:
        for n in range(n_items):
            row[n] += a0[n] * b0[n] + a1[n] * b1[n]
    else:
        for n in range(n_items):
            row[n] += a0[n] * b0[n]


@njit(cache=True, fastmath=_ELEMENTWISE, error_model="numpy")
def _one_layer_hessian_factors(w2, xe, ae, p, g, inv_n, hidden_pairs, out_pairs, input_pairs,
                               act_pairs, slope, q, u, dmat, b_rows, c_rows, sx_rows, a_rows, x2, ax, a2):
    """The item-by-pair factors of one chunk of items (see the block comment above): ``xe`` (I+1, m)
    and ``ae`` (H+1, m) hold x~ and a~, ``p``, ``g`` the chunk's p, g; filled: b_rows (B pairs),
    c_rows (p_c D_ck / N, row c H + k), sx_rows (s_k x~_i, row k (I+1) + i), a_rows (A pairs), x2
    (x~ pairs), ax (a~_j x~_i, row j (I+1) + i), a2 (a~ pairs); slope, q, u, dmat scratch. u = W2^T g
    is formed here with q (cheaper than the backward pass of the tape, which is not run)."""
    n_out, n_hidden = w2.shape
    n_ext = xe.shape[0]
    m = xe.shape[1]
    for k in range(n_hidden):
        a = ae[k]
        s = slope[k]
        qk = q[k]
        uk = u[k]
        for n in range(m):
            s[n] = 1.0 - a[n] * a[n]
            qk[n] = 0.0
            uk[n] = 0.0
        for c in range(n_out):
            w = w2[c, k]
            pc = p[c]
            gc = g[c]
            for n in range(m):
                qk[n] += pc[n] * w
                uk[n] += gc[n] * w
        for c in range(n_out):
            w = w2[c, k]
            pc = p[c]
            dk = dmat[c * n_hidden + k]
            ck = c_rows[c * n_hidden + k]
            for n in range(m):
                dn = (w - qk[n]) * s[n]
                dk[n] = dn
                ck[n] = pc[n] * dn * inv_n
    for j in range(n_hidden):
        for k in range(j, n_hidden):
            row = b_rows[hidden_pairs[j, k]]
            if j == k:  # the tanh curvature -2 u a s
                uj = u[j]
                aj = ae[j]
                sj = slope[j]
                for n in range(m):
                    row[n] = -2.0 * uj[n] * aj[n] * sj[n]
            else:
                for n in range(m):
                    row[n] = 0.0
            c = 0
            while c < n_out:  # up to four classes per pass over the row
                n_terms = 4 if n_out - c >= 4 else (2 if n_out - c >= 2 else 1)
                c0 = c + 1 if n_terms > 1 else c
                c2 = c + 2 if n_terms > 2 else c
                c3 = c + 3 if n_terms > 2 else c
                _add_row_products(row, n_terms, c_rows[c * n_hidden + j], dmat[c * n_hidden + k],
                                  c_rows[c0 * n_hidden + j], dmat[c0 * n_hidden + k],
                                  c_rows[c2 * n_hidden + j], dmat[c2 * n_hidden + k],
                                  c_rows[c3 * n_hidden + j], dmat[c3 * n_hidden + k])
                c += n_terms
    for k in range(n_hidden):
        s = slope[k]
        for i in range(n_ext):
            xi = xe[i]
            o = sx_rows[k * n_ext + i]
            for n in range(m):
                o[n] = s[n] * xi[n]
    for c in range(n_out):
        pc = p[c]
        for d in range(c, n_out):
            row = a_rows[out_pairs[c, d]]
            if c == d:  # p_c (1 - p_c) as p_c * (the other classes): no cancellation for p_c near 1
                for n in range(m):
                    row[n] = 0.0
                for e in range(n_out):
                    if e != c:
                        pe = p[e]
                        for n in range(m):
                            row[n] += pe[n]
                for n in range(m):
                    row[n] *= pc[n] * inv_n
            else:
                pd = p[d]
                for n in range(m):
                    row[n] = -pc[n] * pd[n] * inv_n
    _pair_products(xe, input_pairs, x2)
    _pair_products(ae, act_pairs, a2)
    for j in range(n_hidden + 1):
        aj = ae[j]
        for i in range(n_ext):
            xi = xe[i]
            o = ax[j * n_ext + i]
            for n in range(m):
                o[n] = aj[n] * xi[n]


@njit(cache=True)
def _gemm_into(a, b, out, scratch, accumulate):
    """out = a @ b, or out += a @ b with ``accumulate`` (scratch: out's shape)."""
    if not accumulate:
        gemm(a, b, out)
        return
    gemm(a, b, scratch)
    out += scratch


@njit(cache=True)
def takes_one_layer_hessian_path(sizes) -> bool:
    """True when :func:`hessian_kernel` runs :func:`one_layer_hessian_kernel`: one hidden layer and
    at most ONE_LAYER_HESSIAN_MAX_INPUTS inputs. Beyond that the input pairs (I^2 / 2 rows per item)
    outgrow the chunk buffers; such Hessians (thousands of weights) take the R-operator."""
    return sizes.size == 3 and sizes[0] <= ONE_LAYER_HESSIAN_MAX_INPUTS


@njit(cache=True)
def hessian_chunk_items(sizes, n_items):
    """Items per chunk of :func:`one_layer_hessian_kernel`: the factor arrays within ~1 MB, but at
    least 64 items (each chunk after the first adds its products into the blocks: one pass over
    them per chunk)."""
    n_in = sizes[0]
    n_hidden = sizes[1]
    n_out = sizes[2]
    rows = (n_in + 1) * (n_in + 2) // 2 + n_hidden * (n_hidden + 1) // 2 + (n_hidden + 1) * (n_hidden + 2) // 2
    rows += n_out * (n_out + 1) // 2 + 2 * n_out * n_hidden + (2 * n_hidden + 1) * (n_in + 1)
    rows += 3 * n_out + 4 * n_hidden + n_in + 2
    return min(n_items, max(64, 131072 // rows))


@njit(cache=True)
def one_layer_hessian_blocks(w_full, sizes, xt, acts, probs, out_delta, chunk):
    """The Hessian blocks of the data term of a one-hidden-layer network (block comment above):
    (W1 W1: B pairs x x~ pairs, W2 W1: (c, k) x (j, i) for p_c D_ck / N, the curvature g_c s_k x~_i
    as (c) x (k, i), W2 W2: A pairs x a~ pairs), summed over items in chunks of ``chunk``."""
    n_in = sizes[0]
    n_hidden = sizes[1]
    n_out = sizes[2]
    n_items = xt.shape[1]
    n_ext = n_in + 1
    w2, _ = layer_weights(w_full, sizes, 2)
    hidden_pairs = _pair_table(n_hidden)
    out_pairs = _pair_table(n_out)
    input_pairs = _pair_table(n_ext)
    act_pairs = _pair_table(n_hidden + 1)
    n_hp = n_hidden * (n_hidden + 1) // 2
    n_op = n_out * (n_out + 1) // 2
    n_xp = n_ext * (n_ext + 1) // 2
    n_ap = (n_hidden + 1) * (n_hidden + 2) // 2
    n_oh = n_out * n_hidden
    r11 = np.empty((n_hp, n_xp))
    r21 = np.empty((n_oh, (n_hidden + 1) * n_ext))
    rk = np.empty((n_out, n_hidden * n_ext))
    r22 = np.empty((n_op, n_ap))
    spare = np.empty(r11.size + r21.size + rk.size + r22.size)
    # one flat buffer per factor, reshaped to (rows, m) per chunk (contiguous for BLAS)
    m_max = min(chunk, n_items)
    buf = np.empty(m_max * (n_ext + (n_hidden + 1) + 3 * n_out + 3 * n_hidden + 2 * n_oh + n_hp
                            + n_hidden * n_ext + n_op + n_xp + (n_hidden + 1) * n_ext + n_ap))
    inv_n = 1.0 / n_items
    for start in range(0, n_items, m_max):
        stop = min(start + m_max, n_items)
        m = stop - start
        at = 0
        xe, at = _carve(buf, at, n_ext, m)
        ae, at = _carve(buf, at, n_hidden + 1, m)
        p, at = _carve(buf, at, n_out, m)
        g, at = _carve(buf, at, n_out, m)
        u, at = _carve(buf, at, n_hidden, m)
        slope, at = _carve(buf, at, n_hidden, m)
        q, at = _carve(buf, at, n_hidden, m)
        dmat, at = _carve(buf, at, n_oh, m)
        c_rows, at = _carve(buf, at, n_oh, m)
        b_rows, at = _carve(buf, at, n_hp, m)
        sx_rows, at = _carve(buf, at, n_hidden * n_ext, m)
        a_rows, at = _carve(buf, at, n_op, m)
        x2, at = _carve(buf, at, n_xp, m)
        ax, at = _carve(buf, at, (n_hidden + 1) * n_ext, m)
        a2, at = _carve(buf, at, n_ap, m)
        # the tape's rows sliced to the chunk are strided 2-d views: contiguous copies vectorise
        xe[0:n_in, :] = xt[:, start:stop]
        xe[n_in, :] = 1.0
        ae[0:n_hidden, :] = acts[:, start:stop]
        ae[n_hidden, :] = 1.0
        p[:, :] = probs[:, start:stop]
        g[:, :] = out_delta[:, start:stop]
        _one_layer_hessian_factors(w2, xe, ae, p, g, inv_n, hidden_pairs, out_pairs, input_pairs,
                                   act_pairs, slope, q, u, dmat, b_rows, c_rows, sx_rows, a_rows, x2, ax, a2)
        more = start > 0
        at = 0
        _gemm_into(b_rows, x2.T, r11, spare[at : at + r11.size].reshape(r11.shape), more)
        at += r11.size
        _gemm_into(c_rows, ax.T, r21, spare[at : at + r21.size].reshape(r21.shape), more)
        at += r21.size
        _gemm_into(g, sx_rows.T, rk, spare[at : at + rk.size].reshape(rk.shape), more)
        at += rk.size
        _gemm_into(a_rows, a2.T, r22, spare[at : at + r22.size].reshape(r22.shape), more)
    return r11, r21, rk, r22


@njit(cache=True)
def one_layer_hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """:func:`hessian_kernel` of a network with one hidden layer, from the blocks of
    :func:`one_layer_hessian_blocks`; the arguments of :func:`kernel` (``blas_first`` only steers
    the forward/backward pass)."""
    n_items = labels.size
    w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch = tape_views(work, sizes, n_items, n_full)
    _scatter_into(x, var_index, w_full)
    forward(w_full, sizes, xt, blas_first, False, acts, logits)
    softmax_cross_entropy(logits, labels, probs, out_delta, 1.0 / n_items, True, scratch)
    n_in = sizes[0]
    n_hidden = sizes[1]
    n_out = sizes[2]
    n_ext = n_in + 1
    chunk = hessian_chunk_items(sizes, n_items)
    r11, r21, rk, r22 = one_layer_hessian_blocks(w_full, sizes, xt, acts, probs, out_delta, chunk)
    hidden_pairs = _pair_table(n_hidden)
    out_pairs = _pair_table(n_out)
    input_pairs = _pair_table(n_ext)
    act_pairs = _pair_table(n_hidden + 1)
    # full-layout position -> variable position (-1: frozen by the mask)
    pos = np.full(n_full, -1, dtype=np.int64)
    for i in range(x.size):
        pos[var_index[i]] = i
    # positions of W1[j, i] (i = n_in: b1[j]) and W2[c, j] (j = n_hidden: b2[c]) in the variables
    pos1 = np.empty((n_hidden, n_ext), dtype=np.int64)
    for j in range(n_hidden):
        for i in range(n_in):
            pos1[j, i] = pos[j * n_in + i]
        pos1[j, n_in] = pos[n_hidden * n_in + j]
    off2 = layer_offset(sizes, 2)
    pos2 = np.empty((n_out, n_hidden + 1), dtype=np.int64)
    for c in range(n_out):
        for j in range(n_hidden):
            pos2[c, j] = pos[off2 + c * n_hidden + j]
        pos2[c, n_hidden] = pos[off2 + n_out * n_hidden + c]
    for j in range(n_hidden):
        for i in range(n_ext):
            row = pos1[j, i]
            if row < 0:
                continue
            for k in range(n_hidden):
                pair = hidden_pairs[j, k]
                for l in range(n_ext):
                    col = pos1[k, l]
                    if col >= 0:
                        hess_out[row, col] = r11[pair, input_pairs[i, l]]
    for c in range(n_out):
        for j in range(n_hidden + 1):
            row = pos2[c, j]
            if row < 0:
                continue
            for d in range(n_out):
                pair = out_pairs[c, d]
                for k in range(n_hidden + 1):
                    col = pos2[d, k]
                    if col >= 0:
                        hess_out[row, col] = r22[pair, act_pairs[j, k]]
            for k in range(n_hidden):
                for i in range(n_ext):
                    col = pos1[k, i]
                    if col < 0:
                        continue
                    value = r21[c * n_hidden + k, j * n_ext + i]
                    if j == k:
                        value += rk[c, k * n_ext + i]
                    hess_out[row, col] = value
                    hess_out[col, row] = value
    for i in range(x.size):
        hess_out[i, i] += 2.0 * lam
