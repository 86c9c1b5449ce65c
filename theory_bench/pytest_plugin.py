"""pytest plugin (entry point ``pytest11``): a ``convergence`` marker and convergence snapshots.

    @pytest.mark.convergence
    def test_my_optimizer(convergence_snapshot):
        result = assert_converges(MyOptimizer(0.1), "hinge", 10_000)
        convergence_snapshot.check(result)

``pytest --theory-bench-update`` records each check's values (the final gap or regret per
optimizer, problem and seed) in ``<test file>.theory-bench.json`` next to the test: plain,
sorted, reviewable JSON. Later runs fail when a value gets worse than its snapshot by more than
the tolerance (``rtol``, default 0.1, or the ini option ``theory_bench_rtol``) and say by how
much. Values from fixed seeds are the same on every run on one platform.
"""
import json
import math
from pathlib import Path

import pytest

SUFFIX = ".theory-bench.json"
_STASH = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("theory-bench")
    group.addoption("--theory-bench-update", action="store_true", default=False,
                    help="record convergence snapshots (<test file>.theory-bench.json) instead of comparing")
    parser.addini("theory_bench_rtol", "relative tolerance of convergence snapshots (default 0.1)", default="0.1")


def pytest_configure(config):
    config.addinivalue_line("markers", "convergence: a convergence regression check (theory-bench)")
    config.stash[_STASH] = {}


def pytest_sessionfinish(session):
    """In update mode, write every snapshot file that a test recorded into."""
    for path, content in session.config.stash.get(_STASH, {}).items():
        if content.get("dirty"):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(content["data"], indent=1, sort_keys=True) + "\n")
            tmp.replace(path)


class Snapshot:
    """Compare (or record) a test's convergence values against ``<test file>.theory-bench.json``."""

    def __init__(self, config, path, test, update, rtol):
        self.config, self.path, self.test, self.update, self.rtol = config, path, test, update, rtol

    def _file(self):
        files = self.config.stash[_STASH]
        if self.path not in files:
            data = {}
            if self.path.exists():
                try:
                    data = json.loads(self.path.read_text())
                    if not isinstance(data, dict):
                        raise ValueError("the top level is not an object")
                except ValueError as err:
                    if not self.update:
                        pytest.fail(f"convergence snapshot {self.path} is corrupt ({err}); delete it and record "
                                    f"it again with `pytest --theory-bench-update`", pytrace=False)
                    data = {}
            files[self.path] = {"data": data, "dirty": False}
        return files[self.path]

    def check(self, result, *, rtol=None, atol=1e-12):
        """Each value of ``result`` (a ``theory_bench.testing.ConvergenceResult``) may not exceed its
        snapshot by more than ``rtol`` (relative) plus ``atol``: gaps and regrets are better smaller."""
        rtol = self.rtol if rtol is None else rtol
        values = {f"{result.optimizer} | {result.problem} | {result.kind} at T={result.T} | seed {i}": float(v)
                  for i, v in enumerate(result.values)}
        f = self._file()
        if self.update:
            f["data"].setdefault(self.test, {}).update(values)
            f["dirty"] = True
            return
        if not self.path.exists():
            pytest.fail(f"no convergence snapshot {self.path.name} next to the test; record it with "
                        "`pytest --theory-bench-update` and commit it", pytrace=False)
        recorded = f["data"].get(self.test, {})
        worse, missing = [], []
        for key, v in values.items():
            if key not in recorded:
                missing.append(key)
            elif not v <= recorded[key] * (1 + rtol) + atol:
                old = recorded[key]
                rel = (v - old) / abs(old) if old else math.inf
                worse.append(f"{key}: {v:.6g} vs snapshot {old:.6g} ({rel:+.1%}, tolerance {rtol:.0%})")
        if missing:
            pytest.fail(f"{len(missing)} value(s) of {self.test} are not in {self.path.name} (e.g. {missing[0]!r}); "
                        "record them with `pytest --theory-bench-update`", pytrace=False)
        if worse:
            pytest.fail("convergence got worse than its snapshot:\n  " + "\n  ".join(worse), pytrace=False)


@pytest.fixture
def convergence_snapshot(request):
    """A ``Snapshot`` for this test, stored next to its file."""
    config = request.config
    rtol = float(config.getini("theory_bench_rtol"))
    path = Path(str(request.node.path) + SUFFIX)
    return Snapshot(config, path, request.node.name, config.getoption("theory_bench_update"), rtol)
