"""Plain numpy versions of every optimizer update, written straight from THEORY.md section 2.

They are the yardstick of the kernels: the tests compare each numba kernel with its reference
here on random inputs, and ``theory-bench bench`` times them as the numpy-vectorised baseline.
Each takes ``(x, g, S, h, lr, t, u)`` like a kernel (``u``: the uniforms in ``[0, 1)`` of the
step, for the randomised ones) and returns the new ``(x, S)`` without touching its inputs.
"""
import numpy as np


def sgd(x, g, S, h, lr, t, u=None):
    b = h[0]
    m = b * S[0] + (1 - b) * g if b else g
    return x - lr * m, (np.stack([m]) if b else S.copy())


def signsgd(x, g, S, h, lr, t, u=None):
    return x - lr * np.sign(g), S.copy()


def signum(x, g, S, h, lr, t, u=None):
    m = h[0] * S[0] + (1 - h[0]) * g
    return x - lr * np.sign(m), np.stack([m])


def ef_signsgd(x, g, S, h, lr, t, u=None):
    p = lr * g + S[0]
    D = np.abs(p).sum() / p.size * np.sign(p)
    return x - D, np.stack([p - D])


def stosign_theory(x, g, S, h, lr, t, u):
    G = np.maximum(S[0], np.abs(g))
    return x - lr * np.sign(g + G * (2 * u - 1)), np.stack([G])


def stosign_practical(x, g, S, h, lr, t, u):
    b1, lam = h
    m = b1 * S[0] + (1 - b1) * g
    G = np.maximum(S[1], np.abs(m))
    return x - lr * np.sign(m + G * (2 * u - 1)) - lr * lam * x, np.stack([m, G])


def adagrad(x, g, S, h, lr, t, u=None):
    v = S[0] + g * g
    return x - lr * g / (np.sqrt(v) + h[0]), np.stack([v])


def adam(x, g, S, h, lr, t, u=None):
    b1, b2, eps, wd, decoupled = h
    if not decoupled:
        g = g + wd * x
    m = b1 * S[0] + (1 - b1) * g
    v = b2 * S[1] + (1 - b2) * g * g
    step = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    if decoupled:
        step = step + wd * x
    return x - lr * step, np.stack([m, v])


def lion(x, g, S, h, lr, t, u=None):
    b1, b2, lam = h
    c = b1 * S[0] + (1 - b1) * g
    return x - lr * (np.sign(c) + lam * x), np.stack([b2 * S[0] + (1 - b2) * g])


_BY_KERNEL = {
    "sgd_step": sgd, "signsgd_step": signsgd, "signum_step": signum, "ef_signsgd_step": ef_signsgd,
    "stosign_theory_step": stosign_theory, "stosign_practical_step": stosign_practical,
    "adagrad_step": adagrad, "adam_step": adam, "lion_step": lion,
}


def reference_for(optimizer):
    """The numpy reference of ``optimizer``'s kernel."""
    return _BY_KERNEL[optimizer.kernel.py_func.__name__]


def uses_noise(optimizer):
    return optimizer.kernel.py_func.__name__.startswith("stosign")
