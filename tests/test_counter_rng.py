"""The counter-based uniforms: a naive numpy reference, and statistical checks of their law."""
import numpy as np
import pytest
from scipy import stats

from theory_bench.engine.counter_rng import uniforms

GAMMA = np.uint64(0x9E3779B97F4A7C15)


def mix64_numpy(z):
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniforms_numpy(key, t, d):
    with np.errstate(over="ignore"):
        kt = mix64_numpy(np.uint64(key) + np.uint64(t) * GAMMA)
        i = np.arange(1, d + 1, dtype=np.uint64)
        return (mix64_numpy(kt + i * GAMMA) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


@pytest.mark.parametrize("key,t", [(0, 1), (12345, 7), (2 ** 64 - 1, 10 ** 9)])
def test_matches_numpy_reference(key, t):
    np.testing.assert_array_equal(uniforms(np.uint64(key), t, 1000), uniforms_numpy(key, t, 1000))


def test_range_and_uniformity():
    u = np.concatenate([uniforms(np.uint64(99), t, 100_000) for t in range(1, 11)])
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = ((counts - u.size / 100) ** 2 / (u.size / 100)).sum()
    assert chi2 < stats.chi2.isf(1e-6, df=99), chi2


def test_independent_across_coordinates_steps_and_keys():
    # Correlation of pairs: under independence sqrt(n) * r is ~ N(0, 1); 5.3 sigma ~ 1e-7 each.
    n = 200_000
    a = uniforms(np.uint64(5), 3, n)
    pairs = [(a[:-1], a[1:]),                                  # neighbouring coordinates
             (a, uniforms(np.uint64(5), 4, n)),                # neighbouring steps
             (a, uniforms(np.uint64(6), 3, n))]                # neighbouring keys
    for p, q in pairs:
        r = np.corrcoef(p, q)[0, 1]
        assert abs(r) * np.sqrt(len(p)) < 5.3, r
