"""Plain numpy versions of every optimizer update, written straight from docs/theory.md §2.

They are the yardstick of the kernels: the tests compare each numba kernel with its reference
here on random inputs, and ``theory-bench bench`` times them as the numpy-vectorised baseline.
Each takes ``(x, g, S, h, lr, t, u)`` like a kernel (``u``: the uniforms in ``[0, 1)`` of the
step, for the randomised ones) and returns the new ``(x, S)`` without touching its inputs.
"""
import numpy as np


# --- the directions u of the bases (section 2.2): (u, new state); a base steps x - eta (u + lam x) ---
def _u_gradient(x, g, S, h, t):
    return g, S.copy()


def _u_heavy_ball(x, g, S, h, t):
    m = h[0] * S[0] + (1 - h[0]) * g
    return m, np.stack([m])


def _u_adagrad(x, g, S, h, t):
    v = S[0] + g * g
    return g / (np.sqrt(v) + h[0]), np.stack([v])


def _u_adam(x, g, S, h, t):
    b1, b2, eps, wd, decoupled = h
    g = g + wd * (1 - decoupled) * x
    m = b1 * S[0] + (1 - b1) * g
    v = b2 * S[1] + (1 - b2) * g * g
    return (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), np.stack([m, v])


def _adam_decay(h):
    """AdamW's decoupled weight decay ``lam`` (0 for Adam)."""
    return h[3] * h[4]


_DIRECTIONS = {"gradient": _u_gradient, "heavy_ball": _u_heavy_ball, "adagrad_direction": _u_adagrad,
               "adam_direction": _u_adam}


def sgd(x, g, S, h, lr, t, u=None):
    m, S = (_u_heavy_ball if h[0] else _u_gradient)(x, g, S, h, t)
    return x - lr * m, S


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
    step, S = _u_adagrad(x, g, S, h, t)
    return x - lr * step, S


def adam(x, g, S, h, lr, t, u=None):
    step, S = _u_adam(x, g, S, h, t)
    return x - lr * (step + _adam_decay(h) * x), S


def lion(x, g, S, h, lr, t, u=None):
    b1, b2, lam = h
    c = b1 * S[0] + (1 - b1) * g
    return x - lr * (np.sign(c) + lam * x), np.stack([b2 * S[0] + (1 - b2) * g])


_BY_KERNEL = {
    "sgd_step": sgd, "signsgd_step": signsgd, "signum_step": signum, "ef_signsgd_step": ef_signsgd,
    "stosign_theory_step": stosign_theory, "stosign_practical_step": stosign_practical,
    "adagrad_step": adagrad, "adam_step": adam, "lion_step": lion,
}


# --- sign conversion (section 2.2): the base's direction u (above), an envelope B, noise n ---
_ENVELOPES = {
    "max": lambda B, a, beta, C: np.maximum(B, a),
    "decayed_max": lambda B, a, beta, C: np.maximum(beta * B, a),
    "constant": lambda B, a, beta, C: np.full_like(a, C),
    "current": lambda B, a, beta, C: a,
    "norm_inf": lambda B, a, beta, C: np.full_like(a, a.max()),
    "norm_2": lambda B, a, beta, C: np.full_like(a, np.sqrt((a * a).sum())),
}


def _noise(kind, u, d):
    if kind == "uniform":
        return 2 * u[:d] - 1
    if kind == "gaussian":  # Box-Muller on the uniforms 2i and 2i+1
        return np.sqrt(-2 * np.log(1 - u[0:2 * d:2])) * np.cos(2 * np.pi * u[1:2 * d:2])
    return np.zeros(d)


def sign_converted(opt):
    """The reference of ``sign_convert(base, ...)``: ``x - eta (s + lam x)``, ``s = sign(u + B n)``
    (times ``B`` when scaled), with ``u`` the base's direction written out again here."""
    direction = _DIRECTIONS[opt.base.direction().direction.py_func.__name__]
    nb = len(opt.base.hyper_names)

    def step(x, g, S, h, lr, t, u=None):
        hb, beta, C = h[:nb], h[nb], h[nb + 1]
        ud, Sb = direction(x, g, S[:-1], hb, t)
        B = _ENVELOPES[opt.envelope](S[-1], np.abs(ud), beta, C)
        s = np.sign(ud + B * _noise(opt.noise, u, x.size))
        if opt.scaled:
            s = B * s
        lam = _adam_decay(hb) if direction is _u_adam else 0.0
        return x - lr * (s + lam * x), np.concatenate([Sb, B[None]])
    return step


def reference_for(optimizer):
    """The numpy reference of ``optimizer``'s kernel."""
    if getattr(optimizer, "base", None) is not None:
        return sign_converted(optimizer)
    return _BY_KERNEL[optimizer.kernel.py_func.__name__]


def noise_draws(optimizer, d):
    """How many uniforms of its step the kernel reads in dimension ``d`` (0, ``d`` or ``2d``)."""
    if getattr(optimizer, "base", None) is not None:
        return {"uniform": d, "gaussian": 2 * d, "none": 0}[optimizer.noise]
    return d if optimizer.kernel.py_func.__name__.startswith("stosign") else 0
