"""Wall-clock time to a target validation loss, on any device: what ``theory-bench fp8-time`` prints.

The fp8 experiments count steps, the paper's unit, on a CPU whose FP8 is emulated (slower than
bf16, so seconds there say nothing about FP8 hardware). On a GPU with FP8 tensor cores (CUDA,
compute capability 8.9 or more: H100, H200) ``FP8Linear`` runs its matmuls on them
(``theory_bench.torch.fp8_matmul``), so seconds are what a user pays. ``time_to_target`` trains
each method once on the transformer of a chosen ``TransformerSize`` (``training.train``: warm-up,
cosine, the same batches for every method), then reads off each run the step and the training
seconds (evaluations left out; a CUDA device synchronised at each evaluation) at which its
validation loss first reaches the target, interpolated linearly between evaluations.

The target is ``slack`` times the worse final validation loss of the methods that train, unless
given: every method that trains reaches it, as in the fp8 experiments' speed tables.
"""
import math
from dataclasses import asdict

import numpy as np
import torch

from theory_bench.analysis.bootstrap import steps_to_target
from theory_bench.torch.device_check import check_device
from theory_bench.torch.fp8_matmul import MIN_CAPABILITY
from theory_bench.workloads.models import TransformerSize
from theory_bench.workloads.training import OPTIMIZERS, run_spec, train
from theory_bench.workloads.tuned import LR

METHODS = (("StoSignSGD", "fp8"), ("AdamW", "bf16"))
SLACK = 1.05


def parse_method(text):
    """``"StoSignSGD:fp8"`` -> ``("StoSignSGD", "fp8")``, both names checked."""
    from theory_bench.torch.recipe import get_recipe
    opt, sep, recipe = text.partition(":")
    if not sep or opt not in OPTIMIZERS:
        raise ValueError(f"a method is OPTIMIZER:RECIPE with OPTIMIZER one of {', '.join(OPTIMIZERS)}, got {text!r} "
                         "(e.g. StoSignSGD:fp8 or AdamW:bf16)")
    get_recipe(recipe)
    return opt, recipe


def fp8_tensor_cores(device):
    """Whether ``device`` has the FP8 tensor cores ``FP8Linear`` uses (CUDA, capability >= 8.9)."""
    return device.type == "cuda" and tuple(torch.cuda.get_device_capability(device)) >= MIN_CAPABILITY


def time_to_target(size=None, methods=METHODS, steps=1000, evals=20, lrs=None, seed=0, device="cpu", target=None,
                   slack=SLACK):
    """``{"target", "device", "fp8_tensor_cores", "size", "methods": [{method, lr, final, steps, seconds,
    s_per_step}]}``; ``steps``/``seconds`` to the target are ``inf`` for a method that never reaches it."""
    dev = check_device(device)
    size = size or TransformerSize()
    lrs = dict(lrs or {})
    runs = []
    for opt, recipe in methods:
        lr = lrs.get(opt, LR["transformer"][opt])
        r = train(run_spec("transformer", opt, recipe, lr, steps, evals, size), seed, dev)
        runs.append(((opt, recipe), lr, r))
    finals = [r["val_loss"][-1] for _, _, r in runs]
    trains = [f for f, (_, _, r) in zip(finals, runs) if math.isfinite(f) and f < 0.75 * r["val_loss"][0]]
    if target is None:
        if not trains:
            raise RuntimeError("no method trained (every final validation loss is above 0.75 of the initial one): "
                               "give --target, or more --steps")
        target = slack * max(trains)
    rows = []
    for (opt, recipe), lr, r in runs:
        k = steps_to_target(r["t"], r["val_loss"][None], target, scale="linear")
        sec = float(np.interp(k, r["t"], r["train_s"])) if math.isfinite(k) else math.inf
        rows.append({"method": f"{opt}:{recipe}", "lr": lr, "final": float(r["val_loss"][-1]), "steps": float(k),
                     "seconds": sec, "s_per_step": float(r["train_s"][-1] / steps) if math.isfinite(r["train_s"][-1])
                     else math.inf})
    return {"target": float(target), "device": str(dev), "fp8_tensor_cores": fp8_tensor_cores(dev),
            "size": asdict(size), "parameters": size.parameters(), "steps": int(steps), "seed": int(seed),
            "methods": rows}


def report_lines(result):
    """The table ``theory-bench fp8-time`` prints: each method's steps and seconds to the target, and
    each method's time over the first method's (> 1: the first is faster)."""
    head = (f"target validation loss {result['target']:.4g} nats/byte; device {result['device']} "
            f"(FP8 tensor cores: {'yes' if result['fp8_tensor_cores'] else 'no, emulated FP8'}); "
            f"{result['parameters']:,} parameters, {result['steps']} steps")
    lines = [head, f"{'method':24s} {'lr':>8s} {'final':>8s} {'steps':>8s} {'seconds':>9s} {'s/step':>8s} "
                   f"{'time / first':>13s}"]
    first = result["methods"][0]["seconds"]
    for m in result["methods"]:
        ratio = m["seconds"] / first if math.isfinite(first) and first > 0 else math.nan
        fmt = lambda v, f: "never" if math.isinf(v) else format(v, f)
        lines.append(f"{m['method']:24s} {m['lr']:8.3g} {m['final']:8.4g} {fmt(m['steps'], '8.0f'):>8s} "
                     f"{fmt(m['seconds'], '9.2f'):>9s} {fmt(m['s_per_step'], '8.4f'):>8s} {fmt(ratio, '13.2f'):>13s}")
    return lines
