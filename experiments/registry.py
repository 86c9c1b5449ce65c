"""Every experiment by name: ``names()`` and ``get(name)``."""
from theory_bench.experiments import ablation, convex, dimension, divergence, precision, regret, stationarity

EXPERIMENTS = {m.NAME: m for m in (divergence, regret, dimension, convex, stationarity, ablation, precision)}


def names():
    return list(EXPERIMENTS)


def get(name):
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
