"""Benchmark of the MLP loss kernels (lfl.systems.mlp) against plain vectorised numpy, same run.

Prints, per network: energy+gradient evaluations per second (compiled kernel and numpy), their
ratio, the agreement of the two, the batched call, then the dense Hessian of [2,10,4,1000] and
[64,10,10,1000] (``system.hessian``'s closed form against the R-operator columns and, for the
small one, an analytic numpy Hessian), and where the time of the small kernel goes. Single-threaded (one core: what a Snakemake job with threads: 1 gets).

Timing: ``--repeats`` rounds, each timing every contender on a batch of calls in turn (so that a
busy machine slows all of them alike); the figure is the best round, the median in brackets.

    python bench/bench_mlp.py [--repeats 15] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from lfl.systems import mlp_kernels as kernels  # noqa: E402
from lfl.systems.mlp import MLPSystem  # noqa: E402
from lfl.systems.network import parse_network_spec  # noqa: E402


# ------------------------------------------------------------------ numpy reference implementations
def numpy_energy_gradient(full, layers_shape, inputs_t, inputs, labels, lam):
    """Straightforward vectorised numpy: items as columns, one matrix product per layer."""
    n_items = labels.size
    weights, biases, offset = [], [], 0
    for n_rows, n_prev in layers_shape:
        weights.append(full[offset : offset + n_rows * n_prev].reshape(n_rows, n_prev))
        offset += n_rows * n_prev
        biases.append(full[offset : offset + n_rows])
        offset += n_rows
    acts = [inputs_t]
    for w, b in zip(weights[:-1], biases[:-1]):
        acts.append(np.tanh(w @ acts[-1] + b[:, None]))
    logits = weights[-1] @ acts[-1] + biases[-1][:, None]
    shifted = logits - logits.max(axis=0)
    exps = np.exp(shifted)
    totals = exps.sum(axis=0)
    columns = np.arange(n_items)
    energy = np.mean(np.log(totals) - shifted[labels, columns]) + lam * full @ full
    delta = exps / totals
    delta[labels, columns] -= 1.0
    delta /= n_items
    grads = []
    for layer in range(len(weights) - 1, -1, -1):
        prev = acts[layer]
        grads.append((delta.sum(axis=1), delta @ (inputs if layer == 0 else prev.T)))
        if layer:
            delta = (weights[layer].T @ delta) * (1.0 - prev * prev)
    gradient = np.concatenate([np.concatenate([gw.ravel(), gb]) for gb, gw in reversed(grads)])
    return energy, gradient + 2.0 * lam * full


def numpy_hessian_one_hidden_layer(full, n_in, n_hidden, n_out, inputs, labels, lam):
    """Exact Hessian of a one-hidden-layer network: Gauss-Newton part from per-item Jacobians plus
    the curvature of the outputs, all vectorised over items."""
    n_items = labels.size
    o = 0
    w1 = full[o : o + n_hidden * n_in].reshape(n_hidden, n_in)
    o += n_hidden * n_in
    b1 = full[o : o + n_hidden]
    o += n_hidden
    w2 = full[o : o + n_out * n_hidden].reshape(n_out, n_hidden)
    o += n_out * n_hidden
    b2 = full[o : o + n_out]
    h = np.tanh(inputs @ w1.T + b1)  # (N, H)
    slope = 1.0 - h * h
    y = h @ w2.T + b2
    p = np.exp(y - y.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g = p.copy()
    g[np.arange(n_items), labels] -= 1.0  # dE/dy per item (times N)
    n_params = full.size
    i_w1, i_b1 = 0, n_hidden * n_in
    i_w2 = i_b1 + n_hidden
    i_b2 = i_w2 + n_out * n_hidden
    jac = np.zeros((n_items, n_out, n_params))
    ws = w2[None, :, :] * slope[:, None, :]  # (N, O, H): dy_c/dz_j
    jac[:, :, i_w1:i_b1] = (ws[:, :, :, None] * inputs[:, None, None, :]).reshape(n_items, n_out, -1)
    jac[:, :, i_b1:i_w2] = ws
    for c in range(n_out):
        jac[:, c, i_w2 + c * n_hidden : i_w2 + (c + 1) * n_hidden] = h
        jac[:, c, i_b2 + c] = 1.0
    jp = np.einsum("no,nop->np", p, jac)
    hess = (np.einsum("no,nop,noq->pq", p, jac, jac, optimize=True) - jp.T @ jp) / n_items
    # curvature: sum_c g_c d2 y_c
    for c in range(n_out):
        gs = g[:, c : c + 1] * slope  # (N, H)
        cross_w = np.einsum("nj,ni->ji", gs, inputs) / n_items  # d2/dW2[c,j] dW1[j,i]
        cross_b = gs.sum(axis=0) / n_items
        for j in range(n_hidden):
            row = i_w2 + c * n_hidden + j
            cols = np.arange(i_w1 + j * n_in, i_w1 + (j + 1) * n_in)
            hess[row, cols] += cross_w[j]
            hess[cols, row] += cross_w[j]
            hess[row, i_b1 + j] += cross_b[j]
            hess[i_b1 + j, row] += cross_b[j]
    r = (g @ w2) * (-2.0 * h * slope) / n_items  # (N, H)
    ext = np.concatenate([inputs, np.ones((n_items, 1))], axis=1)
    for j in range(n_hidden):
        block = np.einsum("n,ni,nk->ik", r[:, j], ext, ext)
        idx = np.concatenate([np.arange(i_w1 + j * n_in, i_w1 + (j + 1) * n_in), [i_b1 + j]])
        hess[np.ix_(idx, idx)] += block
    return hess + 2.0 * lam * np.eye(n_params)


# ------------------------------------------------------------------------------------------- timing
def interleaved(contenders: dict, repeats: int, target_s: float = 0.05) -> dict:
    """Per-call seconds (best round, median round) of every contender, timed in turn each round."""
    calls = {}
    for name, fn in contenders.items():
        fn()
        start = time.perf_counter()
        fn()
        single = max(time.perf_counter() - start, 1e-7)
        calls[name] = max(1, int(target_s / single))
    rounds = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            n = calls[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            rounds[name].append((time.perf_counter() - start) / n)
    return {name: (min(times), float(np.median(times))) for name, times in rounds.items()}


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} us" if seconds < 1e-2 else f"{seconds * 1e3:9.2f} ms"


def data_for(n_in: int, n_out: int, n_items: int, rng: np.random.Generator):
    if n_in == 64:
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = rng.permutation(len(digits.target))[:n_items]
        return digits.data[order] / 16.0, digits.target[order], "sklearn digits"
    if n_in == 2:
        return rng.uniform(0.8, 3.5, size=(n_items, 2)), rng.integers(0, n_out, n_items), "random (r12, r13)-like"
    return rng.uniform(0.0, 1.0, size=(n_items, n_in)), rng.integers(0, n_out, n_items), "random uniform [0,1]"


def bench_energy_gradient(spec_list, repeats: int, rng) -> None:
    spec = parse_network_spec(spec_list)
    data, labels, source = data_for(spec.inputs, spec.outputs, spec.n_data, rng)
    system = MLPSystem(spec, data, labels)
    x = system.random_weights(rng, 0.5)
    shapes = [(spec.layer_sizes[l], spec.layer_sizes[l - 1]) for l in range(1, len(spec.layer_sizes))]
    inputs_t = np.ascontiguousarray(data.T)
    grad = np.empty(system.n_dof)
    args = system.kernel_args

    def compiled():
        system.kernel(x, grad, *args)

    def reference():
        numpy_energy_gradient(x, shapes, inputs_t, data, labels, spec.lam)

    e_ref, g_ref = numpy_energy_gradient(x, shapes, inputs_t, data, labels, spec.lam)
    e_new, g_new = system.energy_gradient(x)
    v = rng.normal(size=system.n_dof)
    times = interleaved(
        {
            "compiled": compiled,
            "numpy": reference,
            "python api": lambda: system.energy_gradient(x),
            "hv": lambda: system.hessian_vector(x, v),
        },
        repeats,
    )
    best_c, med_c = times["compiled"]
    best_n, med_n = times["numpy"]
    print(f"{spec.label():<24} {system.n_dof:5d} weights, {source}, BLAS first layer: {system.blas_first}")
    print(f"  compiled kernel   {fmt(best_c)} ({fmt(med_c).strip()})  {1 / best_c:10.0f} evaluations/s")
    print(f"  system.energy_gradient (Python call) {fmt(times['python api'][0]).strip()}, "
          f"Hessian-vector product {fmt(times['hv'][0]).strip()}")
    print(f"  numpy reference   {fmt(best_n)} ({fmt(med_n).strip()})  {1 / best_n:10.0f} evaluations/s")
    print(f"  speed-up          {best_n / best_c:9.2f}x  (medians {med_n / med_c:.2f}x)")
    print(f"  agreement         |dE| = {abs(e_new - e_ref):.1e}, max |dg| / max |g| = {np.abs(g_new - g_ref).max() / np.abs(g_ref).max():.1e}")
    return system, x


def bench_hessian(system: MLPSystem, x: np.ndarray, repeats: int, with_numpy: bool = True) -> None:
    """The dense Hessian: closed form by matrix products (what ``system.hessian`` runs for one hidden
    layer), the R-operator columns (the reference, what deeper networks run) and, with ``with_numpy``,
    the analytic numpy Hessian; timed in the same rounds."""
    spec = system.spec
    args = system.kernel_args
    hess = system.hessian(x)
    columns = np.empty_like(hess)
    kernels.r_operator_hessian_kernel(x, columns, *args)
    closed_form = kernels.takes_one_layer_hessian_path(args[2])

    def numpy_reference():
        return numpy_hessian_one_hidden_layer(
            system.full_weights(x), spec.inputs, spec.hidden[0], spec.outputs, system.inputs, system.labels, spec.lam
        )

    v = np.random.default_rng(5).normal(size=system.n_dof)
    contenders = {
        "compiled": lambda: system.hessian(x),
        "columns": lambda: kernels.r_operator_hessian_kernel(x, columns, *args),
        "hv": lambda: system.hessian_vector(x, v),
    }
    if with_numpy:
        contenders["numpy"] = numpy_reference
    times = interleaved(contenders, max(3, repeats // 3), target_s=0.1)
    best = {name: value[0] for name, value in times.items()}
    print(f"dense Hessian {spec.label()} ({system.n_dof} x {system.n_dof}), exact every way")
    print(f"  system.hessian ({'closed form, matrix products' if closed_form else 'R-operator columns'}) "
          f"{fmt(best['compiled'])}   R-operator columns {fmt(best['columns'])}"
          f"   speed-up {best['columns'] / best['compiled']:.2f}x")
    scale = np.abs(columns).max()
    agreement = f"  agreement with the columns max |dH| / max |H| = {np.abs(hess - columns).max() / scale:.1e}"
    if with_numpy:
        reference = numpy_reference()
        print(f"  numpy analytic {fmt(best['numpy'])}   speed-up {best['numpy'] / best['compiled']:.2f}x")
        agreement += f", with numpy {np.abs(hess - reference).max() / np.abs(reference).max():.1e}"
    print(agreement)
    print(f"  one Hessian-vector product {fmt(best['hv']).strip()}")


def bench_batch(system: MLPSystem, repeats: int, rng, n_images: int = 16) -> None:
    xs = np.array([system.random_weights(rng, 0.5) for _ in range(n_images)])
    times = interleaved(
        {
            "batch": lambda: system.energy_gradient_batch(xs),
            "loop": lambda: [system.energy_gradient(x) for x in xs],
        },
        max(3, repeats // 3),
    )
    print(f"  batch of {n_images}: {fmt(times['batch'][0] / n_images).strip()} per vector "
          f"(one by one {fmt(times['loop'][0] / n_images).strip()})")


PHASES = ("kernel", "tanh layer", "output layer", "softmax", "backward", "general kernel",
          "general forward", "general forward + softmax", "general backward")


@njit(cache=True)
def _phase_loop(reps, phase, x, gradient, var_index, n_full, sizes, xt, labels, lam, work):
    """``reps`` calls of one phase (index into PHASES) inside compiled code: no call overhead. The
    one-layer kernel's phases run over its blocks as the kernel does (on the rows of its last block,
    left by a kernel call: the same work)."""
    n_items = labels.size
    w_full, grad_full, acts, logits, probs, out_delta, upstream, delta, scratch = kernels.tape_views(work, sizes, n_items, n_full)
    w1, b1 = kernels.layer_weights(w_full, sizes, 1)
    w2, b2 = kernels.layer_weights(w_full, sizes, 2)
    gw1, gb1 = kernels.layer_weights(grad_full, sizes, 1)
    gw2, gb2 = kernels.layer_weights(grad_full, sizes, 2)
    xb, block_acts, block_logits, block_delta, label_row = kernels.block_views(work, sizes, n_items, n_full)
    stride = label_row.size
    four = sizes[2] > 3
    acc = 0.0
    for _ in range(reps):
        if phase == 0:
            acc += kernels.kernel(x, gradient, var_index, n_full, sizes, xt, labels, lam, False, work)
        elif phase <= 4:
            for start in range(0, n_items, stride):
                m = min(stride, n_items - start)
                padded = (m + kernels.BLOCK_PAD - 1) // kernels.BLOCK_PAD * kernels.BLOCK_PAD
                if phase == 1:
                    kernels.hidden_tanh_rows(w1, b1, xb, block_acts, padded)
                elif phase == 2:
                    kernels.output_rows(w2, b2, block_acts, block_logits, padded)
                elif phase == 3:
                    acc += kernels.softmax_delta(block_logits[0], block_logits[1], block_logits[2], block_logits[3],
                                                 label_row, 1.0 / n_items, block_delta[0], block_delta[1],
                                                 block_delta[2], block_delta[3], four, m, padded)
                else:
                    kernels.one_layer_backward(w2, xb, block_acts, block_delta, gw1, gb1, gw2, gb2, padded)
        elif phase == 5:
            acc += kernels.general_kernel(x, gradient, var_index, n_full, sizes, xt, labels, lam, False, work)
        elif phase == 6:
            kernels.forward(w_full, sizes, xt, False, False, acts, logits)
        elif phase == 7:
            kernels.forward(w_full, sizes, xt, False, False, acts, logits)
            acc += kernels.softmax_cross_entropy(logits, labels, probs, out_delta, 1.0 / n_items, True, scratch)
        else:
            kernels.backward(w_full, sizes, xt, False, False, acts, out_delta, upstream, delta, grad_full)
    return acc


def breakdown(system: MLPSystem, x: np.ndarray, repeats: int) -> None:
    """Where the time of one energy+gradient goes: the phases of the one-hidden-layer kernel (what
    ``kernel`` runs for this network; each summed over the kernel's blocks of items) and of the
    general path (item-loop first layer, BLAS products; what other shapes run), each timed in a
    compiled loop; and the transcendentals against numpy."""
    var_index, n_full, sizes, xt, labels, lam, blas_first, work = system.kernel_args
    assert kernels.takes_one_layer_path(sizes, blas_first)
    n_items = labels.size
    gradient = np.empty(system.n_dof)
    system.kernel(x, gradient, *system.kernel_args)

    def phase(index: int):
        calls = 20
        return lambda: _phase_loop(calls, index, x, gradient, var_index, n_full, sizes, xt, labels, lam, work) / calls

    block = np.random.default_rng(0).normal(size=(int(sizes[1]), n_items))
    scratch_block = block.copy()
    exps_in = -np.abs(np.random.default_rng(1).normal(size=int(sizes[-1]) * n_items))
    exps_out = np.empty_like(exps_in)
    contenders = {name: phase(i) for i, name in enumerate(PHASES)}
    contenders.update({
        "tanh": lambda: kernels.tanh_inplace(scratch_block),
        "numpy tanh": lambda: np.tanh(block, out=scratch_block),
        "exp": lambda: kernels.exp_array(exps_in, exps_out),
        "numpy exp": lambda: np.exp(exps_in, out=exps_out),
    })
    times = interleaved(contenders, repeats)
    t = {name: value[0] for name, value in times.items()}
    for name in PHASES:
        t[name] /= 20
    n_tanh = block.size
    phases = t["tanh layer"] + t["output layer"] + t["softmax"] + t["backward"]
    n_blocks = -(-n_items // kernels.block_items(n_items))
    print(f"where the time goes, {system.spec.label()} (phases timed in compiled loops):")
    print(f"  kernel (one-hidden-layer path, {n_blocks} blocks of <= {kernels.block_items(n_items)} items) {fmt(t['kernel']).strip()}:"
          f" tanh layer {fmt(t['tanh layer']).strip()}, output layer {fmt(t['output layer']).strip()},"
          f" softmax {fmt(t['softmax']).strip()}, backward {fmt(t['backward']).strip()},"
          f" rest (loading blocks, weights, L2) {fmt(t['kernel'] - phases).strip()}")
    print(f"  general path (what other shapes run) {fmt(t['general kernel']).strip()}: forward {fmt(t['general forward']).strip()},"
          f" softmax {fmt(t['general forward + softmax'] - t['general forward']).strip()},"
          f" backward {fmt(t['general backward']).strip()}; speed-up of the one-layer path"
          f" {t['general kernel'] / t['kernel']:.2f}x")
    print(f"  transcendentals (the module's 256-bit helpers; the kernel's blocks run them in 512 bits): {n_tanh} tanh"
          f" {fmt(t['tanh']).strip()} (numpy's SIMD tanh {fmt(t['numpy tanh']).strip()}), {exps_in.size} exp"
          f" {fmt(t['exp']).strip()} (numpy {fmt(t['numpy exp']).strip()})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="skip the 784-input network")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(2024)
    print(f"bench_mlp: python {sys.version.split()[0]}, numpy {np.__version__}, 1 thread, best of {args.repeats} rounds (median)")
    small, x_small = bench_energy_gradient([2, 10, 4, 1000, 1e-4], args.repeats, rng)
    bench_batch(small, args.repeats, rng)
    digits, x_digits = bench_energy_gradient([64, 10, 10, 1000, 0.1], args.repeats, rng)
    if not args.quick:
        mnist, _ = bench_energy_gradient([784, 10, 10, 1000, 0.1], max(3, args.repeats // 3), rng)
        bench_batch(mnist, max(3, args.repeats // 3), rng)
    bench_hessian(small, x_small, args.repeats)
    bench_hessian(digits, x_digits, 3, with_numpy=False)  # numpy's per-item Jacobians: 60 MB, seconds
    breakdown(small, x_small, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
