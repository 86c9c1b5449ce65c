"""The spiky problems (docs/theory.md §3.5): spiky_linear is skewed_linear with the spike parameters
(the same trajectories), its noise has the law it says; spiky_hinge and spiky_l1 keep their noiseless
problem's certified optimum, on synthetic and real data; bad parameters are named."""
import numpy as np
import pytest

from theory_bench import problems
from theory_bench.optimizers import Signum, StoSignSGD
from tests.stats import bernstein_radius


def test_spiky_linear_is_skewed_linear_with_spike_parameters():
    mu, p, A = 0.05, 0.01, 10.0
    spiky = problems.make("spiky_linear", d=6, mu=mu, p=p, A=A)
    low = A * p - mu
    skewed = problems.make("skewed_linear", d=6, q=p, A=(mu + A * (1 - p)) / low, scale=low)
    for opt in (StoSignSGD(1.0), Signum(1.0, beta=0.99)):
        a, b = (q.minimize(opt, 3000, seed=4, checkpoints=[3000]) for q in (spiky, skewed))
        assert np.array_equal(a.x, b.x)
    assert spiky.params == dict(d=6, mu=mu, p=p, A=A) and spiky.optimum()[1] == pytest.approx(-mu * 6)


def test_spiky_noise_has_its_law():
    """Values mu + A (1 - p) with frequency p and mu - A p otherwise; the frequency within Bernstein's
    radius at 1e-6 (and p = 0.02 is not 0.01)."""
    p = problems.make("spiky_linear", d=50, mu=0.05, p=0.01, A=10.0)
    rng = np.random.default_rng(0)
    g = np.concatenate([p.grad(np.zeros(50), rng) for _ in range(4000)])
    assert set(np.round(g, 9)) == {round(0.05 + 10 * 0.99, 9), round(0.05 - 0.1, 9)}
    freq, n = float((g > 0).mean()), g.size
    eps = float(bernstein_radius(0.01 * 0.99, n, 1e-6, 1.0))
    assert abs(freq - 0.01) <= eps < abs(freq - 0.02)


@pytest.mark.parametrize("name,kw,base", [
    ("spiky_hinge", dict(n=200, d=8), ("hinge", dict(n=200, d=8))),
    ("spiky_l1", dict(n=200, d=8), ("l1", dict(n=200, d=8))),
    ("spiky_hinge", dict(data="breast_cancer"), ("hinge", dict(data="breast_cancer"))),
    ("spiky_l1", dict(data="diabetes"), ("l1", dict(data="diabetes"))),
], ids=["hinge", "l1", "hinge-breast_cancer", "l1-diabetes"])
def test_spikes_keep_the_optimum_and_raise_L(name, kw, base):
    spiky, plain = problems.make(name, p=0.01, A=10.0, **kw), problems.make(base[0], **base[1])
    assert spiky.optimum()[1] == pytest.approx(plain.optimum()[1], rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(spiky.L, plain.L + 10.0 * 0.99)
    assert spiky.params["p"] == 0.01 and spiky.params["A"] == 10.0 and "skew" not in spiky.params


@pytest.mark.parametrize("name,kw,match", [
    ("spiky_linear", dict(mu=0.5, p=0.01, A=10.0), r"mu must lie in \(0, A p\)"),
    ("spiky_linear", dict(p=0.7), r"p must lie in \(0, 1/2\]"),
    ("spiky_hinge", dict(p=0.0), r"spikes need 0 < p < 1/2 and A > 0, got p=0.0"),
    ("spiky_l1", dict(A=-1.0), r"spikes need 0 < p < 1/2 and A > 0, got p=0.01, A=-1.0"),
])
def test_bad_parameters_are_named(name, kw, match):
    with pytest.raises(ValueError, match=match):
        problems.make(name, **kw)
