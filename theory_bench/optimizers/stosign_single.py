"""StoSignSGD's two forms on float32 arrays, in float32 arithmetic (docs/theory.md §2, §2.1).

The kernels of ``theory_bench.optimizers.stosignsgd`` compute in float64 whatever the arrays hold;
on float32 that halves the vector width and adds two conversions per element. These compute what
torch's float32 operations compute, operation for operation and with no fused multiply-add (the
scalars rounded to float32 once, as torch rounds a Python scalar), with the counter stream's
uniform truncated to 24 bits (``counter_rng.uniform24``): ``theory_bench.torch.StoSignSGD``'s fused
CPU step for float32 parameters, bit for bit the torch-op path with ``noise="counter"``.
``n = 2u - 1`` lies on a grid of ``2^-23`` in ``[-1, 1)``: the mean sign is ``a / G`` within ``2^-23``.
"""
import numpy as np
from numba import njit

from theory_bench.engine.counter_rng import step_key, uniform24

_ONE, _TWO = np.float32(1.0), np.float32(2.0)


@njit(cache=True, inline="always")
def sto_sign32(a, B, u):
    """``sign(a + B (2u - 1))`` in float32, ``sign(0) = 0``, branch-free."""
    v = a + B * (_TWO * u - _ONE)
    return np.float32(v > 0) - np.float32(v < 0)


@njit(cache=True)
def stosign_theory_core32(x, g, G, lr, t, key):
    """``G <- max(G, |g|)``; ``x <- x - lr sign(g + G n)`` on float32 arrays."""
    kt = step_key(key, t)
    lr = np.float32(lr)
    for i in range(x.shape[0]):
        gi = g[i]
        Gi = max(G[i], abs(gi))
        G[i] = Gi
        x[i] -= lr * sto_sign32(gi, Gi, uniform24(kt, i))


@njit(cache=True)
def stosign_practical_core32(x, g, m, G, b1, lam, lr, t, key):
    """``m <- b1 m + (1 - b1) g``; ``G <- max(G, |m|)``; ``x <- x - lr (sign(m + G n) + lam x)``."""
    kt = step_key(key, t)
    c1, b1, lam, lr = np.float32(1.0 - b1), np.float32(b1), np.float32(lam), np.float32(lr)
    for i in range(x.shape[0]):
        mi = b1 * m[i] + c1 * g[i]
        m[i] = mi
        Gi = max(G[i], abs(mi))
        G[i] = Gi
        x[i] -= lr * (sto_sign32(mi, Gi, uniform24(kt, i)) + lam * x[i])
