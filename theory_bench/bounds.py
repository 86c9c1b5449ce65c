"""The regret bounds of THEORY.md section 3, as functions of the horizon.

- ``stosign_regret_upper``: StoSignSGD's ``E[R_T] <= sqrt(T) sum_i E[G_{T,i}] (w^2/(2 eta) + eta)``
  (section 3.1), ``sqrt(2) w sqrt(T) sum_i E[G_{T,i}]`` at the tuned ``eta = w / sqrt(2)``.
- ``linear_regret_lower``: the exact ``E[R_T] = d D L E|S_T|`` of every algorithm against the
  Rademacher linear adversary (section 3.2), ``E|S_T|`` through the Beta function (accurate to
  1e-12 relative at ``T = 1e12``; differences of ``lgamma`` lose six digits at ``T = 1e9``).
- ``sgd_regret_upper``: projected online subgradient descent with ``eta_t = eta / sqrt(t)``,
  ``E[R_T] <= sqrt(T) (D^2 / (2 eta) + eta G^2)`` for an l2 diameter ``D`` and ``||g||_2 <= G``.
- ``online_to_batch_gap``: ``E[F(x_bar_T)] - F* <= E[R_T] / T`` (section 3.1).
"""
import math

import numpy as np


def _horizon(T):
    T = np.asarray(T, dtype=np.float64)
    if np.any(T < 1) or np.any(T != np.floor(T)):
        raise ValueError(f"T must be integers >= 1, got {T!r}")
    return T


def stosign_regret_upper(T, G_sum, width, eta=None):
    """THEORY 3.1; ``G_sum = sum_i E[G_{T,i}]``, ``width`` the box width ``w`` (every coordinate).

    ``eta=None`` is the tuned step ``w / sqrt(2)``, where the bound is ``sqrt(2) w sqrt(T) G_sum``.
    """
    T = _horizon(T)
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    eta = width / math.sqrt(2.0) if eta is None else eta
    if not eta > 0:
        raise ValueError(f"eta must be > 0, got {eta!r}")
    return np.sqrt(T) * np.asarray(G_sum, dtype=np.float64) * (width ** 2 / (2.0 * eta) + eta)


def expected_abs_walk(T):
    """``E|S_T|`` of a simple symmetric random walk: ``T C(T-1, floor((T-1)/2)) / 2^(T-1)``.

    Computed as ``E|S_{2n}| = 2n C(2n, n) / 4^n = 2n B(n + 1/2, 1/2) / pi`` with ``2n = T`` rounded
    up to even (``E|S_T| = E|S_{T+1}|`` for odd ``T``); scipy's Beta is accurate for huge ``n``.
    """
    from scipy.special import beta
    T = _horizon(T)
    n = (T + T % 2) / 2.0
    return 2.0 * n * beta(n + 0.5, 0.5) / math.pi


def linear_regret_lower(T, d, D, L):
    """THEORY 3.2: ``d D L E|S_T|``, the exact expected regret of any algorithm on ``[-D, D]^d``."""
    return d * D * L * expected_abs_walk(T)


def sgd_regret_upper(T, diameter, grad_norm, eta=None):
    """Projected online subgradient descent, ``eta_t = eta / sqrt(t)`` (tuned: ``D / (sqrt(2) G)``)."""
    T = _horizon(T)
    eta = diameter / (math.sqrt(2.0) * grad_norm) if eta is None else eta
    return np.sqrt(T) * (diameter ** 2 / (2.0 * eta) + eta * grad_norm ** 2)


def online_to_batch_gap(regret_bound, T):
    """``E[F(x_bar_T)] - F* <= E[R_T] / T`` for i.i.d. losses with mean ``F``."""
    return np.asarray(regret_bound, dtype=np.float64) / _horizon(T)
