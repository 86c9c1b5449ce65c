"""Counter-based uniforms for the optimizers' sign noise (docs/theory.md §2.1).

The noise of a sign optimizer is a pure function of ``(key, t, i)``: the run's 64-bit
noise key, the step ``t`` and the coordinate ``i``. That is what lets the kernels stay a
single fused, branch-free pass over memory (no generator state to thread through), and it
makes a trajectory bit-identical for the same seed on every platform that has IEEE doubles.

The scheme is SplitMix64 (Steele, Lea, Flood 2014), used as a counter-based generator:

    k_t   = mix64(key + t * GAMMA)            one per step
    u_ti  = (mix64(k_t + (i + 1) * GAMMA) >> 11) * 2**-53      in [0, 1)

``mix64`` is SplitMix64's output finaliser (a bijection of 64-bit words), ``GAMMA`` the odd
golden-ratio increment. Within a step the coordinates are one SplitMix64 stream seeded with
``k_t``; distinct steps get hashed, hence unrelated, starting points. The key itself comes
from ``numpy.random.SeedSequence`` (see ``theory_bench.engine.seeding``), so parallel runs get
independent keys.
"""
import numpy as np
from numba import njit

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 2.0 ** -53


@njit(cache=True, inline="always")
def mix64(z):
    """SplitMix64 finaliser: a bijective avalanche of a 64-bit word."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def step_key(key, t):
    """The per-step seed ``k_t`` of the coordinate stream of step ``t``."""
    return mix64(np.uint64(key) + np.uint64(t) * GAMMA)


@njit(cache=True, inline="always")
def uniform01(kt, i):
    """The uniform in ``[0, 1)`` of coordinate ``i`` in the step whose key is ``kt``."""
    return np.float64(mix64(kt + np.uint64(i + 1) * GAMMA) >> _S11) * _TWO_M53


_S40 = np.uint64(40)
_TWO_M24 = np.float32(2.0 ** -24)


@njit(cache=True, inline="always")
def uniform24(kt, i):
    """``uniform01(kt, i)`` truncated to 24 bits, as a float32: ``floor(u * 2^24) / 2^24`` (the
    stream of the single-precision kernels; its grid of ``2^-24`` is a float32's resolution there)."""
    return np.float32(np.int64(mix64(kt + np.uint64(i + 1) * GAMMA) >> _S40)) * _TWO_M24


def truncate24(u):
    """A float64 array of ``uniform01`` draws as ``uniform24`` gives them (exact in float32)."""
    return np.floor(u * 2.0 ** 24) * 2.0 ** -24


@njit(cache=True)
def uniforms(key, t, d, start=0):
    """The uniforms of coordinates ``start .. start + d`` of step ``t`` as an array (for tests, for
    Python users, and for the torch optimizers' counter mode)."""
    kt = step_key(key, t)
    out = np.empty(d)
    for i in range(d):
        out[i] = uniform01(kt, start + i)
    return out
