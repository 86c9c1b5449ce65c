"""StoSignSGD over many tensors laid end to end: one call for a model's small tensors.

Segment ``j`` is ``[offsets[j], offsets[j + 1])`` of the flat arrays, a tensor of its own with its
own noise key ``keys[j]`` and step count ``steps[j]``; each is stepped by the one-tensor kernel on
its slice, so a segment's result is bit for bit the one-tensor step's (coordinates counted from 0
in every segment). ``theory_bench.torch.multi_tensor`` gathers the tensors, calls these and
scatters the result back: one numba call instead of one Python step per tensor.
"""
from numba import njit

from theory_bench.optimizers.stosign_single import stosign_practical_core32, stosign_theory_core32
from theory_bench.optimizers.stosignsgd import stosign_practical_core, stosign_theory_core


@njit(cache=True)
def theory_segments32(x, g, G, offsets, keys, steps, lr):
    for j in range(keys.shape[0]):
        lo, hi = offsets[j], offsets[j + 1]
        stosign_theory_core32(x[lo:hi], g[lo:hi], G[lo:hi], lr, steps[j], keys[j])


@njit(cache=True)
def theory_segments64(x, g, G, offsets, keys, steps, lr):
    for j in range(keys.shape[0]):
        lo, hi = offsets[j], offsets[j + 1]
        stosign_theory_core(x[lo:hi], g[lo:hi], G[lo:hi], lr, steps[j], keys[j])


@njit(cache=True)
def practical_segments32(x, g, m, G, offsets, keys, steps, b1, lam, lr):
    for j in range(keys.shape[0]):
        lo, hi = offsets[j], offsets[j + 1]
        stosign_practical_core32(x[lo:hi], g[lo:hi], m[lo:hi], G[lo:hi], b1, lam, lr, steps[j], keys[j])


@njit(cache=True)
def practical_segments64(x, g, m, G, offsets, keys, steps, b1, lam, lr):
    for j in range(keys.shape[0]):
        lo, hi = offsets[j], offsets[j + 1]
        stosign_practical_core(x[lo:hi], g[lo:hi], m[lo:hi], G[lo:hi], b1, lam, lr, steps[j], keys[j])
