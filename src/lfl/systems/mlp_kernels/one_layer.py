"""The fast path of one hidden layer with at most four inputs and three or four classes (the
landscapes' [2,10,4]): blocks of items through all four phases, register-blocked loops in 512-bit
vectors, no BLAS. :func:`lfl.systems.mlp_kernels.energy.one_layer_kernel` drives the blocks.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from lfl import kernel_cache
from lfl.systems.mlp_kernels.transcendentals import ELEMENTWISE, SUMS, exp_nonpositive, tanh_value
from lfl.systems.mlp_kernels.work import one_layer_shape

kernel_cache.install()


# --- one hidden layer, up to four inputs and four classes: the landscapes' [2,10,4], without BLAS ---
# The items run in blocks through all four phases (affine + tanh, output layer, softmax, backward
# sums; the gradient sums carried over the blocks), on block rows of their own at the end of the work
# array (:func:`block_views`): 64-byte aligned, padded to whole vector iterations (BLOCK_PAD items),
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
def takes_one_layer_path(sizes, blas_first) -> bool:
    """True when :func:`kernel` runs :func:`one_layer_kernel` for this shape. (Beyond four inputs or
    classes, padding and extra passes made the general path faster: [2,10,2] by 5 %, [2,10,6] and
    [8,10,4] by 10 %, measured with the former unblocked 256-bit kernel.)"""
    return one_layer_shape(sizes) and not blas_first


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


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy", _nrt=False)
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
                row[n] = tanh_value(base + v0 * x0[n] + v1 * x1[n])
        else:
            v2 = w1[j, 2]
            v3 = w1[j, 3] if n_in > 3 else 0.0
            for n in range(padded):
                row[n] = tanh_value(base + v0 * x0[n] + v1 * x1[n] + v2 * x2[n] + v3 * x3[n])


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy", _nrt=False)
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


@njit(cache=True, fastmath=SUMS, error_model="numpy", _nrt=False)
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
        e0 = exp_nonpositive(a0 - top)
        e1 = exp_nonpositive(a1 - top)
        e2 = exp_nonpositive(a2 - top)
        e3 = exp_nonpositive(a3 - top)
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


@njit(cache=True, fastmath=SUMS, error_model="numpy", _nrt=False)
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
