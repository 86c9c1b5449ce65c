"""Log-spaced checkpoint steps, where a run records its iterates."""
import numpy as np


def log_checkpoints(T, n=60):
    """About ``n`` distinct steps in ``[1, T]``, log-spaced, always ending at ``T``."""
    t = np.unique(np.round(np.logspace(0.0, np.log10(T), n)).astype(np.int64))
    return np.union1d(t[(t >= 1) & (t <= T)], [T]).astype(np.int64)


def check_checkpoints(checkpoints, T):
    """``None`` -> the log-spaced default; otherwise sorted, distinct ints in ``[1, T]``."""
    if checkpoints is None:
        return log_checkpoints(T)
    c = np.asarray(checkpoints)
    if c.ndim != 1 or c.size == 0 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"checkpoints must be a non-empty 1-D sequence of ints, got {checkpoints!r}")
    bad = c[(c < 1) | (c > T)]
    if bad.size:
        raise ValueError(f"checkpoints must lie in [1, T={T}], got {int(bad[0])}; drop it or raise T")
    return np.unique(c).astype(np.int64)
