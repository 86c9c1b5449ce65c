"""Diagonal AdaGrad (Duchi, Hazan, Singer 2011): ``v <- v + g^2``; ``x <- x - eta_t g / (sqrt(v) + eps)``.

The usual schedule for AdaGrad is ``"constant"``; the adaptivity is in ``v``.
"""
import math

from numba import njit

from theory_bench.engine.optimizer import Optimizer, positive
from theory_bench.optimizers.direction import Direction, no_decay, no_prep


@njit(cache=True, inline="always", error_model="numpy")
def adagrad_direction(gi, xi, S, i, h, pre):
    """``v <- v + g^2``; ``u = g / (sqrt(v) + eps)``, so ``|u| < 1``."""
    vi = S[0, i] + gi * gi
    S[0, i] = vi
    return gi / (math.sqrt(vi) + h[0])


@njit(cache=True, error_model="numpy")  # eps > 0: no zero-division branch, so it vectorises
def adagrad_step(x, g, S, h, lr, t, key):
    pre = no_prep(h, t)
    for i in range(x.shape[0]):
        x[i] -= lr * adagrad_direction(g[i], x[i], S, i, h, pre)


class AdaGrad(Optimizer):
    summary = "diagonal AdaGrad, x <- x - eta_t g / (sqrt(sum g^2) + eps)"
    name = "AdaGrad"
    state_names = ("v",)
    hyper_names = ("eps",)
    kernel = staticmethod(adagrad_step)

    def __init__(self, lr, schedule="constant", eps=1e-10):
        super().__init__(lr, schedule)
        self.eps = positive("eps", eps)

    def direction(self):
        return Direction("g / (sqrt(sum g^2) + eps)", no_prep, adagrad_direction, no_decay, ("v",))
