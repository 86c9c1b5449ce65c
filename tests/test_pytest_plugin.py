"""The pytest plugin: the convergence marker, and snapshots that fail on *worse*, not on *different*:
a harmless refactor (the noise negated: the same distribution) passes, a real regression fails, the
message says by how much; keys are the same across front ends; old and corrupt files say what to do."""
import json
import math
import types
from pathlib import Path

import numpy as np
import pytest

from tests import user_optimizers as U
from theory_bench.pytest_plugin import optimizer_key, snapshot_key
from theory_bench.testing import ConvergenceResult

TEST = '''
import pytest
from tests.user_optimizers import JitStoSignSGDLr
from theory_bench.testing import assert_converges

@pytest.mark.convergence
def test_sto(convergence_snapshot):
    result = assert_converges(JitStoSignSGDLr(LR, negated=NEGATED), "counterexample_2d", 5000, tol=0.1, seeds=50)
    convergence_snapshot.check(result)
'''


def write(pytester, lr=0.3, negated=False):
    pytester.makepyfile(test_sto=TEST.replace("LR", repr(lr)).replace("NEGATED", repr(negated)))


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error::UserWarning", *args)


def test_record_then_compare(pytester, monkeypatch):
    """The plugin in a real pytest run: missing, recorded (stable JSON), compared."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))     # the run imports tests.user_optimizers
    write(pytester)
    missing = run(pytester)
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*no convergence snapshot test_sto.py.theory-bench.json next to the test; "
                                  "record it with `pytest --theory-bench-update`*"])
    run(pytester, "--theory-bench-update").assert_outcomes(passed=1)
    snap = pytester.path / "test_sto.py.theory-bench.json"
    data = json.loads(snap.read_text())
    assert data["format"] == 2
    (key, entry), = data["tests"]["test_sto"].items()
    assert key == ('JitStoSignSGD | counterexample_2d {"eps": 0.5, "oracle": "resisting", "x0": [1.0, 0.3]} '
                   '| gap at T=5000')
    assert entry["n"] == 50 and len(entry["values"]) == 50 and entry["sd_log"] > 0.3
    write(pytester, lr=0.3 * 0.3)                           # a regression: fails in a real run, with the numbers
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*convergence got worse than its snapshot (a false alarm for an unchanged "
                                 "distribution has probability 0.001):*",
                                 "*JitStoSignSGD | counterexample_2d * | gap at T=5000: geometric mean * vs snapshot * "
                                 "(+*%; t = * > *, one-sided at 0.001, and above the floor +10%)*"])


def snapshot(tmp_path, update=False, name="test_sto"):
    """The plugin's ``Snapshot`` on its own (what the fixture builds), for the checks that need no pytest run."""
    from theory_bench.pytest_plugin import _STASH, Snapshot
    config = types.SimpleNamespace(stash={_STASH: {}})
    return Snapshot(config, tmp_path / "test_sto.py.theory-bench.json", name, update, 0.1), config


def recorded(tmp_path, result):
    from theory_bench.pytest_plugin import pytest_sessionfinish
    snap, config = snapshot(tmp_path, update=True)
    snap.check(result)
    pytest_sessionfinish(types.SimpleNamespace(config=config))
    return snapshot(tmp_path)[0]


def ce(lr, negated=False, seeds=50):
    from theory_bench.testing import assert_converges
    return assert_converges(U.JitStoSignSGDLr(lr, negated=negated), "counterexample_2d", 5000, tol=0.1, seeds=seeds)


def test_recording_is_stable_reviewable_json(tmp_path):
    with pytest.warns(UserWarning, match="seeds reach 0.99"):          # 3 seeds: too few, and it says so
        recorded(tmp_path, ce(0.3, seeds=3))
    path = tmp_path / "test_sto.py.theory-bench.json"
    first = path.read_text()
    with pytest.warns(UserWarning, match="seeds reach 0.99"):
        recorded(tmp_path, ce(0.3, seeds=3))
    assert path.read_text() == first and first == json.dumps(json.loads(first), indent=1, sort_keys=True) + "\n"


def test_a_harmless_refactor_passes_and_a_regression_fails(tmp_path):
    """n -> -n leaves the distribution as it was (per-seed gaps change by up to 10x); lr x 0.3 makes the
    geometric mean about 3x worse, which 50 seeds catch with power > 0.999; so does a 2x worse one."""
    base = ce(0.3)
    snap = recorded(tmp_path, base)
    negated = ce(0.3, negated=True)
    per_seed = np.array(negated.values) / np.array(base.values)
    assert per_seed.max() / per_seed.min() > 10                   # a per-seed tolerance would fail it
    snap.check(negated)
    with pytest.raises(pytest.fail.Exception, match=r"geometric mean .* vs snapshot .* \(\+\d+\.\d%; t = "):
        snap.check(ce(0.3 * 0.3))
    doubled = ce(0.3)
    doubled.values = [2 * v for v in doubled.values]
    with pytest.raises(pytest.fail.Exception, match=r"\(\+100\.0%; t = "):
        snap.check(doubled)


def test_a_regret_snapshot_compares_the_slope(tmp_path):
    from theory_bench import problems
    from theory_bench.optimizers import SignSGD, StoSignSGD
    from theory_bench.testing import assert_regret_rate
    p, grid = problems.make("skewed_linear", d=4), [300, 1000, 3000]
    good = assert_regret_rate(StoSignSGD(2 ** 0.5), p, grid, seeds=10)
    snap = recorded(tmp_path, good)
    entry = json.loads((tmp_path / "test_sto.py.theory-bench.json").read_text())["tests"]["test_sto"]
    (rec,) = entry.values()
    assert rec["slope"][1] <= rec["slope"][0] <= rec["slope"][2] and len(rec["bound_ratio"]) == 3
    snap.check(assert_regret_rate(StoSignSGD(2 ** 0.5), p, grid, seeds=10, root_seed=1))
    with pytest.raises(AssertionError) as err:
        assert_regret_rate(SignSGD(2 ** 0.5), p, grid, seeds=10)
    bad = err.value.result
    bad.optimizer = "StoSignSGD"                               # SignSGD passed off as StoSignSGD
    with pytest.raises(pytest.fail.Exception, match=r"regret slope 1\.\d+ .* vs snapshot 0\.\d+ .*z = "):
        snap.check(bad)


def test_a_snapshot_with_few_seeds_warns_how_many_it_needs(tmp_path):
    snap, _ = snapshot(tmp_path, update=True)
    with pytest.warns(UserWarning, match=r"with 5 seeds \(log sd 0\.\d+\) a 2x worse geometric mean fails with "
                                         r"probability 0\.\d+; \d+ seeds reach 0\.99 \(pass seeds=\)"):
        snap.check(ce(0.3, seeds=5))


def test_an_old_snapshot_says_to_record_again(tmp_path):
    (tmp_path / "test_sto.py.theory-bench.json").write_text(json.dumps(
        {"test_sto": {"StoSignSGD | counterexample_2d | gap at T=2000 | seed 0": 0.001}}))
    with pytest.raises(pytest.fail.Exception, match=r"was recorded by an older theory-bench \(one value per seed, "
                                                    r"compared at 10%.*record it again with `pytest --theory-bench-update`"):
        snapshot(tmp_path)[0].check(ce(0.3, seeds=2))


def test_corrupt_snapshot_says_how_to_record_it(tmp_path):
    (tmp_path / "test_sto.py.theory-bench.json").write_text("{not json")
    with pytest.raises(pytest.fail.Exception, match=r"test_sto.py.theory-bench.json is corrupt .*record it again with "
                                                    r"`pytest --theory-bench-update`"):
        snapshot(tmp_path)[0].check(ce(0.3, seeds=2))


def test_keys_are_the_same_across_front_ends():
    """A torch factory's arguments are not part of the key, so a changed lr compares."""
    assert optimizer_key("SGD(lr=0.1)") == optimizer_key("SGD(lr=0.5, momentum=0.9)") == "SGD"
    assert optimizer_key("AdamW(lr=0.01, betas=(0.9, 0.99))") == "AdamW"
    assert optimizer_key("sign(SGD)") == "sign(SGD)" and optimizer_key("StoSignSGD") == "StoSignSGD"
    a = ConvergenceResult("StoSignSGD", "hinge", 100, [0.1], 1.0, params={"d": 10, "n": 5})
    b = ConvergenceResult("StoSignSGD(lr=0.3)", "hinge", 100, [0.2], 1.0, params={"n": 5, "d": 10})
    c = ConvergenceResult("StoSignSGD", "hinge", 100, [0.1], 1.0, params={"d": 20, "n": 5})
    assert snapshot_key(a) == snapshot_key(b) != snapshot_key(c)


def test_marker_is_registered(pytester):
    pytester.makepyfile(test_m="import pytest\n@pytest.mark.convergence\ndef test_x():\n    pass\n")
    pytester.runpytest_subprocess("--strict-markers").assert_outcomes(passed=1)


@pytest.mark.parametrize("n", [5, 40])
def test_false_alarm_and_power_by_simulating_the_check(n):
    """The check itself (``worse_many`` is what ``worse`` decides with), 200,000 times on log-normal
    seeds of the spread of counterexample 1 (log sd 0.55): false alarms for an unchanged distribution
    at most 1e-3 (the simulation's 99.9% upper end), and power against a 2x worse geometric mean as
    the noncentral t says."""
    from theory_bench.analysis.regression import log_summaries, power, worse, worse_many, log_summary
    rng = np.random.default_rng(n)
    reps, sd = 200_000, 0.55
    rec, new = np.exp(rng.normal(0, sd, (reps, n))), np.exp(rng.normal(0, sd, (reps, n)))
    fa = int(worse_many(log_summaries(rec), log_summaries(new)).sum())
    pw = float(worse_many(log_summaries(rec), log_summaries(2 * new)).mean())
    upper = fa / reps + 3.29 * math.sqrt(max(fa, 1)) / reps
    assert upper <= 1e-3, fa
    expected = power(sd, n, n)
    assert abs(pw - expected) <= 4 * math.sqrt(expected * (1 - expected) / reps) + 0.01, (pw, expected)
    for k in range(20):                                   # the scalar check decides as the vectorised one
        a, b = log_summary(rec[k]), log_summary(2 * new[k])
        assert worse(a, b)[0] == bool(worse_many(log_summaries(rec[k:k + 1]), log_summaries(2 * new[k:k + 1]))[0])
