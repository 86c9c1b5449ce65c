"""The pieces a converted sign kernel is made of, and its two templates (docs/theory.md §2.2).

A converted kernel is one of the two templates below with its globals bound by
``theory_bench.engine.codegen.compile_bound``: the base optimizer's direction (``PREP``, ``DIRECTION``,
``DECAY``, from ``theory_bench.optimizers.direction``), an envelope, a noise, and the constants
``NB`` (how many base hyperparameters come first in ``h``), ``ROW_B`` (the state row that holds
the envelope, after the base's rows) and ``SCALED``. Numba compiles the bound constants in, so
each variant is its own branch-free kernel.

- ``coordinate_step``: per-coordinate envelopes, one pass over memory (like StoSignSGD's kernel).
  ``ENVELOPE(B_prev, |u|, beta, C) -> B``.
- ``vector_step``: a scalar envelope of the whole direction (``norm_inf``, ``norm_2``), two passes:
  the first computes ``u`` (parked in the envelope row) and its norm, the second steps.
  ``NORM_ADD(acc, |u|)`` accumulates, ``NORM_END(acc) -> B``.

Both step ``x <- x - eta_t (s + lam x)`` with ``s = sign(u + B n)`` (or ``B sign(u + B n)`` when
scaled) and leave the envelope used at this step in row ``ROW_B``.
"""
import math

from numba import njit

from theory_bench.engine.counter_rng import step_key, uniform01
from theory_bench.optimizers.signs import sign

__all__ = ["step_key", "uniform01", "sign", "math"]

PREP = DIRECTION = DECAY = ENVELOPE = NORM_ADD = NORM_END = NOISE = None  # bound per variant
NB = ROW_B = 0
SCALED = False


# --- envelopes B_t, per coordinate: B_t >= |u_t| except for a too-small constant ---
@njit(cache=True, inline="always")
def envelope_max(B, au, beta, C):
    """Running max ``B <- max(B, |u|)`` (StoSignSGD's ``G``)."""
    return max(B, au)


@njit(cache=True, inline="always")
def envelope_decayed_max(B, au, beta, C):
    """``B <- max(beta B, |u|)``: forgets old peaks, still ``>= |u|``."""
    return max(beta * B, au)


@njit(cache=True, inline="always")
def envelope_constant(B, au, beta, C):
    """A fixed ``C``: unbiased only while ``C >= |u|``."""
    return C


@njit(cache=True, inline="always")
def envelope_current(B, au, beta, C):
    """The current ``|u|``: ``sign(u + |u| n) = sign(u)``, plain sign."""
    return au


# --- scalar envelopes, accumulated over the coordinates ---
@njit(cache=True, inline="always")
def norm_inf_add(acc, au):
    return max(acc, au)


@njit(cache=True, inline="always")
def norm_inf_end(acc):
    """``||u||_inf`` (Jin et al.)."""
    return acc


@njit(cache=True, inline="always")
def norm_2_add(acc, au):
    return acc + au * au


@njit(cache=True, inline="always")
def norm_2_end(acc):
    """``||u||_2`` (Safaryan and Richtarik)."""
    return math.sqrt(acc)


# --- noise n_{t,i}, a pure function of (key, t, i) ---
@njit(cache=True, inline="always")
def noise_uniform(kt, i):
    """``n = 2u - 1 ~ U[-1, 1)``: ``E sign(a + B n) = a / B`` for ``|a| <= B`` (section 2.1)."""
    return 2.0 * uniform01(kt, i) - 1.0


@njit(cache=True, inline="always")
def noise_gaussian(kt, i):
    """``n ~ N(0, 1)`` by Box-Muller from two uniforms: ``E sign(a + B n) = erf(a / (sqrt(2) B))``."""
    u1 = uniform01(kt, 2 * i)
    u2 = uniform01(kt, 2 * i + 1)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True, inline="always")
def noise_none(kt, i):
    """No noise: plain ``sign(u)``."""
    return 0.0


# --- the templates ---
def coordinate_step(x, g, S, h, lr, t, key):
    pre = PREP(h, t)
    dec = DECAY(h)
    beta, C = h[NB], h[NB + 1]
    kt = step_key(key, t)
    for i in range(x.shape[0]):
        xi = x[i]
        ui = DIRECTION(g[i], xi, S, i, h, pre)
        Bi = ENVELOPE(S[ROW_B, i], abs(ui), beta, C)
        S[ROW_B, i] = Bi
        s = sign(ui + Bi * NOISE(kt, i))
        if SCALED:
            s = Bi * s
        x[i] = xi - lr * (s + dec * xi)


def vector_step(x, g, S, h, lr, t, key):
    pre = PREP(h, t)
    dec = DECAY(h)
    d = x.shape[0]
    acc = 0.0
    for i in range(d):
        ui = DIRECTION(g[i], x[i], S, i, h, pre)
        S[ROW_B, i] = ui
        acc = NORM_ADD(acc, abs(ui))
    B = NORM_END(acc)
    kt = step_key(key, t)
    for i in range(d):
        ui = S[ROW_B, i]
        S[ROW_B, i] = B
        s = sign(ui + B * NOISE(kt, i))
        if SCALED:
            s = B * s
        xi = x[i]
        x[i] = xi - lr * (s + dec * xi)
