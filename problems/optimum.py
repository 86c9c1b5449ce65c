"""Optima you can trust: cvxpy (Clarabel by default), cached on disk, with an LP cross-check.

``cached_optimum(problem)`` returns ``(x_star, f_star)`` with ``f_star = problem.loss(x_star)``
(our own loss at the solver's point, clipped to the box); it refuses a solver status other than
optimal and a solver value that disagrees with our loss, naming the instance and the solver.
Results are cached under ``optima/`` of ``theory_bench.engine.cache_dir.cache_root``, keyed by a hash of
the problem's name, parameters and data, so a rerun costs nothing.
``highs_optimum(problem)`` solves the same instance as a linear program with SciPy's HiGHS, for
the families that are LPs on a box (hinge, L1, max-of-affine): the tests require agreement.
"""
import hashlib
import json
import os
import warnings

import numpy as np

from theory_bench.engine.cache_dir import cache_root

DEFAULT_SOLVER = "CLARABEL"
AGREE_RTOL = 1e-6


class SolverFailure(RuntimeError):
    """A solver failed or was inaccurate on an instance; the message names both."""


def instance_key(problem):
    h = hashlib.sha256()
    h.update(problem.name.encode())
    h.update(json.dumps(problem.params, sort_keys=True, default=str).encode())
    for a in (*problem.args, problem.lo, problem.hi):
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


def solve_cvxpy(name, build, solver=DEFAULT_SOLVER):
    """Solve ``build() -> (x_var, cp.Problem)``; return ``(x, value)`` or raise SolverFailure."""
    import cvxpy as cp
    if solver not in cp.installed_solvers():
        warnings.warn(f"solver {solver} is not installed; falling back to {DEFAULT_SOLVER}", stacklevel=2)
        solver = DEFAULT_SOLVER
    x, prob = build()
    try:
        prob.solve(solver=solver)
    except cp.error.SolverError as err:
        raise SolverFailure(f"{solver} failed on {name}: {err}") from err
    if prob.status != cp.OPTIMAL:
        raise SolverFailure(f"{solver} returned status {prob.status!r} on {name}; "
                            "an optimum that is not certified optimal is not used")
    return np.asarray(x.value, dtype=np.float64), float(prob.value)


def certified(problem, x, value, solver):
    """Clip to the box, evaluate our loss there, and require it to agree with the solver's value."""
    x = np.clip(x, problem.lo, problem.hi)
    f = problem.loss(x)
    if abs(f - value) > AGREE_RTOL * max(1.0, abs(f)):
        raise SolverFailure(f"{solver} is inaccurate on {problem.name} ({problem.params}): "
                            f"solver value {value!r}, loss at its point {f!r}")
    return x, f


def cached_optimum(problem, solver=DEFAULT_SOLVER):
    key = instance_key(problem)
    path = cache_root("optima") / f"{problem.name}-{key}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return z["x_star"].copy(), float(z["f_star"])
        except Exception as err:  # a truncated or foreign file: say so and solve again
            warnings.warn(f"ignoring unreadable optimum cache {path} ({err}); solving again", stacklevel=2)
    x, value = problem.solve(solver)
    x, f = certified(problem, x, value, solver)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, x_star=x, f_star=f)
    os.replace(tmp, path)
    return x, f


def solve_lp(name, lp, method="highs"):
    """Solve ``(c, A_ub, b_ub, bounds, nx)`` with HiGHS; return ``(x[:nx], value)``.

    ``method="highs-ipm"`` (interior point) is much faster than the default on large instances.
    """
    from scipy.optimize import linprog
    c, A_ub, b_ub, bounds, nx = lp
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method=method)
    if res.status != 0:
        raise SolverFailure(f"HiGHS failed on {name}: {res.message}")
    return res.x[:nx], float(res.fun)


def highs_optimum(problem, method="highs"):
    """The LP form of ``problem`` (``problem.extra['lp']``) solved by HiGHS: ``(x, f)``."""
    if "lp" not in problem.extra:
        raise ValueError(f"problem {problem.name!r} has no LP form")
    x, value = solve_lp(problem.name, problem.extra["lp"](), method)
    return certified(problem, x, value, "HiGHS")
