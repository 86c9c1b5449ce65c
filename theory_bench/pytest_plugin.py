"""pytest plugin (entry point ``pytest11``): a ``convergence`` marker and convergence snapshots.

    @pytest.mark.convergence
    def test_my_optimizer(convergence_snapshot):
        result = assert_converges(MyOptimizer(0.1), "hinge", 10_000, seeds=20)
        convergence_snapshot.check(result)

``pytest --theory-bench-update`` records each check in ``<test file>.theory-bench.json`` next to
the test: every seed's value (gap or regret) and their log mean and standard deviation, and for a
regret check the slope and the bound ratio with their intervals; plain, sorted, reviewable JSON.
A later run fails only when the check got **worse**, not merely different
(``theory_bench.analysis.regression``): the geometric mean of the values is significantly larger
(one-sided Welch t on the logs at ``theory_bench_alpha``, default 1e-3 false alarms per check for a
change that leaves the distribution as it was) and by more than ``theory_bench_rtol`` (default 0.1);
for a regret check also the slope (one-sided z from the intervals; the two share the 1e-3). A key
is the optimizer's name (without a factory's arguments, so a changed ``lr`` compares), the problem
with its parameters, the metric and ``T``: the same from the numpy and the torch front ends.
Recording warns when the snapshot cannot see a 2x worse geometric mean with probability 0.99 at its
number of seeds, and says how many seeds would.
"""
import json
import math
import re
import warnings
from pathlib import Path

import pytest

from theory_bench.analysis.regression import ALPHA, RTOL, log_summary, power, seeds_for_power, slope_worse, worse

SUFFIX = ".theory-bench.json"
FORMAT = 2
_STASH = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("theory-bench")
    group.addoption("--theory-bench-update", action="store_true", default=False,
                    help="record convergence snapshots (<test file>.theory-bench.json) instead of comparing")
    parser.addini("theory_bench_rtol", f"smallest worsening of a geometric mean that fails a snapshot (default {RTOL})",
                  default=str(RTOL))
    parser.addini("theory_bench_alpha", f"false-alarm rate of a snapshot check (default {ALPHA})", default=str(ALPHA))


def pytest_configure(config):
    config.addinivalue_line("markers", "convergence: a convergence regression check (theory-bench)")
    config.stash[_STASH] = {}


def pytest_sessionfinish(session):
    """In update mode, write every snapshot file that a test recorded into (atomically)."""
    for path, content in session.config.stash.get(_STASH, {}).items():
        if content.get("dirty"):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps({"format": FORMAT, "tests": content["data"]}, indent=1, sort_keys=True) + "\n")
            tmp.replace(path)


def optimizer_key(name):
    """The optimizer's name without a factory's keyword arguments: ``AdamW(lr=0.01, betas=(0.9, 0.99))``
    -> ``AdamW``; a name such as ``sign(SGD)`` stays."""
    m = re.match(r"^([^(]+)\((.*)\)$", name)
    return m.group(1).strip() if m and "=" in m.group(2) else name


def snapshot_key(result):
    params = json.dumps(result.params, sort_keys=True, default=str)
    return f"{optimizer_key(result.optimizer)} | {result.problem} {params} | {result.kind} at T={result.T}"


def entry(result):
    """What a snapshot keeps of a ``ConvergenceResult``."""
    n, m, sd = log_summary(result.values)
    out = {"kind": result.kind, "values": [float(v) for v in result.values], "n": n, "mean_log": m, "sd_log": sd}
    if result.kind == "regret":
        out["slope"] = [float(result.extra["slope"]), *map(float, result.extra["interval"])]
        out["bound_ratio"] = [float(v) for v in result.extra["bound_ratio"]]
    return out


class Snapshot:
    """Compare (or record) a test's convergence checks against ``<test file>.theory-bench.json``."""

    def __init__(self, config, path, test, update, rtol, alpha=ALPHA):
        self.config, self.path, self.test, self.update, self.rtol, self.alpha = config, path, test, update, rtol, alpha

    def _file(self):
        files = self.config.stash[_STASH]
        if self.path not in files:
            data = {}
            if self.path.exists():
                try:
                    raw = json.loads(self.path.read_text())
                    if not isinstance(raw, dict):
                        raise ValueError("the top level is not an object")
                    if raw.get("format") != FORMAT:
                        if not self.update:
                            pytest.fail(f"convergence snapshot {self.path.name} was recorded by an older theory-bench "
                                        "(one value per seed, compared at 10%: it raised false alarms); record it again "
                                        "with `pytest --theory-bench-update`", pytrace=False)
                        raw = {"tests": {}}
                    data = raw["tests"]
                    if not isinstance(data, dict):
                        raise ValueError("'tests' is not an object")
                except ValueError as err:
                    if not self.update:
                        pytest.fail(f"convergence snapshot {self.path} is corrupt ({err}); delete it and record "
                                    f"it again with `pytest --theory-bench-update`", pytrace=False)
                    data = {}
            files[self.path] = {"data": data, "dirty": False}
        return files[self.path]

    def check(self, result, *, rtol=None, alpha=None):
        """Fail when ``result`` (a ``theory_bench.testing.ConvergenceResult``) is worse than its snapshot:
        its geometric mean significantly (one-sided, false alarms at ``alpha``) and by more than ``rtol``,
        or, for a regret check, its slope significantly larger."""
        rtol = self.rtol if rtol is None else rtol
        alpha = self.alpha if alpha is None else alpha
        key, new = snapshot_key(result), entry(result)
        f = self._file()
        if self.update:
            f["data"].setdefault(self.test, {})[key] = new
            f["dirty"] = True
            p = power(new["sd_log"], new["n"], new["n"], 2.0, alpha, rtol)
            if p < 0.99:
                need = seeds_for_power(new["sd_log"], 0.99, 2.0, alpha, rtol)
                warnings.warn(f"snapshot {key}: with {new['n']} seeds (log sd {new['sd_log']:.3g}) a 2x worse geometric "
                              f"mean fails with probability {p:.3f}; {need} seeds reach 0.99 (pass seeds=)", stacklevel=2)
            return
        if not self.path.exists():
            pytest.fail(f"no convergence snapshot {self.path.name} next to the test; record it with "
                        "`pytest --theory-bench-update` and commit it", pytrace=False)
        rec = f["data"].get(self.test, {}).get(key)
        if rec is None:
            pytest.fail(f"{key!r} of {self.test} is not in {self.path.name}; record it with "
                        "`pytest --theory-bench-update`", pytrace=False)
        tests = 2 if new["kind"] == "regret" else 1            # a regret check shares alpha between its two tests
        a = alpha / tests
        failed, d = worse((rec["n"], rec["mean_log"], rec["sd_log"]), (new["n"], new["mean_log"], new["sd_log"]), a, rtol)
        lines = []
        if failed:
            lines.append(f"{key}: geometric mean {math.exp(new['mean_log']):.4g} vs snapshot "
                         f"{math.exp(rec['mean_log']):.4g} ({d['ratio'] - 1:+.1%}; t = {d['t']:.2f} > {d['t_crit']:.2f}, "
                         f"one-sided at {a:g}, and above the floor +{rtol:.0%})")
        if new["kind"] == "regret" and "slope" in rec:
            slope_failed, z = slope_worse(rec["slope"], new["slope"], a)
            if slope_failed:
                lines.append(f"{key}: regret slope {new['slope'][0]:.3f} {new['slope'][1:]} vs snapshot "
                             f"{rec['slope'][0]:.3f} {rec['slope'][1:]} (z = {z:.2f}, one-sided at {a:g})")
        if lines:
            pytest.fail("convergence got worse than its snapshot (a false alarm for an unchanged distribution has "
                        f"probability {alpha:g}):\n  " + "\n  ".join(lines), pytrace=False)


@pytest.fixture
def convergence_snapshot(request):
    """A ``Snapshot`` for this test, stored next to its file."""
    config = request.config
    path = Path(str(request.node.path) + SUFFIX)
    return Snapshot(config, path, request.node.name, config.getoption("theory_bench_update"),
                    float(config.getini("theory_bench_rtol")), float(config.getini("theory_bench_alpha")))
