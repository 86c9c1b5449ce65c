"""Hostile input, property-based (hypothesis): random shapes, dtypes, NaN/inf anywhere, empty arrays,
extreme learning rates, inverted boxes, oracles that raise, return lists or scalars or change shape
mid-run, and corrupted stored results. What must hold: only the documented exceptions, each naming
the value (and the fix); never a crash, a hang, a NaN trajectory returned or a file half-written.

``EXAMPLES`` inputs per property; ``test_inputs_tried`` states the total, the number the README
quotes. The torch property runs where torch is installed."""
import pickle
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st          # noqa: E402
from hypothesis.extra import numpy as hnp                                        # noqa: E402

import theory_bench as tb                                                        # noqa: E402
from theory_bench import optimizers as O                                         # noqa: E402
from theory_bench.engine.protocol import minimize_any                           # noqa: E402
from theory_bench.engine.recording import RecordWarning                         # noqa: E402
from theory_bench.experiments.runs import run_one, spec                          # noqa: E402
from theory_bench.results.store import ResultStore, StoreError                   # noqa: E402
from tests.oracles import abs_sum, poisoned                                                # noqa: E402

EXAMPLES = 150
PROPERTIES = 9
CHECK = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DOCUMENTED = (ValueError, FloatingPointError, MemoryError)
OPTIMIZERS = [O.SGD, O.SignSGD, O.Signum, O.EFSignSGD, O.StoSignSGD, O.StoSignSGD.practical, O.AdaGrad, O.Adam,
              O.AdamW, O.Lion]

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
dtypes = st.sampled_from([np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64, np.complex128, np.bool_,
                          object])


def arrays():
    """Arrays of any of those dtypes, 0 to 3 dimensions, empty ones included, NaN and inf anywhere."""
    return dtypes.flatmap(lambda dt: hnp.arrays(
        np.float64 if dt is object else dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
        elements=floats if dt in (np.float64, object) else None).map(
            lambda a: a.astype(object) if dt is object else a))


def assert_clean(trace):
    """A returned trace is finite everywhere: never a NaN trajectory."""
    for name in ("x", "x_avg", "xs", "xs_avg", "losses", "losses_avg"):
        v = getattr(trace, name)
        if v is not None:
            assert np.all(np.isfinite(v)), name


def run_or_documented(call):
    """``call()``'s trace, checked clean, or a documented exception with a message that names something."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordWarning)
            tr = call()
    except DOCUMENTED as err:
        assert len(str(err)) > 20 and "got" in str(err) or "at step" in str(err) or "needs" in str(err), str(err)
        return err
    assert_clean(tr)
    return tr


@CHECK
@given(x0=arrays())
def test_any_x0(x0):
    out = run_or_documented(lambda: tb.minimize(abs_sum, x0, O.StoSignSGD(0.1), 5))
    a = np.asarray(x0)
    ok = (a.ndim == 1 and a.size > 0 and a.dtype.kind in "iuf"
          or a.dtype == object and a.ndim == 1 and a.size > 0)
    if not ok:
        assert isinstance(out, ValueError)
    if a.dtype.kind == "c":
        assert "real" in str(out)


@CHECK
@given(lr=floats, opt=st.sampled_from(OPTIMIZERS), d=st.integers(1, 6), T=st.integers(1, 40),
       scale=st.sampled_from([1e-300, 1.0, 1e150, 1e300]))
def test_any_learning_rate(lr, opt, d, T, scale):
    try:
        o = opt(lr)
    except ValueError as err:
        assert not (np.isfinite(lr) and lr > 0) and "lr must be" in str(err)
        return
    x0 = np.linspace(-1, 1, d) * scale
    run_or_documented(lambda: tb.minimize(abs_sum, x0, o, T))


@CHECK
@given(lo=arrays(), hi=arrays(), d=st.integers(1, 4))
def test_any_box(lo, hi, d):
    out = run_or_documented(lambda: tb.minimize(abs_sum, np.zeros(d), O.SGD(0.1), 5, box=(lo, hi)))
    if not isinstance(out, Exception):
        lo_, hi_ = (np.broadcast_to(np.asarray(b, dtype=np.float64), (d,)) for b in (lo, hi))
        assert np.all(lo_ < hi_) and np.all((out.x >= lo_) & (out.x <= hi_))


BAD_RETURNS = st.sampled_from(["list", "scalar", "2d", "float32", "int", "shorter", "nan", "inf", "raise",
                               "none", "string", "complex"])


def hostile_oracle(kind, at, d):
    """An oracle that behaves until call ``at``, then returns or does ``kind``."""
    calls = [0]

    def grad(x, rng):
        calls[0] += 1
        g = np.sign(x - 0.3) + 0.1 * rng.normal(size=x.shape[0])
        if calls[0] < at:
            return g
        return {"list": lambda: list(g), "scalar": lambda: float(g[0]), "2d": lambda: g[:, None],
                "float32": lambda: g.astype(np.float32), "int": lambda: g.astype(np.int64),
                "shorter": lambda: g[:-1], "nan": lambda: np.where(np.arange(d) == d - 1, np.nan, g),
                "inf": lambda: np.full(d, -np.inf), "raise": lambda: (_ for _ in ()).throw(KeyError("oracle broke")),
                "none": lambda: None, "string": lambda: "g", "complex": lambda: g + 1j}[kind]()
    return grad


@CHECK
@given(kind=BAD_RETURNS, at=st.integers(1, 12), d=st.integers(1, 5), opt=st.sampled_from(OPTIMIZERS))
def test_oracles_that_misbehave_at_any_step(kind, at, d, opt):
    grad = hostile_oracle(kind, at, d)
    try:
        out = run_or_documented(lambda: tb.minimize(grad, np.zeros(d), opt(0.1), 10))
    except KeyError as err:                         # the oracle's own exception comes through unchanged
        assert kind == "raise" and "oracle broke" in str(err)
        return
    if kind == "raise" and at <= 11 or kind in ("shorter", "nan", "inf") and at <= 11 and d > (kind == "shorter"):
        assert isinstance(out, Exception), kind
    if isinstance(out, Exception) and kind not in ("nan", "inf"):
        assert isinstance(out, ValueError), (kind, out)


@CHECK
@given(d=st.integers(1, 40), T=st.integers(1, 60), data=st.data(), value=st.sampled_from([np.nan, np.inf, -np.inf]),
       opt=st.sampled_from(OPTIMIZERS), boxed=st.booleans())
def test_a_non_finite_gradient_in_the_compiled_loop_is_named_at_its_step_and_coordinate(d, T, data, value, opt,
                                                                                        boxed):
    step, coord = data.draw(st.integers(1, T)), data.draw(st.integers(0, d - 1))
    plan = np.array([0.0, step, coord, value])
    with pytest.raises(FloatingPointError, match=rf"non-finite value at step t={step}, coordinate {coord};"):
        tb.minimize(poisoned, np.zeros(d), opt(0.1), T, args=(plan,), box=(-2.0, 2.0) if boxed else None)


class Hostile:
    """A user's optimizer whose step returns ``kind`` from call ``at`` on."""

    def __init__(self, kind, at):
        self.kind, self.at, self.calls = kind, at, 0

    def init(self, x0):
        return None

    def step(self, x, g, state, t, rng):
        self.calls += 1
        new = x - 0.1 * np.sign(g)
        if self.calls < self.at:
            return new
        return {"list": lambda: list(new), "scalar": lambda: 1.0, "2d": lambda: new[:, None],
                "float32": lambda: new.astype(np.float32), "int": lambda: new.astype(np.int64),
                "shorter": lambda: new[:-1], "nan": lambda: new * np.nan, "inf": lambda: new + np.inf,
                "raise": lambda: (_ for _ in ()).throw(KeyError("step broke")), "none": lambda: None,
                "string": lambda: "x", "complex": lambda: new + 1j}[self.kind]()


@CHECK
@given(kind=BAD_RETURNS, at=st.integers(1, 12), d=st.integers(1, 5))
def test_user_optimizers_that_misbehave_at_any_step(kind, at, d):
    try:
        run_or_documented(lambda: minimize_any(Hostile(kind, at), abs_sum, np.zeros(d) + 0.5, 10))
    except KeyError as err:
        assert kind == "raise" and "step broke" in str(err)


@CHECK
@given(checkpoints=st.one_of(st.none(), st.lists(st.integers(-3, 30), max_size=6), arrays()),
       T=st.one_of(st.integers(-2, 25), st.floats(0, 30), st.booleans()),
       seed=st.one_of(st.integers(-5, 2 ** 70), st.floats(), st.text(max_size=3)))
def test_any_horizon_checkpoints_and_seed(checkpoints, T, seed):
    run_or_documented(lambda: tb.minimize(abs_sum, np.ones(3), O.SignSGD(0.1), T, checkpoints=checkpoints,
                                          seed=seed))


# --- stored results ----------------------------------------------------------------------------

SPEC = spec("skewed_linear", "StoSignSGD", 200, problem_kw=dict(d=3), checkpoints=[10, 200])


@pytest.fixture(scope="module")
def one_run():
    return run_one(SPEC, 0)


@CHECK
@given(how=st.sampled_from(["truncate", "flip", "foreign", "empty", "garbage"]), where=st.floats(0, 1),
       bit=st.integers(0, 7), target=st.sampled_from(["run", "run", "config"]))
def test_corrupted_results_are_named_never_read_as_data(tmp_path_factory, one_run, how, where, bit, target):
    root = tmp_path_factory.mktemp("store")
    store = ResultStore(root, "exp")
    store.put(SPEC, 0, one_run)
    expected = store.table()
    path = store._path(SPEC, 0) if target == "run" else next((root / "exp" / "configs").iterdir())
    data = bytearray(path.read_bytes())
    k = min(int(where * len(data)), len(data) - 1)
    if how == "truncate":
        data = data[:k]
    elif how == "flip":
        data[k] ^= 1 << bit
    elif how == "empty":
        data = b""
    elif how == "garbage":
        data = bytearray(pickle.dumps(one_run))
    else:
        import pandas as pd
        pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}).to_parquet(path)
        data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data))
    try:
        back = store.get(SPEC, 0) if target == "run" else None
        table = store.table()
    except StoreError as err:
        assert str(path) in str(err) and ("delete it" in str(err) or "move it" in str(err))
        return
    # read back: then it must be the run exactly (a flip in bytes the reader never uses)
    if back is not None:
        for key, v in one_run.items():
            np.testing.assert_array_equal(np.asarray(back[key], dtype=float), np.asarray(v, dtype=float))
    assert table.equals(expected)


TORCH_DTYPES = ["float16", "bfloat16", "float32", "float64", "complex64"]


@CHECK
@given(lr=floats, beta1=floats, wd=floats, dtype=st.sampled_from(TORCH_DTYPES), shape=st.lists(st.integers(1, 4),
       max_size=3), poison=st.sampled_from([None, float("nan"), float("inf"), -float("inf")]), where=st.floats(0, 1),
       converted=st.booleans())
def test_torch_optimizers_take_any_hyperparameters_dtype_and_gradient(lr, beta1, wd, dtype, shape, poison, where,
                                                                      converted):
    torch = pytest.importorskip("torch")
    from theory_bench.torch import StoSignSGD, sign_convert
    p = torch.nn.Parameter(torch.linspace(-1, 1, int(np.prod(shape))).reshape(shape).to(getattr(torch, dtype)))
    try:
        opt = (sign_convert(torch.optim.SGD([p], lr=lr)) if converted
               else StoSignSGD([p], lr=lr, beta1=beta1, weight_decay=wd))
    except ValueError as err:                     # ours names the value; torch.optim.SGD's own says "Invalid"
        assert "got" in str(err) or "Invalid" in str(err)
        return
    g = torch.ones_like(p)
    if poison is not None:
        g.view(-1)[min(int(where * g.numel()), g.numel() - 1)] = poison
    p.grad = g
    before = p.detach().clone()
    try:
        opt.step()
    except (ValueError, FloatingPointError) as err:
        msg = str(err)
        assert "got" in msg or "step 1" in msg or "lr=" in msg, msg
        if "became non-finite" not in msg:
            assert torch.equal(p.detach(), before), msg                    # refused before anything moved
        if poison is not None and dtype != "complex64" and "lr" not in msg:
            assert "non-finite gradient at step 1" in msg
        return
    assert poison is None and dtype != "complex64" and bool(torch.isfinite(p).all())


def test_inputs_tried():
    """The number the README quotes: EXAMPLES inputs for each of the PROPERTIES properties above."""
    props = [name for name, f in globals().items() if name.startswith("test_") and hasattr(f, "hypothesis")]
    assert len(props) == PROPERTIES
    assert EXAMPLES * PROPERTIES == 1350
