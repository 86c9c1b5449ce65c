"""One module per claim group; each has ``NAME``, ``TITLE``, ``run(ctx)``, ``claims(data, ctx)`` and
``figures(data, ctx, outdir)``. ``theory-bench run NAME`` runs one, ``reproduce`` all of them."""
if __name__ != "theory_bench.experiments":      # `import experiments` from a checkout: the installed package
    from theory_bench.checkout_alias import alias
    alias(__name__, "theory_bench.experiments")
else:
    from theory_bench.experiments.registry import EXPERIMENTS, get, missing, names

    __all__ = ["EXPERIMENTS", "get", "missing", "names"]
