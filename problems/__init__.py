"""The problem catalogue: ``make(name, **params)`` and ``names()``.

One module per family; each gives numba subgradient oracles (full and stochastic), the loss,
the box, the bound ``L`` on ``|g_i|``, whether it is convex and smooth, and for the convex ones
a cvxpy model of the optimum (``Problem.optimum()``, cached on disk).
"""
if __name__ != "theory_bench.problems":         # `import problems` from a checkout: the installed package
    from theory_bench.checkout_alias import alias
    alias(__name__, "theory_bench.problems")
else:
    from theory_bench.problems.catalogue import CATALOGUE, make, names
    from theory_bench.problems.problem import Problem

    __all__ = ["make", "names", "Problem", "CATALOGUE"]
