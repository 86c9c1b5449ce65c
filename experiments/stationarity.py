"""Stationarity on the non-convex, non-smooth minis (THEORY.md section 4).

Each mini (``relu_regression``, ``maxpool``, ``moe``) gets the skewed zero-mean gradient noise of
``problems.noise`` (``skew = 0.5``): unbiased feedback whose signs are biased.
Claim ``stationarity-<mini>``: StoSignSGD brings the sampled Goldstein ``(delta, q) = (0.1, 1)``
measure in the ``l_inf`` ball (``K = 64`` samples) at its last iterate to at most half its value
at ``x0`` within the horizon (mean over seeds, 95% interval). Variant: SignSGD on the same
feedback, which stalls: its sign drift points away from stationarity.
Without the noise SignSGD converges on these realisable minis, faster than StoSignSGD, whose
envelope keeps the largest early gradient (measured and reported, not claimed).
"""
from functools import partial

import numpy as np

import problems
from experiments.runs import run_one, seeds_for, spec
from theory_bench.bootstrap import mean_interval
from theory_bench.claims import Claim, Measurement, Range
from theory_bench.parallel import map_runs
from theory_bench.stationarity import goldstein_sampled

MINIS = ("relu_regression", "maxpool", "moe")
DELTA, K, P, Q = 0.1, 64, np.inf, 1.0
SKEW = 0.5


def measure(problem, x, seed=0):
    return goldstein_sampled(problem.full_grad, x, DELTA, K=K, p=P, q=Q, seed=seed).value


def run_and_measure(s, seed):
    """One run with the online window measure, and the sampled Goldstein measure at the checkpoints."""
    out = run_one(s, seed)
    p = problems.make(s["problem"], **s["problem_kw"])
    out["goldstein"] = np.array([measure(p, x) for x in out.pop("xs")])
    return out


def claims(quick=False, jobs=None, data=None):
    T, n_seeds = (2 * 10 ** 4, 10) if quick else (5 * 10 ** 4, 20)
    ck = np.unique(np.logspace(1, np.log10(T), 8).astype(int))
    out = []
    for name in MINIS:
        p = problems.make(name, skew=SKEW)
        m0 = measure(p, p.x0)
        ratio = {}
        for opt in ("StoSignSGD", "SignSGD"):
            s = spec(name, opt, T, problem_kw=dict(skew=SKEW), checkpoints=ck, window=(DELTA, P, Q))
            s["keep_xs"] = True
            runs = map_runs(partial(run_and_measure, s), seeds_for(n_seeds), jobs)
            stacked = {k: np.stack([r[k] for r in runs]) for k in runs[0]}
            if data is not None:
                data[f"stationarity/{name}/{opt}"] = dict(stacked, goldstein0=np.array(m0))
            m, lo, hi = mean_interval(stacked["goldstein"][:, -1:] / m0)
            ratio[opt] = Measurement(float(m[0]), float(lo[0]), float(hi[0]),
                                     setup=f"{name} skew={SKEW}, T={T}, {n_seeds} seeds, "
                                           f"delta={DELTA}, K={K}, l_inf ball, l_1 norm; at x0: {m0:.4g}")
        out.append(Claim(f"stationarity-{name}", f"StoSignSGD halves the (0.1, 1) Goldstein measure on {name} "
                         "with skewed gradient noise", "measure(x_T) / measure(x_0)", Range(hi=0.5),
                         ratio["StoSignSGD"], "SignSGD", ratio["SignSGD"], section="4, 3.3.3"))
    return out
