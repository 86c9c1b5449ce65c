"""Large d: what a run keeps (``record=``), the segmented loop, the fused checks, memory linear in d."""
import warnings

import numpy as np
import pytest

import theory_bench as tb
from theory_bench import optimizers as O
from theory_bench.engine import recording, run_loop
from theory_bench.engine.precision import Precision
from theory_bench.engine.protocol import minimize_any
from theory_bench.engine.recording import RecordWarning
from tests.oracles import hinge_loss, hinge_sample, make_hinge
from tests.user_optimizers import JitStoSignSGD, PyStoSignSGD

OPTS = [O.StoSignSGD(0.1), O.StoSignSGD.practical(0.1, weight_decay=0.01), O.Adam(0.05), O.SGD(0.1)]


def run(opt, record, **kw):
    A, y = make_hinge()
    return minimize_any(opt, hinge_sample, np.zeros(10), 700, args=(A, y), seed=5, box=(-1, 1), loss=hinge_loss,
                        record=record, **kw)


def same_run(a, b):
    for name in ("x", "x_avg", "losses", "losses_avg", "t"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for k in a.state_sums:
        np.testing.assert_array_equal(a.state_sums[k], b.state_sums[k])


@pytest.mark.parametrize("opt", OPTS + [JitStoSignSGD(), PyStoSignSGD(0.1)], ids=lambda o: getattr(o, "name", None) or repr(o))
def test_a_run_without_iterates_is_the_run_with_them(opt):
    full, lean = run(opt, "iterates"), run(opt, "losses")
    assert full.xs.shape == (full.t.shape[0], 10) and lean.xs is None and lean.xs_avg is None
    same_run(full, lean)
    np.testing.assert_array_equal(full.losses, [hinge_loss(x, *make_hinge()) for x in full.xs])


def test_segments_keep_the_window_and_the_precision_statistics():
    p = dict(window=(0.1, np.inf, 1.0))
    A, y = make_hinge()
    go = lambda record, **kw: tb.minimize(hinge_sample, np.zeros(10), O.StoSignSGD(0.1), 600, args=(A, y), seed=2,
                                          loss=hinge_loss, record=record, **kw)
    full, lean = go("iterates", **p), go("losses", **p)
    same_run(full, lean)
    np.testing.assert_array_equal(full.window, lean.window)
    low = dict(precision=Precision(grad="e5m2", state="e4m3", weights="bf16", rounding="stochastic"))
    full, lean = go("iterates", **low), go("losses", **low)
    same_run(full, lean)
    assert full.extra["flushed_fraction"] == lean.extra["flushed_fraction"]
    assert full.extra["largest_step"] == lean.extra["largest_step"]
    np.testing.assert_array_equal(full.extra["last_move"], lean.extra["last_move"])


def test_auto_keeps_iterates_within_the_budget_and_warns_beyond_it(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(O.SGD(0.1), "auto").xs is not None               # 2 * 60 * 10 doubles: far within
    monkeypatch.setattr(recording, "ITERATE_BUDGET", 1000)
    with pytest.warns(RecordWarning, match=r"record='iterates'.*fewer\s+checkpoints"):
        tr = run(O.SGD(0.1), "auto")
    assert tr.xs is None and tr.losses.shape == tr.t.shape
    same_run(tr, run(O.SGD(0.1), "iterates"))


def test_bad_record_and_a_run_that_cannot_fit(monkeypatch):
    with pytest.raises(ValueError, match=r"record must be one of 'auto', 'iterates', 'losses', got 'all'"):
        run(O.SGD(0.1), "all")
    monkeypatch.setattr(recording, "available_memory", lambda: 100)
    with pytest.raises(MemoryError, match=r"needs .* GB .*of iterates at \d+ checkpoints.*record='losses'"):
        run(O.SGD(0.1), "iterates")
    with pytest.raises(MemoryError, match=r"lower d"):
        run(O.SGD(0.1), "losses")


def test_a_loss_that_writes_into_the_live_iterate_is_refused():
    def bad_loss(x, A, y):
        x[0] = 5.0
        return 0.0
    A, y = make_hinge()
    with pytest.raises(ValueError, match="read-only"):
        tb.minimize(hinge_sample, np.zeros(10), O.SGD(0.1), 50, args=(A, y), loss=bad_loss, record="losses")


# --- the fused checks against naive numpy -----------------------------------------------------

def test_first_nonfinite_and_settle_against_numpy():
    rng = np.random.default_rng(0)
    for trial in range(300):
        d = int(rng.integers(1, 300))
        v = rng.normal(size=d) * 10
        for _ in range(int(rng.integers(0, 3))):
            v[rng.integers(0, d)] = rng.choice([np.nan, np.inf, -np.inf])
        bad = np.flatnonzero(~np.isfinite(v))
        assert run_loop.first_nonfinite(v) == (bad[0] if bad.size else -1)
        lo, hi = -rng.uniform(0, 5, size=d), rng.uniform(0, 5, size=d)
        boxed, t_next = bool(trial % 2), int(rng.integers(0, 4)) * int(rng.integers(1, 100))
        x, x_avg = v.copy(), rng.normal(size=d)
        x_ref, avg_ref = v.copy(), x_avg.copy()
        if boxed:
            x_ref = np.minimum(np.maximum(x_ref, lo), hi)             # NaN stays NaN, inf goes to the bound
        if t_next:
            avg_ref = avg_ref + (x_ref - avg_ref) * (1.0 / t_next)
        got = run_loop.settle(x, lo, hi, boxed, x_avg, t_next)
        bad = np.flatnonzero(~np.isfinite(x_ref))
        assert got == (bad[0] if bad.size else -1)
        np.testing.assert_array_equal(x, x_ref)
        if got < 0:
            np.testing.assert_array_equal(x_avg, avg_ref)


# --- memory linear in d --------------------------------------------------------------------------

def peak_allocated(d, record):
    """The peak of what a run allocates (numpy arrays, counted by ``tracemalloc``) above what it was
    given: its own vectors and records, not the pages the allocator happens to keep."""
    import tracemalloc

    from theory_bench.bench_scale import l1_distance, one_sample_l1_grad, problem
    x0, args = problem(d)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordWarning)
            tr = tb.minimize(one_sample_l1_grad, x0, O.StoSignSGD(0.1), 300, args=args, loss=l1_distance,
                             record=record)
        return tracemalloc.get_traced_memory()[1], tr
    finally:
        tracemalloc.stop()


def test_memory_of_a_large_run_is_a_few_vectors_and_the_iterates_cost_what_they_say():
    d = 2 * 10 ** 6
    vec = 8 * d
    peak_allocated(1000, "auto")                                         # compile or load the loop first
    lean, tr = peak_allocated(d, "auto")
    assert tr.xs is None
    # x (our copy of x0), x_avg, G, and the probe's copies of x0 and of the oracle's two arrays
    assert lean < 7 * vec, lean / vec
    full, tr = peak_allocated(d, "iterates")
    n_ck = tr.t.shape[0]
    assert tr.xs.shape == (n_ck, d) and full > lean + 2 * n_ck * vec - vec, (full / vec, n_ck)


def test_the_bench_rows_at_large_d_run_in_a_fresh_process():
    from theory_bench import bench_scale
    (row,) = bench_scale.run(30e9, rows=((1000, 30, 2),), optimizers=("StoSignSGD",))
    assert row["d"] == 1000 and row["T"] == 30 and not row["kept_iterates"] is None
    assert row["mcps"] > 0 and row["numpy_mcps"] > 0 and row["speedup"] == row["mcps"] / row["numpy_mcps"]
    assert 0 < row["roofline"] and row["peak_rss_bytes"] > 10 ** 7 and row["path"] == "jit-cached"
