"""The divergence counterexamples (docs/theory.md §3.3): SignSGD stuck, StoSignSGD converging.

Claims:
- ``signsgd-stuck-2d``: on ``eps|x1+x2| + |x1-x2|`` (resisting oracle), SignSGD's averaged-iterate
  gap never falls below its floor ``eps |x1 + x2|``: ``min_t gap_t / floor >= 1``; variant StoSignSGD.
- ``stosign-rate-2d``: StoSignSGD's averaged-iterate gap there falls at least as fast as
  ``1/sqrt(T)`` (slope of ``log mean gap`` vs ``log T`` at most -0.4); variant SignSGD.
- ``stosign-batch-bound-skewed``: on the skewed problem (a box, so the bound applies) the gap stays
  below the online-to-batch bound ``sqrt(2) w sum_i E[G_{T,i}] / sqrt(T)``. (Its log-log slope is
  about -0.38 at ``T = 1e5``: the drift ``mu / G = 1/16`` is weak against the sign noise and the
  ``1/sqrt(T)`` regime comes late; the bound is the theorem, the slope is not.) Variant SignSGD
  against the same bound with ``G = L``.
- ``signsgd-wrong-way-skewed`` / ``-quadratic``: SignSGD's averaged iterate ends near the wrong
  end of the box (gap at least 90% of the gap there); variant StoSignSGD.
Figure: the 2-D trajectories over the contours of counterexample 1, and the gap against ``t``.
"""
import numpy as np

from theory_bench import problems
from theory_bench.experiments.runs import spec
from theory_bench.analysis.bootstrap import mean_interval
from theory_bench.analysis.bounds import online_to_batch_gap, stosign_regret_upper
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.analysis.rates import bound_ratio, fit_slope

NAME = "divergence"
TITLE = "the counterexamples: SignSGD stuck or drifting, StoSignSGD converging"
PROBLEMS = (("counterexample_2d", {}), ("skewed_linear", dict(d=10)), ("skewed_quadratic", {}))
OPTS = ("SignSGD", "StoSignSGD", "SGD")
SEEDS = 20
T_TRAJECTORY = 3000


def horizon(quick):
    return 2 * 10 ** 4 if quick else 10 ** 5


def checkpoints(T):
    return np.unique(np.logspace(2, np.log10(T), 12).astype(int))


def run(ctx):
    T = horizon(ctx.quick)
    out = {}
    for name, kw in PROBLEMS:
        f_star = problems.make(name, **kw).optimum()[1]
        for opt in OPTS:
            r = ctx.runs(spec(name, opt, T, problem_kw=kw, checkpoints=checkpoints(T)), SEEDS)
            r["gap"] = r["loss_avg"] - f_star
            out[name, opt] = r
    for opt in OPTS:
        out["trajectory", opt] = ctx.runs(spec("counterexample_2d", opt, T_TRAJECTORY, opt_kw={"lr": 0.3},
                                               checkpoints=np.arange(1, T_TRAJECTORY + 1), trajectory=True), 1)
    return out


def _final_fraction(r, wrong, setup):
    m, lo, hi = mean_interval(r["gap"][:, -1:] / wrong)
    return Measurement(float(m[0]), float(lo[0]), float(hi[0]), setup=setup)


def claims(data, ctx):
    T, n = horizon(ctx.quick), ctx.n_seeds(SEEDS)
    ck = checkpoints(T)
    floor = problems.make("counterexample_2d").extra["signsgd_floor"]
    setup = f"counterexample_2d eps=0.5 from (1, 0.3), eta=0.3/sqrt(t), T={T}, {n} seeds"
    stuck = lambda r: Measurement.exact(float((r["gap"] / floor).min()), setup)
    rate = lambda r: Measurement(*fit_slope(ck, np.maximum(r["gap"], 1e-300)), setup=setup + ", grid 1e2..T")
    sk_sto, sk_sign = data["skewed_linear", "StoSignSGD"], data["skewed_linear", "SignSGD"]
    batch_bound = lambda G: online_to_batch_gap(stosign_regret_upper(ck, G, 2.0), ck)
    L_sum = problems.make("skewed_linear", d=10).L.sum()
    sk_setup = f"skewed_linear d=10, T={T}, {n} seeds; w = 2, eta = w/sqrt(2)"
    out = [
        Claim("signsgd-stuck-2d", "SignSGD never gets below eps |x1 + x2| on counterexample 1",
              "min_t gap(x_avg) / (eps |x1 + x2|)", Range(lo=1.0), stuck(data["counterexample_2d", "SignSGD"]),
              "StoSignSGD", stuck(data["counterexample_2d", "StoSignSGD"]), section="3.3.1"),
        Claim("stosign-rate-2d", "StoSignSGD's averaged-iterate gap on counterexample 1 falls as O(1/sqrt(T))",
              "slope of log mean gap vs log T", Range(hi=-0.4), rate(data["counterexample_2d", "StoSignSGD"]),
              "SignSGD", rate(data["counterexample_2d", "SignSGD"]), section="3.1, 3.3.1"),
        Claim("stosign-batch-bound-skewed", "StoSignSGD's averaged-iterate gap on skewed_linear stays below "
              "the online-to-batch bound sqrt(2) w sum E[G_T] / sqrt(T)", "max_T mean gap / bound(T)", Range(hi=1.0),
              Measurement(*bound_ratio(sk_sto["gap"], batch_bound, aux=sk_sto["G_sum"]), setup=sk_setup),
              "SignSGD (G = L)", Measurement(*bound_ratio(sk_sign["gap"], lambda _: batch_bound(L_sum)), setup=sk_setup),
              section="3.1"),
    ]
    for name, label, wrong in (("skewed_linear", "skewed", problems.make("skewed_linear", d=10).extra["signsgd_gap"]),
                               ("skewed_quadratic", "quadratic", 16 / 3 - 16 / 9)):
        s = f"{name}, T={T}, {n} seeds; gap at the wrong end = {wrong:.4g}"
        out.append(Claim(f"signsgd-wrong-way-{label}", f"SignSGD's average runs to the wrong end of the box on {name}",
                         "gap(x_avg_T) / gap at the wrong end", Range(lo=0.9),
                         _final_fraction(data[name, "SignSGD"], wrong, s),
                         "StoSignSGD", _final_fraction(data[name, "StoSignSGD"], wrong, s), section="3.3.2"))
    return out


def figures(data, ctx, outdir):
    from theory_bench.results.plotting import COLORS, band, figure, save
    T = horizon(ctx.quick)
    fig, axes = figure(ncols=4, width=3.8)
    ax = axes[0][0]
    u = np.linspace(-0.4, 1.2, 300)
    X1, X2 = np.meshgrid(u, np.linspace(-0.5, 0.9, 300))
    ax.contour(X1, X2, 0.5 * abs(X1 + X2) + abs(X1 - X2), levels=15, colors="0.75", linewidths=0.6)
    ax.plot(u, -u, color="0.5", lw=0.8, ls=":")
    for opt in ("SGD", "StoSignSGD", "SignSGD"):              # SignSGD last, on top: it never leaves x1+x2 = 1.3
        r = data["trajectory", opt]
        ax.plot(np.r_[1.0, r["x0"][0]], np.r_[0.3, r["x1"][0]], color=COLORS[opt],
                lw=2.0 if opt == "SignSGD" else 0.8, label=opt + (" (stuck on x1+x2=1.3)" if opt == "SignSGD" else ""))
    ax.plot([0], [0], "k*", label="x* = 0")
    ax.set(xlabel="x1", ylabel="x2", title=f"eps|x1+x2| + |x1-x2|, first {T_TRAJECTORY} steps", aspect="equal",
           xlim=(-0.4, 1.2), ylim=(-0.5, 0.9))
    ax.legend(loc="lower right")
    ck = checkpoints(T)
    titles = {"counterexample_2d": "counterexample 1 (resisting oracle)", "skewed_linear": "skewed linear, d=10",
              "skewed_quadratic": "skewed quadratic (smooth)"}
    styles = {"SGD": dict(ls="--", lw=1.2, zorder=2), "StoSignSGD": dict(lw=2.2, zorder=3),
              "SignSGD": dict(lw=1.8, zorder=4)}
    for ax, (name, _) in zip(axes[0][1:], PROBLEMS):
        for opt in OPTS:            # SGD dashed under StoSignSGD: where they coincide, both stay visible
            band(ax, ck, np.maximum(data[name, opt]["gap"], 1e-12), opt, COLORS[opt], **styles.get(opt, {}))
        if name == "skewed_linear":
            G = data[name, "StoSignSGD"]["G_sum"].mean(axis=0)
            ax.plot(ck, online_to_batch_gap(stosign_regret_upper(ck, G, 2.0), ck), "--", color=COLORS["StoSignSGD"],
                    label="online-to-batch bound")
        if name == "counterexample_2d":
            ax.axhline(problems.make(name).extra["signsgd_floor"], color=COLORS["SignSGD"], ls=":",
                       label="SignSGD floor eps|x1+x2|")
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="gap f(x_avg) - f*", title=titles[name])
        ax.legend(loc="lower left", fontsize=7)
    return save(fig, outdir, "divergence")
