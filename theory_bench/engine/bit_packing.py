"""Signs as bits, fused: the kernels behind the DDP sign hooks (``theory_bench.torch.comm_hooks``).

- ``stochastic_bits(a, B, key, coin_key, t, out)``: ``out[i] = 1`` if ``a_i + B_i (2 u_i - 1) > 0``
  (``u`` the counter stream of ``key`` at step ``t``, computed in float64), ``0`` if below zero,
  and the coin ``c_i < 1/2`` of ``coin_key``'s stream for an exact zero;
  ``sign_bits(a, coin_key, t, out)`` the same without noise.
- ``pack(bits, out)``: bytes of 8 bits, most significant first (``numpy.packbits``);
  ``unpack_add(packed, n, acc)``: ``acc[i] += 2 bit_i - 1`` (the sum of the ranks' signs).

One pass each over memory; the torch functions of ``comm_hooks`` (``stochastic_sign_bits``,
``one_bit``, ``pack_bits``) are their readable reference, and the tests hold them bit for bit equal.
"""
import numpy as np
from numba import njit

from theory_bench.engine.counter_rng import step_key, uniform01


@njit(cache=True)
def stochastic_bits(a, B, key, coin_key, t, out):
    kt, kc = step_key(key, t), step_key(coin_key, t)
    for i in range(a.shape[0]):
        v = np.float64(a[i]) + np.float64(B[i]) * (2.0 * uniform01(kt, i) - 1.0)
        out[i] = 1 if v > 0.0 else (0 if v < 0.0 else (1 if uniform01(kc, i) < 0.5 else 0))


@njit(cache=True)
def sign_bits(a, coin_key, t, out):
    kc = step_key(coin_key, t)
    for i in range(a.shape[0]):
        v = np.float64(a[i])
        out[i] = 1 if v > 0.0 else (0 if v < 0.0 else (1 if uniform01(kc, i) < 0.5 else 0))


@njit(cache=True)
def pack(bits, out):
    n = bits.shape[0]
    for j in range(out.shape[0]):
        byte = 0
        for b in range(8):
            i = 8 * j + b
            byte = (byte << 1) | (bits[i] if i < n else 0)
        out[j] = byte


@njit(cache=True)
def unpack_add(packed, n, acc):
    for i in range(n):
        acc[i] += 2.0 * ((packed[i >> 3] >> (7 - (i & 7))) & 1) - 1.0
