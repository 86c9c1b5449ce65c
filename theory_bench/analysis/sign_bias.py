"""Is a sign step unbiased? Two statistical checks of a converted optimizer (docs/theory.md §2.1, §2.2).

Both take one step of ``sign_convert(base, ...)`` from a fixed state many times, with independent
noise keys, at ``x = 0`` and ``eta = 1`` so that the step is exactly ``-s`` (``s`` the sign output,
times ``B`` when scaled), and compare it with the base's own direction ``u`` from the base's kernel
on the same gradient.

- ``conditional_step``: the gradient is fixed; the lemma says ``E[s | u] = u / B`` (``u`` when
  scaled) with ``B`` the envelope of this step. Every coordinate's mean must lie within its
  Bernstein radius (exact variance ``1 - (u/B)^2``, union bound over coordinates at ``fail_prob``).
  Gaussian noise, no noise and a constant envelope below ``|u|`` miss; the current ``|u|`` and the
  norms pass (they are unbiased for ``u / B`` with their own ``B``).
- ``marginal_bias``: the gradient is drawn afresh each time from a skewed distribution (``A`` with
  probability ``q``, else ``-1``: mean ``qA - (1 - q) > 0`` while the sign of a draw is mostly
  negative). Unbiasedness in the sense the convergence proof uses is ``E[s] = E[u] / B`` with ``B``
  known before the draw; the check compares ``E[s]`` with ``E[u] / E[B]`` (the same thing when ``B``
  does not depend on the draw) and reports the relative bias with a ``1 - fail_prob`` interval.
  The running max, the decayed max and a constant ``C >= |u|`` pass; no noise, Gaussian noise and
  the current ``|u|`` (plain sign, ``E[sign(g)] = 2q - 1 < 0``) fail, and the norm envelopes show the
  bias of dividing by a norm that moves with the draw (it shrinks as ``d`` grows).
- ``drift(method, mu, p, A, **hyper)``: the stationary ``E[s]`` of SignSGD, Signum, Lion and
  StoSignSGD under rare positive spikes (``theory_bench.analysis.spike_drift``, docs/theory.md §3.5).
"""
import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.stats import norm

from theory_bench.analysis.concentration import bernstein_radius
from theory_bench.analysis.spike_drift import drift  # noqa: F401 - the stationary drift under rare spikes (§3.5)
from theory_bench.engine.kernel_argument import KernelArgument


@dataclass
class StepDraws:
    s: np.ndarray   # (n, d) sign outputs
    u: np.ndarray   # (n, d) the base's directions
    B: np.ndarray   # (n, d) the envelopes used


def step_draws(opt, gradients, *, warmup=(), seed=0):
    """One step of ``opt`` (a ``sign_convert`` optimizer) per row of ``gradients`` (``(n, d)``), each
    from the state after the ``warmup`` gradients and with its own noise key."""
    gradients = np.atleast_2d(np.asarray(gradients, dtype=np.float64))
    n, d = gradients.shape
    base, h, hb = opt.base, opt.hyper, opt.base.hyper
    x0, S0 = np.zeros(d), opt.init_state(np.zeros(d))
    keys = np.random.SeedSequence(seed).generate_state(n + 1, dtype=np.uint64)
    for t, g in enumerate(warmup, start=1):
        xw = np.zeros(d)
        opt.kernel(xw, np.asarray(g, dtype=np.float64), S0, h, 1.0, t, keys[-1])
    t = len(warmup) + 1
    out = StepDraws(np.empty((n, d)), np.empty((n, d)), np.empty((n, d)))
    _DRAWS.call(opt.kernel, base.kernel, np.ascontiguousarray(gradients), x0, S0, h, hb, t, keys, out.s, out.u, out.B)
    return out


@njit(cache=True)
def _draws(kernel, base_kernel, gradients, x0, S0, h, hb, t, keys, s, u, B):
    """Row ``k``: one step of ``kernel`` and of ``base_kernel`` from ``(x0, S0)`` with the key ``keys[k]``."""
    for k in range(gradients.shape[0]):
        x, S = x0.copy(), S0.copy()
        kernel(x, gradients[k], S, h, 1.0, t, keys[k])
        xb, Sb = x0.copy(), S0[:-1].copy()
        base_kernel(xb, gradients[k], Sb, hb, 1.0, t, keys[k])
        s[k], u[k], B[k] = -x, -xb, S[-1]


_DRAWS = KernelArgument(_draws, kernels=(0, 1))   # compiled once for every pair of kernels


@dataclass
class ConditionalResult:
    z: float              # max over coordinates of |mean - expected| / radius; <= 1 passes
    mean: np.ndarray
    expected: np.ndarray
    radius: np.ndarray


def conditional_step(opt, g, *, warmup=(), n=20_000, fail_prob=1e-6, seed=0):
    """Check ``E[s | u] = u / B`` (``u`` when scaled) coordinate by coordinate at the gradient ``g``."""
    g = np.asarray(g, dtype=np.float64)
    dr = step_draws(opt, np.broadcast_to(g, (n, g.size)), warmup=warmup, seed=seed)
    u, B = dr.u[0], dr.B[0]
    u_over_B = np.divide(u, B, out=np.zeros_like(u), where=B > 0)
    ratio = np.clip(u_over_B, -1, 1)
    scale = B if opt.scaled else np.ones_like(B)
    expected = u if opt.scaled else u_over_B
    var = scale ** 2 * (1 - ratio ** 2)
    radius = bernstein_radius(var, n, fail_prob / g.size, 2 * scale) + 1e-12
    mean = dr.s.mean(axis=0)
    return ConditionalResult(float(np.max(np.abs(mean - expected) / radius)), mean, expected, radius)


def skewed_gradients(n, d, q=0.25, A=4.0, seed=0):
    """``n`` draws of ``d`` i.i.d. coordinates: ``A`` w.p. ``q``, else ``-1`` (docs/theory.md §3.3.2)."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random((n, d)) < q, A, -1.0)


@dataclass
class MarginalResult:
    bias: float           # (E[s] - E[u]/E[B]) / (E[u]/E[B]): relative bias of the mean step
    lo: float
    hi: float             # a 1 - fail_prob interval (delta method over the draws)
    mean_step: float
    target: float


def marginal_bias(opt, *, d=64, n=40_000, q=0.25, A=4.0, L=8.0, fail_prob=1e-6, seed=0):
    """Relative bias of ``E[s]`` against ``E[u] / E[B]`` (against ``E[u]`` when scaled) under skewed
    gradients; one warm-up step with every coordinate at ``L`` first fills the running-max
    envelopes (``L >= A`` bounds every draw). Coordinates are pooled per draw; the interval is the
    delta method's over the ``n`` independent draws (a normal approximation, fine at ``n >= 10^4``)."""
    dr = step_draws(opt, skewed_gradients(n, d, q, A, seed), warmup=[np.full(d, L)], seed=seed)
    Y, U, B = dr.s.mean(axis=1), dr.u.mean(axis=1), dr.B.mean(axis=1)   # per draw, pooled over coordinates
    mY, mU, mB = Y.mean(), U.mean(), B.mean()
    if opt.scaled:       # B sign(u + B n) estimates u itself
        target, grad = mU, np.array([1.0, -1.0, 0.0])
    else:                # theta = mY - mU / mB; its gradient in (mY, mU, mB) gives the delta-method variance
        target, grad = mU / mB, np.array([1.0, -1.0 / mB, mU / mB ** 2])
    se = math.sqrt(max(grad @ (np.cov(np.vstack([Y, U, B])) / n) @ grad, 0.0))
    z = norm.isf(fail_prob / 2)
    theta = mY - target
    return MarginalResult(theta / target, (theta - z * se) / target, (theta + z * se) / target, float(mY), float(target))
