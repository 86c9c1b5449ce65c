"""The sign noise of the torch optimizers: fast (``torch.rand``) or the engine's counter-based stream.

``noise="counter"`` draws exactly the uniforms of ``theory_bench.engine.counter_rng`` at
``(key_k, t, i)`` for coordinate ``i`` of the ``k``-th parameter, where ``key_0`` is the noise key
``minimize`` derives from the same seed and ``key_k`` (``param_key``) a hash of it: in float64 a
one-parameter trajectory is then bit-identical to the numba engine's. On other devices than the
CPU it computes the draws on the CPU and moves them (a reproducibility mode, not a fast one).
``noise="uniform"`` is the fast default: on the CPU, for float32 and float64 parameters, the same
counter stream inside one fused numba pass (``theory_bench.torch.stosignsgd``); elsewhere
``torch.rand`` with one ``torch.Generator`` per device, seeded from the optimizer's seed, whose
state travels in ``state_dict``.
"""
import numpy as np
import torch

from theory_bench.engine.counter_rng import GAMMA, mix64, uniforms
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


def counter_draw(key, k, t, like, dtype=None):
    """``u[i]`` of ``counter_rng`` under ``param_key(key, k)`` at step ``t``, shaped as ``like``, on its
    device, in ``dtype`` (default: ``like``'s)."""
    u = uniforms(param_key(key, k), int(t), like.numel())
    return torch.from_numpy(u).to(device=like.device, dtype=dtype or like.dtype).view_as(like)


class CounterUniforms:
    """``u[t, i]`` of ``counter_rng`` under ``param_key(key, k)`` for the ``k``-th parameter."""

    def __init__(self, seed):
        self.key = np.uint64(noise_key(seed))

    def draw(self, t, k, like):
        return counter_draw(self.key, k, t, like, draw_dtype(like.dtype))


class TorchUniforms:
    """``torch.rand`` on each device from one ``torch.Generator`` per device, seeded from ``seed``."""

    def __init__(self, seed):
        self.seed = int(seed)
        self.generators = {}

    def generator(self, device):
        key = str(device)
        if key not in self.generators:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed + 0x9E3779B9 * len(self.generators))
            self.generators[key] = g
        return self.generators[key]

    def draw(self, t, k, like):
        return torch.rand(like.shape, generator=self.generator(like.device), device=like.device,
                          dtype=draw_dtype(like.dtype))

    def state(self):
        return {k: g.get_state() for k, g in self.generators.items()}

    def __getstate__(self):       # copies and pickles carry the generators' states, not the generators
        return {"seed": self.seed, "states": self.state()}

    def __setstate__(self, d):
        self.seed, self.generators = d["seed"], {}
        self.load(d["states"])

    def load(self, states):
        for k, s in states.items():
            self.generator(torch.device(k)).set_state(s)


def uniforms_for(noise, seed):
    return CounterUniforms(seed) if noise == "counter" else TorchUniforms(seed)
