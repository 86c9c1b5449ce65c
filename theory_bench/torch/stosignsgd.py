"""StoSignSGD as a ``torch.optim.Optimizer`` (docs/theory.md §2, §2.1).

Theory form (``beta1=0, weight_decay=0``): ``G <- max(G, |g|)``; ``p <- p - lr sign(g + G n)``.
Practical form: ``m <- b1 m + (1-b1) g``; ``G <- max(G, |m|)``; ``p <- p - lr (sign(m + G n) + wd p)``.
``n = 2u - 1``, ``u ~ U[0, 1)`` from ``theory_bench.torch.noise``. On the CPU, for contiguous
float32 and float64 parameters with state in their dtype, a step is one fused pass of a numba
kernel over the tensors' memory: in float64 the engine's own (``stosign_theory_core``,
``stosign_practical_core``), in float32 their single-precision twins (``stosign_single``); tensors
of at most ``MULTI_MAX`` elements go together, in one call (``multi_tensor``). Elsewhere (another
device, bf16, a separate state dtype, non-contiguous) it is the same arithmetic in torch
operations, operation for operation (no fused multiply-adds): with ``noise="counter"`` bit for bit
the fused step in both dtypes. A float64 run with a constant learning rate is bit-identical to
``theory_bench.minimize`` (one parameter, same seed).
"""
import numpy as np
import torch

from theory_bench.engine.optimizer import nonnegative, unit_interval
from theory_bench.optimizers.stosign_single import stosign_practical_core32, stosign_theory_core32
from theory_bench.optimizers.stosignsgd import stosign_practical_core, stosign_theory_core
from theory_bench.torch.gradient_checks import (check_gradient, check_gradient_type, check_parameter, check_step_size,
                                                first_bad)
from theory_bench.torch.state_checks import check_saved_state, check_state, group_beta1, learning_rate
from theory_bench.torch.multi_tensor import MULTI_MAX, FlatState, flatten, multi_step
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
    single = p.dtype == torch.float32                 # float32 arithmetic, as torch's ops: the two paths agree
    if b1 > 0 or wd > 0:
        (stosign_practical_core32 if single else stosign_practical_core)(
            x, g, state["m"].view(-1).numpy(), G, b1, wd, lr, t, key)
    else:
        (stosign_theory_core32 if single else stosign_theory_core)(x, g, G, lr, t, key)
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
                 check_finite=True, foreach=None):
        self.seed = seed
        defaults = dict(lr=learning_rate(lr), betas=(unit_interval("beta1", beta1),),
                        weight_decay=nonnegative("weight_decay", weight_decay), noise_key=default_key(seed))
        super().__init__(params, defaults)
        self.noise, self.state_dtype = check_noise(noise), state_dtype
        self.check_finite = bool(check_finite)
        if foreach not in (None, True, False):
            raise ValueError(f"foreach must be None (the multi-tensor path for tensors of at most {MULTI_MAX} elements), "
                             f"True (for every tensor the fused kernel takes) or False (one by one), got {foreach!r}")
        self.foreach = foreach
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
        plan = self._plan()                            # everything checked before anything moves
        for (lr, b1, wd, key), singles, batches in plan:
            for k, p in singles:
                step = self._update(p, lr, b1, wd, key, k)
                if self.check_finite:
                    check_parameter(p, k, step, "StoSignSGD")
            for flat, params, g in batches:
                bad = multi_step(flat, params, g, key, b1, wd, lr)
                if self.check_finite and bad >= 0:
                    p = params[bad]
                    check_parameter(p, int(flat.ks[bad]), int(self.state[p]["step"]), "StoSignSGD")
        return loss

    def _plan(self):
        """Check every group, gradient and state; split each group's tensors into those stepped one by
        one and the batches of the multi-tensor path (their flat state built, their gradients gathered)."""
        plan, k = [], 0
        for group in self.param_groups:
            lr = learning_rate(group["lr"], k)
            settings = (lr, group_beta1(group, k), nonnegative("weight_decay", group["weight_decay"]),
                        int(group["noise_key"]))
            singles, small = [], {}
            for p in group["params"]:
                if p.grad is not None:
                    check_gradient_type(p, k, "StoSignSGD")
                    if p.grad.is_sparse:
                        raise ValueError(f"StoSignSGD does not take sparse gradients (parameter {k}); use dense "
                                         "parameters (nn.Embedding(sparse=False)); no parameter was changed")
                    if self._batched(p):
                        small.setdefault(p.dtype, []).append((k, p))
                    else:
                        check_gradient(p, k, lambda: self.t + 1, "StoSignSGD")
                        check_step_size(p, lr, k, "StoSignSGD")
                        check_state(self.state.get(p, {}), p, self.state_dtype or p.dtype, k, "StoSignSGD")
                        singles.append((k, p))
                k += 1
            batches = [self._batch(group, dtype, members, settings) for dtype, members in small.items()]
            plan.append((settings, singles, batches))
        return plan

    def _batch(self, group, dtype, members, settings):
        """The flat state and gathered gradient of the small ``members`` of ``group`` in ``dtype``."""
        lr, b1, wd, _ = settings
        ks, params = [k for k, _ in members], [p for _, p in members]
        check_step_size(params[0], lr, ks[0], "StoSignSGD")
        g = flatten([p.grad for p in params])
        i = first_bad(g)
        if i >= 0:                                     # the tensor it is in, named as one by one would
            j = int(np.searchsorted(np.cumsum([p.numel() for p in params]), i, side="right"))
            check_gradient(params[j], ks[j], lambda: self.t + 1, "StoSignSGD")
        names = ("step", "G", "m") if b1 > 0 or wd > 0 else ("step", "G")
        states = [self.state[p] for p in params]
        flats = self.__dict__.setdefault("_flats", {})
        flat = flats.get((id(group), dtype))
        if flat is None or not all(n in s for s in states for n in names) or not flat.holds(params, states, names):
            for k, p, s in zip(ks, params, states):
                check_state(s, p, dtype, k, "StoSignSGD")
                self._init_state(p, b1, wd)
            flat = flats[(id(group), dtype)] = FlatState(params, states, names, ks)
        return flat, params, g

    def _fused(self, p, dtype):
        return (p.device.type == "cpu" and p.dtype in FUSED_DTYPES and dtype == p.dtype and p.grad.dtype == p.dtype
                and p.is_contiguous() and p.grad.is_contiguous())

    def _batched(self, p):
        """Through the multi-tensor path: ``foreach=None`` (the default) for fused tensors of at most
        ``MULTI_MAX`` elements, ``True`` for every fused tensor, ``False`` never."""
        foreach = getattr(self, "foreach", None)
        if foreach is False or not self._fused(p, self.state_dtype or p.dtype):
            return False
        return foreach or p.numel() <= MULTI_MAX

    def _init_state(self, p, b1, wd):
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=STEP_DTYPE)
            state["G"] = torch.zeros_like(p, dtype=self.state_dtype or p.dtype, memory_format=torch.preserve_format)
        if (b1 > 0 or wd > 0) and "m" not in state:
            state["m"] = torch.zeros_like(p, dtype=self.state_dtype or p.dtype, memory_format=torch.preserve_format)
        return state

    def _update(self, p, lr, b1, wd, key, k):
        g = p.grad
        state = self._init_state(p, b1, wd)
        dtype = self.state_dtype or p.dtype
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

    @staticmethod
    def sign_operator(g, G, rng):
        """The sign ``s`` this optimizer's step takes for the gradient ``g`` at the envelope ``G`` (numpy
        vectors, ``|g| <= G``), drawn by its own step: a fresh ``StoSignSGD(lr=1, beta1=0)`` seeded from
        ``rng`` takes the gradient ``G`` (its running max becomes ``G``), then ``g``; ``s`` is the second
        move. Its mean must be ``g / G`` (``testing.assert_unbiased``, ``theory-bench audit``)."""
        p = torch.zeros(len(g), dtype=torch.float64)
        opt = StoSignSGD([p], lr=1.0, beta1=0.0, seed=int(rng.integers(2 ** 62)))
        p.grad = torch.tensor(G, dtype=torch.float64)
        opt.step()
        before = p.clone()
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        return (before - p).numpy()

    def reseed(self, seed):
        """Start the noise streams afresh from ``seed`` (the testing API does, once per run)."""
        self.seed = int(seed)
        for group in self.param_groups:
            group["noise_key"] = default_key(self.seed)

    def __getstate__(self):      # torch's Optimizer pickles only its own fields (a copy rebuilds the flat state)
        return {**super().__getstate__(), "seed": self.seed, "noise": self.noise, "state_dtype": self.state_dtype,
                "uniforms": self.uniforms, "check_finite": self.check_finite, "foreach": self.foreach}

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
