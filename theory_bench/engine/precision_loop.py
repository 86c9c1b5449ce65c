"""The run loop in number formats: ``run_loop.run_horizon`` with rounding (docs/theory.md §6).

``minimize(..., precision=Precision(...))`` runs ``run_precision_horizon``; the default precision
runs the ordinary loop, untouched. Each step: the oracle's gradient is copied and rounded to the
``grad`` format, the kernel steps with it, every state row is rounded to the ``state`` format
(the dequantise, update, quantise cycle of low-precision optimizer states) and the iterate to
the ``weights`` format, then the box clips it. With ``scaling="per_tensor"`` the gradient and
each state row are multiplied by the power of two ``2^k`` that puts their amax in
``(max/2, max]`` before rounding, and divided by it after. Stochastic rounding draws its uniforms
from the counter-based generator, one stream per (grad, state row, weights), keyed apart from
the sign noise (``precision.rounding_key``).

The loop also counts, per rounded vector, the entries that were non-zero and those that rounding
flushed to zero, the largest step ``max_{t,i} |x_{t+1,i} - x_{t,i}| / eta_t`` (a sign method
keeps it at 1, plus weight decay, whatever its state holds) and the last step at which each
coordinate of the rounded iterate moved (in a narrow weights format it freezes once ``eta_t`` is below half an ulp).
"""
import math

import numpy as np
from numba import njit

from theory_bench.engine.counter_rng import GAMMA, step_key, uniform01
from theory_bench.engine.precision import round_nearest, round_stochastic, rounding_key
from theory_bench.engine.run_loop import (NONFINITE_ITERATE, OK, grad_status, record, settle, step_size,
                                          update_average)
from theory_bench.engine.window import window_step, window_value

GRAD = None  # bound per oracle by theory_bench.engine.loop_cache; the kernel is the loop's argument ``step``
GRAD_AT, STATE_AT, WEIGHTS_AT, FLAGS_AT = 0, 5, 10, 15     # offsets in Precision.packed


@njit(cache=True)
def power_of_two_scale(v, maxv):
    """``2^k`` with ``amax(v) 2^k`` in ``(maxv/2, maxv]``; 1 when ``v`` is all zero or not finite."""
    amax = 0.0
    for i in range(v.shape[0]):
        amax = max(amax, abs(v[i]))
    if amax == 0.0 or not amax < np.inf:
        return 1.0
    k = min(max(math.floor(math.log2(maxv / amax)), -1000), 1000)
    s = math.ldexp(1.0, k)
    if amax * s > maxv:                 # log2 rounded the wrong way
        s *= 0.5
    elif amax * s * 2.0 <= maxv:
        s *= 2.0
    return s


@njit(cache=True)
def round_vector(v, p, at, stochastic, scaled, rk, row, t, counts):
    """Round ``v`` in place to the format ``p[at:at+5]``; add its non-zero and flushed entries to
    ``counts[row]``. ``row`` also names the vector's stream of uniforms: 0 the gradient, ``1..R``
    the state rows, ``R + 1`` the weights, keyed from ``rk`` at step ``t`` (inside this compiled
    function, so a Python-mode loop wraps the uint64 arithmetic as the compiled loop does).
    Branch-free per entry, so numba vectorises the nearest-rounding pass."""
    m, emin, maxv, sat, f32 = int(p[at]), int(p[at + 1]), p[at + 2], p[at + 3] > 0.0, p[at + 4] > 0.0
    if m >= 52:
        return
    kt = step_key(rk + np.uint64(row) * GAMMA, t)
    s = power_of_two_scale(v, maxv) if scaled else 1.0
    inv = 1.0 / s
    nonzero, flushed = 0, 0
    if stochastic:
        for i in range(v.shape[0]):
            vi = v[i]
            r = round_stochastic(vi * s, uniform01(kt, i), m, emin, maxv, sat, f32) * inv
            nonzero += vi != 0.0
            flushed += (vi != 0.0) & (r == 0.0)
            v[i] = r
    else:
        for i in range(v.shape[0]):
            vi = v[i]
            r = round_nearest(vi * s, m, emin, maxv, sat, f32) * inv
            nonzero += vi != 0.0
            flushed += (vi != 0.0) & (r == 0.0)
            v[i] = r
    counts[row, 0] += nonzero
    counts[row, 1] += flushed


@njit(cache=True)
def step_stats(x, x_prev, eta, t, last_move):
    """``max_i |x_i - x_prev_i| / eta``; ``last_move[i] = t`` where coordinate ``i`` moved."""
    worst = 0.0
    for i in range(x.shape[0]):
        step = abs(x[i] - x_prev[i])
        worst = max(worst, step)
        if step > 0.0:
            last_move[i] = t
    return worst / eta


def run_precision_horizon(step, x, x_avg, S, h, key, rng, args, kind, lr, table, lo, hi, boxed, checkpoints, rec, win,
                          anchor, gsum, prec, low, t_from, t_to, c):
    """Steps ``t_from .. t_to`` in number formats; ``low = (g_low, x_prev, counts, largest, last_move)``
    (``low_buffers``) carries the rounding's buffers and statistics from segment to segment."""
    d = x.shape[0]
    n_ck = checkpoints.shape[0]
    R = S.shape[0]
    g_low, x_prev, counts, largest, last_move = low
    window_on = win[0] > 0.0
    win_vals = rec[3]
    stochastic, scaled = prec[FLAGS_AT] > 0.0, prec[FLAGS_AT + 1] > 0.0
    rk = np.uint64(rounding_key(key))         # numba hands a uint64 back to Python as an int
    averaged = False
    for t in range(t_from, t_to + 1):
        if not averaged:
            update_average(x_avg, x, t)
        g = GRAD(x, rng, *args)
        status, i = grad_status(g, d)
        if status != OK:
            return status, t, i, c
        g_low[:] = g                               # the oracle's array may be its own data: round a copy
        round_vector(g_low, prec, GRAD_AT, stochastic, scaled, rk, 0, t, counts)
        at_ck = c < n_ck and checkpoints[c] == t
        if window_on:
            window_step(win, anchor, gsum, x, g_low)
            if at_ck:
                win_vals[c] = window_value(win, gsum)
        eta = step_size(kind, lr, table, t)
        x_prev[:] = x
        step(x, g_low, S, h, eta, t, key)
        for r in range(R):
            round_vector(S[r], prec, STATE_AT, stochastic, scaled, rk, r + 1, t, counts)
        round_vector(x, prec, WEIGHTS_AT, stochastic, False, rk, R + 1, t, counts)
        averaged = t < t_to and not at_ck
        bad = settle(x, lo, hi, boxed, x_avg, t + 1 if averaged else 0)
        if bad >= 0:
            return NONFINITE_ITERATE, t, bad, c
        largest[0] = max(largest[0], step_stats(x, x_prev, eta, t, last_move))
        if at_ck:
            record(c, x, x_avg, S, rec)
            c += 1
    return OK, t_to, -1, c


def low_buffers(d, R):
    """What ``run_precision_horizon`` carries between segments: the rounded gradient, the previous
    iterate, the (non-zero, flushed) counts per rounded vector (rows: grad, each state row,
    weights), the largest step over ``eta_t`` and, per coordinate, the last step that moved it."""
    return np.empty(d), np.empty(d), np.zeros((R + 2, 2)), np.zeros(1), np.zeros(d)
