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
from theory_bench.torch.noise import uniforms_for
from theory_bench.torch.stosignsgd import sto_sign

STREAMS = ("torch", "counter")


def sign_convert(optimizer, *, envelope="max", noise="uniform", scaled=False, beta=None, C=None, seed=0,
                 stream="torch"):
    """The sign counterpart of the torch optimizer instance ``optimizer``; ``stream="counter"`` draws
    the engine's counter-based uniforms (see ``theory_bench.torch.noise``)."""
    return SignConverted(optimizer, envelope=envelope, noise=noise, scaled=scaled, beta=beta, C=C, seed=seed,
                         stream=stream)


class SignConverted:
    """A torch optimizer's step through a stochastic sign; built by ``sign_convert``."""

    def __init__(self, base, *, envelope, noise, scaled, beta, C, seed, stream):
        if not isinstance(base, torch.optim.Optimizer):
            raise ValueError(f"sign_convert takes a torch.optim.Optimizer instance, got {base!r}; "
                             "e.g. sign_convert(torch.optim.Adam(model.parameters(), lr=1e-3))")
        self.envelope, self.noise, self.scaled, self.beta, self.C = check_switches(envelope, noise, scaled, beta, C)
        if stream not in STREAMS:
            raise ValueError(f"stream must be 'torch' or 'counter', got {stream!r}")
        self.base, self.seed, self.stream = base, seed, stream
        self.uniforms = uniforms_for("counter" if stream == "counter" else "uniform", seed)
        self.envelopes = {}
        self.t = 0

    @property
    def param_groups(self):
        return self.base.param_groups

    def zero_grad(self, set_to_none=True):
        self.base.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.base.param_groups:
            lr = group["lr"]
            if not 0 < lr < math.inf:
                raise ValueError(f"sign_convert reads the base's direction as (p_before - p_after) / lr, so lr "
                                 f"must be finite and > 0, got {lr!r}")
            for k, p in enumerate(group["params"]):
                check_step_size(p, lr, k, "sign_convert")
        if closure is None:                          # with a closure the base computes the gradients itself
            check_gradients(self.base.param_groups, self.t + 1, "sign_convert")   # before the base's state moves
        params = [p for group in self.base.param_groups for p in group["params"]]
        before = [p.detach().clone() for p in params]
        loss = self.base.step(closure)
        self.t += 1
        k, directions = 0, []
        for group in self.base.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    directions.append((k, p, (before[k] - p) / group["lr"], group["lr"]))
                k += 1
        bad = [k for k, _, u, _ in directions if first_bad(u) >= 0]
        if bad:
            for p, b in zip(params, before):
                p.copy_(b)
            raise FloatingPointError(f"sign_convert: the base optimizer's step {self.t} gave parameter {bad[0]} a "
                                     "non-finite direction; every parameter was put back (the base's own state "
                                     "holds that step: rebuild it, or lower its lr)")
        for k, p, u, lr in directions:
            p.copy_(before[k])
            p.sub_(lr * self._sign(p, u, k))
            check_parameter(p, k, self.t, "sign_convert")
        return loss

    def _sign(self, p, u, k):
        B = self._envelope(p, u)
        if self.noise == "none":
            s = torch.sign(u)
        else:
            draw = self.uniforms.draw(self.t, k, u)
            if self.noise == "uniform":
                s = sto_sign(u, B, draw)
            else:                                       # N(0, 1) by the inverse CDF of the same uniform
                s = torch.sign(u + B * (math.sqrt(2.0) * torch.erfinv(2.0 * draw - 1.0)))
        s = s.to(p.dtype)
        return s * B if self.scaled else s

    def _envelope(self, p, u):
        au, B = u.abs(), self.envelopes.get(p)
        if self.envelope == "max":
            B = au if B is None else torch.maximum(B, au)
        elif self.envelope == "decayed_max":
            B = au if B is None else torch.maximum(self.beta * B, au)
        elif self.envelope == "constant":
            B = torch.full_like(u, self.C)
        elif self.envelope == "current":
            B = au
        elif self.envelope == "norm_inf":
            B = torch.full_like(u, float(au.max()))
        else:
            B = torch.full_like(u, float(torch.linalg.vector_norm(u)))
        self.envelopes[p] = B
        return B

    def reseed(self, seed):
        """Start the noise stream afresh from ``seed`` (the testing API does, once per run)."""
        self.seed = int(seed)
        self.uniforms = uniforms_for("counter" if self.stream == "counter" else "uniform", self.seed)

    def state_dict(self):
        return {"base": self.base.state_dict(), "t": self.t,
                "envelopes": [self.envelopes.get(p) for g in self.base.param_groups for p in g["params"]],
                "generators": self.uniforms.state() if self.stream == "torch" else {}}

    def load_state_dict(self, state_dict):
        self.base.load_state_dict(state_dict["base"])
        self.t = state_dict["t"]
        params = [p for g in self.base.param_groups for p in g["params"]]
        self.envelopes = {p: B for p, B in zip(params, state_dict["envelopes"]) if B is not None}
        if self.stream == "torch":
            self.uniforms.load(state_dict["generators"])

    def __repr__(self):
        return (f"sign_convert({type(self.base).__name__}, envelope={self.envelope!r}, noise={self.noise!r}, "
                f"scaled={self.scaled!r})")
