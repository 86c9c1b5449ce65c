"""docs/theory.md §3.3: the counterexamples really fail for SignSGD and succeed for StoSignSGD (short runs)."""
import numpy as np
import pytest

from theory_bench import problems
from theory_bench.optimizers import SGD, SignSGD, StoSignSGD


def test_counterexample_2d_signsgd_stuck_on_its_line():
    p = problems.make("counterexample_2d")
    tr = p.minimize(SignSGD(p.lr), 20_000)
    s = tr.xs[:, 0] + tr.xs[:, 1]
    np.testing.assert_allclose(s, 1.3, atol=1e-12)              # x1 + x2 never changes
    assert np.all(tr.losses_avg >= p.extra["signsgd_floor"] - 1e-9)
    assert tr.losses_avg[-1] == pytest.approx(0.65, abs=1e-3)


@pytest.mark.parametrize("opt", [StoSignSGD(0.3), SGD(0.3)], ids=repr)
def test_counterexample_2d_converges_for_stosign_and_sgd(opt):
    p = problems.make("counterexample_2d")
    for seed in range(3):
        assert p.minimize(opt, 20_000, seed=seed).losses_avg[-1] < 0.01


def test_counterexample_2d_sign_zero_oracle_lets_floating_point_escape():
    """With sign(0) = 0 in the oracle, x1 - x2 lands exactly on 0.0 after step 2077 (docs/theory.md §3.3.1)."""
    p = problems.make("counterexample_2d", oracle="numpy_sign")
    tr = p.minimize(SignSGD(0.3), 3000, checkpoints=np.arange(1, 3001))
    diff = tr.xs[:, 0] - tr.xs[:, 1]
    assert tr.t[np.argmax(diff == 0.0)] == 2077
    assert abs(tr.xs[-1, 0] + tr.xs[-1, 1]) < 1.3


def test_skewed_linear_signsgd_drifts_the_wrong_way():
    p = problems.make("skewed_linear", d=3)
    f_star = p.optimum()[1]
    sign = p.minimize(SignSGD(p.lr), 20_000)
    sto = p.minimize(StoSignSGD(p.lr), 20_000)
    assert sign.losses_avg[-1] - f_star > 0.9 * p.extra["signsgd_gap"]   # near +1: gap 2 mu d
    assert sto.losses_avg[-1] - f_star < 0.1 * p.extra["signsgd_gap"]


def test_skewed_quadratic_smoothness_does_not_save_signsgd():
    p = problems.make("skewed_quadratic")
    assert p.minimize(SignSGD(p.lr), 20_000).x_avg[0] < -0.9
    assert abs(p.minimize(StoSignSGD(p.lr), 20_000).x_avg[0] - 1 / 3) < 0.05


@pytest.mark.slow
def test_counterexample_2d_full_horizon_numbers_of_theory():
    """docs/theory.md §3.3.1 at T = 1e5: SignSGD 0.6500, SGD ~2e-5, StoSignSGD ~1.2e-4 (3 seeds)."""
    p = problems.make("counterexample_2d")
    assert p.minimize(SignSGD(0.3), 10 ** 5).losses_avg[-1] == pytest.approx(0.65, abs=1e-4)
    assert p.minimize(SGD(0.3), 10 ** 5).losses_avg[-1] < 1e-4
    assert np.mean([p.minimize(StoSignSGD(0.3), 10 ** 5, seed=s).losses_avg[-1] for s in range(3)]) < 5e-4


@pytest.mark.parametrize("name", ["hinge", "l1"])
def test_skewed_noise_on_a_d_dimensional_problem(name):
    """docs/theory.md §3.3.3: the same zero-mean, skewed noise on every coordinate of hinge and L1."""
    p = problems.make(name, d=10, skew=0.3)
    f_star = p.optimum()[1]
    sign = p.minimize(SignSGD(p.lr), 20_000).losses_avg[-1] - f_star
    sto = p.minimize(StoSignSGD(p.lr), 20_000).losses_avg[-1] - f_star
    assert sign > 0.4                                   # drifts away: 0.47 (hinge), 0.72 (L1)
    assert sto < 0.1                                    # 0.066, 0.006
