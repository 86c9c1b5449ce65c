"""Adam (Kingma and Ba 2015) and AdamW (Loshchilov and Hutter 2019), the textbook forms.

``m <- b1 m + (1-b1) g``; ``v <- b2 v + (1-b2) g^2``; ``u = m_hat / (sqrt(v_hat) + eps)`` with the
bias corrections ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``.
Adam: weight decay is coupled (``g <- g + wd x`` first); ``x <- x - eta_t u``.
AdamW: decoupled, ``x <- x - eta_t (u + wd x)``.
"""
import math

from numba import njit

from theory_bench.engine.optimizer import Optimizer, nonnegative, positive, unit_interval
from theory_bench.optimizers.direction import Direction


@njit(cache=True, inline="always")
def adam_prep(h, t):
    """The bias corrections ``(1 - b1^t, 1 - b2^t)``."""
    return 1.0 - h[0] ** t, 1.0 - h[1] ** t


@njit(cache=True, inline="always", error_model="numpy")
def adam_direction(gi, xi, S, i, h, pre):
    """``u = m_hat / (sqrt(v_hat) + eps)``, with Adam's coupled weight decay folded into ``g``."""
    b1, b2, eps, wd, decoupled = h[0], h[1], h[2], h[3], h[4]
    gi = gi + wd * (1.0 - decoupled) * xi
    mi = b1 * S[0, i] + (1.0 - b1) * gi
    vi = b2 * S[1, i] + (1.0 - b2) * gi * gi
    S[0, i] = mi
    S[1, i] = vi
    return (mi / pre[0]) / (math.sqrt(vi / pre[1]) + eps)


@njit(cache=True, inline="always")
def adam_decay(h):
    """AdamW's decoupled weight decay (0 for Adam)."""
    return h[3] * h[4]


@njit(cache=True, error_model="numpy")  # eps > 0: no zero-division branch, so it vectorises
def adam_step(x, g, S, h, lr, t, key):
    pre = adam_prep(h, t)
    dec = adam_decay(h)
    for i in range(x.shape[0]):
        xi = x[i]
        x[i] = xi - lr * (adam_direction(g[i], xi, S, i, h, pre) + dec * xi)


class Adam(Optimizer):
    summary = "Adam, bias-corrected, weight decay coupled into the gradient"
    name = "Adam"
    state_names = ("m", "v")
    hyper_names = ("beta1", "beta2", "eps", "weight_decay", "decoupled")
    kernel = staticmethod(adam_step)
    decoupled = 0.0

    def __init__(self, lr, schedule="constant", beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, schedule)
        self.beta1 = unit_interval("beta1", beta1)
        self.beta2 = unit_interval("beta2", beta2)
        self.eps = positive("eps", eps)
        self.weight_decay = nonnegative("weight_decay", weight_decay)

    def direction(self):
        return Direction("m_hat / (sqrt(v_hat) + eps)", adam_prep, adam_direction, adam_decay, ("m", "v"))


class AdamW(Adam):
    summary = "Adam with decoupled weight decay x <- x - eta_t (u + wd x)"
    name = "AdamW"
    decoupled = 1.0

    def __init__(self, lr, schedule="constant", beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
        super().__init__(lr, schedule, beta1, beta2, eps, weight_decay)
