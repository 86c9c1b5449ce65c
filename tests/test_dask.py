"""Sweeps on a real Dask cluster (a ``LocalCluster`` of 2 worker processes): the same results as the
local pool, a killed worker replaced with nothing lost or stored twice, an interrupted client that
resumes, and two sweeps that write one results folder at once."""
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from theory_bench.experiments.runs import run_seeds, seeds_for               # noqa: E402
from theory_bench.results import dask_runs, parallel                          # noqa: E402
from theory_bench.results.store import ResultStore, seed_id                   # noqa: E402
from tests.dask_helpers import SPEC, slow_run, sweep                          # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("wall_s", "compile_s")


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded worker processes; its address, as a user would pass it."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as c:
        yield c.scheduler_address
    dask_runs.close_all()


def stored(out):
    """``{seed file: {metric: array}}`` of every stored run, timing columns left out."""
    store = ResultStore(out, "dask")
    t = store.table()
    t = t[~t.metric.isin(TIMING)]
    return {seed: {m: g.value.to_numpy() for m, g in rows.groupby("metric")} for seed, rows in t.groupby("seed")}


def marks(folder):
    return [p.name.rsplit("-", 2)[0] for p in Path(folder).iterdir()] if Path(folder).exists() else []


def assert_same(a, b):
    assert a.keys() == b.keys()
    for seed in a:
        assert a[seed].keys() == b[seed].keys()
        for m in a[seed]:
            np.testing.assert_array_equal(a[seed][m], b[seed][m])


def test_a_sweep_on_the_cluster_is_bit_identical_to_the_local_pool(cluster, tmp_path):
    sweep(tmp_path / "pool", tmp_path / "m1", 6, jobs=2)
    sweep(tmp_path / "dask", tmp_path / "m2", 6, scheduler=cluster)
    assert_same(stored(tmp_path / "pool"), stored(tmp_path / "dask"))
    assert sorted(marks(tmp_path / "m2")) == sorted(seed_id(s) for s in seeds_for(6))   # each run computed once
    pids = set(int(p.name.rsplit("-", 2)[1]) for p in (tmp_path / "m2").iterdir())
    assert os.getpid() not in pids                                     # computed on the workers


def test_the_environment_variable_and_dask_local(tmp_path, monkeypatch):
    monkeypatch.setenv("THEORY_BENCH_SCHEDULER", "dask-local")
    assert parallel.scheduler_from(None) == "dask-local"
    try:
        got = dict(parallel.iter_runs(partial(slow_run, str(tmp_path / "m"), 0.0, SPEC), seeds_for(3), jobs=2))
        assert len(dask_runs.client_for("dask-local", 2).scheduler_info()["workers"]) == 2
    finally:
        dask_runs.close_all()                  # its own cluster goes; the next test reconnects to the fixture's
    assert sorted(got) == [0, 1, 2] and len(set(marks(tmp_path / "m"))) == 3
    monkeypatch.delenv("THEORY_BENCH_SCHEDULER")
    assert parallel.scheduler_from(None) is None
    with pytest.raises(ValueError, match="scheduler must be a Dask scheduler address"):
        parallel.scheduler_from("  ")


def test_a_killed_worker_is_replaced_and_every_run_is_stored_exactly_once(cluster, tmp_path, monkeypatch):
    n = 8
    store = ResultStore(tmp_path / "out", "dask")
    puts = []
    real_put = store.put
    monkeypatch.setattr(store, "put", lambda s, seed, r: (puts.append(seed_id(seed)), real_put(s, seed, r)))
    victims = list(dask_runs.workers(cluster).values())      # through the sweep's own client
    killed = []

    class Killer:                                         # the progress bar: kills a worker after the first run
        def update(self, k):
            if not killed:
                os.kill(victims[0], signal.SIGKILL)
                killed.append(victims[0])

    run_seeds(SPEC, seeds_for(n), store=store, fn=partial(slow_run, str(tmp_path / "m"), 0.5), scheduler=cluster,
              progress=Killer())
    assert killed
    assert sorted(puts) == sorted(seed_id(s) for s in seeds_for(n))            # stored once each
    assert len(list((tmp_path / "out" / "dask" / "runs").rglob("*.parquet"))) == n
    assert not list((tmp_path / "out").rglob(".*.tmp"))
    deadline = time.time() + 60                                                   # the nanny replaces it
    while time.time() < deadline:
        pids = list(dask_runs.workers(cluster).values())
        if len(pids) == 2 and victims[0] not in pids:
            break
        time.sleep(0.2)
    assert len(pids) == 2 and victims[0] not in pids, pids
    sweep(tmp_path / "ref", tmp_path / "m_ref", n, jobs=1)
    assert_same(stored(tmp_path / "out"), stored(tmp_path / "ref"))


def test_an_interrupted_client_resumes_without_recomputing(cluster, tmp_path):
    n, out, m = 8, tmp_path / "out", tmp_path / "m"
    code = (f"from tests.dask_helpers import sweep; sweep({str(out)!r}, {str(m / 'first')!r}, {n}, "
            f"scheduler={cluster!r}, pause=0.7)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    runs_dir = out / "dask" / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs_dir.rglob("*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in runs_dir.rglob("*.parquet")}
    assert 2 <= len(before) < n, "the first client finished before it could be interrupted"
    sweep(out, m / "second", n, scheduler=cluster)
    after = {p.name: p.stat().st_mtime_ns for p in runs_dir.rglob("*.parquet")}
    assert len(after) == n and all(after[k] == v for k, v in before.items())   # stored runs untouched
    missing = {k[:-len(".parquet")] for k in after.keys() - before.keys()}
    assert sorted(marks(m / "second")) == sorted(missing)                       # only the missing ones computed
    sweep(tmp_path / "ref", tmp_path / "m_ref", n, jobs=1)
    assert_same(stored(out), stored(tmp_path / "ref"))


def test_two_sweeps_writing_one_folder_at_once(tmp_path):
    out = tmp_path / "out"
    code = f"from tests.dask_helpers import sweep; sweep({str(out)!r}, {str(tmp_path / 'm')!r}, 6, jobs=1)"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    files = list((out / "dask" / "runs").rglob("*"))
    assert not [f for f in files if f.name.startswith(".")]                     # no temporary file left
    assert len([f for f in files if f.suffix == ".parquet"]) == 6                 # no duplicate
    manifest = json.loads((out / "dask" / "manifest.json").read_text())
    assert manifest["runs"] == 6 and manifest["pid"] in [p.pid for p in procs]
    for cfg in (out / "dask" / "configs").iterdir():
        json.loads(cfg.read_text())
    sweep(tmp_path / "ref", tmp_path / "m_ref", 6, jobs=1)
    assert_same(stored(out), stored(tmp_path / "ref"))


def test_the_command_line_sends_an_experiment_to_the_cluster(cluster, tmp_path, monkeypatch, capsys):
    from theory_bench import cli
    from theory_bench.experiments import registry
    from tests.test_cli import FakeExperiment
    monkeypatch.setattr(registry, "EXPERIMENTS", {"fake": FakeExperiment()})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "fake", "--scheduler", cluster, "--no-progress", "--out", "dask"]) == 0
    assert json.loads((tmp_path / "dask" / "fake" / "manifest.json").read_text())["scheduler"] == cluster
    assert cli.main(["run", "fake", "--jobs", "1", "--no-progress", "--out", "local"]) == 0
    tables = [ResultStore(tmp_path / out, "fake").table() for out in ("dask", "local")]
    a, b = (t[~t.metric.isin(TIMING)].sort_values(["key", "seed", "metric", "t"]).reset_index(drop=True)
            for t in tables)
    assert len(a) > 0 and a.equals(b)


def test_without_dask_the_flag_says_what_to_install(monkeypatch, capsys, tmp_path):
    from theory_bench import cli
    from theory_bench.experiments import registry
    from tests.test_cli import FakeExperiment
    monkeypatch.setattr(registry, "EXPERIMENTS", {"fake": FakeExperiment()})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "distributed", None)                     # as if not installed
    assert cli.main(["run", "fake", "--scheduler", "dask-local", "--no-progress"]) == 2
    assert "pip install -e '.[dask]'" in capsys.readouterr().err
