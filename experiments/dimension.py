"""Regret grows linearly in the dimension at fixed ``T`` (docs/theory.md §3.1, §3.2).

Claim ``regret-linear-in-d``: StoSignSGD's mean regret on the skewed adversary at fixed ``T``,
for ``d = 4 .. 64``: the slope of ``log R_T`` against ``log d`` lies in [0.9, 1.1], as the
``d D L sqrt(T)`` rate says for per-coordinate bounds ``|g_i| <= L``. Variant: the same
adversary with every loss scaled by ``1/sqrt(d)`` (``||g||_2`` bounded instead of ``|g_i|``),
where the sign method's regret grows as ``sqrt(d)``.
"""
import numpy as np

from theory_bench.experiments.runs import spec
from theory_bench.analysis.bootstrap import bootstrap_interval
from theory_bench.analysis.bounds import stosign_regret_upper
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.analysis.rates import log_slope

NAME = "dimension"
TITLE = "regret at fixed T against the dimension d"
DIMS = (4, 8, 16, 32, 64)
SEEDS = 20


def horizon(quick):
    return 10 ** 4 if quick else 10 ** 5


def run(ctx):
    T = horizon(ctx.quick)
    out = {}
    for label, scaled in (("main", False), ("l2_scaled", True)):
        cols = []
        for d in DIMS:
            kw = dict(d=d, scale=1.0 / np.sqrt(d) if scaled else 1.0)
            cols.append(ctx.runs(spec("skewed_linear", "StoSignSGD", T, problem_kw=kw, checkpoints=[T]), SEEDS))
        out[label] = {"regret": np.stack([c["regret"][:, -1] for c in cols], axis=1),
                      "G_sum": np.stack([c["G_sum"][:, -1] for c in cols], axis=1)}
    return out


def claims(data, ctx):
    setup = f"skewed_linear, d = {DIMS[0]}..{DIMS[-1]}, T={horizon(ctx.quick)}, {ctx.n_seeds(SEEDS)} seeds"
    slope = lambda R: Measurement(*bootstrap_interval(R, lambda r: log_slope(DIMS, r.mean(axis=0))), setup=setup)
    return [Claim("regret-linear-in-d", "StoSignSGD's regret grows linearly in d at fixed T",
                  "slope of log mean R_T vs log d", Range(0.9, 1.1), slope(data["main"]["regret"]),
                  "losses scaled by 1/sqrt(d) (l2-bounded gradients)", slope(data["l2_scaled"]["regret"]),
                  section="3.1, 3.2")]


def figures(data, ctx, outdir):
    from theory_bench.results.plotting import COLORS, band, figure, save
    T = horizon(ctx.quick)
    fig, axes = figure()
    ax = axes[0][0]
    d = np.array(DIMS, dtype=float)
    band(ax, d, data["main"]["regret"], "StoSignSGD, |g_i| <= L", COLORS["StoSignSGD"], marker="o")
    band(ax, d, data["l2_scaled"]["regret"], "StoSignSGD, losses / sqrt(d)", COLORS["Signum"], marker="s")
    ax.plot(d, stosign_regret_upper(T, data["main"]["G_sum"].mean(axis=0), 2.0), "k--",
            label="upper bound sqrt(2) w sqrt(T) E[sum G_T] (= d D L sqrt(T) rate)")
    ax.set(xscale="log", yscale="log", xlabel="dimension d", ylabel=f"regret R_T at T={T}",
           title="skewed adversary: regret is linear in d")
    ax.set_xticks(d, [f"{int(v)}" for v in d])            # the measured d, plain numbers
    ax.minorticks_off()
    ax.legend(loc="upper left", fontsize=7)
    return save(fig, outdir, "dimension")
