"""The counterexamples where SignSGD fails (docs/theory.md §3.3), with the set-ups that show it.

- ``counterexample_2d``: ``f(x) = eps |x1 + x2| + |x1 - x2|`` (Karimireddy et al. 2019). Off the
  kink ``x1 = x2`` the sign of every subgradient is ``+-(1, -1)``, so SignSGD never changes
  ``x1 + x2`` and stays at ``f >= eps |x1 + x2|`` (``extra['signsgd_floor']``). The default oracle
  takes the resisting subgradient ``+1`` of ``|u|`` at ``u = 0``; ``oracle="numpy_sign"`` takes
  ``sign(0) = 0``, with which floating point lets SignSGD escape (docs/theory.md §3.3.1).
- ``skewed_linear``: ``f(x) = E[<xi, x>]`` on ``[-1, 1]^d``, ``xi_i = A`` w.p. ``q`` and ``-1``
  otherwise, i.i.d.; mean ``mu = qA - (1-q) > 0`` but ``q < 1/2``, so ``E[sign(xi)] < 0`` drives
  SignSGD to ``+1`` while ``x* = -1``. Also an online adversary (rounds ``<xi_t, x>``).
- ``skewed_quadratic``: ``f_xi = 4 (x-1)^2`` w.p. 1/3 and ``(x+1)^2`` w.p. 2/3 per coordinate on
  ``[-1, 1]``: smooth, ``x* = 1/3``, ``f* = 16/9`` per coordinate, and still the expected sign of
  the stochastic gradient points away from ``x*`` on ``(-1, 1)``.
"""
from functools import partial

import numpy as np
from numba import njit

from theory_bench.problems.online import linear_hindsight, online_problem, tape_round
from theory_bench.problems.optimum import solve_cvxpy
from theory_bench.problems.problem import Problem, box_arrays, in_range, positive_int


# --- counterexample 1 -----------------------------------------------------------------------------

FLOOR_FRACTION = 0.01       # assert_converges on counterexample 1 asks for 1% of SignSGD's floor


def floor_tolerance(floor, T):
    """``assert_converges``' default on counterexample 1: ``FLOOR_FRACTION`` of SignSGD's floor."""
    if floor == 0:
        raise ValueError("x0 lies on the diagonal x1 + x2 = 0, where SignSGD has no floor, so there is no "
                         "default tolerance; pass tol=")
    return FLOOR_FRACTION * floor, (
        f"{FLOOR_FRACTION:.0%} of SignSGD's floor eps |x1 + x2| = {floor:.4g} (docs/theory.md §3.3.1): SignSGD "
        "never gets below the floor, while StoSignSGD and SGD converge to f* = 0")


@njit(cache=True)
def kink_loss(x, eps, resisting):
    return eps * abs(x[0] + x[1]) + abs(x[0] - x[1])


@njit(cache=True)
def kink_full_grad(x, eps, resisting):
    u, v = x[0] + x[1], x[0] - x[1]
    if resisting:
        su, sv = (1.0 if u >= 0.0 else -1.0), (1.0 if v >= 0.0 else -1.0)
    else:
        su, sv = np.sign(u), np.sign(v)
    return np.array([eps * su + sv, eps * su - sv])


@njit(cache=True)
def kink_grad(x, rng, eps, resisting):
    return kink_full_grad(x, eps, resisting)


def make_counterexample_2d(eps=0.5, x0=(1.0, 0.3), oracle="resisting", name="counterexample_2d"):
    eps = in_range("eps", eps, 0.0, 1.0)
    if oracle not in ("resisting", "numpy_sign"):
        raise ValueError(f"oracle must be 'resisting' or 'numpy_sign', got {oracle!r}")
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.shape != (2,):
        raise ValueError(f"x0 must have shape (2,), got {x0.shape}")
    lo, hi = np.full(2, -np.inf), np.full(2, np.inf)

    def build():
        import cvxpy as cp
        x = cp.Variable(2)
        return x, cp.Problem(cp.Minimize(eps * cp.abs(x[0] + x[1]) + cp.abs(x[0] - x[1])))

    params = dict(eps=eps, x0=x0.tolist(), oracle=oracle)
    return Problem(
        name=name, oracle=kink_grad, full_oracle=kink_full_grad, loss_fn=kink_loss,
        args=(eps, oracle == "resisting"), lo=lo, hi=hi, L=np.full(2, 1.0 + eps), x0=x0,
        convex=True, smooth=False, params=params,
        solve=lambda solver: solve_cvxpy(f"{name}{params}", build, solver), lr=0.3,
        extra={"signsgd_floor": eps * abs(x0[0] + x0[1]), "schedule": "inv_sqrt"},
        tolerance=partial(floor_tolerance, eps * abs(x0[0] + x0[1])),
        notes="SignSGD never changes x1 + x2; lr 0.3 / sqrt(t) from (1, 0.3)")


# --- counterexample 2: skewed noise, linear (also an online adversary) -----------------------------

@njit(cache=True)
def skewed_grad(x, rng, q, A, scale, rec, ck, stat, snaps):
    g = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        g[i] = scale * (A if rng.random() < q else -1.0)
    stat += g
    tape_round(g @ x, rec, ck, stat, snaps)
    return g


@njit(cache=True)
def skewed_loss(x, q, A, scale, rec, ck, stat, snaps):
    return scale * (q * A - (1.0 - q)) * x.sum()


@njit(cache=True)
def skewed_full_grad(x, q, A, scale, rec, ck, stat, snaps):
    return np.full(x.shape[0], scale * (q * A - (1.0 - q)))


def make_skewed_linear(d=1, q=0.25, A=4.0, scale=1.0, name="skewed_linear"):
    """``scale`` multiplies every loss: ``scale = 1/sqrt(d)`` bounds ``||g||_2`` instead of ``|g_i|``,
    the variant under which regret grows as ``sqrt(d)``, not ``d``."""
    d = positive_int("d", d)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    q = in_range("q", q, 0.0, 0.5, closed=(False, True))       # q = 1/2: symmetric (spiky_linear's variant)
    mu = q * A - (1 - q)
    if not mu > 0:
        raise ValueError(f"the counterexample needs mean q*A - (1-q) > 0, got {mu!r} (q={q}, A={A}); raise A")
    lo, hi = box_arrays(-1.0, 1.0, d)
    mu *= scale
    return online_problem(
        name, skewed_grad, skewed_full_grad, skewed_loss, (q, float(A), float(scale)), lo, hi,
        np.full(d, scale * max(A, 1.0)), m=d, hindsight=lambda S: linear_hindsight(S, lo, hi)[0],
        params=dict(d=d, q=q, A=A, scale=scale), solve=lambda solver: (np.full(d, -1.0), -mu * d),
        lr=float(np.sqrt(2)),
        notes=f"mean {mu:+.3g} per coordinate, x* = -1; E[sign(xi)] = {2 * q - 1:+.3g} drives SignSGD to +1",
        extra={"mu": mu, "signsgd_gap": 2 * mu * d}, smooth=True)


# --- counterexample 2, smooth -------------------------------------------------------------------

@njit(cache=True)
def skewed_quadratic_grad(x, rng):
    g = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        g[i] = 8.0 * (x[i] - 1.0) if rng.random() < 1.0 / 3.0 else 2.0 * (x[i] + 1.0)
    return g


@njit(cache=True)
def skewed_quadratic_loss(x):
    return ((4.0 * (x - 1.0) ** 2 + 2.0 * (x + 1.0) ** 2) / 3.0).sum()


@njit(cache=True)
def skewed_quadratic_full_grad(x):
    return (8.0 * (x - 1.0) + 4.0 * (x + 1.0)) / 3.0


def make_skewed_quadratic(d=1, name="skewed_quadratic"):
    d = positive_int("d", d)
    lo, hi = box_arrays(-1.0, 1.0, d)
    return Problem(
        name=name, oracle=skewed_quadratic_grad, full_oracle=skewed_quadratic_full_grad,
        loss_fn=skewed_quadratic_loss, args=(), lo=lo, hi=hi, L=np.full(d, 16.0), x0=np.zeros(d),
        convex=True, smooth=True, params=dict(d=d),
        solve=lambda solver: (np.full(d, 1.0 / 3.0), 16.0 / 9.0 * d), lr=float(np.sqrt(2)),
        notes="smooth, and SignSGD still runs to -1 (gap 3.55 per coordinate)")
