"""SignSGD (docs/theory.md §2): ``x <- x - eta_t sign(g)``, with ``sign(0) = 0``."""
from numba import njit

from theory_bench.engine.optimizer import Optimizer
from theory_bench.optimizers.signs import plain_sign, sign


@njit(cache=True)
def signsgd_step(x, g, S, h, lr, t, key):
    for i in range(x.shape[0]):
        x[i] -= lr * sign(g[i])


class SignSGD(Optimizer):
    summary = "x <- P(x - eta_t sign(g)), one bit per coordinate"
    name = "SignSGD"
    kernel = staticmethod(signsgd_step)
    sign_operator = staticmethod(plain_sign)
