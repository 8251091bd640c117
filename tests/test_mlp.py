"""The MLP loss as a system: energy against an independent numpy version, exact derivatives
against finite differences, Hessian-vector products, masks, batches, stability, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy.special import logsumexp

from lfl.errors import DataError, LflError
from lfl.systems import mlp_kernels
from lfl.systems.mlp import MLPSystem
from lfl.systems.network import parse_network_spec

NETWORKS = {
    "single": [2, 6, 4, 40, 1e-3],
    "deep": {"inputs": 2, "hidden": [4, 3], "outputs": 4, "lambda": 1e-3},
    "deeper": {"inputs": 3, "hidden": [3, 4, 3], "outputs": 3, "lambda": 1e-4},
    "masked": {"inputs": 2, "hidden": 10, "outputs": 4, "lambda": 1e-4, "connectivity_k": 1},
    "masked_deep": {"inputs": 3, "hidden": [5, 4], "outputs": 4, "lambda": 1e-3, "connectivity_k": 2},
    "wide_blas": {"inputs": 40, "hidden": [5], "outputs": 3, "lambda": 1e-2},
}


def make_system(name: str, n_items: int = 37, seed: int = 0, **kwargs) -> MLPSystem:
    spec = parse_network_spec(NETWORKS[name])
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(n_items, spec.inputs))
    labels = rng.integers(0, spec.outputs, n_items)
    return MLPSystem(spec, inputs, labels, **kwargs)


def reference_energy(sizes, lam, full, inputs, labels):
    """SCIENCE.md §3 written out directly, with offsets from the documented layout."""
    offset = 0
    activation = inputs
    for l in range(1, len(sizes)):
        n_rows, n_prev = sizes[l], sizes[l - 1]
        weights = full[offset : offset + n_rows * n_prev].reshape(n_rows, n_prev)
        offset += n_rows * n_prev
        bias = full[offset : offset + n_rows]
        offset += n_rows
        activation = activation @ weights.T + bias
        if l < len(sizes) - 1:
            activation = np.tanh(activation)
    assert offset == full.size
    logits = activation
    data = np.mean(logsumexp(logits, axis=1) - logits[np.arange(labels.size), labels])
    return data + lam * np.sum(full**2)


def central_gradient(function, x, step=1e-6):
    grad = np.empty_like(x)
    for i in range(x.size):
        probe = x.copy()
        probe[i] += step
        plus = function(probe)
        probe[i] -= 2 * step
        grad[i] = (plus - function(probe)) / (2 * step)
    return grad


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_energy_matches_independent_numpy(name):
    system = make_system(name)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = system.random_weights(rng, 1.5)
        full = system.full_weights(x)
        expected = reference_energy(system.spec.layer_sizes, system.lam, full, system.inputs, system.labels)
        assert system.energy(x) == pytest.approx(expected, rel=1e-13, abs=1e-13)
        assert system.energy_gradient(x)[0] == pytest.approx(expected, rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_gradient_matches_central_differences(name):
    system = make_system(name)
    x = system.random_weights(np.random.default_rng(2), 1.0)
    energy, grad = system.energy_gradient(x)
    assert relative_error(grad, central_gradient(system.energy, x)) < 1e-6


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_hessian_matches_differences_of_gradients(name):
    system = make_system(name)
    x = system.random_weights(np.random.default_rng(3), 1.0)
    hess = system.hessian(x)
    step = 1e-5
    columns = []
    for i in range(system.n_dof):
        probe = x.copy()
        probe[i] += step
        g_plus = system.energy_gradient(probe)[1]
        probe[i] -= 2 * step
        columns.append((g_plus - system.energy_gradient(probe)[1]) / (2 * step))
    assert relative_error(hess, np.array(columns)) < 1e-6
    assert np.array_equal(hess, hess.T)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_hessian_vector_product_equals_hessian_times_vector(name):
    system = make_system(name)
    rng = np.random.default_rng(4)
    x = system.random_weights(rng, 1.0)
    hess = system.hessian(x)
    for _ in range(3):
        v = rng.normal(size=system.n_dof)
        np.testing.assert_allclose(system.hessian_vector(x, v), hess @ v, rtol=1e-11, atol=1e-13)


def reference_gradient_one_hidden_layer(sizes, lam, full, inputs, labels):
    """Backpropagation of SCIENCE.md §3 for one tanh layer, written with numpy matrix products."""
    n_in, n_hidden, n_out = sizes
    o = 0
    w1 = full[o : o + n_hidden * n_in].reshape(n_hidden, n_in)
    o += n_hidden * n_in
    b1 = full[o : o + n_hidden]
    o += n_hidden
    w2 = full[o : o + n_out * n_hidden].reshape(n_out, n_hidden)
    o += n_out * n_hidden
    b2 = full[o:]
    hidden = np.tanh(inputs @ w1.T + b1)
    logits = hidden @ w2.T + b2
    probs = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    d_logits = (probs - np.eye(n_out)[labels]) / labels.size
    d_hidden = (d_logits @ w2) * (1.0 - hidden**2)
    gradient = np.concatenate([(d_hidden.T @ inputs).ravel(), d_hidden.sum(0), (d_logits.T @ hidden).ravel(), d_logits.sum(0)])
    return gradient + 2.0 * lam * full


@pytest.mark.parametrize(
    "sizes, n_items, one_layer_path",
    [((1, 3, 3), 37, True), ((2, 10, 4), 130, True), ((3, 5, 3), 41, True), ((4, 7, 4), 37, True),
     ((2, 2, 4), 19, True), ((2, 10, 2), 33, False), ((5, 6, 4), 50, False), ((2, 4, 8), 33, False)],
)
def test_one_hidden_layer_networks_match_numpy_on_either_path(sizes, n_items, one_layer_path):
    # the one-layer kernel pads missing inputs and classes with zero rows and takes hidden rows four
    # at a time: every branch against an independent numpy version; other shapes take the general path
    spec = parse_network_spec([*sizes, n_items, 1e-3])
    rng = np.random.default_rng(sum(sizes) + n_items)
    inputs = rng.normal(size=(n_items, sizes[0]))
    labels = rng.integers(0, sizes[2], n_items)
    system = MLPSystem(spec, inputs, labels)
    assert mlp_kernels.takes_one_layer_path(system.kernel_args[2], system.blas_first) == one_layer_path
    for scale in (0.3, 3.0):
        x = system.random_weights(rng, scale)
        full = system.full_weights(x)
        energy, grad = system.energy_gradient(x)
        assert energy == pytest.approx(reference_energy(sizes, spec.lam, full, inputs, labels), rel=1e-13)
        expected = reference_gradient_one_hidden_layer(sizes, spec.lam, full, inputs, labels)
        np.testing.assert_allclose(grad, expected, rtol=1e-11, atol=1e-14 * np.abs(expected).max())
        # both paths agree, and a call leaves nothing behind that changes the next one
        args = system.kernel_args
        grad_general = np.empty(system.n_dof)
        assert mlp_kernels.general_kernel(x, grad_general, *args) == pytest.approx(energy, rel=1e-14)
        np.testing.assert_allclose(grad_general, grad, rtol=1e-11, atol=1e-15 * np.abs(expected).max())
        grad_again = np.empty(system.n_dof)
        assert system.kernel(x, grad_again, *args) == energy
        np.testing.assert_array_equal(grad_again, grad)


@pytest.mark.parametrize("sizes", [(1, 3, 3), (2, 10, 4), (3, 5, 3), (4, 7, 4), (2, 1, 4)])
@pytest.mark.parametrize("n_items", [1, 7, 33, 999, 1441])
def test_one_layer_kernel_blocks_and_padding_match_numpy(sizes, n_items):
    # the one-layer kernel runs the items in blocks of up to 480, padded to whole vector iterations
    # with items that must contribute nothing; zero weights give all-equal logits, the largest
    # softmax normalisers (their product over a block is taken before one log)
    spec = parse_network_spec([*sizes, n_items, 1e-3])
    rng = np.random.default_rng(7 * n_items + sum(sizes))
    inputs = rng.normal(size=(n_items, sizes[0]))
    labels = rng.integers(0, sizes[2], n_items)
    system = MLPSystem(spec, inputs, labels)
    assert mlp_kernels.takes_one_layer_path(system.kernel_args[2], system.blas_first)
    for x in (np.zeros(system.n_dof), system.random_weights(rng, 1.0), system.random_weights(rng, 30.0)):
        full = system.full_weights(x)
        energy, grad = system.energy_gradient(x)
        assert energy == pytest.approx(reference_energy(sizes, spec.lam, full, inputs, labels), rel=1e-13)
        expected = reference_gradient_one_hidden_layer(sizes, spec.lam, full, inputs, labels)
        np.testing.assert_allclose(grad, expected, rtol=1e-11, atol=1e-13 * np.abs(expected).max())


def test_l2_term_gives_two_lambda_on_the_diagonal_beyond_the_data_term():
    system = make_system("single")
    no_l2 = MLPSystem(parse_network_spec(NETWORKS["single"], lam=0.0), system.inputs, system.labels)
    x = system.random_weights(np.random.default_rng(5), 1.0)
    difference = system.hessian(x) - no_l2.hessian(x)
    np.testing.assert_allclose(difference, 2 * system.lam * np.eye(system.n_dof), atol=1e-14)


@pytest.mark.parametrize("name", ["single", "masked_deep", "wide_blas"])
def test_batch_equals_one_by_one(name):
    system = make_system(name)
    rng = np.random.default_rng(6)
    xs = np.array([system.random_weights(rng, 1.0) for _ in range(4)])
    energies, grads = system.energy_gradient_batch(xs)
    for x, energy, grad in zip(xs, energies, grads):
        e_single, g_single = system.energy_gradient(x)
        assert energy == pytest.approx(e_single, rel=1e-13)
        np.testing.assert_allclose(grad, g_single, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("name", ["single", "masked_deep", "wide_blas", "wide_blas_deep"])
def test_batched_hessian_vector_products_match_finite_differences_and_one_by_one(name):
    """Products at three points, tapes filled once, slots in any order and repeated: each equals the
    central difference of the gradient along its vector and the one-by-one product."""
    system = make_system(name) if name in NETWORKS else MLPSystem(
        parse_network_spec({"inputs": 40, "hidden": [5, 4], "outputs": 3, "lambda": 1e-2}),
        np.random.default_rng(0).normal(size=(37, 40)), np.random.default_rng(1).integers(0, 3, 37))
    rng = np.random.default_rng(9)
    points = np.array([system.random_weights(rng, 1.0) for _ in range(3)])
    tapes = system.new_tapes(3)
    system.fill_tapes(points, tapes, np.array([2, 0, 1]))  # point m in slot (2, 0, 1)[m]
    slot_of_point = {0: 2, 1: 0, 2: 1}
    which = [1, 0, 2, 1, 2]
    vs = rng.normal(size=(len(which), system.n_dof))
    products = system.hessian_vector_batch(vs, np.array([slot_of_point[p] for p in which]), tapes)
    for row, point in enumerate(which):
        x, v = points[point], vs[row]
        step = 1e-5
        difference = (system.energy_gradient(x + step * v)[1] - system.energy_gradient(x - step * v)[1]) / (2 * step)
        assert relative_error(products[row], difference) < 1e-6
        np.testing.assert_allclose(products[row], system.hessian_vector(x, v), rtol=1e-10,
                                   atol=1e-12 * np.abs(products[row]).max())
    with pytest.raises(LflError, match="slots"):
        system.hessian_vector_batch(vs, np.zeros(2, dtype=np.int64), tapes)


def test_blas_path_equals_loop_path():
    loops = make_system("wide_blas", blas_first=False)
    blas = make_system("wide_blas", blas_first=True)
    assert blas.blas_first and not loops.blas_first
    rng = np.random.default_rng(7)
    x = loops.random_weights(rng, 0.5)
    v = rng.normal(size=loops.n_dof)
    assert blas.energy(x) == pytest.approx(loops.energy(x), rel=1e-13)
    np.testing.assert_allclose(blas.energy_gradient(x)[1], loops.energy_gradient(x)[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(blas.hessian_vector(x, v), loops.hessian_vector(x, v), rtol=1e-10, atol=1e-14)


def test_masked_network_equals_full_network_with_frozen_weights_zero():
    masked = make_system("masked_deep")
    spec_full = parse_network_spec(NETWORKS["masked_deep"], connectivity_k=None)
    full_system = MLPSystem(spec_full, masked.inputs, masked.labels)
    layout = masked.layout
    assert layout.n_frozen > 0 and full_system.n_dof == layout.n_full
    x = masked.random_weights(np.random.default_rng(8), 1.0)
    full = masked.full_weights(x)
    e_masked, g_masked = masked.energy_gradient(x)
    e_full, g_full = full_system.energy_gradient(full)
    assert e_masked == pytest.approx(e_full, rel=1e-14)
    np.testing.assert_allclose(g_masked, g_full[layout.variable_index], rtol=1e-12, atol=1e-16)
    hess_full = full_system.hessian(full)
    np.testing.assert_allclose(
        masked.hessian(x), hess_full[np.ix_(layout.variable_index, layout.variable_index)], rtol=1e-10, atol=1e-14
    )


def one_layer_system(sizes, n_items, lam, connectivity_k=None, seed=0):
    spec = parse_network_spec({"inputs": sizes[0], "hidden": sizes[1], "outputs": sizes[2], "lambda": lam,
                               "connectivity_k": connectivity_k})
    rng = np.random.default_rng(seed)
    return MLPSystem(spec, rng.uniform(-1.0, 3.5, size=(n_items, sizes[0])), rng.integers(0, sizes[2], n_items))


def logits_of(system, x):
    (w1, b1), (w2, b2) = system.layout.unpack(system.full_weights(x))
    return np.tanh(system.inputs @ w1.T + b1) @ w2.T + b2


def both_hessians(system, x):
    closed_form = np.empty((system.n_dof, system.n_dof))
    columns = np.empty_like(closed_form)
    mlp_kernels.one_layer_hessian_kernel(x, closed_form, *system.kernel_args)
    mlp_kernels.r_operator_hessian_kernel(x, columns, *system.kernel_args)
    return closed_form, columns


@pytest.mark.parametrize(
    "sizes, n_items, lam, k",
    [((2, 10, 4), 1000, 1e-4, None), ((2, 5, 4), 1000, 0.0, None), ((64, 10, 10), 900, 0.1, None),
     ((2, 10, 4), 1000, 1e-4, 1), ((3, 7, 3), 500, 1e-2, 2), ((1, 3, 2), 50, 1e-3, None)],
)
def test_one_layer_closed_form_hessian_equals_r_operator_columns(sizes, n_items, lam, k):
    # random weights, saturated tanh, and logits of magnitude ~1000 (one-hot probabilities); several
    # item chunks with a short last one ([64,10,10]: 64 items per chunk); masks: var_index not the identity
    system = one_layer_system(sizes, n_items, lam, k)
    assert mlp_kernels.takes_one_layer_hessian_path(system.kernel_args[2])
    assert (k is None) == (system.n_dof == system.layout.n_full)
    rng = np.random.default_rng(11)
    x_big = system.random_weights(rng, 1.0)
    full = system.full_weights(x_big)
    (_, _), (w2, b2) = system.layout.unpack(full)
    scale = 1000.0 / np.abs(logits_of(system, x_big)).max()
    w2 *= scale
    b2 *= scale
    x_big = system.from_full_weights(full)
    assert 900.0 < np.abs(logits_of(system, x_big)).max() < 1100.0
    for x in (system.random_weights(rng, 1.0), system.random_weights(rng, 30.0), x_big):
        closed_form, columns = both_hessians(system, x)
        assert np.abs(closed_form - columns).max() / np.abs(columns).max() < 1e-12
        assert np.array_equal(closed_form, closed_form.T)
        np.testing.assert_array_equal(system.hessian(x), closed_form)


@pytest.mark.parametrize("name, closed_form", [("single", True), ("masked", True), ("wide_blas", True),
                                               ("deep", False), ("masked_deep", False)])
def test_dense_hessian_paths_match_central_differences_of_gradients(name, closed_form):
    system = make_system(name, n_items=60)
    assert mlp_kernels.takes_one_layer_hessian_path(system.kernel_args[2]) == closed_form
    x = system.random_weights(np.random.default_rng(12), 1.5)
    hess = np.empty((system.n_dof, system.n_dof))
    kernel = mlp_kernels.one_layer_hessian_kernel if closed_form else mlp_kernels.r_operator_hessian_kernel
    kernel(x, hess, *system.kernel_args)
    np.testing.assert_array_equal(system.hessian(x), hess)  # the dispatch picks this kernel
    step = 1e-5
    columns = np.empty_like(hess)
    for i in range(system.n_dof):
        probe = x.copy()
        probe[i] += step
        g_plus = system.energy_gradient(probe)[1]
        probe[i] -= 2 * step
        columns[:, i] = (g_plus - system.energy_gradient(probe)[1]) / (2 * step)
    assert relative_error(hess, columns) < 1e-6


def test_deep_and_very_wide_networks_keep_the_r_operator_hessian():
    rng = np.random.default_rng(13)
    deep = MLPSystem(parse_network_spec([2, [5, 5], 4, 100, 1e-3]), rng.normal(size=(100, 2)), rng.integers(0, 4, 100))
    assert not mlp_kernels.takes_one_layer_hessian_path(deep.kernel_args[2])
    x = deep.random_weights(rng, 1.0)
    reference = np.empty((deep.n_dof, deep.n_dof))
    mlp_kernels.r_operator_hessian_kernel(x, reference, *deep.kernel_args)
    np.testing.assert_array_equal(deep.hessian(x), reference)
    limit = mlp_kernels.ONE_LAYER_HESSIAN_MAX_INPUTS
    assert mlp_kernels.takes_one_layer_hessian_path(np.array([limit, 10, 10]))
    assert not mlp_kernels.takes_one_layer_hessian_path(np.array([limit + 1, 10, 10]))


def test_softmax_is_stable_for_outputs_of_magnitude_1000():
    spec = parse_network_spec([2, 3, 4, 20, 1e-4])
    rng = np.random.default_rng(9)
    inputs = rng.normal(size=(20, 2))
    labels = rng.integers(0, 4, 20)
    system = MLPSystem(spec, inputs, labels)
    x = system.random_weights(rng, 1.0)
    layout = system.layout
    (_, _), (w2, b2) = layout.unpack(full := system.full_weights(x))
    w2 *= 400.0  # |logits| up to ~1000 and beyond
    b2[:] = [1000.0, -1000.0, 500.0, 0.0]
    x_big = system.from_full_weights(full)
    hidden = np.tanh(inputs @ layout.unpack(full)[0][0].T + layout.unpack(full)[0][1])
    logits = hidden @ w2.T + b2
    assert np.abs(logits).max() > 900
    energy, grad = system.energy_gradient(x_big)
    expected = reference_energy(spec.layer_sizes, spec.lam, full, inputs, labels)
    assert np.isfinite(energy) and np.all(np.isfinite(grad))
    assert energy == pytest.approx(expected, rel=1e-13)
    assert relative_error(grad, central_gradient(system.energy, x_big, step=1e-7)) < 1e-6


def test_vectorised_tanh_and_exp_are_accurate_over_wide_ranges():
    magnitudes = np.concatenate([np.logspace(-300, -1, 400), np.linspace(0.05, 25.0, 4000), [700.0, 1e300, 0.0]])
    values = np.concatenate([magnitudes, -magnitudes]).reshape(2, -1)
    ours = values.copy()
    mlp_kernels.tanh_inplace(ours)
    reference = np.tanh(values)
    nonzero = reference != 0
    assert np.max(np.abs(ours[nonzero] - reference[nonzero]) / np.abs(reference[nonzero])) < 1e-15
    assert np.all(ours[~nonzero] == 0.0)
    arguments = -np.concatenate([np.logspace(-300, 0, 400), np.linspace(0.0, 699.0, 5000)])
    exps = np.empty_like(arguments)
    mlp_kernels.exp_array(arguments, exps)
    assert np.max(np.abs(exps - np.exp(arguments)) / np.exp(arguments)) < 1e-15
    below = np.array([-701.0, -2000.0, -np.inf])
    out = np.empty(3)
    mlp_kernels.exp_array(below, out)
    assert np.all(out == 0.0)


@njit(cache=True)
def _compiled_caller(x, grad, args):
    return mlp_kernels.kernel(x, grad, *args)


def test_kernel_and_kernel_args_serve_compiled_drivers():
    system = make_system("masked")
    x = system.random_weights(np.random.default_rng(10), 1.0)
    grad = np.empty(system.n_dof)
    energy = system.kernel(x, grad, *system.kernel_args)
    e_ref, g_ref = system.energy_gradient(x)
    assert energy == e_ref and np.array_equal(grad, g_ref)
    grad2 = np.empty(system.n_dof)
    # (tolerances, not equality: a cached caller keeps the kernel it was compiled with)
    assert _compiled_caller(x, grad2, system.kernel_args) == pytest.approx(e_ref, rel=1e-14)
    np.testing.assert_allclose(grad2, g_ref, rtol=1e-12, atol=1e-16)


def test_bad_data_and_bad_weights_give_one_clear_error():
    spec = parse_network_spec([2, 5, 4, 10, 1e-4])
    rng = np.random.default_rng(11)
    inputs = rng.normal(size=(10, 2))
    labels = rng.integers(0, 4, 10)
    cases = [
        (rng.normal(size=(10, 3)), labels, "2 inputs but the data items have 3"),
        (inputs, np.where(labels == 0, 4, labels), "labels must lie in 0..3"),
        (inputs, labels - 5, "labels must lie in 0..3"),
        (np.where(inputs > 1, np.nan, inputs), labels, "NaN"),
        (inputs, labels[:-1], "one entry per item"),
        (inputs, labels + 0.5, "labels must be integers"),
    ]
    for bad_inputs, bad_labels, fragment in cases:
        with pytest.raises(DataError) as info:
            MLPSystem(spec, bad_inputs, bad_labels)
        assert fragment in str(info.value) and "\n" not in str(info.value)
    system = MLPSystem(spec, inputs, labels)
    x = system.random_weights(rng, 1.0)
    x[3] = np.nan
    for call in (system.energy, lambda w: system.energy_gradient(w), system.hessian, lambda w: system.hessian_vector(w, w)):
        with pytest.raises(LflError, match="1 NaN or infinite value"):
            call(x)
    with pytest.raises(LflError, match="1 NaN or infinite value"):
        system.energy_gradient_batch(np.array([x * 0, x]))
    with pytest.raises(LflError, match=r"shape \(39,\)"):
        system.energy(np.zeros(48))
    zero_lambda = MLPSystem(parse_network_spec(spec, lam=0.0), inputs, labels)
    with pytest.raises(LflError, match="NaN"):
        zero_lambda.energy(x)


def test_full_weight_round_trip_and_random_weights():
    system = make_system("masked")
    rng = np.random.default_rng(12)
    x = system.random_weights(rng, 0.3)
    assert x.shape == (system.n_dof,) and np.abs(x).max() <= 0.3
    assert np.array_equal(system.from_full_weights(system.full_weights(x)), x)
    assert system.full_weights(x).shape == (74,)
