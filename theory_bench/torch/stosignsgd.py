"""StoSignSGD as a ``torch.optim.Optimizer`` (docs/theory.md §2, §2.1).

Theory form (``beta1=0, weight_decay=0``): ``G <- max(G, |g|)``; ``p <- p - lr sign(g + G n)``.
Practical form: ``m <- b1 m + (1-b1) g``; ``G <- max(G, |m|)``; ``p <- p - lr (sign(m + G n) + wd p)``.
``n = 2u - 1``, ``u ~ U[0, 1)`` from ``theory_bench.torch.noise``. On the CPU, for contiguous
float32 and float64 parameters with state in their dtype, a step is one fused pass of the numba
engine's own kernel (``stosign_theory_core``, ``stosign_practical_core``) over the tensors' memory;
elsewhere (another device, bf16, a separate state dtype) it is the same arithmetic in torch
operations, operation for operation (no fused multiply-adds). A float64 run with a constant
learning rate is bit-identical to ``theory_bench.minimize`` (one parameter, same seed).
"""
import numpy as np
import torch

from theory_bench.engine.optimizer import nonnegative, unit_interval
from theory_bench.optimizers.stosignsgd import stosign_practical_core, stosign_theory_core
from theory_bench.torch.gradient_checks import check_gradients, check_parameter, check_step_size
from theory_bench.torch.state_checks import check_saved_state, check_state, group_beta1, learning_rate
from theory_bench.torch.noise import check_noise, default_key, param_key, uniforms_for

FUSED_DTYPES = (torch.float32, torch.float64)


def sto_sign(a, B, u):
    """``sign(a + B (2u - 1))``, computed in at least float32 so a bf16 ``u`` keeps its resolution."""
    work = torch.promote_types(a.dtype, torch.float32)
    a, B, u = a.to(work), B.to(work), u.to(work)
    return torch.sign(a + B * (2.0 * u - 1.0))


def fused_step(p, g, state, b1, wd, lr, t, key):
    """One pass of the engine's kernel over the CPU tensors' memory (contiguous float32/float64)."""
    x, g, G = p.detach().view(-1).numpy(), g.view(-1).numpy(), state["G"].view(-1).numpy()
    if b1 > 0 or wd > 0:
        stosign_practical_core(x, g, state["m"].view(-1).numpy(), G, b1, wd, lr, t, key)
    else:
        stosign_theory_core(x, g, G, lr, t, key)
    for written in (p, *state.values()):      # written through numpy: tell autograd, as in-place ops do
        torch.autograd.graph.increment_version(written)


STEP_DTYPE = torch.float64     # state[p]["step"]: exact to 2^53 steps (torch's float32 count stops at 2^24)


class StoSignSGD(torch.optim.Optimizer):
    """``StoSignSGD(params, lr=1e-3, beta1=0.9, weight_decay=0.0, seed=None, noise="uniform", state_dtype=None)``.

    ``beta1=0, weight_decay=0`` is the theory form (state ``G``), anything else the practical form
    (state ``m``, ``G``). A param group keeps ``beta1`` as ``betas = (beta1,)``, where torch's
    momentum schedulers (``OneCycleLR``, ``CyclicLR``) look for it; ``add_param_group`` takes either.
    State is kept in the parameter's dtype unless ``state_dtype`` says otherwise.

    Noise: ``seed=None`` draws the optimizer's noise key from torch's default generator (so
    ``torch.manual_seed`` decides); ``seed=s`` is an explicit stream, the one ``theory_bench.minimize``
    uses for ``s``. ``noise="counter"`` draws the engine's counter-based uniforms on every device
    (bit-identical to ``theory_bench.minimize`` in float64); the default draws them too on the CPU,
    inside the fused kernel, and ``torch.rand`` elsewhere (``theory_bench.torch.noise``). What a
    resume needs is where torch keeps it: the step count in ``state[p]["step"]``, the key in each
    param group's ``noise_key``; so ``state_dict()`` is torch's format and DCP's
    ``get/set_optimizer_state_dict`` restore a run exactly.

    Before a step every gradient is checked real, dense, floating and finite, ``lr`` representable in
    each parameter's dtype and every state tensor of its parameter's shape, dtype and device
    (``gradient_checks``, ``state_checks``: no parameter moves otherwise); after it, with
    ``check_finite=True`` (the default; one more read of each parameter), every parameter finite.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, weight_decay=0.0, seed=None, noise="uniform", state_dtype=None,
                 check_finite=True):
        self.seed = seed
        defaults = dict(lr=learning_rate(lr), betas=(unit_interval("beta1", beta1),),
                        weight_decay=nonnegative("weight_decay", weight_decay), noise_key=default_key(seed))
        super().__init__(params, defaults)
        self.noise, self.state_dtype = check_noise(noise), state_dtype
        self.check_finite = bool(check_finite)
        self.uniforms = uniforms_for(self.noise)

    def add_param_group(self, param_group):
        if "beta1" in param_group:                     # the constructor's name, as torch's momentum schedulers want it
            param_group = dict(param_group)
            param_group["betas"] = (unit_interval("beta1", param_group.pop("beta1")),)
        super().add_param_group(param_group)

    @property
    def t(self):
        """The number of steps taken (the largest ``state[p]["step"]``)."""
        return max((int(s["step"]) for s in self.state.values() if "step" in s), default=0)

    @torch.compiler.disable      # numba through numpy, and its checks: torch.compile runs the step eagerly (a graph break)
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        t = self.t + 1
        check_gradients(self.param_groups, t, "StoSignSGD")
        k, settings = 0, []
        for group in self.param_groups:                # everything checked before anything moves
            lr = learning_rate(group["lr"], k)
            settings.append((lr, group_beta1(group, k), nonnegative("weight_decay", group["weight_decay"]),
                             np.uint64(group["noise_key"])))
            for p in group["params"]:
                if p.grad is not None:
                    if p.grad.is_sparse:
                        raise ValueError(f"StoSignSGD does not take sparse gradients (parameter {k}); use dense "
                                         "parameters (nn.Embedding(sparse=False)); no parameter was changed")
                    check_step_size(p, lr, k, "StoSignSGD")
                    check_state(self.state.get(p, {}), p, self.state_dtype or p.dtype, k, "StoSignSGD")
                k += 1
        k = 0
        for group, (lr, b1, wd, key) in zip(self.param_groups, settings):
            for p in group["params"]:
                if p.grad is not None:
                    step = self._update(p, lr, b1, wd, key, k)
                    if self.check_finite:
                        check_parameter(p, k, step, "StoSignSGD")
                k += 1
        return loss

    def _fused(self, p, dtype):
        return (p.device.type == "cpu" and p.dtype in FUSED_DTYPES and dtype == p.dtype and p.grad.dtype == p.dtype
                and p.is_contiguous() and p.grad.is_contiguous())

    def _update(self, p, lr, b1, wd, key, k):
        g = p.grad
        state = self.state[p]
        dtype = self.state_dtype or p.dtype
        if not state:
            state["step"] = torch.zeros((), dtype=STEP_DTYPE)
            state["G"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
        if (b1 > 0 or wd > 0) and "m" not in state:
            state["m"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
        state["step"] += 1
        t = int(state["step"])
        if self._fused(p, dtype):                     # one pass of the engine's kernel over the tensors' memory
            fused_step(p, g, state, b1, wd, lr, t, param_key(key, k))
            return t
        if b1 > 0 or wd > 0:
            m = state["m"]
            m.mul_(b1)
            m.add_(g.to(dtype) * (1.0 - b1))          # two roundings, as the numba kernel: no fma
            a = m
        else:
            a = g.to(dtype)
        G = state["G"]
        torch.maximum(G, a.abs(), out=G)
        s = sto_sign(a, G, self.uniforms.draw(key, t, k, a)).to(p.dtype)
        if wd > 0:
            s = s + wd * p
        p.sub_(lr * s)
        return t

    def reseed(self, seed):
        """Start the noise streams afresh from ``seed`` (the testing API does, once per run)."""
        self.seed = int(seed)
        for group in self.param_groups:
            group["noise_key"] = default_key(self.seed)

    def __getstate__(self):      # torch's Optimizer pickles only its own fields
        return {**super().__getstate__(), "seed": self.seed, "noise": self.noise, "state_dtype": self.state_dtype,
                "uniforms": self.uniforms, "check_finite": self.check_finite}

    def load_state_dict(self, state_dict):
        if "stosign" in state_dict:
            raise ValueError("this state_dict was saved by theory-bench before 0.9 (a top-level 'stosign' entry, which "
                             "DCP drops); the step count now lives in state[p]['step'] and the noise key in param_groups: "
                             "resume it with the version that saved it")
        for group in state_dict.get("param_groups", []):
            missing = sorted({"lr", "betas", "weight_decay", "noise_key"} - set(group))
            if missing:
                raise ValueError(f"this state_dict's param groups have no {missing}: it was not saved by "
                                 "theory_bench.torch.StoSignSGD")
        saved = check_saved_state(state_dict, self.param_groups, "StoSignSGD")
        super().load_state_dict(state_dict)
        for p, tensors in saved.items():              # torch casts state to the parameter's dtype: undo it, exactly
            for name, value in tensors.items():
                if name != "step":
                    self.state[p][name] = value.to(device=p.device, dtype=self.state_dtype or p.dtype, copy=True)
