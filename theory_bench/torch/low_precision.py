"""Optimizer state and master weights in number formats, around any torch optimizer.

``LowPrecisionOptimizer(optimizer, recipe="fp8", seed=0)`` steps ``optimizer`` as usual (in the
parameters' own dtype, from the stored values), then rounds every floating-point state tensor the
size of its parameter (``exp_avg``, ``exp_avg_sq``, ``m``, ``G``, ``momentum_buffer``, ...) to
``recipe.state`` (never a step counter: ``COUNTERS``) and every parameter to ``recipe.weights``: the
dequantise, update, quantise cycle of low-precision optimizer states and of BF16 master weights
(docs/theory.md §6). It is a ``torch.optim.Optimizer`` sharing the base's ``param_groups`` and
``state`` (``theory_bench.torch.wrapping``): schedulers, the Trainer and DCP take it as the base.
With ``rounding="stochastic"`` the uniforms of tensor ``j`` of parameter ``k`` at step ``t`` come
from a ``torch.Generator`` seeded from ``(rounding_key, k, j, t)``; ``rounding_key`` and
``rounding_step`` are entries of each param group, so a resume continues the same rounding.

What it measures (``stats()``), for the diagnosis of a failure:
- ``largest_update``: the largest ``|p_{t+1} - p_t|`` of any parameter entry over the steps since
  the last ``reset_stats()``, in units of the group's learning rate at that step;
- ``flushed[key]``: the fraction of the non-zero entries of state ``key`` that rounding turned
  into zero (summed over steps and parameters);
- ``stalled[key]``: the fraction, at the last step, of entries of state ``key`` stored as zero
  while the first state row (``exp_avg`` for Adam) is not: for ``exp_avg_sq`` the event behind
  AdamW's FP8 failure (``m / (sqrt(v) + eps)`` with ``v = 0``).

"""
import torch

from theory_bench.engine.precision import get_format
from theory_bench.torch.casts import power_of_two_scale, round_stochastic
from theory_bench.torch.noise import default_key, param_key, torch_seed
from theory_bench.torch.recipe import get_recipe
from theory_bench.torch.state_scaling import state_bytes, store
from theory_bench.torch.wrapping import WrappedOptimizer, unhooked_step


# State that counts rather than measures: torch's optimizers keep the step as state "step" (a 0-d
# float tensor, the shape of a 0-d parameter's moments); rounding it would stop it (at 16 in e4m3)
# and corrupt the bias correction for good.
COUNTERS = frozenset({"step"})


def _round(x, fmt, rounding, scaling, generator):
    """``x`` rounded into ``fmt`` (nearest or stochastic; scaled per ``state_scaling.STATE_SCALINGS``), in
    place; a stochastic rounding draws from ``generator`` (seeded by the caller)."""
    if fmt == "fp64" or (fmt == "fp32" and x.dtype == torch.float32):
        return
    if rounding == "nearest":
        x.copy_(store(x, fmt, scaling))
        return
    s = power_of_two_scale(x, get_format(fmt).max) if scaling == "per_tensor" else 1.0
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device="cpu").to(x.device)
    x.copy_(round_stochastic(x * s, fmt, u) / s if s != 1.0 else round_stochastic(x, fmt, u))


class LowPrecisionOptimizer(WrappedOptimizer):
    """``optimizer`` with its state stored in ``recipe.state`` and its parameters in ``recipe.weights``."""

    def __init__(self, optimizer, recipe="fp8", seed=None):
        recipe = get_recipe(recipe)
        self.key = default_key(seed)
        super().__init__(optimizer, "LowPrecisionOptimizer")
        self.recipe, self.generator = recipe, torch.Generator()
        self.track_updates = True
        self.reset_stats()
        for group in self.param_groups:
            self.init_group(group)

    @property
    def optimizer(self):
        """The wrapped optimizer (``self.base``)."""
        return self.base

    def init_group(self, group):
        group.setdefault("rounding_step", 0)
        group.setdefault("rounding_key", self.key)

    def reset_stats(self):
        self._largest, self._counts, self._stalled = 0.0, {}, {}

    def pop_largest_update(self):
        """The largest update since the last call (or ``reset_stats()``), and start afresh."""
        value, self._largest = self._largest, 0.0
        return value

    @torch.compiler.disable      # torch.compile runs the step eagerly (a graph break), as StoSignSGD's
    @torch.no_grad()
    def step(self, closure=None):
        k = 0
        for group in self.param_groups:              # checked before the base moves anything
            for p in group["params"]:
                if p.grad is not None and not p.dtype.is_floating_point:
                    raise ValueError(f"LowPrecisionOptimizer rounds real floating parameters, got parameter {k} of "
                                     f"dtype {p.dtype}; no parameter was changed (keep it out of this optimizer)")
                k += 1
        before = None
        if self.track_updates:
            before = [[p.detach().clone() for p in g["params"]] for g in self.param_groups]
        loss = unhooked_step(self.base, closure)
        r, k = self.recipe, 0
        for group in self.param_groups:
            group["rounding_step"] += 1
            for p in group["params"]:
                if p.grad is not None:
                    self._round_state(p, group, k)
                    self._seed(group, k, 0)
                    _round(p.data, r.weights, r.rounding, "none", self.generator)
                k += 1
        if before is not None:
            for group, olds in zip(self.param_groups, before):
                lr = float(group["lr"])
                for p, old in zip(group["params"], olds):
                    if p.numel() and lr > 0:          # a step at lr = 0 (a warm-up's first) has no update in lr units
                        self._largest = max(self._largest, float((p.detach() - old).abs().max()) / lr)
        return loss

    def _seed(self, group, k, j):
        if self.recipe.rounding == "stochastic":
            self.generator.manual_seed(torch_seed(param_key(group["rounding_key"], j), k, group["rounding_step"]))

    def _stored(self, p):
        """``(j, key, tensor)`` of every state tensor of ``p`` kept in the recipe's format (``j`` counts all of
        ``p``'s state from 1): by role, moments and envelopes the size of ``p``, never a step counter."""
        for j, (key, v) in enumerate(self.state.get(p, {}).items(), start=1):
            if key not in COUNTERS and torch.is_tensor(v) and v.is_floating_point() and v.shape == p.shape:
                yield j, key, v

    def _round_state(self, p, group, k):
        r = self.recipe
        first = None
        for j, key, v in self._stored(p):
            nonzero = v != 0
            self._seed(group, k, j)
            fmt, scaling = r.state_format(key)
            _round(v, fmt, r.rounding, scaling, self.generator)
            c = self._counts.setdefault(key, [0, 0])
            c[0] += int(nonzero.sum())
            c[1] += int((nonzero & (v == 0)).sum())
            if first is None:
                first = v
            else:
                s = self._stalled.setdefault(key, {})
                s[id(p)] = (int(((v == 0) & (first != 0)).sum()), v.numel())

    def state_bytes_per_param(self):
        """The bytes the stored state takes per parameter value: every state tensor the size of its
        parameter in its recipe format and scaling (codes and scales, ``state_scaling.state_bytes``)."""
        total = values = 0
        for group in self.param_groups:
            for p in group["params"]:
                values += p.numel()
                for _, key, v in self._stored(p):
                    fmt, scaling = self.recipe.state_format(key)
                    total += (v.element_size() * v.numel() if fmt == "fp64"       # not rounded: as held
                              else state_bytes(fmt, scaling, v.numel()))
        return total / max(values, 1)

    def stats(self):
        """``{"largest_update": float, "flushed": {key: fraction}, "stalled": {key: fraction}}``."""
        flushed = {k: (c[1] / c[0] if c[0] else 0.0) for k, c in self._counts.items()}
        stalled = {k: sum(a for a, _ in s.values()) / max(1, sum(n for _, n in s.values()))
                   for k, s in self._stalled.items()}
        return {"largest_update": self._largest, "flushed": flushed, "stalled": stalled}

    def __repr__(self):
        return f"LowPrecisionOptimizer({self.base.__class__.__name__}, {self.recipe})"
