"""Lion (Chen et al. 2023; docs/theory.md §2), the paper's other sign-based baseline.

``c = b1 m + (1-b1) g``; ``x <- x - eta_t (sign(c) + lam x)``; ``m <- b2 m + (1-b2) g``.
"""
from numba import njit

from theory_bench.engine.optimizer import Optimizer, nonnegative, unit_interval
from theory_bench.optimizers.signs import sign


@njit(cache=True)
def lion_step(x, g, S, h, lr, t, key):
    b1, b2, lam = h[0], h[1], h[2]
    m = S[0]
    for i in range(x.shape[0]):
        gi = g[i]
        c = b1 * m[i] + (1.0 - b1) * gi
        x[i] -= lr * (sign(c) + lam * x[i])
        m[i] = b2 * m[i] + (1.0 - b2) * gi


class Lion(Optimizer):
    summary = "sign of an interpolated momentum, decoupled weight decay"
    name = "Lion"
    state_names = ("m",)
    hyper_names = ("beta1", "beta2", "weight_decay")
    kernel = staticmethod(lion_step)

    def __init__(self, lr, schedule="inv_sqrt", beta1=0.9, beta2=0.99, weight_decay=0.0):
        super().__init__(lr, schedule)
        self.beta1 = unit_interval("beta1", beta1)
        self.beta2 = unit_interval("beta2", beta2)
        self.weight_decay = nonnegative("weight_decay", weight_decay)
