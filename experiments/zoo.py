"""The zoo: the ecosystem's torch optimizers on SignSGD's counterexamples (docs/theory.md §3.3).

Every first-order optimizer of ``torch.optim`` that takes a list of dense parameters, ``lion_pytorch``'s
Lion, and a choice from ``pytorch_optimizer`` (the sign-based ones, then widely used adaptive ones),
with ``theory_bench.torch.StoSignSGD`` as the reference, run through the testing adapter on
counterexample 1 (the resisting oracle), the skewed problem (counterexample 2 as an online
adversary, ``d = 100``: its final gap is counterexample 2, its regret the rate) and the smooth
skewed quadratic (counterexample 3). Each with its own defaults except the step: ``lr`` from the
grid ``LR_GRID`` times the problem's ``lr_p``, and ``eta_t = lr / sqrt(t)`` (``LambdaLR``). The best
``lr`` per problem is the one with the lowest mean final gap (on the adversary: final regret).

The same optimizers also run on the rest of the battery (``battery.BATTERY``: Nesterov's worst case,
hinge and L1 with skewed noise and on real data); their mean curves on every problem go to
``<figures>/zoo_baselines.json`` (``experiments/baselines.py``), the baselines ``theory-bench audit``
places a user's optimizer among.

Verdicts, computed with their intervals (never hand-written): ``battery.verdict``.

Claims:
- ``zoo-sgd-converges``: ``torch.optim.SGD`` converges on counterexample 1 (gap below 1% of SignSGD's
  floor); variant: ``pytorch_optimizer.SignSGD(momentum=0)``, a SignSGD written as a torch optimizer.
- ``zoo-signsgd-stuck``: that SignSGD stays on the floor of counterexample 1 at its best ``lr``;
  variant: ``theory_bench.torch.StoSignSGD``.
- ``zoo-signsgd-wrong-way``: it ends the skewed problem beyond where it started; variant: StoSignSGD.
- ``zoo-stosign-regret``: StoSignSGD's regret on the skewed adversary is sublinear (slope surely
  below ``SUBLINEAR`` over ``[T/100, T]``; the rate itself is the regret experiment's); variant:
  the SignSGD, linear.
- ``zoo-lion-wrong-way-spikes``: ``lion_pytorch.Lion`` at its default betas (0.9, 0.99) ends the
  rare-spike problem (``spiky_linear``, ``p W = 0.2``, drift -0.25 by §3.5) further from the optimum
  than it started; variant: ``torch.optim.SGD``, whose step is unbiased.
The counterexamples are built for SignSGD; what the zoo's momentum sign methods (Signum, Lion,
Tiger) do on them is measured in the table, not claimed.
"""
import warnings

import numpy as np

from theory_bench import problems
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.experiments.ablation import final_gap
from theory_bench.experiments.battery import (BATTERY, FALLING, LR_GRID, by_key, checkpoints, horizon,
                                              regret_slope, verdict)
from theory_bench.experiments import baselines
from theory_bench.experiments.packages import git_commit, missing_packages, package_versions
from theory_bench.experiments.packages import versions as core_versions
from theory_bench.experiments.runs import spec

NAME = "zoo"
TITLE = "the ecosystem's torch optimizers on SignSGD's counterexamples"
PO = "pytorch_optimizer"
ZOO = (  # label, "module:Class", keywords, family
    ("SGD", "torch.optim:SGD", {}, "SGD"),
    ("SGD, momentum 0.9", "torch.optim:SGD", {"momentum": 0.9}, "SGD"),
    ("ASGD", "torch.optim:ASGD", {}, "SGD"),
    ("Adam", "torch.optim:Adam", {}, "adaptive"),
    ("AdamW", "torch.optim:AdamW", {}, "adaptive"),
    ("Adamax", "torch.optim:Adamax", {}, "adaptive"),
    ("NAdam", "torch.optim:NAdam", {}, "adaptive"),
    ("RAdam", "torch.optim:RAdam", {}, "adaptive"),
    ("Adagrad", "torch.optim:Adagrad", {}, "adaptive"),
    ("Adadelta", "torch.optim:Adadelta", {}, "adaptive"),
    ("RMSprop", "torch.optim:RMSprop", {}, "adaptive"),
    ("Adafactor", "torch.optim:Adafactor", {}, "adaptive"),
    ("Rprop", "torch.optim:Rprop", {}, "sign, adaptive step"),
    ("Lion (lion-pytorch)", "lion_pytorch:Lion", {}, "sign step"),
    ("SignSGD (pytorch-optimizer)", f"{PO}:SignSGD", {"momentum": 0.0}, "sign step"),
    ("Signum (pytorch-optimizer SignSGD)", f"{PO}:SignSGD", {}, "sign step"),
    ("Lion (pytorch-optimizer)", f"{PO}:Lion", {}, "sign step"),
    ("Tiger", f"{PO}:Tiger", {}, "sign step"),
    ("AdaBelief", f"{PO}:AdaBelief", {}, "adaptive"),
    ("Adan", f"{PO}:Adan", {}, "adaptive"),
    ("LaProp", f"{PO}:LaProp", {}, "adaptive"),
    ("MADGRAD", f"{PO}:MADGRAD", {}, "adaptive"),
    ("Prodigy", f"{PO}:Prodigy", {}, "adaptive"),
    ("StoSignSGD (theory_bench.torch)", "theory_bench.torch:StoSignSGD", {"beta1": 0.0}, "reference"),
    ("StoSignSGD practical (theory_bench.torch)", "theory_bench.torch:StoSignSGD", {}, "reference"),
)
SGD, SIGNSGD, STOSIGN = "SGD", "SignSGD (pytorch-optimizer)", "StoSignSGD (theory_bench.torch)"
CE1, ADVERSARY, CE3, SPIKES = (by_key(k) for k in ("counterexample_1", "counterexample_2", "counterexample_3", "spikes"))
PROBLEMS = (CE1, ADVERSARY, CE3, SPIKES)      # the claims, the table and the figure
BASELINE_PROBLEMS = BATTERY                   # run as well, for the baselines file every audit reads
SHORT = ("counterexample 1", "skewed problem (d=100)", "counterexample 3 (quadratic)",
         "rare spikes (d=100, p=0.002, A=50)")
LION = "Lion (lion-pytorch)"
SUBLINEAR = 0.8      # a regret slope surely below this is sublinear at these horizons
REQUIRES = ("torch", "lion-pytorch", "pytorch_optimizer")   # the zoo extra
INSTALL = "pip install torch==2.13.0 && pip install -e '.[zoo]'"


def versions():
    return package_versions(REQUIRES)


def check_installed():
    lacking = missing_packages(REQUIRES)
    if lacking:
        raise RuntimeError(f"the zoo needs {', '.join(lacking)}: {INSTALL}")


def run(ctx):
    check_installed()
    T, seeds = horizon(ctx.quick)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # other people's deprecation notices
        for e in BASELINE_PROBLEMS:
            p = problems.make(e.name, **e.params)
            f_star = p.optimum()[1]
            initial = float(p.loss_fn(p.x0, *p.args) - f_star)
            for label, path, opt_kw, _ in ZOO:
                for mult in LR_GRID:
                    r = ctx.runs(spec(e.name, "torch:" + path, T, problem_kw=e.params, checkpoints=checkpoints(T),
                                      opt_kw={"lr": float(p.lr) * mult, **opt_kw}), seeds)
                    r["gap"] = r["loss_avg"] - f_star
                    r["initial_gap"], r["lr_mult"] = initial, mult
                    out[e.key, label, mult] = r
    return out


# --- what is measured ---
def best(data, key, label):
    """The run of ``label`` on the battery problem ``key`` at its best ``lr`` (lowest mean final gap; the
    adversary: regret)."""
    metric = "regret" if key == ADVERSARY.key else "gap"
    runs = [data[key, label, m] for m in LR_GRID if (key, label, m) in data]
    return min(runs, key=lambda r: np.nanmean(r[metric][:, -1]) if np.isfinite(r[metric][:, -1]).all() else np.inf)


def claims(data, ctx):
    T, seeds = horizon(ctx.quick)
    n = ctx.n_seeds(seeds)
    ce1, adv = CE1.key, ADVERSARY.key
    floor = float(problems.make(CE1.name).extra["signsgd_floor"])
    setup = lambda what: f"{what}, best lr of {LR_GRID} x lr_p, eta_t = lr / sqrt(t), T = {T}, {n} seeds"

    def rel(label):
        g = final_gap(best(data, ce1, label))
        return Measurement(g.value / floor, g.lo / floor, g.hi / floor, setup(f"{label}, counterexample 1"))

    def wrong(label):
        r = best(data, adv, label)
        g = final_gap(r)
        return Measurement(g.value / r["initial_gap"], g.lo / r["initial_gap"], g.hi / r["initial_gap"],
                           setup(f"{label}, skewed problem d=100"))

    def spikes(label):
        r = best(data, SPIKES.key, label)
        g = final_gap(r)
        return Measurement(g.value / r["initial_gap"], g.lo / r["initial_gap"], g.hi / r["initial_gap"],
                           setup(f"{label}, spiky_linear d=100, mu=0.05, p=0.002, A=50"))

    def slope(label):
        m = regret_slope(best(data, adv, label))
        m.setup = setup(f"{label}, skewed adversary d=100, regret over [T/100, T]")
        return m

    return [
        Claim("zoo-sgd-converges", "torch.optim.SGD converges on counterexample 1", "final gap / SignSGD floor "
              "eps |x1 + x2|", Range(hi=0.01), rel(SGD), "pytorch_optimizer SignSGD(momentum=0)", rel(SIGNSGD),
              section="3.3.1"),
        Claim("zoo-signsgd-stuck", "a SignSGD written as a torch optimizer (pytorch_optimizer's, momentum=0) stays "
              "on SignSGD's floor of counterexample 1 at every lr of the grid", "final gap / SignSGD floor",
              Range(lo=0.5), rel(SIGNSGD), "theory_bench.torch.StoSignSGD", rel(STOSIGN), section="3.3.1"),
        Claim("zoo-signsgd-wrong-way", "it ends the skewed problem further from the optimum than it started",
              "final gap / gap at x0", Range(lo=1.0), wrong(SIGNSGD), "theory_bench.torch.StoSignSGD", wrong(STOSIGN),
              section="3.3.2"),
        Claim("zoo-lion-wrong-way-spikes", "lion_pytorch.Lion at its default betas (0.9, 0.99) ends the rare-spike "
              "problem further from the optimum than it started (§3.5: drift -0.25 at p W = 0.2)",
              "final gap / gap at x0", Range(lo=1.0), spikes(LION), "torch.optim.SGD", spikes(SGD), section="3.5"),
        Claim("zoo-stosign-regret", "theory_bench.torch.StoSignSGD's regret on the skewed adversary is sublinear "
              "(the rate itself, 1/2, is checked at T = 10^5 by regret-slope-*)", "slope of log mean R_T vs log T "
              "over [T/100, T]", Range(hi=SUBLINEAR), slope(STOSIGN), "pytorch_optimizer SignSGD(momentum=0)",
              slope(SIGNSGD), section="3.1, 3.3.2"),
    ]


# --- what is shown ---
def _cell(r):
    g = final_gap(r)
    return f"{verdict(r)} {g.value:.2g} [{g.lo:.2g}, {g.hi:.2g}] (lr x{r['lr_mult']:g})"


def table(data, ctx):
    """Every optimizer (Markdown): per problem its verdict and final gap with interval at its best
    ``lr``, and the regret slope on the skewed adversary with its interval."""
    T, seeds = horizon(ctx.quick)
    head = ["variant", "family", *SHORT, "regret slope, skewed adversary"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for label, _, _, family in ZOO:
        cells = [_cell(best(data, e.key, label)) for e in PROBLEMS]
        s = regret_slope(best(data, ADVERSARY.key, label))
        rows.append("| " + " | ".join([label, family, *cells, f"{s.value:.2f} [{s.lo:.2f}, {s.hi:.2f}]"]) + " |")
    rows.append("")
    v = versions()
    rows.append(f"Each optimizer with its package's defaults except the step: lr in {LR_GRID} x lr_p with "
                f"eta_t = lr / sqrt(t) (LambdaLR), the best lr per problem shown; T = {T}, {ctx.n_seeds(seeds)} "
                "seeds. Cells: verdict (wrong way: the gap's 95% interval lies above the gap at x0; converges: "
                f"log gap falls with slope surely below {FALLING} over the last decade, or the gap is below 1e-3 "
                "of the initial one; else stuck), final gap f(x_avg_T) - f* with its 95% bootstrap interval, and "
                "the lr multiplier. Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    return "\n".join(rows)


HIGHLIGHT = {  # the optimizers the README discusses, in colour; every other row of the zoo in grey
    "SGD": ("#2ca02c", "-"), "Adam": ("#9467bd", "-"), "Rprop": ("#8c564b", "--"),
    "SignSGD (pytorch-optimizer)": ("#d62728", "--"), "Signum (pytorch-optimizer SignSGD)": ("#e69f00", "-."),
    "Lion (lion-pytorch)": ("#000000", ":"), "StoSignSGD (theory_bench.torch)": ("#1f77b4", "-"),
    "StoSignSGD practical (theory_bench.torch)": ("#17becf", "--"), "Tiger": ("#bcbd22", "-."),
    "Lion (pytorch-optimizer)": ("#7f7f7f", "--"), "AdamW": ("#ff7f0e", ":"), "RMSprop": ("#e377c2", "-")}


def figures(data, ctx, outdir):
    """Each zoo optimizer at its best lr of the grid, the mean over seeds: the ones the text names in
    colour, the other rows of the zoo in thin grey (every row with its interval: figures/zoo_table.md;
    a band over 2-5 seeds on a log axis would be mostly noise)."""
    from theory_bench.results.plotting import figure, legend_right, save
    panels = [(CE1.key, "gap", "counterexample 1", "gap f(x_avg) - f*"),
              (ADVERSARY.key, "regret", "skewed adversary, d=100", "regret R_t"),
              (CE3.key, "gap", "counterexample 3 (skewed quadratic)", "gap f(x_avg) - f*"),
              (SPIKES.key, "gap", "rare spikes, d=100 (wrong end: gap 10)", "gap f(x_avg) - f*")]
    fig, axes = figure(ncols=4, width=3.6, height=3.4)
    for ax, (name, metric, title, ylabel) in zip(axes[0], panels):
        grey = True
        for label, _, _, _ in ZOO:
            r = best(data, name, label)
            y = np.maximum(r[metric], 1e-12)
            if label in HIGHLIGHT:
                color, ls = HIGHLIGHT[label]
                ax.plot(r["t"][0], y.mean(axis=0), color=color, ls=ls, lw=1.8, zorder=3, label=label)
            else:
                ax.plot(r["t"][0], y.mean(axis=0), color="0.7", lw=0.7, zorder=1,
                        label=f"the other {len(ZOO) - len(HIGHLIGHT)} optimizers of the zoo" if grey else None)
                grey = False
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel=ylabel, title=title)
    fig.suptitle(f"the zoo, each optimizer at its best lr of {LR_GRID} (lr / sqrt(t)), mean over seeds", fontsize=9)
    legend_right(axes[0][-1])
    T, seeds = horizon(ctx.quick)
    written = baselines.write(data, ZOO, T=T, seeds=ctx.n_seeds(seeds), versions={**core_versions(), **versions()},
                              commit=git_commit(), outdir=outdir, problems=BASELINE_PROBLEMS)
    return [*save(fig, outdir, "zoo"), written]
