"""Optimizer state and master weights in number formats, around any torch optimizer.

``LowPrecisionOptimizer(optimizer, recipe="fp8", seed=0)`` steps ``optimizer`` as usual (in the
parameters' own dtype, from the stored values), then rounds every floating-point state tensor the
size of its parameter (``exp_avg``, ``exp_avg_sq``, ``m``, ``G``, ``momentum_buffer``, ...) to
``recipe.state`` (never a step counter: ``COUNTERS``) and every parameter to ``recipe.weights``: the
dequantise, update, quantise cycle of low-precision optimizer states and of BF16 master weights
(docs/theory.md §6). With
``rounding="stochastic"`` the uniforms come from a ``torch.Generator`` seeded from ``seed`` (its
state travels in ``state_dict``).

What it measures (``stats()``), for the diagnosis of a failure:
- ``largest_update``: the largest ``|p_{t+1} - p_t|`` of any parameter entry over the steps since
  the last ``reset_stats()``, in units of the group's learning rate at that step;
- ``flushed[key]``: the fraction of the non-zero entries of state ``key`` that rounding turned
  into zero (summed over steps and parameters);
- ``stalled[key]``: the fraction, at the last step, of entries of state ``key`` stored as zero
  while the first state row (``exp_avg`` for Adam) is not: for ``exp_avg_sq`` the event behind
  AdamW's FP8 failure (``m / (sqrt(v) + eps)`` with ``v = 0``).

A learning-rate scheduler takes the wrapped ``.optimizer``.
"""
import torch

from theory_bench.torch.casts import cast, power_of_two_scale, round_stochastic
from theory_bench.torch.recipe import get_recipe
from theory_bench.engine.precision import get_format


# State that counts rather than measures: torch's optimizers keep the step as state "step" (a 0-d
# float tensor, the shape of a 0-d parameter's moments); rounding it would stop it (at 16 in e4m3)
# and corrupt the bias correction for good.
COUNTERS = frozenset({"step"})


def _round(x, fmt, rounding, scaling, generator):
    """``x`` rounded into ``fmt`` (nearest or stochastic, per-tensor scaled or not), in place."""
    if fmt == "fp64" or (fmt == "fp32" and x.dtype == torch.float32):
        return
    if rounding == "nearest":
        x.copy_(cast(x, fmt, scaling))
        return
    s = power_of_two_scale(x, get_format(fmt).max) if scaling == "per_tensor" else 1.0
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device="cpu").to(x.device)
    x.copy_(round_stochastic(x * s, fmt, u) / s if s != 1.0 else round_stochastic(x, fmt, u))


class LowPrecisionOptimizer:
    """``optimizer`` with its state stored in ``recipe.state`` and its parameters in ``recipe.weights``."""

    def __init__(self, optimizer, recipe="fp8", seed=0):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"LowPrecisionOptimizer wraps a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer, self.recipe = optimizer, get_recipe(recipe)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.track_updates = True
        self.reset_stats()

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def reset_stats(self):
        self._largest, self._counts, self._stalled = 0.0, {}, {}

    def pop_largest_update(self):
        """The largest update since the last call (or ``reset_stats()``), and start afresh."""
        value, self._largest = self._largest, 0.0
        return value

    @torch.no_grad()
    def step(self, closure=None):
        before = None
        if self.track_updates:
            before = [[p.detach().clone() for p in g["params"]] for g in self.param_groups]
        loss = self.optimizer.step(closure)
        r = self.recipe
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._round_state(p)
                _round(p.data, r.weights, r.rounding, "none", self.generator)
        if before is not None:
            for group, olds in zip(self.param_groups, before):
                lr = float(group["lr"])
                for p, old in zip(group["params"], olds):
                    if p.numel() and lr > 0:          # a step at lr = 0 (a warm-up's first) has no update in lr units
                        self._largest = max(self._largest, float((p.detach() - old).abs().max()) / lr)
        return loss

    def _round_state(self, p):
        r, state = self.recipe, self.optimizer.state.get(p, {})
        first = None
        for key, v in state.items():
            if key in COUNTERS or not (torch.is_tensor(v) and v.is_floating_point() and v.shape == p.shape):
                continue                      # by role: moments and envelopes, never a step counter
            nonzero = v != 0
            _round(v, r.state, r.rounding, r.state_scaling, self.generator)
            c = self._counts.setdefault(key, [0, 0])
            c[0] += int(nonzero.sum())
            c[1] += int((nonzero & (v == 0)).sum())
            if first is None:
                first = v
            else:
                s = self._stalled.setdefault(key, {})
                s[id(p)] = (int(((v == 0) & (first != 0)).sum()), v.numel())

    def stats(self):
        """``{"largest_update": float, "flushed": {key: fraction}, "stalled": {key: fraction}}``."""
        flushed = {k: (c[1] / c[0] if c[0] else 0.0) for k, c in self._counts.items()}
        stalled = {k: sum(a for a, _ in s.values()) / max(1, sum(n for _, n in s.values()))
                   for k, s in self._stalled.items()}
        return {"largest_update": self._largest, "flushed": flushed, "stalled": stalled}

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "recipe": self.recipe.config(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state_dict):
        if set(state_dict) != {"optimizer", "recipe", "generator"}:
            raise ValueError("this state_dict was not saved by LowPrecisionOptimizer (keys: optimizer, recipe, "
                             f"generator); got keys {sorted(state_dict)}")
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self.generator.set_state(state_dict["generator"])

    def __repr__(self):
        return f"LowPrecisionOptimizer({self.optimizer.__class__.__name__}, {self.recipe})"
