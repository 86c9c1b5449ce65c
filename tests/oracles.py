"""Small oracles the engine tests run on (module level, so the compiled loop is cached)."""
import numpy as np
from numba import njit

from theory_bench.bench import hinge_sample_grad as hinge_sample  # noqa: F401 (one-sample hinge)


@njit(cache=True)
def hinge_loss(x, A, y):
    return np.maximum(0.0, 1.0 - y * (A @ x)).mean()


@njit(cache=True)
def abs_sum(x, rng):
    """Deterministic subgradient of ||x||_1 (sign(0) = 0)."""
    return np.sign(x)


@njit(cache=True)
def noisy_quadratic(x, rng, c):
    """Gradient of ||x - c||^2 / 2 plus standard normal noise."""
    return x - c + rng.standard_normal(x.shape[0])


@njit(cache=True)
def nan_after_5(x, rng, counter):
    counter[0] += 1
    g = np.ones(x.shape[0])
    if counter[0] > 5:
        g[1] = np.nan
    return g


@njit(cache=True)
def wrong_shape_after_3(x, rng, counter):
    counter[0] += 1
    if counter[0] > 3:
        return np.ones(x.shape[0] + 1)
    return np.ones(x.shape[0])


def make_hinge(n=200, d=10, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    y = np.sign(A @ rng.normal(size=d) + 0.3 * rng.normal(size=n))
    return A, y


@njit(cache=True)
def kink_2d(x, rng):
    """Subgradient of 0.5|x1 + x2| + |x1 - x2| with the resisting choice +1 at the kinks (docs/theory.md §3.3.1)."""
    a = 1.0 if x[0] + x[1] >= 0.0 else -1.0
    b = 1.0 if x[0] - x[1] >= 0.0 else -1.0
    return np.array([0.5 * a + b, 0.5 * a - b])


@njit(cache=True)
def constant_grad(x, rng, c):
    """The same gradient ``c`` at every point (a linear loss)."""
    return c.copy()


@njit(cache=True)
def poisoned(x, rng, plan):
    """``sign(x - 0.3)``, except at call ``plan[1]``, where coordinate ``plan[2]`` is ``plan[3]``
    (``plan[0]`` counts the calls)."""
    plan[0] += 1
    g = np.sign(x - 0.3) + 0.1 * rng.standard_normal(x.shape[0])
    if plan[0] == plan[1]:
        g[int(plan[2])] = plan[3]
    return g


@njit(cache=True)
def strided_sign(x, rng, buf):
    """``sign(x - 0.3)`` returned as every other entry of ``buf``: a strided (non-contiguous) vector."""
    for i in range(x.shape[0]):
        buf[2 * i] = np.sign(x[i] - 0.3)
    return buf[::2]
