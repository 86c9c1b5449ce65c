"""The direction ``u_t`` a base optimizer proposes, one coordinate at a time (docs/theory.md §2.2).

A base optimizer steps ``x <- x - eta_t (u_t + lam x)`` with ``lam`` its decoupled weight decay
(zero except for AdamW). Its direction is three numba functions, shared by its own kernel and by
the sign conversion (``theory_bench.optimizers.sign_conversion``), so both use the same ``u_t``:

- ``prep(h, t) -> pre``: per-step constants (Adam's bias corrections), a pair of floats;
- ``direction(gi, xi, S, i, h, pre) -> ui``: updates the base state ``S[:, i]`` and returns ``u_{t,i}``;
- ``decay(h) -> lam``: the decoupled weight decay applied outside the direction.
"""
from typing import NamedTuple

from numba import njit


class Direction(NamedTuple):
    formula: str          # u_t in words, for docs and legends
    prep: object
    direction: object
    decay: object
    state_names: tuple    # the base state rows the direction reads and writes


@njit(cache=True, inline="always")
def no_prep(h, t):
    return 1.0, 1.0


@njit(cache=True, inline="always")
def no_decay(h):
    return 0.0


@njit(cache=True, inline="always")
def gradient(gi, xi, S, i, h, pre):
    """Plain (sub)gradient descent: ``u = g``."""
    return gi
