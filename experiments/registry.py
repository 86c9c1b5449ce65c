"""Every experiment by name: ``names()`` and ``get(name)``."""
from theory_bench.experiments import (ablation, convex, dimension, distributed, divergence, finetune, fp8,
                                      fp8_scaling, heavy_tails, precision, regret, stationarity, zoo)
from theory_bench.experiments.packages import missing_packages

EXPERIMENTS = {m.NAME: m for m in (divergence, regret, dimension, convex, stationarity, heavy_tails, ablation,
                                   precision, zoo, fp8, fp8_scaling, finetune, distributed)}


def names():
    return list(EXPERIMENTS)


def missing(name):
    """The packages experiment ``name`` needs (its ``REQUIRES``) that are not installed: the zoo's."""
    return missing_packages(getattr(get(name), "REQUIRES", ()))


def get(name):
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
