"""What every optimizer of the suite is: hyperparameters, state rows and one numba kernel.

A kernel has the one signature the run loop calls, ``kernel(x, g, S, h, lr, t, key)``:
``x`` the iterate (updated in place), ``g`` the subgradient, ``S`` the state as a
``(len(state_names), d)`` array (updated in place), ``h`` the hyperparameters as a float
array (``hyper_names`` order), ``lr`` this step's ``eta_t``, ``t`` the step (from 1) and
``key`` the run's noise key (``theory_bench.engine.counter_rng``). Projection onto the box is done
by the run loop after the kernel, so every algorithm is projected the same way.
"""
import math

import numpy as np

from theory_bench.engine.schedules import check_schedule


def positive(name, value):
    """A finite float > 0, or a ValueError that names the value."""
    v = _finite(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def nonnegative(name, value):
    v = _finite(name, value)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def unit_interval(name, value):
    """A momentum-like coefficient in ``[0, 1)``."""
    v = _finite(name, value)
    if not 0 <= v < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return v


def _finite(name, value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


class Optimizer:
    """Base class: subclasses set ``name``, ``state_names``, ``hyper_names`` and ``kernel``."""

    name = "optimizer"
    summary = ""
    state_names = ()
    hyper_names = ()
    kernel = None

    def __init__(self, lr, schedule="inv_sqrt"):
        self.lr = positive("lr", lr)
        self.schedule = check_schedule(schedule)

    @property
    def hyper(self):
        """The hyperparameters as the float array the kernel reads."""
        return np.array([float(getattr(self, n)) for n in self.hyper_names], dtype=np.float64)

    def init_state(self, x0):
        """Fresh state rows (all zero: momenta, envelopes ``G``, accumulators)."""
        return np.zeros((len(self.state_names), np.shape(x0)[0]), dtype=np.float64)

    def schedule_name(self):
        return self.schedule if isinstance(self.schedule, str) else getattr(self.schedule, "__name__", "callable")

    def config(self):
        """Name and every hyperparameter, for manifests and legends."""
        out = {"optimizer": self.name, "lr": self.lr, "schedule": self.schedule_name()}
        out.update({n: float(getattr(self, n)) for n in self.hyper_names})
        return out

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "optimizer")
        return f"{type(self).__name__}({args})"
