"""The one timer of the benchmarks (``theory-bench bench``): the best mean over batches."""
import time

import numpy as np


def best_time(fn, min_total=0.2, repeats=5, sync=None):
    """Best mean seconds per call over ``repeats`` batches of at least ``min_total`` seconds.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called at the end of every timed stretch, so that
    work a device runs asynchronously counts in the batch that queued it, once per batch, not per call."""
    sync = sync or (lambda: None)
    fn()
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    one = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(min_total / repeats / one))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t0) / n)
    return best
