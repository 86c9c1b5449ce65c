"""Signum (Bernstein et al. 2018; docs/theory.md §2): ``m <- b m + (1-b) g``; ``x <- x - eta_t sign(m)``."""
from numba import njit

from theory_bench.engine.optimizer import Optimizer, unit_interval
from theory_bench.optimizers.signs import sign


@njit(cache=True)
def signum_step(x, g, S, h, lr, t, key):
    b = h[0]
    m = S[0]
    for i in range(x.shape[0]):
        m[i] = b * m[i] + (1.0 - b) * g[i]
        x[i] -= lr * sign(m[i])


class Signum(Optimizer):
    summary = "SignSGD on the momentum m <- b m + (1-b) g"
    name = "Signum"
    state_names = ("m",)
    hyper_names = ("beta",)
    kernel = staticmethod(signum_step)

    def __init__(self, lr, schedule="inv_sqrt", beta=0.9):
        super().__init__(lr, schedule)
        self.beta = unit_interval("beta", beta)
