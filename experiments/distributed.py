"""Distributed sign communication (docs/theory.md §7): majority vote against averaged stochastic signs.

``M`` workers in the compiled loop of ``theory_bench.engine.distributed`` (each draws its own
stochastic gradient at the shared iterate), for ``M`` in ``WORKERS``, with every method of
``METHODS``: full-precision averaging (SGD), SignSGD and Signum with majority vote, StoSignSGD
with averaged signs (local envelopes, or shared by a max-allreduce every ``EVERY`` steps) and
EF-SignSGD. Problems: the skewed problem (``noisy_linear``, skewed noise), counterexample 1, and
hinge and L1 with skewed noise; the same linear problem with symmetric unimodal (uniform) noise of
the same variance (the variant); heterogeneous workers (``hinge_shards`` and ``l1_shards``: shards
with scales spread ``SPREAD``) against homogeneous ones. Step ``lr_p / sqrt(t)`` for every method.

Claims:
- ``distributed-vote-wrong-way``: majority vote ends the skewed problem near the wrong end of the
  box for every ``M`` (the smallest, over ``M``, of gap / gap at the wrong end, at least 0.9);
  variant: uniform noise of the same variance, where the vote converges.
- ``distributed-vote-no-gain``: its gap does not shrink with ``M`` (slope of log mean final gap
  against log ``M`` at least -0.05); variant: uniform noise.
- ``distributed-stosign-converges-2d``: StoSignSGD's averaged signs converge on counterexample 1 for
  every ``M`` (final gap below 1% of SignSGD's floor); variant: majority vote, on the floor. Its
  gradients are exact, so more workers do not lower the gap at ``T``: the step limits it.
- ``distributed-stosign-gain-<problem>``, on the three stochastic problems: StoSignSGD's final gap
  falls with ``M`` (slope at most ``GAIN``); variant: majority vote on the same problem.
- ``distributed-local-bias-hinge``, ``-l1``: on heterogeneous shards the local envelopes weight each worker by
  ``1/G_m`` and converge to the minimiser of ``mean_m f_m / c_m`` instead (the final gap over the
  shared envelope's is at least ``BIASED``; how close the local run sits to the weighted
  optimum's gap is in the set-up); variant: homogeneous shards, where both agree.
Table: bits each worker exchanges to reach ``TARGET`` of the initial gap, per method and problem.
"""
import math

import numpy as np

from theory_bench import problems
from theory_bench.analysis.bootstrap import mean_interval, steps_to_target, two_sample_interval
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.analysis.rates import fit_slope
from theory_bench.engine.distributed import simulate

NAME = "distributed"
TITLE = "distributed signs: majority vote against averaged stochastic signs, bits to target"
WORKERS = (1, 4, 16, 64)
EVERY = 10
METHODS = (  # label, method, keywords
    ("SGD", "sgd", {}),
    ("majority vote", "majority", {}),
    ("Signum vote", "signum", {"beta": 0.9}),
    ("StoSignSGD, local G", "stosign", {"envelope": "local"}),
    ("StoSignSGD, shared G", "stosign", {"envelope": "shared", "every": EVERY}),
    ("EF-SignSGD", "ef", {}),
)
VOTE, STOSIGN, SHARED = "majority vote", "StoSignSGD, local G", "StoSignSGD, shared G"
SKEWED = ("noisy_linear", {"d": 10, "noise": "skewed"})
SYMMETRIC = ("noisy_linear", {"d": 10, "noise": "uniform"})
PROBLEMS = (SKEWED, ("counterexample_2d", {}), ("hinge", {"d": 10, "skew": 0.3}), ("l1", {"d": 10, "skew": 0.3}))
LABELS = ("skewed problem", "counterexample 1", "hinge, skewed noise", "L1, skewed noise")
SHARDS, SPREAD = 8, 64.0
SHARDED = ("hinge_shards", "l1_shards")
SHARD_LABELS = {"hinge_shards": "hinge", "l1_shards": "L1"}
WRONG_WAY, NO_GAIN, GAIN, BIASED = 0.9, -0.05, -0.2, 1.5
TARGET = 0.1            # bits to reach 10% of the initial gap
TABLE_M = 16


def horizon(quick):
    """``(T, T for the shards, seeds)``."""
    return (5000, 100000, 5) if quick else (50000, 200000, 20)


def checkpoints(T):
    return np.unique(np.logspace(1, np.log10(T), 20).astype(int))


def spec(problem, kw, method, M, T, opt_kw):
    return {"problem": problem, "problem_kw": dict(kw), "optimizer": method, "opt_kw": dict(opt_kw), "workers": int(M),
            "T": int(T), "checkpoints": [int(c) for c in checkpoints(T)]}


def run_one(s, seed):
    """One simulated run: the gap of the averaged iterate at the checkpoints, bits, the final average."""
    p = problems.make(s["problem"], **s["problem_kw"])
    r = simulate(p.oracle, p.x0, s["T"], workers=s["workers"], method=s["optimizer"], lr=float(p.lr), args=p.args,
                 slot=p.extra.get("slot"), seed=seed, box=p.box, loss=p.loss_fn, checkpoints=s["checkpoints"],
                 **s["opt_kw"])
    return {"t": r.t, "loss_avg": r.losses_avg, "bits_up": r.bits_up, "bits_down": r.bits_down, "x_avg": r.x_avg,
            "wall_s": r.wall_s, "compile_s": r.compile_s}


def _runs(ctx, name, kw, label, M, T, seeds):
    method, opt_kw = next((m, k) for lab, m, k in METHODS if lab == label)
    p = problems.make(name, **kw)
    f_star = p.optimum()[1]
    r = ctx.runs(spec(name, kw, method, M, T, opt_kw), seeds, fn=run_one)
    r["gap"] = r["loss_avg"] - f_star
    r["initial_gap"] = p.loss(p.x0) - f_star
    return r


def run(ctx):
    T, T_shards, seeds = horizon(ctx.quick)
    out = {}
    for name, kw in PROBLEMS:
        for label, _, _ in METHODS:
            for M in WORKERS:
                out[name, label, M] = _runs(ctx, name, kw, label, M, T, seeds)
    for label in (VOTE, STOSIGN):
        for M in WORKERS:
            out["symmetric", label, M] = _runs(ctx, *SYMMETRIC, label, M, T, seeds)
    for name in SHARDED:
        for key, spread in (("heterogeneous", SPREAD), ("homogeneous", 1.0)):
            for label in (STOSIGN, SHARED):
                out[key, name, label] = _runs(ctx, name, shard_kw(spread), label, SHARDS, T_shards, seeds)
    return out


def shard_kw(spread):
    return {"workers": SHARDS, "spread": spread}


# --- what is measured ---
def final(r):
    m, lo, hi = mean_interval(r["gap"][:, -1:])
    return Measurement(float(m[0]), float(lo[0]), float(hi[0]))


def m_slope(data, key, label):
    """Slope of log mean final gap against log M, with its interval."""
    R = np.stack([data[key, label, M]["gap"][:, -1] for M in WORKERS], axis=1)
    return Measurement(*fit_slope(np.array(WORKERS, dtype=float), np.maximum(R, 1e-300)))


def wrong_way(data, key, label):
    """The smallest, over M, of the final gap over the gap at the wrong end (worst case, its interval)."""
    wrong = problems.make(SKEWED[0], **SKEWED[1]).extra["wrong_end_gap"]
    ms = []
    for M in WORKERS:
        f = final(data[key, label, M])
        ms.append(Measurement(f.value / wrong, f.lo / wrong, f.hi / wrong))
    return min(ms, key=lambda m: m.lo)


def bias_floor(name):
    """``F(x_w*) - F*`` on the heterogeneous shards: the gap at the minimiser of the 1/c_m-weighted objective."""
    p = problems.make(name, **shard_kw(SPREAD))
    return p.loss(p.extra["weighted"]["solve"]()[0]) - p.optimum()[1]


def bias_ratio(data, key, name):
    a, b = data[key, name, STOSIGN]["gap"][:, -1], data[key, name, SHARED]["gap"][:, -1]
    return Measurement(*two_sample_interval(a, b, lambda x, y: x.mean() / y.mean()))


def bits_to_target(r, M):
    """Bits one worker exchanges (up + down) until the mean gap reaches TARGET of the initial gap."""
    steps = steps_to_target(r["t"][0], r["gap"], TARGET * r["initial_gap"])
    return steps * (float(r["bits_up"][0]) + float(r["bits_down"][0]))


def claims(data, ctx):
    T, T_shards, seeds = horizon(ctx.quick)
    n = ctx.n_seeds(seeds)
    def named(m, what, t=T, workers=f"M in {WORKERS}"):
        m.setup = f"{what}, {workers}, eta_t = lr_p / sqrt(t), T = {t}, {n} seeds"
        return m

    out = [
        Claim("distributed-vote-wrong-way", "SignSGD with majority vote ends the skewed problem near the wrong end of "
              "the box, for every number of workers", "min over M of gap(x_avg_T) / gap at the wrong end",
              Range(lo=WRONG_WAY), named(wrong_way(data, SKEWED[0], VOTE), "majority vote, skewed noise"),
              "uniform (symmetric, unimodal) noise of the same variance",
              named(wrong_way(data, "symmetric", VOTE), "majority vote, uniform noise"), section="7, 3.3.2"),
        Claim("distributed-vote-no-gain", "more workers do not bring majority vote closer on the skewed problem",
              "slope of log mean final gap vs log M", Range(lo=NO_GAIN),
              named(m_slope(data, SKEWED[0], VOTE), "majority vote, skewed noise"), "uniform noise of the same variance",
              named(m_slope(data, "symmetric", VOTE), "majority vote, uniform noise"), section="7"),
    ]
    floor_2d = problems.make("counterexample_2d").extra["signsgd_floor"]

    def worst_2d(label):
        ms = [final(data["counterexample_2d", label, M]) for M in WORKERS]
        w = max(ms, key=lambda m: m.hi)
        return named(Measurement(w.value / floor_2d, w.lo / floor_2d, w.hi / floor_2d), f"{label}, counterexample 1")

    out.append(Claim("distributed-stosign-converges-2d", "StoSignSGD's averaged signs converge on counterexample 1 "
                     "for every number of workers (its gradients are exact: more workers average only the sign "
                     "noise, and the gap at T is the step's, not the noise's)", "max over M of final gap / SignSGD "
                     "floor eps |x1 + x2|", Range(hi=0.01), worst_2d(STOSIGN), "SignSGD with majority vote",
                     worst_2d(VOTE), section="7, 3.3.1"))
    for (name, _), label in zip(PROBLEMS, LABELS):
        if name == "counterexample_2d":
            continue
        out.append(Claim(f"distributed-stosign-gain-{name}", f"StoSignSGD's averaged signs converge on the {label} "
                         "and their final gap falls with the number of workers", "slope of log mean final gap vs log M",
                         Range(hi=GAIN), named(m_slope(data, name, STOSIGN), f"StoSignSGD local G, {label}"),
                         "SignSGD with majority vote", named(m_slope(data, name, VOTE), f"majority vote, {label}"),
                         section="7"))
    for name in SHARDED:
        floor = bias_floor(name)
        q = final(data["heterogeneous", name, STOSIGN]).value / floor
        q_shared = final(data["heterogeneous", name, SHARED]).value / floor
        kind = SHARD_LABELS[name]
        out.append(Claim(f"distributed-local-bias-{kind.lower()}", f"on heterogeneous workers ({kind} shards, scales "
                         f"spread {SPREAD:g}x) local envelopes are biased toward the workers with small gradients; a "
                         "shared envelope removes it", "final gap, local G / shared G", Range(lo=BIASED),
                         named(bias_ratio(data, "heterogeneous", name), f"local gap = {q:.2f} x, shared {q_shared:.2f} x "
                               f"the gap F(x_w*) - F* = {floor:.3g} of the 1/c_m-weighted optimum", T_shards,
                               f"M = {SHARDS}"),
                         "homogeneous workers (the same shards, one scale)",
                         named(bias_ratio(data, "homogeneous", name), f"homogeneous {kind} shards", T_shards,
                               f"M = {SHARDS}"), section="7"))
    return out


# --- what is shown ---
def _bits_cell(data, name, label):
    r = data[name, label, TABLE_M]
    bits = bits_to_target(r, TABLE_M)
    g = final(r)
    head = "never" if not math.isfinite(bits) else f"{bits / 8e3:.3g} kB"
    return f"{head} (gap {g.value:.2g})"


def table(data, ctx):
    """Per method, bits per worker to reach TARGET of the initial gap at M = TABLE_M (and the final gap)."""
    T, _, seeds = horizon(ctx.quick)
    head = ["variant", "bits per coordinate, up / down", *LABELS]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for label, method, kw in METHODS:
        r = data[PROBLEMS[0][0], label, TABLE_M]
        d = problems.make(PROBLEMS[0][0], **PROBLEMS[0][1]).d
        per = f"{float(r['bits_up'][0]) / d:.3g} / {float(r['bits_down'][0]) / d:.3g}"
        rows.append("| " + " | ".join([label, per, *(_bits_cell(data, name, label) for name, _ in PROBLEMS)]) + " |")
    rows.append("")
    rows.append(f"M = {TABLE_M} workers, eta_t = lr_p / sqrt(t), T = {T}, {ctx.n_seeds(seeds)} seeds. Cells: bytes each "
                f"worker sends and receives until the mean gap f(x_avg_t) - f* first reaches {TARGET:g} of the initial "
                "gap (never: not within T), and the final mean gap. Bits: a sign is 1 bit; the sum of M signs "
                f"ceil(log2(M+1)); SGD fp32; EF adds a 32-bit scale per vector; the shared envelope a fp32 "
                f"max-allreduce every {EVERY} steps.")
    return "\n".join(rows)


def figures(data, ctx, outdir):
    """Majority vote (red) against averaged stochastic signs (blue), one line style and marker per
    number of workers M; the last panel: local against shared envelopes on heterogeneous shards,
    with the weighted optimum (where local envelopes stall) as a black line."""
    from theory_bench.results.plotting import band, figure, legend_below, save
    fig, grid = figure(ncols=3, nrows=2, width=4.0, height=3.2)
    axes = list(grid.ravel())
    styles = {1: (":", "o"), 4: ("-.", "s"), 16: ("--", "^"), 64: ("-", "D")}
    for ax, (name, _), title in zip(axes, PROBLEMS, LABELS):
        for label, color in ((VOTE, "#d62728"), (STOSIGN, "#1f77b4")):
            for M in WORKERS:
                r = data[name, label, M]
                ls, marker = styles[M]
                band(ax, r["t"][0], np.maximum(r["gap"], 1e-12), f"{label}, M = {M}", color, ls=ls, marker=marker,
                     markevery=0.2, markersize=3.5, lw=1.2)
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="gap f(x_avg) - f*", title=title)
    legend_slot = axes[-1]               # the last slot holds the legend of the four method panels
    legend_slot.axis("off")
    legend_slot.legend(*axes[0].get_legend_handles_labels(), loc="center", ncol=2, fontsize=8,
                       title="the first four panels: method, workers M")
    ax = axes[len(PROBLEMS)]
    for key, ls in (("heterogeneous", "-"), ("homogeneous", ":")):
        for label, color in ((STOSIGN, "#1f77b4"), (SHARED, "#2ca02c")):
            r = data[key, SHARDED[0], label]
            band(ax, r["t"][0], np.maximum(r["gap"], 1e-12), f"{label}, {key} shards", color, ls=ls, lw=1.4)
    ax.axhline(bias_floor(SHARDED[0]), color="k", lw=0.9, ls="--",
               label="gap of the weighted optimum (local envelopes' fixed point)")
    ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="gap f(x_avg) - f*",
           title=f"hinge shards, M = {SHARDS}, scales spread 64x")
    legend_below(ax, ncol=1, fontsize=8)
    return save(fig, outdir, "distributed")
