"""The optimizer protocol: one of ours, or a user's own, run by the same loop.

A user's optimizer is any object with two methods:

    init(x0) -> state                    anything the step needs (arrays, a tuple of arrays)
    step(x, g, state, t, rng) -> x       the next iterate, shape of x0; may update state in place

``t`` counts from 1 and ``rng`` is the run's numpy Generator (the oracle's stream). Plain Python
methods run the loop of ``run_loop.run_user_horizon`` in Python (slow path, same numbers); when
``init`` and ``step`` are numba-jitted functions (``@njit`` functions set as attributes or
staticmethods of a class) the whole horizon is one compiled call (fast path). The box
projection, the averaging and the checks are the loop's, as for our optimizers.
"""
import copy

import numpy as np

from theory_bench.engine import recording, run_loop
from theory_bench.engine.loop_cache import is_jitted, loop_for
from theory_bench.engine.minimize import losses_at, minimize, prepare, raise_on, records
from theory_bench.engine.segments import LossesAt, run_segments
from theory_bench.engine.optimizer import Optimizer
from theory_bench.engine.precision import check_precision
from theory_bench.engine.trace import Trace


def optimizer_name(optimizer):
    if isinstance(optimizer, Optimizer):
        return optimizer.name
    return getattr(optimizer, "name", type(optimizer).__name__)


def check_protocol(optimizer):
    """Ours, or an object with callable ``init`` and ``step``; else a ValueError saying what is missing."""
    if isinstance(optimizer, Optimizer):
        return
    missing = [m for m in ("init", "step") if not callable(getattr(optimizer, m, None))]
    if missing:
        raise ValueError(
            f"optimizer must be an instance from theory_bench.optimizers or follow the protocol "
            f"init(x0) -> state and step(x, g, state, t, rng) -> x; {type(optimizer).__name__} has no "
            f"callable {' or '.join(missing)}")


def minimize_any(optimizer, grad, x0, T, *, args=(), seed=0, box=None, loss=None, checkpoints=None, precision=None,
                 record="auto"):
    """``theory_bench.engine.minimize`` for our optimizers, the protocol loop for a user's own."""
    check_protocol(optimizer)
    if isinstance(optimizer, Optimizer):
        return minimize(grad, x0, optimizer, T, args=args, seed=seed, box=box, loss=loss, checkpoints=checkpoints,
                        precision=precision, record=record)
    if check_precision(precision) is not None:
        raise ValueError(f"precision={precision!r} cannot be honoured by {optimizer_name(optimizer)}: the engine rounds "
                         "the state rows of the suite's optimizers, and a user optimizer's state is its own; round "
                         "inside your step with theory_bench.precision.round_to, or pass precision=None")
    name = optimizer_name(optimizer)
    x0, T, lo, hi, boxed, ckpts, rng, _ = prepare(grad, x0, T, args, seed, box, checkpoints)
    d = x0.shape[0]
    keep = recording.plan(record, ckpts.shape[0], d, 4 + 2 * boxed)     # x, x_avg, g, the step's output, box
    state = optimizer.init(x0.copy())
    _probe_step(optimizer, name, grad, x0, rng, args)
    step = optimizer.step
    if not (is_jitted(step) and is_jitted(grad)):
        step = _checked_step(name, step)
    loop, path = loop_for(grad, step, run_loop.run_user_horizon)
    x, x_avg = x0, np.zeros(d)
    rec = records(ckpts.shape[0], d, 0, keep)
    call = (x, x_avg, state, rng, args, lo, hi, boxed, ckpts, rec)
    at = None if keep or loss is None else LossesAt(loss, args, x, x_avg, ckpts.shape[0])
    (status, t_bad, i_bad), compile_s, wall_s = run_segments(loop, path, call, ckpts, T, at)
    raise_on(status, t_bad, i_bad, d, x, f"{name}.step")
    trace = Trace(x=x, x_avg=x_avg, t=ckpts, xs=rec[0] if keep else None, xs_avg=rec[1] if keep else None, state={},
                  state_sums={}, optimizer={"optimizer": name}, seed=seed, T=T, path=path, wall_s=wall_s,
                  compile_s=compile_s)
    return losses_at(loss, trace, args, at)


def _describe(v):
    if isinstance(v, np.ndarray):
        return f"an ndarray of shape {v.shape} and dtype {v.dtype}"
    return f"{type(v).__name__} {v!r}"[:120]


def _probe_step(optimizer, name, grad, x0, rng, args):
    """One step on copies and on a fresh state of its own, to say at once what is wrong with what
    ``step`` returns. A fresh ``init`` rather than a deep copy of the run's state: a copied torch
    optimizer keeps only its param groups and state, not the attributes its ``__init__`` set."""
    r = copy.deepcopy(rng)
    g = grad(x0.copy(), r, *copy.deepcopy(args))
    out = optimizer.step(x0.copy(), g, optimizer.init(x0.copy()), 1, r)
    if not isinstance(out, np.ndarray) or out.dtype != np.float64 or out.shape != x0.shape:
        raise ValueError(f"{name}.step must return a float64 ndarray of shape {x0.shape} (the next iterate), "
                         f"got {_describe(out)}")
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise FloatingPointError(f"{name}.step returned a non-finite iterate at step t=1: "
                                 f"x[{bad[0]}]={float(out[bad[0]])}")


def _checked_step(name, step):
    def checked(x, g, state, t, rng):
        out = step(x, g, state, t, rng)
        if not isinstance(out, np.ndarray) or out.dtype != np.float64 or out.ndim != 1:
            raise ValueError(f"{name}.step must return a float64 ndarray of shape ({x.shape[0]},), "
                             f"got {_describe(out)} at step t={t}")
        return out
    return checked
