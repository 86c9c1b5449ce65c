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
from theory_bench.torch.state_checks import check_saved_state, check_state, learning_rate
from theory_bench.torch.noise import check_noise, noise_key, param_key, uniforms_for

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


class StoSignSGD(torch.optim.Optimizer):
    """``StoSignSGD(params, lr=1e-3, beta1=0.9, weight_decay=0.0, seed=0, noise="uniform", state_dtype=None)``.

    ``beta1=0, weight_decay=0`` is the theory form (state ``G``), anything else the practical form
    (state ``m``, ``G``). State is kept in the parameter's dtype unless ``state_dtype`` says
    otherwise. ``noise="counter"`` draws the engine's counter-based uniforms on every device
    (bit-identical to ``theory_bench.minimize`` in float64); the default draws them too on the CPU,
    inside the fused kernel, and uses a ``torch.Generator`` per device elsewhere. ``state_dict()`` carries the step count and the generators'
    states, so a run resumed from it continues the same noise stream. Before a step every gradient
    is checked real, floating and finite (``theory_bench.torch.gradient_checks``: no parameter moves
    otherwise), and ``lr`` representable in each parameter's dtype; after it, with
    ``check_finite=True`` (the default; one more read of each parameter), every parameter finite.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, weight_decay=0.0, seed=0, noise="uniform", state_dtype=None,
                 check_finite=True):
        defaults = dict(lr=learning_rate(lr), beta1=unit_interval("beta1", beta1),
                        weight_decay=nonnegative("weight_decay", weight_decay))
        super().__init__(params, defaults)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.seed, self.noise, self.state_dtype = seed, check_noise(noise), state_dtype
        self.check_finite = bool(check_finite)
        self.uniforms = uniforms_for(self.noise, seed)
        self.key = np.uint64(noise_key(seed))
        self.t = 0

    @torch.compiler.disable      # numba through numpy, and its checks: torch.compile runs the step eagerly (a graph break)
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        check_gradients(self.param_groups, self.t + 1, "StoSignSGD")
        k, rates = 0, []
        for group in self.param_groups:                # everything checked before anything moves
            rates.append(learning_rate(group["lr"], k))
            for p in group["params"]:
                if p.grad is not None:
                    if p.grad.is_sparse:
                        raise ValueError(f"StoSignSGD does not take sparse gradients (parameter {k}); use dense "
                                         "parameters (nn.Embedding(sparse=False)); no parameter was changed")
                    check_step_size(p, rates[-1], k, "StoSignSGD")
                    check_state(self.state.get(p, {}), p, self.state_dtype or p.dtype, k, "StoSignSGD")
                k += 1
        self.t += 1
        k = 0
        for group, lr in zip(self.param_groups, rates):
            b1, wd = group["beta1"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, lr, b1, wd, k)
                    if getattr(self, "check_finite", True):
                        check_parameter(p, k, self.t, "StoSignSGD")
                k += 1
        return loss

    def _fused(self, p, dtype):
        return (p.device.type == "cpu" and p.dtype in FUSED_DTYPES and dtype == p.dtype and p.grad.dtype == p.dtype
                and p.is_contiguous() and p.grad.is_contiguous())

    def _update(self, p, lr, b1, wd, k):
        g = p.grad
        state = self.state[p]
        dtype = self.state_dtype or p.dtype
        if not state:
            state["G"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
            if b1 > 0 or wd > 0:
                state["m"] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
        if self._fused(p, dtype):                     # one pass of the engine's kernel over the tensors' memory
            fused_step(p, g, state, b1, wd, lr, self.t, param_key(self.key, k))
            return
        if b1 > 0 or wd > 0:
            m = state["m"]
            m.mul_(b1)
            m.add_(g.to(dtype) * (1.0 - b1))          # two roundings, as the numba kernel: no fma
            a = m
        else:
            a = g.to(dtype)
        G = state["G"]
        torch.maximum(G, a.abs(), out=G)
        s = sto_sign(a, G, self.uniforms.draw(self.t, k, a)).to(p.dtype)
        if wd > 0:
            s = s + wd * p
        p.sub_(lr * s)

    def reseed(self, seed):
        """Start the noise streams afresh from ``seed`` (the testing API does, once per run)."""
        self.seed, self.uniforms = int(seed), uniforms_for(self.noise, int(seed))
        self.key = np.uint64(noise_key(self.seed))

    def __getstate__(self):      # torch's Optimizer pickles only its own fields; a copy keeps the stream too
        return {**super().__getstate__(), "seed": self.seed, "noise": self.noise, "state_dtype": self.state_dtype,
                "uniforms": self.uniforms, "key": self.key, "t": self.t, "check_finite": self.check_finite}

    def state_dict(self):
        out = super().state_dict()
        out["stosign"] = {"t": self.t, "seed": self.seed, "noise": self.noise,
                          "generators": self.uniforms.state() if self.noise == "uniform" else {}}
        return out

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        extra = state_dict.pop("stosign", None)
        if extra is None:
            raise ValueError("this state_dict has no 'stosign' entry: it was not saved by theory_bench.torch.StoSignSGD")
        saved = check_saved_state(state_dict, self.param_groups, "StoSignSGD")
        super().load_state_dict(state_dict)
        if self.state_dtype is not None:              # torch casts state to the parameter's dtype: undo it, exactly
            for p, tensors in saved.items():
                for name, value in tensors.items():
                    self.state[p][name] = value.to(device=p.device, dtype=self.state_dtype, copy=True)
        self.t, self.seed, self.noise = extra["t"], extra["seed"], extra["noise"]
        self.uniforms, self.key = uniforms_for(self.noise, self.seed), np.uint64(noise_key(self.seed))
        if self.noise == "uniform":
            self.uniforms.load(extra["generators"])
