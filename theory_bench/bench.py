"""``theory-bench bench``: kernel throughput against numpy and the memory roofline, from one run.

For each optimizer kernel and ``d = 10^3 .. 10^7`` it times one step of the numba kernel and of
the numpy-vectorised reference (``theory_bench.optimizers.numpy_reference``, noise drawn with
``Generator.random``), in million coordinates per second, and compares the kernel's memory
traffic (the arrays it must read and write, STREAM convention: no write-allocate) with the
bandwidth of a STREAM triad ``a = b + s c`` measured in the same run. It then times the whole
loop on a one-sample hinge oracle against a plain numpy loop doing the same, and the latencies
the docs quote (``latency_rows``): the slow paths of ``minimize``, the disk cache of the run loop,
``assert_converges``, the sampled Goldstein measure and, in the full bench, the certified optima
of the largest problems. Timings are the best of several repeats; nothing here is asserted in the
tests.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

from theory_bench import optimizers as O
from theory_bench.engine.minimize import minimize
from theory_bench.engine.timing import best_time
from theory_bench.optimizers.numpy_reference import noise_draws, reference_for

# Bytes each kernel must move per coordinate: 8 per array read + 8 per array written.
TRAFFIC = {
    "sgd_step": 24, "signsgd_step": 24, "signum_step": 40, "ef_signsgd_step": 56,
    "stosign_theory_step": 40, "stosign_practical_step": 56, "adagrad_step": 40,
    "adam_step": 56, "lion_step": 40,
}


def traffic(opt):
    """Bytes per coordinate: ``TRAFFIC``, or for a sign conversion g read, x and every state row
    read and written (the envelope row too), plus one more write and read of that row for the
    two-pass scalar envelopes."""
    name = opt.kernel.py_func.__name__
    if name in TRAFFIC:
        return TRAFFIC[name]
    return 8 + 16 * (1 + len(opt.state_names)) + (16 if name == "vector_step" else 0)


def bench_optimizers():
    return [O.SGD(0.1), O.SignSGD(0.1), O.Signum(0.1), O.EFSignSGD(0.1), O.StoSignSGD(0.1),
            O.StoSignSGD.practical(0.1, weight_decay=0.01), O.AdaGrad(0.1), O.Adam(0.1),
            O.AdamW(0.1), O.Lion(0.1), *converted_optimizers()]


def converted_optimizers():
    """``sign_convert`` of every base (defaults: running max, uniform noise) and two other envelopes."""
    hb = O.SGD(0.1, momentum=0.9)
    return [O.sign_convert(O.SGD(0.1)), O.sign_convert(hb), O.sign_convert(O.AdaGrad(0.1)),
            O.sign_convert(O.Adam(0.1)), O.sign_convert(O.AdamW(0.1)),
            O.sign_convert(O.SGD(0.1), envelope="norm_2"), O.sign_convert(O.SGD(0.1), noise="gaussian")]


@njit(cache=True)
def triad(a, b, c, s):
    """STREAM triad ``a = b + s c``: 24 bytes counted, 32 moved (``a`` is write-allocated)."""
    for i in range(a.shape[0]):
        a[i] = b[i] + s * c[i]


@njit(cache=True)
def triad_inplace(a, c, s):
    """In-place triad ``a = a + s c``: 24 bytes, the read-modify-write pattern of the kernels."""
    for i in range(a.shape[0]):
        a[i] = a[i] + s * c[i]


def triad_bandwidth(d=10 ** 7):
    """Bytes/s actually moved by the STREAM triad and by the in-place triad, at ``d`` (out of cache).

    The kernels update ``x`` and their state in place, so they pay no write-allocate; the
    roofline they are held to is the faster of the two, i.e. the stricter one.
    """
    a, b, c = np.ones(d), np.ones(d), np.ones(d)
    stream = 32 * d / best_time(lambda: triad(a, b, c, 0.5))
    inplace = 24 * d / best_time(lambda: triad_inplace(a, c, 0.5))
    return stream, inplace


def kernel_rows(sizes, bandwidth, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for d in sizes:
        x, g = rng.normal(size=d), rng.normal(size=d)
        for opt in bench_optimizers():
            S, h = opt.init_state(x) + 1.0, opt.hyper
            ref, draws = reference_for(opt), noise_draws(opt, d)
            kern = opt.kernel
            key = np.uint64(1)
            t_k = best_time(lambda: kern(x, g, S, h, 1e-9, 3, key))
            t_np = best_time(lambda: ref(x, g, S, h, 1e-9, 3, rng.random(draws) if draws else None))
            rows.append(dict(kernel=repr_name(opt), d=d, numba_mcps=d / t_k / 1e6,
                             numpy_mcps=d / t_np / 1e6, speedup=t_np / t_k,
                             roofline=traffic(opt) * d / t_k / bandwidth))
        _against_hand_written(rows, x, g)
    return rows


def _against_hand_written(rows, x, g, rounds=6):
    """``vs_hand``: a conversion's time over the hand-written StoSignSGD kernel it reproduces (theory
    form for ``sign(SGD)``, practical form for ``sign(SGD+hb)``), at this ``d``. The two kernels are
    timed in alternation, ``rounds`` batches of 0.1 s each, best of each: timed apart, the ratio of two
    short best-of-5 timings scattered by up to 30% on this machine."""
    pairs = {"sign(SGD)": (O.sign_convert(O.SGD(0.1)), O.StoSignSGD(0.1)),
             "sign(SGD+hb)": (O.sign_convert(O.SGD(0.1, momentum=0.9)), O.StoSignSGD.practical(0.1, beta1=0.9))}
    for r in rows:
        if r["d"] != x.shape[0] or r["kernel"] not in pairs:
            continue
        best = []
        for opt in pairs[r["kernel"]]:
            S, h = opt.init_state(x) + 1.0, opt.hyper
            best.append((opt.kernel, S, h, np.inf))
        for _ in range(rounds):
            for k, (kern, S, h, t) in enumerate(best):
                t_new = best_time(lambda: kern(x, g, S, h, 1e-9, 3, np.uint64(1)), min_total=0.1, repeats=1)
                best[k] = (kern, S, h, min(t, t_new))
        r["vs_hand"] = best[0][3] / best[1][3]


def repr_name(opt):
    base = getattr(opt, "base", None)
    if base is not None:
        name = base.name + ("+hb" if getattr(base, "momentum", 0.0) else "")
        tags = [v for v, default in ((opt.envelope, "max"), (opt.noise, "uniform")) if v != default]
        return f"sign({name}{''.join(', ' + t for t in tags)}{', scaled' if opt.scaled else ''})"
    form = getattr(opt, "form", None)
    return f"{opt.name}({form})" if form else opt.name


@njit(cache=True)
def hinge_sample_grad(x, rng, A, y):
    """Subgradient of ``max(0, 1 - y_j <a_j, x>)`` at one uniformly drawn sample ``j``."""
    j = rng.integers(0, A.shape[0])
    g = np.zeros(x.shape[0])
    if y[j] * (A[j] @ x) < 1.0:
        g[:] = -y[j] * A[j]
    return g


def numpy_hinge_loop(A, y, x0, T, lr, seed):
    rng = np.random.default_rng(seed)
    x, x_avg = x0.copy(), np.zeros_like(x0)
    for t in range(1, T + 1):
        x_avg += (x - x_avg) / t
        j = rng.integers(0, A.shape[0])
        g = -y[j] * A[j] if y[j] * (A[j] @ x) < 1.0 else np.zeros_like(x)
        x = np.clip(x - lr / np.sqrt(t) * g, -1.0, 1.0)
    return x_avg


def loop_row(n=2000, d=100, T=100_000, T_numpy=10_000):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(n, d))
    y = np.sign(A @ rng.normal(size=d) + 0.1 * rng.normal(size=n))
    tr = minimize(hinge_sample_grad, np.zeros(d), O.SGD(0.1), T, args=(A, y), box=(-1.0, 1.0))
    t0 = time.perf_counter()
    numpy_hinge_loop(A, y, np.zeros(d), T_numpy, 0.1, 0)
    per_np = (time.perf_counter() - t0) / T_numpy
    per_jit = tr.wall_s / T
    return dict(n=n, d=d, T=T, compile_s=tr.compile_s, jit_steps_per_s=1 / per_jit,
                numpy_steps_per_s=1 / per_np, speedup=per_np / per_jit, path=tr.path)


def wall(fn):
    """Seconds for one call of ``fn()`` (for the calls too long to repeat)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class PyStoSignSGD:
    """StoSignSGD (theory form) as a plain Python class, as in docs/testing.md: the slow path of the
    protocol (the tests use it as a user's optimizer)."""
    name = "PyStoSignSGD"

    def __init__(self, lr):
        self.lr = lr

    def init(self, x0):
        return np.zeros_like(x0)

    def step(self, x, g, G, t, rng):
        np.maximum(G, np.abs(g), out=G)
        return x - self.lr / np.sqrt(t) * np.sign(g + G * rng.uniform(-1.0, 1.0, size=x.shape))


LOOP_CACHE_PROBE = ("import time, numpy as np; from theory_bench.bench import hinge_sample_grad; "
                    "from theory_bench import minimize, optimizers as O; A = np.ones((4, 3)); y = np.ones(4); "
                    "tr = minimize(hinge_sample_grad, np.zeros(3), O.StoSignSGD(0.1), 10, args=(A, y)); "
                    "print(tr.compile_s, tr.path)")


def loop_cache_times():
    """``(compile_s, load_s)``: the run loop compiled in a fresh process with an empty cache, then
    loaded from that cache by a second fresh process."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, THEORY_BENCH_CACHE_DIR=cache)
        runs = [subprocess.run([sys.executable, "-c", LOOP_CACHE_PROBE], env=env, capture_output=True, text=True,
                               check=True).stdout.split() for _ in range(2)]
    (first, _), (second, path) = runs
    if path != "jit-cached":
        raise RuntimeError(f"the second process did not load the cached loop (path {path!r})")
    return float(first), float(second)


def kernel_pointer_ratio(opt, d=100, T=100_000):
    """Steps per second of the run loop as ``minimize`` runs it (the kernel a first-class argument,
    called through a pointer: ``theory_bench.engine.kernel_argument``) over the same loop compiled
    for this kernel (numba calls a jitted argument directly and may inline it), best of 5 each, on
    the one-sample hinge at ``d``."""
    import numba

    from theory_bench.engine import loop_cache, run_loop
    rng = np.random.default_rng(0)
    A = rng.normal(size=(500, d))
    y = np.sign(A @ rng.normal(size=d))
    best = lambda: min(minimize(hinge_sample_grad, np.zeros(d), opt, T, args=(A, y), box=(-1.0, 1.0),
                                checkpoints=[T]).wall_s for _ in range(5))
    memo = loop_cache.memo_key(hinge_sample_grad, opt.kernel)
    pointer = loop_cache.loop_for(hinge_sample_grad, opt.kernel)
    minimize(hinge_sample_grad, np.zeros(d), opt, 10, args=(A, y))          # compiled (or loaded) first
    through_pointer = best()
    loop_cache._LOADED[memo] = numba.njit(loop_cache.bind(run_loop.run_horizon, {"GRAD": hinge_sample_grad})), "jit"
    try:
        minimize(hinge_sample_grad, np.zeros(d), opt, 10, args=(A, y))
        compiled_in = best()
    finally:
        loop_cache._LOADED[memo] = pointer
    return compiled_in / through_pointer


def latency_rows(quick=False):
    """The wall times the docs quote, measured here (``quick`` skips the certified optima)."""
    from theory_bench import problems                 # a front door may reach the catalogue
    from theory_bench.analysis.stationarity import goldstein_sampled
    from theory_bench.engine.protocol import minimize_any
    from theory_bench.problems.optimum import certified, highs_optimum
    from theory_bench.testing import assert_converges
    p = problems.make("hinge", d=100)
    rows = {}
    T = 2000
    rows["python protocol step, d=100 (us)"] = 1e6 * best_time(
        lambda: minimize_any(PyStoSignSGD(p.lr), p.oracle, p.x0, T, args=p.args, box=p.box), repeats=3) / T
    rows["python oracle step, d=100 (us)"] = 1e6 * best_time(
        lambda: minimize(p.oracle.py_func, p.x0, O.StoSignSGD(p.lr), T, args=p.args, box=p.box), repeats=3) / T
    for opt in (O.StoSignSGD(0.1),) if quick else (O.SignSGD(0.1), O.StoSignSGD(0.1)):
        rows[f"run loop {opt.name}, kernel through a pointer / compiled in, d=100 (steps/s ratio)"] = \
            kernel_pointer_ratio(opt)
    compile_s, load_s = loop_cache_times()
    rows["run loop: compile, fresh cache (s)"] = compile_s
    rows["run loop: load from disk cache (s)"] = load_s
    assert_converges(O.StoSignSGD(p.lr), p, 10_000)    # compiles and solves the optimum first
    rows["assert_converges hinge d=100 T=1e4 5 seeds (s)"] = best_time(
        lambda: assert_converges(O.StoSignSGD(p.lr), p, 10_000), repeats=3)
    rows["goldstein_sampled d=100 K=64 (p, q) = (inf, 1) (s)"] = best_time(
        lambda: goldstein_sampled(p.full_grad, p.x0 + 0.1, 0.1, K=64, p=np.inf, q=1), repeats=3)
    if not quick:
        for name in ("hinge", "l1"):
            big = problems.make(name, n=20_000, d=50)
            rows[f"optimum {name} n=20000 d=50, Clarabel (s)"] = wall(
                lambda: certified(big, *big.solve("CLARABEL"), "CLARABEL"))
            rows[f"optimum {name} n=20000 d=50, HiGHS ipm (s)"] = wall(lambda: highs_optimum(big, method="highs-ipm"))
    return rows


def precision_rows(d, seed=0):
    """Rounding throughput against the reference cast's round trip (``ml_dtypes``, numpy), and the
    StoSignSGD step with its state stored in e4m3 (kernel, then the state row rounded) against the
    fp64 kernel, at ``d``."""
    from theory_bench.engine.precision import FORMATS, Precision, round_array_nearest
    from theory_bench.engine.precision_loop import STATE_AT, round_vector
    try:
        import ml_dtypes
    except ImportError:                                  # the reference is a test dependency
        ml_dtypes = None
    rng = np.random.default_rng(seed)
    x, g, buf = rng.normal(size=d) * 3, rng.normal(size=d), np.empty(d)
    rows = []
    for fmt in ("e4m3", "e5m2", "bf16", "fp16"):
        f = FORMATS[fmt]
        ref = getattr(ml_dtypes, f.numpy_name, None) if f.numpy_name != "float16" else np.float16
        t_ours = best_time(lambda: round_array_nearest(x, buf, *f.params))
        t_ref = best_time(lambda: x.astype(ref).astype(np.float64)) if ref is not None else np.nan
        rows.append(dict(what=f"round to {fmt}", d=d, mcps=d / t_ours / 1e6, reference_mcps=d / t_ref / 1e6,
                         ratio=t_ref / t_ours))
    opt, key, counts = O.StoSignSGD(0.1), np.uint64(1), np.zeros((3, 2))
    S, h, packed = opt.init_state(x) + 1.0, opt.hyper, Precision(state="e4m3").packed
    t64 = best_time(lambda: opt.kernel(x, g, S, h, 1e-9, 3, key))

    def low_step():
        opt.kernel(x, g, S, h, 1e-9, 3, key)
        round_vector(S[0], packed, STATE_AT, False, False, key, 1, 3, counts)
    t8 = best_time(low_step)
    rows.append(dict(what="StoSignSGD step, e4m3 state", d=d, mcps=d / t8 / 1e6, reference_mcps=d / t64 / 1e6,
                     ratio=t64 / t8))
    return rows


def run(sizes=(10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6, 10 ** 7), out=print, quick=False):
    t0 = time.perf_counter()
    O.StoSignSGD(0.1).kernel(np.zeros(1), np.zeros(1), np.zeros((1, 1)), np.zeros(0), 0.1, 1,
                             np.uint64(1))
    warm_s = time.perf_counter() - t0
    stream, inplace = triad_bandwidth()
    bw = max(stream, inplace)
    out(f"memory bandwidth, numba, 1 thread, d=1e7: STREAM triad {stream / 1e9:.1f} GB/s "
        f"(32 B/elem moved), in-place triad {inplace / 1e9:.1f} GB/s; roofline = {bw / 1e9:.1f} GB/s")
    out(f"(first kernel call, cache load or compile: {warm_s:.2f} s; roofline % is meaningful "
        f"only out of cache, d=1e7)")
    out(f"{'kernel':28s} {'d':>9s} {'numba Mc/s':>11s} {'numpy Mc/s':>11s} {'speedup':>8s} {'roofline':>9s} "
        f"{'time/hand':>9s}")
    rows = kernel_rows(sizes, bw)
    for r in rows:
        vs = f"{r['vs_hand']:8.2f}x" if "vs_hand" in r else ""
        out(f"{r['kernel']:28s} {r['d']:9d} {r['numba_mcps']:11.1f} {r['numpy_mcps']:11.1f} "
            f"{r['speedup']:7.1f}x {100 * r['roofline']:8.0f}% {vs:>9s}")
    out("time/hand: a sign_convert kernel's time over the hand-written StoSignSGD kernel it reproduces")
    lr = loop_row()
    out(f"whole loop, one-sample hinge SGD n={lr['n']} d={lr['d']} T={lr['T']} ({lr['path']}): "
        f"{lr['jit_steps_per_s'] / 1e6:.2f} M steps/s vs numpy loop {lr['numpy_steps_per_s'] / 1e3:.1f} k steps/s "
        f"= {lr['speedup']:.0f}x; compile/cache load {lr['compile_s']:.2f} s")
    scale = [] if quick else scale_rows(bw, out)
    prec = precision_rows(max(sizes))
    out("number formats (reference: ml_dtypes' or numpy's cast and back; for the step: the fp64 kernel)")
    for r in prec:
        out(f"{r['what']:32s} {r['d']:9d} {r['mcps']:9.1f} Mc/s  reference {r['reference_mcps']:9.1f} Mc/s  "
            f"ratio {r['ratio']:5.2f}x")
    from theory_bench.bench_torch import torch_rows     # {} without PyTorch
    tor = torch_rows((10 ** 6,) if quick else (10 ** 6, 10 ** 7))
    if tor:
        out("torch optimizers, float32 on the CPU, one thread; ratios from this run")
    for k, v in tor.items():
        out(f"{k:72s} {v:10.4g}")
    comm = comm_bench_rows(quick)
    if comm:
        out("DDP on loopback (gloo, 1 thread per rank): bytes per rank and step, payload and in a ring, and "
            "the backward+communication time, against the fp32 allreduce")
    for r in comm:
        out(f"{r['method']:24s} d={r['d']:<9d} M={r['M']}  payload {r['payload_bytes'] / 1e6:8.3f} MB "
            f"({r['payload_ratio']:5.1f}x fewer)  ring {r['ring_bytes'] / 1e6:8.3f} MB ({r['ring_ratio']:5.1f}x)  "
            f"step {1e3 * r['step_s']:8.1f} ms ({r['time_ratio']:5.2f}x)")
    lat = latency_rows(quick)
    for k, v in lat.items():
        out(f"{k:52s} {v:10.4g}")
    return {"stream_bytes_per_s": stream, "inplace_bytes_per_s": inplace, "kernels": rows, "loop": lr,
            "scale": scale, "precision": prec, "torch": tor, "comm": comm, "latency": lat}


def scale_rows(bw, out):
    """The whole loop at d = 1e6 .. 1e8, each run in a fresh process (``theory_bench.bench_scale``)."""
    from theory_bench import bench_scale
    rows = bench_scale.run(bw)
    out("whole loop at large d, one-sample l1 oracle into a preallocated buffer, default checkpoints and record: "
        "M coordinates/s, against a numpy loop and the roofline of the bytes the loop moves, peak RSS")
    for r in rows:
        vs = f"{r['speedup']:5.1f}x numpy" if "speedup" in r else " " * 11
        out(f"{r['optimizer']:12s} d={r['d']:<10.0e} T={r['T']:<5d} {r['mcps']:7.1f} Mc/s  {vs}  "
            f"{100 * r['roofline']:4.0f}% roofline  peak {r['peak_rss_bytes'] / 1e9:5.2f} GB")
    return rows


def comm_bench_rows(quick):
    """The sign hooks against DDP's allreduce (``theory_bench.torch.comm_bench``); none in ``quick`` or
    without PyTorch."""
    if quick:
        return []
    try:
        from theory_bench.torch.comm_bench import comm_rows
    except ImportError:
        return []
    return comm_rows()
