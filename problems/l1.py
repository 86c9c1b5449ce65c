"""Least absolute deviations on a box: ``f(x) = mean_j |<a_j, x> - b_j|``.

Convex, non-smooth. Subgradient per sample: ``a_j sign(<a_j, x> - b_j)`` (0 at a kink, a valid
choice). ``L_i = max_j |a_ji|``. An LP: ``min (1/n) sum t_j`` over ``t_j >= +-(<a_j, x> - b_j)``.
The real set is scikit-learn's diabetes data (standardised features plus an intercept column,
standardised target): with the box inactive its optimum is the median regression that
``sklearn.linear_model.QuantileRegressor(quantile=0.5, alpha=0)`` computes.
"""
import numpy as np
import scipy.sparse as sp
from numba import njit

from theory_bench.problems import datasets
from theory_bench.problems.noise import BOUND, add_skewed_noise
from theory_bench.problems.optimum import solve_cvxpy
from theory_bench.problems.problem import Problem, box_arrays, nonnegative, positive_int


@njit(cache=True)
def l1_loss(x, A, b, batch, skew):
    return np.abs(A @ x - b).mean()


@njit(cache=True)
def l1_full_grad(x, A, b, batch, skew):
    return np.sign(A @ x - b) @ A / A.shape[0]


@njit(cache=True)
def l1_grad(x, rng, A, b, batch, skew):
    g = np.zeros(x.shape[0])
    for _ in range(batch):
        j = rng.integers(0, A.shape[0])
        g += np.sign(A[j] @ x - b[j]) * A[j]
    g /= batch
    add_skewed_noise(g, rng, skew)
    return g


def weighted_lp(A, b, w, lo, hi):
    """``min sum_j w_j |<a_j, x> - b_j|`` on the box as ``(c, A_ub, b_ub, bounds, d)``."""
    keep = w > 0
    A, b, w = A[keep], b[keep], w[keep]
    n, d = A.shape
    c = np.concatenate([np.zeros(d), w])
    I = sp.identity(n)
    A_ub = sp.vstack([sp.hstack([sp.csr_matrix(A), -I]), sp.hstack([sp.csr_matrix(-A), -I])]).tocsr()
    bounds = [(l, h) for l, h in zip(lo, hi)] + [(0, None)] * n
    return c, A_ub, np.concatenate([b, -b]), bounds, d


def make_l1(n=1000, d=20, seed=0, data=None, tail_df=1.5, radius=None, batch=1, skew=0.0, name="l1"):
    """Synthetic (Student-t noise with ``tail_df`` degrees of freedom) or ``data="diabetes"``."""
    if data is None:
        A, b = datasets.regression(n, d, seed, tail_df)
        radius = 1.0 if radius is None else radius
    elif data == "diabetes":
        A, b = datasets.load_real(data)
        b = (b - b.mean()) / b.std()
        radius = 5.0 if radius is None else radius
    else:
        raise ValueError(f"unknown data set {data!r} for l1; use data='diabetes' or data=None")
    batch = positive_int("batch", batch)
    skew = nonnegative("skew", skew)
    n, d = A.shape
    lo, hi = box_arrays(-radius, radius, d)

    def build():
        import cvxpy as cp
        x = cp.Variable(d)
        return x, cp.Problem(cp.Minimize(cp.sum(cp.abs(A @ x - b)) / n), [x >= lo, x <= hi])

    params = dict(n=n, d=d, seed=seed, data=data, tail_df=tail_df, radius=radius, batch=batch, skew=skew)
    return Problem(
        name=name, oracle=l1_grad, full_oracle=l1_full_grad, loss_fn=l1_loss, args=(A, b, batch, skew),
        lo=lo, hi=hi, L=np.abs(A).max(axis=0) + BOUND * skew, x0=np.zeros(d), convex=True, smooth=False,
        params=params, solve=lambda solver: solve_cvxpy(f"{name}{params}", build, solver),
        lr=float(2 * radius / np.sqrt(2)), extra={"lp": lambda: weighted_lp(A, b, np.full(n, 1.0 / n), lo, hi)},
        notes="least absolute deviations; heavy-tailed noise")
