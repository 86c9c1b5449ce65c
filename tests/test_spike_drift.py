"""``theory_bench.analysis.spike_drift``: the drift of sign methods under rare spikes (docs/theory.md §3.5).

Exact where the theory is (SignSGD, StoSignSGD); for Signum and Lion, the sampled drift agrees with a
direct simulation of the suite's own kernels, and the Gaussian model of the average does not; the
generalized Dickman law of the long-window limit matches a simulation of its Poisson sum (DKW bound,
a correct CDF fails less than once in a million runs) and a wrong parameter fails; bad input is named."""
import math

import numpy as np
import pytest

from theory_bench import problems
from theory_bench.analysis.spike_drift import (ACCURACY, dickman_cdf, drift, drift_with_error, signum_boundary_limit,
                                                signum_drift_limit)
from theory_bench.engine.seeding import spawn_seeds
from theory_bench.optimizers import Lion, Signum, StoSignSGD

MU, P, A = 0.05, 0.002, 50.0


def test_exact_drifts():
    assert drift("signsgd", MU, P, A) == 2 * P - 1
    assert drift("stosignsgd", MU, P, A) == pytest.approx(MU / (MU + A * (1 - P)), rel=1e-15)
    assert drift_with_error("stosignsgd", MU, P, A)[1] == 0.0


def kernel_drift(opt, p, mu, A, d=200, steps=40_000, seeds=4):
    """E[s] of ``opt`` (a constant step of 2^-30) on spiky_linear, read off the loss mu sum_i x_i, per seed."""
    prob = problems.make("spiky_linear", d=d, mu=mu, p=p, A=A)
    t0 = int(math.ceil(20 / p))
    out = []
    for s in spawn_seeds(5, seeds):
        tr = prob.minimize(opt, t0 + steps, seed=s, checkpoints=[t0, t0 + steps])
        out.append(-(tr.losses[1] - tr.losses[0]) / mu / (d * 2.0 ** -30 * steps))
    return np.array(out)


@pytest.mark.parametrize("opt,method,hyper", [
    (Signum(2.0 ** -30, "constant", beta=0.99), "signum", {"beta": 0.99}),
    (Lion(2.0 ** -30, "constant", beta1=0.9, beta2=0.99), "lion", {"beta1": 0.9, "beta2": 0.99}),
], ids=["Signum(0.99)", "Lion"])
def test_drift_is_what_the_suite_kernels_do_and_the_gaussian_model_is_not(opt, method, hyper):
    """p = 0.002, A = 50, mu = 0.05: the wrong way (theory -0.23 and -0.25). Agreement within 5 standard
    errors of the seeds' mean plus the drift's accuracy with n = 10^6 draws (0.0054)."""
    measured = kernel_drift(opt, P, MU, A)
    value, err = drift_with_error(method, MU, P, A, n=10 ** 6, **hyper)
    se = measured.std(ddof=1) / math.sqrt(measured.size)
    assert value < -0.2 and abs(measured.mean() - value) <= 5 * se + err, (measured, value, err)
    var_m = A * A * P * (1 - P) * (0.01 / 1.99)
    gaussian = math.erf(MU / math.sqrt(2 * var_m))              # the Gaussian model: the right way
    assert gaussian > 0 and abs(measured.mean() - gaussian) > 20 * (5 * se + err)


def test_stosign_drift_is_mu_over_G_in_the_kernel():
    measured = kernel_drift(StoSignSGD(2.0 ** -30, "constant"), 0.01, 0.05, 10.0, steps=100_000)
    se = measured.std(ddof=1) / math.sqrt(measured.size)
    assert abs(measured.mean() - drift("stosignsgd", 0.05, 0.01, 10.0)) <= 5 * se
    assert measured.mean() > 0


def test_long_windows_reach_the_dickman_limit():
    """beta = 0.999 (W = 1000): the finite-window drift is within 0.01 of the limit's (and the limit's
    own check: an independent simulation of Signum(0.99) gave +0.437 and -0.230)."""
    assert abs(drift("signum", 0.005, 0.001, 10.0, beta=0.999, n=10 ** 6) -
               signum_drift_limit(0.005, 0.001, 10.0, 0.999)) < 0.01
    assert signum_drift_limit(0.05, 0.01, 10.0, 0.99) == pytest.approx(0.4385, abs=1e-3)
    assert signum_drift_limit(0.05, 0.002, 50.0, 0.99) == pytest.approx(-0.2245, abs=1e-3)


def test_the_boundary_at_half_signal_is_not_the_first_guess():
    assert signum_boundary_limit(0.347) == pytest.approx(0.5, abs=2e-3)
    assert signum_boundary_limit(math.log(2)) < 0.2                # ln 2 is far from r = 1/2's boundary
    assert signum_boundary_limit(1.2) is None                     # the median beyond 1: no closed form


@pytest.mark.parametrize("u", [0.3, 1.0])
def test_dickman_cdf_is_the_law_of_the_poisson_sum(u):
    """X = sum_i exp(-tau_i) over a Poisson process of rate u: the empirical CDF of 2*10^5 draws lies
    within the DKW radius sqrt(ln(2/delta) / (2n)) of dickman_cdf at delta = 1e-6 on [0, 1]; the law of
    another parameter (u * 1.3) does not."""
    rng = np.random.default_rng(11)
    n = 200_000
    X = np.zeros(n)
    t = rng.exponential(1 / u, n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        X[alive] += np.exp(-t[alive])
        t[alive] += rng.exponential(1 / u, alive.sum())
        alive &= t < 40                                           # exp(-40): below double precision of X
    grid = np.linspace(0.01, 1.0, 100)
    empirical = (X[None, :] <= grid[:, None]).mean(axis=1)
    radius = math.sqrt(math.log(2 / 1e-6) / (2 * n))
    assert np.max(np.abs(empirical - dickman_cdf(grid, u))) <= radius
    assert np.max(np.abs(empirical - dickman_cdf(grid, 1.3 * u))) > 3 * radius


@pytest.mark.parametrize("args,kw,match", [
    (("signum", 0.2, 0.01, 10.0), {}, r"mu must lie in \(0, A p\) = \(0, 0.1\)"),
    (("signum", 0.05, 0.5, 10.0), {}, r"p must lie in \(0, 1/2\)"),
    (("signum", 0.05, 0.01, -1.0), {}, r"A must be > 0"),
    (("adam", 0.05, 0.01, 10.0), {}, r"method must be one of \('signsgd', 'signum', 'lion', 'stosignsgd'\)"),
    (("signum", 0.05, 0.01, 10.0), {"beta": 1.0}, r"beta must lie in \[0, 1\)"),
    (("signum", float("nan"), 0.01, 10.0), {}, r"mu must be a finite number"),
])
def test_bad_input_names_the_value(args, kw, match):
    with pytest.raises(ValueError, match=match):
        drift(*args, **kw)


def test_the_default_accuracy_is_stated():
    _, err = drift_with_error("signum", 0.05, 0.01, 10.0, beta=0.9, n=1000)
    assert err == pytest.approx(2 * math.sqrt(math.log(2e6) / 2000))
    assert ACCURACY == 1e-3 and 2 * math.sqrt(math.log(2e6) / (2 * math.ceil(2 * math.log(2e6) / 1e-6))) <= 1e-3
