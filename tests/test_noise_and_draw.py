import numpy as np
import pytest
from scipy import stats

from lfl.data.draw import draw_training_set, load_draw, save_draw
from lfl.data.noise import mislabel, n_mislabelled
from lfl.data.pool import DataPool
from lfl.errors import DataError


def make_pool(n=4000, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(n, 2))
    labels = rng.integers(0, n_classes, size=n)
    index = np.arange(n)
    return DataPool(inputs, labels, index[: n // 2], index[n // 2 :], {"kind": "test", "n_classes": n_classes})


@pytest.mark.parametrize("n, pct, expected", [(1000, 10, 100), (1000, 0, 0), (1000, 100, 1000), (5, 50, 3), (7, 10, 1)])
def test_exact_count(n, pct, expected):
    labels = np.zeros(n, dtype=np.int64)
    noisy, mask = mislabel(labels, error_pct=pct, n_classes=4, rng=np.random.default_rng(1))
    assert n_mislabelled(n, pct) == expected
    assert mask.sum() == expected
    assert np.count_nonzero(noisy != labels) == expected


def test_never_the_true_class_and_untouched_elsewhere():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, size=5000)
    noisy, mask = mislabel(labels, error_pct=37, n_classes=10, rng=np.random.default_rng(4))
    assert np.all(noisy[mask] != labels[mask])
    assert np.all(noisy[~mask] == labels[~mask])
    assert noisy.min() >= 0 and noisy.max() <= 9


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_wrong_classes_are_uniform_over_the_others(seed):
    n_classes = 4
    labels = np.full(30000, 2, dtype=np.int64)
    noisy, mask = mislabel(labels, error_pct=100, n_classes=n_classes, rng=np.random.default_rng(seed))
    counts = np.bincount(noisy[mask], minlength=n_classes)
    assert counts[2] == 0
    others = counts[[0, 1, 3]]
    # chi-square goodness of fit against 1/(N_out - 1) each
    assert stats.chisquare(others).pvalue > 1e-3


def test_noise_levels_are_nested_for_one_seed():
    labels = np.random.default_rng(0).integers(0, 4, size=1000)
    noisy10, mask10 = mislabel(labels, error_pct=10, n_classes=4, rng=np.random.default_rng(7))
    noisy50, mask50 = mislabel(labels, error_pct=50, n_classes=4, rng=np.random.default_rng(7))
    assert np.all(mask50[mask10])
    assert np.all(noisy50[mask10] == noisy10[mask10])


def test_draw_same_seed_same_output_and_shared_inputs(tmp_path):
    pool = make_pool()
    a = draw_training_set(pool, n_data=300, error_pct=10, seed=5)
    b = draw_training_set(pool, n_data=300, error_pct=10, seed=5)
    c = draw_training_set(pool, n_data=300, error_pct=50, seed=5)
    d = draw_training_set(pool, n_data=300, error_pct=10, seed=6)
    assert a.content_hash() == b.content_hash()
    assert np.array_equal(a.train_pool_index, c.train_pool_index)  # same items at every noise level
    assert not np.array_equal(a.train_pool_index, d.train_pool_index)
    assert np.all(np.isin(a.train_pool_index, pool.train_index))
    assert a.test_labels.size == pool.test_index.size
    assert a.mislabelled.sum() == 30 and c.mislabelled.sum() == 150
    np.testing.assert_array_equal(a.train_true_labels, pool.labels[a.train_pool_index])
    save_draw(a, tmp_path / "a.npz")
    loaded = load_draw(tmp_path / "a.npz")
    assert loaded.content_hash() == a.content_hash()
    assert loaded.metadata["n_mislabelled"] == 30


def test_draw_n_test_subset():
    pool = make_pool()
    draw = draw_training_set(pool, n_data=10, error_pct=0, seed=1, n_test=100)
    assert draw.test_labels.size == 100


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_data=3000, error_pct=0, seed=0), "larger than the training pool"),
        (dict(n_data=0, error_pct=0, seed=0), "at least 1"),
        (dict(n_data=10, error_pct=101, seed=0), "0..100"),
        (dict(n_data=10, error_pct=-5, seed=0), "0..100"),
        (dict(n_data=10, error_pct=5, seed=0, n_test=10**6), "n_test"),
    ],
)
def test_bad_draw_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        draw_training_set(make_pool(), **kwargs)
