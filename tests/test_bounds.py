"""The bounds of docs/theory.md §3: against brute force, exact integers, an independent high-precision
evaluation, and the sum in the proof."""
import itertools
import math
from decimal import Decimal, localcontext

import numpy as np
import pytest

from theory_bench.analysis.bounds import (expected_abs_walk, linear_regret_lower, online_to_batch_gap,
                                 sgd_regret_upper, stosign_regret_upper)


@pytest.mark.parametrize("T", range(1, 13))
def test_expected_abs_walk_by_enumeration(T):
    brute = np.mean([abs(sum(e)) for e in itertools.product((-1, 1), repeat=T)])
    assert expected_abs_walk(T) == pytest.approx(brute, rel=1e-12)


def exact_abs_walk(T):
    """``T C(T-1, floor((T-1)/2)) / 2^(T-1)`` in exact integers, rounded once (int / int is correctly rounded)."""
    return (T * math.comb(T - 1, (T - 1) // 2)) / (1 << (T - 1))


PI_50 = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
BERNOULLI = [(2, Decimal(1) / 6), (4, Decimal(-1) / 30), (6, Decimal(1) / 42), (8, Decimal(-1) / 30),
             (10, Decimal(5) / 66), (12, Decimal(-691) / 2730), (14, Decimal(7) / 6)]


def log_gamma_50(z):
    """Stirling's series for log Gamma(z) at 50 digits (z >= 500: the next term is below 1e-50)."""
    s = (z - Decimal("0.5")) * z.ln() - z + (2 * PI_50).ln() / 2
    for k, b in BERNOULLI:
        s += b / (k * (k - 1) * z ** (k - 1))
    return s


def stirling_abs_walk(T):
    """``E|S_T|`` through ``c_n = Gamma(n + 1/2) / (sqrt(pi) Gamma(n + 1))`` in 50-digit decimals: an
    evaluation independent of the library's (another series, no cancellation in floating point)."""
    with localcontext() as ctx:
        ctx.prec = 50
        n = Decimal(T // 2)
        c = (log_gamma_50(n + Decimal("0.5")) - log_gamma_50(n + 1) - PI_50.ln() / 2).exp()
        return float(Decimal(T) * c)


@pytest.mark.parametrize("T", [*range(1, 21), 10 ** 3, 10 ** 3 + 1, 10 ** 4, 10 ** 4 + 1, 10 ** 5,
                               pytest.param(10 ** 6, marks=pytest.mark.slow)])     # 10^6: 9 s of exact integers
def test_expected_abs_walk_against_exact_integers(T):
    exact = exact_abs_walk(T)
    assert abs(expected_abs_walk(T) - exact) <= 1e-13 * exact


@pytest.mark.parametrize("T", [10 ** 3, 10 ** 4 + 1, 10 ** 5])
def test_the_stirling_reference_agrees_with_exact_integers(T):
    """The reference used at 1e9 and 1e12 is itself right where exact integers can still check it."""
    assert abs(stirling_abs_walk(T) - exact_abs_walk(T)) <= 1e-15 * exact_abs_walk(T)


@pytest.mark.parametrize("T", [10 ** 9, 10 ** 9 + 1, 10 ** 12, 10 ** 12 + 1])
def test_expected_abs_walk_to_a_trillion_steps(T):
    ref = stirling_abs_walk(T)
    assert abs(expected_abs_walk(T) - ref) <= 1e-13 * ref


def test_expected_abs_walk_takes_arrays_and_scalars():
    T = np.array([1, 2, 3, 1024, 1025, 10 ** 6])
    np.testing.assert_array_equal(expected_abs_walk(T), [expected_abs_walk(int(t)) for t in T])
    assert isinstance(expected_abs_walk(7), float)
    with pytest.raises(ValueError, match="T must be integers >= 1"):
        expected_abs_walk(0)


def test_lower_bound_is_stable_to_a_billion_steps():
    T = np.array([10 ** 6, 10 ** 9, 10 ** 12])           # even: E|S_T| = sqrt(2T/pi) (1 - 1/(4T) + O(T^-2))
    v = expected_abs_walk(T)
    np.testing.assert_allclose(v / np.sqrt(2 * T / np.pi) - 1, -1 / (4 * T), rtol=1e-2, atol=1e-14)
    assert linear_regret_lower(10 ** 9, 3, 2.0, 0.5) == pytest.approx(3 * expected_abs_walk(10 ** 9))


def test_lower_bound_even_odd_identity():
    """E|S_T| = E|S_{T-1}| for even T: why the upper/lower ratio peaks at T = 2."""
    T = np.arange(2, 200, 2)
    np.testing.assert_allclose(expected_abs_walk(T), expected_abs_walk(T - 1), rtol=1e-12)
    ratio = stosign_regret_upper(np.arange(1, 2000), 1.0, 2.0) / linear_regret_lower(np.arange(1, 2000), 1, 1, 1)
    assert ratio.max() == pytest.approx(4.0) and np.argmax(ratio) == 1   # T = 2
    assert ratio[-1] == pytest.approx(2 * math.sqrt(math.pi), rel=1e-3)


def proof_sum(G, width, eta):
    """The bound before its last two steps: sum_i [w^2 G_{T,i} / (2 eta_T) + sum_t eta_t G_{t,i} / 2]."""
    T = G.shape[0]
    eta_t = eta / np.sqrt(np.arange(1, T + 1))
    return float((width ** 2 * G[-1] / (2 * eta_t[-1]) + (eta_t[:, None] * G / 2).sum(axis=0)).sum())


@pytest.mark.parametrize("seed", range(5))
def test_upper_bound_dominates_the_sum_in_its_proof(seed):
    rng = np.random.default_rng(seed)
    T, d = int(rng.integers(1, 3000)), 4
    G = np.maximum.accumulate(np.abs(rng.standard_cauchy((T, d))), axis=0)   # running max envelopes
    for eta in (None, 0.3, 5.0):
        e = 2.0 / math.sqrt(2) if eta is None else eta
        assert proof_sum(G, 2.0, e) <= stosign_regret_upper(T, G[-1].sum(), 2.0, eta) * (1 + 1e-12)
    # and the two agree to leading order when G is constant (sum 1/sqrt(t) ~ 2 sqrt(T))
    G = np.ones((10 ** 5, 1))
    assert proof_sum(G, 2.0, math.sqrt(2)) / stosign_regret_upper(10 ** 5, 1.0, 2.0) == pytest.approx(1, abs=2e-3)


def test_tuned_step_is_the_minimiser():
    etas = np.linspace(0.1, 5, 400)
    vals = [stosign_regret_upper(100, 1.0, 2.0, e) for e in etas]
    assert etas[int(np.argmin(vals))] == pytest.approx(math.sqrt(2), abs=0.02)
    assert stosign_regret_upper(100, 1.0, 2.0) == pytest.approx(math.sqrt(2) * 2 * 10)


def test_sgd_bound_and_online_to_batch():
    assert sgd_regret_upper(100, 2.0, 3.0) == pytest.approx(math.sqrt(2) * 2 * 3 * 10)
    assert online_to_batch_gap(50.0, 100) == 0.5


@pytest.mark.parametrize("bad", [0, 2.5, -3])
def test_bad_horizon(bad):
    with pytest.raises(ValueError, match="T must be integers >= 1"):
        expected_abs_walk(bad)
