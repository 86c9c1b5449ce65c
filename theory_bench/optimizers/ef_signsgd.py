"""EF-SignSGD, SignSGD with error feedback (Karimireddy et al. 2019; docs/theory.md §2).

``p = eta_t g + e``; ``D = (||p||_1 / d) sign(p)``; ``x <- x - D``; ``e <- p - D``.
"""
from numba import njit

from theory_bench.engine.optimizer import Optimizer
from theory_bench.optimizers.signs import sign


@njit(cache=True)
def ef_signsgd_step(x, g, S, h, lr, t, key):
    e = S[0]
    d = x.shape[0]
    norm1 = 0.0
    for i in range(d):
        e[i] += lr * g[i]          # e now holds p
        norm1 += abs(e[i])
    scale = norm1 / d
    for i in range(d):
        D = scale * sign(e[i])
        x[i] -= D
        e[i] -= D                  # e <- p - D


class EFSignSGD(Optimizer):
    summary = "scaled sign of eta_t g plus the error carried from the last step"
    name = "EF-SignSGD"
    state_names = ("e",)
    kernel = staticmethod(ef_signsgd_step)
