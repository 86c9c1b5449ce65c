"""A horizon in one compiled call, or in segments that end at the checkpoints.

Every run loop (``theory_bench.engine.run_loop``) runs the steps ``t_from .. t_to`` on buffers its
caller owns and returns ``(status, t, i, c)``. When a run keeps its iterates, one call runs the
whole horizon and the losses are evaluated afterwards from the stored iterates. When it does not
(``theory_bench.engine.recording``), each call ends at a checkpoint and the loss is evaluated there
in Python on the live iterate and average, made read-only for that call, so a loss that writes
into its argument fails loudly instead of changing the run. The floating-point operations of the
run are the same either way; the Python between segments costs a few microseconds per checkpoint.
(An oracle that keeps state in ``args`` sees that state as it is at the checkpoint, not at the end.)
"""
import time

import numpy as np

from theory_bench.engine.run_loop import OK


def compile_loop(loop, path, call, extra=()):
    """Seconds to compile ``loop`` for the types of ``call`` (plus the numba types ``extra``), or to
    load it from the disk cache; 0 on the Python path. Timed apart from the run."""
    if path == "python":
        return 0.0
    import numba
    t0 = time.perf_counter()
    loop.compile(tuple(numba.typeof(a) for a in call) + tuple(extra))
    return time.perf_counter() - t0


def run_segments(loop, path, call, checkpoints, T, at_checkpoint=None):
    """Steps ``1..T`` of ``loop(*call, t_from, t_to, c)``; ``at_checkpoint(c)`` after checkpoint
    ``c`` when given. Returns ``((status, t, i), compile_s, wall_s)``, ``wall_s`` the loop's time only."""
    import numba
    compile_s = compile_loop(loop, path, call, (numba.int64,) * 3)
    ends = [int(c) for c in checkpoints] if at_checkpoint is not None else []
    if not ends or ends[-1] != T:
        ends.append(T)
    wall_s, t_from, c = 0.0, 1, 0
    for t_to in ends:
        t0 = time.perf_counter()
        status, t, i, c = loop(*call, t_from, t_to, c)
        wall_s += time.perf_counter() - t0
        if status != OK:
            return (status, t, i), compile_s, wall_s
        if at_checkpoint is not None and c > 0 and checkpoints[c - 1] == t_to:
            at_checkpoint(c - 1)
        t_from = t_to + 1
    return (OK, T, -1), compile_s, wall_s


class LossesAt:
    """``at_checkpoint`` for a run that keeps no iterates: ``loss`` at the iterate and at the average."""

    def __init__(self, loss, args, x, x_avg, n_ck):
        self.loss, self.args, self.x, self.x_avg = loss, args, x, x_avg
        self.losses, self.losses_avg = np.full(n_ck, np.nan), np.full(n_ck, np.nan)

    def __call__(self, c):
        self.losses[c] = self._at(self.x)
        self.losses_avg[c] = self._at(self.x_avg)

    def _at(self, v):
        v.flags.writeable = False
        try:
            return float(self.loss(v, *self.args))
        finally:
            v.flags.writeable = True
