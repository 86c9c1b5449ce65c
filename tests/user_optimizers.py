"""Optimizers written by a "user" against the protocol init(x0) -> state, step(x, g, state, t, rng) -> x."""
import numpy as np
from numba import njit

from theory_bench.bench import PyStoSignSGD   # StoSignSGD as a plain Python class: the slow path
from theory_bench.optimizers import SignSGD
from theory_bench.testing_calibration import ScaledNoise


class GaussianStoSignSGD(PyStoSignSGD):
    """The broken variant: Gaussian noise, so E[sign(g + G n)] = erf(g / (sqrt(2) G)), not g / G."""
    name = "StoSignSGD (Gaussian noise)"

    def step(self, x, g, G, t, rng):
        np.maximum(G, np.abs(g), out=G)
        return x - self.lr / np.sqrt(t) * np.sign(g + G * rng.normal(size=x.shape))


class SignSGDPassedOff(SignSGD):
    """SignSGD under StoSignSGD's name: what a silent regression looks like."""
    name = "StoSignSGD"


@njit(cache=True)
def jit_init(x0):
    return np.zeros_like(x0), np.array([0.3])          # the envelope G and the step size


@njit(cache=True)
def jit_step(x, g, state, t, rng):
    G, lr = state
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        G[i] = max(G[i], abs(g[i]))
        v = g[i] + G[i] * (2.0 * rng.random() - 1.0)
        out[i] = x[i] - lr[0] / np.sqrt(t) * ((v > 0.0) - (v < 0.0))
    return out


class JitStoSignSGD:
    """The same, as numba functions: the fast path (one compiled call for the horizon)."""
    name = "JitStoSignSGD"
    init = staticmethod(jit_init)
    step = staticmethod(jit_step)


class NoStep:
    def init(self, x0):
        return None


class WrongShape(PyStoSignSGD):
    def step(self, x, g, G, t, rng):
        return np.append(x, 0.0)


class ReturnsList(PyStoSignSGD):
    def step(self, x, g, G, t, rng):
        return list(x)


class MakesNaN(PyStoSignSGD):
    def step(self, x, g, G, t, rng):
        return x + (np.nan if t >= 3 else 0.0)


class JitStoSignSGDLr(ScaledNoise):
    """A jitted StoSignSGD with its lr in the state (no recompile per lr); ``negated=True`` flips the noise."""
    name = "JitStoSignSGD"

    def __init__(self, lr, negated=False):
        super().__init__(lr, -1.0 if negated else 1.0)


class NoInit:
    name = "NoInit"

    def step(self, x, g, state, t, rng):
        return x
