"""theory_bench.engine.distributed against a naive numpy reference of every method (the same draws,
bit for bit), the statistics of the vote and of averaged stochastic signs (thresholds at a 1e-6
failure rate, each shown to reject the other), the bit accounting, the sharded oracle, and bad input."""
import math

import numpy as np
import pytest
from numba import njit
from scipy.stats import binom

from tests.stats import bernstein_radius
from theory_bench import problems
from theory_bench.engine.counter_rng import step_key, uniform01
from theory_bench.engine.distributed import bits_per_step, simulate
from theory_bench.engine.distributed_loop import COIN_SALT, NOISE_SALT, worker_key
from theory_bench.engine.seeding import streams


def _u(key, m, salt, t, i):
    with np.errstate(over="ignore"):                    # uint64 arithmetic wraps, as in the kernels
        return uniform01.py_func(step_key.py_func(worker_key.py_func(key, m, salt), t), i)


def _bit(v, u):
    return 1.0 if v > 0 else (-1.0 if v < 0 else (1.0 if u < 0.5 else -1.0))


def reference(p, T, M, method, envelope="local", every=1, beta=0.9, seed=0):
    """The naive loop: one worker, one coordinate at a time, in Python, from the same streams."""
    rng, key = streams(seed)
    oracle = p.oracle.py_func
    slot = p.extra.get("slot", np.zeros(1, dtype=np.int64)).copy()
    d = p.d
    x, lo, hi = p.x0.copy(), p.lo, p.hi
    W, Gs, e_srv = np.zeros((M, d)), np.zeros(d), np.zeros(d)
    for t in range(1, T + 1):
        eta = p.lr / math.sqrt(t)
        agg = np.zeros(d)
        for m in range(M):
            slot[0] = m
            g = oracle(x, rng, *p.args[:3], slot, *p.args[4:]) if "slot" in p.extra else oracle(x, rng, *p.args)
            for i in range(d):
                uc = _u(key, m, COIN_SALT, t, i)
                if method == "sgd":
                    agg[i] += g[i]
                elif method == "majority":
                    agg[i] += _bit(g[i], uc)
                elif method == "signum":
                    W[m, i] = beta * W[m, i] + (1 - beta) * g[i]
                    agg[i] += _bit(W[m, i], uc)
                elif method == "stosign":
                    W[m, i] = max(W[m, i], abs(g[i]))
                    B = max(W[m, i], Gs[i]) if envelope == "shared" else W[m, i]
                    agg[i] += _bit(g[i] + B * (2 * _u(key, m, NOISE_SALT, t, i) - 1), uc)
            if method == "ef":
                pm = eta * g + W[m]
                delta = np.abs(pm).sum() / d * np.sign(pm)
                W[m] = pm - delta
                agg += delta
        if method == "stosign" and envelope == "shared" and (t == 1 or t % every == 0):
            Gs = W.max(axis=0)
        if method in ("sgd", "stosign"):
            x = x - eta * agg / M
        elif method == "ef":
            pm = agg / M + e_srv
            delta = np.abs(pm).sum() / d * np.sign(pm)
            e_srv = pm - delta
            x = x - delta
        else:
            x = x - eta * np.array([_bit(agg[i], _u(key, -1, COIN_SALT, t, i)) for i in range(d)])
        x = np.clip(x, lo, hi)
    return x


CASES = [("sgd", {}), ("majority", {}), ("signum", {"beta": 0.8}), ("stosign", {}),
         ("stosign", {"envelope": "shared", "every": 3}), ("ef", {})]


@pytest.mark.parametrize("method,kw", CASES, ids=[f"{m}-{k.get('envelope', '')}" for m, k in CASES])
@pytest.mark.parametrize("problem", [("noisy_linear", {"d": 5}), ("hinge_shards", {"workers": 3, "n": 60, "d": 4}),
                                     ("l1_shards", {"workers": 3, "n": 60, "d": 4}), ("counterexample_2d", {})],
                         ids=["linear", "hinge-shards", "l1-shards", "2d"])
def test_loop_is_the_naive_reference_bit_for_bit(method, kw, problem):
    p = problems.make(problem[0], **problem[1])
    M, T = 3, 40
    want = reference(p, T, M, method, seed=7, **kw)
    got = simulate(p.oracle, p.x0, T, workers=M, method=method, lr=p.lr, args=p.args, slot=p.extra.get("slot"),
                   box=p.box, seed=7, **kw).x
    np.testing.assert_array_equal(got, want)


def _mean_step(p, M, method, T=20000, seed=0):
    """The mean step direction: (x_0 - x_T) / (lr T), over T steps and every coordinate (no box: the
    linear problem's gradient does not depend on x, so the steps are i.i.d. over t)."""
    r = simulate(p.oracle, p.x0, T, workers=M, method=method, lr=1e-3, schedule="constant", args=p.args, seed=seed)
    return (p.x0 - r.x) / (1e-3 * T), T * p.d


@pytest.mark.parametrize("M", [1, 4, 5])
def test_the_vote_has_the_binomial_mean_and_stochastic_signs_are_unbiased(M):
    """Majority vote on skewed noise (q = 1/4): E[vote] = 2 P(vote = +1) - 1 with P = P(Bin(M, q) > M/2) plus
    half a tie (the coin): below zero, the wrong way. Averaged stochastic signs: E = mu / A = +1/16 (the
    envelope is A = 4 once A was drawn). Each mean is within Bernstein's radius of its own prediction and
    many radii from the other's."""
    p = problems.make("noisy_linear", d=10, noise="skewed")
    q = 0.25
    p_up = binom.sf(M // 2, M, q) if M % 2 else binom.sf(M // 2, M, q) + 0.5 * binom.pmf(M // 2, M, q)
    vote_mean = 2 * p_up - 1
    sto_mean = p.extra["mu"] / 4.0
    vote, n = _mean_step(p, M, "majority")
    sto, _ = _mean_step(p, M, "stosign")
    r_vote = bernstein_radius(1.0, n, 1e-6, 2.0)
    r_sto = bernstein_radius(1.0 / M, n, 1e-6, 2.0) + 20 / 20000    # + the first steps, before G reaches A
    assert abs(vote.mean() - vote_mean) <= r_vote, (vote.mean(), vote_mean, r_vote)
    assert abs(sto.mean() - sto_mean) <= r_sto, (sto.mean(), sto_mean, r_sto)
    assert abs(vote.mean() - sto_mean) > 10 * r_vote and abs(sto.mean() - vote_mean) > 10 * r_sto


def test_bits_per_step():
    d = 1000
    assert bits_per_step("sgd", 4, d) == (32e3, 32e3)
    assert bits_per_step("majority", 64, d) == (1e3, 1e3) == bits_per_step("signum", 3, d)
    assert bits_per_step("stosign", 1, d) == (1e3, 1e3)
    assert bits_per_step("stosign", 4, d) == (1e3, 3e3)                 # a sum of 4 signs: 5 values, 3 bits
    assert bits_per_step("stosign", 16, d, "shared", every=10) == (1e3 + 3.2e3, 5e3 + 3.2e3)
    assert bits_per_step("ef", 4, d) == (d + 32, d + 32)


def test_a_worker_samples_only_its_shard():
    p = problems.make("hinge_shards", workers=4, spread=16.0, n=40, d=3)
    A, starts, slot = p.args[0], p.args[2], p.extra["slot"]
    scales = np.abs(A).max(axis=1)
    rng = np.random.default_rng(0)
    for m in range(4):
        slot[0] = m
        rows = {tuple(np.round(-p.oracle(np.full(3, -5.0), rng, *p.args), 12)) for _ in range(200)}
        shard = {tuple(np.round(yi * a, 12)) for a, yi in zip(A[starts[m]:starts[m + 1]], p.args[1][starts[m]:starts[m + 1]])}
        assert rows <= shard | {(0.0, 0.0, 0.0)}
    assert scales[:10].max() < scales[30:].min()                    # shard 0 has the small features
    slot[0] = -1                                                    # no worker: the whole data set
    rows = {tuple(np.round(-p.oracle(np.full(3, -5.0), rng, *p.args), 12)) for _ in range(2000)}
    shards = [{tuple(np.round(yi * a, 12)) for a, yi in zip(A[starts[m]:starts[m + 1]], p.args[1][starts[m]:starts[m + 1]])}
              for m in range(4)]
    assert all(rows & shard for shard in shards)
    np.testing.assert_allclose(p.extra["scales"], 16.0 ** (np.arange(4) / 3 - 0.5))


@njit(cache=True)
def nan_oracle(x, rng):
    return np.full(x.shape[0], np.nan)


def test_bad_input_says_the_fix():
    p = problems.make("noisy_linear", d=3)
    with pytest.raises(ValueError, match="needs a numba-jitted oracle, got the plain function '<lambda>'"):
        simulate(lambda x, rng: x, np.zeros(3), 10, workers=2)
    with pytest.raises(FloatingPointError, match="grad returned a non-finite value at step t=1"):
        simulate(nan_oracle, np.zeros(3), 10, workers=2)
    with pytest.raises(FloatingPointError, match="sgd with 2 workers produced a non-finite iterate"):
        simulate(p.oracle, p.x0, 100, workers=2, method="sgd", lr=1e308, args=p.args)
    run = lambda **kw: simulate(p.oracle, p.x0, 10, args=p.args, **{"workers": 2, **kw})
    with pytest.raises(ValueError, match=r"workers \(M\) must be an int >= 1, got 0"):
        run(workers=0)
    with pytest.raises(ValueError, match="unknown method 'vote'"):
        run(method="vote")
    with pytest.raises(ValueError, match="envelope must be 'local' or 'shared', got 'global'"):
        run(envelope="global")
    with pytest.raises(ValueError, match=r"every \(steps between envelope max-allreduces\) must be an int >= 1"):
        run(every=0)
    with pytest.raises(ValueError, match="slot must be a one-element int64 array"):
        run(slot=[0])
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        run(lr=float("nan"))
    with pytest.raises(ValueError, match="spread .* must be >= 1, got 0.5"):
        problems.make("hinge_shards", spread=0.5)
    with pytest.raises(ValueError, match="noise must be 'skewed' or 'uniform'"):
        problems.make("noisy_linear", noise="gaussian")
