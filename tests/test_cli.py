"""The command line: list, help, and the benchmark's JSON (numbers are reported, never asserted)."""
import json

from theory_bench import cli


def test_list_names_every_optimizer_and_problem(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("StoSignSGD", "AdamW", "Lion", "counterexample_2d", "rademacher_linear", "moe"):
        assert word in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "theory-bench bench --quick" in capsys.readouterr().out


def test_bench_reports_every_kernel_and_the_loop(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert cli.main(["bench", "--sizes", "1000", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    names = {r["kernel"] for r in result["kernels"]}
    assert {"StoSignSGD(theory)", "StoSignSGD(practical)", "SignSGD", "Adam", "Lion"} <= names
    assert all(r["numba_mcps"] > 0 and r["numpy_mcps"] > 0 for r in result["kernels"])
    assert result["loop"]["path"] == "jit-cached"
    assert "roofline" in capsys.readouterr().out
