"""Percentile bootstrap over seeds (docs/theory.md §5): the interval of a statistic of runs.

Rows of ``samples`` are independent runs (seeds); the statistic is recomputed on ``n_boot``
resamples of the rows, drawn from a fixed generator so that an interval is reproducible.
"""
import numpy as np


def bootstrap_interval(samples, statistic, level=0.95, n_boot=2000, seed=0, method="linear"):
    """``(estimate, lo, hi)``: ``statistic(samples)`` and its percentile interval over resampled rows
    (``method``: numpy's quantile method; ``"inverted_cdf"`` does not interpolate, so inf stays inf)."""
    samples = np.asarray(samples)
    n = samples.shape[0]
    if n < 2:
        raise ValueError(f"a bootstrap needs at least 2 runs (seeds), got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(samples[rng.integers(0, n, n)]) for _ in range(n_boot)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha], method=method)
    return float(statistic(samples)), float(lo), float(hi)


def mean_interval(samples, level=0.95, n_boot=2000, seed=0):
    """The mean over seeds (axis 0) and its percentile interval, per column."""
    samples = np.asarray(samples, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = samples.shape[0]
    rows = rng.integers(0, n, (n_boot, n))          # the same draws as one resample at a time
    chunk = max(1, 2 ** 22 // max(1, samples[0].size * n))          # at most 32 MiB of gathered rows at once
    means = np.concatenate([samples[rows[k:k + chunk]].mean(axis=1) for k in range(0, n_boot, chunk)])
    alpha = (1 - level) / 2
    return samples.mean(axis=0), np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)


def two_sample_interval(a, b, statistic, level=0.95, n_boot=2000, seed=0):
    """``(estimate, lo, hi)`` of ``statistic(a, b)`` for two independent groups of runs (rows of
    ``a`` and of ``b``), each resampled on its own: e.g. the ratio of two mean gaps."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError(f"a bootstrap needs at least 2 runs (seeds) per group, got {a.shape[0]} and {b.shape[0]}")
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(a[rng.integers(0, a.shape[0], a.shape[0])], b[rng.integers(0, b.shape[0], b.shape[0])])
                      for _ in range(n_boot)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha], method="inverted_cdf")   # no interpolation: inf stays inf
    return float(statistic(a, b)), float(lo), float(hi)


def steps_to_target(t, curves, target, scale="log"):
    """The first step at which the mean of ``curves`` (rows: runs; columns: the checkpoints ``t``)
    is at or below ``target``, interpolated between checkpoints in ``log t`` and ``log`` of the
    curve (``scale="log"``, for log-spaced checkpoints) or linearly (``"linear"``); ``inf`` if never."""
    m = np.asarray(curves, dtype=np.float64).mean(axis=0)
    hit = np.flatnonzero(m <= target)
    if hit.size == 0:
        return np.inf
    k = hit[0]
    if k == 0:
        return float(t[0])
    if scale == "linear":
        frac = (m[k - 1] - target) / (m[k - 1] - m[k])
        return float(t[k - 1] + frac * (t[k] - t[k - 1]))
    lt0, lt1, y0, y1 = np.log(t[k - 1]), np.log(t[k]), np.log(m[k - 1]), np.log(max(m[k], 1e-300))
    frac = (np.log(target) - y0) / (y1 - y0) if y1 != y0 else 1.0
    return float(np.exp(lt0 + frac * (lt1 - lt0)))
