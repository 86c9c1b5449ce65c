"""Percentile bootstrap over seeds (docs/theory.md §5): the interval of a statistic of runs.

Rows of ``samples`` are independent runs (seeds); the statistic is recomputed on ``n_boot``
resamples of the rows, drawn from a fixed generator so that an interval is reproducible.
"""
import numpy as np


def bootstrap_interval(samples, statistic, level=0.95, n_boot=2000, seed=0):
    """``(estimate, lo, hi)``: ``statistic(samples)`` and its percentile interval over resampled rows."""
    samples = np.asarray(samples)
    n = samples.shape[0]
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 runs (seeds), got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(samples[rng.integers(0, n, n)]) for _ in range(n_boot)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(statistic(samples)), float(lo), float(hi)


def mean_interval(samples, level=0.95, n_boot=2000, seed=0):
    """The mean over seeds (axis 0) and its percentile interval, per column."""
    samples = np.asarray(samples, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = samples.shape[0]
    means = np.stack([samples[rng.integers(0, n, n)].mean(axis=0) for _ in range(n_boot)])
    alpha = (1 - level) / 2
    return samples.mean(axis=0), np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)
