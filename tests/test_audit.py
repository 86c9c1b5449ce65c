"""``theory-bench audit`` (docs/audit.md): torch's SGD converges where the theory says, a SignSGD
written here is stuck or goes the wrong way where the theory says, an optimizer the suite has never
seen is graded, bad input exits 2 with nothing written, and the profile's arithmetic."""
import json
import math
import textwrap

import numpy as np
import pytest

from theory_bench import cli
from theory_bench.audit import DEFAULT_BASELINES, AuditInputError, audit, profile
from theory_bench.audit.grades import VERDICTS, unbiased_check

torch = pytest.importorskip("torch")

def torch_source(name, body, params="lr=0.1", defaults="lr=lr"):
    """The source of a torch optimizer class ``name`` whose step runs ``body`` for every parameter ``p``
    with a gradient (``group`` its param group, ``state`` its state)."""
    body = textwrap.indent(textwrap.dedent(body).strip(), " " * 20)
    return (f"import torch\n\n\nclass {name}(torch.optim.Optimizer):\n"
            f"    def __init__(self, params, {params}):\n        super().__init__(params, dict({defaults}))\n\n"
            "    @torch.no_grad()\n    def step(self, closure=None):\n        for group in self.param_groups:\n"
            "            for p in group['params']:\n                if p.grad is not None:\n"
            "                    state = self.state[p]\n" + body + "\n")


SIGNSGD = torch_source("TestSignSGD", "p.add_(torch.sign(p.grad), alpha=-group['lr'])")      # the plain sign step
NORMALIZED = torch_source("NormalizedSGD", """
    buf = state.setdefault('buf', torch.zeros_like(p))
    buf.mul_(group['momentum']).add_(p.grad)
    p.add_(buf / buf.norm().clamp_min(1e-12), alpha=-group['lr'])""", "lr=0.1, momentum=0.0", "lr=lr, momentum=momentum")
NAN = torch_source("Exploding", """
    if state.setdefault('n', 0) > 3:
        p.fill_(float('nan'))
    state['n'] += 1""")

NUMPY_SIGN = '''
import numpy as np

class NumpySignSGD:
    def __init__(self, lr):
        self.lr = lr
    def init(self, x0):
        return None
    def step(self, x, g, state, t, rng):
        return x - self.lr / np.sqrt(t) * np.sign(g)

class NoProtocol:
    def __init__(self, lr):
        self.lr = lr
'''

NAN = '''
import torch

class Exploding(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if self.state[p].setdefault("n", 0) > 3:
                    p.fill_(float("nan"))
                self.state[p]["n"] += 1
'''


def _file(tmp_path, text, name="opt.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _rows(rep):
    return {r["problem"]: r for r in rep["problems"]}


def test_sgd_converges_where_the_theory_says(tmp_path):
    """§3.3.1 and §3.1: an unbiased step converges on counterexample 1 and its regret on the skewed
    adversary is sublinear; it also converges on real L1 data, in fp64 and with e4m3 state."""
    rep = audit("torch:torch.optim:SGD", quick=True, out=tmp_path, jobs=1, progress=False, seeds=3,
                problems=["counterexample_1", "counterexample_2", "l1_diabetes"], baselines="none")
    rows = _rows(rep)
    assert rows["counterexample_1"]["verdict"] == "converges"
    assert rows["counterexample_1"]["final_gap"] < 0.01 * 0.65            # 1% of SignSGD's floor
    assert rows["l1_diabetes"]["verdict"] == rows["l1_diabetes@lowp"]["verdict"] == "converges"
    assert rows["counterexample_2"]["verdict"] != "wrong way"
    regret = next(c for c in rep["checks"] if c["check"] == "regret rate")
    assert regret["sublinear"] and regret["interval"][1] <= 0.85
    assert next(c for c in rep["checks"] if c["check"] == "unbiasedness")["verdict"] == "not exposed"
    saved = json.loads((tmp_path / "report.json").read_text())
    assert [r["problem"] for r in saved["problems"]] == [r["problem"] for r in rep["problems"]]
    assert all(r["verdict"] in VERDICTS for r in saved["problems"])
    assert all(len(r["sensitivity"]) == 3 for r in saved["problems"])
    md = (tmp_path / "report.md").read_text()
    assert "theory-bench audit torch:torch.optim:SGD --quick --seeds 3 --problems" in md and "**converges**" in md
    for name in ("audit_sensitivity.png", "audit_sensitivity.pdf"):
        assert (tmp_path / name).stat().st_size > 1000
    assert saved["profile"] is None and "--baselines none" in md


def test_a_signsgd_written_here_fails_where_the_theory_says(tmp_path):
    """The variant: a plain sign step stays on counterexample 1's floor, goes the wrong way on the
    skewed problem, with linear regret, at every lr of the grid."""
    path = _file(tmp_path, SIGNSGD)
    rep = audit(f"{path}:TestSignSGD", quick=True, out=tmp_path / "out", jobs=1, progress=False, seeds=3,
                problems=["counterexample_1", "counterexample_2"], baselines="none")
    rows = _rows(rep)
    assert rows["counterexample_1"]["verdict"] == "stuck"
    assert rows["counterexample_1"]["interval"][0] > 0.5 * 0.65
    assert rows["counterexample_2"]["verdict"] == "wrong way"
    assert all(s["verdict"] == "wrong way" for s in rows["counterexample_2"]["sensitivity"])
    regret = next(c for c in rep["checks"] if c["check"] == "regret rate")
    assert not regret["sublinear"] and regret["interval"][0] > 0.9
    assert rep["kind"] == "torch" and rep["source_sha256"]


def test_an_optimizer_never_seen_through_the_command(tmp_path, capsys):
    """A torch optimizer from a user's file, by the command line, in two worker processes (which load
    the file by its path), placed among the repository's baselines."""
    path = _file(tmp_path, NORMALIZED, "normalized.py")
    out = tmp_path / "report"
    code = cli.main(["audit", f"{path}:NormalizedSGD", "--kwargs", '{"momentum": 0.5}', "--quick", "--jobs", "2",
                     "--seeds", "2", "--problems", "counterexample_1", "--out", str(out), "--no-progress"])
    assert code == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["kwargs"] == {"momentum": 0.5}
    assert {r["verdict"] for r in rep["problems"]} <= set(VERDICTS)
    assert "report:" in capsys.readouterr().out
    if DEFAULT_BASELINES.is_file():
        prof = rep["profile"]
        assert prof["problems"] == ["counterexample_1"]
        assert 0.0 <= prof["scores"][rep["optimizer"]] <= 1.0 and len(prof["scores"]) > 20
        assert (out / "audit_profile.png").is_file() and "## Among the baselines" in (out / "report.md").read_text()


def test_a_numpy_protocol_class_and_a_builtin(tmp_path):
    path = _file(tmp_path, NUMPY_SIGN)
    rep = audit(f"{path}:NumpySignSGD", quick=True, out=tmp_path / "np", jobs=1, progress=False,
                problems=["counterexample_1", "l1_diabetes"], baselines="none", seeds=2)
    assert _rows(rep)["counterexample_1"]["verdict"] == "stuck"
    assert "l1_diabetes@lowp" not in _rows(rep) and "keeps its state itself" in rep["not_run"]
    rep = audit("StoSignSGD", quick=True, out=tmp_path / "builtin", jobs=1, progress=False,
                problems=["l1_diabetes"], baselines="none", seeds=2)
    assert "l1_diabetes@lowp" in _rows(rep)
    assert next(c for c in rep["checks"] if c["check"] == "unbiasedness")["verdict"] == "unbiased"


def test_divergence_is_a_verdict_not_an_error(tmp_path):
    path = _file(tmp_path, NAN)
    rep = audit(f"{path}:Exploding", quick=True, out=tmp_path / "out", jobs=1, progress=False,
                problems=["counterexample_1"], baselines="none", seeds=2)
    row = _rows(rep)["counterexample_1"]
    assert row["verdict"] == "diverges" and row["best_lr"] is None and math.isinf(row["final_gap"])
    assert all(s["diverged"] == 2 for s in row["sensitivity"])
    assert '"final_gap": "Infinity"' in (tmp_path / "out" / "report.json").read_text()


def test_the_unbiasedness_check_and_its_variant():
    from theory_bench.optimizers import SignSGD, StoSignSGD
    from theory_bench.torch import StoSignSGD as TorchStoSignSGD
    assert unbiased_check(StoSignSGD.sign_operator, 4000)["verdict"] == "unbiased"
    assert unbiased_check(TorchStoSignSGD.sign_operator, 2000)["verdict"] == "unbiased"      # its own step
    assert unbiased_check(SignSGD.sign_operator, 4000)["verdict"] == "biased"
    assert unbiased_check(None, 10)["verdict"] == "not exposed"
    assert unbiased_check(lambda g: g, 10)["verdict"] == "error"


@pytest.mark.parametrize("argv, message", [
    (["torch:torch.optim:Nope"], "'torch.optim' has no 'Nope'; its classes: ASGD"),
    (["nowhere/nothing.py:Opt"], "no file"),
    (["NoSuchBuiltin"], "none of torch:module:Class, path/to/file.py:Class or a built-in name"),
    (["torch:torch.optim:SGD", "--kwargs", "{momentum: 0.9}"], "is not JSON"),
    (["torch:torch.optim:SGD", "--kwargs", "[0.9]"], "not an object"),
    (["torch:torch.optim:SGD", "--kwargs", '{"momentun": 0.9}'], "does not accept --kwargs"),
    (["torch:torch.optim:SGD", "--kwargs", '{"lr": 0.9}'], "sets lr, which the audit tunes"),
    (["torch:numpy:ndarray"], "not a torch.optim.Optimizer subclass"),
    (["torch:torch.optim:SGD", "--lr", "0"], "--lr takes finite learning rates > 0"),
    (["torch:torch.optim:SGD", "--problems", "nope"], "--problems: unknown nope"),
    (["torch:torch.optim:SGD", "--baselines", "missing.json"], "no baselines file at missing.json"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    assert cli.main(["audit", *argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("theory-bench audit: error:")
    assert not out.exists()


def test_a_class_of_neither_protocol(tmp_path, capsys):
    path = _file(tmp_path, NUMPY_SIGN)
    assert cli.main(["audit", f"{path}:NoProtocol", "--out", str(tmp_path / "never")]) == 2
    assert "follows neither protocol" in capsys.readouterr().err
    with pytest.raises(AuditInputError, match="cannot be built as NumpySignSGD"):
        audit(f"{path}:NumpySignSGD", kwargs='{"beta": 1}', out=tmp_path / "never")


def test_the_profile_arithmetic():
    steps = {"fast": [10.0, 20.0, np.inf], "slow": [40.0, 20.0, np.inf], "never": [np.inf, np.inf, np.inf]}
    rho, scores, r = profile.profile(steps, taus=np.array([1.0, 2.0, 4.0]))
    assert r["fast"].tolist()[:2] == [1.0, 1.0] and r["slow"].tolist()[:2] == [4.0, 1.0]
    assert rho["fast"].tolist() == [2 / 3] * 3                  # the third problem: nobody reaches it
    assert rho["slow"].tolist() == [1 / 3, 1 / 3, 2 / 3]
    assert rho["never"].tolist() == [0.0] * 3 and scores["never"] == 0.0
    assert scores["fast"] > scores["slow"]


def test_targets_come_from_the_best_baseline():
    t = np.array([10, 100, 1000])
    doc = {"t": t, "problems": {"p": {"initial_gap": 1.0}},
           "optimizers": {"a": {"gap": {"p": {"1": np.array([1.0, 0.5, 0.1])}}},
                          "b": {"gap": {"p": {"1": np.array([1.0, 0.2, 0.3]), "0.1": np.array([np.inf] * 3)}}}}}
    assert profile.targets(doc, ["p"], 1000) == {"p": 2 * 0.1}
    assert profile.targets(doc, ["p"], 100) == {"p": 2 * 0.2}    # read up to the horizon only
    steps = profile.baseline_steps(doc, ["p"], 1000, {"p": 0.2})
    assert steps["b"] == [pytest.approx(100.0)] and 100 < steps["a"][0] < 1000
