"""sign_convert (docs/theory.md §2.2): exact reproduction of StoSignSGD, the switches' errors, the
statistics of the converted step, the on-disk kernel cache."""
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from theory_bench import problems
import theory_bench as tb
from theory_bench import optimizers as O
from theory_bench.analysis.sign_bias import conditional_step, marginal_bias, step_draws
from tests.stats import bernstein_radius

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["counterexample_2d", "hinge", "skewed_linear"])
def test_sign_convert_sgd_is_stosignsgd_theory_form_bit_for_bit(name):
    p = problems.make(name)
    ref = p.minimize(O.StoSignSGD(p.lr), 5000, seed=11)
    conv = p.minimize(O.sign_convert(O.SGD(p.lr)), 5000, seed=11)
    np.testing.assert_array_equal(conv.xs, ref.xs)
    np.testing.assert_array_equal(conv.xs_avg, ref.xs_avg)
    assert list(conv.state) == list(ref.state) == ["G"]
    np.testing.assert_array_equal(conv.state["G"], ref.state["G"])


def test_sign_convert_heavy_ball_is_the_practical_form_bit_for_bit():
    p = problems.make("hinge", d=10, skew=0.3)
    ref = p.minimize(O.StoSignSGD.practical(p.lr, beta1=0.9), 5000, seed=3)
    conv = p.minimize(O.sign_convert(O.SGD(p.lr, momentum=0.9)), 5000, seed=3)
    np.testing.assert_array_equal(conv.xs, ref.xs)
    for row in ("m", "G"):
        np.testing.assert_array_equal(conv.state[row], ref.state[row])


def test_a_different_seed_or_variant_gives_a_different_trajectory():
    p = problems.make("counterexample_2d")
    a = p.minimize(O.sign_convert(O.SGD(p.lr)), 2000, seed=1)
    assert not np.array_equal(a.xs, p.minimize(O.sign_convert(O.SGD(p.lr)), 2000, seed=2).xs)
    assert not np.array_equal(a.xs, p.minimize(O.sign_convert(O.SGD(p.lr), envelope="decayed_max", beta=0.9),
                                               2000, seed=1).xs)


@pytest.mark.parametrize("kw, match", [
    (dict(envelope="foo"), r"envelope must be one of 'max', 'decayed_max'.*got 'foo'"),
    (dict(noise="laplace"), r"noise must be one of 'uniform', 'gaussian', 'none', got 'laplace'"),
    (dict(scaled="yes"), r"scaled must be True or False, got 'yes'"),
    (dict(envelope="constant"), r"envelope='constant' needs C > 0"),
    (dict(envelope="constant", C=0.0), r"C must be > 0 .* got 0.0"),
    (dict(envelope="constant", C=-1), r"C must be > 0 .* got -1"),
    (dict(envelope="constant", C=float("nan")), r"C must be finite, got nan"),
    (dict(C=2.0), r"C=2.0 only applies to envelope='constant', got envelope='max'"),
    (dict(envelope="decayed_max", beta=0.0), r"beta must be in \(0, 1\] .*got 0.0"),
    (dict(envelope="decayed_max", beta=1.5), r"beta must be in \(0, 1\] .*got 1.5"),
    (dict(envelope="decayed_max", beta=-0.1), r"beta must be in \(0, 1\] .*got -0.1"),
    (dict(envelope="decayed_max", beta="x"), r"beta must be a number, got 'x'"),
    (dict(beta=0.9), r"beta=0.9 only applies to envelope='decayed_max', got envelope='max'"),
])
def test_bad_switches_name_the_value_and_the_fix(kw, match):
    with pytest.raises(ValueError, match=match):
        O.sign_convert(O.SGD(0.1), **kw)


@pytest.mark.parametrize("base", [O.SignSGD(0.1), O.Signum(0.1), O.StoSignSGD(0.1), O.Lion(0.1), O.EFSignSGD(0.1)])
def test_sign_methods_are_not_convertible(base):
    with pytest.raises(ValueError, match=f"cannot convert {base.name}.*convertible: SGD"):
        O.sign_convert(base)


def test_base_must_be_an_optimizer_instance():
    with pytest.raises(ValueError, match=r"takes an optimizer instance .* got <class"):
        O.sign_convert(O.SGD)


def test_defaults_config_and_bits():
    c = O.sign_convert(O.Adam(0.01), envelope="decayed_max")
    assert c.beta == 0.999 and c.C is None and c.lr == 0.01 and c.schedule == "constant"
    assert c.state_names == ("m", "v", "G")
    cfg = c.config()
    assert cfg["optimizer"] == "sign(Adam)" and cfg["envelope"] == "decayed_max" and cfg["base_beta2"] == 0.999
    assert c.bits_per_coordinate(100) == 1.0
    assert O.sign_convert(O.SGD(1.0), scaled=True).bits_per_coordinate(100) == 65.0
    assert O.sign_convert(O.SGD(1.0), scaled=True, envelope="norm_2").bits_per_coordinate(64) == 2.0
    assert O.sign_convert(O.SGD(1.0), scaled=True, envelope="constant", C=1.0).bits_per_coordinate(64) == 1.0
    assert "sign_convert(Adam(" in repr(c) and "beta=0.999" in repr(c)


def test_pickles_by_its_switches():
    c = O.sign_convert(O.SGD(0.2, momentum=0.5), envelope="norm_2", noise="gaussian", scaled=True)
    d = pickle.loads(pickle.dumps(c))
    assert d.kernel is c.kernel and d.config() == c.config()


# --- statistics of one step (the lemma, conditional on u) ---
def _state():
    rng = np.random.default_rng(5)
    return [np.clip(rng.standard_cauchy(24), -3, 3) for _ in range(4)], np.clip(2 * rng.normal(size=24), -3, 3)


@pytest.mark.parametrize("base", [O.SGD(1.0), O.SGD(1.0, momentum=0.9), O.AdaGrad(1.0), O.Adam(1.0, weight_decay=0.1),
                                  O.AdamW(1.0, weight_decay=0.1)], ids=lambda b: b.name + str(b.hyper[0]))
@pytest.mark.parametrize("scaled", [False, True])
def test_expected_step_is_u_over_B_or_u_scaled(base, scaled):
    warm, g = _state()
    r = conditional_step(O.sign_convert(base, scaled=scaled), g, warmup=warm, n=20_000)
    assert r.z <= 1.0, f"mean step off by {r.z:.2f} Bernstein radii"
    wrong = conditional_step(O.sign_convert(base, scaled=scaled, noise="none"), g, warmup=warm, n=20_000)
    assert wrong.z > 1.0


def test_gaussian_noise_has_the_erf_mean():
    """docs/theory.md §2.2: with n ~ N(0, 1), E sign(u + B n) = erf(u / (sqrt(2) B)) - checked against the
    exact variance 1 - m^2, union bound over coordinates at 1e-6."""
    warm, g = _state()
    n = 20_000
    dr = step_draws(O.sign_convert(O.SGD(1.0), noise="gaussian"), np.broadcast_to(g, (n, g.size)), warmup=warm)
    m = erf(dr.u[0] / (math.sqrt(2) * dr.B[0]))
    radius = np.array([bernstein_radius(1 - mi ** 2, n, 1e-6 / g.size, 2.0) for mi in m]) + 1e-12
    assert np.all(np.abs(dr.s.mean(axis=0) - m) <= radius)
    uniform_mean = dr.u[0] / dr.B[0]                   # ...which is not u / B: the bias is measurable
    assert np.max(np.abs(dr.s.mean(axis=0) - uniform_mean) / radius) > 5


def test_marginal_bias_separates_predictable_from_moving_envelopes():
    ok = marginal_bias(O.sign_convert(O.SGD(1.0)), n=20_000)
    assert ok.lo <= 0 <= ok.hi
    for kw in (dict(envelope="current"), dict(noise="none"), dict(noise="gaussian"), dict(envelope="constant", C=2.0)):
        bad = marginal_bias(O.sign_convert(O.SGD(1.0), **kw), n=20_000)
        assert not bad.lo <= 0 <= bad.hi, kw
    small_d = marginal_bias(O.sign_convert(O.SGD(1.0), envelope="norm_inf"), d=8, n=20_000)
    assert small_d.hi < 0        # ||g||_inf is 1 whenever no coordinate drew A: the step leans the wrong way


# --- the generated kernels are cached on disk ---
SCRIPT = """
import json, numpy as np
from theory_bench import optimizers as O
c = O.sign_convert(O.Adam(0.1), envelope="norm_2", noise="gaussian")
x, S = np.ones(5), c.init_state(np.ones(5))
c.kernel(x, np.arange(5.0), S, c.hyper, 0.1, 1, np.uint64(1))
print(json.dumps({"hits": sum(c.kernel.stats.cache_hits.values()), "misses": sum(c.kernel.stats.cache_misses.values()),
                  "x": x.tolist()}))
"""


def _fresh(cache_dir):
    env = dict(os.environ, THEORY_BENCH_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_converted_kernel_is_compiled_once_and_loaded_from_disk(tmp_path):
    first, second = _fresh(tmp_path), _fresh(tmp_path)
    assert (first["misses"], first["hits"]) == (1, 0)
    assert (second["misses"], second["hits"]) == (0, 1)
    assert first["x"] == second["x"]
    (src,) = (tmp_path / "kernels").glob("tb_sign_*.py")
    text = src.read_text()
    assert "NORM_ADD = _NORM_ADD_ROOT" in text and "def vector_step" in text and "error_model='numpy'" in text


def test_minimize_runs_a_converted_optimizer_through_the_cached_loop():
    """The generated loop imports the generated kernel module by name."""
    p = problems.make("counterexample_2d")
    tr = tb.minimize(p.oracle, p.x0, O.sign_convert(O.AdaGrad(0.3, schedule="inv_sqrt"), envelope="decayed_max"), 3000,
                     args=p.args, box=p.box, loss=p.loss_fn)
    assert tr.path == "jit-cached" and tr.losses_avg[-1] < tr.losses_avg[0]
