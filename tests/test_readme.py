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


def test_problems_example_runs(tmp_path):
    code = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]
    script = tmp_path / "problems_example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout.split()
    gap, regret = map(float, out)
    assert 0 <= gap < 0.2 and regret > 1000          # SignSGD on the skewed adversary: linear regret


def test_testing_api_example_passes_under_pytest(tmp_path):
    code = next(c for c in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
                if "MyStoSign" in c)
    (tmp_path / "test_my_optimizer.py").write_text(code)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--theory-bench-update",
                          "test_my_optimizer.py"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "test_my_optimizer.py.theory-bench.json").exists()
