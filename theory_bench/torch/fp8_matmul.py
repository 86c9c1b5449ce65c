"""Real FP8 matmuls on GPUs that have FP8 tensor cores (``torch._scaled_mm``), the emulation elsewhere.

``FP8Linear`` (``theory_bench.torch.fp8``) casts its inputs to ``recipe.inputs`` and its output
gradient to ``recipe.grads``, with a per-tensor power-of-two scale, and multiplies. Where
``scaled_mm_available(x, weight, recipe)`` holds, the three products of a step (``y = x W^T``,
``dx = dy W``, ``dW = dy^T x``) run on the FP8 tensor cores through ``torch._scaled_mm``:
- on a CUDA device of compute capability 8.9 or more (Ada, Hopper, Blackwell);
- with E4M3 inputs and E4M3 or E5M2 gradients (an E5M2 x E5M2 product has no kernel);
- with every matmul dimension a multiple of 16.
The FP8 operands are exactly the emulation's (``quantize``, tested bit for bit). The sums are not:
the emulation accumulates in exact fp32. Measured on an H200
(``theory_bench.torch.device_check.fp8_compare``), the tensor-core results differ from it by 1.1e-4
to 2.5e-4 of the largest output, forward and backward, at sizes 1024 to 16384. That is more than
fp32 rounding would give, as expected if Hopper's FP8 tensor cores keep fewer accumulator bits
than fp32. Everywhere else (the CPU above all) nothing changes:
``FP8Linear`` runs the emulation.
"""
import torch

from theory_bench.engine.precision import get_format
from theory_bench.torch.casts import TORCH_DTYPES, power_of_two_scale

MIN_CAPABILITY = (8, 9)
PAIRS = {("e4m3", "e4m3"), ("e4m3", "e5m2")}     # (inputs, grads) with tensor-core kernels for every product


def eligible(device_type, capability, inputs, grads, scaling, dims):
    """The selection rule, on plain values (tested on the CPU): a CUDA device of ``capability`` at least
    ``MIN_CAPABILITY``, an (inputs, grads) pair of ``PAIRS``, per-tensor scaling, every dimension a
    multiple of 16, and a torch that has ``_scaled_mm``."""
    return (device_type == "cuda" and hasattr(torch, "_scaled_mm") and tuple(capability) >= MIN_CAPABILITY
            and (inputs, grads) in PAIRS and scaling == "per_tensor" and all(n % 16 == 0 for n in dims))


def scaled_mm_available(x, weight, recipe):
    """True where the FP8 tensor cores take this layer's three products (see the module docstring)."""
    if not (x.is_cuda and weight.is_cuda and x.device == weight.device):
        return False
    dims = (x.shape[-1], weight.shape[0], x.numel() // max(x.shape[-1], 1))
    return eligible("cuda", torch.cuda.get_device_capability(x.device), recipe.inputs, recipe.grads, recipe.scaling,
                    dims)


def quantize(x, fmt):
    """``(q, s)``: ``x`` times its per-tensor power-of-two scale ``s``, in the FP8 dtype of ``fmt``
    (E4M3 saturated at 448), the same values ``casts.cast`` dequantises to."""
    f = get_format(fmt)
    s = power_of_two_scale(x, f.max)
    y = x.float() * s
    if f.saturate:
        y = y.clamp(-f.max, f.max)
    return y.to(TORCH_DTYPES[f.name]), s


def _mm(a, sa, b, sb):
    """``(a / sa) @ (b / sb)`` in fp32 on the tensor cores: ``a`` row-major, ``b`` made column-major."""
    one = torch.ones((), device=a.device)
    return torch._scaled_mm(a.contiguous(), b.t().contiguous().t(), scale_a=one / sa, scale_b=one / sb,
                            out_dtype=torch.float32)


class ScaledMMLinear(torch.autograd.Function):
    """``y = x W^T + b`` with the forward and both backward products on the FP8 tensor cores."""

    @staticmethod
    def forward(ctx, x, weight, bias, recipe):
        x2 = x.reshape(-1, x.shape[-1])
        xq, sx = quantize(x2, recipe.inputs)
        wq, sw = quantize(weight, recipe.inputs)
        ctx.save_for_backward(xq, wq)
        ctx.scales, ctx.recipe, ctx.has_bias, ctx.shape = (sx, sw), recipe, bias is not None, x.shape
        y = _mm(xq, sx, wq.t(), sw)
        if bias is not None:
            y = y + bias.float()
        return y.to(x.dtype).reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, dy):
        xq, wq = ctx.saved_tensors
        sx, sw = ctx.scales
        d2 = dy.reshape(-1, dy.shape[-1])
        dq, sd = quantize(d2, ctx.recipe.grads)
        dx = _mm(dq, sd, wq, sw).to(dy.dtype).reshape(ctx.shape) if ctx.needs_input_grad[0] else None
        dw = _mm(dq.t(), sd, xq, sx).to(dy.dtype) if ctx.needs_input_grad[1] else None
        db = (dq.float().sum(0) / sd).to(dy.dtype) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db, None
