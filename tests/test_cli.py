"""The command line: list, help, the benchmark's JSON (numbers are reported, never asserted), where
quick and published runs write, strict JSON, flags checked before any work, a closed stdout."""
import json
import math
import os

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

    def __init__(self, fail=False, requires=()):
        self.fail = fail
        self.REQUIRES = requires

    def run(self, ctx):
        from theory_bench.experiments.runs import spec
        return {"r": ctx.runs(spec("skewed_linear", "StoSignSGD", 200, problem_kw=dict(d=2), checkpoints=[50, 200]), 3)}

    def claims(self, data, ctx):
        from theory_bench.analysis.claims import Claim, Measurement, Range
        value = float(data["r"]["regret"][:, -1].mean())
        allowed = Range(hi=-1.0) if self.fail else Range(hi=1e9)
        return [Claim("fake-claim", "regret is finite", "R_T", allowed, Measurement.exact(value),
                      "a variant (diverges)", Measurement(math.inf, math.nan, math.inf))]

    def figures(self, data, ctx, outdir):
        from theory_bench.results.plotting import band, figure, save
        fig, axes = figure()
        band(axes[0][0], data["r"]["t"][0], data["r"]["regret"], "StoSignSGD")
        return save(fig, outdir, "fake")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    from theory_bench.experiments import registry

    def install(fail=False, **more):
        monkeypatch.setattr(registry, "EXPERIMENTS", {"fake": FakeExperiment(fail), **more})
    monkeypatch.chdir(tmp_path)
    return install


def strict_loads(text):
    """json.loads that refuses NaN, Infinity and -Infinity tokens, as strict parsers do."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_check_json_parses_and_exit_status(fake, capsys):
    fake()
    assert cli.main(["check", "--json", "--jobs", "1"]) == 0
    claims = strict_loads(capsys.readouterr().out)
    assert claims[0]["id"] == "fake-claim" and claims[0]["status"] == "passed"
    assert claims[0]["variant_measured"] == {**claims[0]["variant_measured"], "value": "Infinity", "lo": "NaN"}
    assert float(claims[0]["variant_measured"]["value"]) == math.inf
    assert {"measured", "variant_measured", "allowed", "holds"} <= set(claims[0])
    fake(fail=True)
    assert cli.main(["check", "--json", "--jobs", "1"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["status"] == "failed"


def test_run_then_plot_draws_the_same_figure(fake, tmp_path, capsys):
    fake()
    assert cli.main(["run", "fake", "--jobs", "1", "--no-progress"]) == 0
    fig = tmp_path / "results" / "figures" / "fake.png"       # never the committed figures/
    drawn = fig.read_bytes()
    fig.unlink()
    assert cli.main(["plot", "fake"]) == 0
    assert fig.read_bytes() == drawn and not (tmp_path / "figures").exists()
    manifest = strict_loads((tmp_path / "results" / "fake" / "manifest.json").read_text())
    assert manifest["versions"]["numba"] and manifest["claims"][0]["status"] == "passed"


README = "intro\n<!-- claims:begin -->\nold\n<!-- claims:end -->\nrest\n"


def test_a_full_reproduce_writes_the_claims_table_into_the_readme(fake, tmp_path, capsys):
    fake()
    (tmp_path / "README.md").write_text(README)
    assert cli.main(["reproduce", "--jobs", "1", "--no-progress"]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "| fake-claim |" in text and "old" not in text and text.endswith("rest\n")
    assert (tmp_path / "figures" / "fake.png").exists() and (tmp_path / "figures" / "claims.md").exists()


def test_a_quick_reproduce_touches_no_tracked_file(fake, tmp_path, capsys):
    fake()
    (tmp_path / "README.md").write_text(README)
    assert cli.main(["reproduce", "--quick", "--jobs", "1", "--no-progress"]) == 0
    assert (tmp_path / "README.md").read_text() == README and not (tmp_path / "figures").exists()
    assert "| fake-claim |" in (tmp_path / "results" / "figures" / "claims.md").read_text()
    assert (tmp_path / "results" / "figures" / "fake.png").exists()
    assert cli.main(["reproduce", "--quick", "--publish", "--jobs", "1", "--no-progress"]) == 0
    assert "| fake-claim |" in (tmp_path / "README.md").read_text()


def test_publishing_refuses_a_run_that_would_skip_an_experiment(fake, tmp_path, capsys):
    fake(other=FakeExperiment(requires=("no_such_package_xyz",)))
    (tmp_path / "README.md").write_text(README)
    assert cli.main(["reproduce", "--jobs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot publish" in err and "other" in err and "no_such_package_xyz" in err
    assert (tmp_path / "README.md").read_text() == README and not (tmp_path / "results").exists()   # no work done
    assert cli.main(["reproduce", "--quick", "--jobs", "1", "--no-progress"]) == 0     # unpublished: skips it
    assert "skipping other" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run", "fake"], ["reproduce"], ["check"], ["plot", "fake"]])
@pytest.mark.parametrize("flag,value", [("--seeds", "0"), ("--seeds", "-3"), ("--seeds", "two"), ("--jobs", "0")])
def test_counts_below_one_are_refused_before_any_work(fake, tmp_path, capsys, command, flag, value):
    fake()
    if command[0] == "plot" and flag == "--jobs":
        return                                              # plot computes nothing: it has no --jobs
    with pytest.raises(SystemExit) as exit_info:
        cli.main(command + [flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be an integer >= 1" in err and value in err
    assert not (tmp_path / "results").exists()


def test_a_closed_stdout_ends_quietly_with_the_sigpipe_status(capsys):
    read, write = os.pipe()
    os.close(read)                                          # the reader (head) has gone away
    saved = os.dup(1)
    with capsys.disabled():
        try:
            os.dup2(write, 1)
            with open(os.devnull, "w") as quiet:
                err = os.dup(2)
                os.dup2(quiet.fileno(), 2)
                try:
                    code = cli.main(["list"])
                finally:
                    os.dup2(err, 2)
        finally:
            os.dup2(saved, 1)
            os.close(write)
    assert code == cli.SIGPIPE_STATUS == 141


def test_plot_without_results_and_unknown_names_are_clear_errors(fake, capsys):
    fake()
    assert cli.main(["plot", "fake"]) == 2
    assert "run `theory-bench run fake` first" in capsys.readouterr().err
    assert cli.main(["run", "nope", "--no-progress"]) == 2
    assert "unknown experiment 'nope'; known: fake" in capsys.readouterr().err
