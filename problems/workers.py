"""Problems for distributed sign methods (docs/theory.md §7): what each worker's gradient looks like.

- ``noisy_linear``: ``f(x) = mu sum_i x_i`` on ``[-1, 1]^d`` (``x* = -1``, ``f* = -mu d``) with
  per-coordinate gradient noise either ``"skewed"`` (``xi = A`` w.p. ``q``, else ``-1``: the
  mean ``mu = qA - (1-q) > 0`` but ``P(xi > 0) = q < 1/2``, counterexample 2's noise) or
  ``"uniform"`` (``mu + U[-a, a]`` with the same variance, ``a = sqrt(3 q (1-q)) (A + 1)``:
  symmetric and unimodal, the noise under which majority vote is guaranteed).
- ``hinge_shards`` (and ``l1_shards``, whose targets are scaled with the features, so that
  ``f_m`` is ``c_m`` times the shard's unscaled loss): the hinge loss of ``n`` synthetic samples
  split into ``workers`` equal shards, shard ``m``'s features multiplied by ``c_m = spread^(m/(workers-1) - 1/2)`` (geometric, from
  ``1/sqrt(spread)`` to ``sqrt(spread)``; ``spread = 1``: homogeneous workers). The objective is
  ``F = mean_m f_m``; worker ``m`` samples only its own shard: the oracle reads the worker's index
  from ``slot[0]`` (``args[-2]``, pass it to ``theory_bench.engine.distributed.simulate`` as
  ``slot``); ``slot[0] = -1`` (the default, restored after a simulation) samples the whole data
  set, so the oracle is an ordinary unbiased one for ``F`` outside a simulation. ``extra["weighted"]``: ``F_w = mean_m f_m / c_m`` with its certified optimum, the
  objective averaged local-envelope signs minimise (§7).
"""
import numpy as np
from numba import njit

from theory_bench.problems import datasets
from theory_bench.problems.noise import BOUND, add_skewed_noise
from theory_bench.problems.optimum import solve_cvxpy
from theory_bench.problems.problem import Problem, box_arrays, in_range, nonnegative, positive_int

NOISES = ("skewed", "uniform")


@njit(cache=True)
def noisy_linear_grad(x, rng, mu, q, A, a, uniform):
    g = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        if uniform:
            g[i] = mu + a * (2.0 * rng.random() - 1.0)
        else:
            g[i] = A if rng.random() < q else -1.0
    return g


@njit(cache=True)
def noisy_linear_loss(x, mu, q, A, a, uniform):
    return mu * x.sum()


@njit(cache=True)
def noisy_linear_full_grad(x, mu, q, A, a, uniform):
    return np.full(x.shape[0], mu)


def make_noisy_linear(d=10, noise="skewed", q=0.25, A=4.0, name="noisy_linear"):
    d = positive_int("d", d)
    if noise not in NOISES:
        raise ValueError(f"noise must be 'skewed' or 'uniform', got {noise!r}")
    q = in_range("q", q, 0.0, 0.5)
    mu = q * A - (1 - q)
    if not mu > 0:
        raise ValueError(f"noisy_linear needs mean q*A - (1-q) > 0, got {mu!r} (q={q}, A={A}); raise A")
    a = float(np.sqrt(3 * q * (1 - q)) * (A + 1))
    lo, hi = box_arrays(-1.0, 1.0, d)
    bound = mu + a if noise == "uniform" else max(A, 1.0)
    return Problem(
        name=name, oracle=noisy_linear_grad, full_oracle=noisy_linear_full_grad, loss_fn=noisy_linear_loss,
        args=(float(mu), float(q), float(A), a, noise == "uniform"), lo=lo, hi=hi, L=np.full(d, bound),
        x0=np.zeros(d), convex=True, smooth=True, params=dict(d=d, noise=noise, q=q, A=A),
        solve=lambda solver: (np.full(d, -1.0), -mu * d), lr=float(np.sqrt(2)),
        notes=f"mean {mu:+.3g} per coordinate, x* = -1; {noise} noise, P(g > 0) = "
              f"{q if noise == 'skewed' else (a + mu) / (2 * a):.3g}",
        extra={"mu": mu, "wrong_end_gap": 2 * mu * d})


@njit(cache=True, inline="always")
def shard_sample(rng, starts, slot, n):
    """A sample index of worker ``slot[0]``'s shard, or of the whole data set for ``slot[0] = -1``."""
    m = slot[0]
    if m < 0:
        return rng.integers(0, n)
    return starts[m] + rng.integers(0, starts[m + 1] - starts[m])


@njit(cache=True)
def shard_hinge_grad(x, rng, A, y, starts, slot, skew):
    j = shard_sample(rng, starts, slot, A.shape[0])
    g = np.zeros(x.shape[0])
    if y[j] * (A[j] @ x) < 1.0:
        g -= y[j] * A[j]
    add_skewed_noise(g, rng, skew)
    return g


@njit(cache=True)
def shard_hinge_loss(x, A, y, starts, slot, skew):
    return np.maximum(0.0, 1.0 - y * (A @ x)).mean()


@njit(cache=True)
def shard_hinge_full_grad(x, A, y, starts, slot, skew):
    active = (y * (A @ x) < 1.0).astype(np.float64)
    return -(active * y) @ A / A.shape[0]


@njit(cache=True)
def shard_l1_grad(x, rng, A, b, starts, slot, skew):
    j = shard_sample(rng, starts, slot, A.shape[0])
    g = np.sign(A[j] @ x - b[j]) * A[j]
    add_skewed_noise(g, rng, skew)
    return g


@njit(cache=True)
def shard_l1_loss(x, A, b, starts, slot, skew):
    return np.abs(A @ x - b).mean()


@njit(cache=True)
def shard_l1_full_grad(x, A, b, starts, slot, skew):
    return np.sign(A @ x - b) @ A / A.shape[0]


def shard_scales(workers, spread):
    if workers == 1:
        return np.ones(1)
    return spread ** (np.arange(workers) / (workers - 1) - 0.5)


KINDS = {  # oracle, full oracle, loss, cvxpy residual term of one sample
    "hinge": (shard_hinge_grad, shard_hinge_full_grad, shard_hinge_loss,
              lambda cp, A, t, x: cp.pos(1 - cp.multiply(t, A @ x)), lambda A, t, x: np.maximum(0.0, 1.0 - t * (A @ x))),
    "l1": (shard_l1_grad, shard_l1_full_grad, shard_l1_loss,
           lambda cp, A, t, x: cp.abs(A @ x - t), lambda A, t, x: np.abs(A @ x - t)),
}


def make_shards(kind, workers, spread, n, d, seed, skew, radius, name):
    """``kind`` ``"hinge"`` (features of shard ``m`` times ``c_m``) or ``"l1"`` (features and targets
    times ``c_m``, so ``f_m = c_m`` times the shard's unscaled loss) split over ``workers`` shards."""
    workers, n, d = positive_int("workers", workers), positive_int("n", n), positive_int("d", d)
    if not spread >= 1.0:
        raise ValueError(f"spread (largest over smallest feature scale) must be >= 1, got {spread!r}")
    if n < workers:
        raise ValueError(f"n = {n} samples cannot fill {workers} shards; raise n")
    skew = nonnegative("skew", skew)
    A, t = datasets.classification(n, d, seed, 0.1) if kind == "hinge" else datasets.regression(n, d, seed, 1.5)
    starts = np.linspace(0, n, workers + 1).astype(np.int64)
    c = shard_scales(workers, float(spread))
    shard = np.searchsorted(starts, np.arange(n), side="right") - 1
    A = A * c[shard][:, None]
    if kind == "l1":
        t = t * c[shard]
    lo, hi = box_arrays(-radius, radius, d)
    slot = np.full(1, -1, dtype=np.int64)      # -1: the whole data set (an ordinary stochastic oracle)
    oracle, full, loss, cvx_term, np_term = KINDS[kind]

    def objective(weights):
        def build():
            import cvxpy as cp
            x = cp.Variable(d)
            return x, cp.Problem(cp.Minimize(cp.sum(cp.multiply(weights, cvx_term(cp, A, t, x))) / n),
                                 [x >= lo, x <= hi])
        return build

    params = dict(workers=workers, spread=float(spread), n=n, d=d, seed=seed, skew=skew, radius=radius)
    w = 1.0 / c[shard]
    weighted = {"weights": w, "loss": lambda x: float(np.mean(w * np_term(A, t, x))),
                "solve": lambda solver="CLARABEL": solve_cvxpy(f"{name}-weighted{params}", objective(w), solver)}
    return Problem(
        name=name, oracle=oracle, full_oracle=full, loss_fn=loss, args=(A, t, starts, slot, skew),
        lo=lo, hi=hi, L=np.abs(A).max(axis=0) + BOUND * skew, x0=np.zeros(d), convex=True, smooth=False,
        params=params, solve=lambda solver: solve_cvxpy(f"{name}{params}", objective(np.ones(n)), solver),
        lr=float(2 * radius / np.sqrt(2)), extra={"slot": slot, "scales": c, "weighted": weighted},
        notes=f"{workers} {kind} shards, scales {c[0]:.3g}..{c[-1]:.3g}; worker m samples shard slot[0]")


def make_hinge_shards(workers=8, spread=16.0, n=1024, d=10, seed=0, skew=0.0, radius=1.0, name="hinge_shards"):
    return make_shards("hinge", workers, spread, n, d, seed, skew, radius, name)


def make_l1_shards(workers=8, spread=16.0, n=1024, d=10, seed=0, skew=0.0, radius=1.0, name="l1_shards"):
    return make_shards("l1", workers, spread, n, d, seed, skew, radius, name)
