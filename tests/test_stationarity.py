"""Goldstein stationarity where it is known in closed form, and the online window measure."""
import numpy as np
import pytest

import theory_bench as tb
from theory_bench.optimizers import SGD
from theory_bench.analysis.stationarity import goldstein_sampled, sample_ball

abs_grad = lambda y: np.sign(y)
max_grad = lambda y: np.eye(y.size)[np.argmax(y)]


def test_abs_near_and_away_from_the_kink():
    assert goldstein_sampled(abs_grad, np.array([0.05]), 0.1).value < 1e-6       # both signs in the ball
    assert goldstein_sampled(abs_grad, np.array([0.5]), 0.1).value == pytest.approx(1.0)


@pytest.mark.parametrize("p,q,expected", [(2, 2, 1 / np.sqrt(2)), (np.inf, 1, 1.0)])
def test_max_on_the_diagonal(p, q, expected):
    r = goldstein_sampled(max_grad, np.array([0.3, 0.3]), 0.1, p=p, q=q)
    assert r.value == pytest.approx(expected, rel=1e-6)
    assert r.delta == 0.1 and r.K == 64 and r.weights.sum() == pytest.approx(1.0)


def test_l1_norm_at_zero_and_away():
    x0 = np.zeros(3)
    assert goldstein_sampled(abs_grad, x0 + 1e-3, 0.1, K=200, p=np.inf, q=1).value < 1e-6
    away = np.array([1.0, -2.0, 0.5])
    assert goldstein_sampled(abs_grad, away, 0.1, p=np.inf, q=1).value == pytest.approx(3.0)
    assert goldstein_sampled(abs_grad, away, 0.1, p=2, q=2).value == pytest.approx(np.sqrt(3))


def test_samples_lie_in_the_ball():
    rng = np.random.default_rng(0)
    x = np.ones(5)
    assert np.all(np.abs(sample_ball(x, 0.2, 500, np.inf, rng) - x) <= 0.2)
    assert np.all(np.linalg.norm(sample_ball(x, 0.2, 500, 2.0, rng) - x, axis=1) <= 0.2 + 1e-12)


@pytest.mark.parametrize("kw,match", [(dict(p=1), "p must be one of"), (dict(q=np.inf), "q must be one of"),
                                      (dict(delta=0), "delta must be > 0")])
def test_bad_arguments(kw, match):
    args = dict(grad=abs_grad, x=np.zeros(2), delta=0.1)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        goldstein_sampled(args.pop("grad"), args.pop("x"), args.pop("delta"), **args)


def window_reference(xs, gs, delta, p, q, checkpoints):
    """The window rule of theory_bench.analysis.stationarity, in plain numpy."""
    out, anchor, acc, n = {}, None, None, 0
    for t, (x, g) in enumerate(zip(xs, gs), start=1):
        if n == 0 or np.linalg.norm(x - anchor, ord=p) > delta / 2:
            anchor, acc, n = x.copy(), np.zeros_like(g), 0
        acc, n = acc + g, n + 1
        if t in checkpoints:
            out[t] = np.linalg.norm(acc / n, ord=q)
    return np.array([out[t] for t in checkpoints])


@pytest.mark.parametrize("p,q", [(2.0, 2.0), (np.inf, 1.0)])
def test_window_measure_matches_a_numpy_replay(p, q):
    xs, gs = [], []

    def grad(x, rng):
        g = np.sign(x - 0.2) + 0.1 * rng.normal(size=x.size)
        xs.append(x.copy())
        gs.append(g)
        return g

    ck = [5, 50, 400]
    tr = tb.minimize(grad, np.ones(3), SGD(0.5), 400, checkpoints=ck, window=(0.2, p, q))
    ref = window_reference(xs[1:], gs[1:], 0.2, p, q, ck)          # xs[0] is the probe call
    np.testing.assert_allclose(tr.window, ref, rtol=1e-12)
    assert tr.window[-1] < tr.window[0]                               # it falls as SGD settles


def test_window_bad_input():
    with pytest.raises(ValueError, match=r"window delta must be finite and > 0"):
        tb.minimize(lambda x, r: x, np.ones(2), SGD(0.1), 3, window=(0, 2, 2))
    with pytest.raises(ValueError, match=r"window norms must be p in \(2, inf\) and q in \(1, 2\)"):
        tb.minimize(lambda x, r: x, np.ones(2), SGD(0.1), 3, window=(0.1, 1, 2))
