"""The stationary drift of sign methods under rare positive spikes (docs/theory.md §3.5, *derived here*).

The gradient noise is zero-mean and made of rare spikes: ``g = mu + A (B - p)`` with
``B ~ Bernoulli(p)``, ``0 < mu < A p`` and ``p < 1/2``, so between spikes ``g = mu - A p < 0`` while
``E[g] = mu > 0``. The *drift* is ``E[s]`` of the stationary update direction (``x <- x - lr s``;
``+`` is downhill, the right way):

- SignSGD: ``E[sign g] = 2p - 1``, the wrong way for every ``p < 1/2``;
- StoSignSGD (theory form, after the first spike): ``G = mu + A (1 - p)`` and ``E[s] = mu / G``
  exactly (§2.1), the right way at every setting, slowly;
- Signum(``beta``): ``sign(m)`` with ``m = mu - A p + A S``, ``S = (1 - b) sum_k b^k B_k``, so
  ``E[s] = 1 - 2 P(S < theta)``, ``theta = p - mu / A``;
- Lion(``beta1, beta2``): ``sign(c)``, ``c = mu - A p + A ((1 - b1) B_0 + b1 (1 - b2) sum_k b2^k B_(k+1))``.

``P(S < theta)`` has no closed form for a finite window; ``drift`` estimates it by sampling the
stationary sum exactly (spike positions drawn as geometric gaps; a draw is decided as soon as it
passes ``theta`` or as soon as no later spikes could lift it there), with a stated accuracy:
``|drift - E[s]| <= 1e-3`` with probability ``1 - 1e-6`` (Hoeffding) at the default number of
draws, deterministic for a given ``seed``.

In the limit of long windows (``W = 1 / (1 - b) -> inf`` with ``u = p W`` fixed) ``W S`` follows the
generalized Dickman distribution of parameter ``u``, whose CDF on ``[0, 1]`` is
``e^(-gamma u) x^u / Gamma(1 + u)`` (``dickman_cdf``): Signum goes the wrong way exactly when that
distribution's median lies below ``u (1 - mu / (A p))`` (``signum_drift_limit``).
"""
import math

import numpy as np
from numba import njit
from scipy.special import gammaln

METHODS = ("signsgd", "signum", "lion", "stosignsgd")
ACCURACY = 1e-3          # the stated accuracy of drift (absolute), at FAIL_PROB
FAIL_PROB = 1e-6
EULER_GAMMA = 0.5772156649015329


def check_spikes(mu, p, A, allow_half=False):
    """The spiky noise's parameters: ``0 < p < 1/2`` (``<= 1/2`` with ``allow_half``: symmetric noise),
    ``A > 0``, ``0 < mu < A p`` (else no spike pattern)."""
    for name, v in (("mu", mu), ("p", p), ("A", A)):
        if not isinstance(v, (int, float, np.floating)) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if not (0 < p < 0.5 or (allow_half and p == 0.5)):
        raise ValueError(f"p must lie in (0, 1/2{']' if allow_half else ')'} (a rare spike), got {p!r}")
    if not A > 0:
        raise ValueError(f"A must be > 0 (the spike's height), got {A!r}")
    if not 0 < mu < A * p:
        raise ValueError(f"mu must lie in (0, A p) = (0, {A * p:g}) so that the gradient between spikes, mu - A p, "
                         f"is negative while its mean mu is positive; got mu={mu!r}")
    return float(mu), float(p), float(A)


def _beta(name, v):
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {v!r}")
    return float(v)


@njit(cache=True)
def _below(theta, w0, c1, rho, p, n, seed):
    """How many of ``n`` draws of ``S = w0 B_0 + c1 sum_k rho^k B_(k+1)`` lie below ``theta``. Exact:
    a draw stops as soon as it passes ``theta`` (the terms are >= 0) or as soon as every later term
    being a spike, ``c1 rho^k / (1 - rho)``, could not lift it there."""
    np.random.seed(seed)
    log_q = math.log1p(-p)
    below = 0
    for _ in range(n):
        s = w0 if np.random.random() < p else 0.0
        if s >= theta:
            continue
        k = -1
        while True:
            k += 1 + int(math.floor(math.log(1.0 - np.random.random()) / log_q))   # the next spike
            if rho > 0.0:
                term = c1 * rho ** k
                rest = term / (1.0 - rho)
            else:
                term = c1 if k == 0 else 0.0
                rest = term
            if s + rest < theta:                   # not even a spike at every later step reaches theta
                below += 1
                break
            s += term
            if s >= theta:
                break
    return below


def _draws_for(accuracy, fail_prob):
    """Draws so that Hoeffding's bound on ``1 - 2 P_hat`` is ``accuracy`` at ``fail_prob``."""
    return int(math.ceil(2.0 * math.log(2.0 / fail_prob) / accuracy ** 2))


def drift_with_error(method, mu, p, A, *, beta=0.9, beta1=0.9, beta2=0.99, n=None, seed=0):
    """``(E[s], error)``: the stationary drift and a bound on its error that holds with probability
    ``1 - FAIL_PROB`` (0 where the drift is exact)."""
    mu, p, A = check_spikes(mu, p, A)
    method = str(method).lower()
    if method == "signsgd":
        return 2.0 * p - 1.0, 0.0
    if method == "stosignsgd":
        return mu / (mu + A * (1.0 - p)), 0.0
    if method == "signum":
        b = _beta("beta", beta)
        w0, c1, rho = 1.0 - b, (1.0 - b) * b, b
    elif method == "lion":
        b1, b2 = _beta("beta1", beta1), _beta("beta2", beta2)
        w0, c1, rho = 1.0 - b1, b1 * (1.0 - b2), b2
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = _draws_for(ACCURACY, FAIL_PROB) if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    theta = p - mu / A
    below = _below(theta, w0, c1, rho, p, n, int(seed) % 2 ** 32)
    return 1.0 - 2.0 * below / n, 2.0 * math.sqrt(math.log(2.0 / FAIL_PROB) / (2.0 * n))


def drift(method, mu, p, A, **hyper):
    """The stationary ``E[s]`` of ``method`` (``"signsgd"``, ``"signum"`` with ``beta``, ``"lion"`` with
    ``beta1, beta2``, ``"stosignsgd"``, theory form) under the noise ``g = mu + A (B - p)``; ``+`` is
    downhill. Exact for SignSGD and StoSignSGD; for Signum and Lion within ``ACCURACY = 1e-3``
    (absolute) with probability ``1 - 1e-6`` (``drift_with_error`` gives the bound)."""
    return drift_with_error(method, mu, p, A, **hyper)[0]


def dickman_cdf(x, u):
    """``P(X <= x)`` for the generalized Dickman distribution of parameter ``u`` on ``0 <= x <= 1``:
    ``e^(-gamma u) x^u / Gamma(1 + u)`` (the law of ``sum_i e^(-t_i)`` over a Poisson process of
    rate ``u`` on ``t >= 0``: ``W S`` in the long-window limit)."""
    x = np.asarray(x, dtype=np.float64)
    if np.any((x < 0) | (x > 1)):
        raise ValueError("dickman_cdf has this closed form on [0, 1] only")
    return np.exp(-EULER_GAMMA * u + u * np.log(np.maximum(x, 1e-300)) - gammaln(1.0 + u)) * (x > 0)


def signum_drift_limit(mu, p, A, beta):
    """Signum's drift in the long-window limit, ``1 - 2 P(X < u (1 - mu / (A p)))`` with ``u = p / (1 - b)``,
    where that point lies in ``[0, 1]`` (``None`` beyond, where the Dickman CDF has no closed form)."""
    mu, p, A = check_spikes(mu, p, A)
    u = p / (1.0 - _beta("beta", beta))
    x = u * (1.0 - mu / (A * p))
    return None if x > 1 else float(1.0 - 2.0 * dickman_cdf(x, u))


def signum_boundary_limit(u):
    """The signal fraction ``r* = mu / (A p)`` below which Signum goes the wrong way, in the long-window
    limit: ``1 - median(X_u) / u`` with the median of the generalized Dickman law, where it is <= 1."""
    median = math.exp((math.log(0.5) + gammaln(1.0 + u) + EULER_GAMMA * u) / u)
    return None if median > 1 else 1.0 - median / u
