"""The zoo (experiments/zoo.py) on a subset of its optimizers, end to end through the store: the
claims hold and fail on their variants, the table has a row per optimizer. The full list runs in
the zoo's quick form (``-m slow``)."""
import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_optimizer")
pytest.importorskip("lion_pytorch")

from theory_bench import experiments  # noqa: E402
from theory_bench.experiments import baselines, zoo  # noqa: E402
from theory_bench.experiments.pipeline import run_experiment  # noqa: E402
from theory_bench.torch.adapter import named_factory  # noqa: E402


def test_claims_on_a_subset(tmp_path, monkeypatch):
    keep = (zoo.SGD, zoo.SIGNSGD, zoo.STOSIGN, "Lion (lion-pytorch)")
    monkeypatch.setattr(zoo, "ZOO", tuple(z for z in zoo.ZOO if z[0] in keep))
    monkeypatch.setattr(zoo, "BASELINE_PROBLEMS", zoo.PROBLEMS)         # the rest of the battery: the full list
    claims, paths = run_experiment("zoo", quick=True, jobs=None, out=tmp_path / "results",
                                   figures_dir=tmp_path / "figures", progress=False)
    assert [c.id for c in claims] == ["zoo-sgd-converges", "zoo-signsgd-stuck", "zoo-signsgd-wrong-way",
                                      "zoo-lion-wrong-way-spikes", "zoo-stosign-regret"]
    for c in claims:
        assert c.status == "passed", (c.id, c.measured, c.variant_measured)
    table = (tmp_path / "figures" / "zoo_table.md").read_text().splitlines()
    assert len([r for r in table if r.startswith("| ") and not r.startswith(("| variant", "| ---"))]) == len(keep)
    assert "pytorch_optimizer" in table[-1] and "lion-pytorch" in table[-1]     # the versions it ran on
    doc = baselines.load(tmp_path / "figures" / baselines.FILE)             # what every audit reads
    assert list(doc["optimizers"]) == [z[0] for z in zoo.ZOO] and list(doc["problems"]) == [e.key for e in zoo.PROBLEMS]
    assert doc["T"] == 2000 and doc["t"][-1] == 2000 and doc["lr_grid"] == list(zoo.LR_GRID)
    sgd = doc["optimizers"][zoo.SGD]["gap"]["counterexample_1"]
    assert sgd["1"].shape == doc["t"].shape and sgd["1"][-1] < 0.01


def test_the_published_baselines_cover_the_battery():
    """figures/zoo_baselines.json, written by the last full `theory-bench run zoo`: every optimizer of the
    zoo on every problem of the battery at every lr of the grid, the horizon of the full form."""
    from theory_bench.audit import DEFAULT_BASELINES
    from theory_bench.experiments.battery import BATTERY, horizon
    doc = baselines.load(DEFAULT_BASELINES)
    assert list(doc["problems"]) == [e.key for e in BATTERY] and doc["T"] == horizon(False)[0]
    assert list(doc["optimizers"]) == [z[0] for z in zoo.ZOO]
    for opt in doc["optimizers"].values():
        assert all(list(per_lr) == [f"{m:g}" for m in zoo.LR_GRID] for per_lr in opt["gap"].values())


def test_every_entry_builds_and_steps():
    """Each optimizer of the list imports and takes one step through the adapter (on counterexample 1),
    including pytorch_optimizer's SignSGD, whose attributes a deep copy used to lose."""
    from theory_bench import problems
    p = problems.make("counterexample_2d")
    for label, path, kw, _ in zoo.ZOO:
        tr = p.minimize(named_factory(path, lr=0.1, **kw), 5, seed=0)
        assert tr.x.shape == (2,), label


def test_bad_names_and_schedules_say_the_fix():
    with pytest.raises(ValueError, match="cannot import the optimizer 'torch.optim:Nope'"):
        named_factory("torch.optim:Nope", lr=0.1)
    with pytest.raises(ValueError, match="schedule must be 'inv_sqrt' or 'constant', got 'cosine'"):
        named_factory("torch.optim:SGD", lr=0.1, schedule="cosine")


def test_missing_packages_are_named(monkeypatch):
    monkeypatch.setattr(zoo, "REQUIRES", ("torch", "no-such-package-xyz"))
    assert experiments.missing("zoo") == ["no-such-package-xyz"]
    assert experiments.missing("precision") == []
