"""The pytest plugin: the convergence marker, and snapshots that record, compare and explain."""
import json

TEST = '''
import pytest
from theory_bench.optimizers import StoSignSGD
from theory_bench.testing import assert_converges

@pytest.mark.convergence
def test_sto(convergence_snapshot):
    result = assert_converges(StoSignSGD(0.3), "counterexample_2d", 2000, tol=0.1, seeds=2)
    convergence_snapshot.check(result)
'''


def test_record_then_compare(pytester):
    pytester.makepyfile(test_sto=TEST)
    missing = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*no convergence snapshot test_sto.py.theory-bench.json next to the test; "
                                  "record it with `pytest --theory-bench-update`*"])
    pytester.runpytest_subprocess("--theory-bench-update").assert_outcomes(passed=1)
    snap = pytester.path / "test_sto.py.theory-bench.json"
    data = json.loads(snap.read_text())
    keys = sorted(data["test_sto"])
    assert keys == ["StoSignSGD | counterexample_2d | gap at T=2000 | seed 0",
                    "StoSignSGD | counterexample_2d | gap at T=2000 | seed 1"]
    first = snap.read_text()
    pytester.runpytest_subprocess("--theory-bench-update").assert_outcomes(passed=1)
    assert snap.read_text() == first                       # stable, reviewable JSON
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_worse_value_fails_and_says_by_how_much(pytester):
    pytester.makepyfile(test_sto=TEST)
    pytester.runpytest_subprocess("--theory-bench-update").assert_outcomes(passed=1)
    snap = pytester.path / "test_sto.py.theory-bench.json"
    data = json.loads(snap.read_text())
    key = sorted(data["test_sto"])[0]
    data["test_sto"][key] /= 2                              # the past was twice as good
    snap.write_text(json.dumps(data))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*convergence got worse than its snapshot:*",
                                 "*seed 0: * vs snapshot * (+100.0%, tolerance 10%)*"])


def test_corrupt_snapshot_says_how_to_record_it(pytester):
    pytester.makepyfile(test_sto=TEST)
    (pytester.path / "test_sto.py.theory-bench.json").write_text("{not json")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*convergence snapshot *test_sto.py.theory-bench.json is corrupt*"
                                 "record it again with `pytest --theory-bench-update`*"])


def test_marker_is_registered(pytester):
    pytester.makepyfile(test_m="import pytest\n@pytest.mark.convergence\ndef test_x():\n    pass\n")
    pytester.runpytest_subprocess("--strict-markers").assert_outcomes(passed=1)
