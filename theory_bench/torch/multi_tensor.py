"""StoSignSGD's multi-tensor step on the CPU: a model's small tensors in one numba call.

A step over ``n`` tensors one by one costs ``n`` Python steps (about 35 us each here); for a model of
many small tensors that, not the arithmetic, is the step's time. The multi-tensor path keeps the
state of the small tensors of one param group and dtype in flat buffers (``FlatState``: each
``state[p]["step"]``, ``["G"]``, ``["m"]`` is a view of one), gathers the parameters and gradients
with one C++ call each, steps every tensor in one call of ``theory_bench.optimizers.stosign_segments``
(each on its slice, with its own key and step count: bit for bit the one-tensor step) and writes the
parameters back with one ``torch._foreach_copy_`` (which bumps their version counters). The gather
and scatter read and write each parameter twice more, so tensors above ``MULTI_MAX`` elements step
one by one, in place. A ``load_state_dict`` (new state tensors) or a changed parameter list is
noticed by identity and the flat buffers rebuilt from the state, after the full state checks.
"""
import numpy as np
import torch

from theory_bench.optimizers.stosign_segments import (practical_segments32, practical_segments64,
                                                      theory_segments32, theory_segments64)
from theory_bench.torch.gradient_checks import first_bad
from theory_bench.torch.noise import param_keys

MULTI_MAX = 2 ** 16


def flatten(tensors):
    return torch._C._nn.flatten_dense_tensors(tensors)


def unflatten(flat, like):
    return torch._C._nn.unflatten_dense_tensors(flat, like)


class FlatState:
    """The state entries ``names`` of ``params`` in flat buffers, ``state[p][name]`` a view of one."""

    def __init__(self, params, states, names, ks):
        self.params, self.shapes, self.ks = list(params), [p.shape for p in params], np.array(ks, dtype=np.int64)
        self.flats, self.views, self.keys = {}, {}, (None, None)
        for name in names:
            flat = flatten([s[name] for s in states])
            views = unflatten(flat, [s[name] for s in states])
            for s, v in zip(states, views):
                s[name] = v
            self.flats[name], self.views[name] = flat, views

    def holds(self, params, states, names):
        """Still these parameters, of these shapes, with this state (identity: a load replaces it)."""
        return (len(params) == len(self.params) and all(a is b for a, b in zip(params, self.params))
                and set(names) == set(self.flats) and [p.shape for p in params] == self.shapes
                and all(s[n] is v for n in names for s, v in zip(states, self.views[n])))

    def keys_for(self, key):
        if self.keys[0] != key:
            self.keys = (key, param_keys(np.uint64(key), self.ks))
        return self.keys[1]

    def segment_of(self, i):
        """The index of the tensor that flat element ``i`` belongs to."""
        offsets = np.cumsum([0] + [int(np.prod(s)) for s in self.shapes])
        return int(np.searchsorted(offsets, i, side="right")) - 1


def multi_step(flat, params, g, key, b1, wd, lr):
    """One step of the tensors ``params`` (their flat state ``flat``, their flattened gradient ``g``);
    returns the index of the first tensor that became non-finite, or -1."""
    steps = flat.flats["step"]
    steps += 1
    x = flatten(params)
    sizes = np.array([0] + [p.numel() for p in params], dtype=np.int64)
    offsets, t = np.cumsum(sizes), steps.numpy().astype(np.int64)
    keys, G = flat.keys_for(key), flat.flats["G"]
    single = x.dtype == torch.float32
    if "m" in flat.flats:
        m = flat.flats["m"]
        (practical_segments32 if single else practical_segments64)(
            x.numpy(), g.numpy(), m.numpy(), G.numpy(), offsets, keys, t, b1, wd, lr)
        torch.autograd.graph.increment_version(m)           # the views share the buffer's version counter
    else:
        (theory_segments32 if single else theory_segments64)(x.numpy(), g.numpy(), G.numpy(), offsets, keys, t, lr)
    torch.autograd.graph.increment_version(G)
    torch._foreach_copy_(params, unflatten(x, params))
    i = first_bad(x)
    return -1 if i < 0 else flat.segment_of(i)
