"""How often the testing API's default checks fail a correct optimizer, and how surely they fail a broken one.

``python -m theory_bench.testing_calibration [--quick] [--json FILE]`` measures what docs/testing.md's
tables state, by running the checks' own statistics on real runs:

1. **Default tolerances** (``assert_converges`` without ``tol``): on each problem of ``CHECKS``, a
   correct StoSignSGD over ``ROOTS x SEEDS`` seeds. The false-failure rate of the check (the mean of
   ``SEEDS`` gaps above ``tol``) by the variance (the normal model of that mean, with the measured mean
   and standard deviation) and by simulation (the check itself on ``ROOTS`` disjoint root seeds:
   failures counted); then each variant's mean gap over the tolerance (above 1 fails: the margin).
2. **Regret** (``assert_regret_rate``, one-sided default) on ``skewed_linear`` (``d = 10``): the slope's
   interval and the bound ratio of correct optimizers over 1.5 decades of lr, and of each variant.
3. **Snapshots** (``theory_bench.analysis.regression``): the false alarm for an unchanged distribution
   (recorded and new seeds drawn apart from one pool of runs), and the power against a 2x worse
   geometric mean and against a real regression (lr x 0.7), at 5 seeds and at the seeds the normal
   model says reach 0.99.

The variants (``variants(lr)``): SignSGD, the current ``|g|`` as the envelope, Gaussian noise, half
the noise (``n ~ U[-1/2, 1/2]``), and a constant lr (no decay). An envelope updated after the draw is
not among them: for a running max it is the same optimizer (the new max sets ``G = |g|``, so the
sign is ``sign(g)`` either way), and no check can or should tell them apart.
"""
import argparse
import json
import math
import time

import numpy as np
from numba import njit
from scipy import stats

from theory_bench.analysis.regression import ALPHA, RTOL, log_summaries, log_summary, power, seeds_for_power, worse_many
from theory_bench.engine.seeding import spawn_seeds
from theory_bench.optimizers import SGD, SignSGD, StoSignSGD, sign_convert
from theory_bench.testing import MAX_SLOPE, ROOT_SEED, assert_regret_rate

ROOTS, SEEDS = 200, 5
REGRET_GRID = (1000, 3000, 10_000, 30_000)


@njit(cache=True)
def scaled_noise_step(x, g, state, t, rng):
    """``x - lr_t sign(g + c G n)``, ``G`` the running max, ``n ~ U[-1, 1]``; ``state = (G, [lr, c])``:
    ``c = 1`` is StoSignSGD, ``-1`` the same with the noise negated (the same law), ``1/2`` half the noise
    (biased). Numba protocol functions with the step size in the state: one compile for every lr."""
    G, h = state
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        G[i] = max(G[i], abs(g[i]))
        v = g[i] + h[1] * G[i] * (2.0 * rng.random() - 1.0)
        out[i] = x[i] - h[0] / np.sqrt(t) * ((v > 0.0) - (v < 0.0))
    return out


class ScaledNoise:
    """A protocol optimizer stepping by ``sign(g + c G n)`` (``scaled_noise_step``)."""
    name = "StoSignSGD (noise x c)"
    step = staticmethod(scaled_noise_step)

    def __init__(self, lr, c=1.0):
        self.lr, self.c = float(lr), float(c)

    def init(self, x0):
        return np.zeros_like(x0), np.array([self.lr, self.c])


class HalfNoise(ScaledNoise):
    """StoSignSGD with half its noise, ``sign(g + G n / 2)``: biased, ``E = 2 g / G`` clipped to [-1, 1]."""
    name = "StoSignSGD (half noise)"

    def __init__(self, lr):
        super().__init__(lr, 0.5)


def variants(lr):
    """The correct optimizer and the broken ones, at base step ``lr``."""
    return {"StoSignSGD": StoSignSGD(lr), "SignSGD": SignSGD(lr),
            "current envelope": sign_convert(SGD(lr), envelope="current"),
            "Gaussian noise": sign_convert(SGD(lr), noise="gaussian"), "half noise": HalfNoise(lr),
            "constant lr": StoSignSGD(lr, schedule="constant")}


def checks():
    """``{label: (problem, T, lr)}``: the problems a sign optimizer's author would run."""
    from theory_bench import problems
    return {
        "counterexample_2d": (problems.make("counterexample_2d"), 10_000, 0.3),
        "nesterov (d=50)": (problems.make("nesterov"), 10_000, 0.1),
        "skewed_linear (d=10)": (problems.make("skewed_linear", d=10), 10_000, None),
        "skewed_quadratic (d=10)": (problems.make("skewed_quadratic", d=10), 10_000, None),
        "hinge (d=10, skew=0.3)": (problems.make("hinge", d=10, skew=0.3), 10_000, None),
        "l1 (d=10, skew=0.3)": (problems.make("l1", d=10, skew=0.3), 10_000, None),
        "hinge (d=10, skew=0.3), T=10^5": (problems.make("hinge", d=10, skew=0.3), 100_000, None),
        "l1 (d=10, skew=0.3), T=10^5": (problems.make("l1", d=10, skew=0.3), 100_000, None),
        "hinge (d=100)": (problems.make("hinge", n=1000, d=100), 10_000, None),
        "max_affine (d=20)": (problems.make("max_affine", d=20), 10_000, None),
    }


def gaps(p, optimizer, T, n, root):
    f_star = p.optimum()[1]
    return np.array([p.minimize(optimizer, T, seed=s, checkpoints=[T]).losses_avg[-1] - f_star
                     for s in spawn_seeds(root, n)])


def default_tolerances(roots=ROOTS, seeds=SEEDS, variant_seeds=SEEDS):
    """Rows of table 1 (and each problem's pool of correct gaps, for the snapshot simulation)."""
    rows, pools = [], {}
    for label, (p, T, lr) in checks().items():
        lr = lr or p.lr
        tol, _ = p.default_tolerance(T)
        pool = gaps(p, StoSignSGD(lr), T, roots * seeds, ROOT_SEED + 1)
        pools[label] = (p, T, lr, pool)
        means = pool.reshape(roots, seeds).mean(axis=1)          # the check, run on `roots` disjoint seed sets
        mu, sd = float(pool.mean()), float(pool.std(ddof=1))
        z = (tol - mu) / (sd / math.sqrt(seeds)) if sd > 0 else math.inf
        row = {"problem": label, "T": T, "lr": lr, "tol": float(tol), "correct_mean": mu, "correct_sd": sd,
               "z": z, "false_failure_normal": float(stats.norm.sf(z)), "roots": roots,
               "failures_simulated": int((means > tol).sum()), "largest_mean_over_tol": float(means.max() / tol)}
        for name, opt in variants(lr).items():
            if name != "StoSignSGD":
                row[name] = float(gaps(p, opt, T, variant_seeds, ROOT_SEED).mean() / tol)
        rows.append(row)
    return rows, pools


def regret_rows(seeds=20, lrs=(0.14, 0.45, 1.41, 4.5)):
    """Rows of table 2: the one-sided regret check at several lr and on every variant."""
    from theory_bench import problems
    p = problems.make("skewed_linear", d=10)
    cases = [(f"StoSignSGD lr={lr:g}", StoSignSGD(lr)) for lr in lrs] + [(f"SGD lr={lr:g}", SGD(lr)) for lr in lrs]
    cases += [(name, opt) for name, opt in variants(p.lr).items() if name != "StoSignSGD"]
    cases.append(("constant lr 0.05", StoSignSGD(0.05, schedule="constant")))
    rows = []
    for name, opt in cases:
        try:
            r, verdict = assert_regret_rate(opt, p, REGRET_GRID, seeds=seeds), "passes"
        except AssertionError as err:
            r, verdict = err.result, "fails"
        row = {"optimizer": name, "verdict": verdict}
        row.update(slope=float(r.extra["slope"]), slope_hi=float(r.extra["interval"][1]),
                   bound_ratio_lo=float(r.extra["bound_ratio"][1]))
        rows.append(row)
    return rows


def snapshot_rates(pool, regression_pool=None, n=SEEDS, reps=20_000, ratio=2.0, alpha=ALPHA, rtol=RTOL, seed=0):
    """``(false_alarm, power_ratio, power_regression)``: the snapshot check run ``reps`` times on seed
    sets drawn apart from ``pool`` (correct runs), the new set as is, times ``ratio``, and drawn from
    ``regression_pool``."""
    rng = np.random.default_rng(seed)
    k = np.argsort(rng.random((reps, pool.size)), axis=1)[:, :2 * n]       # 2n distinct runs per check
    rec, new = pool[k[:, :n]], pool[k[:, n:]]
    r = log_summaries(rec)
    out = [worse_many(r, log_summaries(new), alpha, rtol).mean(), worse_many(r, log_summaries(new * ratio), alpha, rtol).mean(),
           0.0]
    if regression_pool is not None:
        j = np.argsort(rng.random((reps, regression_pool.size)), axis=1)[:, :n]
        out[2] = worse_many(r, log_summaries(regression_pool[j]), alpha, rtol).mean()
    return tuple(float(c) for c in out)


def snapshot_rows(pools, reps=20_000, regression_seeds=200):
    rows = []
    for label, (p, T, lr, pool) in pools.items():
        sd = log_summary(pool)[2]
        need = seeds_for_power(sd)
        slower = gaps(p, StoSignSGD(0.7 * lr), T, regression_seeds, ROOT_SEED + 2)
        row = {"problem": label, "sd_log": sd, "seeds_for_0.99": need,
               "regression_ratio": float(math.exp(log_summary(slower)[1] - log_summary(pool)[1]))}
        for n in sorted({SEEDS, min(need, pool.size // 2, regression_seeds)}):
            fa, pw, real = snapshot_rates(pool, slower, n, reps)
            row[f"n={n}"] = {"false_alarm": fa, "power_2x": pw, "power_2x_normal": power(sd, n, n),
                             "power_lr0.7": real}
        rows.append(row)
    return rows


def calibrate(quick=False):
    t0 = time.time()
    roots = 40 if quick else ROOTS
    tol_rows, pools = default_tolerances(roots=roots)
    return {"default_tolerances": tol_rows, "regret": regret_rows(seeds=10 if quick else 20),
            "snapshots": snapshot_rows(pools, reps=2000 if quick else 20_000, regression_seeds=40 if quick else 200),
            "seconds": time.time() - t0, "quick": quick}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer roots, seeds and resamples (about a minute)")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    out = calibrate(args.quick)
    text = json.dumps(out, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
