"""theory_bench.torch.fp8 (docs/fp8.md): casts bit for bit against theory_bench.precision, the FP8
modules against a hand computation of their matmuls, the low-precision optimizer's stored state and
the AdamW failure it measures (and its variant, bf16 state), the training loop's reproducibility,
and the fp8 experiment end to end on a subset (the full quick form: ``-m slow``)."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from theory_bench.engine.precision import get_format, round_to  # noqa: E402
from theory_bench.engine.precision_loop import power_of_two_scale as engine_scale  # noqa: E402
from theory_bench.torch import StoSignSGD  # noqa: E402
from theory_bench.torch.casts import cast, round_stochastic  # noqa: E402
from theory_bench.torch.fp8 import (FP8Conv2d, FP8Linear, LowPrecisionOptimizer, Recipe,  # noqa: E402
                                    convert_to_fp8)
from theory_bench.torch.recipe import get_recipe  # noqa: E402

NARROW = ("fp32", "bf16", "fp16", "e4m3", "e5m2")


def bits_equal(a, b):
    """Equal as float64 bit patterns (so -0.0 differs from 0.0, and NaN equals NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.array_equal(a.view(np.uint64), b.view(np.uint64))


def probes(fmt, n=200_000, seed=0):
    """Random doubles over the format's whole range and beyond (both signs, subnormals, overflow),
    every value of the format, every midpoint between neighbours (the ties), zeros and infinities."""
    f = get_format(fmt)
    rng = np.random.default_rng(seed)
    lo, hi = f.emin - f.fraction_bits - 3, min(math.log2(f.max) + 2, 1000)
    x = np.ldexp(rng.uniform(1, 2, n), rng.integers(int(lo), int(hi), n)) * rng.choice([-1, 1], n)
    extra = [0.0, -0.0, math.inf, -math.inf, f.max, -f.max]
    if fmt in ("e4m3", "e5m2", "bf16", "fp16"):
        grid = np.unique(round_to(np.concatenate([x, -x]), fmt))
        grid = grid[np.isfinite(grid)]
        extra += list(grid) + list((grid[:-1] + grid[1:]) / 2)
    return np.concatenate([x, np.array(extra)])


@pytest.mark.parametrize("fmt", NARROW)
def test_cast_is_precision_round_to_bit_for_bit(fmt):
    x = probes(fmt)
    got = cast(torch.from_numpy(x), fmt).numpy()
    assert bits_equal(got, round_to(x, fmt)), fmt
    x32 = x.astype(np.float32) if fmt not in ("fp32", "bf16") else x[np.abs(x) < 3e38].astype(np.float32)
    got32 = cast(torch.from_numpy(x32), fmt).numpy()
    assert got32.dtype == np.float32 and bits_equal(got32, round_to(x32.astype(np.float64), fmt))


@pytest.mark.parametrize("fmt", ("e4m3", "e5m2", "bf16"))
def test_per_tensor_scaling_is_the_engines(fmt):
    """``cast(..., "per_tensor")`` multiplies by the engine's power of two, rounds, divides; without it
    a tensor of amax 2^-30 flushes to zero in the FP8 formats."""
    f = get_format(fmt)
    rng = np.random.default_rng(1)
    for amax_exp in (-30, -8, 0, 9, 40):
        x = rng.standard_normal(5000) * 2.0 ** amax_exp
        s = engine_scale(x, f.max)
        assert f.max / 2 < np.abs(x).max() * s <= f.max
        ref = round_to(x * s, fmt) / s
        assert bits_equal(cast(torch.from_numpy(x), fmt, "per_tensor").numpy(), ref)
        if amax_exp == -30 and fmt != "bf16":
            assert cast(torch.from_numpy(x), fmt).eq(0).all() and np.count_nonzero(ref) > 4000
    assert cast(torch.zeros(3), "e4m3", "per_tensor").eq(0).all()        # all zero: scale 1


def _engine_stochastic(x, u, fmt):
    """The engine's stochastic rounding of each ``x[i]`` with the uniform ``u[i]``."""
    from numba import njit
    from theory_bench.engine.precision import round_stochastic as engine_round

    @njit
    def each(x, u, m, emin, maxv, sat, f32):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = engine_round(x[i], u[i], m, emin, maxv, sat, f32)
        return out
    return each(x, u, *get_format(fmt).params)


def test_stochastic_rounding_is_precision_bit_for_bit():
    rng = np.random.default_rng(2)
    for fmt in ("e4m3", "e5m2", "bf16", "fp16"):
        x = probes(fmt, 20_000, seed=3)
        x = x[np.isfinite(x)]
        u = rng.random(x.size)
        ref = _engine_stochastic(x, u, fmt)
        got = round_stochastic(torch.from_numpy(x), fmt, torch.from_numpy(u)).numpy()
        assert bits_equal(got, ref), fmt


def test_fp8_linear_forward_and_backward_are_the_recipe_matmuls():
    torch.manual_seed(0)
    lin = FP8Linear(12, 5)
    x = torch.randn(7, 3, 12, requires_grad=True)
    y = lin(x)
    xq, wq = cast(x.detach(), "e4m3", "per_tensor"), cast(lin.weight.detach(), "e4m3", "per_tensor")
    assert torch.equal(y, torch.nn.functional.linear(xq, wq, lin.bias))
    dy = torch.randn_like(y)
    y.backward(dy)
    dq = cast(dy, "e5m2", "per_tensor")
    assert torch.equal(x.grad, dq @ wq)
    assert torch.equal(lin.weight.grad, dq.reshape(-1, 5).t() @ xq.reshape(-1, 12))
    assert torch.equal(lin.bias.grad, dq.reshape(-1, 5).sum(0))
    ref = torch.nn.Linear(12, 5)                                  # a drop-in: the same state_dict
    assert lin.state_dict().keys() == ref.state_dict().keys()
    assert not torch.equal(y, torch.nn.functional.linear(x.detach(), lin.weight, lin.bias))   # it does cast


def test_fp8_conv_backward_matches_autograd_on_the_cast_values():
    torch.manual_seed(1)
    conv = FP8Conv2d(2, 4, 3, padding=1)
    x = torch.randn(3, 2, 6, 6, requires_grad=True)
    y = conv(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    xq = cast(x.detach(), "e4m3", "per_tensor").requires_grad_()
    wq = cast(conv.weight.detach(), "e4m3", "per_tensor").requires_grad_()
    b = conv.bias.detach().clone().requires_grad_()
    ref = torch.nn.functional.conv2d(xq, wq, b, padding=1)
    assert torch.equal(y, ref)
    ref.backward(cast(dy, "e5m2", "per_tensor"))
    torch.testing.assert_close(x.grad, xq.grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(conv.weight.grad, wq.grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(conv.bias.grad, b.grad, rtol=0, atol=0)


def test_convert_replaces_in_place_shares_parameters_and_skips():
    from theory_bench.workloads.models import ROUTER, build
    model = build("transformer", 0)
    params = {id(p) for p in model.parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)        # built before: must still hold the parameters
    convert_to_fp8(model, "fp8", skip=(ROUTER,))
    assert {id(p) for p in model.parameters()} == params
    kinds = {n: type(m) for n, m in model.named_modules()}
    assert kinds["blocks.0.qkv"] is FP8Linear and kinds["head"] is FP8Linear
    assert kinds["blocks.0.moe.router"] is torch.nn.Linear        # routers stay fp32
    x = torch.randint(0, 256, (2, 16))
    model.loss(x, x).backward()
    opt.step()
    cnn = build("cnn", 0)
    convert_to_fp8(cnn, "fp8")
    assert type(cnn.conv1) is FP8Conv2d and type(cnn.fc2) is FP8Linear
    same = build("cnn", 0)
    assert convert_to_fp8(same, "fp32") is same and type(same.fc1) is torch.nn.Linear
    assert type(convert_to_fp8(torch.nn.Linear(3, 2))) is FP8Linear


def test_bad_input_says_the_fix():
    with pytest.raises(ValueError, match="unknown recipe 'fp4'"):
        get_recipe("fp4")
    with pytest.raises(ValueError, match="unknown number format 'e3m4'"):
        Recipe(state="e3m4")
    with pytest.raises(ValueError, match="scaling must be 'none' or 'per_tensor', got 'block'"):
        Recipe(scaling="block")
    with pytest.raises(ValueError, match="stochastic rounding needs a format narrower than fp64"):
        Recipe(state="fp64", weights="fp64", rounding="stochastic")
    with pytest.raises(ValueError, match="wraps a torch.optim.Optimizer instance, got list"):
        LowPrecisionOptimizer([], "fp8")
    with pytest.raises(ValueError, match="needs a torch.nn.Module, got str"):
        convert_to_fp8("model")
    with pytest.raises(ValueError, match="floating-point tensor, got dtype torch.int64"):
        cast(torch.arange(3), "e4m3")
    with pytest.raises(ValueError, match="numeric zero padding"):
        FP8Conv2d(1, 1, 3, padding="same")


def _fit(optimizer_cls, recipe, steps=200, **kw):
    """A linear model on data whose gradients span four orders of magnitude per tensor."""
    torch.manual_seed(0)
    scale = torch.logspace(-3, 1, 64)
    w = torch.nn.Parameter(torch.zeros(64))
    opt = LowPrecisionOptimizer(optimizer_cls([w], **kw), recipe, seed=0)
    gen = torch.Generator().manual_seed(5)
    for _ in range(steps):
        x = torch.randn(32, 64, generator=gen) * scale
        loss = ((x @ w - x @ torch.ones(64)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w, opt


def test_state_and_weights_are_stored_in_their_formats():
    recipe = Recipe(state="e4m3", weights="bf16")
    w, opt = _fit(torch.optim.AdamW, recipe, steps=20, lr=1e-2)
    state = opt.state[w]
    for key in ("exp_avg", "exp_avg_sq"):
        v = state[key]
        assert torch.equal(cast(v, "e4m3", "per_tensor"), v), key        # on the scaled e4m3 grid
    assert torch.equal(cast(w.detach(), "bf16"), w.detach())
    assert not torch.equal(cast(state["exp_avg_sq"], "e4m3"), state["exp_avg_sq"])   # scaled, not plain e4m3


def test_adamw_e4m3_state_explodes_where_v_is_stored_as_zero_and_bf16_state_does_not():
    """The mechanism of docs/theory.md §6: v's entries for small gradients flush to zero while m's do
    not, and the update m / (sqrt(v) + eps) is thousands of lr; with bf16 state (the variant) neither."""
    _, e4m3 = _fit(torch.optim.AdamW, Recipe(state="e4m3", weights="fp32"), lr=1e-3)
    _, bf16 = _fit(torch.optim.AdamW, Recipe(state="bf16", weights="fp32"), lr=1e-3)
    s8, s16 = e4m3.stats(), bf16.stats()
    assert s8["stalled"]["exp_avg_sq"] > 0.05 and s8["largest_update"] > 1e3, s8
    assert s16["stalled"]["exp_avg_sq"] == 0 and s16["largest_update"] < 10, s16
    _, sto = _fit(StoSignSGD, Recipe(state="e4m3", weights="fp32"), lr=1e-3)      # a sign step stays lr
    assert sto.stats()["largest_update"] <= 1.001           # lr, up to the fp32 rounding of p - lr


def test_stochastic_rounding_stream_resumes_from_state_dict():
    recipe = Recipe(state="bf16", weights="bf16", rounding="stochastic")
    w1, opt1 = _fit(torch.optim.SGD, recipe, steps=10, lr=1e-2)
    saved = opt1.state_dict()
    w2 = torch.nn.Parameter(w1.detach().clone())
    opt2 = LowPrecisionOptimizer(torch.optim.SGD([w2], lr=1e-2), recipe, seed=99)
    opt2.load_state_dict(saved)
    for w, opt in ((w1, opt1), (w2, opt2)):
        w.grad = torch.full_like(w, 1e-3)
        opt.step()
    assert torch.equal(w1, w2)
    with pytest.raises(ValueError, match="not in torch's format.*not saved by this optimizer"):
        opt2.load_state_dict({"state": {}})


def test_training_is_reproducible_and_seeds_differ():
    from theory_bench.workloads.training import train
    s = {"model": "cnn", "optimizer": "StoSignSGD", "recipe": "fp8", "lr": 1e-2, "T": 30, "evals": 3}
    a, b, c = train(s, 0), train(s, 0), train(s, 1)
    assert np.array_equal(a["val_loss"], b["val_loss"]) and np.array_equal(a["train_loss"], b["train_loss"])
    assert not np.array_equal(a["val_loss"], c["val_loss"])
    assert a["val_loss"][-1] < a["val_loss"][0]


def test_a_diverged_run_is_said_as_inf_from_the_step_it_broke():
    from theory_bench.workloads.training import train
    r = train({"model": "cnn", "optimizer": "AdamW", "recipe": "fp8", "lr": 1e-2, "T": 60, "evals": 3}, 0)
    assert r["diverged_at"] > 0
    k = int(np.searchsorted(r["t"], r["diverged_at"]))
    assert np.isinf(r["val_loss"][k:]).all() and np.isfinite(r["val_loss"][:k]).all()
    assert r["largest_update"].max() > 1e3 and r["stalled_exp_avg_sq"] > 0


def test_stdlib_corpus_is_split_and_described():
    from theory_bench.workloads.data import VALID_FRACTION, stdlib_corpus
    train, valid, about = stdlib_corpus()
    assert about["bytes"] == len(train) + len(valid) and about["files"] > 50
    assert abs(len(valid) / about["bytes"] - VALID_FRACTION) < 1e-3 and len(about["sha256"]) == 64


def test_experiment_on_a_subset_end_to_end(tmp_path, monkeypatch):
    """The CNN with AdamW and StoSignSGD at a short horizon: every claim holds and fails on its
    variant, the table and the figure are written."""
    pytest.importorskip("pytorch_optimizer")
    pytest.importorskip("lion_pytorch")
    from theory_bench.experiments import fp8
    from theory_bench.experiments.pipeline import run_experiment
    monkeypatch.setattr(fp8, "MODELS", ("cnn",))
    monkeypatch.setattr(fp8, "OPTIMIZERS", ("AdamW", "StoSignSGD"))
    monkeypatch.setattr(fp8, "horizon", lambda quick: {"cnn": (150, 3, 5)})
    monkeypatch.setattr(fp8, "FIELD", ("fp8-block",))            # the other layouts take the same code path
    claims, paths = run_experiment("fp8", quick=True, jobs=None, out=tmp_path / "results",
                                   figures_dir=tmp_path / "figures", progress=False)
    assert [c.id for c in claims] == ["fp8-adamw-fails-cnn", "fp8-adamw-cause-cnn", "fp8-stosign-holds-cnn"]
    for c in claims:
        assert c.status == "passed", (c.id, c.measured, c.variant_measured)
    table = (tmp_path / "figures" / "fp8_table.md").read_text().splitlines()
    assert len([r for r in table if r.startswith("| ") and not r.startswith(("| variant", "| ---"))]) == 2
    assert "**diverged**" in table[2] and (tmp_path / "figures" / "fp8.png").stat().st_size > 1000
    assert (tmp_path / "figures" / "fp8_full.md").read_text().startswith("| variant")
    recipes = (tmp_path / "figures" / "fp8_recipes.md").read_text()
    assert all(fp8.RECIPE_LABELS[r] in recipes for r in fp8.FIELD) and "state bytes / parameter" in recipes
    speed = [r for r in (tmp_path / "figures" / "fp8_speed.md").read_text().splitlines()[2:] if r.startswith("| ")]
    assert len(speed) == 1 + len(fp8.FIELD) + 2          # every AdamW FP8 layout and AdamW-bf16: no row left out
    assert any("never reaches" in r for r in speed if "| diverged |" in r)
