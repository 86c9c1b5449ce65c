"""Stationarity on the non-convex, non-smooth minis (docs/theory.md §4).

Each mini (``relu_regression``, ``maxpool``, ``moe``) gets the skewed zero-mean gradient noise of
``problems.noise`` (``skew = 0.5``): unbiased feedback whose signs are biased.
Claim ``stationarity-<mini>``: StoSignSGD brings the sampled Goldstein ``(delta, q) = (0.1, 1)``
measure in the ``l_inf`` ball (``K = 64`` samples) at its last iterate to at most half its value
at ``x0`` within the horizon (mean over seeds, 95% interval). Variant: SignSGD on the same
feedback, which stalls: its sign drift points away from stationarity.
Without the noise SignSGD converges on these realisable minis, faster than StoSignSGD, whose
envelope keeps the largest early gradient (measured and reported, not claimed).
Figure: the sampled measure and the trajectory-window measure (same delta and norms) against t.
"""
import numpy as np

from theory_bench import problems
from theory_bench.experiments.runs import spec
from theory_bench.analysis.bootstrap import mean_interval
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.analysis.stationarity import goldstein_sampled

NAME = "stationarity"
TITLE = "Goldstein stationarity on the ReLU, max-pool and MoE minis"
MINIS = ("relu_regression", "maxpool", "moe")
DELTA, K, P, Q = 0.1, 64, np.inf, 1.0
SKEW = 0.5


def horizon(quick):
    return (2 * 10 ** 4, 10) if quick else (5 * 10 ** 4, 20)


def checkpoints(T):
    return np.unique(np.logspace(1, np.log10(T), 8).astype(int))


def measure_at_start(name):
    p = problems.make(name, skew=SKEW)
    return goldstein_sampled(p.full_grad, p.x0, DELTA, K=K, p=P, q=Q).value


def run(ctx):
    T, seeds = horizon(ctx.quick)
    out = {}
    for name in MINIS:
        for opt in ("StoSignSGD", "SignSGD"):
            s = spec(name, opt, T, problem_kw=dict(skew=SKEW), checkpoints=checkpoints(T), window=(DELTA, P, Q),
                     goldstein=(DELTA, K, P, Q))
            out[name, opt] = ctx.runs(s, seeds)
        out[name, "start"] = measure_at_start(name)
    return out


def claims(data, ctx):
    T, seeds = horizon(ctx.quick)
    out = []
    for name in MINIS:
        m0 = data[name, "start"]
        ratio = {}
        for opt in ("StoSignSGD", "SignSGD"):
            m, lo, hi = mean_interval(data[name, opt]["goldstein"][:, -1:] / m0)
            ratio[opt] = Measurement(float(m[0]), float(lo[0]), float(hi[0]),
                                     setup=f"{name} skew={SKEW}, T={T}, {ctx.n_seeds(seeds)} seeds, delta={DELTA}, "
                                           f"K={K}, l_inf ball, l_1 norm; at x0: {m0:.4g}")
        out.append(Claim(f"stationarity-{name}", f"StoSignSGD halves the (0.1, 1) Goldstein measure on {name} "
                         "with skewed gradient noise", "measure(x_T) / measure(x_0)", Range(hi=0.5),
                         ratio["StoSignSGD"], "SignSGD", ratio["SignSGD"], section="4, 3.3.3"))
    return out


def figures(data, ctx, outdir):
    from theory_bench.results.plotting import COLORS, band, figure, legend_below, save
    T, _ = horizon(ctx.quick)
    ck = checkpoints(T)
    fig, axes = figure(ncols=3, width=4.0)
    for ax, name in zip(axes[0], MINIS):
        for opt in ("StoSignSGD", "SignSGD"):
            r = data[name, opt]
            band(ax, ck, r["goldstein"], f"{opt}, sampled (K={K})", COLORS[opt])
            band(ax, ck, r["window"], f"{opt}, trajectory window", COLORS[opt], ls="--")
        ax.axhline(data[name, "start"], color="k", ls=":", label="sampled measure at the start x_0")
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel=f"Goldstein ({DELTA}, l_1) measure at x_t",
               title=f"{name}, skewed noise ({SKEW}): l_inf ball of radius {DELTA}")
    legend_below(axes[0][1], ncol=3)            # the same five lines in every panel
    return save(fig, outdir, "stationarity")
