"""The sign noise of the torch optimizers: fast (``torch.rand``) or the engine's counter-based stream.

``noise="counter"`` draws exactly the uniforms of ``theory_bench.engine.counter_rng`` at
``(key_k, t, i)`` for coordinate ``i`` of the ``k``-th parameter, where ``key_0`` is the noise key
``minimize`` derives from the same seed and ``key_k`` (``param_key``) a hash of it: in float64 a
one-parameter trajectory is then bit-identical to the numba engine's. On other devices than the
CPU it computes the draws on the CPU and moves them (a reproducibility mode, not a fast one).
``noise="uniform"`` is the fast default: on the CPU, for float32 and float64 parameters, the same
counter stream inside one fused numba pass (``theory_bench.torch.stosignsgd``); elsewhere
``torch.rand`` from a generator seeded from ``(key_k, t)`` at every draw. Either way the noise of a
step is a function of the key (kept in ``param_groups``) and the step count (in ``state``), so a run
resumed from a ``state_dict`` -- torch's or DCP's -- continues the same stream.
"""
import numpy as np
import torch
from numba import njit

from theory_bench.engine.counter_rng import GAMMA, mix64, truncate24, uniforms
from theory_bench.engine.seeding import streams

NOISES = ("uniform", "counter")


def draw_dtype(dtype):
    """The dtype uniforms are drawn in: at least float32. A bf16 uniform has 8 bits: the mean sign it
    gives is biased (0.2988 for g/G = 0.3027, -16 sigma over 1.6e7 draws), an fp16 one 11."""
    return torch.promote_types(dtype, torch.float32)


def check_noise(noise):
    if noise not in NOISES:
        raise ValueError(f"noise must be 'uniform' (torch's generator, fast) or 'counter' (the engine's "
                         f"counter-based stream, bit-identical to theory_bench.minimize), got {noise!r}")
    return noise


def noise_key(seed):
    """The 64-bit noise key ``theory_bench.minimize`` uses for ``seed``."""
    return int(streams(seed)[1])


def param_key(key, k):
    """The noise key of the ``k``-th parameter: ``key`` itself for the first, a hash for the others."""
    key = np.uint64(key)
    return key if k == 0 else np.uint64(mix64(np.uint64((int(key) + k * int(GAMMA)) % 2 ** 64)))


@njit(cache=True)
def param_keys(key, ks):
    """``param_key(key, k)`` for every ``k`` of the int64 array ``ks`` (the multi-tensor step's keys)."""
    out = np.empty(ks.shape[0], dtype=np.uint64)
    for j in range(ks.shape[0]):
        out[j] = key if ks[j] == 0 else mix64(key + np.uint64(ks[j]) * GAMMA)
    return out


def counter_draw(key, k, t, like, dtype=None):
    """``u[i]`` of ``counter_rng`` under ``param_key(key, k)`` at step ``t``, shaped as ``like``, on its
    device, in ``dtype`` (default: ``like``'s)."""
    u = uniforms(param_key(key, k), int(t), like.numel())
    dtype = dtype or like.dtype
    if dtype != torch.float64:           # the single-precision stream: truncated to 24 bits, as uniform24
        u = truncate24(u)
    return torch.from_numpy(u).to(device=like.device, dtype=dtype).view_as(like)


class CounterUniforms:
    """``u[t, i]`` of ``counter_rng`` under ``param_key(key, k)`` for the ``k``-th parameter."""

    def draw(self, key, t, k, like):
        return counter_draw(key, k, t, like, draw_dtype(like.dtype))


class TorchUniforms:
    """``torch.rand`` on the tensor's device from a ``torch.Generator`` seeded, for every draw, from
    ``(param_key(key, k), t)`` alone: the stream is a function of the key and the step count, so what
    a resume needs is in the optimizer's ``state`` and ``param_groups`` (no generator state to carry)."""

    def __init__(self):
        self.generators = {}

    def draw(self, key, t, k, like):
        g = self.generators.get(like.device)
        if g is None:
            g = self.generators[like.device] = torch.Generator(device=like.device)
        g.manual_seed(torch_seed(key, k, t))
        return torch.rand(like.shape, generator=g, device=like.device, dtype=draw_dtype(like.dtype))

    def __getstate__(self):       # generators do not pickle; each draw reseeds them anyway
        return {}

    def __setstate__(self, d):
        self.generators = {}


def torch_seed(key, k, t):
    """The seed of ``torch.Generator`` for parameter ``k`` at step ``t`` (63 bits: every device takes it)."""
    return int(mix64(np.uint64((int(param_key(key, k)) + int(t) * int(GAMMA)) % 2 ** 64))) >> 1


def default_key(seed):
    """The noise key of ``seed``, or, for ``seed=None``, of a seed drawn from torch's default generator
    (so that ``torch.manual_seed`` decides, as it does for everything else in a torch run)."""
    if seed is None:
        seed = int(torch.randint(0, 2 ** 62, ()).item())
    elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be None (drawn from torch's generator) or an int >= 0, got {seed!r}")
    return noise_key(seed)


def uniforms_for(noise):
    return CounterUniforms() if noise == "counter" else TorchUniforms()
