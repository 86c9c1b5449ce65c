"""The README's quick start runs as written and prints what it says."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_start_runs_and_signsgd_is_stuck(tmp_path):
    code = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[0]
    script = tmp_path / "quick_start.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    values = dict(line.split() for line in out.strip().splitlines())
    assert abs(float(values["SignSGD"]) - 0.65) < 1e-3
    assert float(values["StoSignSGD"]) < 0.01


def _run_block(marker, tmp_path):
    """Run the README's python block that contains ``marker``; return its stdout."""
    code = next(c for c in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S) if marker in c)
    script = tmp_path / "readme_block.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_problems_example_runs(tmp_path):
    gap, regret = map(float, _run_block('problems.make("hinge"', tmp_path).split())
    assert 0 <= gap < 0.2 and regret > 1000          # SignSGD on the skewed adversary: linear regret


def test_sign_convert_example_prints_what_it_says(tmp_path):
    out = dict(line.split() for line in _run_block("sign_convert(SGD(lr=p.lr))", tmp_path).strip().splitlines())
    assert out == {"bit_for_bit": "True", "bits": "65.0"}


def test_testing_api_example_passes_under_pytest(tmp_path):
    code = next(c for c in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
                if "MyStoSign" in c)
    (tmp_path / "test_my_optimizer.py").write_text(code)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--theory-bench-update",
                          "test_my_optimizer.py"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "test_my_optimizer.py.theory-bench.json").exists()
