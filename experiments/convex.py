"""Optimisation gap of the averaged iterate on hinge, L1 and max-of-affine, synthetic and real.

Figure: ``f(x_avg_t) - f*`` (the cvxpy optimum is the zero line) for every optimizer on five
problems (hinge and L1 synthetic, hinge on breast cancer, L1 on diabetes, max-of-affine), with
StoSignSGD's online-to-batch bound ``sqrt(2) w sum_i E[G_{t,i}] / sqrt(t)``.
Claims ``batch-bound-<problem>``: StoSignSGD's gap stays below that bound (``max_t gap / bound
<= 1``) on hinge and L1 with skewed zero-mean gradient noise (``d = 10, skew = 0.3``) and on
max-of-affine (``d = 10``, exact subgradients); variant SignSGD against the same bound with
``G = L``: it stalls (at 0.48, 0.73 and 0.82 at ``T = 1e5``), so it crosses the bound.
On the real data sets the bound, with ``L = max_j |a_ji|`` of standardised features (5 to 12),
is too loose at ``T = 1e5`` to tell SignSGD apart, so they are drawn, not claimed.
"""
import numpy as np

from theory_bench import problems
from theory_bench.experiments.runs import spec
from theory_bench.analysis.bounds import online_to_batch_gap, stosign_regret_upper
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.analysis.rates import bound_ratio

NAME = "convex"
TITLE = "optimisation gap on hinge, L1 and max-of-affine, synthetic and real, every optimizer"
FIGURE_PROBLEMS = (("hinge", dict(d=20)), ("hinge", dict(data="breast_cancer")), ("l1", dict(d=20)),
                   ("l1", dict(data="diabetes")), ("max_affine", dict(d=20)))
CLAIM_PROBLEMS = (("hinge", dict(d=10, skew=0.3)), ("l1", dict(d=10, skew=0.3)), ("max_affine", dict(d=10)))
OPTIMIZERS = ("SGD", "SignSGD", "Signum", "EF-SignSGD", "StoSignSGD", "StoSignSGD-practical", "AdaGrad",
              "Adam", "AdamW", "Lion")
LR = {"Adam": {"lr": 0.01}, "AdamW": {"lr": 0.01}, "Lion": {"lr": 0.05}, "AdaGrad": {"schedule": "constant"}}


def horizon(quick):
    return (10 ** 4, 5) if quick else (10 ** 5, 20)


def claim_horizon(quick):
    """The claims need SignSGD's stalled gap to cross the bound: at 2e4 it does by 17% (hinge)."""
    return (2 * 10 ** 4, 10) if quick else (10 ** 5, 20)


def checkpoints(T):
    return np.unique(np.logspace(1, np.log10(T), 13).astype(int))


def label(name, kw):
    return f"{name}[{kw['data']}]" if "data" in kw else f"{name}[d={kw['d']}" + (f", skew={kw['skew']}]" if kw.get("skew") else "]")


def run(ctx):
    T, seeds = horizon(ctx.quick)
    out = {}
    for name, kw in FIGURE_PROBLEMS:
        f_star = problems.make(name, **kw).optimum()[1]
        for opt in OPTIMIZERS:
            r = ctx.runs(spec(name, opt, T, problem_kw=kw, opt_kw=LR.get(opt, {}), checkpoints=checkpoints(T)), seeds)
            r["gap"] = r["loss_avg"] - f_star
            out[label(name, kw), opt] = r
    T_c, seeds_c = claim_horizon(ctx.quick)
    for name, kw in CLAIM_PROBLEMS:
        f_star = problems.make(name, **kw).optimum()[1]
        for opt in ("StoSignSGD", "SignSGD"):
            r = ctx.runs(spec(name, opt, T_c, problem_kw=kw, checkpoints=checkpoints(T_c)), seeds_c)
            r["gap"] = r["loss_avg"] - f_star
            out[label(name, kw), opt] = r
    return out


def _batch_bound(ck, width):
    return lambda G: online_to_batch_gap(stosign_regret_upper(ck, G, width), ck)


def claims(data, ctx):
    T_c, seeds_c = claim_horizon(ctx.quick)
    ck = checkpoints(T_c)
    out = []
    for name, kw in CLAIM_PROBLEMS:
        p = problems.make(name, **kw)
        width = float((p.hi - p.lo).max())
        sto, sign = data[label(name, kw), "StoSignSGD"], data[label(name, kw), "SignSGD"]
        setup = f"{label(name, kw)}, T={T_c}, {ctx.n_seeds(seeds_c)} seeds, w={width:g}, eta=w/sqrt(2)"
        bound = _batch_bound(ck, width)
        out.append(Claim(f"batch-bound-{name}", f"StoSignSGD's averaged-iterate gap on {label(name, kw)} stays below "
                         "sqrt(2) w sum E[G_t] / sqrt(t)", "max_t mean gap / bound(t)", Range(hi=1.0),
                         Measurement(*bound_ratio(sto["gap"], bound, aux=sto["G_sum"]), setup=setup),
                         "SignSGD (G = L)", Measurement(*bound_ratio(sign["gap"], lambda _: bound(p.L.sum())), setup=setup),
                         section="3.1"))
    return out


def figures(data, ctx, outdir):
    """Every optimizer on each problem: SignSGD (red, dashed) and StoSignSGD (blue, thick) as the
    references, the others in distinct colour and dash pairs, one legend right of the row (the same
    lines in every panel); f* is the certified optimum (cvxpy), so the curves are true gaps."""
    from theory_bench.results.plotting import COLORS, band, figure, legend_right, save, style
    T, _ = horizon(ctx.quick)
    ck = checkpoints(T)
    fig, axes = figure(ncols=5, width=3.5, height=3.3)
    others = [o for o in OPTIMIZERS if o not in ("SignSGD", "StoSignSGD")]
    for ax, (name, kw) in zip(axes[0], FIGURE_PROBLEMS):
        lab = label(name, kw)
        for k, opt in enumerate(others):
            color, ls = style(k)
            band(ax, ck, np.maximum(data[lab, opt]["gap"], 1e-9), opt, color, lw=1.1, ls=ls)
        for opt, ls in (("SignSGD", "--"), ("StoSignSGD", "-")):
            band(ax, ck, np.maximum(data[lab, opt]["gap"], 1e-9), opt, COLORS[opt], lw=2.2, ls=ls, zorder=3)
        p = problems.make(name, **kw)
        G = data[lab, "StoSignSGD"]["G_sum"].mean(axis=0)
        ax.plot(ck, _batch_bound(ck, float((p.hi - p.lo).max()))(G), color="k", lw=0.9, ls=(0, (1, 3)),
                label="StoSignSGD's upper bound, sqrt(2) w E[sum G_t] / sqrt(t)")
        ax.set(xscale="log", yscale="log", xlabel="step t", title=lab)
    axes[0][0].set_ylabel("gap f(x_avg) - f*  (f*: cvxpy)")
    legend_right(axes[0][-1])
    return save(fig, outdir, "convex")
