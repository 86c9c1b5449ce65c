"""The run loop: the whole horizon in one call, no Python per step (docs/architecture.md).

``run_horizon`` is written once and used three ways by ``theory_bench.engine.loop_cache``:
compiled with ``cache=True`` in a generated module when the oracle is an importable numba
function (the fast path: no compile in a second process), compiled without cache when it is
not importable (defined in ``__main__`` or inside a function), and run as plain Python with a
plain Python oracle (the slow path). In all three, ``GRAD`` (the oracle) and ``STEP`` (the
optimizer kernel) are globals bound per oracle, and every per-step helper below is jitted,
so the three paths perform the same floating-point operations in the same order.

Conventions: ``x_1 = x0``; at step ``t = 1..T`` the oracle is called at ``x_t``, the average
``x_avg_t = mean(x_1..x_t)`` is updated, the kernel makes ``x_{t+1}`` and the box clips it.
At a checkpoint ``t`` the loop records ``x_{t+1}`` (the iterate after ``t`` steps),
``x_avg_t``, the per-row sums of the optimizer state (``sum_i G_{t,i}`` for the envelope) and,
when ``win[0] = delta > 0``, the trajectory-window stationarity (``theory_bench.engine.window``).
"""
import numpy as np
from numba import njit

from theory_bench.engine.schedules import CONSTANT, INV_SQRT
from theory_bench.engine.window import window_step, window_value

# Status codes returned by run_horizon; theory_bench.engine.minimize turns them into exceptions.
OK, BAD_SHAPE, NONFINITE_GRAD, NONFINITE_ITERATE, BAD_STEP_SHAPE = 0, 1, 2, 3, 4

GRAD = STEP = None  # bound per oracle and optimizer by theory_bench.engine.loop_cache


@njit(cache=True)
def update_average(x_avg, x, t):
    inv = 1.0 / t
    for i in range(x.shape[0]):
        x_avg[i] += (x[i] - x_avg[i]) * inv


@njit(cache=True)
def first_nonfinite(v):
    """Index of the first NaN or inf in ``v``, or -1."""
    for i in range(v.shape[0]):
        if not np.isfinite(v[i]):
            return i
    return -1


@njit(cache=True)
def step_size(kind, lr, table, t):
    if kind == CONSTANT:
        return lr
    if kind == INV_SQRT:
        return lr / np.sqrt(t)
    return lr * table[t - 1]


@njit(cache=True)
def clip(x, lo, hi):
    for i in range(x.shape[0]):
        x[i] = min(max(x[i], lo[i]), hi[i])


@njit(cache=True)
def record(c, x, x_avg, S, xs, xs_avg, state_sums):
    xs[c, :] = x
    xs_avg[c, :] = x_avg
    for r in range(S.shape[0]):
        state_sums[c, r] = S[r].sum()


@njit(cache=True)
def buffers(x0, n_ck, n_rows):
    """The iterate, its running average, and what the checkpoints record."""
    d = x0.shape[0]
    return x0.copy(), np.zeros(d), np.zeros((n_ck, d)), np.zeros((n_ck, d)), np.zeros((n_ck, n_rows))


@njit(cache=True)
def grad_status(g, d):
    """``(OK, -1)``, or ``(BAD_SHAPE, size)`` / ``(NONFINITE_GRAD, index)`` for a bad oracle output."""
    if g.shape[0] != d:
        return BAD_SHAPE, g.shape[0]
    bad = first_nonfinite(g)
    if bad >= 0:
        return NONFINITE_GRAD, bad
    return OK, -1


def run_horizon(x0, S, h, key, rng, args, T, kind, lr, table, lo, hi, boxed, checkpoints, win):
    d = x0.shape[0]
    n_ck = checkpoints.shape[0]
    x, x_avg, xs, xs_avg, state_sums = buffers(x0, n_ck, S.shape[0])
    window_on = win[0] > 0.0
    anchor, gsum, win_vals = np.zeros(d), np.zeros(d), np.zeros(n_ck)
    out = (x, x_avg, xs, xs_avg, state_sums, win_vals)
    c = 0
    for t in range(1, T + 1):
        update_average(x_avg, x, t)
        g = GRAD(x, rng, *args)
        status, i = grad_status(g, d)
        if status != OK:
            return status, t, i, out
        if window_on:
            window_step(win, anchor, gsum, x, g)
        if c < n_ck and checkpoints[c] == t and window_on:
            win_vals[c] = window_value(win, gsum)
        STEP(x, g, S, h, step_size(kind, lr, table, t), t, key)
        if boxed:
            clip(x, lo, hi)
        bad = first_nonfinite(x)
        if bad >= 0:
            return NONFINITE_ITERATE, t, bad, out
        if c < n_ck and checkpoints[c] == t:
            record(c, x, x_avg, S, xs, xs_avg, state_sums)
            c += 1
    return OK, T, -1, out


def run_user_horizon(x0, state, rng, args, T, lo, hi, boxed, checkpoints):
    """The same loop for a user's optimizer: ``STEP(x, g, state, t, rng) -> x`` (``theory_bench.engine.protocol``)."""
    d = x0.shape[0]
    x, x_avg, xs, xs_avg, state_sums = buffers(x0, checkpoints.shape[0], 0)
    no_state = np.zeros((0, d))
    n_ck = checkpoints.shape[0]
    c = 0
    for t in range(1, T + 1):
        update_average(x_avg, x, t)
        g = GRAD(x, rng, *args)
        status, i = grad_status(g, d)
        if status != OK:
            return status, t, i, (x, x_avg, xs, xs_avg)
        x_new = STEP(x, g, state, t, rng)
        if x_new.shape[0] != d:
            return BAD_STEP_SHAPE, t, x_new.shape[0], (x, x_avg, xs, xs_avg)
        x = x_new.copy()
        if boxed:
            clip(x, lo, hi)
        bad = first_nonfinite(x)
        if bad >= 0:
            return NONFINITE_ITERATE, t, bad, (x, x_avg, xs, xs_avg)
        if c < n_ck and checkpoints[c] == t:
            record(c, x, x_avg, no_state, xs, xs_avg, state_sums)
            c += 1
    return OK, T, -1, (x, x_avg, xs, xs_avg)
