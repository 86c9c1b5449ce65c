"""The single-precision StoSignSGD kernels (``theory_bench.optimizers.stosign_single``) against a naive
numpy reference in float32 on random inputs, bit for bit; the float64-arithmetic kernels on the same
float32 arrays, the variant, differ from it. Their noise is the counter stream truncated to 24 bits:
checked against ``truncate24`` of ``uniforms``, and its mean sign statistically (1e-6 false failures)."""
import math

import numpy as np
import pytest

from theory_bench.engine.counter_rng import truncate24, uniforms
from theory_bench.optimizers.stosign_single import stosign_practical_core32, stosign_theory_core32
from theory_bench.optimizers.stosignsgd import stosign_practical_core, stosign_theory_core

f32 = np.float32
KEY = np.uint64(0x1234_5678_9ABC_DEF1)


def draws(t, d):
    return truncate24(uniforms(KEY, t, d)).astype(f32)


def sign32(v):
    return (v > 0).astype(f32) - (v < 0).astype(f32)


def theory_reference(x, g, G, lr, t):
    G = np.maximum(G, np.abs(g))
    return x - f32(lr) * sign32(g + G * (f32(2) * draws(t, x.size) - f32(1))), G


def practical_reference(x, g, m, G, b1, lam, lr, t):
    m = f32(b1) * m + f32(1.0 - b1) * g
    G = np.maximum(G, np.abs(m))
    s = sign32(m + G * (f32(2) * draws(t, x.size) - f32(1)))
    return x - f32(lr) * (s + f32(lam) * x), m, G


def inputs(seed, d=4099):
    rng = np.random.default_rng(seed)
    x, g, m = (rng.standard_normal(d).astype(f32) for _ in range(3))
    G = np.abs(rng.standard_normal(d)).astype(f32) * (rng.random(d) < 0.7)   # some envelopes start at 0
    g[rng.random(d) < 0.05] = 0.0                                           # and some gradients are 0
    return x, g, m, G


@pytest.mark.parametrize("seed", range(5))
def test_theory_kernel_is_the_float32_reference_bit_for_bit(seed):
    x, g, _, G = inputs(seed)
    want_x, want_G = theory_reference(x, g, G, 0.01, seed + 1)
    got_x, got_G = x.copy(), G.copy()
    stosign_theory_core32(got_x, g, got_G, 0.01, seed + 1, KEY)
    assert np.array_equal(got_x, want_x) and np.array_equal(got_G, want_G)
    wide_x, wide_G = x.copy(), G.copy()                     # the variant: float64 arithmetic, 53-bit noise
    stosign_theory_core(wide_x, g, wide_G, 0.01, seed + 1, KEY)
    assert not np.array_equal(wide_x, want_x)


@pytest.mark.parametrize("seed", range(5))
def test_practical_kernel_is_the_float32_reference_bit_for_bit(seed):
    x, g, m, G = inputs(seed)
    want = practical_reference(x, g, m, G, 0.9, 0.01, 1e-3, seed + 1)
    got = [x.copy(), m.copy(), G.copy()]
    stosign_practical_core32(got[0], g, got[1], got[2], 0.9, 0.01, 1e-3, seed + 1, KEY)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    wide = [x.copy(), m.copy(), G.copy()]
    stosign_practical_core(wide[0], g, wide[1], wide[2], 0.9, 0.01, 1e-3, seed + 1, KEY)
    assert not np.array_equal(wide[1], want[1])            # (1 - b1) g + b1 m rounded once, not three times


def test_the_24_bit_stream_is_unbiased():
    """Mean step over 2^22 coordinates at g / G = 0.3 (G = 1): within z < 4.89 (two-sided 1e-6); the
    grid bias (<= 2^-23) is 1/300 of sigma here. The variant, u on a grid of 2^-4 (mean 0.25), is 107 sigma off."""
    d, r = 2 ** 22, 0.3
    x, G = np.zeros(d, f32), np.ones(d, f32)
    stosign_theory_core32(x, np.full(d, f32(r)), G, 1.0, 7, KEY)
    sd = math.sqrt((1 - f32(r) ** 2) / d)
    assert abs((float(-x.mean(dtype=np.float64)) - f32(r)) / sd) < 4.8916
    coarse = np.floor(draws(7, d) * 16) / 16
    s = sign32(f32(r) + (f32(2) * coarse.astype(f32) - f32(1)))
    assert abs((float(s.mean(dtype=np.float64)) - f32(r)) / sd) > 4.8916
