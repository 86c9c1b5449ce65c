"""Hinge loss (linear SVM without regulariser) on a box: ``f(x) = mean_j max(0, 1 - y_j <a_j, x>)``.

Convex, non-smooth (kinks at margin 1). Subgradient per sample: ``-y_j a_j`` when the margin
``y_j <a_j, x>`` is below 1, else 0. ``L_i = max_j |a_ji|``. An LP on a box:
``min (1/n) sum s_j`` over ``s >= 0``, ``s_j >= 1 - y_j <a_j, x>``, ``lo <= x <= hi``.
"""
import numpy as np
import scipy.sparse as sp
from numba import njit

from theory_bench.problems import datasets
from theory_bench.problems.noise import BOUND, add_skewed_noise
from theory_bench.problems.optimum import solve_cvxpy
from theory_bench.problems.problem import Problem, box_arrays, nonnegative, positive_int


@njit(cache=True)
def hinge_loss(x, A, y, batch, skew):
    return np.maximum(0.0, 1.0 - y * (A @ x)).mean()


@njit(cache=True)
def hinge_full_grad(x, A, y, batch, skew):
    active = (y * (A @ x) < 1.0).astype(np.float64)
    return -(active * y) @ A / A.shape[0]


@njit(cache=True)
def hinge_grad(x, rng, A, y, batch, skew):
    """The subgradient of the mean hinge loss over ``batch`` samples drawn uniformly."""
    g = np.zeros(x.shape[0])
    for _ in range(batch):
        j = rng.integers(0, A.shape[0])
        if y[j] * (A[j] @ x) < 1.0:
            g -= y[j] * A[j]
    g /= batch
    add_skewed_noise(g, rng, skew)
    return g


def weighted_lp(A, y, w, lo, hi):
    """``min sum_j w_j max(0, 1 - y_j <a_j, x>)`` on the box as ``(c, A_ub, b_ub, bounds, d)``."""
    keep = w > 0
    A, y, w = A[keep], y[keep], w[keep]
    n, d = A.shape
    c = np.concatenate([np.zeros(d), w])
    A_ub = sp.hstack([sp.csr_matrix(-y[:, None] * A), -sp.identity(n)]).tocsr()
    bounds = [(l, h) for l, h in zip(lo, hi)] + [(0, None)] * n
    return c, A_ub, -np.ones(n), bounds, d


def make_hinge(n=1000, d=20, seed=0, data=None, flip=0.1, radius=1.0, batch=1, skew=0.0, name="hinge"):
    """Synthetic (``n``, ``d``, ``seed``, label noise ``flip``) or real (``data="breast_cancer"``)."""
    if data is None:
        A, y = datasets.classification(n, d, seed, flip)
    elif data == "breast_cancer":
        A, y = datasets.load_real(data)
        y = 2.0 * y - 1.0
    else:
        raise ValueError(f"unknown data set {data!r} for hinge; use data='breast_cancer' or data=None")
    batch = positive_int("batch", batch)
    skew = nonnegative("skew", skew)
    n, d = A.shape
    lo, hi = box_arrays(-radius, radius, d)
    args = (A, y, batch, skew)

    def build():
        import cvxpy as cp
        x = cp.Variable(d)
        obj = cp.sum(cp.pos(1 - cp.multiply(y, A @ x))) / n
        return x, cp.Problem(cp.Minimize(obj), [x >= lo, x <= hi])

    params = dict(n=n, d=d, seed=seed, data=data, flip=flip, radius=radius, batch=batch, skew=skew)
    return Problem(
        name=name, oracle=hinge_grad, full_oracle=hinge_full_grad, loss_fn=hinge_loss, args=args,
        lo=lo, hi=hi, L=np.abs(A).max(axis=0) + BOUND * skew, x0=np.zeros(d), convex=True, smooth=False,
        params=params, solve=lambda solver: solve_cvxpy(f"{name}{params}", build, solver),
        lr=float(2 * radius / np.sqrt(2)), extra={"lp": lambda: weighted_lp(A, y, np.full(n, 1.0 / n), lo, hi)},
        notes="linear SVM loss; one-sample (or minibatch) subgradients")
