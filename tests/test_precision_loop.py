"""minimize(..., precision=Precision(...)): the default is today's loop, the loop in formats matches a
reference written with round_to, and the mechanisms of docs/theory.md §6 show, each with the variant
where they must not: Adam's second moment flushed by e4m3 state (fp32 state: not), steps of a sign
method bounded by eta_t whatever its state holds, bf16 weights that freeze under nearest rounding and
move under stochastic rounding."""
import math
import warnings

import numpy as np
import pytest

import theory_bench as tb
from tests.oracles import constant_grad, noisy_quadratic
from theory_bench import optimizers as O
from theory_bench import problems
from theory_bench.engine.seeding import streams
from theory_bench.precision import FORMATS, Precision, round_to

C = np.linspace(-0.4, 0.9, 16)


def run(opt, T, precision, x0=None, oracle=noisy_quadratic, args=(C,), seed=3, box=(-2.0, 2.0)):
    x0 = np.full(len(args[0]), 0.5) if x0 is None else x0
    return tb.minimize(oracle, x0, opt, T, args=args, seed=seed, box=box, precision=precision)


def test_default_precision_is_the_ordinary_loop():
    a, b, c = (run(O.StoSignSGD(0.1), 500, p) for p in (None, Precision(), Precision("fp64", "fp64", "fp64")))
    assert np.array_equal(a.xs, b.xs) and np.array_equal(a.xs, c.xs)
    assert "precision" not in a.extra and "precision" not in b.extra


def scale(v, fmt):
    amax = np.abs(v).max()
    if amax == 0:
        return 1.0
    s = 2.0 ** math.floor(math.log2(FORMATS[fmt].max / amax))
    return s / 2 if amax * s > FORMATS[fmt].max else (s * 2 if amax * s * 2 <= FORMATS[fmt].max else s)


def reference(opt, T, p, seed=3):
    """The loop of theory_bench.engine.precision_loop written again with round_to (nearest rounding)."""
    rng, key = streams(seed)
    x = np.full(len(C), 0.5)
    S, h = opt.init_state(x), opt.hyper
    low = lambda v, fmt, scaled: round_to(v * (s := scale(v, fmt) if scaled else 1.0), fmt) / s
    for t in range(1, T + 1):
        g = low(noisy_quadratic(x, rng, C), p.grad, p.scaling == "per_tensor")
        opt.kernel(x, g, S, h, opt.lr / math.sqrt(t), t, key)
        for r in range(S.shape[0]):
            S[r] = low(S[r], p.state, p.scaling == "per_tensor")
        x = np.clip(low(x, p.weights, False), -2.0, 2.0)
    return x, S


@pytest.mark.parametrize("opt", [O.SGD(0.1, momentum=0.9, schedule="inv_sqrt"), O.Adam(0.05, schedule="inv_sqrt"),
                                 O.StoSignSGD.practical(0.1, weight_decay=0.01)], ids=lambda o: o.name)
@pytest.mark.parametrize("scaling", ["none", "per_tensor"])
def test_the_loop_in_formats_matches_a_reference(opt, scaling):
    p = Precision(grad="e5m2", state="e4m3", weights="bf16", scaling=scaling)
    tr = run(opt, 300, p)
    x, S = reference(opt, 300, p)
    np.testing.assert_array_equal(tr.x, x)
    for r, name in enumerate(opt.state_names):
        np.testing.assert_array_equal(tr.state[name], S[r])
    assert np.array_equal(round_to(tr.x, "bf16"), tr.x)               # the weights are bf16 values
    if scaling == "none":
        assert np.array_equal(round_to(S, "e4m3"), S)                  # the state rows are e4m3 values


def adam_on_a_constant_gradient(state, scaling="none", T=2000):
    g = np.full(8, 0.5)       # (1 - b2) g^2 = 2.5e-4, below half e4m3's smallest subnormal 2^-10
    return run(O.Adam(0.001), T, Precision(state=state, scaling=scaling), x0=np.zeros(8), oracle=constant_grad,
               args=(g,), box=(-1e3, 1e3))


def test_e4m3_state_flushes_adams_second_moment():
    """v's increment rounds to zero while m's survives, so each step divides the fresh m by
    sqrt((1-b2) g^2 / (1 - b2^t)): about sqrt(1 / (1 - b2)) times the fp32 step (docs/theory.md §6).
    m itself stalls at the fixed point of its rounded recursion. Variant: fp32 state."""
    T = 2000
    low, high = adam_on_a_constant_gradient("e4m3", T=T), adam_on_a_constant_gradient("fp32", T=T)
    assert low.extra["flushed_fraction"]["v"] == 1.0 and low.extra["flushed_fraction"]["m"] == 0.0
    assert np.all(low.state["v"] == 0.0)
    m = 0.0
    while (nxt := round_to(0.9 * m + 0.05, "e4m3")) != m:          # the stored m's fixed point
        m = nxt
    assert np.all(low.state["m"] == m) and m == 0.375
    m_hat, v_hat = (0.9 * m + 0.05) / (1 - 0.9 ** T), 0.001 * 0.25 / (1 - 0.999 ** T)
    predicted = m_hat / (math.sqrt(v_hat) + 1e-8)                    # the step at T, in units of eta
    assert low.extra["largest_step"] == pytest.approx(predicted, rel=1e-9) and predicted > 20
    assert high.extra["flushed_fraction"]["v"] == 0.0 and high.extra["largest_step"] < 1.01


def test_per_tensor_scaling_cures_the_underflow_but_not_the_swamping():
    """Scaled, v no longer flushes, but it stops growing once (1-b2) g^2 is below half its own ulp
    (v ~ (1-b2) g^2 2^(m+1), e4m3's m = 3): the step is still inflated (docs/theory.md §6)."""
    scaled, exact = adam_on_a_constant_gradient("e4m3", scaling="per_tensor"), adam_on_a_constant_gradient("fp32")
    assert scaled.extra["flushed_fraction"]["v"] == 0.0
    assert np.all(scaled.state["v"] < 0.1 * exact.state["v"]) and np.all(scaled.state["v"] <= 2.5e-4 * 2 ** 5)
    assert scaled.extra["largest_step"] > 2


@pytest.mark.parametrize("opt", [O.StoSignSGD(0.1), O.StoSignSGD.practical(0.1), O.SignSGD(0.1), O.Lion(0.1)],
                         ids=lambda o: repr(o)[:30])
def test_sign_steps_stay_bounded_whatever_the_state_holds(opt):
    p = Precision(grad="e5m2", state="e4m3", weights="fp64")
    tr = run(opt, 2000, p, oracle=constant_grad, args=(np.full(16, 0.5),), x0=np.zeros(16), box=(-1e3, 1e3))
    assert tr.extra["largest_step"] <= 1.0 + 1e-12


def test_bf16_weights_freeze_under_nearest_rounding_and_move_under_stochastic():
    """x = 1 - 1e-3 t: each step is below half the bf16 ulp under 1 (2^-9), so nearest rounding keeps
    x = 1 forever; stochastic rounding keeps the expected update (docs/theory.md §6)."""
    g, x0, T = np.full(512, 1.0), np.ones(512), 100
    kw = dict(x0=x0, oracle=constant_grad, args=(g,), box=(-10.0, 10.0))
    near = run(O.SGD(1e-3, schedule="constant"), T, Precision(weights="bf16"), **kw)
    sto = run(O.SGD(1e-3, schedule="constant"), T, Precision(weights="bf16", rounding="stochastic"), **kw)
    assert np.all(near.x == 1.0)
    # per coordinate: a sum of 100 independent roundings, each within 2^-8 and of variance <= 2^-16 / 4
    sd_of_mean = math.sqrt(T * 2.0 ** -18 / len(g))
    assert abs(sto.x.mean() - (1 - T * 1e-3)) < 6 * sd_of_mean
    again = run(O.SGD(1e-3, schedule="constant"), T, Precision(weights="bf16", rounding="stochastic"), **kw)
    assert np.array_equal(sto.xs, again.xs)


def test_bad_input_names_the_value_and_the_fix():
    with pytest.raises(ValueError, match=r"unknown number format 'fp8'"):
        Precision(state="fp8")
    with pytest.raises(ValueError, match="stochastic rounding needs a format narrower than fp64"):
        Precision(rounding="stochastic")
    with pytest.raises(ValueError, match="scaling must be 'none' or 'per_tensor', got 'global'"):
        Precision(state="e4m3", scaling="global")
    with pytest.raises(ValueError, match=r"precision must be a theory_bench.precision.Precision, got 'e4m3'"):
        run(O.SGD(0.1), 10, "e4m3")

    class Mine:
        def init(self, x0):
            return None

        def step(self, x, g, state, t, rng):
            return x - 0.1 * g
    p = problems.make("hinge", d=5)
    with pytest.raises(ValueError, match=r"cannot be honoured by Mine.*round inside your step"):
        p.minimize(Mine(), 10, precision=Precision(state="e4m3"))


def test_a_format_that_cannot_hold_L_warns_with_the_numbers():
    p = problems.make("moe")
    with pytest.warns(UserWarning, match=r"moe: gradients reach L = 836.8, beyond the largest e4m3 value 448"):
        p.minimize(O.StoSignSGD(p.lr), 10, precision=Precision(grad="e4m3"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.minimize(O.StoSignSGD(p.lr), 10, precision=Precision(grad="e4m3", scaling="per_tensor"))
        p.minimize(O.StoSignSGD(p.lr), 10, precision=Precision(grad="bf16"))


def test_experiment_specs_take_a_precision_and_keep_the_old_keys(tmp_path):
    """A spec in formats runs through the store and reports the flush and the largest step; a spec
    without one has no precision key, so the fp64 results already stored keep their hashes."""
    from theory_bench.experiments.runs import run_seeds, spec
    from theory_bench.results.store import ResultStore
    plain = spec("hinge", "AdamW", 500, problem_kw=dict(d=5), opt_kw=dict(lr=0.01))
    assert "precision" not in plain
    low = spec("hinge", "AdamW", 500, problem_kw=dict(d=5), opt_kw=dict(lr=0.01), precision=dict(state="e4m3"))
    assert low["precision"] == Precision(state="e4m3").config()
    out = run_seeds(low, tb.spawn_seeds(0, 2), jobs=1, store=ResultStore(tmp_path, "precision"))
    assert out["largest_step"].shape == (2,) and {"flushed_m", "flushed_v", "flushed_grad"} <= set(out)
    with pytest.raises(ValueError, match="unknown number format 'e3m4'"):
        spec("hinge", "AdamW", 500, precision=dict(state="e3m4"))


def test_freeze_prediction_is_exact_for_signsgd_in_bf16():
    """SignSGD with bf16 weights, nearest rounding: each coordinate's last move is at or before the
    step ``nearest_freeze_step`` predicts from where it stopped, and the latest ones within two steps."""
    from theory_bench.analysis.bounds import nearest_freeze_step
    p = problems.make("hinge", data="breast_cancer")
    lr = float(p.lr) / 100
    tr = p.minimize(O.SignSGD(lr), 20_000, seed=3, precision=Precision(weights="bf16"))
    pred = nearest_freeze_step(tr.x, lr, "bf16")
    last = tr.extra["last_move"]
    frozen = pred < 10_000
    assert frozen.sum() > 10 and (last[frozen] <= pred[frozen]).all()
    assert (last[frozen] >= pred[frozen] - 2).any()


def test_spacing_below():
    from theory_bench.engine.precision import FORMATS
    bf16 = FORMATS["bf16"]
    np.testing.assert_array_equal(bf16.spacing_below([1.0, 1.5, -3.0, 0.0]),
                                  [2.0 ** -8, 2.0 ** -7, 2.0 ** -6, 2.0 ** -133])
    e4m3 = FORMATS["e4m3"]
    np.testing.assert_array_equal(e4m3.spacing_below([2.0 ** -6, 2.0 ** -8]), [2.0 ** -9, 2.0 ** -9])  # subnormals


PRECISIONS = [Precision(state="e4m3"), Precision(grad="e5m2", state="e4m3", weights="bf16"),
              Precision(grad="e5m2", state="e4m3", weights="bf16", scaling="per_tensor"),
              Precision(grad="bf16", state="fp16", weights="bf16", rounding="stochastic"),
              Precision(grad="e5m2", state="e4m3", weights="bf16", rounding="stochastic", scaling="per_tensor"),
              Precision(grad="e5m2", state="bf16", weights="fp32", via_fp32=True)]


@pytest.mark.parametrize("precision", PRECISIONS, ids=repr)
@pytest.mark.parametrize("opt", [O.AdamW(0.05, schedule="inv_sqrt"), O.StoSignSGD(0.1)], ids=lambda o: o.name)
def test_a_plain_python_oracle_gives_the_compiled_oracles_trace(opt, precision):
    """The same oracle as plain Python (the loop then runs in Python) and compiled with numba: the
    same trace bit for bit, under every precision (stochastic rounding's keys included)."""
    py = noisy_quadratic.py_func
    a, b = run(opt, 300, precision, oracle=py), run(opt, 300, precision)
    assert a.path == "python" and b.path != "python"
    assert np.array_equal(a.xs, b.xs) and np.array_equal(a.x, b.x)
    assert all(np.array_equal(a.state[k], b.state[k]) for k in a.state)
    assert a.extra["flushed_fraction"] == b.extra["flushed_fraction"]
    assert a.extra["largest_step"] == b.extra["largest_step"]
    assert np.array_equal(a.extra["last_move"], b.extra["last_move"])


def test_via_fp32_is_a_setting_of_its_own():
    """``via_fp32`` is kept in the configuration (a new key), and a gradient just below a bf16
    midpoint is rounded down (to the nearest) directly and up through fp32 (a tie, then even)."""
    p, q = Precision(grad="bf16"), Precision(grad="bf16", via_fp32=True)
    assert p != q and p.config()["via_fp32"] is False and q.config()["via_fp32"] is True
    g = np.full(3, 0.34667968718891645)
    steps = [run(O.SGD(1.0, schedule="constant"), 1, pr, x0=np.zeros(3), oracle=constant_grad, args=(g,),
                 box=None).x for pr in (p, q)]
    np.testing.assert_array_equal(steps[0], -0.345703125)
    np.testing.assert_array_equal(steps[1], -0.34765625)
    with pytest.raises(ValueError, match="via_fp32 must be True or False, got 1"):
        Precision(state="bf16", via_fp32=1)
