"""Projected (sub)gradient descent, optionally with heavy-ball momentum (docs/theory.md §2).

``m <- b m + (1 - b) g``; ``x <- x - eta_t m``. With ``momentum=0`` this is ``x <- x - eta_t g``.
"""
from numba import njit

from theory_bench.engine.optimizer import Optimizer, unit_interval
from theory_bench.optimizers.direction import Direction, gradient, no_decay, no_prep


@njit(cache=True, inline="always")
def heavy_ball(gi, xi, S, i, h, pre):
    """``m <- b m + (1 - b) g``; ``u = m`` (section 2.2's heavy-ball direction)."""
    b = h[0]
    mi = b * S[0, i] + (1.0 - b) * gi
    S[0, i] = mi
    return mi


@njit(cache=True)
def sgd_step(x, g, S, h, lr, t, key):
    if h[0] == 0.0:
        for i in range(x.shape[0]):
            x[i] -= lr * g[i]
        return
    pre = no_prep(h, t)
    for i in range(x.shape[0]):
        x[i] -= lr * heavy_ball(g[i], x[i], S, i, h, pre)


class SGD(Optimizer):
    summary = "projected subgradient descent, x <- P(x - eta_t m), heavy-ball m optional"
    name = "SGD"
    state_names = ("m",)
    hyper_names = ("momentum",)
    kernel = staticmethod(sgd_step)

    def __init__(self, lr, schedule="inv_sqrt", momentum=0.0):
        super().__init__(lr, schedule)
        self.momentum = unit_interval("momentum", momentum)

    def direction(self):
        """``u = g``, or the heavy-ball ``m`` when ``momentum > 0`` (for ``sign_convert``)."""
        if self.momentum == 0.0:
            return Direction("g", no_prep, gradient, no_decay, ())
        return Direction("m = b m + (1-b) g (heavy ball)", no_prep, heavy_ball, no_decay, ("m",))
