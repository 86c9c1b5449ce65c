"""The ablation of the sign conversion (docs/theory.md §2.2): which parts of StoSignSGD matter.

Every converted base (SGD, heavy ball, AdaGrad, Adam, AdamW; running max, uniform noise) and every
variant of one axis at a time on the SGD base (envelope: decayed max, a constant ``C = max L`` and a
too-small ``C = max L / 4``, the current ``|u|``, ``||u||_inf``, ``||u||_2``; noise: Gaussian, none;
scaled output), with SignSGD, StoSignSGD and SGD as references, on the three counterexamples, the
skewed online adversary (``skewed_linear``, ``d = 100``: its gap is counterexample 2 and its regret
the rate), and hinge and L1, synthetic with skewed noise and real. Every converted optimizer runs
with the problem's ``lr`` and ``eta_t = lr / sqrt(t)`` (a sign step has size ``eta_t`` whatever ``u``).

Claims:
- ``unbiased-<envelope>`` (max, decayed_max, constant): under skewed gradients (``4`` w.p. 1/4, else
  ``-1``) the mean sign step equals ``E[u] / B`` (relative bias interval covers 0,
  ``theory_bench.analysis.sign_bias.marginal_bias``); variants: the current ``|u|``, Gaussian noise and
  ``C < |u|``. ``unbiased-noise``: the same for uniform noise, variant no noise.
- ``expected-step`` / ``expected-step-scaled``: conditional on ``u``, the mean step is ``eta u / B``
  (``eta u`` scaled), every coordinate within its Bernstein radius (``conditional_step``).
- ``converges-2d-<variant>``: each unbiased variant's final gap on counterexample 1 is below 1% of
  SignSGD's floor ``eps |x1 + x2|``; variants ``none`` and ``current`` (plain sign) stay on it.
- ``regret-slope-<variant>``: each unbiased variant's regret slope on the skewed adversary lies in
  ``[0.4, 0.6]``; variants ``none`` and ``current`` are linear.
The table (README) gives every row on every problem: converges or not with the final gap and its
interval, the regret slope with its interval, and the bits sent per coordinate per step.
"""
import numpy as np

from theory_bench import problems
from theory_bench.experiments.runs import spec
from theory_bench import optimizers as O
from theory_bench.analysis.bootstrap import mean_interval
from theory_bench.analysis.claims import Claim, Covers, Measurement, Range
from theory_bench.analysis.rates import fit_slope
from theory_bench.analysis.sign_bias import conditional_step, marginal_bias

NAME = "ablation"
TITLE = "sign conversion: every base and every envelope, noise and scaling variant"
ADVERSARY = ("skewed_linear", dict(d=100))
PROBLEMS = (("counterexample_2d", {}), ADVERSARY, ("skewed_quadratic", {}),
            ("hinge", dict(d=10, skew=0.3)), ("hinge", dict(data="breast_cancer")),
            ("l1", dict(d=10, skew=0.3)), ("l1", dict(data="diabetes")))
SHORT = ("counterexample 1", "counterexample 2 (skewed, d=100)", "counterexample 3 (quadratic)",
         "hinge, skewed noise", "hinge, breast_cancer", "L1, skewed noise", "L1, diabetes")
REGRET_T, REGRET_SEEDS = 10 ** 5, 20                 # the skewed adversary; quick: regret_seeds
REGRET_CK = np.unique(np.logspace(3, 5, 9).astype(int))
SLOPE_RANGE = Range(0.4, 0.6)
FALLING = -0.15       # "converges": the gap's slope over the last decade is surely below this
INV_SQRT = {"schedule": "inv_sqrt"}
AXES = ("base", "envelope", "noise", "scaled")
UNBIASED = ("sign(SGD)", "decayed_max", "constant C=L", "scaled")   # uniform noise, envelope >= |u| known in advance
PLAIN_SIGN = ("none", "current")
BITS = {"SignSGD": 1.0, "StoSignSGD": 1.0, "SGD": 64.0}


def _conv(**kw):
    return "sign_convert", {"base": "SGD", **kw}


def variants(L, lr):
    """``(label, axis, optimizer, opt_kw)`` of every row, on a problem with ``max |g| <= L`` and step ``lr``.
    The scaled output has the units of ``u``, so it takes the step ``lr / L`` (the same largest step)."""
    return [
        ("sign(SGD)", "base", *_conv()),
        ("sign(heavy ball)", "base", *_conv(base_kw={"momentum": 0.9})),
        ("sign(AdaGrad)", "base", *_conv(base="AdaGrad", base_kw=INV_SQRT)),
        ("sign(AdaGrad), decayed_max", "base", *_conv(base="AdaGrad", base_kw=INV_SQRT, envelope="decayed_max")),
        ("sign(Adam)", "base", *_conv(base="Adam", base_kw=INV_SQRT)),
        ("sign(AdamW)", "base", *_conv(base="AdamW", base_kw=INV_SQRT)),
        ("decayed_max", "envelope", *_conv(envelope="decayed_max", beta=0.999)),
        ("constant C=L", "envelope", *_conv(envelope="constant", C=float(L))),
        ("constant C=L/4", "envelope", *_conv(envelope="constant", C=float(L) / 4)),
        ("current", "envelope", *_conv(envelope="current")),
        ("norm_inf", "envelope", *_conv(envelope="norm_inf")),
        ("norm_2", "envelope", *_conv(envelope="norm_2")),
        ("gaussian", "noise", *_conv(noise="gaussian")),
        ("none", "noise", *_conv(noise="none")),
        ("scaled", "scaled", *_conv(scaled=True, lr=float(lr) / float(L))),
        ("SignSGD", "reference", "SignSGD", {}),
        ("StoSignSGD", "reference", "StoSignSGD", {}),
        ("SGD", "reference", "SGD", {}),
    ]


ROWS = [(v[0], v[1]) for v in variants(1.0, 1.0)]


def horizon(quick):
    return (2 * 10 ** 4, 5) if quick else (10 ** 5, 20)


def regret_seeds(quick):
    """Seeds of the skewed adversary: 20; the quick form 10 (half the work: 18 rows at d = 100) over
    the same horizon. Not a shorter one: below T = 10^5 the regret's slope is still pre-asymptotic
    (0.63 over 200..2 10^4)."""
    return 10 if quick else REGRET_SEEDS


def checkpoints(T):
    return np.unique(np.logspace(1, np.log10(T), 25).astype(int))


def problem_label(name, kw):
    if "data" in kw:
        return f"{name}[{kw['data']}]"
    return name + ("[" + ", ".join(f"{k}={v}" for k, v in kw.items()) + "]" if kw else "")


def run(ctx):
    T, seeds = horizon(ctx.quick)
    out = {}
    for name, kw in PROBLEMS:
        p = problems.make(name, **kw)
        f_star = p.optimum()[1]
        adversary = (name, kw) == ADVERSARY
        T_p, ck, n_p = (REGRET_T, REGRET_CK, regret_seeds(ctx.quick)) if adversary else (T, checkpoints(T), seeds)
        for label, _, opt, opt_kw in variants(p.L.max(), p.lr):
            r = ctx.runs(spec(name, opt, T_p, problem_kw=kw, opt_kw=opt_kw, checkpoints=ck), n_p)
            r["gap"] = r["loss_avg"] - f_star
            out[problem_label(name, kw), label] = r
    return out


# --- what is measured ---
def final_gap(r):
    m, lo, hi = mean_interval(r["gap"][:, -1:])
    return Measurement(float(m[0]), float(lo[0]), float(hi[0]))


def falling_slope(r):
    """Slope of ``log mean gap`` against ``log t`` over the last decade ``[T/10, T]``."""
    t = r["t"][0]
    sel = t >= t[-1] / 10
    return Measurement(*fit_slope(t[sel], np.maximum(r["gap"][:, sel], 1e-300)))


def verdict(r):
    """'yes' when the gap surely still falls (slope interval below ``FALLING``), 'no' when it surely
    does not, else 'unclear'."""
    s = falling_slope(r)
    return "yes" if s.hi < FALLING else "no" if s.lo > FALLING else "unclear"


def regret_slope(r):
    return Measurement(*fit_slope(REGRET_CK, r["regret"]))


def _sgd(**kw):
    return O.sign_convert(O.SGD(1.0), **kw)


def unbiasedness(quick):
    """The marginal relative bias of every variant the claims name (``theory_bench.analysis.sign_bias``)."""
    n = 20_000 if quick else 100_000
    cases = {"max": _sgd(), "decayed_max": _sgd(envelope="decayed_max"), "constant C=4": _sgd(envelope="constant", C=4.0),
             "constant C=2": _sgd(envelope="constant", C=2.0), "current": _sgd(envelope="current"),
             "gaussian": _sgd(noise="gaussian"), "none": _sgd(noise="none"),
             "decayed_max, gaussian": _sgd(envelope="decayed_max", noise="gaussian")}
    out = {}
    for label, opt in cases.items():
        b = marginal_bias(opt, n=n)
        out[label] = Measurement(b.bias, b.lo, b.hi, setup=f"sign(SGD), skewed g (4 w.p. 1/4 else -1), d=64, "
                                 f"G filled to 8, {n} draws, 1-1e-6 interval")
    return out


def _conditional_cases():
    rng = np.random.default_rng(20260423)
    d = 32
    warm = [np.clip(rng.standard_cauchy(d), -3, 3) for _ in range(6)]
    g = np.clip(3 * rng.normal(size=d), -3, 3)
    bases = {"SGD": O.SGD(1.0), "heavy ball": O.SGD(1.0, momentum=0.9), "AdaGrad": O.AdaGrad(1.0),
             "Adam": O.Adam(1.0, weight_decay=0.1), "AdamW": O.AdamW(1.0, weight_decay=0.1)}
    return warm, g, bases


def expected_step(quick):
    """Max over the cases of ``|mean step - expected| / Bernstein radius`` (<= 1 passes)."""
    n = 20_000 if quick else 100_000
    warm, g, bases = _conditional_cases()
    z = lambda opt: conditional_step(opt, g, warmup=warm, n=n).z
    envelopes = {"max": {}, "decayed_max": {"beta": 0.9}, "constant": {"C": 3.0}, "current": {},
                 "norm_inf": {}, "norm_2": {}}
    setup = f"d=32, |g| <= 3 after 6 Cauchy warm-up steps, {n} draws, union bound at 1e-6"
    cases = {
        "unscaled": [z(O.sign_convert(b)) for b in bases.values()]
                    + [z(_sgd(envelope=e, **kw)) for e, kw in envelopes.items()],
        "unscaled, gaussian": [z(O.sign_convert(b, noise="gaussian")) for b in bases.values()],
        "scaled": [z(O.sign_convert(b, scaled=True)) for b in (bases["SGD"], bases["Adam"])]
                  + [z(_sgd(envelope="norm_2", scaled=True))],
        "scaled, none": [z(O.sign_convert(b, scaled=True, noise="none")) for b in (bases["SGD"], bases["Adam"])],
    }
    return {k: Measurement.exact(max(v), setup) for k, v in cases.items()}


def claims(data, ctx):
    out = []
    bias = unbiasedness(ctx.quick)
    for env, main, variant in (("max", "max", "current"), ("decayed_max", "decayed_max", "decayed_max, gaussian"),
                               ("constant", "constant C=4", "constant C=2")):
        out.append(Claim(f"unbiased-{env}", f"with uniform noise and the {env} envelope (B >= |u|, fixed before the "
                         "draw) the mean sign step is E[u] / B", "relative bias of E[s] against E[u] / E[B]", Covers(0.0),
                         bias[main], variant + (" (C < max |u| = 4)" if variant.startswith("constant") else ""),
                         bias[variant], section="2.1, 2.2"))
    out.append(Claim("unbiased-noise", "uniform noise is what makes the sign step unbiased",
                     "relative bias of E[s] against E[u] / E[B]", Covers(0.0), bias["max"], "no noise (plain sign)",
                     bias["none"], section="2.2"))
    step = expected_step(ctx.quick)
    out.append(Claim("expected-step", "conditional on u, the converted step has mean eta u / B (every base, every "
                     "envelope)", "max over cases of |mean - u/B| / Bernstein radius", Range(hi=1.0), step["unscaled"],
                     "Gaussian noise", step["unscaled, gaussian"], section="2.1, 2.2"))
    out.append(Claim("expected-step-scaled", "scaled, the converted step has mean eta u", "max over cases of "
                     "|mean - u| / Bernstein radius", Range(hi=1.0), step["scaled"], "scaled, no noise",
                     step["scaled, none"], section="2.2"))
    T, seeds = horizon(ctx.quick)
    ce1 = problem_label("counterexample_2d", {})
    floor = problems.make("counterexample_2d").extra["signsgd_floor"]
    adv = problem_label(*ADVERSARY)
    rel = lambda r: Measurement(*(np.array(astuple3(final_gap(r))) / floor),
                                setup=f"counterexample 1, T={T}, {ctx.n_seeds(seeds)} seeds")
    sl = lambda r: Measurement(*astuple3(regret_slope(r)), setup=f"skewed_linear d=100, T={REGRET_T}, "
                               f"{ctx.n_seeds(regret_seeds(ctx.quick))} seeds, grid 1e3..1e5")
    for k, label in enumerate(UNBIASED):
        plain = PLAIN_SIGN[k % 2]
        out.append(Claim(f"converges-2d-{slug(label)}", f"{label} converges on counterexample 1",
                         "final gap / SignSGD floor eps |x1 + x2|", Range(hi=0.01), rel(data[ce1, label]),
                         f"{plain} (plain sign)", rel(data[ce1, plain]), section="2.2, 3.3.1"))
        out.append(Claim(f"regret-slope-{slug(label)}", f"{label}'s regret on the skewed adversary grows as sqrt(T)",
                         "slope of log mean R_T vs log T", SLOPE_RANGE, sl(data[adv, label]),
                         f"{plain} (plain sign)", sl(data[adv, plain]), section="2.2, 3.1, 3.3.2"))
    return out


def astuple3(m):
    return m.value, m.lo, m.hi


def slug(label):
    return label.replace("sign(", "").replace(")", "").replace(" ", "-").replace("=", "").replace("/", "over").lower()


def bits(label, opt_kw, d):
    if label in BITS:
        return BITS[label]
    kw = {k: v for k, v in opt_kw.items() if k in ("envelope", "noise", "scaled", "beta", "C")}
    return O.sign_convert(O.SGD(1.0), **kw).bits_per_coordinate(d)


def _cell(r):
    g = final_gap(r)
    return f"{verdict(r)} {g.value:.2g} [{g.lo:.2g}, {g.hi:.2g}]"


def table(data, ctx):
    """Every row on every problem (Markdown): converges or not, final gap of the averaged iterate with
    its 95% interval; regret slope on the skewed adversary; bits per coordinate per step."""
    T, seeds = horizon(ctx.quick)
    head = ["variant", "axis", *SHORT, "regret slope, skewed adversary", "bits/coord/step"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    adv = problem_label(*ADVERSARY)
    for label, axis, _, opt_kw in variants(1.0, 1.0):
        cells = [_cell(data[problem_label(n, kw), label]) for n, kw in PROBLEMS]
        s = regret_slope(data[adv, label])
        cells += [f"{s.value:.2f} [{s.lo:.2f}, {s.hi:.2f}]", f"{bits(label, opt_kw, 100):g}"]
        rows.append("| " + " | ".join([label, axis, *cells]) + " |")
    rows.append("")
    rows.append(f"Cells: converges (yes: the slope of log mean gap over the last decade [T/10, T] has its 95% interval "
                f"below {FALLING}; no: above; else unclear), then the final gap f(x_avg_T) - f* with its 95% bootstrap "
                f"interval; T = {T}, {ctx.n_seeds(seeds)} seeds (the skewed adversary: T = {REGRET_T}, "
                f"{ctx.n_seeds(regret_seeds(ctx.quick))} seeds). Bits: one sign bit, plus a float64 envelope per coordinate when "
                "scaled; SGD sends a float64.")
    return "\n".join(rows)


def figures(data, ctx, outdir):
    """One column per axis of the ablation, one row per problem; every panel carries SignSGD (red,
    dashed) and StoSignSGD (blue, thick) as references, and the column's variants in distinct
    colours, named in one legend under the column (the same lines in every row)."""
    from theory_bench.results.plotting import COLORS, band, figure, legend_below, save, style
    panels = [(problem_label("counterexample_2d", {}), "gap", "counterexample 1", "f(x_avg) - f*"),
              (problem_label(*ADVERSARY), "regret", "skewed adversary, d=100", "regret R_T"),
              (problem_label("hinge", dict(d=10, skew=0.3)), "gap", "hinge, skewed noise", "f(x_avg) - f*"),
              (problem_label("l1", dict(data="diabetes")), "gap", "L1, diabetes", "f(x_avg) - f*")]
    fig, axes = figure(ncols=len(AXES), nrows=len(panels), width=3.9, height=3.0)
    for row, (prob, metric, title, ylabel) in zip(axes, panels):
        for ax, axis in zip(row, AXES):
            labels = [lab for lab, a in ROWS if a == axis and lab != "sign(SGD)"]
            for ref, ls in (("SignSGD", "--"), ("StoSignSGD", "-")):
                r = data[prob, ref]
                band(ax, r["t"][0], np.maximum(r[metric], 1e-12), ref + (" = sign(SGD)" if ref == "StoSignSGD" else ""),
                     COLORS[ref], lw=2.2, ls=ls, zorder=3)
            for k, lab in enumerate(labels):
                color, ls = style(k)
                r = data[prob, lab]
                band(ax, r["t"][0], np.maximum(r[metric], 1e-12), lab, color, lw=1.2, ls=ls)
            ax.set(xscale="log", yscale="log", xlabel="step t" if metric == "gap" else "horizon T",
                   ylabel=ylabel, title=f"{axis} axis: {title}")
    for ax in axes[-1]:
        legend_below(ax, ncol=1)
    return save(fig, outdir, "ablation")
