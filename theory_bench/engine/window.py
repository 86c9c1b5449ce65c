"""The trajectory-window stationarity measure, computed inside the run loop (docs/theory.md §4).

The window holds the iterates since the last restart; it restarts whenever an iterate leaves the
``l_p`` ball of radius ``delta / 2`` around the window's first iterate, so all its iterates are
within ``delta`` of each other and the average (sub)gradient over it lies in Goldstein's
``delta``-subdifferential of the last one (for exact gradients; stochastic ones add their noise,
averaged over the window). ``theory_bench.analysis.stationarity`` has the sampled measure.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def norm(v, q):
    if q == 1.0:
        return np.abs(v).sum()
    if q == 2.0:
        return np.sqrt(v @ v)
    return np.abs(v).max()


@njit(cache=True)
def window_step(win, anchor, gsum, x, g):
    """Add ``(x, g)`` to the window, restarting it at ``x`` when ``x`` left the ball of radius
    ``delta / 2`` around ``anchor``. ``win = [delta, p, q, count]``."""
    if win[3] == 0.0 or norm(x - anchor, win[1]) > 0.5 * win[0]:
        anchor[:] = x
        gsum[:] = 0.0
        win[3] = 0.0
    gsum += g
    win[3] += 1.0


@njit(cache=True)
def window_value(win, gsum):
    return norm(gsum / win[3], win[2])
