"""Number formats for torch tensors: casts through torch's own low-precision dtypes, per-tensor
power-of-two scaling and stochastic rounding, agreeing bit for bit with ``theory_bench.precision``.

- ``cast(x, fmt, scaling="none")``: ``x`` rounded to nearest (ties to even) in ``fmt`` and returned
  in ``x``'s dtype, through ``torch.float8_e4m3fn``, ``torch.float8_e5m2``, ``torch.bfloat16``,
  ``torch.float16`` or ``torch.float32``. A float64 tensor is rounded straight from the double,
  correctly rounded as ``theory_bench.precision.round_to`` does (torch's own cast of a double to
  ``bf16``, ``fp16`` and FP8 goes through float: two roundings); ``e4m3`` saturates at ``+-448`` (clamped before
  the cast, so it does not depend on the device's overflow rule); ``fp16``, ``bf16`` and ``e5m2``
  overflow to infinity. With ``scaling="per_tensor"`` the tensor is multiplied by the power of two
  ``s`` that maps its amax into ``(max/2, max]`` before the cast and divided by ``s`` after: the
  just-in-time per-tensor scaling of FP8 recipes (exact: ``s`` is a power of two).
- ``round_stochastic(x, fmt, u)``: rounds ``|x|`` up to the next value of ``fmt`` with probability
  ``(|x| - down) / q``, given uniforms ``u``; with the same ``u`` it is bit for bit
  ``theory_bench.precision``'s ``round_stochastic``.
"""
import math

import numpy as np
import torch

from theory_bench.engine.precision import check_scaling, get_format
from theory_bench.engine.precision_loop import power_of_two_scale as _engine_scale

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
                "e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}


def power_of_two_scale(x, maxv):
    """``2^k`` (a Python float) with ``amax(x) 2^k`` in ``(maxv/2, maxv]``; 1 when ``x`` is empty,
    all zero or not finite: the engine's own ``power_of_two_scale`` applied to the amax."""
    if x.numel() == 0:
        return 1.0
    return float(_engine_scale(np.array([float(x.detach().abs().max())]), float(maxv)))


def _work_dtype(x, s):
    """``x``'s dtype if the scale ``s`` is one of its normal numbers, else float64 (a tensor whose
    amax is far below 1, scaled toward a wide format's max, needs a scale beyond fp32's range)."""
    info = torch.finfo(x.dtype)
    return x.dtype if info.tiny <= s <= info.max else torch.float64


def cast(x, fmt, scaling="none"):
    """``x`` rounded to nearest in the format ``fmt`` (a name of ``theory_bench.precision.FORMATS``),
    in ``x``'s dtype; ``"fp64"`` returns ``x`` itself."""
    f = get_format(fmt)
    check_scaling(scaling)
    if f.name == "fp64":
        return x
    if not x.is_floating_point():
        raise ValueError(f"cast needs a floating-point tensor, got dtype {x.dtype}; convert it with .float()")
    s = power_of_two_scale(x, f.max) if scaling == "per_tensor" else 1.0
    work = _work_dtype(x, s)
    y = x.to(work) * s if s != 1.0 else x
    if y.dtype == torch.float64 and f.name != "fp32":
        y = _nearest_from_double(y, f)               # torch's double -> narrower goes through float: two roundings
    else:
        if f.saturate:
            y = y.clamp(-f.max, f.max)
        y = y.to(TORCH_DTYPES[f.name]).to(work)
    return (y / s).to(x.dtype) if s != 1.0 else y


def _quantum(mag, f):
    """The spacing of the format ``f`` at each ``|x|`` (float64 tensor ``mag``), subnormals included."""
    _, e = torch.frexp(mag)
    return torch.ldexp(torch.ones_like(mag), (e - 1).clamp(min=f.emin, max=971 + f.fraction_bits) - f.fraction_bits)


def _overflow(v, mag, f):
    """Magnitudes ``v`` beyond the format's max (or from an infinite ``mag``) saturated or made infinite."""
    over = torch.full_like(v, f.max if f.saturate else math.inf)
    return torch.where((v > f.max) | torch.isinf(mag), over, v)


def _nearest_from_double(a, f):
    """Round-to-nearest-even of a float64 tensor straight to ``f``, in exact float64 arithmetic
    (``|a| / q`` and ``round(.) q`` are exact for a power of two ``q``; ``torch.round`` ties to even)."""
    mag = a.abs()
    q = _quantum(mag, f)
    return torch.copysign(_overflow(torch.round(mag / q) * q, mag, f), a)


def round_stochastic(x, fmt, u):
    """``x`` rounded stochastically to ``fmt`` with the uniforms ``u`` (same shape, in ``[0, 1)``), in
    ``x``'s dtype; ``E[result] = x`` inside the range. Computed in float64, where every step is exact."""
    f = get_format(fmt)
    if f.name == "fp64":
        return x
    a = x.to(torch.float64)
    mag = a.abs()
    q = _quantum(mag, f)
    r = mag / q
    down = torch.floor(r)
    v = (down + (u.to(torch.float64) < r - down).to(torch.float64)) * q
    return torch.copysign(_overflow(v, mag, f), a).to(x.dtype)
