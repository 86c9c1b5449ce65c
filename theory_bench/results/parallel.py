"""Independent runs (seeds, grid points) in parallel processes, or on a Dask cluster.

``iter_runs(fn, items, jobs=None, scheduler=None)`` is the one code path of every sweep. Without
a scheduler (and without ``THEORY_BENCH_SCHEDULER`` in the environment) the runs go to a pool of
local processes, as below; with one they go to a Dask cluster (``theory_bench.results.dask_runs``:
an address, or ``"dask-local"`` for a ``LocalCluster`` on this machine). Results are the same
either way: a run is a pure function of its item.

Workers come from a *forkserver*: a clean process, started once, that has imported numpy, numba
and the module of the function to run, and forks a worker per pool. Forking the caller itself
is unsafe once it has used a solver with threads (Clarabel's, BLAS's): a child can inherit a
held lock and hang. ``spawn`` is used where forkserver is not available.
"""
import atexit
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial

import numpy as np

_PRELOAD = ["numpy", "numba", "scipy", "theory_bench"]
_POOLS = {}          # jobs -> a live executor: its workers stay warm (imports, loaded kernels)


def default_jobs():
    """``$THEORY_BENCH_JOBS`` if set (an int >= 1), else the number of cores, at most 8."""
    env = os.environ.get("THEORY_BENCH_JOBS")
    if env:
        if not env.strip().isdigit() or int(env) < 1:
            raise ValueError(f"THEORY_BENCH_JOBS must be an integer >= 1, got {env!r}")
        return int(env)
    return max(1, min(os.cpu_count() or 1, 8))


def _context(fn):
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    target = fn.func if isinstance(fn, partial) else fn
    module = getattr(target, "__module__", None)
    preload = _PRELOAD + ([module] if module and module != "__main__" else [])
    ctx.set_forkserver_preload(preload)  # takes effect when the server first starts
    return ctx


def scheduler_from(scheduler=None):
    """``scheduler``, else ``THEORY_BENCH_SCHEDULER``, else ``None`` (the local pool)."""
    if scheduler is None:
        scheduler = os.environ.get("THEORY_BENCH_SCHEDULER") or None
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be a Dask scheduler address (tcp://host:8786) or 'dask-local', "
                         f"got {scheduler!r}")
    return scheduler


def iter_runs(fn, items, jobs=None, scheduler=None):
    """Yield ``(index, fn(items[index]))`` as each run finishes, spread over ``jobs`` processes
    (``fn`` must be picklable: a module-level function or a ``functools.partial`` of one), or over
    the Dask cluster at ``scheduler``. ``jobs=1`` without a scheduler runs in this process, in
    order. An exception in a run is raised here after the runs already finished were yielded, so
    a caller that stores as it goes can resume."""
    items = list(items)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1):
        raise ValueError(f"jobs must be an int >= 1 (processes), got {jobs!r}")
    scheduler = scheduler_from(scheduler)
    if scheduler is not None:
        from theory_bench.results.dask_runs import iter_runs_dask
        yield from iter_runs_dask(fn, items, scheduler, jobs)
        return
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs == 1 or len(items) <= 1:
        for i, item in enumerate(items):
            yield i, fn(item)
        return
    ex = _pool(jobs, fn)
    futures = {ex.submit(fn, item): i for i, item in enumerate(items)}
    try:
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    except BaseException as err:
        for f in futures:
            f.cancel()
        if isinstance(err, (BrokenProcessPool, KeyboardInterrupt)):
            shutdown()
        raise


def _pool(jobs, fn):
    """One executor per ``jobs``, reused by every sweep of this process: starting workers and
    loading the compiled kernels in them costs about a second, more than many runs."""
    if jobs not in _POOLS:
        _POOLS[jobs] = ProcessPoolExecutor(jobs, mp_context=_context(fn))
    return _POOLS[jobs]


@atexit.register
def shutdown():
    """Stop the workers (at exit, or after a run failed hard)."""
    while _POOLS:
        _, ex = _POOLS.popitem()
        ex.shutdown(wait=False, cancel_futures=True)


def map_runs(fn, items, jobs=None, scheduler=None):
    """``[fn(item) for item in items]``, in input order, over ``jobs`` processes or a Dask cluster."""
    items = list(items)
    out = [None] * len(items)
    for i, result in iter_runs(fn, items, jobs, scheduler):
        out[i] = result
    return out
