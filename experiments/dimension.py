"""Regret grows linearly in the dimension at fixed ``T`` (THEORY.md sections 3.1, 3.2).

Claim ``regret-linear-in-d``: StoSignSGD's mean regret on the skewed adversary at fixed ``T``,
for ``d = 4 .. 64``: the slope of ``log R_T`` against ``log d`` lies in [0.9, 1.1], as the
``d D L sqrt(T)`` rate says for per-coordinate bounds ``|g_i| <= L``. Variant: the same
adversary with every loss scaled by ``1/sqrt(d)`` (``||g||_2`` bounded instead of ``|g_i|``),
where the sign method's regret grows as ``sqrt(d)``.
"""
import numpy as np

from experiments.runs import run_seeds, seeds_for, spec
from theory_bench.bootstrap import bootstrap_interval
from theory_bench.claims import Claim, Measurement, Range
from theory_bench.rates import log_slope

DIMS = (4, 8, 16, 32, 64)


def regret_by_dimension(T, seeds, jobs, l2_scaled=False):
    """Final regret per (seed, d): shape (seeds, len(DIMS))."""
    cols = []
    for d in DIMS:
        kw = dict(d=d, scale=1.0 / np.sqrt(d) if l2_scaled else 1.0)
        runs = run_seeds(spec("skewed_linear", "StoSignSGD", T, problem_kw=kw, checkpoints=[T]), seeds_for(seeds), jobs)
        cols.append(runs["regret"][:, -1])
    return np.stack(cols, axis=1)


def claims(quick=False, jobs=None, data=None):
    T, seeds = (10 ** 4 if quick else 10 ** 5), 20
    main, variant = regret_by_dimension(T, seeds, jobs), regret_by_dimension(T, seeds, jobs, l2_scaled=True)
    if data is not None:
        data.update({"dimension/main": {"d": np.array(DIMS), "regret": main},
                     "dimension/l2_scaled": {"d": np.array(DIMS), "regret": variant}})
    slope = lambda R: Measurement(*bootstrap_interval(R, lambda r: log_slope(DIMS, r.mean(axis=0))),
                                  setup=f"skewed_linear, d = {DIMS[0]}..{DIMS[-1]}, T={T}, {seeds} seeds")
    return [Claim("regret-linear-in-d", "StoSignSGD's regret grows linearly in d at fixed T",
                  "slope of log mean R_T vs log d", Range(0.9, 1.1), slope(main),
                  "losses scaled by 1/sqrt(d) (l2-bounded gradients)", slope(variant), section="3.1, 3.2")]
