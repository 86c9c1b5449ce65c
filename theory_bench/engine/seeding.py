"""The one randomness scheme of the suite.

A run's ``seed`` (an int >= 0 or a ``numpy.random.SeedSequence``) is split with
``SeedSequence.spawn`` into two independent streams:
- the oracle's ``numpy.random.Generator`` (PCG64), passed as ``rng`` to ``grad(x, rng, *args)``:
  numba shares its state with Python, so jitted and plain oracles draw the same numbers;
- the optimizer's 64-bit noise key, from which the sign noise is a counter-based hash of
  ``(key, t, i)`` (``theory_bench.engine.counter_rng``).
Same seed, same platform: bit-identical trajectory. For many runs, ``spawn_seeds(root, n)``
gives ``n`` children of one ``SeedSequence``, whose streams are independent.
"""
import numpy as np


def as_seed_sequence(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0 or a numpy.random.SeedSequence, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def streams(seed):
    """``(rng, key)``: the oracle's Generator and the optimizer's noise key for one run."""
    oracle, noise = as_seed_sequence(seed).spawn(2)
    return np.random.Generator(np.random.PCG64(oracle)), noise.generate_state(1, np.uint64)[0]


def spawn_seeds(root, n):
    """``n`` independent child seeds of ``root``, one per parallel run."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    return as_seed_sequence(root).spawn(int(n))
