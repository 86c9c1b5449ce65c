"""``theory_bench.testing_calibration``: the variants the tables of docs/testing.md measure are what they
say (half noise is biased and fails where the table says; the correct optimizer passes), and the
snapshot simulation counts false alarms and power as the regression module predicts. The full
calibration (229 s) runs under ``-m slow``."""
import numpy as np
import pytest

from theory_bench import problems
from theory_bench.analysis.regression import power
from theory_bench.testing import assert_converges, assert_unbiased
from theory_bench.testing_calibration import HalfNoise, main, snapshot_rates, variants


def test_half_noise_is_biased_and_fails_the_skewed_problem():
    p = problems.make("skewed_linear", d=10)
    assert_converges(variants(p.lr)["StoSignSGD"], p, 10_000)
    with pytest.raises(AssertionError, match=r"StoSignSGD \(half noise\) does not converge on skewed_linear .* \([3-5]\.\d+x\)"):
        assert_converges(HalfNoise(p.lr), p, 10_000)
    with pytest.raises(AssertionError, match="is biased"):
        assert_unbiased(lambda g, G, rng: np.sign(g + 0.5 * G * rng.uniform(-1, 1, g.shape)), n=5000)


def test_every_variant_is_built_at_the_given_lr():
    v = variants(0.7)
    assert set(v) == {"StoSignSGD", "SignSGD", "current envelope", "Gaussian noise", "half noise", "constant lr"}
    assert all(o.lr == 0.7 for o in v.values()) and v["constant lr"].schedule == "constant"


def test_snapshot_simulation_counts_false_alarms_and_power():
    pool = np.exp(np.random.default_rng(0).normal(0.0, 0.3, 2000))
    fa, pw, real = snapshot_rates(pool, regression_pool=3 * pool, n=10, reps=3000)
    assert fa <= 3e-3 and real >= 0.99       # 3x worse: power 0.999 by the model
    assert abs(pw - power(0.3, 10, 10)) < 0.05


@pytest.mark.slow
def test_the_quick_calibration_runs(tmp_path, capsys):
    assert main(["--quick", "--json", str(tmp_path / "c.json")]) == 0
    import json
    out = json.loads((tmp_path / "c.json").read_text())
    assert {r["problem"] for r in out["default_tolerances"]} >= {"counterexample_2d", "skewed_linear (d=10)"}
    assert all(r["failures_simulated"] == 0 for r in out["default_tolerances"])
    assert {r["verdict"] for r in out["regret"] if r["optimizer"].startswith(("StoSignSGD lr", "SGD lr"))} == {"passes"}
