"""Whole-loop rows of ``theory-bench bench`` at large ``d`` (``d = 10^6 .. 10^8``).

Each row runs ``minimize`` with StoSignSGD (theory form) on a one-sample oracle that writes into a
preallocated buffer (``one_sample_l1_grad``: one random scale per step times ``sign(x - b)``) in a
fresh process, with the default arguments (60 log-spaced checkpoints, ``record="auto"``, which at
this ``d`` keeps the losses and not the iterates) and the loss ``|x - b|_1`` at the checkpoints,
and reports:

- million coordinates per second of the loop (``T d / Trace.wall_s``; the loss evaluations at the
  checkpoints are outside ``wall_s``),
- the same for a numpy loop doing the same work (oracle, average, the reference StoSignSGD step
  with ``Generator.random`` noise, the finite checks),
- the share of the roofline for the bytes the loop must move per coordinate and step: the oracle
  reads ``x`` and ``b`` and writes ``g`` (24 B), the finite check reads ``g`` (8 B), the kernel
  reads ``g``, ``x``, ``G`` and writes ``x``, ``G`` (40 B), the average reads ``x``, ``x_avg`` and
  writes ``x_avg`` (24 B): 96 B against the in-place triad bandwidth ``theory_bench.bench`` measures,
- the peak resident memory of the run's process (``VmHWM`` after the run, before the numpy
  loop; not ``ru_maxrss``, which on Linux a child starts from its parent's resident size, so a
  row run from the bench, with its ``d = 10^7`` kernel arrays, read 1.4 GB at every ``d``), imports and the oracle's data included.

The same rows for SignSGD (no sign noise) show the loop's own overhead where the kernel is not
bound by computing its noise.
"""
import json
import subprocess
import sys

import numpy as np
from numba import njit

LOOP_BYTES = {"StoSignSGD": 96, "SignSGD": 80}       # SignSGD's kernel moves 24 B, not 40


@njit(cache=True)
def one_sample_l1_grad(x, rng, b, out):
    """``s sign(x - b)`` with one ``s ~ U[0.5, 1.5]`` per step, an unbiased subgradient oracle of
    ``|x - b|_1``, written into ``out`` (which it returns): no allocation per step."""
    s = 0.5 + rng.random()
    for i in range(x.shape[0]):
        v = x[i] - b[i]
        out[i] = s * (np.float64(v > 0.0) - np.float64(v < 0.0))
    return out


@njit(cache=True)
def l1_distance(x, b, out):
    return np.abs(x - b).sum()


def problem(d, seed=0):
    b = np.random.default_rng(seed).uniform(-1.0, 1.0, size=d)
    return np.zeros(d), (b, np.empty(d))


def numpy_loop(d, T, seed=0):
    """Seconds per step of the same run in numpy (StoSignSGD only)."""
    import time

    from theory_bench import optimizers as O
    from theory_bench.optimizers.numpy_reference import noise_draws, reference_for
    x, (b, _) = problem(d)
    opt = O.StoSignSGD(0.1)
    ref, draws, S, h = reference_for(opt), noise_draws(opt, d), opt.init_state(x), opt.hyper
    rng = np.random.default_rng(seed)
    x_avg = np.zeros(d)
    t0 = time.perf_counter()
    for t in range(1, T + 1):
        x_avg += (x - x_avg) / t
        g = (0.5 + rng.random()) * np.sign(x - b)
        if not np.isfinite(g).all():
            raise FloatingPointError("non-finite gradient")
        ref(x, g, S, h, 0.1 / np.sqrt(t), t, rng.random(draws))
        if not np.isfinite(x).all():
            raise FloatingPointError("non-finite iterate")
    return (time.perf_counter() - t0) / T


def measure(d, T, optimizer="StoSignSGD", numpy_T=0):
    """One row, in this process (``run`` starts a fresh one per row, so the peak memory is the run's)."""
    import warnings

    from theory_bench import optimizers as O
    from theory_bench.engine.minimize import minimize
    from theory_bench.engine.recording import RecordWarning
    x0, args = problem(d)
    opt = getattr(O, optimizer)(0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)         # the expected one: no iterates at this d
        tr = minimize(one_sample_l1_grad, x0, opt, T, args=args, loss=l1_distance)
    row = dict(optimizer=optimizer, d=d, T=T, checkpoints=int(tr.t.shape[0]), mcps=T * d / tr.wall_s / 1e6,
               kept_iterates=tr.xs is not None, final_loss=float(tr.losses[-1]), path=tr.path,
               peak_rss_bytes=peak_resident())
    del tr, x0, args
    if numpy_T:
        row["numpy_mcps"] = d / numpy_loop(d, numpy_T) / 1e6
    return row


# (d, T, numpy steps): T long enough that the checkpoints, where the loop does more, are a small share
def peak_resident():
    """This process's peak resident bytes: ``VmHWM`` (reset by ``exec``), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


ROWS = ((10 ** 6, 3000, 20), (10 ** 7, 400, 3), (10 ** 8, 40, 1))


def run(bandwidth, rows=ROWS, optimizers=("StoSignSGD", "SignSGD")):
    """Every row in a fresh process; ``bandwidth`` in bytes/s (the roofline)."""
    out = []
    for d, T, numpy_T in rows:
        for name in optimizers:
            code = (f"import json; from theory_bench.bench_scale import measure; "
                    f"print(json.dumps(measure({d}, {T}, {name!r}, {numpy_T if name == 'StoSignSGD' else 0})))")
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"the loop row d={d} {name} failed:\n{proc.stderr[-2000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["roofline"] = LOOP_BYTES[name] * row["mcps"] * 1e6 / bandwidth
            if "numpy_mcps" in row:
                row["speedup"] = row["mcps"] / row["numpy_mcps"]
            out.append(row)
    return out
