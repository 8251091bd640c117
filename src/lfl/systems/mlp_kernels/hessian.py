"""The dense exact Hessian: :func:`hessian_kernel` takes the closed form of a network with one hidden
layer (matrix products over items, below) and the R-operator columns otherwise.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lfl import kernel_cache
from lfl.systems.mlp_kernels.layers import forward, gemm, scatter_into, softmax_cross_entropy
from lfl.systems.mlp_kernels.r_operator import r_operator_hessian_kernel
from lfl.systems.mlp_kernels.transcendentals import ELEMENTWISE
from lfl.systems.mlp_kernels.work import carve, layer_offset, layer_weights, tape_views

kernel_cache.install()


@njit(cache=True)
def hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work):
    """Dense exact Hessian (n_dof, n_dof) into ``hess_out``, symmetric to the last bit; the
    arguments of :func:`kernel`. One hidden layer: :func:`one_layer_hessian_kernel` (matrix
    products over items); deeper networks: :func:`r_operator_hessian_kernel`."""
    if takes_one_layer_hessian_path(sizes):
        one_layer_hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work)
    else:
        r_operator_hessian_kernel(x, hess_out, var_index, n_full, sizes, xt, labels, lam, blas_first, work)


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


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
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


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy", inline="always")
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


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
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
        xe, at = carve(buf, at, n_ext, m)
        ae, at = carve(buf, at, n_hidden + 1, m)
        p, at = carve(buf, at, n_out, m)
        g, at = carve(buf, at, n_out, m)
        u, at = carve(buf, at, n_hidden, m)
        slope, at = carve(buf, at, n_hidden, m)
        q, at = carve(buf, at, n_hidden, m)
        dmat, at = carve(buf, at, n_oh, m)
        c_rows, at = carve(buf, at, n_oh, m)
        b_rows, at = carve(buf, at, n_hp, m)
        sx_rows, at = carve(buf, at, n_hidden * n_ext, m)
        a_rows, at = carve(buf, at, n_op, m)
        x2, at = carve(buf, at, n_xp, m)
        ax, at = carve(buf, at, (n_hidden + 1) * n_ext, m)
        a2, at = carve(buf, at, n_ap, m)
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
    scatter_into(x, var_index, w_full)
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
