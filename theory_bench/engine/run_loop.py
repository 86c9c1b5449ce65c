"""The run loop: the whole horizon in one call, no Python per step (docs/architecture.md).

``run_horizon`` is written once and used three ways by ``theory_bench.engine.loop_cache``:
compiled with ``cache=True`` in a generated module when the oracle is an importable numba
function (the fast path: no compile in a second process), compiled without cache when it is
not importable (defined in ``__main__`` or inside a function), and run as plain Python with a
plain Python oracle (the slow path). In all three ``GRAD`` (the oracle) is a global bound per
oracle and the optimizer's kernel is the loop's first argument ``step``: compiled, one loop per
oracle serves every kernel, called through a function pointer (``theory_bench.engine.kernel_argument``),
so a new optimizer costs the compile of its kernel, not of the loop. Every per-step helper below is
jitted, so the three paths perform the same floating-point operations in the same order.

Conventions: ``x_1 = x0``; at step ``t = 1..T`` the oracle is called at ``x_t``, the average
``x_avg_t = mean(x_1..x_t)`` is updated, the kernel makes ``x_{t+1}`` and the box clips it.
At a checkpoint ``t`` the loop records the per-row sums of the optimizer state (``sum_i G_{t,i}``
for the envelope), when ``win[0] = delta > 0`` the trajectory-window stationarity
(``theory_bench.engine.window``) and, when the record arrays ``xs`` have rows, ``x_{t+1}`` (the
iterate after ``t`` steps) and ``x_avg_t``.

Every loop runs the steps ``t_from .. t_to`` of a horizon on buffers its caller owns (the iterate,
its average, the state) and returns ``(status, t, i, c)``, ``c`` the checkpoints recorded so far,
so that ``theory_bench.engine.segments`` can run a horizon in one call, or in segments ending at
the checkpoints when the losses are evaluated there instead of from stored iterates (large ``d``:
``theory_bench.engine.recording``). Both give the same numbers.

Memory traffic per step, beyond the oracle's and the kernel's: the finite check of ``g`` (one
read) and one fused pass ``settle`` that clips ``x_{t+1}``, checks it and adds it to the average
(reads ``x`` and ``x_avg``, writes ``x_avg``, and ``x`` only when boxed). The checks are
branch-free reductions that vectorise; the index of a bad value is looked up only when there is one.
"""
import numpy as np
from numba import njit

from theory_bench.engine.schedules import CONSTANT, INV_SQRT
from theory_bench.engine.window import window_step, window_value

# Status codes returned by run_horizon; theory_bench.engine.minimize turns them into exceptions.
OK, BAD_SHAPE, NONFINITE_GRAD, NONFINITE_ITERATE, BAD_STEP_SHAPE = 0, 1, 2, 3, 4

GRAD = STEP = None  # bound by theory_bench.engine.loop_cache: GRAD per oracle, STEP for run_user_horizon


@njit(cache=True)
def update_average(x_avg, x, t):
    inv = 1.0 / t
    for i in range(x.shape[0]):
        x_avg[i] += (x[i] - x_avg[i]) * inv


@njit(cache=True)
def first_nonfinite(v):
    """Index of the first NaN or inf in ``v``, or -1 (a vectorised pass; the scan only if one is there)."""
    bad = False
    for i in range(v.shape[0]):
        bad |= (v[i] - v[i]) != 0.0           # NaN for inf and NaN, 0 for every finite value
    if not bad:
        return -1
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
def settle(x, lo, hi, boxed, x_avg, t_next):
    """After a step, in one pass: clip ``x`` to the box (when ``boxed``), check it is finite and,
    when ``t_next > 0``, add it to the running average as ``x_{t_next}``. Returns the index of the
    first non-finite coordinate, or -1."""
    bad = False
    if t_next > 0:
        inv = 1.0 / t_next
        if boxed:
            for i in range(x.shape[0]):
                xi = min(max(x[i], lo[i]), hi[i])
                x[i] = xi
                bad |= (xi - xi) != 0.0
                x_avg[i] += (xi - x_avg[i]) * inv
        else:
            for i in range(x.shape[0]):
                xi = x[i]
                bad |= (xi - xi) != 0.0
                x_avg[i] += (xi - x_avg[i]) * inv
    else:
        if boxed:
            clip(x, lo, hi)
        return first_nonfinite(x)
    return first_nonfinite(x) if bad else -1


@njit(cache=True)
def record(c, x, x_avg, S, rec):
    """Checkpoint ``c``: the state-row sums, and the iterate and its average when ``rec`` keeps them."""
    xs, xs_avg, state_sums = rec[0], rec[1], rec[2]
    if xs.shape[0] > 0:
        xs[c, :] = x
        xs_avg[c, :] = x_avg
    for r in range(S.shape[0]):
        state_sums[c, r] = S[r].sum()


@njit(cache=True)
def grad_status(g, d):
    """``(OK, -1)``, or ``(BAD_SHAPE, size)`` / ``(NONFINITE_GRAD, index)`` for a bad oracle output."""
    if g.shape[0] != d:
        return BAD_SHAPE, g.shape[0]
    bad = first_nonfinite(g)
    if bad >= 0:
        return NONFINITE_GRAD, bad
    return OK, -1


def run_horizon(step, x, x_avg, S, h, key, rng, args, kind, lr, table, lo, hi, boxed, checkpoints, rec, win, anchor,
                gsum, t_from, t_to, c):
    """Steps ``t_from .. t_to`` of our optimizers' loop: ``step`` the optimizer's kernel (an argument, called
    through a pointer: one compiled loop per oracle serves every kernel), ``rec = (xs, xs_avg, state_sums,
    win_vals)``."""
    d = x.shape[0]
    n_ck = checkpoints.shape[0]
    window_on = win[0] > 0.0
    win_vals = rec[3]
    averaged = False
    for t in range(t_from, t_to + 1):
        if not averaged:
            update_average(x_avg, x, t)
        g = GRAD(x, rng, *args)
        status, i = grad_status(g, d)
        if status != OK:
            return status, t, i, c
        at_ck = c < n_ck and checkpoints[c] == t
        if window_on:
            window_step(win, anchor, gsum, x, g)
            if at_ck:
                win_vals[c] = window_value(win, gsum)
        step(x, g, S, h, step_size(kind, lr, table, t), t, key)
        averaged = t < t_to and not at_ck
        bad = settle(x, lo, hi, boxed, x_avg, t + 1 if averaged else 0)
        if bad >= 0:
            return NONFINITE_ITERATE, t, bad, c
        if at_ck:
            record(c, x, x_avg, S, rec)
            c += 1
    return OK, t_to, -1, c


def run_user_horizon(x, x_avg, state, rng, args, lo, hi, boxed, checkpoints, rec, t_from, t_to, c):
    """The same loop for a user's optimizer: ``STEP(x, g, state, t, rng) -> x`` (``theory_bench.engine.protocol``)."""
    d = x.shape[0]
    no_state = np.zeros((0, d))
    n_ck = checkpoints.shape[0]
    averaged = False
    for t in range(t_from, t_to + 1):
        if not averaged:
            update_average(x_avg, x, t)
        g = GRAD(x, rng, *args)
        status, i = grad_status(g, d)
        if status != OK:
            return status, t, i, c
        x_new = STEP(x, g, state, t, rng)
        if x_new.shape[0] != d:
            return BAD_STEP_SHAPE, t, x_new.shape[0], c
        x[:] = x_new
        at_ck = c < n_ck and checkpoints[c] == t
        averaged = t < t_to and not at_ck
        bad = settle(x, lo, hi, boxed, x_avg, t + 1 if averaged else 0)
        if bad >= 0:
            return NONFINITE_ITERATE, t, bad, c
        if at_ck:
            record(c, x, x_avg, no_state, rec)
            c += 1
    return OK, t_to, -1, c
