"""``theory_bench.engine.minimize``: run one optimizer on one (sub)gradient oracle for ``T`` steps."""
import copy
import numbers
import time

import numpy as np

from theory_bench.engine import precision_loop, recording, run_loop, schedules
from theory_bench.engine.checkpoints import check_checkpoints
from theory_bench.engine.loop_cache import loop_for
from theory_bench.engine.optimizer import Optimizer
from theory_bench.engine.precision import check_precision
from theory_bench.engine.seeding import streams
from theory_bench.engine.segments import LossesAt, compile_loop, run_segments
from theory_bench.engine.trace import Trace


def minimize(grad, x0, optimizer, T, *, args=(), seed=0, box=None, loss=None, checkpoints=None,
             window=None, precision=None, record="auto"):
    """Run ``optimizer`` on the oracle ``grad`` from ``x0`` for ``T`` steps; return a ``Trace``.

    ``grad(x, rng, *args) -> ndarray`` returns a (stochastic) subgradient at ``x``, drawing any
    randomness from the numpy Generator ``rng``. A numba-jitted ``grad`` runs the whole horizon
    in one compiled call (cached on disk when ``grad`` is importable by name); a plain Python
    ``grad`` runs the same loop in Python, slower, with identical results. ``args`` carries data
    arrays into ``grad`` (and ``loss``), as in ``scipy.optimize``; an oracle may keep state in
    them (an online adversary's round counter and loss tape), and may return an array of its own
    from them (a preallocated output buffer: the loop only reads it). ``box`` is ``(lo, hi)``,
    scalars or arrays, and every step is projected onto it. ``loss(x, *args) -> float`` is
    evaluated at the checkpoints (default: about 60 log-spaced steps ending at ``T``).
    ``window=(delta, p, q)`` also records the trajectory-window ``(delta, q)`` stationarity in
    the ``l_p`` geometry at the checkpoints (``Trace.window``; ``theory_bench.analysis.stationarity``).
    ``precision=Precision(grad=, state=, weights=, rounding=, scaling=)`` runs the loop in those
    number formats (``theory_bench.engine.precision_loop``); the trace's ``extra`` then holds
    ``flushed_fraction`` (per rounded vector, the share of non-zero entries rounding sent to
    zero), ``largest_step`` (``max |x_{t+1} - x_t| / eta_t``) and ``last_move`` (per coordinate, the
    last step that changed it; 0 if none did). The default, ``None`` or
    ``Precision()``, runs the ordinary fp64 loop.
    ``record`` says whether the iterates at the checkpoints are kept (``Trace.xs``, ``Trace.xs_avg``):
    ``"auto"`` while they fit 256 MiB (else a ``RecordWarning`` before the run, and ``None``),
    ``"iterates"`` always, ``"losses"`` never (``theory_bench.engine.recording``). Memory is then
    the optimizer's state plus a few ``d``-vectors.
    The randomness scheme is described in ``theory_bench.engine.seeding``.
    """
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"optimizer must be an instance from theory_bench.optimizers, got {optimizer!r}; "
                         "for your own optimizer use theory_bench.engine.protocol.minimize_any")
    low = check_precision(precision)
    x0, T, lo, hi, boxed, ckpts, rng, key = prepare(grad, x0, T, args, seed, box, checkpoints)
    kind, table = schedules.resolve(optimizer.schedule, T)
    d, R = x0.shape[0], len(optimizer.state_names)
    vectors = 3 + R + 2 * boxed + 2 * (window is not None) + 3 * (low is not None)   # x, x_avg, g, state, ...
    keep = recording.plan(record, ckpts.shape[0], d, vectors)
    S, h = optimizer.init_state(x0), optimizer.hyper

    win = _window(window)
    x, x_avg = x0, np.zeros(d)                     # prepare's x0 is our own copy: it becomes the iterate
    rec = records(ckpts.shape[0], d, R, keep)
    wd = d if window is not None else 0
    call = (optimizer.kernel, x, x_avg, S, h, key, rng, args, kind, optimizer.lr, table, lo, hi, boxed, ckpts, rec, win,
            np.zeros(wd), np.zeros(wd))
    if low is None:
        loop, path = loop_for(grad, optimizer.kernel)
    else:
        loop, path = loop_for(grad, optimizer.kernel, precision_loop.run_precision_horizon)
        call += (low.packed, precision_loop.low_buffers(d, R))
    at = None if keep or loss is None else LossesAt(loss, args, x, x_avg, ckpts.shape[0])
    (status, t_bad, i_bad), compile_s, wall_s = run_segments(loop, path, call, ckpts, T, at)
    raise_on(status, t_bad, i_bad, d, x, repr(optimizer) + (f" in {low!r}" if low else ""))

    xs, xs_avg, sums, win_vals = rec
    trace = Trace(
        x=x, x_avg=x_avg, t=ckpts, xs=xs if keep else None, xs_avg=xs_avg if keep else None,
        state=dict(zip(optimizer.state_names, S)),
        state_sums={n: sums[:, r].copy() for r, n in enumerate(optimizer.state_names)},
        optimizer=optimizer.config(), seed=seed, T=T, path=path, wall_s=wall_s, compile_s=compile_s,
        window=win_vals if window is not None else None,
    )
    if low is not None:
        _, _, counts, largest, last_move = call[-1]
        rows = ("grad", *optimizer.state_names, "weights")
        flushed = {r: float(f / n) if n else 0.0 for r, (n, f) in zip(rows, counts)}
        trace.extra.update(precision=low.config(), largest_step=float(largest[0]),
                           last_move=last_move.astype(np.int64), flushed_fraction=flushed)
    return losses_at(loss, trace, args, at)


def records(n_ck, d, rows, keep):
    """What the loop records: ``(xs, xs_avg, state_sums, window)``; the iterates only when ``keep``."""
    n = n_ck if keep else 0
    return np.zeros((n, d)), np.zeros((n, d)), np.zeros((n_ck, rows)), np.zeros(n_ck)


def prepare(grad, x0, T, args, seed, box, checkpoints):
    """Validate what every run loop takes; probe the oracle once (on copies) at ``x0``."""
    if not callable(grad):
        raise ValueError(f"grad must be callable as grad(x, rng, *args), got {grad!r}")
    if not isinstance(args, tuple):
        raise ValueError(f"args must be a tuple of extra arguments, got {type(args).__name__}; "
                         "write args=(A, y) (or args=(A,) for one)")
    x0 = _vector("x0", x0)
    T = _horizon(T)
    lo, hi, boxed = _box(box, x0.shape[0])
    if boxed:
        _inside("x0", x0, lo, hi)
    ckpts = check_checkpoints(checkpoints, T)
    rng, key = streams(seed)
    _probe(grad, x0, copy.deepcopy(rng), copy.deepcopy(args))
    return x0, T, lo, hi, boxed, ckpts, rng, key


def timed_call(loop, path, call):
    """``(result, compile_s, wall_s)`` of a loop that runs a horizon in one call (``distributed``)."""
    compile_s = compile_loop(loop, path, call)
    t0 = time.perf_counter()
    out = loop(*call)
    return out, compile_s, time.perf_counter() - t0


def losses_at(loss, trace, args, at=None):
    """The losses at the checkpoints: from the stored iterates, or those ``at`` evaluated in the run."""
    if loss is not None:
        trace.losses = _checked(at.losses if at else _losses(loss, trace.xs, args))
        trace.losses_avg = _checked(at.losses_avg if at else _losses(loss, trace.xs_avg, args))
    return trace


def _window(window):
    """``(delta, p, q)`` -> the loop's ``[delta, p, q, count]``; ``None`` -> off (``delta = 0``)."""
    if window is None:
        return np.zeros(4)
    try:
        delta, p, q = window
    except (TypeError, ValueError):
        raise ValueError(f"window must be (delta, p, q), e.g. (0.1, np.inf, 1), got {window!r}") from None
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"window delta must be finite and > 0, got {delta!r}")
    if float(p) not in (2.0, np.inf) or float(q) not in (1.0, 2.0):
        raise ValueError(f"window norms must be p in (2, inf) and q in (1, 2), got p={p!r}, q={q!r}")
    return np.array([float(delta), float(p), float(q), 0.0])


def _vector(name, v):
    try:
        raw = np.asarray(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of floats, got {v!r}") from None
    if raw.dtype.kind == "c":
        raise ValueError(f"{name} must be real, got a complex array (dtype {raw.dtype}); pass {name}.real "
                         "if its imaginary part is zero")
    if raw.dtype.kind not in "iufO" or raw.dtype.kind == "O" and not all(
            isinstance(e, numbers.Real) and not isinstance(e, (bool, np.bool_)) for e in raw.flat):
        raise ValueError(f"{name} must be a 1-D array of real numbers, got dtype {raw.dtype} ({v!r:.80}); "
                         f"convert it with np.asarray({name}, dtype=float)")
    a = raw.astype(np.float64)                                     # always a copy: the run owns it
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}; "
                         f"flatten it (np.ravel) or wrap a scalar in a list")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{name} must be finite, got {name}[{bad[0]}]={float(a[bad[0]])}")
    return a


def _horizon(T):
    if isinstance(T, (bool, np.bool_)) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be an int >= 1 (the number of steps), got {T!r}")
    return int(T)


def _box(box, d):
    if box is None:
        return np.zeros(0), np.zeros(0), False                # never read: no box, no clip
    try:
        lo, hi = box
    except (TypeError, ValueError):
        raise ValueError(f"box must be a pair (lo, hi) of scalars or arrays, got {box!r}") from None
    bounds = []
    for name, b in (("lo", lo), ("hi", hi)):
        try:
            raw = np.asarray(b)
            if raw.dtype.kind not in "iufO":
                raise TypeError
            a = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"box {name} must be a real scalar or array, got {b!r:.80}") from None
        if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != d):
            raise ValueError(f"box {name} must be a scalar or have shape ({d},), got shape {a.shape}")
        if np.isnan(a).any():
            raise ValueError(f"box {name} must not contain NaN, got {b!r}")
        bounds.append(np.broadcast_to(a, (d,)).copy())
    lo, hi = bounds
    bad = np.flatnonzero(lo >= hi)
    if bad.size:
        i = bad[0]
        raise ValueError(f"box needs lo < hi in every coordinate, got lo[{i}]={lo[i]} >= hi[{i}]={hi[i]}")
    return lo, hi, True


def _inside(name, x, lo, hi):
    bad = np.flatnonzero((x < lo) | (x > hi))
    if bad.size:
        i = bad[0]
        raise ValueError(f"{name} must lie in the box, got {name}[{i}]={x[i]} outside [{lo[i]}, {hi[i]}]; "
                         f"clip it with np.clip({name}, lo, hi)")


def _probe(grad, x0, rng, args):
    """Call the oracle once at ``x0`` to check what it returns, on copies of the stream and of
    ``args``, so an oracle that keeps state in ``args`` (a round counter, a loss tape) is untouched."""
    g = grad(x0.copy(), rng, *args)
    if not isinstance(g, np.ndarray) or g.dtype != np.float64:
        got = type(g).__name__ if not isinstance(g, np.ndarray) else f"ndarray of {g.dtype}"
        raise ValueError(f"grad must return a float64 ndarray, got {got}; "
                         "return np.asarray(g, dtype=np.float64)")
    if g.shape != x0.shape:
        raise ValueError(f"grad must return shape {x0.shape} (the shape of x0), got {g.shape}")


def raise_on(status, t, i, d, x, who):
    if status == run_loop.BAD_SHAPE:
        raise ValueError(f"grad returned shape ({i},) at step t={t}, expected ({d},) like x0")
    if status == run_loop.NONFINITE_GRAD:
        raise FloatingPointError(f"grad returned a non-finite value at step t={t}, coordinate {i}; "
                                 "check the oracle there (overflow, 0/0, log of 0)")
    if status == run_loop.NONFINITE_ITERATE:
        raise FloatingPointError(f"{who} produced a non-finite iterate at step t={t}, "
                                 f"coordinate {i} (x[{i}]={x[i]}); lower lr or add a box")
    if status == run_loop.BAD_STEP_SHAPE:
        raise ValueError(f"{who} returned shape ({i},) at step t={t}, expected ({d},) like x0")


def _losses(loss, points, args):
    return np.array([float(loss(p, *args)) for p in points])


def _checked(out):
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise FloatingPointError(f"loss is non-finite at checkpoint {bad[0]}: {float(out[bad[0]])}")
    return out
