"""theory_bench.testing: the checks pass on correct optimizers and fail, legibly, on broken ones."""
import numpy as np
import pytest

from theory_bench import problems
from tests import user_optimizers as U
from theory_bench.optimizers import SGD, SignSGD, StoSignSGD
from theory_bench.testing import assert_converges, assert_regret_rate, assert_unbiased

GRID = [1000, 3000, 10_000, 30_000]


def test_correct_stosign_converges_on_counterexample_1():
    r = assert_converges(StoSignSGD(0.3), "counterexample_2d", 10_000, tol=0.01)
    assert max(r.values) < 0.01 and len(r.values) == 5


def test_gaussian_noise_still_converges_on_counterexample_1():
    """Gaussian noise biases the step (E = erf(g / (sqrt(2) G))) but, the bias being odd in g, it
    still moves x1 + x2 there; its failure shows on the skewed adversary (below)."""
    assert_converges(U.GaussianStoSignSGD(0.3), "counterexample_2d", 10_000, tol=0.01, seeds=2)


@pytest.mark.parametrize("broken", [U.SignSGDPassedOff(0.3)], ids=lambda o: o.name)
def test_broken_optimizer_fails_assert_converges_with_a_readable_message(broken):
    with pytest.raises(AssertionError) as err:
        assert_converges(broken, "counterexample_2d", 10_000, tol=0.01)
    msg = str(err.value)
    assert f"{broken.name} does not converge on counterexample_2d" in msg and "the mean gap" in msg
    assert "gaps per seed (5 children of SeedSequence(20260423), root_seed=20260423)" in msg and "tol=0.01" in msg
    assert "problems.make('counterexample_2d', **{'eps': 0.5, 'x0': [1.0, 0.3], 'oracle': 'resisting'})" in msg
    assert "(replace OPTIMIZER by your StoSignSGD)" in msg          # a user's class: its repr does not rebuild it
    assert err.value.result.values == [pytest.approx(0.65, abs=1e-3)] * 5
    with pytest.raises(AssertionError) as err:
        assert_converges(SignSGD(0.3), "counterexample_2d", 1000)
    assert "p.minimize(SignSGD(lr=0.3, schedule='inv_sqrt'), T" in str(err.value) and "OPTIMIZER" not in str(err.value)


def test_correct_stosign_has_the_sqrt_rate_on_the_skewed_adversary():
    r = assert_regret_rate(StoSignSGD(2 ** 0.5), problems.make("skewed_linear", d=10), GRID)
    assert 0.4 <= r.extra["interval"][0] <= r.extra["interval"][1] <= 0.6


@pytest.mark.parametrize("lr", [0.14, 0.45, 4.5])
@pytest.mark.parametrize("make", [StoSignSGD, SGD], ids=["StoSignSGD", "SGD"])
def test_regret_check_passes_correct_optimizers_over_a_decade_of_lr(make, lr):
    """One-sided (§3.1 bounds regret from above): slopes 0.27-0.76 here, bound ratios <= 0.76
    (docs/testing.md); the two-sided window (0.4, 0.6) would fail lr 0.14, 0.45 and 4.5."""
    r = assert_regret_rate(make(lr), problems.make("skewed_linear", d=10), GRID)
    assert r.extra["interval"][1] <= 0.85 and r.extra["bound_ratio"][2] <= 1


def test_the_window_is_an_option_and_fails_an_untuned_lr():
    with pytest.raises(AssertionError, match=r"the slope's interval is not inside the window \[0.4, 0.6\]"):
        assert_regret_rate(StoSignSGD(0.14), problems.make("skewed_linear", d=10), GRID, slope=(0.4, 0.6))


@pytest.mark.parametrize("broken,match", [
    (U.SignSGDPassedOff(2 ** 0.5), r"the regret is not sublinear: the slope's upper end 1\.0\d+ exceeds 0.85"),
    (U.GaussianStoSignSGD(2 ** 0.5), r"the regret exceeds §3.1's bound .* eta = 1.41421"),
    (StoSignSGD(0.05, schedule="constant"), r"not sublinear.*or a step that does not decay \(a constant lr"),
], ids=["SignSGD", "Gaussian", "constant-lr"])
def test_broken_optimizer_fails_assert_regret_rate(broken, match):
    with pytest.raises(AssertionError, match=match) as err:
        assert_regret_rate(broken, problems.make("skewed_linear", d=10), GRID, seeds=10)
    assert "skewed_linear {'d': 10" in str(err.value) and "problems.make('skewed_linear', **{'d': 10" in str(err.value)


def test_user_python_class_passes_the_same_checks():
    assert_converges(U.PyStoSignSGD(0.3), "counterexample_2d", 5000, tol=0.02, seeds=3)
    assert_regret_rate(U.PyStoSignSGD(2 ** 0.5), problems.make("skewed_linear", d=4), GRID, seeds=10)


def test_user_numba_functions_run_compiled_and_converge():
    p = problems.make("counterexample_2d")
    tr = p.minimize(U.JitStoSignSGD(), 5000)
    assert tr.path == "jit-cached"
    assert_converges(U.JitStoSignSGD(), p, 20_000, tol=0.01)


def test_hinge_d100_default_tolerance_is_the_theory_bound():
    p = problems.make("hinge", n=1000, d=100)
    r = assert_converges(StoSignSGD(p.lr), p, 10_000)
    assert r.threshold == pytest.approx(r.theory) and max(r.values) < r.threshold


@pytest.mark.parametrize("opt,exc,match", [
    (U.NoStep(), ValueError, r"follow the protocol init\(x0\) -> state and step\(x, g, state, t, rng\) -> x; "
                             r"NoStep has no callable step"),
    (U.WrongShape(0.1), ValueError, r"WrongShape.step|PyStoSignSGD.step must return a float64 ndarray of shape \(2,\)"),
    (U.ReturnsList(0.1), ValueError, r"\.step must return a float64 ndarray of shape \(2,\) \(the next iterate\), got list"),
    (U.MakesNaN(0.1), FloatingPointError, r"PyStoSignSGD.step produced a non-finite iterate at step t=3, coordinate 0"),
])
def test_protocol_violations_name_the_method(opt, exc, match):
    with pytest.raises(exc, match=match):
        problems.make("counterexample_2d").minimize(opt, 10)


def test_assert_unbiased_on_user_sign_operators():
    assert_unbiased(lambda g, G, rng: np.sign(g + G * rng.uniform(-1, 1, g.shape)))
    def gaussian_sign(g, G, rng):
        return np.sign(g + G * rng.normal(size=g.shape))
    with pytest.raises(AssertionError, match=r"test_assert_unbiased_on_user_sign_operators.<locals>.gaussian_sign is "
                                             r"biased: E\[s\] != g/G"):
        assert_unbiased(gaussian_sign)
    with pytest.raises(AssertionError, match=r"<lambda> is biased"):
        assert_unbiased(lambda g, G, rng: np.sign(g))
    with pytest.raises(ValueError, match=r"must return an array shaped like g"):
        assert_unbiased(lambda g, G, rng: np.zeros(3), n=10)


def test_a_missing_init_is_named_and_a_nan_names_its_seed():
    with pytest.raises(ValueError, match=r"NoInit has step\(\) but no callable init\(x0\) -> state"):
        assert_converges(U.NoInit(), "counterexample_2d", 10)
    with pytest.raises(FloatingPointError, match=r"non-finite iterate at step t=3.*\(seed 0: child 0 of "
                                                 r"SeedSequence\(7\), root_seed=7\)"):
        assert_converges(U.MakesNaN(0.1), "counterexample_2d", 10, root_seed=7)


def test_nesterov_message_shows_its_own_tolerance_only():
    with pytest.raises(AssertionError) as err:
        assert_converges(SGD(1.0), "nesterov", 49)
    assert "online-to-batch" not in str(err.value) and "with k = 49" in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="on must be 'x_avg'"):
        assert_converges(StoSignSGD(0.1), "counterexample_2d", 10, on="last")
    on_diagonal = problems.make("counterexample_2d", x0=(0.5, -0.5))        # SignSGD has no floor there
    with pytest.raises(ValueError, match="there is no default tolerance; pass tol="):
        assert_converges(StoSignSGD(0.1), on_diagonal, 10)
    with pytest.raises(ValueError, match="'hinge' is not an online adversary"):
        assert_regret_rate(StoSignSGD(0.1), "hinge", GRID)
    with pytest.raises(ValueError, match="T_grid needs at least 3 distinct horizons"):
        assert_regret_rate(StoSignSGD(0.1), "skewed_linear", [10, 100])


def test_default_tolerance_on_the_headline_counterexample():
    """No tol= needed on counterexample 1: 1% of SignSGD's floor, and the message says so."""
    result = assert_converges(StoSignSGD(0.3), "counterexample_2d", 10_000)
    assert result.threshold == pytest.approx(0.0065)
    assert "1% of SignSGD's floor" in result.extra["tolerance"]
    with pytest.raises(AssertionError, match=r"tol=0.0065, the default for counterexample_2d: 1% of SignSGD's floor "
                                             r"eps \|x1 \+ x2\| = 0.65"):
        assert_converges(SignSGD(0.3), "counterexample_2d", 10_000)


def test_default_tolerance_on_nesterov_is_the_span_floor():
    """Half the initial gap: reachable after d steps, impossible within k = d - 1 steps (docs/theory.md §3.4)."""
    assert_converges(SGD(1.0), "nesterov", 10_000)
    assert_converges(StoSignSGD(0.1), "nesterov", 10_000)
    with pytest.raises(AssertionError, match=r"0.5 x the initial gap .* with k = 49"):
        assert_converges(SGD(1.0), "nesterov", 49)
