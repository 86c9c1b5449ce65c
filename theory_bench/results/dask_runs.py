"""Independent runs on a Dask cluster (``dask.distributed``), the scheduler behind ``--scheduler``.

``theory_bench.results.parallel.iter_runs(fn, items, scheduler=ADDRESS)`` sends each run to the
cluster at ``ADDRESS`` (``tcp://host:8786``, or anything ``distributed.Client`` takes) and yields
``(index, result)`` as runs finish, the same contract as the local pool. ``scheduler="dask-local"``
starts a ``LocalCluster`` of worker processes on this machine (one thread each; ``jobs`` of them,
default the number of cores), kept for the life of the process.

What travels: the run function (a module-level function or a ``functools.partial`` of one) and its
item go to a worker, the result (a dict of small arrays) comes back; the caller writes the result
store, so workers need no shared disk, and a run is stored once, atomically, whichever worker
computed it (a run the scheduler retries after a worker died comes back once). Workers need
theory-bench installed, the same version; each compiles or loads the run loops from its own
numba cache. A worker that dies is replaced by its nanny and its runs are rescheduled
(``distributed.scheduler.allowed-failures`` times, then ``KilledWorker`` is raised here).
"""
import atexit
import os

_CLIENTS = {}          # (scheduler, jobs) -> the connected distributed.Client (at most one)
LOCAL = "dask-local"


class DaskMissing(ImportError):
    pass


def client_for(scheduler, jobs=None):
    """A ``distributed.Client`` for ``scheduler``, made once per process."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise DaskMissing(f"--scheduler {scheduler} needs dask.distributed, which is not installed; "
                          "pip install -e '.[dask]' (or pip install 'dask[distributed]')") from None
    memo = (scheduler, jobs)
    client = _CLIENTS.get(memo)
    if client is not None and client.status == "running":
        return client
    close_all()             # one client at a time: two sync clients in a process can mix their event loops
    if scheduler == LOCAL:
        n = int(jobs) if jobs else (os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=40)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler!r} ({type(err).__name__}: {err}); "
                                  "start one with `dask scheduler` and workers with `dask worker ADDRESS`, or "
                                  "use --scheduler dask-local") from None
    _CLIENTS[memo] = client
    return client


def iter_runs_dask(fn, items, scheduler, jobs=None):
    """``(index, fn(items[index]))`` as the runs finish on the cluster. An exception in a run is
    raised here after the runs already finished were yielded; the remaining runs are cancelled,
    as they are when the caller stops iterating (an interrupted sweep)."""
    client = client_for(scheduler, jobs)             # says what to install when dask is missing
    from distributed import as_completed
    futures = client.map(fn, items, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()
    finally:
        client.cancel([f for f in futures if not f.done()])


def workers(scheduler, jobs=None):
    """The addresses and process ids of the cluster's workers (the tests kill one)."""
    client = client_for(scheduler, jobs)
    return client.run(os.getpid)


@atexit.register
def close_all():
    while _CLIENTS:
        _, client = _CLIENTS.popitem()
        cluster = getattr(client, "cluster", None)
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:             # at exit a half-closed cluster has nothing left to lose
            pass
