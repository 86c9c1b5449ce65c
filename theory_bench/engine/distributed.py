"""``simulate``: ``M`` workers that send signs, in one compiled call (docs/theory.md §7).

``simulate(grad, x0, T, workers=M, method="stosign", envelope="local", ...)`` runs the loop of
``theory_bench.engine.distributed_loop`` on a numba-jitted oracle ``grad(x, rng, *args)`` and
returns a ``DistributedRun``: the averaged iterate at the checkpoints, its losses (given
``loss``), each worker's envelope sum, and the bits each worker sends and receives per step
(``bits_per_step``). Methods: ``"sgd"``, ``"majority"`` (SignSGD with majority vote),
``"signum"`` (Signum with majority vote, momentum ``beta``), ``"stosign"`` (averaged stochastic
signs; envelope ``"local"`` or ``"shared"``, the max-allreduce every ``every`` steps) and ``"ef"``
(EF-SignSGD). The oracle must be numba-jitted (``@njit``). A sharded oracle (workers holding different data) reads the worker's index from
``slot[0]``: pass the one-element int64 array that is also in its ``args`` as ``slot``.

Bits per coordinate, per worker and step, exactly as the loop sends them (§7): ``sgd`` 32 up
and 32 down (an fp32 parameter server); ``majority``, ``signum`` 1 and 1 (a tie is a coin);
``stosign`` 1 up and ``ceil(log2(M + 1))`` down (the sum of ``M`` signs), plus, with the shared
envelope, 32 up and 32 down every ``every`` steps; ``ef`` 1 up and 1 down, plus a 32-bit scale
per vector each way.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from theory_bench.engine import distributed_loop as dl
from theory_bench.engine import schedules
from theory_bench.engine.loop_cache import bound_loop, is_jitted
from theory_bench.engine.minimize import prepare, raise_on, timed_call

METHODS = {"sgd": dl.SGD, "majority": dl.MAJORITY, "signum": dl.SIGNUM, "stosign": dl.STOSIGN, "ef": dl.EF}
ENVELOPES = ("local", "shared")
FLOAT_BITS = 32


@dataclass
class DistributedRun:
    t: np.ndarray                 # the checkpoints
    x: np.ndarray                 # the final iterate
    x_avg: np.ndarray             # the final averaged iterate
    xs_avg: np.ndarray            # the averaged iterate at each checkpoint
    envelope_sums: np.ndarray     # (checkpoints, M): sum_i of each worker's state (G for stosign)
    bits_up: float                # bits each worker sends per step
    bits_down: float              # bits each worker receives per step
    config: dict
    wall_s: float = 0.0
    compile_s: float = 0.0
    losses_avg: np.ndarray = field(default=None)


def check_workers(workers):
    if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers (M) must be an int >= 1, got {workers!r}")
    return int(workers)


def check_method(method, envelope="local", every=1, beta=0.9):
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(map(repr, METHODS))}")
    if envelope not in ENVELOPES:
        raise ValueError(f"envelope must be 'local' or 'shared', got {envelope!r}")
    if isinstance(every, (bool, np.bool_)) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every (steps between envelope max-allreduces) must be an int >= 1, got {every!r}")
    if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
        raise ValueError(f"beta (Signum's momentum) must be in [0, 1), got {beta!r}")


def bits_per_step(method, workers, d, envelope="local", every=1):
    """``(up, down)``: the bits one worker sends and receives per step for ``d`` coordinates."""
    M = check_workers(workers)
    check_method(method, envelope, every)
    if method == "sgd":
        return float(FLOAT_BITS * d), float(FLOAT_BITS * d)
    if method in ("majority", "signum"):
        return float(d), float(d)
    if method == "ef":
        return float(d + FLOAT_BITS), float(d + FLOAT_BITS)
    up, down = float(d), float(d * math.ceil(math.log2(M + 1)))
    if envelope == "shared":
        up, down = up + FLOAT_BITS * d / every, down + FLOAT_BITS * d / every
    return up, down


def simulate(grad, x0, T, *, workers, method="stosign", envelope="local", every=1, beta=0.9, lr=1.0,
             schedule="inv_sqrt", args=(), slot=None, seed=0, box=None, loss=None, checkpoints=None):
    """Run ``workers`` workers of ``method`` on the oracle ``grad`` from ``x0`` for ``T`` steps."""
    M = check_workers(workers)
    check_method(method, envelope, every, beta)
    if callable(grad) and not is_jitted(grad):
        raise ValueError(f"simulate runs M workers in one compiled loop and needs a numba-jitted oracle, got the "
                         f"plain function {getattr(grad, '__name__', grad)!r}; decorate it with @numba.njit")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if slot is None:
        slot = np.zeros(1, dtype=np.int64)
    elif not (isinstance(slot, np.ndarray) and slot.dtype == np.int64 and slot.shape == (1,)):
        raise ValueError(f"slot must be a one-element int64 array shared with the oracle's args, got {slot!r}")
    x0, T, lo, hi, boxed, ckpts, rng, key = prepare(grad, x0, T, args, seed, box, checkpoints)
    kind, table = schedules.resolve(schedules.check_schedule(schedule), T)
    loop, path = bound_loop(dl.run_distributed_horizon, {"GRAD": grad})
    call = (x0, M, METHODS[method], envelope == "shared", int(every), float(beta), key, rng, args, slot, T, kind,
            float(lr), table, lo, hi, boxed, ckpts)
    before = int(slot[0])
    try:
        (status, t_bad, i_bad, (x, x_avg, xs_avg, env, _)), compile_s, wall_s = timed_call(loop, path, call)
    finally:
        slot[0] = before                        # the oracle is an ordinary one again outside the run
    raise_on(status, t_bad, i_bad, x0.shape[0], x, f"{method} with {M} workers")
    up, down = bits_per_step(method, M, x0.shape[0], envelope, every)
    config = dict(method=method, workers=M, envelope=envelope, every=int(every), beta=float(beta), lr=float(lr),
                  schedule=schedule if isinstance(schedule, str) else "callable", T=T)
    run = DistributedRun(t=ckpts, x=x, x_avg=x_avg, xs_avg=xs_avg, envelope_sums=env, bits_up=up, bits_down=down,
                         config=config, wall_s=wall_s, compile_s=compile_s)
    if loss is not None:
        run.losses_avg = np.array([float(loss(xa, *args)) for xa in xs_avg])
    return run
