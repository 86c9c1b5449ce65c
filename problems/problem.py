"""What every problem of the catalogue is: oracles, loss, box, bound ``L`` and an optimum.

A ``Problem`` bundles numba functions with the data they read (``args``), in the conventions of
``theory_bench.minimize``: ``oracle(x, rng, *args)`` a stochastic subgradient (one sample or a
minibatch), ``full_oracle(x, *args)`` a subgradient of the whole objective, ``loss_fn(x, *args)``
the objective. ``L[i]`` bounds ``|g_i|`` for every output of ``oracle`` on the box.
Online adversaries (``online=True``) also keep a tape of the rounds; see ``problems.online``.
"""
from dataclasses import dataclass, field

import numpy as np



@dataclass(eq=False)
class Problem:
    name: str
    oracle: object
    full_oracle: object
    loss_fn: object
    args: tuple
    lo: np.ndarray
    hi: np.ndarray
    L: np.ndarray
    x0: np.ndarray
    convex: bool
    smooth: bool
    params: dict
    solve: object = None            # () -> (x_star, f_star), uncached; None when unknown
    lr: float = 0.1                 # a step size at which the default optimizers behave
    notes: str = ""
    extra: dict = field(default_factory=dict)
    online: bool = False

    @property
    def d(self):
        return self.x0.shape[0]

    @property
    def box(self):
        """``(lo, hi)`` arrays; ``+-inf`` where a coordinate is unconstrained."""
        return self.lo, self.hi

    def loss(self, x):
        return float(self.loss_fn(np.asarray(x, dtype=np.float64), *self.args))

    def grad(self, x, rng):
        return self.oracle(np.asarray(x, dtype=np.float64), rng, *self.args)

    def full_grad(self, x):
        return self.full_oracle(np.asarray(x, dtype=np.float64), *self.args)

    def optimum(self):
        """``(x_star, f_star)``, cached on disk by a hash of the instance (``problems.optimum``)."""
        if self.solve is None:
            raise ValueError(f"problem {self.name!r} has no known optimum (it is non-convex); "
                             "use a stationarity measure instead")
        from problems.optimum import cached_optimum
        return cached_optimum(self)

    def minimize(self, optimizer, T, *, seed=0, x0=None, checkpoints=None):
        """``theory_bench.minimize`` on this problem: its oracle, data, box and loss. ``optimizer``
        is one of ours or a user's own (``theory_bench.protocol``).

        For an online adversary the trace's ``extra`` also holds ``cum_loss``, ``hindsight`` and
        ``regret`` at the checkpoints (``problems.online``).
        """
        if self.online:
            from problems.online import run_online
            return run_online(self, optimizer, T, seed=seed, x0=x0, checkpoints=checkpoints)
        from theory_bench.protocol import minimize_any
        x0 = self.x0 if x0 is None else x0
        return minimize_any(optimizer, self.oracle, x0, T, args=self.args, seed=seed, box=self.box,
                            loss=self.loss_fn, checkpoints=checkpoints)

    def describe(self):
        kind = ("convex" if self.convex else "non-convex") + (", smooth" if self.smooth else ", non-smooth")
        return f"{self.name}: d={self.d}, {kind}" + ("; online" if self.online else "")


def box_arrays(lo, hi, d):
    """Per-coordinate bounds from scalars or arrays, checked: ``lo < hi`` everywhere."""
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (d,)).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (d,)).copy()
    bad = np.flatnonzero(~(lo < hi))
    if bad.size:
        i = bad[0]
        raise ValueError(f"box needs lo < hi in every coordinate, got lo[{i}]={lo[i]} >= hi[{i}]={hi[i]}")
    return lo, hi


def positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def nonnegative(name, value):
    v = float(value)
    if not v >= 0 or not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def in_range(name, value, lo, hi, closed=(False, False)):
    v = float(value)
    ok = (v >= lo if closed[0] else v > lo) and (v <= hi if closed[1] else v < hi)
    if not ok or not np.isfinite(v):
        lb, rb = "[" if closed[0] else "(", "]" if closed[1] else ")"
        raise ValueError(f"{name} must be in {lb}{lo}, {hi}{rb}, got {value!r}")
    return v
