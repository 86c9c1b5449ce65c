"""Fine-tuning in miniature (docs/finetune.md): math-reasoning accuracy after fine-tuning with AdamW, SignSGD,
Lion and StoSignSGD, on the Hugging Face stack.

The paper reports that StoSignSGD fine-tunes 7B LLMs on mathematical reasoning 3-5 points of
accuracy above AdamW and above SignSGD. Here, in miniature: a 0.22M-parameter Llama
(``workloads/tiny_llama.json``, byte-level tokenizer) pretrained by the suite on the standard
library's source and arithmetic drills (``workloads.base_model``, cached), then fine-tuned on the
suite's GSM8K-format word problems (``workloads.math_problems``: 4000 train, 200 validation, 500
test) with transformers' ``Trainer`` (``theory_bench.torch.finetune``), in two modes: every
parameter, and LoRA of rank ``LORA_RANK``. Each optimizer's peak lr is tuned per mode on a grid of
three (``lr_grid``) by the validation accuracy of one tuning seed (not a reported seed); the test
accuracy (greedy decoding, exact match of the number after ``####``) is reported over ``seeds``
with a bootstrap interval, and StoSignSGD's gap to AdamW and to SignSGD with a two-sample interval
beside the paper's 3-5 points.

Measured, not claimed: no theorem predicts fine-tuning accuracy, so the table reports what
happens, including the rows where StoSignSGD loses.
"""
import math

import numpy as np

from theory_bench.analysis.bootstrap import bootstrap_interval, two_sample_interval
from theory_bench.experiments.packages import missing_packages
from theory_bench.experiments.runs import SEED_ROOT, seeds_for

NAME = "finetune"
TITLE = "Fine-tuning in miniature: math word-problem accuracy after AdamW, SignSGD, Lion and StoSignSGD"
REQUIRES = ("torch", "transformers", "accelerate", "peft", "lion-pytorch", "pytorch_optimizer")
INSTALL = "pip install torch==2.13.0 && pip install -e '.[finetune,zoo]'"
MEASURED_ONLY = True            # no claims: the paper's gap is an empirical report, and so is ours

OPTIMIZERS = ("AdamW", "SignSGD", "Lion", "StoSignSGD")
MODES = {"full": None, "lora": 8}
LORA_RANK = 8
CENTER = {"AdamW": 3e-3, "SignSGD": 3e-4, "Lion": 3e-4, "StoSignSGD": 3e-4}     # full fine-tuning; LoRA: 3x
PAPER_GAP = (3.0, 5.0)          # points of accuracy, StoSignSGD over AdamW and over SignSGD (7B, math reasoning)
TUNE_ROOT = SEED_ROOT + 2
BATCH = 16


def horizon(quick):
    """``(pretrain steps, fine-tune steps, seeds, test problems, tune)``."""
    if quick:
        return 300, 100, 2, 100, False
    return 1500, 400, 5, 500, True


def lr_grid(optimizer, mode, tune):
    c = CENTER[optimizer] * (3 if mode == "lora" else 1)
    return (c / 3, c, 3 * c) if tune else (c,)


def check_installed():
    lacking = missing_packages(REQUIRES)
    if lacking:
        raise RuntimeError(f"the finetune experiment needs {', '.join(lacking)}: {INSTALL}")


def spec(base, pretrain_steps, optimizer, mode, lr, steps, split, n_eval):
    """A run's configuration; ``base`` is the pretrained checkpoint's folder, keyed by its cache key (the
    folder's name) and its pretraining steps, so the key is the same on every machine."""
    from pathlib import Path
    return {"model": "tiny_llama", "base": Path(base).name, "pretrain_steps": int(pretrain_steps),
            "optimizer": optimizer, "mode": mode, "lora": MODES[mode], "lr": float(lr), "steps": int(steps),
            "batch": BATCH, "split": split, "n_eval": int(n_eval), "data": "math_problems", "data_seed": 0,
            "schedule": "5% warm-up, cosine to 0"}


def finetune_run(s, seed):
    """One fine-tuning run of ``s`` (a module-level function, for the worker processes)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from theory_bench.engine.seeding import as_seed_sequence
    from theory_bench.torch.finetune import accuracy, finetune
    from theory_bench.workloads.base_model import base_model, cached
    from theory_bench.workloads.math_problems import splits
    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    data = splits(s["data_seed"])
    train, held = data["train"], data[s["split"]]
    run_seed = int(as_seed_sequence(seed).generate_state(1)[0] >> 1)
    base = cached(s["base"]) or base_model(s["pretrain_steps"])   # a worker without the cache pretrains it
    if base.name != s["base"]:
        raise RuntimeError(f"the pretrained base model here is {base.name}, the run asks for {s['base']}: "
                           "another torch version or pretraining text; run the experiment again to pretrain it")
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    model, losses = finetune(model, tok, train, s["optimizer"], s["lr"], s["steps"], s["batch"], s["lora"], run_seed)
    acc, _ = accuracy(model, tok, held[:s["n_eval"]])
    curve = np.full(20, np.nan)                     # the Trainer logs every max(1, steps // 20) steps
    curve[:min(20, len(losses))] = losses[:20]
    t = np.arange(1, 21, dtype=np.float64) * max(1, s["steps"] // 20)
    return {"t": t, "accuracy": float(acc), "train_loss": curve,
            "final_train_loss": float(losses[-1]) if losses else math.nan}


def run(ctx):
    check_installed()
    from theory_bench.workloads.base_model import base_model
    pre, steps, seeds, n_test, tune = horizon(ctx.quick)
    base = str(base_model(pre))                     # pretrained once, here, before any worker needs it
    cells = [(o, m) for m in MODES for o in OPTIMIZERS]
    grid = {c: lr_grid(*c, tune) for c in cells}
    tuning, best = {}, {}
    if tune:
        keys = [(o, m, lr) for (o, m), lrs in grid.items() for lr in lrs]
        results = ctx.runs_many([(spec(base, pre, o, m, lr, steps, "valid", 200), seeds_for(1, TUNE_ROOT))
                                 for o, m, lr in keys], fn=finetune_run)
        tuning = dict(zip(keys, results))
        best = {c: max(lrs, key=lambda lr: (tuning[(*c, lr)]["accuracy"][0], -lr)) for c, lrs in grid.items()}
    else:
        best = {c: lrs[0] for c, lrs in grid.items()}
    results = ctx.runs_many([(spec(base, pre, o, m, best[o, m], steps, "test", n_test), seeds) for o, m in cells],
                            fn=finetune_run)
    return {"runs": dict(zip(cells, results)), "lr": best, "grid": grid, "tuning": tuning, "base": base,
            "n_test": n_test, "steps": steps, "pretrain": pre}


# --- what is measured ---
def points(r):
    return 100 * r["accuracy"]


def mean_points(r):
    v, lo, hi = bootstrap_interval(points(r), np.mean)
    return v, lo, hi


def gap(data, mode, other):
    """StoSignSGD's test accuracy minus ``other``'s, in points, with a two-sample interval."""
    a, b = data["runs"]["StoSignSGD", mode], data["runs"][other, mode]
    return two_sample_interval(points(a), points(b), lambda x, y: x.mean() - y.mean())


def claims(data, ctx):
    return []


# --- what is shown ---
def table(data, ctx):
    head = ["variant", "mode", "tuned lr", "test accuracy (%) [95%]", "StoSignSGD minus this (points) [95%]",
            "the paper's gap (7B)"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for mode in MODES:
        for opt in OPTIMIZERS:
            v, lo, hi = mean_points(data["runs"][opt, mode])
            if opt == "StoSignSGD":
                g, paper = "-", "-"
            else:
                gv, glo, ghi = gap(data, mode, opt)
                g = f"{gv:+.1f} [{glo:+.1f}, {ghi:+.1f}]"
                paper = f"+{PAPER_GAP[0]:g} to +{PAPER_GAP[1]:g}" if opt in ("AdamW", "SignSGD") else "not reported"
            label = "every parameter" if mode == "full" else f"LoRA, rank {MODES[mode]}"
            rows.append(f"| {opt} | {label} | {data['lr'][opt, mode]:g} | {v:.1f} [{lo:.1f}, {hi:.1f}] | {g} | {paper} |")
    n = len(next(iter(data["runs"].values()))["accuracy"])
    rows += ["", f"Test accuracy: greedy decoding, exact match of the number after '####', on {data['n_test']} "
             f"problems, mean over {n} seeds with its bootstrap interval; {data['steps']} fine-tuning steps of "
             f"{BATCH}; the base model pretrained {data['pretrain']} steps. Gaps: two-sample bootstrap intervals."]
    return "\n".join(rows)


COLORS = {"AdamW": "#7f7f7f", "SignSGD": "#d62728", "Lion": "#bcbd22", "StoSignSGD": "#1f77b4"}


def figures(data, ctx, outdir):
    from theory_bench.results.plotting import figure, legend_below, save
    fig, axes = figure(ncols=2, width=5.0, height=3.6)
    ax, lx = axes[0]
    for k, mode in enumerate(MODES):
        for j, opt in enumerate(OPTIMIZERS):
            r = data["runs"][opt, mode]
            v, lo, hi = mean_points(r)
            x = k * (len(OPTIMIZERS) + 1) + j
            ax.bar(x, v, color=COLORS[opt], label=opt if k == 0 else None)
            ax.errorbar(x, v, yerr=[[v - lo], [hi - v]], color="k", capsize=3)
            ax.scatter(np.full(len(r["accuracy"]), x), points(r), color="k", s=6, zorder=3,
                       label="one seed" if (k, j) == (0, 0) else None)
            logged = ~np.all(np.isnan(r["train_loss"]), axis=0)       # a short run logs fewer than 20 losses
            curve = np.nanmean(r["train_loss"][:, logged], axis=0)
            lx.plot(r["t"][0][logged], curve, color=COLORS[opt], ls="-" if mode == "full" else "--",
                    label=f"{opt}, {'every parameter' if mode == 'full' else 'LoRA'}")
    ax.set_xticks([1.5, len(OPTIMIZERS) + 2.5], ["every parameter", f"LoRA, rank {LORA_RANK}"])
    ax.set(ylabel="test accuracy (%), mean and 95% interval", title="math word problems: greedy exact match")
    lx.set(xlabel="fine-tuning step", ylabel="training loss on the answer (nats/byte)", yscale="log",
           title="training loss, mean over seeds")
    legend_below(ax, ncol=3, offset=0.12)
    legend_below(lx, ncol=2, offset=0.22)
    return save(fig, outdir, NAME)
