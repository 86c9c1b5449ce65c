"""What every problem of the catalogue is: oracles, loss, box, bound ``L`` and an optimum.

A ``Problem`` bundles numba functions with the data they read (``args``), in the conventions of
``theory_bench.engine.minimize``: ``oracle(x, rng, *args)`` a stochastic subgradient (one sample or a
minibatch), ``full_oracle(x, *args)`` a subgradient of the whole objective, ``loss_fn(x, *args)``
the objective. ``L[i]`` bounds ``|g_i|`` for every output of ``oracle`` on the box.
Online adversaries (``problems.online.OnlineProblem``) also keep a tape of the rounds.
"""
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from theory_bench.analysis.bounds import online_to_batch_gap, stosign_regret_upper
from theory_bench.engine.precision import FORMATS
from theory_bench.engine.protocol import minimize_any


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
    tolerance: object = None        # T -> (tol, why): the default of assert_converges, where known

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
        from theory_bench.problems.optimum import cached_optimum     # cvxpy loads only when needed
        return cached_optimum(self)

    def default_tolerance(self, T):
        """``(tol, why)``: the gap an optimizer must reach in ``T`` steps when no ``tol`` is given.

        A problem with a known failure floor carries its own (counterexample 1: a fraction of
        SignSGD's floor; Nesterov's function: a fraction of the gap no span method reduces in
        ``d - 1`` steps). Otherwise, on a bounded box, StoSignSGD's online-to-batch bound with
        ``G = L`` (docs/theory.md §3.1). An unbounded box with no known floor has no default.
        """
        if self.tolerance is not None:
            return self.tolerance(T)
        bound = self.batch_bound(T)
        if bound is None:
            raise ValueError(f"problem {self.name!r} has an unbounded box and no known failure floor, so there is "
                             "no default tolerance; pass tol=")
        return bound, (f"StoSignSGD's online-to-batch bound sqrt(2) w sum_i L_i / sqrt(T) with w = "
                       f"{self.width:g}, sum_i L_i = {self.L.sum():.4g} at T = {T} (docs/theory.md §3.1)")

    @property
    def width(self):
        """The largest box width ``max_i (hi_i - lo_i)``; ``inf`` on an unbounded box."""
        return float(np.max(self.hi - self.lo))

    def batch_bound(self, T):
        """StoSignSGD's online-to-batch gap bound ``sqrt(2) w sum_i L_i / sqrt(T)`` (``G = L``) at ``T``,
        or ``None`` on an unbounded box (docs/theory.md §3.1)."""
        if not math.isfinite(self.width):
            return None
        return float(online_to_batch_gap(stosign_regret_upper(T, self.L.sum(), self.width), T))

    def minimize(self, optimizer, T, *, seed=0, x0=None, checkpoints=None, precision=None):
        """``theory_bench.engine.minimize`` on this problem: its oracle, data, box and loss. ``optimizer``
        is one of ours or a user's own (``theory_bench.engine.protocol``); ``precision`` a
        ``theory_bench.precision.Precision`` (a warning if its gradient format cannot hold ``L``).

        For an online adversary the trace's ``extra`` also holds ``cum_loss``, ``hindsight`` and
        ``regret`` at the checkpoints (``problems.online``).
        """
        self.check_precision(precision)
        x0 = self.x0 if x0 is None else x0
        return minimize_any(optimizer, self.oracle, x0, T, args=self.args, seed=seed, box=self.box,
                            loss=self.loss_fn, checkpoints=checkpoints, precision=precision)

    def check_precision(self, precision):
        """Warn, with the numbers, when the gradient format's largest value is below the bound ``L``."""
        if precision is None or getattr(precision, "scaling", "none") == "per_tensor":
            return
        fmt = FORMATS.get(getattr(precision, "grad", "fp64"))
        if fmt is not None and float(self.L.max()) > fmt.max:
            warnings.warn(f"{self.name}: gradients reach L = {float(self.L.max()):.4g}, beyond the largest "
                          f"{fmt.name} value {fmt.max:g}; they will {'saturate' if fmt.saturate else 'overflow to inf'}. "
                          "Use scaling='per_tensor' or a wider grad format", stacklevel=3)

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
