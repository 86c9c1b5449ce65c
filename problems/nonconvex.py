"""Non-convex, non-smooth minis with the structure of deep learning (docs/theory.md §3.3.4, §4).

Squared loss ``f(x) = mean_j (pred(x, a_j) - y_j)^2 / 2`` of a teacher-student model, ``y_j`` the
output of a random teacher of the same architecture, on a box ``[-R, R]^d``:
- ``relu_regression``: one hidden ReLU layer, ``pred = sum_h v_h relu(<w_h, a>)`` with a fixed
  second layer ``v_h = +-1``; ``x`` = the ``k x m`` first layer. ``relu'(0) = 0``.
- ``maxpool``: ``c`` linear filters ``z_i = <w_i, a>``, max-pooled over consecutive groups of
  ``s``, averaged: ``pred = mean_q max_{i in group q} z_i``; ties go to the smallest index.
- ``moe``: ``E`` linear experts and a hard top-1 router, Switch style:
  ``e* = argmax_e <u_e, a>``, ``pred = p_{e*} <w_{e*}, a>`` with ``p = softmax(U a)``;
  ``x = (W, U)``. The objective jumps where the router switches (ties), as real MoE layers do.
None has a known optimum (the teacher's point has ``f = 0`` but is one of many); use the
stationarity measures of docs/theory.md §4. ``L`` is a conservative bound from the data and the box.
``skew > 0`` adds the skewed zero-mean noise of ``problems.noise`` to the stochastic gradient:
unbiased feedback whose signs are biased (docs/theory.md §3.3.3 on a non-convex objective).
"""
import numpy as np
from numba import njit

from theory_bench.problems.noise import BOUND, add_skewed_noise
from theory_bench.problems.problem import Problem, box_arrays, nonnegative, positive_int

RELU, MAXPOOL, MOE = 0, 1, 2


@njit(cache=True)
def predict(kind, x, a, dims):
    """The model's output at input ``a``; ``dims`` = (k, m) | (c, p, s) | (E, p)."""
    if kind == RELU:
        k, m = dims[0], dims[1]
        out = 0.0
        for h in range(k):
            z = x[h * m:(h + 1) * m] @ a
            if z > 0.0:
                out += (1.0 if h % 2 == 0 else -1.0) * z
        return out
    if kind == MAXPOOL:
        c, p, s = dims[0], dims[1], dims[2]
        out = 0.0
        for q in range(c // s):
            best = -np.inf
            for i in range(q * s, (q + 1) * s):
                best = max(best, x[i * p:(i + 1) * p] @ a)
            out += best
        return out / (c // s)
    E, p = dims[0], dims[1]
    logits = np.empty(E)
    for e in range(E):
        logits[e] = x[(E + e) * p:(E + e + 1) * p] @ a
    top = np.argmax(logits)
    prob = 1.0 / np.exp(logits - logits[top]).sum()
    return prob * (x[top * p:(top + 1) * p] @ a)


@njit(cache=True)
def backprop(kind, x, a, dims, coef, g):
    """``g += coef * d pred / dx`` at input ``a`` (the subgradient choices stated in the module doc)."""
    if kind == RELU:
        k, m = dims[0], dims[1]
        for h in range(k):
            if x[h * m:(h + 1) * m] @ a > 0.0:
                g[h * m:(h + 1) * m] += coef * (1.0 if h % 2 == 0 else -1.0) * a
        return
    if kind == MAXPOOL:
        c, p, s = dims[0], dims[1], dims[2]
        Q = c // s
        for q in range(Q):
            best, arg = -np.inf, q * s
            for i in range(q * s, (q + 1) * s):
                z = x[i * p:(i + 1) * p] @ a
                if z > best:
                    best, arg = z, i
            g[arg * p:(arg + 1) * p] += (coef / Q) * a
        return
    E, p = dims[0], dims[1]
    logits = np.empty(E)
    for e in range(E):
        logits[e] = x[(E + e) * p:(E + e + 1) * p] @ a
    top = np.argmax(logits)
    probs = np.exp(logits - logits[top])
    probs /= probs.sum()
    expert = x[top * p:(top + 1) * p] @ a
    g[top * p:(top + 1) * p] += coef * probs[top] * a
    for e in range(E):
        delta = 1.0 if e == top else 0.0
        g[(E + e) * p:(E + e + 1) * p] += coef * expert * probs[top] * (delta - probs[e]) * a


@njit(cache=True)
def mini_loss(x, kind, A, y, dims, batch, skew):
    total = 0.0
    for j in range(A.shape[0]):
        r = predict(kind, x, A[j], dims) - y[j]
        total += 0.5 * r * r
    return total / A.shape[0]


@njit(cache=True)
def mini_full_grad(x, kind, A, y, dims, batch, skew):
    g = np.zeros(x.shape[0])
    n = A.shape[0]
    for j in range(n):
        backprop(kind, x, A[j], dims, (predict(kind, x, A[j], dims) - y[j]) / n, g)
    return g


@njit(cache=True)
def mini_grad(x, rng, kind, A, y, dims, batch, skew):
    g = np.zeros(x.shape[0])
    for _ in range(batch):
        j = rng.integers(0, A.shape[0])
        backprop(kind, x, A[j], dims, (predict(kind, x, A[j], dims) - y[j]) / batch, g)
    add_skewed_noise(g, rng, skew)
    return g


def _mini(name, kind, dims, d, n, p, seed, radius, batch, skew, params, notes, grad_scale):
    n, batch = positive_int("n", n), positive_int("batch", batch)
    skew = nonnegative("skew", skew)
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}")
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, p))
    teacher = np.clip(rng.normal(size=d) / np.sqrt(p), -radius, radius)
    dims = np.asarray(dims, dtype=np.int64)
    y = np.array([predict(kind, teacher, a, dims) for a in A])
    lo, hi = box_arrays(-radius, radius, d)
    l1, linf = np.abs(A).sum(axis=1), np.abs(A).max(axis=1)
    P = grad_scale[0] * radius * l1                       # bound on |pred| over the box
    Q = linf * np.maximum(1.0, grad_scale[1] * radius * l1)  # bound on |d pred / dx_i|
    L = float(((np.abs(y) + P) * Q).max()) + BOUND * skew
    x0 = np.clip(np.random.default_rng(seed + 1).normal(size=d) / np.sqrt(p), -radius, radius)
    return Problem(
        name=name, oracle=mini_grad, full_oracle=mini_full_grad, loss_fn=mini_loss,
        args=(kind, A, y, dims, batch, skew), lo=lo, hi=hi, L=np.full(d, L), x0=x0, convex=False,
        smooth=False, params=dict(params, n=n, seed=seed, radius=radius, batch=batch, skew=skew), solve=None,
        lr=0.05 * radius, notes=notes, extra={"teacher": teacher})


def make_relu_regression(n=500, m=5, k=4, seed=0, radius=2.0, batch=1, skew=0.0, name="relu_regression"):
    m, k = positive_int("m", m), positive_int("k", k)
    return _mini(name, RELU, (k, m), k * m, n, m, seed, radius, batch, skew, dict(m=m, k=k),
                 "one hidden ReLU layer, teacher-student", (k, 0.0))


def make_maxpool(n=500, p=6, c=8, s=2, seed=0, radius=2.0, batch=1, skew=0.0, name="maxpool"):
    p, c, s = positive_int("p", p), positive_int("c", c), positive_int("s", s)
    if c % s:
        raise ValueError(f"the pool size s must divide the number of filters c, got c={c}, s={s}")
    return _mini(name, MAXPOOL, (c, p, s), c * p, n, p, seed, radius, batch, skew, dict(p=p, c=c, s=s),
                 "linear filters, max-pool over groups, mean", (1.0, 0.0))


def make_moe(n=500, p=5, E=3, seed=0, radius=2.0, batch=1, skew=0.0, name="moe"):
    p, E = positive_int("p", p), positive_int("E", E)
    return _mini(name, MOE, (E, p), 2 * E * p, n, p, seed, radius, batch, skew, dict(p=p, E=E),
                 "linear experts, hard top-1 router, Switch-style gate", (1.0, 1.0))
