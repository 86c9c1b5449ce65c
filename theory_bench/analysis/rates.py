"""Rates and bound ratios with intervals over seeds (docs/theory.md §5).

- ``fit_slope(T, R)``: least-squares slope of ``log(mean R_T)`` against ``log T`` and its 95%
  bootstrap interval over the seeds (rows of ``R``).
- ``bound_ratio(R, bound)``: ``max_T mean(R_T) / bound(T)`` and its interval, where ``bound``
  maps the resampled runs to the bound at each ``T`` (so a data-dependent ``E[G_T]`` is taken
  from the same resample).
"""
import numpy as np

from theory_bench.analysis.bootstrap import bootstrap_interval


def log_slope(T, y):
    """Least-squares slope of ``log y`` against ``log T``."""
    T, y = np.asarray(T, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.any(y <= 0):
        raise ValueError(f"a log-log slope needs positive values, got min {y.min()!r}; "
                         "start the grid past the transient or use a positive measure")
    return float(np.polyfit(np.log(T), np.log(y), 1)[0])


def fit_slope(T, R, level=0.95, n_boot=2000, seed=0):
    """``(slope, lo, hi)`` of ``log(mean_seeds R)`` vs ``log T``; ``R`` has shape (seeds, len(T)).

    The bootstrap is vectorised: all resampled mean curves at once, slopes in closed form.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[1] != len(T):
        raise ValueError(f"R must have shape (seeds, {len(T)}), got {R.shape}")
    n = R.shape[0]
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 runs (seeds), got {n}")
    slope = log_slope(T, R.mean(axis=0))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    means = R[idx].mean(axis=1)                                    # (n_boot, len(T))
    if np.any(means <= 0):
        raise ValueError("a resampled mean curve is not positive; start the grid past the transient")
    lt = np.log(np.asarray(T, dtype=np.float64))
    lt = lt - lt.mean()
    slopes = (np.log(means) @ lt) / (lt @ lt)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(slopes, [alpha, 1 - alpha])
    return slope, float(lo), float(hi)


def bound_ratio(R, bound, aux=None, level=0.95, n_boot=2000, seed=0):
    """``(ratio, lo, hi)`` of ``max_T mean(R_T) / bound(aux_mean)`` over resampled seeds.

    ``bound(aux_mean)`` returns the bound at every ``T`` given the mean over the resampled seeds
    of ``aux`` (e.g. ``sum_i G_{T,i}``, shape (seeds, len(T))); with ``aux=None`` it gets None.
    """
    R = np.asarray(R, dtype=np.float64)
    both = R if aux is None else np.concatenate([R, np.asarray(aux, dtype=np.float64)], axis=1)
    k = R.shape[1]

    def stat(rows):
        b = bound(None if aux is None else rows[:, k:].mean(axis=0))
        return float(np.max(rows[:, :k].mean(axis=0) / b))

    return bootstrap_interval(both, stat, level, n_boot, seed)
