"""Maximum of affine functions on a box: ``f(x) = max_j (<a_j, x> + b_j)``, ``j = 1..m``.

Convex, non-smooth. Subgradient: ``a_j`` for the smallest maximising ``j``. The oracle is
deterministic (its "stochastic" form is the exact subgradient). ``L_i = max_j |a_ji|``.
An LP: ``min s`` over ``s >= <a_j, x> + b_j``, ``lo <= x <= hi``.
"""
import numpy as np
from numba import njit

from theory_bench.problems.optimum import solve_cvxpy
from theory_bench.problems.problem import Problem, box_arrays, positive_int


@njit(cache=True)
def max_affine_loss(x, A, b):
    return (A @ x + b).max()


@njit(cache=True)
def max_affine_full_grad(x, A, b):
    return A[np.argmax(A @ x + b)].copy()


@njit(cache=True)
def max_affine_grad(x, rng, A, b):
    return A[np.argmax(A @ x + b)].copy()


def make_max_affine(m=50, d=20, seed=0, radius=1.0, name="max_affine"):
    m, d = positive_int("m", m), positive_int("d", d)
    rng = np.random.default_rng(seed)
    A, b = rng.normal(size=(m, d)), rng.normal(size=m)
    lo, hi = box_arrays(-radius, radius, d)

    def build():
        import cvxpy as cp
        x = cp.Variable(d)
        return x, cp.Problem(cp.Minimize(cp.max(A @ x + b)), [x >= lo, x <= hi])

    def lp():
        c = np.zeros(d + 1)
        c[-1] = 1.0
        A_ub = np.hstack([A, -np.ones((m, 1))])
        bounds = [(l, h) for l, h in zip(lo, hi)] + [(None, None)]
        return c, A_ub, -b, bounds, d

    params = dict(m=m, d=d, seed=seed, radius=radius)
    return Problem(
        name=name, oracle=max_affine_grad, full_oracle=max_affine_full_grad, loss_fn=max_affine_loss,
        args=(A, b), lo=lo, hi=hi, L=np.abs(A).max(axis=0), x0=np.zeros(d), convex=True, smooth=False,
        params=params, solve=lambda solver: solve_cvxpy(f"{name}{params}", build, solver),
        lr=float(2 * radius / np.sqrt(2)), extra={"lp": lp}, notes="random pieces a_j, b_j ~ N(0, 1)")
