"""The run loop: what a Trace holds, determinism, the three paths agree, projection, schedules."""
import numpy as np
import pytest

import theory_bench as tb
from theory_bench import optimizers as O
from tests.oracles import abs_sum, hinge_loss, hinge_sample, make_hinge, noisy_quadratic

ALL_OPTS = [O.SGD(0.05), O.SignSGD(0.05), O.Signum(0.05), O.EFSignSGD(0.05), O.StoSignSGD(0.05),
            O.StoSignSGD.practical(0.05, weight_decay=0.01), O.AdaGrad(0.05), O.Adam(0.01),
            O.AdamW(0.01), O.Lion(0.01)]


def test_trace_contents_and_average():
    A, y = make_hinge()
    tr = tb.minimize(hinge_sample, np.zeros(10), O.StoSignSGD(0.1), 500, args=(A, y), loss=hinge_loss,
                     checkpoints=[1, 10, 500])
    np.testing.assert_array_equal(tr.t, [1, 10, 500])
    assert tr.xs.shape == tr.xs_avg.shape == (3, 10)
    np.testing.assert_array_equal(tr.xs[-1], tr.x)
    np.testing.assert_array_equal(tr.xs_avg[-1], tr.x_avg)
    np.testing.assert_array_equal(tr.xs_avg[0], np.zeros(10))        # mean of {x_1} = x0
    np.testing.assert_allclose(tr.losses_avg, [hinge_loss(p, A, y) for p in tr.xs_avg])
    assert tr.envelope_sum.shape == (3,) and np.all(np.diff(tr.envelope_sum) >= 0)
    assert tr.state["G"].sum() == pytest.approx(tr.envelope_sum[-1])
    assert tr.path == "jit-cached"


def test_average_is_the_mean_of_the_iterates_where_the_oracle_was_called():
    seen = []

    def grad(x, rng):
        seen.append(x.copy())
        return np.sign(x - 0.3) + rng.normal(size=x.size)

    tr = tb.minimize(grad, np.zeros(3), O.SGD(0.1), 50, checkpoints=[50])
    assert len(seen) == 51                        # one probe call at x0 checks the oracle first
    np.testing.assert_allclose(tr.x_avg, np.mean(seen[1:], axis=0), rtol=1e-12)


@pytest.mark.parametrize("opt", ALL_OPTS, ids=repr)
def test_same_seed_same_trajectory_and_python_path_agrees(opt):
    A, y = make_hinge()
    run = lambda g, seed: tb.minimize(g, np.zeros(10), opt, 300, args=(A, y), seed=seed, box=(-1, 1))
    a, b, c = run(hinge_sample, 3), run(hinge_sample, 3), run(hinge_sample.py_func, 3)
    assert c.path == "python"
    for other in (b, c):
        np.testing.assert_array_equal(a.xs, other.xs)
        np.testing.assert_array_equal(a.xs_avg, other.xs_avg)
    assert not np.array_equal(a.xs, run(hinge_sample, 4).xs)


def test_sign_noise_alone_differs_between_seeds():
    x0 = np.linspace(-1, 1, 20)
    quad = lambda x, rng: x - 0.3            # deterministic oracle with |g| < G after the first step
    a = tb.minimize(quad, x0, O.StoSignSGD(0.1), 200)
    b = tb.minimize(quad, x0, O.StoSignSGD(0.1), 200, seed=1)
    assert not np.array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.x, tb.minimize(quad, x0, O.StoSignSGD(0.1), 200).x)
    s1 = tb.minimize(abs_sum, x0, O.SignSGD(0.1), 200)
    s2 = tb.minimize(abs_sum, x0, O.SignSGD(0.1), 200, seed=1)
    np.testing.assert_array_equal(s1.x, s2.x)   # a deterministic method ignores the seed


def test_uncached_jit_path_for_a_local_oracle_agrees():
    from numba import njit

    @njit
    def local(x, rng, c):
        return x - c + rng.standard_normal(x.shape[0])

    c = np.arange(5.0)
    a = tb.minimize(local, np.zeros(5), O.StoSignSGD(0.2), 200, args=(c,))
    b = tb.minimize(noisy_quadratic, np.zeros(5), O.StoSignSGD(0.2), 200, args=(c,))
    assert a.path == "jit" and b.path == "jit-cached"
    np.testing.assert_array_equal(a.xs, b.xs)


def test_box_projection_holds_every_checkpoint():
    lo, hi = np.array([-1.0, 0.0, 0.5]), np.array([1.0, 0.2, 2.0])
    tr = tb.minimize(noisy_quadratic, np.array([0.0, 0.1, 1.0]), O.SignSGD(0.5), 400,
                     args=(np.array([5.0, -5.0, 1.0]),), box=(lo, hi))
    assert np.all(tr.xs >= lo) and np.all(tr.xs <= hi)
    assert tr.x[0] == 1.0 and tr.x[1] == 0.0


def test_schedules():
    x0 = np.zeros(1)
    step_of = lambda opt: -tb.minimize(lambda x, r: np.ones(1), x0, opt, 4, checkpoints=[1, 2, 3, 4]).xs[:, 0]
    np.testing.assert_allclose(step_of(O.SGD(0.5, schedule="constant")), 0.5 * np.arange(1, 5))
    np.testing.assert_allclose(step_of(O.SGD(0.5)), np.cumsum(0.5 / np.sqrt(np.arange(1, 5))))
    np.testing.assert_allclose(step_of(O.SGD(0.5, schedule=lambda t: 1.0 / t)),
                               np.cumsum(0.5 / np.arange(1, 5)))
    np.testing.assert_allclose(step_of(O.SGD(0.5, schedule=lambda t: 2.0 if t < 3 else 1.0)),
                               np.cumsum([1.0, 1.0, 0.5, 0.5]))


def test_stosign_converges_where_signsgd_is_stuck():
    """docs/theory.md §3.3.1 in a few lines: eps|x1 + x2| + |x1 - x2| with the resisting oracle."""
    from tests.oracles import kink_2d
    T, x0 = 20_000, np.array([1.0, 0.3])
    f = lambda x: 0.5 * abs(x[0] + x[1]) + abs(x[0] - x[1])
    sign = tb.minimize(kink_2d, x0, O.SignSGD(0.3), T)
    sto = [tb.minimize(kink_2d, x0, O.StoSignSGD(0.3), T, seed=s) for s in range(3)]
    assert f(sign.x_avg) > 0.6                    # stuck at eps * |x1 + x2| = 0.65
    assert max(f(tr.x_avg) for tr in sto) < 0.05


def test_spawn_seeds_are_independent_sequences():
    seeds = tb.spawn_seeds(0, 3)
    xs = [tb.minimize(noisy_quadratic, np.zeros(4), O.SGD(0.1), 50, args=(np.zeros(4),), seed=s).x
          for s in seeds]
    assert len({x.tobytes() for x in xs}) == 3
