"""``python -m theory_bench.torch.device_check``, the check a GPU user runs (docs/torch.md, "What runs
where"), run here on the CPU: every optimizer agrees with itself bit for bit across two runs, and the
agreement check sees a key that is not fixed; the device noise is unbiased for every dtype at a 1e-6
false-failure rate and Gaussian noise, the variant, is not; the speed rows are what they say.
Skipped without torch; nothing here needs a GPU."""
import json

import pytest

torch = pytest.importorskip("torch")

from theory_bench.torch import StoSignSGD  # noqa: E402
from theory_bench.torch import device_check  # noqa: E402


def test_agreement_is_bit_for_bit_and_sees_a_key_that_moves():
    rows = device_check.agreement("cpu", d=256, T=5)
    assert {r["optimizer"] for r in rows} == set(device_check.AGREEMENT) and all(r["bit_for_bit"] for r in rows)
    drifting = {"seed=None: a key drawn anew each run": lambda ps: StoSignSGD(ps, lr=1e-2, beta1=0.0, noise="counter")}
    original = dict(device_check.AGREEMENT)
    try:
        device_check.AGREEMENT.clear()
        device_check.AGREEMENT.update(drifting)
        (bad, *_) = device_check.agreement("cpu", d=256, T=5)
    finally:
        device_check.AGREEMENT.clear()
        device_check.AGREEMENT.update(original)
    # 5 sign steps apart: at most 2 lr a step
    assert not bad["bit_for_bit"] and bad["differing"] > 100 and 0 < bad["max_diff_lr"] <= 2 * 5 + 1e-9


def test_unbiased_for_every_dtype_and_gaussian_noise_is_not():
    rows = device_check.unbiasedness("cpu", n=1 << 12, steps=2)
    assert device_check.verdict(rows), rows
    by = {(r["dtype"], r["noise"]): r for r in rows}
    assert by[("float32", "gaussian noise (variant)")]["misses"] >= 20


def test_the_command_line_writes_every_section(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert device_check.main(["--device", "cpu", "--quick", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and len(result["agreement"]) == 10 and len(result["unbiasedness"]) == 5
    speed = {r["optimizer"]: r for r in result["speed"]}
    assert speed["AdamW(fused=True)"]["vs_fused_adamw"] == 1.0 and all(r["ms"] > 0 for r in result["speed"])
    assert "unbiasedness" in capsys.readouterr().out
