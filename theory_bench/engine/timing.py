"""The one timer of the benchmarks (``theory-bench bench``): the best mean over batches."""
import time

import numpy as np


def best_time(fn, min_total=0.2, repeats=5):
    """Best mean seconds per call over ``repeats`` batches of at least ``min_total`` seconds."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(min_total / repeats / one))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best
