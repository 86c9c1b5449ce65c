"""The workloads at any size, the fp8_scaling experiment on a subset (its quick form: ``-m slow``), its
trend arithmetic on curves whose speed-ups are known, and ``theory-bench fp8-time`` on the CPU."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from theory_bench.cli import main  # noqa: E402
from theory_bench.workloads.models import MoETransformer, TransformerSize, build  # noqa: E402


@pytest.mark.parametrize("size", [TransformerSize(), TransformerSize(experts=0), TransformerSize(width=16, hidden=40),
                                  TransformerSize(width=48, layers=3, heads=6, experts=2, hidden=96)])
def test_the_parameter_count_is_the_model_s(size):
    model = MoETransformer(size)
    assert size.parameters() == sum(p.numel() for p in model.parameters())
    assert hasattr(model.blocks[0], "moe") == bool(size.experts)
    x = torch.randint(0, 256, (2, 8))
    loss = model.loss(x, x)
    loss.backward()
    routed = (".moe.up.", ".moe.down.")           # an expert no token of this batch chose has no gradient
    assert torch.isfinite(loss) and all(p.grad is not None for n, p in model.named_parameters()
                                        if not any(r in n for r in routed))


def test_the_default_size_is_the_fp8_experiment_s_model():
    """The same weights as before sizes existed: the fp8 experiment's stored runs keep their meaning."""
    a, b = build("transformer", 3), build("transformer", 3, TransformerSize())
    assert TransformerSize().parameters() == 204_160
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("bad, match", [({"width": 30}, "not a multiple of heads"), ({"layers": 0}, "layers must be"),
                                        ({"experts": -1}, "experts must be"), ({"width": 2.0}, "width must be")])
def test_a_bad_size_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        TransformerSize(**bad)
    with pytest.raises(ValueError, match="size= is for the transformer"):
        build("cnn", 0, TransformerSize())


def test_token_budgets_and_lr_grids():
    from theory_bench.experiments import fp8_scaling as S
    widths, T0, _, evals, _ = S.horizon(False)
    T = S.steps(widths, T0, evals)
    p = [S.params("moe", w) for w in widths]
    assert p[-1] / p[0] >= 8 and S.params("dense", widths[-1]) / S.params("dense", widths[0]) >= 8
    assert T[widths[0]] == T0 and all(t % evals == 0 for t in T.values())
    assert abs(T[widths[-1]] / T0 - math.sqrt(p[-1] / p[0])) < evals / T0
    assert S.lr_grid("StoSignSGD", True) == (3e-3, 1e-2, 3e-2) and S.lr_grid("Lion", False) == (3e-3,)


def _runs(slope, rng, seeds=3):
    """Runs whose validation loss falls linearly from 10 by ``slope`` per step (1% noise on the slope per seed)."""
    t = np.linspace(0, 100, 11)
    rows = [10 - slope * (1 + 0.01 * rng.standard_normal()) * t for _ in range(seeds)]
    return {"t": np.tile(t, (seeds, 1)), "val_loss": np.array(rows), "diverged_at": np.zeros(seeds)}


def test_the_trend_is_the_slope_of_the_speed_ups_against_size(monkeypatch):
    """Baselines 1.2x, 1.44x and 1.728x slower at sizes 2x apart: the slope is log2(1.2) per doubling,
    inside the paper's range at the largest size; a baseline that never reaches the target is
    infinitely slower and has no slope."""
    from theory_bench.experiments import fp8_scaling as S
    rng = np.random.default_rng(0)
    widths = (8, 16, 32)
    monkeypatch.setattr(S, "params", lambda arch, w: 1000 * w)
    runs = {}
    for k, w in enumerate(widths):
        runs["moe", w, S.HEADLINE] = _runs(0.05, rng)
        runs["moe", w, ("AdamW", "bf16")] = _runs(0.05 / 1.2 ** (k + 1), rng)
        runs["moe", w, ("Lion", "fp8")] = _runs(0.0, rng)             # never moves
    data = {"runs": runs, "widths": widths}
    assert abs(S.speed(data, "moe", 32, ("AdamW", "bf16"))[2].value - 1.728) < 0.03
    slope, lo, hi = S.trend(data, "moe", ("AdamW", "bf16"), n_boot=200)
    assert abs(slope - math.log2(1.2)) < 0.02 and 0 < lo < slope < hi
    assert S.trend_words(data, "moe", ("AdamW", "bf16"))[0].startswith("inside the paper's range")
    assert math.isinf(S.speed(data, "moe", 32, ("Lion", "fp8"))[2].value)
    assert all(math.isnan(v) for v in S.trend(data, "moe", ("Lion", "fp8"), n_boot=20))


def test_experiment_on_a_subset_end_to_end(tmp_path, monkeypatch):
    """Two tiny widths of the MoE transformer, StoSignSGD against AdamW-bf16, the lr tuned on a grid of
    three: the tuned lr is the grid's best for the tuning seed, every table row is there."""
    pytest.importorskip("pytorch_optimizer")
    pytest.importorskip("lion_pytorch")
    from theory_bench.experiments import fp8_scaling as S
    from theory_bench.experiments.pipeline import run_experiment
    monkeypatch.setattr(S, "ARCHS", {"moe": 4})
    monkeypatch.setattr(S, "BASELINES", (("AdamW", "bf16"),))
    monkeypatch.setattr(S, "METHODS", (S.HEADLINE, ("AdamW", "bf16")))
    monkeypatch.setattr(S, "horizon", lambda quick: ((8, 16), 24, 2, 4, True))
    claims, paths = run_experiment("fp8_scaling", quick=True, jobs=None, out=tmp_path / "results",
                                   figures_dir=tmp_path / "figures", progress=False)
    assert [c.id for c in claims] == ["fp8_scaling-stosign-trains-moe"]
    assert math.isfinite(claims[0].measured.value)
    table = (tmp_path / "figures" / "fp8_scaling_table.md").read_text().splitlines()
    assert table[0].startswith("| variant") and sum(r.startswith("| AdamW, bf16 |") for r in table) == 2 + 1
    lrs = (tmp_path / "figures" / "fp8_scaling_lr.md").read_text().splitlines()
    rows = [r for r in lrs[2:] if r.startswith("| ")]
    assert len(rows) == 2 * 2
    for r in rows:                                     # the tuned lr is the lowest final loss of its grid
        grid = dict(cell.split(": ") for cell in r.split(" | ")[3].split(", "))
        best = min(grid, key=lambda lr: (float(grid[lr]), float(lr)))
        assert r.split(" | ")[4].split(" ")[0] == best
    assert (tmp_path / "figures" / "fp8_scaling.png").stat().st_size > 1000


def test_the_cpu_path_is_the_emulated_path_unchanged():
    """``device="cpu"`` given or not: the same curve bit for bit; the seconds to each evaluation grow."""
    from theory_bench.workloads.training import run_spec, train
    s = run_spec("transformer", "StoSignSGD", "fp8", 1e-2, 12, 3, TransformerSize(width=16, hidden=32))
    a, b = train(s, 0), train(s, 0, device="cpu")
    assert np.array_equal(a["val_loss"], b["val_loss"]) and np.array_equal(a["largest_update"], b["largest_update"])
    assert a["train_s"][0] == 0 and np.all(np.diff(a["train_s"]) > 0)


def test_fp8_time_prints_seconds_to_the_target(capsys):
    code = main(["fp8-time", "--steps", "24", "--evals", "4", "--width", "16", "--json"])
    import json
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["device"] == "cpu" and out["fp8_tensor_cores"] is False
    assert [m["method"] for m in out["methods"]] == ["StoSignSGD:fp8", "AdamW:bf16"]
    for m in out["methods"]:
        assert m["final"] <= out["target"] * 1.0001 or m["steps"] == math.inf
        assert 0 < m["seconds"] <= m["s_per_step"] * 24 * 1.0001 and 0 < m["steps"] <= 24


@pytest.mark.parametrize("argv, match", [
    (["--device", "cuda"], "torch.cuda.is_available"), (["--device", "tpu"], "not a torch device|only cpu and cuda"),
    (["--methods", "Adam:fp8"], "OPTIMIZER:RECIPE"), (["--methods", "AdamW:fp9"], "fp9"),
    (["--lr", "0.1"], "one value per method"), (["--width", "30"], "not a multiple of heads")])
def test_fp8_time_refuses_bad_input_by_name(argv, match, capsys):
    if torch.cuda.is_available() and argv[1] == "cuda":
        pytest.skip("this machine has CUDA")
    assert main(["fp8-time", *argv]) == 2
    import re
    assert re.search(match, capsys.readouterr().err)
