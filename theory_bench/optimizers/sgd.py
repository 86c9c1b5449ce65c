"""Projected (sub)gradient descent, optionally with heavy-ball momentum (THEORY.md section 2).

``m <- b m + (1 - b) g``; ``x <- x - eta_t m``. With ``momentum=0`` this is ``x <- x - eta_t g``.
"""
from numba import njit

from theory_bench.optimizers.base import Optimizer, unit_interval


@njit(cache=True)
def sgd_step(x, g, S, h, lr, t, key):
    b = h[0]
    if b == 0.0:
        for i in range(x.shape[0]):
            x[i] -= lr * g[i]
        return
    m = S[0]
    for i in range(x.shape[0]):
        m[i] = b * m[i] + (1.0 - b) * g[i]
        x[i] -= lr * m[i]


class SGD(Optimizer):
    summary = "projected subgradient descent, x <- P(x - eta_t m), heavy-ball m optional"
    name = "SGD"
    state_names = ("m",)
    hyper_names = ("momentum",)
    kernel = staticmethod(sgd_step)

    def __init__(self, lr, schedule="inv_sqrt", momentum=0.0):
        super().__init__(lr, schedule)
        self.momentum = unit_interval("momentum", momentum)
