"""Diagonal AdaGrad (Duchi, Hazan, Singer 2011): ``v <- v + g^2``; ``x <- x - eta_t g / (sqrt(v) + eps)``.

The usual schedule for AdaGrad is ``"constant"``; the adaptivity is in ``v``.
"""
import math

from numba import njit

from theory_bench.optimizers.base import Optimizer, positive


@njit(cache=True, error_model="numpy")  # eps > 0: no zero-division branch, so it vectorises
def adagrad_step(x, g, S, h, lr, t, key):
    eps = h[0]
    v = S[0]
    for i in range(x.shape[0]):
        gi = g[i]
        v[i] += gi * gi
        x[i] -= lr * gi / (math.sqrt(v[i]) + eps)


class AdaGrad(Optimizer):
    summary = "diagonal AdaGrad, x <- x - eta_t g / (sqrt(sum g^2) + eps)"
    name = "AdaGrad"
    state_names = ("v",)
    hyper_names = ("eps",)
    kernel = staticmethod(adagrad_step)

    def __init__(self, lr, schedule="constant", eps=1e-10):
        super().__init__(lr, schedule)
        self.eps = positive("eps", eps)
