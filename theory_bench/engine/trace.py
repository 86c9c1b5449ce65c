"""What a run returns: the iterates, their running average and the state at the checkpoints."""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Trace:
    """One run of ``theory_bench.engine.minimize``.

    ``x`` is the iterate after ``T`` steps and ``x_avg = mean(x_1..x_T)``, the average of the
    points where the oracle was called. At checkpoint ``t[k]``: ``xs[k]`` is the iterate after
    ``t[k]`` steps, ``xs_avg[k]`` the average of the first ``t[k]`` iterates, ``state_sums[name][k]``
    the sum over coordinates of that state row (for StoSignSGD, ``sum_i G_{t,i}``), and, when a
    loss was given, ``losses[k] = loss(xs[k])`` and ``losses_avg[k] = loss(xs_avg[k])``; when a
    window was asked for, ``window[k]`` is the trajectory-window stationarity at step ``t[k]``.
    """

    x: np.ndarray
    x_avg: np.ndarray
    t: np.ndarray
    xs: np.ndarray
    xs_avg: np.ndarray
    state: dict
    state_sums: dict
    optimizer: dict
    seed: object
    T: int
    path: str
    wall_s: float
    compile_s: float
    losses: np.ndarray | None = None
    losses_avg: np.ndarray | None = None
    window: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def envelope_sum(self):
        """``sum_i G_{t,i}`` at the checkpoints, for optimizers with an envelope ``G``."""
        if "G" not in self.state_sums:
            raise AttributeError(f"{self.optimizer['optimizer']} keeps no envelope G; "
                                 f"its state rows are {sorted(self.state_sums)}")
        return self.state_sums["G"]
