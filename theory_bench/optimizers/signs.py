"""The two sign operators every sign optimizer is built from (docs/theory.md §1, §2.1)."""
import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def sign(v):
    """``sign(v)`` with ``sign(0) = 0``, branch-free: ``(v > 0) - (v < 0)``."""
    return np.float64(v > 0.0) - np.float64(v < 0.0)


@njit(cache=True, inline="always")
def sto_sign(a, B, u):
    """Unbiased stochastic sign: ``sign(a + B n)`` with ``n = 2u - 1 ~ U[-1, 1)``.

    For ``|a| <= B``: ``E = a / B`` and ``Var = 1 - (a/B)^2`` (section 2.1); ``B = 0`` forces
    ``a = 0`` and gives ``0``.
    """
    return sign(a + B * (2.0 * u - 1.0))


def stochastic_sign(g, G, rng):
    """StoSignSGD's sign operator on numpy vectors, ``sign(g + G n)`` with ``n = 2u - 1``, ``u`` from
    ``rng``: mean ``g / G`` where ``|g| <= G`` (the optimizers' ``sign_operator``, for
    ``testing.assert_unbiased`` and ``theory-bench audit``)."""
    g = np.asarray(g, dtype=np.float64)
    return np.sign(g + np.asarray(G, dtype=np.float64) * (2.0 * rng.random(g.shape) - 1.0))


def plain_sign(g, G, rng):
    """SignSGD's sign operator, ``sign(g)`` whatever ``G``: its mean is ``sign(g)``, not ``g / G``."""
    return np.sign(np.asarray(g, dtype=np.float64))
