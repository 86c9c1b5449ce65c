"""Optima: cvxpy (Clarabel) against HiGHS and scikit-learn, closed forms, caching, solver failures."""

import numpy as np
import pytest

from theory_bench import problems
from theory_bench.problems.optimum import SolverFailure, cached_optimum, highs_optimum, solve_cvxpy

LP_CASES = [
    ("hinge", dict(n=300, d=10)), ("hinge", dict(data="breast_cancer")),
    ("l1", dict(n=300, d=10)), ("l1", dict(data="diabetes")),
    ("max_affine", dict(m=40, d=10)), ("hinge_stream", dict(n=100, d=5)), ("l1_stream", dict(n=100, d=5)),
]


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("THEORY_BENCH_CACHE_DIR", str(tmp_path))


@pytest.mark.parametrize("name,kw", LP_CASES, ids=lambda v: str(v))
def test_clarabel_and_highs_agree(name, kw):
    p = problems.make(name, **kw)
    x_c, f_c = p.optimum()
    x_h, f_h = highs_optimum(p)
    assert f_c == pytest.approx(f_h, rel=1e-6, abs=1e-9)
    assert p.loss(x_c) == f_c


@pytest.mark.parametrize("name,kw", LP_CASES + [("nesterov", dict(d=20)), ("counterexample_2d", {}),
                                                ("skewed_quadratic", dict(d=2))], ids=lambda v: str(v))
def test_no_feasible_point_does_better(name, kw):
    p = problems.make(name, **kw)
    x_star, f_star = p.optimum()
    rng = np.random.default_rng(0)
    lo, hi = np.maximum(p.lo, -5), np.minimum(p.hi, 5)
    far = lo + (hi - lo) * rng.random((300, p.d))
    near = np.clip(x_star + 1e-3 * rng.normal(size=(300, p.d)), p.lo, p.hi)
    assert min(p.loss(y) for y in np.vstack([far, near])) >= f_star - 1e-7 * max(1, abs(f_star))


def test_diabetes_median_regression_matches_scikit_learn():
    from sklearn.linear_model import QuantileRegressor
    p = problems.make("l1", data="diabetes")
    A, b = p.args[:2]
    x_star, f_star = p.optimum()
    assert np.all(np.abs(x_star) < 0.9 * p.hi)                 # the box is inactive
    qr = QuantileRegressor(quantile=0.5, alpha=0.0, fit_intercept=False, solver="highs").fit(A, b)
    assert p.loss(qr.coef_) == pytest.approx(f_star, rel=1e-6)


def test_nesterov_closed_form_and_lower_bound():
    p = problems.make("nesterov", d=30, k=19)
    x_star, f_star = p.optimum()
    assert f_star == pytest.approx(p.extra["f_star"], rel=1e-6)
    np.testing.assert_allclose(x_star, p.extra["x_star"], atol=1e-5)
    assert p.extra["lower_bound"](19) == pytest.approx(1 / (2 * (1 + np.sqrt(20))))


def test_cached_optimum_is_reused_and_a_corrupt_file_is_solved_again(tmp_path):
    p = problems.make("max_affine", m=10, d=4)
    first = p.optimum()
    calls = []
    p.solve = lambda solver: calls.append(solver) or (_ for _ in ()).throw(AssertionError("re-solved"))
    assert p.optimum()[1] == first[1] and calls == []
    (path,) = (tmp_path / "optima").glob("max_affine-*.npz")
    path.write_bytes(b"not an npz")
    p.solve = problems.make("max_affine", m=10, d=4).solve
    with pytest.warns(UserWarning, match="ignoring unreadable optimum cache"):
        assert p.optimum()[1] == pytest.approx(first[1])


def test_different_instances_do_not_share_a_cache_entry():
    a = problems.make("hinge", n=50, d=3, seed=0).optimum()[1]
    b = problems.make("hinge", n=50, d=3, seed=1).optimum()[1]
    assert a != b


def test_solver_failure_names_instance_and_solver():
    import cvxpy as cp

    def infeasible():
        x = cp.Variable(2)
        return x, cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, x <= 0])

    with pytest.raises(SolverFailure, match=r"CLARABEL returned status 'infeasible' on my-instance"):
        solve_cvxpy("my-instance", infeasible)


def test_inaccurate_solver_value_is_refused():
    p = problems.make("max_affine", m=10, d=4)
    x, f = problems.make("max_affine", m=10, d=4).optimum()
    p.solve = lambda solver: (x, f + 1e-3)
    p.params = dict(p.params, tag="inaccurate")                 # a new cache key
    with pytest.raises(SolverFailure, match=r"CLARABEL is inaccurate on max_affine"):
        cached_optimum(p)


def test_missing_solver_falls_back_to_clarabel_with_a_warning():
    import cvxpy as cp
    x = cp.Variable(1)
    with pytest.warns(UserWarning, match="solver NOPE is not installed; falling back to CLARABEL"):
        _, value = solve_cvxpy("tiny", lambda: (x, cp.Problem(cp.Minimize(cp.abs(x - 1)))), solver="NOPE")
    assert value == pytest.approx(0.0, abs=1e-7)


def test_nonconvex_problem_has_no_optimum():
    with pytest.raises(ValueError, match=r"'moe' has no known optimum \(it is non-convex\)"):
        problems.make("moe").optimum()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hinge", "l1"])
def test_largest_instance_agrees_with_highs(name):
    """n * d = 10^6 (`theory-bench bench` times these solves; timings are never asserted)."""
    p = problems.make(name, n=20_000, d=50)
    assert p.optimum()[1] == pytest.approx(highs_optimum(p, method="highs-ipm")[1], rel=1e-6)
