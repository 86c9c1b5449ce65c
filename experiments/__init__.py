"""One module per claim group; each has ``NAME``, ``TITLE``, ``run(ctx)``, ``claims(data, ctx)`` and
``figures(data, ctx, outdir)``. ``theory-bench run NAME`` runs one, ``reproduce`` all of them."""
from experiments import ablation, convex, dimension, divergence, regret, stationarity

EXPERIMENTS = {m.NAME: m for m in (divergence, regret, dimension, convex, stationarity, ablation)}


def names():
    return list(EXPERIMENTS)


def get(name):
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
