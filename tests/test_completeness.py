"""Coverage and Chao1 estimates against sighting tables worked by hand (the arithmetic written out
here from Good 1953 and Chao 1984/1987, decimals checked on paper), including the edge cases."""

import math

import numpy as np
import pytest

from lfl.explore.completeness import completeness


def test_singletons_and_doubletons():
    # 7 points seen 1, 1, 1, 2, 2, 3, 5 times: n = 15, f1 = 3, f2 = 2
    c = completeness([1, 1, 1, 2, 2, 3, 5])
    assert (c.n_draws, c.n_observed, c.f1, c.f2) == (15, 7, 3, 2)
    assert c.coverage == pytest.approx(0.8)  # 1 - 3/15
    assert c.estimate == pytest.approx(9.1)  # 7 + (14/15) * 9 / 4
    # var = 2 [(14/15)(1.5^2)/2 + (14/15)^2 1.5^3 + (14/15)^2 1.5^4 / 4] = 10.185
    # K = exp(1.96 sqrt(ln(1 + 10.185 / 2.1^2))) = 8.5356; interval 7 + 2.1 / K, 7 + 2.1 K
    assert c.estimate_low == pytest.approx(7.2460, abs=2e-4)
    assert c.estimate_high == pytest.approx(24.925, abs=2e-3)


def test_every_point_seen_once():
    # n = 4, f1 = 4, f2 = 0: the bias-corrected form, 4 + (3/4) * 4 * 3 / 2 = 8.5
    c = completeness([1, 1, 1, 1])
    assert c.coverage == 0.0
    assert c.estimate == pytest.approx(8.5)
    # var = 0.75 * 6 + 0.5625 * 4 * 49 / 4 - 0.5625 * 256 / 34 = 27.8272; K = 6.1875 (z = 1.95996)
    assert c.estimate_low == pytest.approx(4.7272, abs=2e-4)
    assert c.estimate_high == pytest.approx(31.8437, abs=1e-3)


def test_every_point_seen_many_times():
    # nothing rare: the estimate is what was seen, coverage is 1, the interval barely above
    c = completeness([5, 5, 5])
    assert c.coverage == 1.0 and c.estimate == 3.0
    # var = 3 (e^-5 - e^-10) - (3 * 5 e^-5)^2 / 15 = 0.0193966; P = e^-5;
    # upper = 3 / (1 - P) + 1.96 sqrt(var) / (1 - P) = 3.29518
    assert c.estimate_low == 3.0
    assert c.estimate_high == pytest.approx(3.29518, abs=1e-4)


def test_one_sighting_and_none():
    c = completeness([1])
    assert (c.coverage, c.estimate, c.estimate_low) == (0.0, 1.0, 1.0)
    # var = (e^-1 - e^-2) - e^-2 = 0.097208; P = e^-1: upper 1/0.63212 + 1.96 * 0.311782 / 0.63212
    assert c.estimate_high == pytest.approx(2.5487, abs=1e-3)
    empty = completeness([])
    assert empty.n_draws == 0 and empty.coverage == 0.0 and math.isinf(empty.estimate_high)
    assert completeness([0, 0, 3]).n_observed == 1  # points never drawn by these searches are ignored


def test_estimate_grows_with_rare_points_and_coverage_falls():
    few_rare = completeness([10, 8, 6, 1, 2])
    many_rare = completeness([10, 8, 6, 1, 1, 1, 1, 2])
    assert many_rare.estimate > few_rare.estimate and many_rare.coverage < few_rare.coverage
    with pytest.raises(ValueError):
        completeness([1, -1])


def test_coverage_predicts_new_points_in_a_simulated_landscape():
    # a landscape of 40 points reached with unequal ease: coverage after 200 draws is the chance
    # that draw 201 finds a known point (averaged over replicates), and Chao1's interval covers 40
    rng = np.random.default_rng(3)
    weights = rng.pareto(1.5, 40) + 0.05
    weights /= weights.sum()
    predicted, hits, covered = [], [], 0
    for _ in range(400):
        draws = rng.choice(40, size=200, p=weights)
        counts = np.bincount(draws, minlength=40)
        c = completeness(counts)
        predicted.append(c.coverage)
        hits.append(counts[rng.choice(40, p=weights)] > 0)
        covered += c.estimate_low <= 40 <= c.estimate_high or c.n_observed == 40
    assert np.mean(predicted) == pytest.approx(np.mean(hits), abs=0.03)
    assert covered / 400 > 0.8
