"""Emulated FP8 training (docs/fp8.md): matmuls with FP8 inputs and E5M2 output gradients, optimizer
state in a chosen format, BF16 master weights.

- ``FP8Linear(in_features, out_features, bias=True, recipe=None)``: a drop-in for
  ``torch.nn.Linear`` (same parameters, same ``state_dict``). Forward: ``x`` and ``W`` cast to
  ``recipe.inputs`` (per-tensor power-of-two scaling from the current amax), ``y = x_q W_q^T + b``
  accumulated in fp32. Backward (a custom autograd function): ``dy`` cast to ``recipe.grads``;
  ``dx = dy_q W_q``, ``dW = dy_q^T x_q``, ``db = sum dy_q``.
- ``FP8Conv2d``: the same for ``torch.nn.Conv2d`` (the CNN's convolutions are matmuls too).
- ``convert_to_fp8(model, recipe="fp8", skip=())``: every ``nn.Linear`` and ``nn.Conv2d`` of
  ``model`` (but those whose qualified name contains a string of ``skip``) replaced in place by
  its FP8 counterpart sharing the same parameter tensors; returns ``model`` (a bare ``nn.Linear``
  comes back as a new ``FP8Linear``).
- ``LowPrecisionOptimizer(optimizer, recipe, seed=None)``: state and master weights in the recipe's
  formats around any torch optimizer (``theory_bench.torch.low_precision``).

Every cast goes through torch's ``float8_e4m3fn`` / ``float8_e5m2`` / ``bfloat16`` dtypes and
agrees bit for bit with ``theory_bench.precision`` (``tests/test_fp8.py``). On a CPU, or a GPU
without FP8 tensor cores, the matmul itself runs in fp32 on the FP8 values: exact products, fp32
sums, as FP8 tensor cores accumulate. On a GPU with them (CUDA, compute capability 8.9 or more) an
``FP8Linear`` with E4M3 inputs runs its three products there (``torch._scaled_mm``,
``theory_bench.torch.fp8_matmul``): the same FP8 operands, sums within 2.5e-4 (relative) of the
emulation's on an H200, 6.7x faster at 4096^3 and 13x at 8192^3.
"""
import torch
import torch.nn.functional as F
from torch import nn

from theory_bench.torch.casts import cast
from theory_bench.torch.fp8_matmul import ScaledMMLinear, scaled_mm_available
from theory_bench.torch.low_precision import LowPrecisionOptimizer
from theory_bench.torch.recipe import RECIPES, Recipe, get_recipe

__all__ = ["FP8Linear", "FP8Conv2d", "convert_to_fp8", "LowPrecisionOptimizer", "Recipe", "RECIPES", "cast"]


class _LinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, recipe):
        xq, wq = cast(x, recipe.inputs, recipe.scaling), cast(weight, recipe.inputs, recipe.scaling)
        ctx.save_for_backward(xq, wq)
        ctx.recipe, ctx.has_bias = recipe, bias is not None
        return F.linear(xq, wq, bias)

    @staticmethod
    def backward(ctx, dy):
        xq, wq = ctx.saved_tensors
        dq = cast(dy, ctx.recipe.grads, ctx.recipe.scaling)
        d2, x2 = dq.reshape(-1, dq.shape[-1]), xq.reshape(-1, xq.shape[-1])
        dx = (dq @ wq) if ctx.needs_input_grad[0] else None
        dw = d2.t() @ x2 if ctx.needs_input_grad[1] else None
        db = d2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db, None


class _Conv2dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, recipe, stride, padding, dilation, groups):
        xq, wq = cast(x, recipe.inputs, recipe.scaling), cast(weight, recipe.inputs, recipe.scaling)
        ctx.save_for_backward(xq, wq)
        ctx.recipe, ctx.has_bias, ctx.conv = recipe, bias is not None, (stride, padding, dilation, groups)
        return F.conv2d(xq, wq, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, dy):
        xq, wq = ctx.saved_tensors
        dq = cast(dy, ctx.recipe.grads, ctx.recipe.scaling)
        stride, padding, dilation, groups = ctx.conv
        dx = torch.nn.grad.conv2d_input(xq.shape, wq, dq, stride, padding, dilation, groups) \
            if ctx.needs_input_grad[0] else None
        dw = torch.nn.grad.conv2d_weight(xq, wq.shape, dq, stride, padding, dilation, groups) \
            if ctx.needs_input_grad[1] else None
        db = dq.sum((0, 2, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db, None, None, None, None, None


class FP8Linear(nn.Linear):
    """``torch.nn.Linear`` with its matmul in the recipe's formats (``recipe`` defaults to ``"fp8"``)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, recipe="fp8"):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.recipe = get_recipe(recipe)

    def forward(self, x):
        if scaled_mm_available(x, self.weight, self.recipe):       # FP8 tensor cores (CUDA, sm_89+): fp8_matmul
            return ScaledMMLinear.apply(x, self.weight, self.bias, self.recipe)
        return _LinearFn.apply(x, self.weight, self.bias, self.recipe)

    def extra_repr(self):
        return f"{super().extra_repr()}, inputs={self.recipe.inputs}, grads={self.recipe.grads}"


class FP8Conv2d(nn.Conv2d):
    """``torch.nn.Conv2d`` (zero padding) with its convolution in the recipe's formats."""

    def __init__(self, *args, recipe="fp8", **kw):
        super().__init__(*args, **kw)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(f"FP8Conv2d takes numeric zero padding, got padding={self.padding!r}, "
                             f"padding_mode={self.padding_mode!r}")
        self.recipe = get_recipe(recipe)

    def forward(self, x):
        return _Conv2dFn.apply(x, self.weight, self.bias, self.recipe, self.stride, self.padding, self.dilation,
                               self.groups)

    def extra_repr(self):
        return f"{super().extra_repr()}, inputs={self.recipe.inputs}, grads={self.recipe.grads}"


def _adopt(new, old):
    """``new`` (an FP8 module built on the meta device) takes ``old``'s parameters and buffers."""
    new.weight = old.weight
    new.bias = old.bias
    new.train(old.training)
    return new


def _converted(module, recipe):
    if type(module) is nn.Linear:
        return _adopt(FP8Linear(module.in_features, module.out_features, module.bias is not None, device="meta",
                                recipe=recipe), module)
    if type(module) is nn.Conv2d:
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            return None
        return _adopt(FP8Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                                module.padding, module.dilation, module.groups, module.bias is not None,
                                device="meta", recipe=recipe), module)
    return None


def convert_to_fp8(model, recipe="fp8", skip=()):
    """Replace, in place, every ``nn.Linear`` and ``nn.Conv2d`` of ``model`` by ``FP8Linear`` /
    ``FP8Conv2d`` with the same parameters (an optimizer built before still holds them), except
    modules whose qualified name contains a string of ``skip``; return ``model``. A recipe that
    casts nothing (``"fp32"``) leaves the model as it is."""
    recipe = get_recipe(recipe)
    if not isinstance(model, nn.Module):
        raise ValueError(f"convert_to_fp8 needs a torch.nn.Module, got {type(model).__name__}")
    if isinstance(skip, str):
        skip = (skip,)
    if not recipe.casts_matmuls:
        return model
    top = _converted(model, recipe)
    if top is not None:
        return top
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if any(s in full for s in skip):
                continue
            new = _converted(child, recipe)
            if new is not None:
                setattr(module, child_name, new)
    return model

