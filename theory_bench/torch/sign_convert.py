"""``sign_convert``: any torch optimizer into its unbiased sign counterpart (docs/theory.md §2.2).

The direction ``u`` is the base's own proposed update, read off its step: the wrapper lets the base
step, reads ``u = (p_before - p_after) / lr``, puts the parameters back, and steps
``p <- p - lr sign(u + B n)`` with an envelope ``B >= |u|`` fixed before the noise is drawn, so the
expected step is ``lr u / B``. This needs nothing from the base but its ``step``: it works for
optimizers this suite has never seen. The switches are those of
``theory_bench.optimizers.sign_convert`` (checked by the same function); two differences:
the scalar envelopes (``norm_inf``, ``norm_2``) are taken per parameter tensor, and a base's own
weight decay (AdamW's) is part of its ``u``, inside the sign.

``sign_convert(torch.optim.SGD(params, lr))`` is StoSignSGD's theory form: with the same seed and
stream it follows the same trajectory as ``theory_bench.torch.StoSignSGD(params, lr, beta1=0)``.
"""
import math

import torch

from theory_bench.optimizers.sign_conversion import check_switches
from theory_bench.torch.gradient_checks import check_gradients, check_parameter, check_step_size, first_bad
from theory_bench.torch.noise import default_key, uniforms_for
from theory_bench.torch.state_checks import check_state, learning_rate
from theory_bench.torch.stosignsgd import sto_sign
from theory_bench.torch.wrapping import WrappedOptimizer, unhooked_step

STREAMS = ("torch", "counter")
PROBE_LR = 1.0      # a group at lr = 0 is stepped by the base at this lr to read its direction


def sign_convert(optimizer, *, envelope="max", noise="uniform", scaled=False, beta=None, C=None, seed=None,
                 stream="torch"):
    """The sign counterpart of the torch optimizer instance ``optimizer``; ``stream="counter"`` draws
    the engine's counter-based uniforms (see ``theory_bench.torch.noise``); ``seed=None`` draws the
    noise key from torch's default generator."""
    return SignConverted(optimizer, envelope=envelope, noise=noise, scaled=scaled, beta=beta, C=C, seed=seed,
                         stream=stream)


class SignConverted(WrappedOptimizer):
    """A torch optimizer's step through a stochastic sign; built by ``sign_convert``.

    A ``torch.optim.Optimizer`` sharing the base's ``param_groups`` and ``state``
    (``theory_bench.torch.wrapping``). Its own entries: each param group's ``sign_step`` (steps
    taken) and ``sign_key`` (the noise key), and ``state[p]["sign_envelope"]`` for the running
    envelopes (``max``, ``decayed_max``). A step at ``lr = 0`` (a warm-up's first) leaves the
    parameters where they are and moves the state as at any other step: the base is stepped at
    ``lr = 1`` to read its direction (for bases whose state does not depend on ``lr`` -- SGD,
    Adam(W), RMSprop, Lion -- the state is the one a step at ``lr = 0`` leaves).
    """

    OWN = ("sign_envelope",)

    def __init__(self, base, *, envelope, noise, scaled, beta, C, seed, stream):
        if stream not in STREAMS:
            raise ValueError(f"stream must be 'torch' or 'counter', got {stream!r}")
        switches = check_switches(envelope, noise, scaled, beta, C)
        self.key = default_key(seed)
        super().__init__(base, "sign_convert")
        self.envelope, self.noise, self.scaled, self.beta, self.C = switches
        self.seed, self.stream = seed, stream
        self.uniforms = uniforms_for("counter" if stream == "counter" else "uniform")
        for group in self.param_groups:
            self.init_group(group)

    def init_group(self, group):
        group.setdefault("sign_step", 0)
        group.setdefault("sign_key", self.key)

    @property
    def t(self):
        """The number of steps taken (the largest group's ``sign_step``)."""
        return max(g["sign_step"] for g in self.param_groups)

    @torch.compiler.disable      # torch.compile runs the step eagerly (a graph break), as StoSignSGD's
    @torch.no_grad()
    def step(self, closure=None):
        k, rates = 0, []
        for group in self.param_groups:              # everything checked before the base's state moves
            rates.append(learning_rate(group["lr"], k))
            for p in group["params"]:
                check_step_size(p, rates[-1], k, "sign_convert")
                if p in self.state:
                    check_state({n: self.state[p][n] for n in self.OWN if n in self.state[p]}, p, p.dtype, k,
                                "sign_convert")
                k += 1
        if closure is None:                          # with a closure the base computes the gradients itself
            check_gradients(self.param_groups, self.t + 1, "sign_convert")
        params = [p for group in self.param_groups for p in group["params"]]
        before = [p.detach().clone() for p in params]
        probed = [(g, g["lr"]) for g, lr in zip(self.param_groups, rates) if lr == 0]
        try:
            for g, _ in probed:
                g["lr"] = PROBE_LR
            loss = unhooked_step(self.base, closure)
        finally:
            for g, lr in probed:
                g["lr"] = lr
        k, directions = 0, []
        for group, lr in zip(self.param_groups, rates):
            read = lr or PROBE_LR
            for p in group["params"]:
                if p.grad is not None:
                    directions.append((k, p, (before[k] - p) / read, lr, group))
                k += 1
        bad = [k for k, _, u, _, _ in directions if first_bad(u) >= 0]
        if bad:
            for p, b in zip(params, before):
                p.copy_(b)
            raise FloatingPointError(f"sign_convert: the base optimizer's step {self.t + 1} gave parameter {bad[0]} a "
                                     "non-finite direction; every parameter was put back (the base's own state "
                                     "holds that step: rebuild it, or lower its lr)")
        for group in self.param_groups:
            group["sign_step"] += 1
        for k, p, u, lr, group in directions:
            p.copy_(before[k])
            s = self._sign(p, u, k, group)
            if lr > 0:
                p.sub_(lr * s)
            check_parameter(p, k, group["sign_step"], "sign_convert")
        return loss

    def _sign(self, p, u, k, group):
        B = self._envelope(p, u)
        if self.noise == "none":
            s = torch.sign(u)
        else:
            draw = self.uniforms.draw(group["sign_key"], group["sign_step"], k, u)
            if self.noise == "uniform":
                s = sto_sign(u, B, draw)
            else:                                       # N(0, 1) by the inverse CDF of the same uniform
                s = torch.sign(u + B * (math.sqrt(2.0) * torch.erfinv(2.0 * draw - 1.0)))
        s = s.to(p.dtype)
        return s * B if self.scaled else s

    def _envelope(self, p, u):
        au = u.abs()
        if self.envelope in ("max", "decayed_max"):
            state = self.state[p]
            B = state.get("sign_envelope")
            if B is None:
                B = au
            else:
                B = torch.maximum(B if self.envelope == "max" else self.beta * B, au)
            state["sign_envelope"] = B
            return B
        if self.envelope == "constant":
            return torch.full_like(u, self.C)
        if self.envelope == "current":
            return au
        if self.envelope == "norm_inf":
            return torch.full_like(u, float(au.max()))
        return torch.full_like(u, float(torch.linalg.vector_norm(u)))

    def reseed(self, seed):
        """Start the noise stream afresh from ``seed`` (the testing API does, once per run)."""
        self.seed, self.key = int(seed), default_key(int(seed))
        for group in self.param_groups:
            group["sign_key"] = self.key

    def __repr__(self):
        return (f"sign_convert({type(self.base).__name__}, envelope={self.envelope!r}, noise={self.noise!r}, "
                f"scaled={self.scaled!r})")
