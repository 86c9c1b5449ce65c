"""The regret bounds of docs/theory.md §3, as functions of the horizon.

- ``stosign_regret_upper``: StoSignSGD's ``E[R_T] <= sqrt(T) sum_i E[G_{T,i}] (w^2/(2 eta) + eta)``
  (§3.1), ``sqrt(2) w sqrt(T) sum_i E[G_{T,i}]`` at the tuned ``eta = w / sqrt(2)``.
- ``linear_regret_lower``: the exact ``E[R_T] = d D L E|S_T|`` of every algorithm against the
  Rademacher linear adversary (§3.2); ``expected_abs_walk`` gives ``E|S_T|`` to 1e-13 relative
  for every ``T`` up to ``1e12`` (exact rationals for ``T <= 1024``, an asymptotic series above;
  tested against ``math.comb`` and an independent 50-digit Stirling evaluation).
- ``sgd_regret_upper``: projected online subgradient descent with ``eta_t = eta / sqrt(t)``,
  ``E[R_T] <= sqrt(T) (D^2 / (2 eta) + eta G^2)`` for an l2 diameter ``D`` and ``||g||_2 <= G``.
- ``online_to_batch_gap``: ``E[F(x_bar_T)] - F* <= E[R_T] / T`` (§3.1).
- ``nearest_freeze_step``: the last step at which a sign step ``lr / sqrt(t)`` can still move a
  coordinate stored in a narrow format with nearest rounding (§6).
"""
import math
from functools import lru_cache

import numpy as np


def _horizon(T):
    T = np.asarray(T, dtype=np.float64)
    if np.any(T < 1) or np.any(T != np.floor(T)):
        raise ValueError(f"T must be integers >= 1, got {T!r}")
    return T


def stosign_regret_upper(T, G_sum, width, eta=None):
    """docs/theory.md §3.1; ``G_sum = sum_i E[G_{T,i}]``, ``width`` the box width ``w`` (every coordinate).

    ``eta=None`` is the tuned step ``w / sqrt(2)``, where the bound is ``sqrt(2) w sqrt(T) G_sum``.
    """
    T = _horizon(T)
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    eta = width / math.sqrt(2.0) if eta is None else eta
    if not eta > 0:
        raise ValueError(f"eta must be > 0, got {eta!r}")
    return np.sqrt(T) * np.asarray(G_sum, dtype=np.float64) * (width ** 2 / (2.0 * eta) + eta)


EXACT_UP_TO = 1024
# c_n sqrt(pi n) = sum_k SERIES[k] / n^k for c_n = C(2n, n) / 4^n, from the expansion of
# log Gamma(n + 1/2) - log Gamma(n + 1) in Bernoulli polynomials (docs/theory.md §3.2). With nine
# terms the first one left out, -28717403/17179869184 n^-9 (about 1.7 n^-9), is below 1e-24 for n >= 512.
SERIES = (1.0, -1 / 8, 1 / 128, 5 / 1024, -21 / 32768, -399 / 262144, 869 / 4194304, 39325 / 33554432,
          -334477 / 2147483648)


@lru_cache(maxsize=1)
def _exact_table():
    """``E|S_T|`` for ``T = 0 .. EXACT_UP_TO``, each the exact rational rounded once to a double."""
    out = np.zeros(EXACT_UP_TO + 1)
    central = 1                                    # C(2n, n), exact, for n = 0, 1, ...
    for n in range(EXACT_UP_TO // 2 + 1):
        if n:
            central = central * (2 * n) * (2 * n - 1) // (n * n)
        for T in (2 * n, 2 * n + 1):               # E|S_2n| = 2n c_n, E|S_2n+1| = (2n+1) c_n
            if 1 <= T <= EXACT_UP_TO:
                out[T] = (T * central) / (1 << (2 * n))      # int / int: correctly rounded
    return out


def _central_binomial_series(n):
    """``C(2n, n) / 4^n`` for ``n >= 512`` by the asymptotic series (Horner in ``1/n``)."""
    x = 1.0 / n
    acc = np.zeros_like(n)
    for c in reversed(SERIES):
        acc = acc * x + c
    return acc / np.sqrt(math.pi * n)


def expected_abs_walk(T):
    """``E|S_T|`` of a simple symmetric random walk: ``T C(T-1, floor((T-1)/2)) / 2^(T-1)``.

    With ``c_n = C(2n, n) / 4^n``: ``E|S_{2n}| = 2n c_n`` and ``E|S_{2n+1}| = (2n+1) c_n``
    (docs/theory.md §3.2). Exact (the rational rounded once) for ``T <= 1024``; above, ``c_n``
    from its asymptotic series, accurate to a few units in the last place up to ``T = 1e12``.
    """
    T = _horizon(T)
    out = np.empty_like(T)
    small = T <= EXACT_UP_TO
    out[small] = _exact_table()[T[small].astype(np.int64)]
    big = T[~small]
    out[~small] = big * _central_binomial_series(np.floor(big / 2.0))
    return out if out.ndim else float(out)


def linear_regret_lower(T, d, D, L):
    """docs/theory.md §3.2: ``d D L E|S_T|``, the exact expected regret of any algorithm on ``[-D, D]^d``."""
    return d * D * L * expected_abs_walk(T)


def sgd_regret_upper(T, diameter, grad_norm, eta=None):
    """Projected online subgradient descent, ``eta_t = eta / sqrt(t)`` (tuned: ``D / (sqrt(2) G)``)."""
    T = _horizon(T)
    eta = diameter / (math.sqrt(2.0) * grad_norm) if eta is None else eta
    return np.sqrt(T) * (diameter ** 2 / (2.0 * eta) + eta * grad_norm ** 2)


def online_to_batch_gap(regret_bound, T):
    """``E[F(x_bar_T)] - F* <= E[R_T] / T`` for i.i.d. losses with mean ``F``."""
    return np.asarray(regret_bound, dtype=np.float64) / _horizon(T)


def nearest_freeze_step(x, lr, fmt="bf16", via_fp32=False):
    """Per coordinate of ``x`` (values of the format ``fmt``), the last step ``t`` at which a step of
    size ``eta_t = lr / sqrt(t)`` can change it under nearest rounding: ``floor((2 lr / s)^2)``, ``s``
    the spacing below ``|x|``. A smaller step lands within half a spacing of ``x`` on either side
    (the spacing above is never smaller) and rounds back to ``x``: the coordinate is frozen (§6).
    With ``via_fp32`` (an fp32 pipeline: ``x - eta`` rounded to fp32 first) a step half an fp32
    spacing short of the midpoint lands on it (a tie): the threshold is ``s/2 (1 - 2^(m-23))``."""
    from theory_bench.engine.precision import get_format
    f = get_format(fmt)
    s = f.spacing_below(x)
    if via_fp32 and f.fraction_bits < 23:
        s = s * (1.0 - 2.0 ** (f.fraction_bits - 23))
    return np.floor((2.0 * lr / s) ** 2)
