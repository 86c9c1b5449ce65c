"""FP8 training in miniature (docs/fp8.md, docs/theory.md §6.1): AdamW fails, StoSignSGD holds.

Two small models trained on data every machine has (``fp8_data``, ``fp8_models``): a CNN with ReLU
and max-pool on scikit-learn's digits, and a byte-level decoder-only transformer with a top-1
routed mixture of experts on the Python standard library's own source. Four optimizers (AdamW,
SignSGD, Lion, StoSignSGD in its practical form) in three recipes (``theory_bench.torch.recipe``):
``fp32``, ``bf16`` (bf16 matmuls and gradients, fp32 state and weights) and ``fp8`` (E4M3 matmul
inputs with per-tensor scaling, E5M2 output gradients, E4M3 state with per-tensor scaling, BF16
master weights, nearest rounding); AdamW also in ``fp8-bf16-state`` (the same with its state in
bf16) and in the state layouts of the FP8 systems the field runs (``FIELD``: ``fp8-block``, torchao's
one scale per block of 256; ``fp8-msamp``, MS-AMP's FP16 second moment; ``fp8-te``,
TransformerEngine's absmax scale per tensor). Each optimizer has one ``lr`` per model (``LR``, the
best of a grid in fp32, docs/fp8.md). ``recipes_table`` (``<figures>/fp8_recipes.md``): which AdamW
recipe diverges, fails or trains, with its state's bytes per parameter, beside the sign methods in
FP8, and the best AdamW recipe that trains within StoSignSGD's state memory.

Measured per run (``fp8_train.train``): the validation loss at ``evals`` steps, the largest stored
update in units of the step's ``lr``, the fractions of state entries flushed to zero, and for
AdamW the fraction of ``v`` entries stored as zero where ``m`` is not (the cause, §6).

Claims, per model:
- ``fp8-adamw-fails-<model>``: AdamW in the FP8 recipe diverges or stalls: its final validation loss
  is at least ``STALL`` of the initial one (non-finite counts as infinite); variant: AdamW with
  its state in bf16 (same recipe otherwise), which trains.
- ``fp8-adamw-cause-<model>``: its largest stored update is at least ``EXPLODED`` times the step's
  ``lr`` (``m / (sqrt(v) + eps)`` with ``v`` stored as zero); variant: bf16 state.
- ``fp8-stosign-holds-<model>``: StoSignSGD in the same FP8 recipe ends within ``MARGIN`` of its own
  fp32 run, as a share of the fp32 run's loss reduction: ``(L_fp8 - L_fp32) / (L_0 - L_fp32)`` (a
  ratio of final losses is no measure near zero loss, where seeds alone differ by 30%); variant:
  AdamW in the same recipe, against AdamW in fp32.

Reported, not claimed (the paper's 1.44-2.14x): the steps StoSignSGD-FP8 takes to reach a target
validation loss against AdamW-bf16's, with a two-sample bootstrap interval. The target is the one
both reach: ``TARGET_SLACK`` times the worse of their two final mean validation losses.
"""
import math

import numpy as np

from theory_bench.analysis.bootstrap import bootstrap_interval, steps_to_target, two_sample_interval
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.experiments.packages import missing_packages, package_versions
from theory_bench.workloads.tuned import LR, LR_GRID      # the best peak lr in fp32 of each optimizer: docs/fp8.md

NAME = "fp8"
TITLE = "FP8 training in miniature: AdamW against StoSignSGD on a CNN and an MoE transformer"
REQUIRES = ("torch", "lion-pytorch", "pytorch_optimizer")
INSTALL = "pip install torch==2.13.0 && pip install -e '.[zoo]'"

MODELS = ("cnn", "transformer")
MODEL_LABELS = {"cnn": "CNN, digits", "transformer": "MoE transformer, stdlib bytes"}
OPTIMIZERS = ("AdamW", "SignSGD", "Lion", "StoSignSGD")
RECIPES = ("fp32", "bf16", "fp8", "fp8-bf16-state")
RECIPE_LABELS = {"fp32": "fp32", "bf16": "bf16", "fp8": "FP8", "fp8-bf16-state": "FP8, bf16 state",
                 "fp8-block": "FP8, block state (torchao)", "fp8-msamp": "FP8, fp16 v (MS-AMP O2)",
                 "fp8-te": "FP8, absmax state (TE)"}
FIELD = ("fp8-block", "fp8-msamp", "fp8-te")   # the state layouts of the FP8 systems practitioners run: AdamW only
ADAMW_FP8 = ("fp8-bf16-state", "fp8", *FIELD)  # every FP8 recipe AdamW runs in
STALL = 0.75          # a run whose final validation loss is >= 75% of the initial one has failed
EXPLODED = 1e3        # a stored update of 1000 lr_t is no step of a working optimizer
MARGIN = 0.05         # StoSignSGD in FP8 loses at most 5% of the loss reduction of its own fp32 run
TARGET_SLACK = 1.05
HEADLINE = ("StoSignSGD", "fp8")
REFERENCE = ("AdamW", "bf16")


def horizon(quick):
    """``{model: (T, seeds, evals)}``."""
    if quick:
        return {"cnn": (300, 4, 10), "transformer": (100, 2, 10)}
    return {"cnn": (2000, 8, 20), "transformer": (1000, 3, 20)}


def configs():
    """``(optimizer, recipe)`` pairs: every optimizer in fp32, bf16 and fp8; AdamW also with bf16 state and
    in each of the field's FP8 state layouts (``FIELD``)."""
    return ([(o, r) for o in OPTIMIZERS for r in RECIPES if r != "fp8-bf16-state" or o == "AdamW"]
            + [("AdamW", r) for r in FIELD])


def spec(model, optimizer, recipe, T, evals, lr=None, size=None):
    """A run's configuration (hashed into the store's key): the recipe's settings and the training
    set-up are part of it, so a change to either is a new key, never a stale result. ``lr`` defaults to
    ``LR``; ``size`` (a transformer's ``TransformerSize`` as a dict) is absent from the fp8 experiment's keys."""
    from theory_bench.workloads.training import run_spec
    return run_spec(model, optimizer, recipe, LR[model][optimizer] if lr is None else lr, T, evals, size)


def check_installed():
    lacking = missing_packages(REQUIRES)
    if lacking:
        raise RuntimeError(f"the fp8 experiment needs {', '.join(lacking)}: {INSTALL}")


def run(ctx):
    check_installed()
    from theory_bench.workloads.training import train
    out = {}
    for model, (T, seeds, evals) in horizon(ctx.quick).items():
        for opt, recipe in configs():
            out[model, opt, recipe] = ctx.runs(spec(model, opt, recipe, T, evals), seeds, fn=train)
    return out


# --- what is measured ---
def finals(r):
    """The final validation loss of each seed (a diverged run: inf)."""
    v = r["val_loss"][:, -1]
    return np.where(np.isfinite(v), v, np.inf)


def seed_mean(values, setup=""):
    """The mean of one number per seed and its bootstrap interval; an infinite value stays infinite."""
    v = np.asarray(values, dtype=np.float64)
    return Measurement(*bootstrap_interval(v, np.mean, method="inverted_cdf"), setup)


def failure_ratio(r):
    """Final over initial validation loss, per seed (inf for a diverged run)."""
    return finals(r) / r["val_loss"][:, 0]



def lost_progress(r, ref):
    """``(mean L_final(r) - mean L_final(ref)) / (L_0 - mean L_final(ref))``: the share of ``ref``'s loss
    reduction that ``r`` does not achieve (0: as good; 1: no progress; inf: diverged), with a
    two-sample interval. ``L_0`` is the mean initial validation loss (the same weights in both)."""
    start = float(ref["val_loss"][:, 0].mean())
    return Measurement(*two_sample_interval(finals(r), finals(ref), lambda a, b: (a.mean() - b.mean()) / (start - b.mean())))


def largest_update(r):
    """Per seed, the largest stored update in units of the step's lr."""
    return np.nanmax(r["largest_update"], axis=1)


def v_stalled(r):
    """The fraction of AdamW's ``v`` entries stored as zero where ``m`` is not (last step), mean over seeds."""
    return float(np.mean(r["stalled_exp_avg_sq"])) if "stalled_exp_avg_sq" in r else math.nan


def verdict(r):
    """'diverged' (a non-finite loss in any seed), 'fails' (mean final validation loss >= STALL of the
    initial), else 'trains'."""
    if (r["diverged_at"] > 0).any() or not np.isfinite(r["val_loss"][:, -1]).all():
        return "diverged"
    return "fails" if failure_ratio(r).mean() >= STALL else "trains"


def steps_to_loss(t, curves, target):
    """The first step at which the mean validation curve (rows: seeds) is at or below ``target``,
    interpolated linearly between the evenly spaced evaluations; ``inf`` if never."""
    return steps_to_target(t, curves, target, scale="linear")


def target_loss(data, model):
    """The validation loss both StoSignSGD-FP8 and AdamW-bf16 reach: TARGET_SLACK x the worse final mean."""
    worse = max(finals(data[(model, *HEADLINE)]).mean(), finals(data[(model, *REFERENCE)]).mean())
    return TARGET_SLACK * worse


def steps_ratio(t, curves, ref_curves, target):
    """``steps(ref_curves) / steps(curves)`` to ``target`` on the evaluation steps ``t`` (rows: seeds)."""
    return _ratio(steps_to_loss(t, ref_curves, target), steps_to_loss(t, curves, target))


def speed_ratio(r, ref, target):
    """``steps(ref) / steps(r)`` to ``target`` with a two-sample interval (> 1: ``r`` is faster; 0: never)."""
    t = r["t"][0]
    return Measurement(*two_sample_interval(r["val_loss"], ref["val_loss"],
                                            lambda a, b: steps_ratio(t, a, b, target), n_boot=1000))


def _ratio(num, den):
    if math.isinf(den):
        return 0.0 if math.isfinite(num) else math.nan
    return num / den


def claims(data, ctx):
    out = []
    for model, (T, seeds, _) in horizon(ctx.quick).items():
        n = ctx.n_seeds(seeds)
        setup = lambda what: f"{MODEL_LABELS[model]}, {what}, T = {T}, {n} seeds"
        d = lambda opt, recipe: data[model, opt, recipe]

        def fails(recipe):
            r = d("AdamW", recipe)
            return seed_mean(failure_ratio(r), setup(f"AdamW, {RECIPE_LABELS[recipe]}: {verdict(r)}"))

        def cause(recipe):
            r = d("AdamW", recipe)
            fl = ", ".join(f"{k[len('flushed_'):]} {float(np.mean(r[k])):.2g}" for k in sorted(r) if k.startswith("flushed_"))
            return seed_mean(largest_update(r), setup(f"AdamW, {RECIPE_LABELS[recipe]}; v = 0 where m != 0 at the "
                                                      f"last step: {v_stalled(r):.2g} of entries; flushed: {fl}"))

        def holds(opt):
            m = lost_progress(d(opt, "fp8"), d(opt, "fp32"))
            m.setup = setup(f"{opt}, FP8 over fp32: {verdict(d(opt, 'fp8'))}")
            return m

        out += [
            Claim(f"fp8-adamw-fails-{model}", f"AdamW in the FP8 recipe (E4M3 matmuls and state, E5M2 gradients, BF16 "
                  f"weights) fails on the {MODEL_LABELS[model]}: it diverges or stalls",
                  "final validation loss / initial (diverged: inf), mean over seeds", Range(lo=STALL), fails("fp8"),
                  "AdamW with its state in bf16, the same recipe otherwise", fails("fp8-bf16-state"), section="6.1"),
            Claim(f"fp8-adamw-cause-{model}", "the cause: where the stored v is zero and m is not, AdamW's update "
                  "m / (sqrt(v) + eps) explodes", "largest |p_(t+1) - p_t| / lr_t, mean over seeds",
                  Range(lo=EXPLODED), cause("fp8"), "bf16 state", cause("fp8-bf16-state"), section="6, 6.1"),
            Claim(f"fp8-stosign-holds-{model}", "StoSignSGD (practical) in the same FP8 recipe trains as in fp32: it "
                  f"loses at most {MARGIN:.0%} of its fp32 run's loss reduction",
                  "(L_T fp8 - L_T fp32) / (L_0 - L_T fp32), means over seeds", Range(hi=MARGIN), holds("StoSignSGD"),
                  "AdamW in the same recipe", holds("AdamW"), section="6.1"),
        ]
    return out


# --- what is shown ---
def _loss_cell(r):
    v = verdict(r)
    if v == "diverged":
        at = r["diverged_at"][r["diverged_at"] > 0]
        first = f" at step {int(at.min())}" if at.size else ""
        fin = seed_mean(failure_ratio(r))
        tail = f", final {fin.value:.3g}x initial" if math.isfinite(fin.value) else ""
        return f"**diverged**{first}{tail}"
    m = seed_mean(finals(r))
    cell = f"{m.value:.3g} [{m.lo:.3g}, {m.hi:.3g}]"
    return f"**fails** {cell}" if v == "fails" else cell


def _speed_cell(data, model, opt, recipe):
    m = speed_ratio(data[model, opt, recipe], data[(model, *REFERENCE)], target_loss(data, model))
    if m.value == 0:
        return "never"
    return f"{m.value:.2f}x [{m.lo:.2f}, {m.hi:.2f}]"


def table(data, ctx):
    """One row per model and optimizer: final validation loss per recipe with its interval (or the
    verdict), and the FP8 run's steps to the target against AdamW-bf16's."""
    h = horizon(ctx.quick)
    head = ["variant", "model", *(RECIPE_LABELS[r] for r in RECIPES), "FP8 speed vs AdamW-bf16"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model in MODELS:
        for opt in OPTIMIZERS:
            cells = [_loss_cell(data[model, opt, r]) if (model, opt, r) in data else "-" for r in RECIPES]
            rows.append("| " + " | ".join([opt, MODEL_LABELS[model], *cells, _speed_cell(data, model, opt, "fp8")]) + " |")
    rows.append("")
    runs = "; ".join(f"{MODEL_LABELS[m]}: T = {T}, {ctx.n_seeds(s)} seeds" for m, (T, s, _) in h.items())
    targets = ", ".join(f"{MODEL_LABELS[m]} {target_loss(data, m):.3g}" for m in MODELS)
    rows.append(f"Cells: final validation loss (nats) with its 95% bootstrap interval over seeds; diverged: a "
                f"non-finite loss; fails: above {STALL:g}x the initial loss. FP8: E4M3 matmul inputs and "
                "optimizer state (per-tensor scaled), E5M2 gradients, BF16 master weights. Speed: steps AdamW-bf16 "
                f"takes to the target validation loss ({targets}: {TARGET_SLACK:g}x the worse final of the two) over "
                f"the steps of the row's FP8 run (> 1: fewer steps), with its interval. {runs}. Largest updates, "
                "flushed fractions and steps: figures/fp8_full.md.")
    return "\n".join(rows)


def state_bytes(r):
    return float(np.mean(r["state_bytes"])) if "state_bytes" in r else math.nan


def best_adamw(data, model, budget=math.inf):
    """The AdamW FP8 recipe (of ``fp8-bf16-state``, ``fp8`` and ``FIELD``) that trains to the lowest mean
    final validation loss with at most ``budget`` bytes of state per parameter; None if none trains."""
    ok = [r for r in ADAMW_FP8 if (model, "AdamW", r) in data
          and verdict(data[model, "AdamW", r]) == "trains" and state_bytes(data[model, "AdamW", r]) <= budget * (1 + 1e-9)]
    return min(ok, key=lambda r: finals(data[model, "AdamW", r]).mean(), default=None)


def recipes_table(data, ctx):
    """AdamW in every recipe, the field's FP8 state layouts included, beside the sign methods in FP8: the
    verdict, the final loss, the state's bytes per parameter, the cause (v stored as zero where m is
    not, the largest update) and the speed against AdamW in bf16."""
    head = ["model", "optimizer", "recipe", "verdict", "final val loss", "state bytes / parameter",
            "v = 0 where m != 0", "largest update / lr_t", "speed vs AdamW-bf16"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    notes = []
    for model in MODELS:
        order = [("AdamW", r) for r in ("fp32", "bf16", *ADAMW_FP8)] + \
                [(o, "fp8") for o in OPTIMIZERS if o != "AdamW"]
        for opt, recipe in order:
            if (model, opt, recipe) not in data:
                continue
            r = data[model, opt, recipe]
            up = seed_mean(largest_update(r))
            rows.append("| " + " | ".join([MODEL_LABELS[model], opt, RECIPE_LABELS[recipe], verdict(r), _loss_cell(r),
                                           f"{state_bytes(r):.3g}", f"{v_stalled(r):.2g}" if opt == "AdamW" else "-",
                                           f"{up.value:.3g}", _speed_cell(data, model, opt, recipe)]) + " |")
        sto = data[model, "StoSignSGD", "fp8"]
        same = best_adamw(data, model, state_bytes(sto))
        anyb = best_adamw(data, model)
        notes.append(f"{MODEL_LABELS[model]}: StoSignSGD in FP8 ({state_bytes(sto):.3g} bytes of state per parameter) "
                     f"ends at {finals(sto).mean():.3g}; the best AdamW FP8 recipe that trains within that memory: "
                     + (f"{RECIPE_LABELS[same]}, {finals(data[model, 'AdamW', same]).mean():.3g}" if same else "none")
                     + "; with any memory: "
                     + (f"{RECIPE_LABELS[anyb]}, {finals(data[model, 'AdamW', anyb]).mean():.3g} at "
                        f"{state_bytes(data[model, 'AdamW', anyb]):.3g} bytes" if anyb else "none") + ".")
    return "\n".join(rows + [""] + notes)


def speed_table(data, ctx):
    """StoSignSGD in FP8 against every baseline, each in its own row (never left out): SignSGD and Lion in
    the same FP8 recipe, AdamW in every FP8 state layout, and AdamW in bf16. Per pair, the target is
    ``TARGET_SLACK`` times the worse final mean loss of the two (of StoSignSGD alone where the baseline
    does not train); the speed-up is the baseline's steps over StoSignSGD's, with a two-sample interval;
    a baseline that never reaches the target: infinite (AlgoPerf's rule)."""
    head = ["model", "baseline", "baseline verdict", "target val loss", "steps, baseline", "steps, StoSignSGD FP8",
            "speed-up of StoSignSGD FP8 [95%]"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model in MODELS:
        sto = data[model, *HEADLINE]
        pairs = [(o, "fp8") for o in ("SignSGD", "Lion")] + [("AdamW", r) for r in ("fp8", *FIELD, "fp8-bf16-state")]
        for opt, recipe in pairs + [REFERENCE]:
            if (model, opt, recipe) not in data:
                continue
            r = data[model, opt, recipe]
            target, steps, m = pair_speed(sto, r)
            rows.append("| " + " | ".join([MODEL_LABELS[model], f"{opt}, {RECIPE_LABELS[recipe]}", verdict(r), f"{target:.3g}",
                                           *(f"{n:.0f}" if math.isfinite(n) else "never" for n in steps),
                                           speed_cell(m)]) + " |")
    return "\n".join(rows)


def pair_speed(sto, r):
    """StoSignSGD's runs ``sto`` against a baseline's ``r``: the target (``TARGET_SLACK`` times the worse
    final mean loss of the two, or StoSignSGD's alone where the baseline does not train), the steps each
    takes to it (baseline, StoSignSGD) and the speed-up ``steps(r) / steps(sto)`` with its interval
    (inf: the baseline never reaches the target; 0: StoSignSGD never does)."""
    target = pair_target(sto, r)
    t = sto["t"][0]
    steps = tuple(steps_to_loss(t, x["val_loss"], target) for x in (r, sto))
    return target, steps, speed_ratio(sto, r, target)


def pair_target(sto, r):
    """``TARGET_SLACK`` times the worse final mean loss of ``sto`` and ``r``, or of ``sto`` alone where ``r``
    does not train."""
    return TARGET_SLACK * max(finals(sto).mean(), finals(r).mean() if verdict(r) == "trains" else -np.inf)


def speed_cell(m):
    if math.isinf(m.value):
        return "inf (the baseline never reaches it)"
    return "never (StoSignSGD does not reach it)" if m.value == 0 else f"{m.value:.2f}x [{m.lo:.2f}, {m.hi:.2f}]"


def full_table(data, ctx):
    """Every run: verdict, final loss, largest update, AdamW's stalled v, flushed state, steps to target."""
    head = ["variant", "model", "recipe", "lr", "verdict", "final val loss", "largest update / lr_t",
            "v = 0 where m != 0", "flushed to zero", "steps to target", "speed vs AdamW-bf16", "s per run"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model in MODELS:
        target = target_loss(data, model)
        for opt, recipe in configs():
            r = data[model, opt, recipe]
            up = seed_mean(largest_update(r))
            fl = ", ".join(f"{k[len('flushed_'):]} {float(np.mean(r[k])):.2g}" for k in sorted(r) if k.startswith("flushed_"))
            steps = steps_to_loss(r["t"][0], r["val_loss"], target)
            cells = [opt, MODEL_LABELS[model], RECIPE_LABELS[recipe], f"{LR[model][opt]:g}", verdict(r), _loss_cell(r),
                     f"{up.value:.3g} [{up.lo:.3g}, {up.hi:.3g}]",
                     f"{v_stalled(r):.2g}" if opt == "AdamW" else "-", fl or "-",
                     f"{steps:.0f}" if math.isfinite(steps) else "never", _speed_cell(data, model, opt, recipe),
                     f"{float(np.mean(r['wall_s'])):.1f}"]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


STYLES = {"fp32": "-", "bf16": "--", "fp8": ":", "fp8-bf16-state": "-.", "fp8-block": (0, (5, 1, 1, 1)),
          "fp8-msamp": (0, (3, 1, 1, 1, 1, 1)), "fp8-te": (0, (1, 1))}
COLORS = {"AdamW": "#7f7f7f", "SignSGD": "#d62728", "Lion": "#bcbd22", "StoSignSGD": "#1f77b4",
          "fp8-block": "#9467bd", "fp8-msamp": "#8c564b", "fp8-te": "#e377c2"}    # AdamW in the field's layouts


def figures(data, ctx, outdir):
    from theory_bench.results.plotting import band, figure, legend_below, save
    fig, axes = figure(ncols=len(MODELS), width=5.2, height=3.9)
    for ax, model in zip(axes[0], MODELS):
        initial = float(data[model, "AdamW", "fp32"]["val_loss"][:, 0].mean())
        best = min(float(np.nanmin(data[model, o, r]["val_loss"].mean(axis=0))) for o, r in configs())
        top = 1.3 * initial
        for opt, recipe in configs():
            r = data[model, opt, recipe]
            curves = np.minimum(np.where(np.isfinite(r["val_loss"]), r["val_loss"], top), top)   # off the top: diverged
            label = f"{opt}, {RECIPE_LABELS[recipe]}" + (" (diverged)" if verdict(r) == "diverged" else "")
            band(ax, r["t"][0], curves, label, COLORS.get(recipe, COLORS[opt]), ls=STYLES[recipe], lw=1.8 if recipe == "fp8" else 1.1)
        ax.axhline(target_loss(data, model), color="k", lw=0.8, ls=(0, (1, 2)), label="target loss of the speed column")
        ax.set(yscale="log", ylim=(0.8 * best, top), xlabel="training step", ylabel="validation loss (nats)",
               title=f"{MODEL_LABELS[model]}: curves at the top diverged")
    legend_below(axes[0][0], ncol=3)
    paths = save(fig, outdir, "fp8")
    from pathlib import Path
    from theory_bench.results.store import atomic_write_text
    full = Path(outdir) / "fp8_full.md"
    atomic_write_text(full, full_table(data, ctx) + "\n\n" + f"Versions: " +
                      ", ".join(f"{k} {v}" for k, v in package_versions(REQUIRES).items()) + ".\n")
    recipes, speed = Path(outdir) / "fp8_recipes.md", Path(outdir) / "fp8_speed.md"
    atomic_write_text(recipes, recipes_table(data, ctx) + "\n")
    atomic_write_text(speed, speed_table(data, ctx) + "\n")
    return paths + [full, recipes, speed]
