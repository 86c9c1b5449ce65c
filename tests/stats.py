"""Thresholds for the statistical tests, derived from the variance (Bernstein's inequality)."""
import math


def bernstein_radius(var, n, delta, bound):
    """``eps`` with ``P(|mean - E| > eps) <= delta`` for ``n`` i.i.d. draws of variance ``var``
    whose deviation from the mean is at most ``bound``."""
    L = math.log(2.0 / delta)
    return (bound * L / 3 + math.sqrt((bound * L / 3) ** 2 + 2 * n * var * L)) / n
