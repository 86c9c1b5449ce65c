"""Nesterov's worst case for non-smooth convex methods (docs/theory.md §3.4; Nesterov 2004, 3.2.1).

``f(x) = gamma max_{i <= k+1} x_i + (mu/2) ||x||^2`` on ``[-R, R]^d`` from ``x0 = 0``, with the
oracle ``gamma e_i + mu x`` for the smallest maximal index ``i``, ``gamma = M sqrt(k+1)/(1+sqrt(k+1))``
and ``mu = M/((1+sqrt(k+1)) R)``. Optimum: ``x*_i = -gamma/(mu (k+1))`` for ``i <= k+1`` (else 0),
``f* = -gamma^2/(2 mu (k+1))``. Any method whose iterates stay in the span of past subgradients
has ``f(x_k) - f* >= M R / (2 (1 + sqrt(k+1)))`` for ``k <= d - 1``: ``lower_bound(k)``.
"""
from functools import partial

import numpy as np
from numba import njit

from theory_bench.problems.optimum import solve_cvxpy
from theory_bench.problems.problem import Problem, box_arrays, positive_int


@njit(cache=True)
def nesterov_loss(x, gamma, mu, k):
    return gamma * x[: k + 1].max() + 0.5 * mu * (x @ x)


@njit(cache=True)
def nesterov_full_grad(x, gamma, mu, k):
    g = mu * x
    g[np.argmax(x[: k + 1])] += gamma
    return g


@njit(cache=True)
def nesterov_grad(x, rng, gamma, mu, k):
    g = mu * x
    g[np.argmax(x[: k + 1])] += gamma
    return g


def lower_bound(k, M=1.0, R=1.0):
    """``M R / (2 (1 + sqrt(k+1)))``: the gap no span-respecting method beats at step ``k``."""
    return M * R / (2.0 * (1.0 + np.sqrt(k + 1.0)))


GAP_FRACTION = 0.5          # assert_converges on Nesterov's function asks to halve the initial gap


def halved_gap_tolerance(d, k, M, R, T):
    """``assert_converges``' default: half the gap ``f(x0) - f* = M R / (2 (1 + sqrt(k+1)))``,
    which no method in the span of its subgradients reduces in its first ``k`` steps."""
    gap0 = float(lower_bound(k, M, R))
    return GAP_FRACTION * gap0, (
        f"{GAP_FRACTION:g} x the initial gap f(x0) - f* = M R / (2 (1 + sqrt(k+1))) = {gap0:.4g} with k = {k}: no "
        f"method that moves only along past subgradients reduces it in its first {k} steps, so T must exceed "
        f"{k} (docs/theory.md §3.4)")


def make_nesterov(d=50, k=None, M=1.0, R=1.0, name="nesterov"):
    d = positive_int("d", d)
    k = d - 1 if k is None else k
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= d - 1:
        raise ValueError(f"k must be an int in [0, d-1] = [0, {d - 1}], got {k!r}")
    s = np.sqrt(k + 1.0)
    gamma, mu = M * s / (1 + s), M / ((1 + s) * R)
    lo, hi = box_arrays(-R, R, d)
    x_star = np.zeros(d)
    x_star[: k + 1] = -gamma / (mu * (k + 1))
    f_star = -gamma ** 2 / (2 * mu * (k + 1))

    def solve(solver):
        def build():
            import cvxpy as cp
            x = cp.Variable(d)
            obj = gamma * cp.max(x[: k + 1]) + 0.5 * mu * cp.sum_squares(x)
            return x, cp.Problem(cp.Minimize(obj), [x >= lo, x <= hi])
        return solve_cvxpy(f"{name}(d={d}, k={k})", build, solver)

    return Problem(
        name=name, oracle=nesterov_grad, full_oracle=nesterov_full_grad, loss_fn=nesterov_loss,
        args=(gamma, mu, int(k)), lo=lo, hi=hi, L=np.full(d, gamma + mu * R), x0=np.zeros(d),
        convex=True, smooth=False, params=dict(d=d, k=int(k), M=M, R=R), solve=solve, lr=R,
        extra={"x_star": x_star, "f_star": f_star, "lower_bound": lambda t: lower_bound(t, M, R)},
        tolerance=partial(halved_gap_tolerance, d, int(k), M, R),
        notes="the span argument binds SignSGD and StoSignSGD too")
