"""Slope fits and bound ratios with bootstrap intervals over seeds."""
import numpy as np
import pytest

from theory_bench.analysis.bootstrap import bootstrap_interval, mean_interval
from theory_bench.analysis.rates import bound_ratio, fit_slope, log_slope

T = np.unique(np.logspace(2, 5, 9).astype(int))


def synthetic(rng, exponent, seeds=20, noise=0.3):
    """R_T = c T^exponent, each seed's curve scaled by a log-normal factor and per-point noise."""
    c = np.exp(noise * rng.normal(size=(seeds, 1)))
    return c * T ** exponent * np.exp(0.05 * rng.normal(size=(seeds, len(T))))


@pytest.mark.parametrize("exponent", [0.5, 1.0, 0.25])
def test_slope_recovers_the_exponent(exponent):
    slope, lo, hi = fit_slope(T, synthetic(np.random.default_rng(0), exponent))
    assert lo <= exponent <= hi and hi - lo < 0.05
    assert slope == pytest.approx(exponent, abs=0.02)


def test_bootstrap_interval_covers_the_truth_at_its_nominal_rate():
    """400 independent data sets: the 95% interval of the mean should cover the truth ~95% of the
    time. The percentile bootstrap with 20 seeds under-covers a little; the band [0.88, 0.99] is
    more than 6 binomial standard deviations wide on the low side."""
    rng = np.random.default_rng(1)
    hits = 0
    for k in range(400):
        x = rng.exponential(size=20)                  # skewed, true mean 1
        _, lo, hi = bootstrap_interval(x, np.mean, n_boot=400, seed=k)
        hits += lo <= 1.0 <= hi
    assert 0.88 <= hits / 400 <= 0.99


def test_slope_interval_coverage():
    rng = np.random.default_rng(2)
    hits = sum(lo <= 0.5 <= hi for lo, hi in
               (fit_slope(T, synthetic(rng, 0.5, noise=0.0), n_boot=400, seed=k)[1:] for k in range(200)))
    assert 0.85 <= hits / 200 <= 1.0


def test_bound_ratio_uses_the_resampled_aux():
    R = np.array([[1.0, 2.0], [3.0, 4.0]])
    G = np.array([[2.0, 2.0], [2.0, 2.0]])
    ratio, lo, hi = bound_ratio(R, lambda g: 2.0 * g, aux=G)
    assert ratio == pytest.approx(3.0 / 4.0)
    assert lo <= ratio <= hi


def test_mean_interval_per_column():
    x = np.random.default_rng(3).normal(size=(50, 3)) + [0.0, 10.0, -5.0]
    m, lo, hi = mean_interval(x)
    assert np.all(lo < m) and np.all(m < hi)
    np.testing.assert_allclose(m, x.mean(axis=0))


def test_log_slope_refuses_nonpositive_values():
    with pytest.raises(ValueError, match="needs positive values"):
        log_slope([1, 10], [1.0, 0.0])
    with pytest.raises(ValueError, match="at least 2 runs"):
        fit_slope(T, np.ones((1, len(T))))
