"""Number formats (docs/theory.md §6): AdamW's second moment underflows in e4m3, sign steps stay bounded.

Every optimizer of the suite (SGD, SignSGD, Signum, Lion, Adam, AdamW, StoSignSGD in theory and
practical form, ``sign_convert(AdamW)``) in every precision setting of ``SETTINGS`` (fp64; fp32;
bf16 weights; e4m3 state; the FP8 recipe e5m2 gradients + e4m3 state + bf16 weights; with and
without per-tensor scaling; nearest and stochastic rounding). Every optimizer takes the problem's
``lr`` times the regime's factor with ``eta_t = lr / sqrt(t)``:

- ``small`` (``lr_p / 100``): steps of about 1% of the theory step, the regime of training, where
  the weights are large against one step. Hinge (breast cancer) and L1 (diabetes), real data.
- ``theory`` (``lr_p``, the step the regret bound tunes), full form only: the same two problems,
  counterexample 1 and the skewed problem (counterexample 2, ``d = 100``).

The quick form runs the ``small`` regime and only the optimizers and settings the claims use
(``CLAIMED``), with more seeds: AdamW's failures come run by run (a late explosion or none), so
its mean needs them.
- ``precision-adamw-e4m3``, ``precision-adam-e4m3``: with e4m3 state the final gap on hinge is at least
  ``FAIL_FACTOR`` times the fp64 gap; variant: fp32.
- ``precision-adamw-e4m3-step``: the cause, the step ``m / (sqrt(v) + eps)`` explodes when ``v``
  rounds to zero and ``m`` does not: largest step at least ``EXPLODED`` ``eta_t``; variant: fp32.
- ``precision-stosign-fp8``: StoSignSGD (practical) in the FP8 recipe ends within ``FP8_FACTOR`` of
  its fp64 gap on both real-data problems; variant: AdamW in the same recipe.
- ``precision-stosign-fp8-step``: its stored step is at most ``3 eta_t`` (``eta_t`` plus half an ulp of
  bf16, which nearest rounding spends only when ``eta_t`` is at least half the spacing); variant: AdamW.
- ``precision-bf16-freeze``: with bf16 weights and nearest rounding a coordinate never moves after the
  step ``(2 lr / s)^2`` predicted from the spacing ``s`` below it, and moves until close to it;
  variant: stochastic rounding keeps moving.
- ``precision-bf16-sr``: stochastic rounding keeps the expected update: the gap with bf16 weights is
  within ``SR_FACTOR`` of fp64; variant: nearest rounding.
- ``precision-scaling-cures``: per-tensor scaling of the state brings AdamW's e4m3 gap back within
  ``FP8_FACTOR`` of fp64 and its largest step down; variant: the same without scaling.
"""
import warnings

import numpy as np

from theory_bench import problems
from theory_bench.analysis.bootstrap import mean_interval, steps_to_target, two_sample_interval
from theory_bench.analysis.bounds import nearest_freeze_step
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.experiments.ablation import final_gap
from theory_bench.experiments.runs import spec

NAME = "precision"
TITLE = "number formats: AdamW's second moment underflows in e4m3, sign steps stay bounded"
INV_SQRT = {"schedule": "inv_sqrt"}
OPTIMIZERS = (("SGD", "SGD", {}), ("SignSGD", "SignSGD", {}), ("Signum", "Signum", {}), ("Lion", "Lion", {}),
              ("Adam", "Adam", INV_SQRT), ("AdamW", "AdamW", INV_SQRT), ("StoSignSGD", "StoSignSGD", {}),
              ("StoSignSGD practical", "StoSignSGD-practical", {}),
              ("sign(AdamW)", "sign_convert", {"base": "AdamW", "base_kw": INV_SQRT}))
FP8 = {"grad": "e5m2", "state": "e4m3", "weights": "bf16"}
SR, SCALED = {"rounding": "stochastic"}, {"scaling": "per_tensor"}
SETTINGS = {"fp64": None, "fp32": {"grad": "fp32", "state": "fp32", "weights": "fp32"},
            "bf16 weights": {"weights": "bf16"}, "bf16 weights, SR": {"weights": "bf16", **SR},
            "e4m3 state": {"state": "e4m3"}, "e4m3 state, scaled": {"state": "e4m3", **SCALED},
            "FP8": FP8, "FP8, scaled": {**FP8, **SCALED}, "FP8, SR": {**FP8, **SR},
            "FP8, scaled, SR": {**FP8, **SCALED, **SR}}
REGIMES = {"small": 0.01, "theory": 1.0}
HINGE, L1 = ("hinge", {"data": "breast_cancer"}), ("l1", {"data": "diabetes"})
REAL = (HINGE, L1)
CASES_FULL = ((*HINGE, "small"), (*L1, "small"), (*HINGE, "theory"), (*L1, "theory"),
              ("counterexample_2d", {}, "theory"), ("skewed_linear", {"d": 100}, "theory"))
SHORT = {"hinge": "hinge, breast_cancer", "l1": "L1, diabetes", "counterexample_2d": "counterexample 1",
         "skewed_linear": "skewed problem (d=100)"}
FAIL_FACTOR, EXPLODED, FP8_FACTOR, SR_FACTOR, STEP_BOUND = 1.25, 100.0, 2.0, 1.2, 3.0
TARGET_FACTOR = 2.0        # steps to reach twice AdamW-fp32's final gap


CLAIMED = {"AdamW": ("fp64", "fp32", "e4m3 state", "e4m3 state, scaled", "FP8"), "Adam": ("fp64", "fp32", "e4m3 state"),
           "StoSignSGD practical": ("fp64", "FP8", "FP8, SR", "bf16 weights", "bf16 weights, SR")}


def horizon(quick):
    return (10 ** 4, 16) if quick else (5 * 10 ** 4, 20)


def cases(quick):
    return CASES_FULL[:2] if quick else CASES_FULL


def configs(quick):
    """``(label, optimizer, opt_kw, setting)`` of every run: all of them, or (quick) those the claims use."""
    return [(label, opt, kw, setting) for label, opt, kw in OPTIMIZERS for setting in SETTINGS
            if not quick or setting in CLAIMED.get(label, ())]


def checkpoints(T):
    return np.unique(np.logspace(1, np.log10(T), 25).astype(int))


def run(ctx):
    T, seeds = horizon(ctx.quick)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # e5m2 cannot hold L on some problems: saturation is measured
        for name, kw, regime in cases(ctx.quick):
            p = problems.make(name, **kw)
            f_star = p.optimum()[1]
            initial = float(p.loss_fn(p.x0, *p.args) - f_star)
            lr = float(p.lr) * REGIMES[regime]
            for label, opt, opt_kw, setting in configs(ctx.quick):
                r = ctx.runs(spec(name, opt, T, problem_kw=kw, opt_kw={**opt_kw, "lr": lr},
                                  checkpoints=checkpoints(T), precision=SETTINGS[setting]), seeds)
                r["gap"] = r["loss_avg"] - f_star
                r["initial_gap"], r["lr"] = initial, lr
                out[name, regime, label, setting] = r
    return out


# --- what is measured ---
def gap_ratio(r, ref):
    """Mean final gap over the reference's, with a two-sample bootstrap interval."""
    return Measurement(*two_sample_interval(r["gap"][:, -1], ref["gap"][:, -1], lambda a, b: a.mean() / b.mean()))


def largest_step(r):
    """The largest ``|x_{t+1,i} - x_{t,i}| / eta_t`` of any seed (fp64 runs: not recorded, NaN)."""
    return float(r["largest_step"].max()) if "largest_step" in r else np.nan


def seed_mean(values, setup=""):
    """The mean of one number per seed, with its bootstrap interval."""
    m, lo, hi = mean_interval(np.asarray(values, dtype=np.float64)[:, None])
    return Measurement(float(m[0]), float(lo[0]), float(hi[0]), setup)


def flushed(r):
    """``{row: mean fraction}`` of the non-zero entries that rounding sent to zero, per state row."""
    return {k[len("flushed_"):]: float(r[k].mean()) for k in r if k.startswith("flushed_")}


def frozen_fraction(r, T):
    """Share of coordinates (over seeds) that last moved before ``T / 2``."""
    return float((r["last_move"] < T / 2).mean()) if "last_move" in r else 0.0


def freeze_ratio(r, T):
    """Per seed, over the coordinates predicted to freeze before ``T / 2`` (bf16, nearest), the largest
    ``last move / predicted freeze step``; its mean over seeds with an interval. At most 1 if no
    coordinate moves after its prediction; near 1 if the last one moves until close to it."""
    per_seed = []
    for x, last in zip(r["x_final"], r["last_move"]):
        pred = nearest_freeze_step(x, r["lr"], "bf16")
        sel = (pred >= 1) & (pred < T / 2)
        per_seed.append(np.max(last[sel] / pred[sel]) if sel.any() else np.nan)
    if np.isnan(per_seed).any():
        return Measurement(np.nan, np.nan, np.nan)
    return seed_mean(per_seed)


def verdict(r, T):
    """'diverges' (mean final gap above the initial gap), 'stalls' (over half the coordinates stopped
    moving before T/2), else 'converges'; in every case the gap relative to fp64 says how well."""
    if not np.isfinite(r["gap"][:, -1]).all() or r["gap"][:, -1].mean() > r["initial_gap"]:
        return "diverges"
    return "stalls" if frozen_fraction(r, T) > 0.5 else "converges"


def speedup(r, ref, target):
    """``steps(ref) / steps(r)`` to reach ``target`` with a two-sample bootstrap interval (> 1: faster)."""
    t = r["t"][0]
    return Measurement(*two_sample_interval(r["gap"], ref["gap"], lambda a, b: steps_to_target(t, b, target)
                                            / steps_to_target(t, a, target), n_boot=400))


def target_gap(data, name, regime):
    return TARGET_FACTOR * float(data[name, regime, "AdamW", "fp32"]["gap"][:, -1].mean())


def claims(data, ctx):
    T, seeds = horizon(ctx.quick)
    n = ctx.n_seeds(seeds)
    hinge, small = HINGE[0], "small"
    setup = lambda what: f"{what}, lr = lr_p / 100, eta_t = lr / sqrt(t), T = {T}, {n} seeds, correctly rounded"
    d = lambda prob, label, setting: data[prob, small, label, setting]

    def ratio(prob, label, setting, what):
        m = gap_ratio(d(prob, label, setting), d(prob, label, "fp64"))
        m.setup = setup(what)
        return m

    def worst(label, setting):
        ms = [gap_ratio(d(p, label, setting), d(p, label, "fp64")) for p, _ in REAL]
        w = max(ms, key=lambda m: m.hi)
        return Measurement(w.value, w.lo, w.hi, setup("worst of hinge/breast_cancer and L1/diabetes"))

    def step(label, setting):
        r = d(hinge, label, setting)
        fl = ", ".join(f"{k} {v:.1e}" for k, v in flushed(r).items())
        return seed_mean(r["largest_step"], setup(f"hinge/breast_cancer; flushed to zero: {fl}"))

    out = []
    for label in ("AdamW", "Adam"):
        out.append(Claim(f"precision-{label.lower()}-e4m3", f"{label} with its state in e4m3 fails on hinge "
                         "(breast cancer): v = (1 - beta2) g^2 of a fresh gradient underflows, m does not",
                         "final gap / fp64 final gap", Range(lo=FAIL_FACTOR), ratio(hinge, label, "e4m3 state", "hinge"),
                         "fp32 state, gradients and weights", ratio(hinge, label, "fp32", "hinge"), section="6"))
    out.append(Claim("precision-adamw-e4m3-step", "the cause: AdamW's step m / (sqrt(v) + eps) explodes where v "
                     "rounds to zero and m does not", "largest |x_{t+1,i} - x_{t,i}| / eta_t (mean over seeds)",
                     Range(lo=EXPLODED), step("AdamW", "e4m3 state"), "fp32", step("AdamW", "fp32"), section="6"))
    out.append(Claim("precision-stosign-fp8", "StoSignSGD (practical) in the FP8 recipe (e5m2 gradients, e4m3 state, "
                     "bf16 weights) converges as in fp64", "final gap / fp64 final gap", Range(hi=FP8_FACTOR),
                     worst("StoSignSGD practical", "FP8"), "AdamW in the same recipe", worst("AdamW", "FP8"),
                     section="6"))
    out.append(Claim("precision-stosign-fp8-step", "a sign step stays bounded whatever the state holds: eta_t, plus "
                     "at most half a bf16 spacing that nearest rounding spends only when eta_t >= half the spacing",
                     "largest |x_{t+1,i} - x_{t,i}| / eta_t", Range(hi=STEP_BOUND), step("StoSignSGD practical", "FP8"),
                     "AdamW in the same recipe", step("AdamW", "FP8"), section="6"))
    def fr(setting):
        m = freeze_ratio(d(hinge, "StoSignSGD practical", setting), T)
        m.setup = setup(f"StoSignSGD practical, {setting}, hinge; coordinates predicted frozen before T/2")
        return m
    out.append(Claim("precision-bf16-freeze", "with bf16 weights and nearest rounding a coordinate freezes at the step "
                     "(2 lr / s)^2 predicted from the spacing s below it", "max over coordinates of last move / "
                     "predicted freeze step", Range(0.5, 1.0), fr("bf16 weights"), "stochastic rounding",
                     fr("bf16 weights, SR"), section="6"))
    out.append(Claim("precision-bf16-sr", "stochastic rounding keeps the expected update: bf16 weights converge as "
                     "fp64 does", "final gap / fp64 final gap", Range(hi=SR_FACTOR),
                     ratio(hinge, "StoSignSGD practical", "bf16 weights, SR", "StoSignSGD practical, hinge"),
                     "nearest rounding", ratio(hinge, "StoSignSGD practical", "bf16 weights",
                                               "StoSignSGD practical, hinge"), section="6"))
    out.append(Claim("precision-scaling-cures", "per-tensor scaling of the state (amax to the format's max) cures "
                     "AdamW's e4m3 underflow here", "final gap / fp64 final gap", Range(hi=FP8_FACTOR),
                     ratio(hinge, "AdamW", "e4m3 state, scaled", "AdamW, hinge"), "no scaling",
                     ratio(hinge, "AdamW", "e4m3 state", "AdamW, hinge"), section="6"))
    return out


# --- what is shown ---
def _ratio_cell(r, ref, T):
    if r is ref:
        g = final_gap(r)
        return f"{g.value:.2g} [{g.lo:.2g}, {g.hi:.2g}]"
    v = verdict(r, T)
    m = gap_ratio(r, ref)
    s = largest_step(r)
    text = f"{m.value:.2g}x [{m.lo:.2g}, {m.hi:.2g}], step {s:.3g}"
    return f"**{v}** {text}" if v != "converges" else (f"**{text}**" if m.lo > FAIL_FACTOR else text)


def table(data, ctx):
    """The small-step regime on hinge (breast cancer) (Markdown): per optimizer, the fp64 final gap,
    then per setting the final gap relative to fp64 with its interval and the largest step in units
    of ``eta_t``. Every other problem and regime: ``full_table``."""
    T, seeds = horizon(ctx.quick)
    shown = ("fp32", "bf16 weights", "bf16 weights, SR", "e4m3 state", "e4m3 state, scaled", "FP8", "FP8, SR")
    head = ["variant", "problem", "fp64 gap", *shown]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, _ in REAL[:1]:
        for label, _, _ in OPTIMIZERS:
            ref = data.get((name, "small", label, "fp64"))
            if ref is None:
                continue
            cells = [_ratio_cell(ref, ref, T)] + [_ratio_cell(data[name, "small", label, s], ref, T)
                                                  if (name, "small", label, s) in data else "-" for s in shown]
            rows.append("| " + " | ".join([label, SHORT[name], *cells]) + " |")
    rows.append("")
    rows.append(f"lr = lr_p / 100 with eta_t = lr / sqrt(t) for every optimizer, T = {T}, {ctx.n_seeds(seeds)} seeds. "
                "Cells: final gap f(x_avg_T) - f* relative to the same optimizer's fp64 run, with its 95% bootstrap "
                f"interval (bold: surely above {FAIL_FACTOR:g}x), and the largest stored step max |x_(t+1) - x_t| / "
                "eta_t. Verdicts: diverges (gap above the initial gap), stalls (most coordinates stopped moving "
                "before T/2). SR: stochastic rounding; nearest rounding is correctly rounded from the double "
                "(Precision(via_fp32=False), not through fp32). FP8: e5m2 gradients, e4m3 state, bf16 weights. "
                "L1 (diabetes), the theory step and every setting, with flushed fractions and steps to target: "
                "figures/precision_full.md.")
    return "\n".join(rows)


def full_table(data, ctx):
    """Every run (Markdown): verdict, gap with interval, ratio to fp64, flushed fractions, largest step,
    frozen share and the speed-up against AdamW in fp32 to reach twice its final gap."""
    T, seeds = horizon(ctx.quick)
    head = ["variant", "setting", "problem", "regime", "verdict", "final gap", "gap / fp64", "flushed to zero",
            "largest step / eta", "frozen", "speed-up vs AdamW fp32"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, _, regime in cases(ctx.quick):
        target = target_gap(data, name, regime)
        adamw = data[name, regime, "AdamW", "fp32"]
        for label, _, _, setting in configs(ctx.quick):
            ref, r = data[name, regime, label, "fp64"], data[name, regime, label, setting]
            g, q, sp = final_gap(r), gap_ratio(r, ref), speedup(r, adamw, target)
            fl = ", ".join(f"{k} {v:.1e}" for k, v in flushed(r).items() if v > 0) or "0"
            rows.append("| " + " | ".join([
                label, setting, SHORT[name], regime, verdict(r, T), f"{g.value:.3g} [{g.lo:.3g}, {g.hi:.3g}]",
                f"{q.value:.3g} [{q.lo:.3g}, {q.hi:.3g}]", fl, f"{largest_step(r):.3g}",
                f"{frozen_fraction(r, T):.0%}", f"{sp.value:.3g} [{sp.lo:.3g}, {sp.hi:.3g}]"]) + " |")
    rows.append("")
    rows.append(f"T = {T}, {ctx.n_seeds(seeds)} seeds; regimes: small lr = lr_p / 100, theory lr = lr_p, eta_t = lr / "
                f"sqrt(t). Speed-up: steps AdamW in fp32 takes to reach {TARGET_FACTOR:g}x its own final gap over the "
                "steps this run takes (log-interpolated between checkpoints; inf: never reached), 95% bootstrap "
                "interval. Flushed: share of the non-zero entries of each rounded vector that rounding sent to zero, "
                "over all steps. Frozen: share of coordinates that last moved before T/2.")
    return "\n".join(rows)


def figures(data, ctx, outdir):
    from pathlib import Path

    from theory_bench.results.plotting import COLORS, band, figure, legend_below, legend_right, save
    from theory_bench.results.store import atomic_write_text
    T, _ = horizon(ctx.quick)
    lines = (("AdamW", "fp32", COLORS["AdamW"], "-"), ("AdamW", "e4m3 state", "#e377c2", "-"),
             ("AdamW", "e4m3 state, scaled", "#e377c2", ":"), ("AdamW", "FP8", "#d62728", "-"),
             ("StoSignSGD practical", "fp64", COLORS["StoSignSGD"], "-"),
             ("StoSignSGD practical", "FP8", COLORS["StoSignSGD-practical"], "--"),
             ("StoSignSGD practical", "FP8, SR", "#2ca02c", ":"))
    fig, axes = figure(ncols=3, width=4.4, height=3.5)
    for ax, (name, _) in zip(axes[0], REAL):
        for label, setting, color, ls in lines:
            r = data[name, "small", label, setting]
            band(ax, r["t"][0], np.maximum(r["gap"], 1e-12), f"{label}, {setting}", color, ls=ls)
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="gap f(x_avg) - f*",
               title=f"{SHORT[name]}, lr = lr_p/100")
    legend_below(axes[0][0], ncol=2)            # the same seven lines in both panels
    ax = axes[0][2]
    labels = [label for label, _, _ in OPTIMIZERS if (HINGE[0], "small", label, "FP8") in data]
    for k, (setting, color) in enumerate((("fp32", "#7f7f7f"), ("e4m3 state", "#e377c2"), ("FP8", "#d62728"))):
        steps = [largest_step(data.get((HINGE[0], "small", label, setting), {})) for label in labels]
        at = np.arange(len(labels)) + (k - 1) * 0.27
        ax.bar(at, steps, 0.27, color=color, label=setting)
        for x, v in zip(at, steps):             # a setting this run did not compute (the quick form skips some)
            if not np.isfinite(v):
                ax.text(x, 1.3, "not run", rotation=90, ha="center", va="bottom", fontsize=6, color=color)
    ax.axhline(1.0, color="k", lw=0.8, label="eta_t (a sign step's size)")
    ax.set(yscale="log", ylabel="largest |x_(t+1) - x_t| / eta_t", title="hinge: largest step of the run",
           xticks=np.arange(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    legend_right(ax)
    paths = save(fig, outdir, "precision")
    full = Path(outdir) / "precision_full.md"
    atomic_write_text(full, full_table(data, ctx) + "\n")
    return [*paths, full]
