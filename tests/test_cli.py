"""The command line: list, help, and the benchmark's JSON (numbers are reported, never asserted)."""
import json

import pytest

from theory_bench import cli


def test_list_names_every_optimizer_and_problem(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("StoSignSGD", "AdamW", "Lion", "counterexample_2d", "rademacher_linear", "moe", "sign_convert",
                 "ablation", "decayed_max"):
        assert word in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "theory-bench reproduce --quick" in capsys.readouterr().out


def test_bench_reports_every_kernel_and_the_loop(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert cli.main(["bench", "--quick", "--sizes", "1000", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    names = {r["kernel"] for r in result["kernels"]}
    assert {"StoSignSGD(theory)", "StoSignSGD(practical)", "SignSGD", "Adam", "Lion"} <= names
    assert all(r["numba_mcps"] > 0 and r["numpy_mcps"] > 0 for r in result["kernels"])
    assert result["loop"]["path"] == "jit-cached"
    assert {r["what"] for r in result["precision"]} >= {"round to e4m3", "StoSignSGD step, e4m3 state"}
    assert "run loop: load from disk cache (s)" in result["latency"]
    assert not any(k.startswith("optimum") for k in result["latency"])          # --quick skips the big solves
    assert "roofline" in capsys.readouterr().out


class FakeExperiment:
    """A tiny experiment with one claim, to test the command line without long runs."""
    NAME, TITLE = "fake", "a fake experiment"

    def __init__(self, fail=False):
        self.fail = fail

    def run(self, ctx):
        from theory_bench.experiments.runs import spec
        return {"r": ctx.runs(spec("skewed_linear", "StoSignSGD", 200, problem_kw=dict(d=2), checkpoints=[50, 200]), 3)}

    def claims(self, data, ctx):
        from theory_bench.analysis.claims import Claim, Measurement, Range
        value = float(data["r"]["regret"][:, -1].mean())
        allowed = Range(hi=-1.0) if self.fail else Range(hi=1e9)
        return [Claim("fake-claim", "regret is finite", "R_T", allowed, Measurement.exact(value),
                      "a variant", Measurement.exact(2e9))]

    def figures(self, data, ctx, outdir):
        from theory_bench.results.plotting import band, figure, save
        fig, axes = figure()
        band(axes[0][0], data["r"]["t"][0], data["r"]["regret"], "StoSignSGD")
        return save(fig, outdir, "fake")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    from theory_bench.experiments import registry

    def install(fail=False):
        monkeypatch.setattr(registry, "EXPERIMENTS", {"fake": FakeExperiment(fail)})
    monkeypatch.chdir(tmp_path)
    return install


def test_check_json_parses_and_exit_status(fake, capsys):
    fake()
    assert cli.main(["check", "--json", "--jobs", "1"]) == 0
    claims = json.loads(capsys.readouterr().out)
    assert claims[0]["id"] == "fake-claim" and claims[0]["status"] == "passed"
    assert {"measured", "variant_measured", "allowed", "holds"} <= set(claims[0])
    fake(fail=True)
    assert cli.main(["check", "--json", "--jobs", "1"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["status"] == "failed"


def test_run_then_plot_draws_the_same_figure(fake, tmp_path, capsys):
    fake()
    assert cli.main(["run", "fake", "--jobs", "1", "--no-progress"]) == 0
    drawn = (tmp_path / "figures" / "fake.png").read_bytes()
    (tmp_path / "figures" / "fake.png").unlink()
    assert cli.main(["plot", "fake"]) == 0
    assert (tmp_path / "figures" / "fake.png").read_bytes() == drawn
    manifest = json.loads((tmp_path / "results" / "fake" / "manifest.json").read_text())
    assert manifest["versions"]["numba"] and manifest["claims"][0]["status"] == "passed"


def test_reproduce_writes_the_claims_table_into_the_readme(fake, tmp_path, capsys):
    fake()
    (tmp_path / "README.md").write_text("intro\n<!-- claims:begin -->\nold\n<!-- claims:end -->\nrest\n")
    assert cli.main(["reproduce", "--jobs", "1", "--no-progress"]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "| fake-claim |" in text and "old" not in text and text.endswith("rest\n")


def test_plot_without_results_and_unknown_names_are_clear_errors(fake, capsys):
    fake()
    assert cli.main(["plot", "fake"]) == 2
    assert "run `theory-bench run fake` first" in capsys.readouterr().err
    assert cli.main(["run", "nope", "--no-progress"]) == 2
    assert "unknown experiment 'nope'; known: fake" in capsys.readouterr().err
