"""What a torch optimizer of the suite checks about its state and its learning rate before it steps.

A fused step writes through the tensors' memory (``theory_bench.torch.stosignsgd``): a state tensor
of another shape than its parameter (a ``state_dict`` saved for another model) would be read and
written out of bounds. So every state tensor's shape, dtype and device is checked against its
parameter when a ``state_dict`` is loaded and again before each step, before anything moves, with
a ``ValueError`` that names the parameter and both shapes (``torch.optim.Adam`` raises too).
A learning rate may be a float or a one-element tensor (as torch's optimizers take it), >= 0:
a step at ``lr = 0`` (the first step of a linear warm-up) updates the state and leaves the
parameters where they are, as torch's optimizers do.
"""
import math

import torch


def learning_rate(lr, k=None):
    """``lr`` as a float: a number or a one-element tensor, finite and >= 0, else a ValueError."""
    where = f" (param group of parameter {k})" if k is not None else ""
    if torch.is_tensor(lr):
        if lr.numel() != 1:
            raise ValueError(f"lr must be a number or a one-element tensor{where}, got a tensor of shape {tuple(lr.shape)}")
        lr = lr.item()
    try:
        v = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"lr must be a number{where}, got {lr!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"lr must be finite and >= 0{where}, got {lr!r}")
    return v


def _mismatch(who, name, k, got, want):
    return ValueError(f"{who}: the state {name!r} of parameter {k} has {got}, but parameter {k} needs {want}; "
                      "was this state_dict saved for another model (or with other parameter groups)?")


def group_beta1(group, k):
    """A param group's ``beta1``: ``betas[0]`` (where torch's momentum schedulers write it), in [0, 1)."""
    betas = group["betas"]
    b1 = betas[0] if isinstance(betas, (tuple, list)) and betas else betas
    b1 = b1.item() if torch.is_tensor(b1) else b1
    if isinstance(b1, bool) or not isinstance(b1, (int, float)) or not 0 <= b1 < 1:
        raise ValueError(f"betas[0] (beta1) must be in [0, 1) (param group of parameter {k}), got {betas!r}")
    return float(b1)


def check_state(state, p, dtype, k, who):
    """Every tensor in ``state`` but the step count has ``p``'s shape and device and ``dtype`` (a 0-d
    parameter's too: a 0-d state of a larger parameter would be read out of bounds)."""
    for name, s in state.items():
        if not torch.is_tensor(s) or name == "step":
            continue
        if s.shape != p.shape:
            raise _mismatch(who, name, k, f"shape {tuple(s.shape)}", f"shape {tuple(p.shape)}")
        if s.dtype != dtype or s.device != p.device:
            raise _mismatch(who, name, k, f"dtype {s.dtype} on {s.device}", f"dtype {dtype} on {p.device}")


def check_saved_state(state_dict, param_groups, who, only=None):
    """Check a ``state_dict``'s state against the parameters it will be loaded into (shapes; torch
    itself moves and casts), before anything is loaded; returns ``{parameter: {name: saved tensor}}``.
    ``only``: check only these entries (a wrapper's own, around a base whose state may be of any shape)."""
    params = [p for g in param_groups for p in g["params"]]
    names = [n for g in state_dict.get("param_groups", []) for n in g.get("params", [])]
    index = {n: k for k, n in enumerate(names)}     # torch's ids, or DCP's parameter names, as torch maps them
    saved = {}
    for name_or_id, tensors in state_dict.get("state", {}).items():
        idx = index.get(name_or_id, name_or_id)
        if not isinstance(idx, int) or not 0 <= idx < len(params):
            raise ValueError(f"{who}: the state_dict has state for parameter {name_or_id!r}, but this optimizer has "
                             f"{len(params)} parameters; was it saved for another model?")
        p = params[idx]
        for name, s in tensors.items():
            if torch.is_tensor(s) and name != "step" and (only is None or name in only) and s.shape != p.shape:
                raise _mismatch(who, name, idx, f"shape {tuple(s.shape)} in the state_dict", f"shape {tuple(p.shape)}")
        saved[p] = {n: s for n, s in tensors.items() if torch.is_tensor(s)}
    return saved
