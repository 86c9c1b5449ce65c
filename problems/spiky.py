"""Heavy-tailed, skewed gradient noise: rare positive spikes (docs/theory.md §3.5).

``zeta = A (B - p)``, ``B ~ Bernoulli(p)``: zero mean, ``-A p`` between spikes and ``A (1 - p)`` at a
spike. Momentum averages it over a window of ``W ~ 1 / (1 - beta)`` steps, which with ``p W`` small
usually holds no spike: the sign of the average then points the wrong way (§3.5).

- ``spiky_linear`` (``d``, ``mu``, ``p``, ``A``): ``f(x) = mu sum_i x_i`` on ``[-1, 1]^d`` seen through
  ``g = mu + zeta`` (``0 < mu < A p``): ``x* = -1``, the wrong end ``+1``. It is ``skewed_linear``
  with ``q = p`` and the two values ``mu + A (1 - p)`` and ``mu - A p``, also an online adversary.
- ``spiky_hinge`` and ``spiky_l1``: the hinge and L1 problems (synthetic or real data) with ``zeta``
  added to every sample's subgradient; their optimum is the noiseless problem's (the noise has mean 0).
"""
import dataclasses

from numba import njit

from theory_bench.analysis.spike_drift import check_spikes
from theory_bench.problems.counterexamples import make_skewed_linear
from theory_bench.problems.hinge import hinge_full_grad, hinge_grad, hinge_loss, make_hinge
from theory_bench.problems.l1 import l1_full_grad, l1_grad, l1_loss, make_l1


def make_spiky_linear(d=10, mu=0.05, p=0.01, A=10.0, name="spiky_linear"):
    """``p = 1/2`` is symmetric noise, ``mu +- A / 2`` (the variant of the same variance)."""
    mu, p, A = check_spikes(mu, p, A, allow_half=True)
    low = A * p - mu                                  # |g| between spikes
    base = make_skewed_linear(d, q=p, A=(mu + A * (1.0 - p)) / low, scale=low, name=name)
    return dataclasses.replace(
        base, params=dict(d=base.params["d"], mu=mu, p=p, A=A),
        notes=f"g = mu + A (B - p): {mu + A * (1 - p):.4g} w.p. {p:g}, {mu - A * p:.4g} otherwise; x* = -1; "
              "momentum's window usually holds no spike (docs/theory.md §3.5)",
        extra={**base.extra, "mu": mu, "p": p, "A": A, "signsgd_gap": 2 * mu * base.params["d"]})


@njit(cache=True)
def add_spikes(g, rng, p, A):
    """``g += A (B - p)`` coordinate-wise, ``B ~ Bernoulli(p)`` i.i.d."""
    for i in range(g.shape[0]):
        g[i] += A * ((1.0 if rng.random() < p else 0.0) - p)


@njit(cache=True)
def spiky_hinge_grad(x, rng, X, y, batch, p, A):
    g = hinge_grad(x, rng, X, y, batch, 0.0)
    add_spikes(g, rng, p, A)
    return g


@njit(cache=True)
def spiky_hinge_loss(x, X, y, batch, p, A):
    return hinge_loss(x, X, y, batch, 0.0)


@njit(cache=True)
def spiky_hinge_full_grad(x, X, y, batch, p, A):
    return hinge_full_grad(x, X, y, batch, 0.0)


@njit(cache=True)
def spiky_l1_grad(x, rng, X, b, batch, p, A):
    g = l1_grad(x, rng, X, b, batch, 0.0)
    add_spikes(g, rng, p, A)
    return g


@njit(cache=True)
def spiky_l1_loss(x, X, b, batch, p, A):
    return l1_loss(x, X, b, batch, 0.0)


@njit(cache=True)
def spiky_l1_full_grad(x, X, b, batch, p, A):
    return l1_full_grad(x, X, b, batch, 0.0)


def _with_spikes(base, p, A, oracles, what):
    if not 0 < p < 0.5 or not A > 0:
        raise ValueError(f"spikes need 0 < p < 1/2 and A > 0, got p={p!r}, A={A!r}")
    grad, loss, full = oracles
    params = {k: v for k, v in base.params.items() if k != "skew"}
    return dataclasses.replace(
        base, oracle=grad, loss_fn=loss, full_oracle=full, args=(*base.args[:3], float(p), float(A)),
        L=base.L + A * (1.0 - p), params={**params, "p": float(p), "A": float(A)},
        notes=f"{what} with zero-mean spikes A (B - p) added to every subgradient (docs/theory.md §3.5)")


def make_spiky_hinge(n=1000, d=20, seed=0, data=None, flip=0.1, radius=1.0, batch=1, p=0.01, A=10.0,
                     name="spiky_hinge"):
    base = make_hinge(n=n, d=d, seed=seed, data=data, flip=flip, radius=radius, batch=batch, name=name)
    return _with_spikes(base, p, A, (spiky_hinge_grad, spiky_hinge_loss, spiky_hinge_full_grad), "hinge loss")


def make_spiky_l1(n=1000, d=20, seed=0, data=None, tail_df=1.5, radius=None, batch=1, p=0.01, A=10.0,
                  name="spiky_l1"):
    base = make_l1(n=n, d=d, seed=seed, data=data, tail_df=tail_df, radius=radius, batch=batch, name=name)
    return _with_spikes(base, p, A, (spiky_l1_grad, spiky_l1_loss, spiky_l1_full_grad), "least absolute deviations")
