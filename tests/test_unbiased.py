"""docs/theory.md §2.1: with the envelope above |g|, StoSignSGD's sign has mean g/G and variance 1-(g/G)^2.

The thresholds come from Bernstein's inequality with the exact variance, so a correct kernel
fails with probability below 1e-6 (union bound over the coordinates), while a biased one
(Gaussian noise, or no noise) misses by many times the threshold.
"""
import math

import numpy as np
from numba import njit

from theory_bench import optimizers as O
from theory_bench.engine.counter_rng import step_key, uniform01
from theory_bench.optimizers.signs import sign
from tests.stats import bernstein_radius

FAIL_PROB = 1e-6


def sign_draws(kernel, a, B, n, h=np.zeros(0), rows=1):
    """n draws of the kernel's sign per coordinate, for g = a * B with the envelope held at B."""
    d = a.size
    out = np.empty((n, d))
    for t in range(1, n + 1):
        x = np.zeros(d)
        S = np.full((rows, d), B)
        kernel(x, a * B, S, h, 1.0, t, np.uint64(2024))
        out[t - 1] = -x
    return out


def unbiasedness_violations(kernel, n=20_000, B=3.0, **kw):
    """Coordinates whose sample mean or variance leave their Bernstein radius; [] when unbiased."""
    a = np.linspace(-1.0, 1.0, 41)
    s = sign_draws(kernel, a, B, n, **kw)
    delta = FAIL_PROB / (2 * a.size)             # mean and variance, every coordinate
    bad = []
    for i, ai in enumerate(a):
        eps = bernstein_radius(1.0 - ai ** 2, n, delta, bound=2.0)
        mean, var = s[:, i].mean(), s[:, i].var()
        if abs(mean - ai) > eps:
            bad.append(("mean", ai, mean, eps))
        # |var - (1 - a^2)| = |mean^2 - a^2| when s^2 = 1; bounded by eps (2|a| + eps) when the mean is in.
        if abs(var - (1.0 - ai ** 2)) > eps * (2 * abs(ai) + eps) + 1e-12:
            bad.append(("var", ai, var, eps))
    return bad


def test_stosign_sign_is_unbiased_with_the_stated_variance():
    assert unbiasedness_violations(O.StoSignSGD(1.0).kernel) == []


@njit
def gaussian_noise_step(x, g, S, h, lr, t, key):
    """The biased variant: sign(g + G n) with n ~ N(0, 1) (Box-Muller on the counter uniforms)."""
    G = S[0]
    kt = step_key(key, t)
    for i in range(x.shape[0]):
        G[i] = max(G[i], abs(g[i]))
        u1, u2 = uniform01(kt, 2 * i), uniform01(kt, 2 * i + 1)
        n = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2 * math.pi * u2)
        x[i] -= lr * sign(g[i] + G[i] * n)


@njit
def no_noise_step(x, g, S, h, lr, t, key):
    for i in range(x.shape[0]):
        x[i] -= lr * sign(g[i])


def test_check_fails_on_gaussian_noise():
    bad = unbiasedness_violations(gaussian_noise_step)
    assert any(kind == "mean" for kind, *_ in bad)


def test_check_fails_without_noise():
    bad = unbiasedness_violations(no_noise_step)
    assert len([b for b in bad if b[0] == "mean"]) >= 30
    assert any(kind == "var" for kind, *_ in bad)


def test_practical_kernel_is_unbiased_for_m_over_G():
    """The practical kernel with b1 = 0 (so m = g) and no decay: sign law E = m / G."""
    kernel = O.StoSignSGD.practical(1.0, beta1=0.5).kernel
    assert unbiasedness_violations(kernel, h=np.zeros(2), rows=2) == []
