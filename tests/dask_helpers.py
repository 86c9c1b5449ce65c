"""Run functions the Dask tests send to worker processes (module level: workers import them by name)."""
import os
import time
import uuid
from pathlib import Path

from theory_bench.experiments import runs
from theory_bench.experiments.runs import spec
from theory_bench.results.store import ResultStore

SPEC = spec("skewed_linear", "StoSignSGD", 2000, problem_kw=dict(d=5), checkpoints=[10, 100, 2000])


def slow_run(marks, pause, s, seed):
    """``runs.run_one`` that takes at least ``pause`` seconds and leaves a mark file per computation
    (``<marks>/<seed id>-<unique>``), so a test can count which runs were computed, and where."""
    from theory_bench.results.store import seed_id
    time.sleep(pause)
    out = runs.run_one(s, seed)
    Path(marks).mkdir(parents=True, exist_ok=True)
    (Path(marks) / f"{seed_id(seed)}-{os.getpid()}-{uuid.uuid4().hex[:8]}").touch()
    return out


def sweep(out, marks, seeds, scheduler=None, jobs=None, pause=0.0):
    """One sweep of ``SPEC`` over ``seeds`` seeds into the store at ``out`` (as ``theory-bench run``
    does: the runs, then the manifest)."""
    from functools import partial

    from theory_bench.experiments.runs import run_seeds, seeds_for
    store = ResultStore(out, "dask")
    data = run_seeds(SPEC, seeds_for(seeds), jobs=jobs, store=store, fn=partial(slow_run, marks, pause),
                     scheduler=scheduler)
    store.write_manifest({"experiment": "dask", "runs": int(data["loss"].shape[0]), "pid": os.getpid()})
    return data
