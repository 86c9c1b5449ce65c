"""Why the FP8 speed-up differs (docs/fp8.md): StoSignSGD in FP8 against its baselines as the transformer grows.

The byte-level transformer of the fp8 experiment (``theory_bench.workloads.models``), with its top-1
routed mixture of 4 experts and as a dense twin (one MLP of an expert's shape per block), at three
widths (``WIDTHS``; 2 layers, 4 heads, hidden = 2 x width, context 64), so the parameters span
12x (MoE) and 9.5x (dense). Each size has its own token budget: ``T = T0 sqrt(P / P_smallest)``
steps of 16 x 64 bytes (``steps``), the same for both architectures of one width, with the
schedule LLM pre-training uses (linear warm-up over 5%, cosine decay to 10%).

Methods (``METHODS``): StoSignSGD (practical) in FP8, and the baselines: SignSGD and Lion in the
same FP8 recipe, AdamW in FP8 with bf16 state (the one AdamW FP8 recipe that trains both models of
the fp8 experiment) and AdamW in bf16 (the paper's reference). Each method's peak lr is tuned per
size and architecture on a grid of three (``lr_grid``: the fp8 experiment's transformer lr and its
neighbours in the grid 1e-4, 3e-4, ..., 3e-2) by the final validation loss of one tuning seed
(``TUNE_ROOT``, not one of the seeds reported); the reported runs use other seeds.

Measured, not claimed: the speed-up of StoSignSGD-FP8 over each baseline at each size (the
baseline's steps to the pair's target over StoSignSGD's, fp8's ``pair_speed``: a baseline that
never reaches it counts as infinite), and its trend, the slope of ``log2`` speed-up per doubling
of parameters with a bootstrap interval (``trend``); where a positive slope would reach the paper's
1.44x is extrapolated, never measured.

Claims, per architecture (theory §6.1: the update of a sign method is bounded whatever its state's
format; AdamW's ``m / sqrt(v)`` is not):
- ``fp8_scaling-stosign-trains-<arch>``: StoSignSGD in FP8 trains at every size: its worst final over
  initial validation loss across sizes is below ``fp8.STALL``; variant: AdamW in the FP8 recipe
  (per-tensor E4M3 state) at AdamW's tuned lr, which fails at some size.
"""
import math
import numpy as np

from theory_bench.analysis.claims import Claim, Range
from theory_bench.experiments import fp8
from theory_bench.experiments.runs import SEED_ROOT, seeds_for

NAME = "fp8_scaling"
TITLE = "FP8 speed-up against model size: StoSignSGD against SignSGD, Lion and AdamW on MoE and dense transformers"
REQUIRES, INSTALL = fp8.REQUIRES, fp8.INSTALL

ARCHS = {"moe": 4, "dense": 0}              # experts per block; 0: the dense twin
ARCH_LABELS = {"moe": "MoE transformer (4 experts, top-1)", "dense": "dense twin"}
HEADLINE = ("StoSignSGD", "fp8")
BASELINES = (("SignSGD", "fp8"), ("Lion", "fp8"), ("AdamW", "fp8-bf16-state"), ("AdamW", "bf16"))
METHODS = (HEADLINE, *BASELINES)
FAILING = ("AdamW", "fp8")                  # the claims' variant: AdamW with per-tensor E4M3 state
PAPER = (1.44, 2.14)
TUNE_ROOT = SEED_ROOT + 1                   # the tuning seed's root: not one of the reported seeds
TOKENS_PER_STEP = 16 * 64


def horizon(quick):
    """``(widths, T0, seeds, evals, tune)``: the smallest width runs ``T0`` steps; ``tune``: the lr grid
    has three points (else the fp8 experiment's lr alone)."""
    if quick:
        return (16, 32, 64), 60, 2, 6, False
    return (32, 64, 128), 300, 3, 20, True


def size(arch, width):
    from theory_bench.workloads.models import TransformerSize
    return TransformerSize(width=width, hidden=2 * width, experts=ARCHS[arch])


def steps(widths, T0, evals):
    """``{width: T}``: ``T0 sqrt(P / P_smallest)`` (MoE parameters) rounded to a multiple of ``evals``."""
    p = {w: size("moe", w).parameters() for w in widths}
    return {w: int(evals * round(T0 * math.sqrt(p[w] / p[widths[0]]) / evals)) for w in widths}


def lr_grid(optimizer, tune):
    """The fp8 experiment's transformer lr for ``optimizer`` and, when ``tune``, its two neighbours in ``fp8.LR_GRID``."""
    grid = fp8.LR_GRID
    k = grid.index(fp8.LR["transformer"][optimizer])
    return grid[max(0, k - 1):k + 2] if tune else (grid[k],)


def _spec(arch, width, method, lr, T, evals):
    return fp8.spec("transformer", *method, T, evals, lr=lr, size=size(arch, width))


def run(ctx):
    fp8.check_installed()
    from theory_bench.workloads.training import train
    widths, T0, seeds, evals, tune = horizon(ctx.quick)
    T = steps(widths, T0, evals)
    cells = [(a, w) for w in sorted(widths, reverse=True) for a in ARCHS]      # the longest runs first
    grid = {(a, w, m): lr_grid(m[0], tune) for a, w in cells for m in METHODS}
    best = {}
    if tune:
        keys = [(a, w, m, lr) for (a, w, m), lrs in grid.items() for lr in lrs]
        results = ctx.runs_many([(_spec(a, w, m, lr, T[w], evals), seeds_for(1, TUNE_ROOT)) for a, w, m, lr in keys],
                                fn=train)
        tuning = dict(zip(keys, results))
        for (a, w, m), lrs in grid.items():
            best[a, w, m] = min(lrs, key=lambda lr: (fp8.finals(tuning[a, w, m, lr])[0], lr))
    else:
        tuning = {}
        best = {k: lrs[0] for k, lrs in grid.items()}
    for a, w in cells:                      # the claims' variant, at the lr tuned for AdamW with bf16 state
        best[a, w, FAILING] = best.get((a, w, ("AdamW", "fp8-bf16-state")), fp8.LR["transformer"]["AdamW"])
    keys = [(a, w, m) for a, w in cells for m in (*METHODS, FAILING)]
    results = ctx.runs_many([(_spec(a, w, m, best[a, w, m], T[w], evals), seeds) for a, w, m in keys], fn=train)
    return {"runs": dict(zip(keys, results)), "lr": best, "grid": grid, "tuning": tuning, "T": T, "widths": widths}


# --- what is measured ---
def params(arch, width):
    return size(arch, width).parameters()


def speed(data, arch, width, baseline):
    """fp8's ``pair_speed`` of StoSignSGD-FP8 against ``baseline`` at this size: (target, steps, Measurement)."""
    r = data["runs"]
    return fp8.pair_speed(r[arch, width, HEADLINE], r[arch, width, baseline])


def _slope(x, y):
    return float(np.polyfit(x, y, 1)[0])


def trend(data, arch, baseline, n_boot=1000, seed=0):
    """``(slope, lo, hi)`` of ``log2(speed-up)`` per doubling of parameters, the seeds of every size and
    method resampled on their own (a bootstrap); nan where a speed-up is 0 or infinite (no slope)."""
    widths = data["widths"]
    x = np.log2([params(arch, w) for w in widths])
    pairs = [(data["runs"][arch, w, HEADLINE], data["runs"][arch, w, baseline]) for w in widths]
    targets = [fp8.pair_target(sto, base) for sto, base in pairs]

    def ratios(rows=None):
        out = []
        for (sto, base), target, idx in zip(pairs, targets, rows or [None] * len(pairs)):
            a, b = (sto["val_loss"], base["val_loss"]) if idx is None else (sto["val_loss"][idx[0]], base["val_loss"][idx[1]])
            out.append(fp8.steps_ratio(sto["t"][0], a, b, target))
        return np.array(out)

    point = ratios()
    if not (np.all(np.isfinite(point)) and np.all(point > 0)):
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    slopes = []
    for _ in range(n_boot):
        rows = [(rng.integers(0, len(s["val_loss"]), len(s["val_loss"])),
                 rng.integers(0, len(b["val_loss"]), len(b["val_loss"]))) for s, b in pairs]
        r = ratios(rows)
        slopes.append(_slope(x, np.log2(r)) if np.all(np.isfinite(r)) and np.all(r > 0) else math.nan)
    slopes = np.array(slopes)
    if np.mean(np.isnan(slopes)) > 0.05:         # more than 5% of resamples have no slope: no interval
        return _slope(x, np.log2(point)), math.nan, math.nan
    lo, hi = np.nanquantile(slopes, [0.025, 0.975])
    return _slope(x, np.log2(point)), float(lo), float(hi)


def trend_words(data, arch, baseline):
    """Whether StoSignSGD-FP8's speed-up over ``baseline`` moves toward the paper's 1.44-2.14x as the model grows."""
    widths = data["widths"]
    last = speed(data, arch, widths[-1], baseline)[2].value
    slope, lo, hi = trend(data, arch, baseline)
    if math.isnan(slope):
        return "no slope (a speed-up is 0 or infinite at some size)", slope, lo, hi
    if PAPER[0] <= last <= PAPER[1]:
        where = "inside the paper's range at the largest size"
    elif last > PAPER[1]:
        where = "above the paper's range at the largest size"
    elif math.isnan(lo) or lo <= 0 <= hi:
        where = "below the paper's range, no trend measured (the interval holds 0)"
    elif lo > 0:
        reach = params(arch, widths[-1]) * 2 ** ((math.log2(PAPER[0]) - math.log2(last)) / slope)
        where = f"below the paper's range and rising: 1.44x extrapolated at {reach:.2g} parameters"
    else:
        where = "below the paper's range and falling with size"
    return where, slope, lo, hi


def worst_failure(data, arch, method):
    """Per seed, the largest final / initial validation loss over the sizes (inf: diverged at some size)."""
    return np.max([fp8.failure_ratio(data["runs"][arch, w, method]) for w in data["widths"]], axis=0)


def claims(data, ctx):
    widths, _, seeds, _, _ = horizon(ctx.quick)
    out = []
    for arch in ARCHS:
        setup = (f"{ARCH_LABELS[arch]}, {params(arch, widths[0]):,} to {params(arch, widths[-1]):,} parameters, "
                 f"T = {', '.join(str(data['T'][w]) for w in widths)}, {ctx.n_seeds(seeds)} seeds")
        m = fp8.seed_mean(worst_failure(data, arch, HEADLINE), setup)
        v = fp8.seed_mean(worst_failure(data, arch, FAILING), setup)
        out.append(Claim(f"fp8_scaling-stosign-trains-{arch}", f"StoSignSGD (practical) in the FP8 recipe trains the "
                         f"{ARCH_LABELS[arch]} at every size", "largest final / initial validation loss over the "
                         "sizes, mean over seeds", Range(hi=fp8.STALL), m,
                         "AdamW in the same FP8 recipe (per-tensor E4M3 state), at its tuned lr", v, section="6.1"))
    return out


# --- what is shown ---
def method_label(m):
    return f"{m[0]}, {fp8.RECIPE_LABELS[m[1]]}"


def table(data, ctx):
    """One row per architecture, size and baseline: the speed-up of StoSignSGD-FP8, then one trend row per baseline."""
    head = ["variant", "architecture", "parameters", "tokens", "lr (StoSignSGD / baseline)", "target val loss",
            "steps, baseline", "steps, StoSignSGD FP8", "speed-up of StoSignSGD FP8 [95%]"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for arch in ARCHS:
        for base in BASELINES:
            for w in data["widths"]:
                target, st, m = speed(data, arch, w, base)
                lrs = f"{data['lr'][arch, w, HEADLINE]:g} / {data['lr'][arch, w, base]:g}"
                rows.append("| " + " | ".join([method_label(base), ARCH_LABELS[arch], f"{params(arch, w):,}",
                                               f"{data['T'][w] * TOKENS_PER_STEP / 1e6:.2g}M", lrs, f"{target:.3g}",
                                               *(f"{n:.0f}" if math.isfinite(n) else "never" for n in st),
                                               fp8.speed_cell(m)]) + " |")
    rows += ["", "| variant | architecture | slope of log2 speed-up per doubling of parameters [95%] | against the "
             "paper's 1.44-2.14x |", "| --- | --- | --- | --- |"]
    for arch in ARCHS:
        for base in BASELINES:
            words, slope, lo, hi = trend_words(data, arch, base)
            cell = "-" if math.isnan(slope) else (f"{slope:+.2f}" + ("" if math.isnan(lo) else f" [{lo:+.2f}, {hi:+.2f}]"))
            rows.append(f"| {method_label(base)} | {ARCH_LABELS[arch]} | {cell} | {words} |")
    return "\n".join(rows)


def lr_table(data, ctx):
    """The tuned lr of every method, size and architecture, with the grid's final losses of the tuning seed."""
    head = ["variant", "architecture", "width", "grid: final val loss of the tuning seed", "tuned lr"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for arch in ARCHS:
        for m in METHODS:
            for w in data["widths"]:
                grid = data["grid"][arch, w, m]
                cells = ", ".join(f"{lr:g}: {fp8.finals(data['tuning'][arch, w, m, lr])[0]:.3g}" for lr in grid) \
                    if data["tuning"] else "not tuned (quick form)"
                best = data["lr"][arch, w, m]
                edge = " (grid edge)" if len(grid) > 1 and best in (grid[0], grid[-1]) else ""
                rows.append(f"| {method_label(m)} | {ARCH_LABELS[arch]} | {w} | {cells} | {best:g}{edge} |")
    return "\n".join(rows)


COLORS = {"SignSGD": "#d62728", "Lion": "#bcbd22", "AdamW": "#7f7f7f", "StoSignSGD": "#1f77b4", "bf16": "#000000"}
STYLES = {"fp8": "-", "fp8-bf16-state": "--", "bf16": ":"}


def _color(method):
    return COLORS["bf16"] if method == ("AdamW", "bf16") else COLORS[method[0]]


def _size_ticks(ax, p):
    """Ticks at the sizes themselves (61k, 204k, ...), no minor labels crowding them."""
    from matplotlib.ticker import NullFormatter
    ax.set_xticks(p, [f"{v / 1e3:.0f}k" for v in p])
    ax.xaxis.set_minor_formatter(NullFormatter())


def figures(data, ctx, outdir):
    from pathlib import Path

    from theory_bench.results.plotting import figure, legend_below, save
    from theory_bench.results.store import atomic_write_text
    fig, axes = figure(ncols=len(ARCHS), nrows=2, width=5.0, height=3.6)
    for col, arch in enumerate(ARCHS):
        top, bottom = axes[0][col], axes[1][col]
        p = np.array([params(arch, w) for w in data["widths"]], dtype=float)
        top.axhspan(*PAPER, color="#2ca02c", alpha=0.15, label="the paper's 1.44-2.14x")
        top.axhline(1.0, color="k", lw=0.8)
        for k, base in enumerate(BASELINES):
            ms = [speed(data, arch, w, base)[2] for w in data["widths"]]
            val = np.array([m.value for m in ms])
            shift = p * 2 ** (0.06 * (k - 1.5))          # side by side, not on top of each other
            finite = np.isfinite(val) & (val > 0)
            top.errorbar(shift[finite], val[finite], yerr=[val[finite] - [m.lo for m, f in zip(ms, finite) if f],
                                                           [m.hi for m, f in zip(ms, finite) if f] - val[finite]],
                         color=_color(base), ls=STYLES[base[1]], marker="o", ms=4, capsize=3,
                         label=f"over {method_label(base)}")
            if np.any(np.isinf(val)):
                top.scatter(shift[np.isinf(val)], [8.0] * int(np.isinf(val).sum()), marker="^", color=_color(base),
                            label=f"over {method_label(base)}: baseline never reaches the target")
            if np.any(val == 0):
                top.scatter(shift[val == 0], [0.125] * int((val == 0).sum()), marker="v", color=_color(base),
                            label=f"over {method_label(base)}: StoSignSGD never reaches the target")
        top.set(xscale="log", yscale="log", ylim=(0.1, 10), xlabel="parameters (every expert counted)",
                ylabel="speed-up of StoSignSGD FP8 (x, steps to target)", title=f"{ARCH_LABELS[arch]}: speed-up vs size")
        _size_ticks(top, p)
        for m in METHODS:
            fin = [fp8.finals(data["runs"][arch, w, m]) for w in data["widths"]]
            mean = np.array([f.mean() for f in fin])
            ok = np.isfinite(mean)
            bottom.plot(p[ok], mean[ok], color=_color(m), ls=STYLES[m[1]], marker="o", ms=4,
                        lw=2 if m == HEADLINE else 1.2, label=method_label(m) + ("" if ok.all() else " (diverged at some size)"))
        bottom.set(xscale="log", xlabel="parameters (every expert counted)", ylabel="final validation loss (nats/byte)",
                   title=f"{ARCH_LABELS[arch]}: final loss at each size's token budget")
        _size_ticks(bottom, p)
    legend_below(axes[0][0], ncol=2, offset=0.22)
    legend_below(axes[1][0], ncol=3, offset=0.22)
    paths = save(fig, outdir, NAME)
    lrs = Path(outdir) / f"{NAME}_lr.md"
    atomic_write_text(lrs, lr_table(data, ctx) + "\n")
    return paths + [lrs]
