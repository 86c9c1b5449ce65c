"""Stationarity measures for non-convex, non-smooth objectives (docs/theory.md §4).

Goldstein's ``delta``-subdifferential ``d_delta f(x) = conv{grad f(y) : ||y - x||_p <= delta}``;
the ``(delta, q)`` stationarity of ``x`` is ``min{||v||_q : v in d_delta f(x)}``. Two estimates:

- ``goldstein_sampled``: gradients at ``x`` and at ``K`` points drawn uniformly in the ``l_p`` ball,
  then the min-norm point of their convex hull, a QP (``q = 2``) or an LP (``q = 1``) solved with
  cvxpy. Sampling only shrinks the hull, so it over-estimates the true measure.
- the trajectory window, computed online in the run loop (``minimize(..., window=(delta, p, q))``):
  the ``l_q`` norm of the average (sub)gradient over the current window of iterates, a window
  being restarted whenever an iterate leaves the ``l_p`` ball of radius ``delta / 2`` around the
  window's first iterate. All iterates of a window are then within ``delta`` of each other, so
  the average lies in ``d_delta f`` of the last one (for exact gradients; stochastic ones add
  their noise, averaged over the window).
"""
from dataclasses import dataclass

import numpy as np

from theory_bench.engine.window import norm


@dataclass
class Stationarity:
    """A measured ``(delta, q)`` stationarity and what it was computed from."""
    value: float
    delta: float
    p: float
    q: float
    K: int
    weights: np.ndarray          # the convex combination of the sampled gradients that attains it

    def __float__(self):
        return self.value


def _norm_code(name, v, allowed):
    v = float(v)
    if v not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {v!r}")
    return v


def sample_ball(x, delta, K, p, rng):
    """``K`` points uniform in the ``l_p`` ball (``p`` in {2, inf}) of radius ``delta`` around ``x``."""
    d = x.shape[0]
    if p == np.inf:
        return x + delta * rng.uniform(-1.0, 1.0, size=(K, d))
    u = rng.normal(size=(K, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return x + delta * u * rng.random((K, 1)) ** (1.0 / d)


def min_norm_in_hull(G, q):
    """``min ||G^T lam||_q`` over the simplex; returns ``(value, lam)``. QP for q=2, LP for q=1.

    The value is our own norm of ``G^T lam`` at the solver's (renormalised) weights: any weights
    of the simplex give an upper bound of the minimum, so an ``optimal_inaccurate`` solve is kept
    (it can only over-estimate, like the sampling itself); any other status is an error. The
    gradients are scaled to unit max-norm first, which keeps the QP well conditioned.
    """
    import cvxpy as cp
    scale = float(np.abs(G).max())
    if scale == 0.0:
        return 0.0, np.full(G.shape[0], 1.0 / G.shape[0])
    lam = cp.Variable(G.shape[0], nonneg=True)
    v = (G / scale).T @ lam
    objective = cp.norm1(v) if q == 1.0 else cp.sum_squares(v)
    prob = cp.Problem(cp.Minimize(objective), [cp.sum(lam) == 1])
    prob.solve(solver="CLARABEL")
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"CLARABEL returned status {prob.status!r} for the min-norm point of "
                           f"{G.shape[0]} gradients in dimension {G.shape[1]}")
    w = np.clip(np.asarray(lam.value, dtype=np.float64), 0.0, None)
    w /= w.sum()
    return float(norm(G.T @ w, q)), w


def goldstein_sampled(grad, x, delta, *, K=64, p=2.0, q=2.0, seed=0):
    """The sampled ``(delta, q)`` stationarity of ``x`` in the ``l_p`` ball; ``grad(y) -> ndarray``."""
    p = _norm_code("p", p, (2.0, np.inf))
    q = _norm_code("q", q, (1.0, 2.0))
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    if K < 0:
        raise ValueError(f"K must be >= 0, got {K!r}")
    x = np.asarray(x, dtype=np.float64)
    points = np.vstack([x[None, :], sample_ball(x, delta, K, p, np.random.default_rng(seed))])
    G = np.array([np.asarray(grad(y), dtype=np.float64) for y in points])
    value, lam = min_norm_in_hull(G, q)
    return Stationarity(value=value, delta=float(delta), p=p, q=q, K=int(K), weights=lam)
