"""One training run of the FP8 experiments: a model, an optimizer, a recipe, a seed -> its curves.

``train(spec, seed)`` splits ``seed`` (an int or a ``SeedSequence``) into four streams
(``seed_streams``: weights, batches, sign noise, stochastic rounding), builds the model, converts its matmuls to the recipe
(``theory_bench.torch.fp8.convert_to_fp8``; the MoE routers stay fp32), wraps the optimizer in
``LowPrecisionOptimizer`` (state and master weights in the recipe's formats) and trains ``T``
steps with a linear warm-up over the first 5% and a cosine decay to 10% of ``lr``. Batches are
drawn by a numpy generator of their own stream; the validation loss (the model's own forward, in
the recipe's formats) is taken at ``evals`` evenly spaced steps, ``t = 0`` included.

A run whose training loss turns non-finite stops there: its later validation losses are ``inf``
and ``diverged_at`` records the step (0 when it never did). Reproducible: one thread, torch's
deterministic algorithms, every random draw seeded; the same seed gives the same curve on the same
machine (``tests/test_fp8.py``).
"""
import math
import time

import numpy as np
import torch

from theory_bench.workloads.data import digits, stdlib_corpus, text_batch, text_windows
from theory_bench.workloads.models import ROUTER, TransformerSize, build
from theory_bench.engine.seeding import as_seed_sequence
from theory_bench.torch.named import OPTIMIZERS
from theory_bench.torch.fp8 import LowPrecisionOptimizer, convert_to_fp8

BATCH = {"cnn": 64, "transformer": 16}
VALID_WINDOWS = 64
WARMUP, FLOOR = 0.05, 0.1


def setup(model):
    """What a run of ``model`` is trained with besides its optimizer and recipe (part of the store key)."""
    return {"batch": BATCH[model], "warmup": WARMUP, "floor": FLOOR, "valid_windows": VALID_WINDOWS}


def run_spec(model, optimizer, recipe, lr, T, evals, size=None):
    """A run's configuration for ``train`` (hashed into the store's key): the recipe's settings and the
    training set-up are part of it, so a change to either is a new key, never a stale result; ``size``
    (a ``TransformerSize`` or its dict) is left out when None, as the fp8 experiment's keys have it."""
    from dataclasses import asdict

    from theory_bench.torch.recipe import get_recipe
    s = {"model": model, "optimizer": optimizer, "recipe": recipe, "recipe_config": get_recipe(recipe).config(),
         "lr": float(lr), "T": int(T), "evals": int(evals), "setup": setup(model)}
    if size is not None:
        s["size"] = dict(size) if isinstance(size, dict) else asdict(size)
    return s


def schedule(T):
    """The multiplier of ``lr`` at step ``t`` (0-based, as ``LambdaLR`` counts)."""
    warm = max(1, int(WARMUP * T))

    def factor(t):
        if t < warm:
            return (t + 1) / warm
        frac = (t - warm) / max(1, T - warm)
        return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return factor


class Data:
    """Training batches and the fixed validation set of ``model`` (the transformer's windows: ``context`` bytes)."""

    def __init__(self, model, seed, context=None, device="cpu"):
        self.model, self.rng, self.device = model, np.random.default_rng(int(seed)), torch.device(device)
        self.context = context or TransformerSize().context
        if model == "cnn":
            xt, yt, xv, yv = digits()
            self.train, self.valid = (xt, yt), (torch.from_numpy(xv).to(self.device), torch.from_numpy(yv).to(self.device))
        else:
            tr, va, _ = stdlib_corpus()
            self.train = tr
            self.valid = tuple(torch.from_numpy(a).to(self.device) for a in text_windows(va, VALID_WINDOWS, self.context))

    def batch(self):
        if self.model == "cnn":
            x, y = self.train
            i = self.rng.integers(0, len(y), size=BATCH["cnn"])
            x, y = x[i], y[i]
        else:
            x, y = text_batch(self.train, self.rng, BATCH["transformer"], self.context)
        return torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)


def validation_loss(model, data):
    model.eval()
    with torch.no_grad():
        x, y = data.valid
        value = float(model.loss(x, y, balance=False)) if data.model == "transformer" else float(model.loss(x, y))
    model.train()
    return value if math.isfinite(value) else math.inf


def eval_steps(T, evals):
    return np.unique(np.linspace(0, T, evals + 1).astype(int))


def seed_streams(seed):
    """Four independent integer seeds (weights, batches, the optimizer's noise, stochastic rounding)
    from a run's seed: an int >= 0 or a ``numpy.random.SeedSequence`` (theory_bench's seeding)."""
    state = as_seed_sequence(seed).generate_state(4, np.uint64) >> np.uint64(2)
    return tuple(int(v) for v in state)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(s, seed, device="cpu"):
    """``s``: ``{"model", "optimizer", "recipe", "lr", "T", "evals"}``, and for the transformer
    optionally ``"size"`` (a ``TransformerSize`` as a dict; default the fp8 experiment's). Returns the curves at the
    evaluation steps ``t``: ``val_loss``, ``train_loss`` (mean since the previous evaluation),
    ``largest_update`` (the largest stored step since the previous evaluation, in units of the
    step's ``lr``), and scalars ``diverged_at``, ``flushed_<state>``, ``stalled_<state>``, ``state_bytes``
    (the stored optimizer state per parameter value), ``wall_s``; and ``train_s``, the seconds spent in
    training steps (evaluations left out) up to each evaluation, for the wall-clock time to a target.

    ``device`` (not part of ``s``: the same run, elsewhere): on the CPU one thread and torch's
    deterministic algorithms; on a CUDA device the model, batches and state live there, and an
    ``FP8Linear`` uses the FP8 tensor cores where ``fp8_matmul.eligible`` says so."""
    device = torch.device(device)
    if device.type == "cpu":
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
    t0 = time.perf_counter()
    weights_seed, data_seed, noise_seed, rounding_seed = seed_streams(seed)
    size = s.get("size")
    model = build(s["model"], weights_seed, size).to(device)
    convert_to_fp8(model, s["recipe"], skip=(ROUTER,))
    inner = OPTIMIZERS[s["optimizer"]](model.parameters(), s["lr"], noise_seed)
    opt = LowPrecisionOptimizer(inner, s["recipe"], seed=rounding_seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(s["T"]))
    data = Data(s["model"], data_seed, model.size.context if size else None, device)
    at = eval_steps(s["T"], s["evals"])
    out = {k: np.full(len(at), np.nan) for k in ("val_loss", "train_loss", "largest_update", "train_s")}
    out["val_loss"][0], out["largest_update"][0], out["train_s"][0] = validation_loss(model, data), 0.0, 0.0
    diverged, k, window, spent = 0, 1, [], 0.0
    _sync(device)
    clock = time.perf_counter()
    for t in range(1, s["T"] + 1):
        x, y = data.batch()
        loss = model.loss(x, y)
        if not torch.isfinite(loss):
            diverged = t
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        window.append(loss.item())
        if t == 1:
            out["train_loss"][0] = window[0]          # the first batch's loss, before any step
        if t == at[k]:
            _sync(device)
            spent += time.perf_counter() - clock
            out["train_s"][k] = spent
            out["val_loss"][k] = validation_loss(model, data)
            out["train_loss"][k] = float(np.mean(window))
            out["largest_update"][k] = opt.pop_largest_update()
            window, k = [], k + 1
            clock = time.perf_counter()
    if diverged:                                      # the rest of the curve: diverged, said as inf
        out["val_loss"][k:] = out["train_loss"][k:] = np.inf
        out["largest_update"][k:] = opt.pop_largest_update()
        out["train_s"][k:] = np.inf
        if np.isnan(out["train_loss"][0]):
            out["train_loss"][0] = np.inf
    out["t"] = at.astype(np.float64)
    stats = opt.stats()
    out.update({f"flushed_{key}": v for key, v in stats["flushed"].items()})
    out.update({f"stalled_{key}": v for key, v in stats["stalled"].items()})
    out["state_bytes"] = opt.state_bytes_per_param()
    out["diverged_at"] = float(diverged)
    out["wall_s"] = time.perf_counter() - t0
    return out
