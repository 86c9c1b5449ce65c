"""Step-size schedules ``eta_t`` (docs/theory.md §1).

``"constant"``: ``eta_t = lr``; ``"inv_sqrt"``: ``eta_t = lr / sqrt(t)`` (the schedule of the
regret bounds); a callable ``f``: ``eta_t = lr * f(t)`` (a multiplier, as in PyTorch's
``LambdaLR``), evaluated once for ``t = 1..T`` before the run.
"""
import numpy as np

CONSTANT, INV_SQRT, TABLE = 0, 1, 2
_KINDS = {"constant": CONSTANT, "inv_sqrt": INV_SQRT}


def check_schedule(schedule):
    """Validate a schedule given on construction of an optimizer; return it unchanged."""
    if callable(schedule) or schedule in _KINDS:
        return schedule
    raise ValueError(
        f"schedule must be 'constant', 'inv_sqrt' or a callable t -> multiplier, got {schedule!r}"
    )


def resolve(schedule, T):
    """Return ``(kind, table)`` for the run loop; ``table`` holds the multipliers for a callable."""
    if not callable(schedule):
        return _KINDS[schedule], np.empty(0)
    t = np.arange(1, T + 1, dtype=np.float64)
    try:
        table = np.asarray(schedule(t), dtype=np.float64)
    except Exception:  # a scalar-only function: evaluate it point by point
        table = None
    if table is None or table.shape != (T,):
        table = np.fromiter((schedule(int(s)) for s in range(1, T + 1)), np.float64, count=T)
    bad = np.flatnonzero(~(np.isfinite(table) & (table > 0)))
    if bad.size:
        s = int(bad[0]) + 1
        raise ValueError(
            f"schedule multiplier must be finite and > 0 at every step, got {float(table[s - 1])} at t={s}; "
            "fix the schedule function"
        )
    return TABLE, table
