"""Every family's oracles: subgradient inequality, finite differences, unbiased stochastic oracle."""
import numpy as np
import pytest

from theory_bench import problems
from tests.stats import bernstein_radius

SMALL = {
    "hinge": dict(n=60, d=5), "l1": dict(n=60, d=5), "max_affine": dict(m=12, d=5),
    "nesterov": dict(d=8), "counterexample_2d": {}, "skewed_linear": dict(d=4),
    "skewed_quadratic": dict(d=3), "rademacher_linear": dict(d=4), "hinge_stream": dict(n=40, d=4),
    "l1_stream": dict(n=40, d=4), "relu_regression": dict(n=40), "maxpool": dict(n=40),
    "moe": dict(n=40), "noisy_linear": dict(d=4), "hinge_shards": dict(workers=3, n=60, d=5, spread=8.0),
    "l1_shards": dict(workers=3, n=60, d=5, spread=8.0),
    "spiky_linear": dict(d=4, mu=0.05, p=0.02, A=5.0), "spiky_hinge": dict(n=60, d=5, p=0.05, A=3.0),
    "spiky_l1": dict(n=60, d=5, p=0.05, A=3.0),
}
SKEWED = {"hinge": dict(n=60, d=5, skew=0.5), "l1": dict(n=60, d=5, skew=0.5, batch=3)}
CONVEX = [n for n in problems.names() if problems.make(n, **SMALL[n]).convex]


def random_points(p, rng, k):
    lo, hi = np.maximum(p.lo, -3.0), np.minimum(p.hi, 3.0)
    return lo + (hi - lo) * rng.random((k, p.d))


def test_catalogue_has_every_name_of_the_contract():
    required = {"hinge", "l1", "max_affine", "nesterov", "counterexample_2d", "skewed_linear",
                "rademacher_linear", "hinge_stream", "l1_stream", "relu_regression", "maxpool", "moe",
                "spiky_linear", "spiky_hinge", "spiky_l1"}
    assert required <= set(problems.names())


@pytest.mark.parametrize("name", CONVEX)
def test_subgradient_inequality(name):
    p = problems.make(name, **SMALL[name])
    rng = np.random.default_rng(0)
    X, Y = random_points(p, rng, 200), random_points(p, rng, 200)
    for x, y in zip(X, Y):
        assert p.loss(y) >= p.loss(x) + p.full_grad(x) @ (y - x) - 1e-10


@pytest.mark.parametrize("name", problems.names())
def test_directional_derivative_matches_away_from_kinks(name):
    p = problems.make(name, **SMALL[name])
    rng = np.random.default_rng(1)
    h, checked = 1e-6, 0
    for x in random_points(p, rng, 60):
        x = np.clip(x, p.lo + 2 * h, p.hi - 2 * h)
        v = rng.normal(size=p.d)
        fwd = (p.loss(x + h * v) - p.loss(x)) / h
        bwd = (p.loss(x) - p.loss(x - h * v)) / h
        if abs(fwd - bwd) > 1e-4 * (1 + abs(fwd)):
            continue  # a kink between x - hv and x + hv
        checked += 1
        assert p.full_grad(x) @ v == pytest.approx(0.5 * (fwd + bwd), rel=1e-4, abs=1e-6)
    assert checked >= 30


@pytest.mark.parametrize("name,kw", [*SMALL.items(), *SKEWED.items()], ids=str)
def test_stochastic_oracle_is_unbiased_for_the_full_subgradient(name, kw):
    """Mean of N oracle draws vs the full subgradient; radius from Bernstein with the L bound."""
    p = problems.make(name, **kw)
    x = random_points(p, np.random.default_rng(2), 1)[0]
    x = np.clip(x, p.lo, p.hi)
    rng, N = np.random.default_rng(3), 20_000
    draws = np.array([p.grad(x, rng) for _ in range(N)])
    full = p.full_grad(x)
    delta = 1e-6 / (p.d * len(problems.names()))
    for i in range(p.d):
        var = draws[:, i].var() * N / (N - 1)
        var_bound = min(p.L[i] ** 2, 2 * var + 1e-12)   # the sample variance, doubled, capped by L^2
        eps = bernstein_radius(var_bound, N, delta, bound=2 * p.L[i])
        assert abs(draws[:, i].mean() - full[i]) <= eps, (i, draws[:, i].mean(), full[i], eps)


def test_unbiasedness_check_fails_on_a_biased_oracle():
    """The same check, on sign(oracle) for the skewed problem, must fail: E sign(xi) = -1/2, mu = +1/4."""
    p = problems.make("skewed_linear", d=1)
    rng, N = np.random.default_rng(3), 20_000
    draws = np.array([np.sign(p.grad(np.zeros(1), rng)) * p.extra["mu"] / 0.25 for _ in range(N)])
    eps = bernstein_radius(1.0, N, 1e-6, bound=2.0)
    assert abs(draws.mean() - p.full_grad(np.zeros(1))[0]) > 10 * eps


@pytest.mark.parametrize("name,kw", [*SMALL.items(), *SKEWED.items()], ids=str)
def test_bound_L_dominates_every_oracle_output(name, kw):
    p = problems.make(name, **kw)
    rng = np.random.default_rng(4)
    for x in random_points(p, rng, 50):
        x = np.clip(x, p.lo, p.hi)
        for _ in range(20):
            assert np.all(np.abs(p.grad(x, rng)) <= p.L + 1e-12)
