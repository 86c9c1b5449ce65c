"""How the FP8 systems practitioners run scale an optimizer state before storing it (issue: FP8 against
the field's recipes; docs/fp8.md).

``store(x, fmt, scaling)`` returns ``x`` as it reads back after being stored in ``fmt`` under one of
``STATE_SCALINGS``:

- ``"none"``: the format itself;
- ``"per_tensor"``: one power of two per tensor mapping the amax into ``(max/2, max]``
  (``casts.cast``; the suite's ``fp8`` recipe);
- ``"absmax"``: one float32 scale per tensor, ``amax / max``, so the amax lands on the format's
  max exactly (TransformerEngine's FP8 state, and MS-AMP's first moment);
- ``"block"``: one float32 scale ``amax / max`` per block of ``BLOCK = 256`` consecutive values of
  the flattened tensor, ``amax`` clipped at ``1e-12``: torchao's ``OptimStateFp8`` layout
  (``quantize_fp8``), computed as it does, in float32. torchao stores a tensor this way only when it
  has at least ``BLOCK_MIN = 4096`` values and a multiple of ``BLOCK`` (smaller ones keep float32
  state); ``store`` follows the same rule, so the emulation's state bytes are torchao's.

``state_bytes(fmt, scaling, numel)``: the bytes the stored tensor takes, codes and scales.
"""
import torch

from theory_bench.engine.precision import get_format
from theory_bench.torch.casts import cast

STATE_SCALINGS = ("none", "per_tensor", "absmax", "block")
BLOCK, BLOCK_MIN = 256, 4096
BITS = {"fp64": 64, "fp32": 32, "bf16": 16, "fp16": 16, "e4m3": 8, "e5m2": 8}


def check_state_scaling(scaling):
    if scaling not in STATE_SCALINGS:
        raise ValueError(f"state scaling must be one of {', '.join(map(repr, STATE_SCALINGS))}, got {scaling!r}")
    return scaling


def blocked(numel):
    """Whether torchao stores a tensor of ``numel`` values in blocks (else in float32)."""
    return numel >= BLOCK_MIN and numel % BLOCK == 0


def store(x, fmt, scaling="none"):
    """``x`` as read back after being stored in ``fmt`` with ``scaling`` (a new tensor, ``x``'s dtype)."""
    check_state_scaling(scaling)
    f = get_format(fmt)
    if scaling in ("none", "per_tensor") or f.name in ("fp64", "fp32"):
        return cast(x, fmt, scaling if scaling in ("none", "per_tensor") else "none")
    if scaling == "block" and not blocked(x.numel()):
        return cast(x, "fp32")
    v = x.to(torch.float32)
    rows = v.reshape(1, -1) if scaling == "absmax" else v.reshape(-1, BLOCK)
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / f.max
    return (cast(rows / scale, fmt) * scale).reshape(x.shape).to(x.dtype)


def state_bytes(fmt, scaling, numel):
    """Bytes of one state tensor of ``numel`` values stored in ``fmt`` under ``scaling``: the codes,
    plus a float32 scale per tensor (``per_tensor``, ``absmax``) or per block (``block``)."""
    f = get_format(fmt).name
    if scaling == "block" and not blocked(numel):
        return 4 * numel
    codes = BITS[f] * numel / 8
    if scaling == "block":
        return codes + 4 * numel // BLOCK
    return codes + (4 if scaling in ("per_tensor", "absmax") and f not in ("fp64", "fp32") else 0)
