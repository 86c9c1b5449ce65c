"""The sign noise of the torch optimizers: fast (``torch.rand``) or the engine's counter-based stream.

``noise="uniform"`` draws ``u ~ U[0, 1)`` with a ``torch.Generator`` on the parameter's device,
seeded from the optimizer's seed; its state travels in ``state_dict``. ``noise="counter"`` draws
exactly the uniforms of ``theory_bench.engine.counter_rng`` at ``(key, t, i)``, ``i`` running over
the coordinates of all parameters in order, with ``key`` the noise key ``minimize`` derives from
the same seed: in float64 a trajectory is then bit-identical to the numba engine's. It computes
on the CPU and moves the draws to the parameter's device (a reproducibility mode, not a fast one).
"""
import numpy as np
import torch

from theory_bench.engine.counter_rng import uniforms
from theory_bench.engine.seeding import streams

NOISES = ("uniform", "counter")


def check_noise(noise):
    if noise not in NOISES:
        raise ValueError(f"noise must be 'uniform' (torch's generator, fast) or 'counter' (the engine's "
                         f"counter-based stream, bit-identical to theory_bench.minimize), got {noise!r}")
    return noise


def noise_key(seed):
    """The 64-bit noise key ``theory_bench.minimize`` uses for ``seed``."""
    return int(streams(seed)[1])


class CounterUniforms:
    """``u[t, i]`` of ``counter_rng`` for the coordinates ``offset .. offset + n`` of step ``t``."""

    def __init__(self, seed):
        self.key = np.uint64(noise_key(seed))

    def draw(self, t, offset, like):
        u = uniforms(self.key, t, like.numel(), offset)
        return torch.from_numpy(u).to(device=like.device, dtype=like.dtype).view_as(like)


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

    def draw(self, t, offset, like):
        return torch.rand(like.shape, generator=self.generator(like.device), device=like.device, dtype=like.dtype)

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
