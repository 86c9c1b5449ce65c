"""Skewed, zero-mean gradient noise (docs/theory.md §3.3.3): mean zero, median not.

``zeta = s (A - mu)`` w.p. ``q`` and ``s (-1 - mu)`` otherwise, ``mu = qA - (1-q)``: with the defaults
``q = 1/4, A = 4`` it is ``+3.75 s`` a quarter of the time and ``-1.25 s`` the rest, so
``E[zeta] = 0`` while ``P(zeta < 0) = 3/4``: a stochastic gradient ``g + zeta`` stays unbiased,
but ``E[sign(g + zeta)]`` points the wrong way wherever ``|g| < 1.25 s``.
"""
from numba import njit

Q, A = 0.25, 4.0
MU = Q * A - (1.0 - Q)
BOUND = max(A - MU, 1.0 + MU)          # |zeta| <= BOUND * s


@njit(cache=True)
def add_skewed_noise(g, rng, s):
    """``g += zeta`` coordinate-wise, i.i.d.; nothing is drawn when ``s == 0``."""
    if s == 0.0:
        return
    for i in range(g.shape[0]):
        g[i] += s * ((A if rng.random() < Q else -1.0) - MU)
