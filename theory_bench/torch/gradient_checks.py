"""Gradients checked before a sign optimizer steps: real, floating and finite, else a clear error.

A NaN or inf gradient would make the running max ``G`` infinite, and every later step of that
coordinate a coin flip, silently; so ``theory_bench.torch.StoSignSGD`` and ``sign_convert`` check
every gradient before any parameter (or a converted base's state) moves, and a step is taken
whole or not at all. Under ``torch.amp.GradScaler`` an overflowed step is skipped before the
optimizer sees it, so the check never fires there. Cost: one read of each gradient per step.
"""
import torch

from theory_bench.engine.run_loop import first_nonfinite


def first_bad(t):
    """Index (flat) of the first NaN or inf in ``t``, or -1. On the CPU, for contiguous float32 and
    float64, the engine's vectorised pass over the tensor's memory (20x ``torch.isfinite(t).all()``
    on one thread here); elsewhere torch's."""
    if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and t.is_contiguous():
        return int(first_nonfinite(t.detach().view(-1).numpy()))
    flat = t.detach().reshape(-1)
    if bool(torch.isfinite(flat).all()):
        return -1
    return int(torch.nonzero(~torch.isfinite(flat))[0])


def check_gradient_type(p, k, who):
    """A ``ValueError`` for a parameter or gradient that is not real floating."""
    if not (p.dtype.is_floating_point and p.grad.dtype.is_floating_point):
        raise ValueError(f"{who} needs real floating parameters and gradients, got parameter {k} of dtype "
                         f"{p.dtype} with a {p.grad.dtype} gradient; convert it (p.float())")


def check_gradient(p, k, t, who):
    """A ``FloatingPointError`` for a non-finite gradient of parameter ``k``, naming the step ``t`` (an
    int, or a callable that gives it: counted only when there is an error) and the element."""
    g = p.grad
    i = -1 if g.is_sparse else first_bad(g)
    if i >= 0:
        raise FloatingPointError(
            f"{who}: parameter {k} has a non-finite gradient at step {t() if callable(t) else t} (element {i}: "
            f"{float(g.reshape(-1)[i])}); "
            "no parameter was changed. Check the loss, or scale it with torch.amp.GradScaler, which "
            "skips such steps")


def check_gradients(param_groups, t, who):
    """Raise ``ValueError`` for a parameter or gradient that is not real floating, and
    ``FloatingPointError`` for a non-finite gradient, naming the parameter, the step ``t`` and the element."""
    k = 0
    for group in param_groups:
        for p in group["params"]:
            if p.grad is not None:
                check_gradient_type(p, k, who)
                check_gradient(p, k, t, who)
            k += 1


def check_step_size(p, lr, k, who):
    """``lr`` must be representable in the parameter's dtype (a float16 step of 7e4 is inf)."""
    top = torch.finfo(p.dtype).max
    if not lr < top:
        raise ValueError(f"{who}: lr={lr!r} is not representable in parameter {k}'s dtype {p.dtype} (largest "
                         f"{top:g}); lower lr or keep that parameter in a wider dtype")


def check_parameter(p, k, t, who):
    """A parameter that became non-finite in this step (a step or a weight decay too large for its
    dtype): a ``FloatingPointError`` that says so, rather than an inf trajectory."""
    i = first_bad(p)
    if i >= 0:
        raise FloatingPointError(f"{who}: parameter {k} became non-finite at step {t} (element {i}: "
                                 f"{float(p.detach().reshape(-1)[i])}, dtype {p.dtype}); lower lr or weight_decay, or "
                                 "use a wider dtype")
