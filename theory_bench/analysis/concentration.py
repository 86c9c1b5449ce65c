"""Bernstein's inequality: how far a mean of bounded i.i.d. draws may stray from its expectation."""
import numpy as np


def bernstein_radius(var, n, delta, bound):
    """``eps`` with ``P(|mean - E| > eps) <= delta`` for ``n`` i.i.d. draws of variance ``var`` whose
    deviation from their mean is at most ``bound`` (arrays broadcast, one radius per entry)."""
    L = np.log(2.0 / delta)
    b = np.asarray(bound, dtype=np.float64) * L / 3
    return (b + np.sqrt(b ** 2 + 2 * n * np.asarray(var, dtype=np.float64) * L)) / n
