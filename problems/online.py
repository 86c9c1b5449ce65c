"""Online adversaries: one loss ``f_t`` per round, and the best fixed point in hindsight.

Every adversary here is oblivious and stochastic: round ``t``'s loss is drawn from the oracle's
``rng``, independently of the learner. Its oracle returns ``g_t`` in ``df_t(x_t)`` and records
the round on a *tape*, four arrays appended to the problem's data arguments:
``rec = [t, sum_{s<=t} f_s(x_s), next checkpoint index]``, ``ck`` (checkpoint steps),
``stat`` (a sufficient statistic of ``sum_s f_s``: the sum of the linear losses' vectors, or how
often each sample was drawn) and ``snaps`` (``[cumulative learner loss, stat]`` at each checkpoint).
``OnlineProblem.minimize`` makes a fresh tape and puts into ``trace.extra``:
``cum_loss`` and ``hindsight`` (``min_{x in X} sum_{s<=t} f_s(x)``) at the checkpoints and
``regret = cum_loss - hindsight``. The expected loss (``loss``) and its optimum are those of
the stochastic problem whose samples the rounds are.
"""
from dataclasses import dataclass

import numpy as np
from numba import njit

from theory_bench.engine.checkpoints import check_checkpoints
from theory_bench.engine.protocol import minimize_any
from theory_bench.problems import hinge, l1
from theory_bench.problems.noise import add_skewed_noise
from theory_bench.problems.optimum import solve_lp
from theory_bench.problems.problem import Problem, box_arrays, in_range, positive_int

TAPE_ARGS = 4


@dataclass(eq=False)
class OnlineProblem(Problem):
    """An adversary: ``minimize`` runs against a fresh tape and reports the regret."""
    online: bool = True

    def minimize(self, optimizer, T, *, seed=0, x0=None, checkpoints=None, precision=None):
        """``Problem.minimize``, and ``trace.extra`` holds ``cum_loss``, ``hindsight`` and ``regret``."""
        self.check_precision(precision)
        return run_online(self, optimizer, T, seed=seed, x0=x0, checkpoints=checkpoints, precision=precision)


@njit(cache=True)
def tape_round(f, rec, ck, stat, snaps):
    """Close round ``t``: add the learner's loss ``f``, snapshot at a checkpoint (``stat`` is updated)."""
    t = int(rec[0]) + 1
    rec[0] = t
    rec[1] += f
    k = int(rec[2])
    if k < ck.shape[0] and ck[k] == t:
        snaps[k, 0] = rec[1]
        snaps[k, 1:] = stat
        rec[2] = k + 1


def new_tape(checkpoints, m):
    ck = np.asarray(checkpoints, dtype=np.int64)
    return np.zeros(3), ck, np.zeros(m), np.zeros((ck.shape[0], 1 + m))


def linear_hindsight(S, lo, hi):
    """``min_{lo <= x <= hi} <S, x>`` and a minimiser: ``x_i = lo_i`` where ``S_i > 0``, else ``hi_i``."""
    x = np.where(S > 0, lo, hi)
    return float(np.minimum(lo * S, hi * S).sum()), x


# --- Rademacher linear: the lower-bound construction (docs/theory.md §3.2) ------------------------------

@njit(cache=True)
def rademacher_grad(x, rng, L, p_plus, rec, ck, stat, snaps):
    g = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        g[i] = L[i] if rng.random() < p_plus else -L[i]
    stat += g
    tape_round(g @ x, rec, ck, stat, snaps)
    return g


@njit(cache=True)
def rademacher_loss(x, L, p_plus, rec, ck, stat, snaps):
    return (2.0 * p_plus - 1.0) * (L @ x)


@njit(cache=True)
def rademacher_full_grad(x, L, p_plus, rec, ck, stat, snaps):
    return (2.0 * p_plus - 1.0) * L


def make_rademacher_linear(d=10, D=1.0, L=1.0, p_plus=0.5, name="rademacher_linear"):
    """``f_t(x) = <g_t, x>`` on ``[-D, D]^d``, ``g_{t,i} = +-L`` i.i.d. with ``P(+L) = p_plus``.

    ``p_plus = 1/2`` (Rademacher) is the lower-bound construction; any other value is the
    variant where the identity ``E[R_T] = d D L E|S_T|`` must fail (the losses are no longer
    zero-mean, and a learner gains on them).
    """
    d = positive_int("d", d)
    p_plus = in_range("p_plus", p_plus, 0.0, 1.0)
    if not L > 0:
        raise ValueError(f"L must be > 0, got {L!r}")
    lo, hi = box_arrays(-D, D, d)
    Lv = np.full(d, float(L))
    mean = (2 * p_plus - 1) * Lv

    def solve(solver):
        x = np.where(mean > 0, lo, np.where(mean < 0, hi, 0.0))
        return x, float(mean @ x)

    return online_problem(
        name, rademacher_grad, rademacher_full_grad, rademacher_loss, (Lv, p_plus), lo, hi, Lv, m=d,
        hindsight=lambda S: linear_hindsight(S, lo, hi)[0], params=dict(d=d, D=D, L=L, p_plus=p_plus),
        solve=solve, lr=float(2 * D / np.sqrt(2)), notes="every algorithm has E[R_T] = d D L E|S_T| exactly",
        smooth=True)


# --- streams of hinge and L1 samples ------------------------------------------------------------

@njit(cache=True)
def hinge_stream_grad(x, rng, A, y, batch, skew, rec, ck, counts, snaps):
    j = rng.integers(0, A.shape[0])
    margin = y[j] * (A[j] @ x)
    counts[j] += 1.0
    tape_round(max(0.0, 1.0 - margin), rec, ck, counts, snaps)
    g = -y[j] * A[j] if margin < 1.0 else np.zeros(x.shape[0])
    add_skewed_noise(g, rng, skew)
    return g


@njit(cache=True)
def l1_stream_grad(x, rng, A, b, batch, skew, rec, ck, counts, snaps):
    j = rng.integers(0, A.shape[0])
    r = A[j] @ x - b[j]
    counts[j] += 1.0
    tape_round(abs(r), rec, ck, counts, snaps)
    g = np.sign(r) * A[j]
    add_skewed_noise(g, rng, skew)
    return g


@njit(cache=True)
def hinge_stream_loss(x, A, y, batch, skew, rec, ck, counts, snaps):
    return hinge.hinge_loss(x, A, y, batch, skew)


@njit(cache=True)
def hinge_stream_full_grad(x, A, y, batch, skew, rec, ck, counts, snaps):
    return hinge.hinge_full_grad(x, A, y, batch, skew)


@njit(cache=True)
def l1_stream_loss(x, A, b, batch, skew, rec, ck, counts, snaps):
    return l1.l1_loss(x, A, b, batch, skew)


@njit(cache=True)
def l1_stream_full_grad(x, A, b, batch, skew, rec, ck, counts, snaps):
    return l1.l1_full_grad(x, A, b, batch, skew)


def _stream(base, name, grad, full_grad, loss, weighted_lp):
    A, target = base.args[:2]
    n = A.shape[0]
    lo, hi = base.lo, base.hi
    return online_problem(
        name, grad, full_grad, loss, base.args, lo, hi, base.L, m=n,
        hindsight=lambda counts: solve_lp(name, weighted_lp(A, target, counts, lo, hi))[1],
        params=dict(base.params, stream_of=base.name), solve=base.solve, lr=base.lr,
        notes=f"one {base.name} sample per round, drawn uniformly from a pool of {n}",
        extra={"lp": base.extra["lp"]})


def make_hinge_stream(n=200, d=10, seed=0, data=None, flip=0.1, radius=1.0, skew=0.0, name="hinge_stream"):
    """One hinge sample per round; ``skew > 0`` adds the skewed zero-mean noise to the feedback."""
    base = hinge.make_hinge(n=n, d=d, seed=seed, data=data, flip=flip, radius=radius, skew=skew)
    return _stream(base, name, hinge_stream_grad, hinge_stream_full_grad, hinge_stream_loss,
                   hinge.weighted_lp)


def make_l1_stream(n=200, d=10, seed=0, data=None, tail_df=1.5, radius=None, skew=0.0, name="l1_stream"):
    """One L1 sample per round; ``skew > 0`` adds the skewed zero-mean noise to the feedback."""
    base = l1.make_l1(n=n, d=d, seed=seed, data=data, tail_df=tail_df, radius=radius, skew=skew)
    return _stream(base, name, l1_stream_grad, l1_stream_full_grad, l1_stream_loss, l1.weighted_lp)


# --- the online Problem ---------------------------------------------------------------------------

def online_problem(name, grad, full_grad, loss, data_args, lo, hi, L, m, hindsight, params, solve, lr,
                   notes, extra=None, smooth=False):
    extra = dict(extra or {}, m=m, hindsight=hindsight)
    return OnlineProblem(name=name, oracle=grad, full_oracle=full_grad, loss_fn=loss,
                   args=tuple(data_args) + new_tape([1], m), lo=lo, hi=hi, L=np.asarray(L, float),
                   x0=np.clip(np.zeros(lo.shape[0]), lo, hi), convex=True, smooth=smooth,
                   params=params, solve=solve, lr=lr, notes=notes, extra=extra)


def run_online(problem, optimizer, T, *, seed=0, x0=None, checkpoints=None, precision=None):
    """Run ``optimizer`` against the adversary; the trace's ``extra`` holds the regret."""
    ck = check_checkpoints(checkpoints, T)
    tape = new_tape(ck, problem.extra["m"])
    args = problem.args[:-TAPE_ARGS] + tape
    x0 = problem.x0 if x0 is None else x0
    tr = minimize_any(optimizer, problem.oracle, x0, T, args=args, seed=seed, box=problem.box,
                      loss=problem.loss_fn, checkpoints=ck, precision=precision)
    snaps = tape[3]
    cum = snaps[:, 0].copy()
    best = np.array([problem.extra["hindsight"](s) for s in snaps[:, 1:]])
    tr.extra.update(cum_loss=cum, hindsight=best, regret=cum - best)
    return tr
