"""The FP8 tensor-core path (``theory_bench.torch.fp8_matmul``): chosen only where the rule says (a CUDA
device of capability 8.9+, E4M3 inputs with E4M3 or E5M2 gradients, per-tensor scaling, dimensions that
are multiples of 16), never on the CPU, where ``FP8Linear`` is the emulation as before; its FP8
operands are the emulation's, bit for bit. Nothing here needs a GPU (the GPU run: docs/fp8.md)."""
import pytest

torch = pytest.importorskip("torch")

from theory_bench.torch.casts import cast  # noqa: E402
from theory_bench.torch.fp8 import FP8Linear, _LinearFn  # noqa: E402
from theory_bench.torch.device_check import fp8_compare  # noqa: E402
from theory_bench.torch.fp8_matmul import eligible, quantize, scaled_mm_available  # noqa: E402
from theory_bench.torch.recipe import Recipe, get_recipe  # noqa: E402

FP8 = get_recipe("fp8")


@pytest.mark.parametrize("args,expected", [
    (("cuda", (9, 0), "e4m3", "e5m2", "per_tensor", (64, 32, 128)), True),        # H100/H200
    (("cuda", (8, 9), "e4m3", "e4m3", "per_tensor", (16, 16, 16)), True),         # Ada
    (("cuda", (8, 0), "e4m3", "e5m2", "per_tensor", (64, 32, 128)), False),       # A100: no FP8 tensor cores
    (("cpu", (9, 0), "e4m3", "e5m2", "per_tensor", (64, 32, 128)), False),
    (("cuda", (9, 0), "e5m2", "e5m2", "per_tensor", (64, 32, 128)), False),       # E5M2 x E5M2: no kernel
    (("cuda", (9, 0), "bf16", "bf16", "none", (64, 32, 128)), False),
    (("cuda", (9, 0), "e4m3", "e5m2", "none", (64, 32, 128)), False),
    (("cuda", (9, 0), "e4m3", "e5m2", "per_tensor", (64, 30, 128)), False),       # 30 is not a multiple of 16
])
def test_the_selection_rule(args, expected):
    assert eligible(*args) is expected


def test_never_on_the_cpu_and_the_emulation_is_unchanged():
    layer = FP8Linear(32, 16)
    x = torch.randn(8, 32)
    assert not scaled_mm_available(x, layer.weight, layer.recipe)
    assert torch.equal(layer(x), _LinearFn.apply(x, layer.weight, layer.bias, layer.recipe))


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_quantize_gives_the_emulations_fp8_values(fmt):
    x = torch.randn(64, 48) * 3.0
    q, s = quantize(x, fmt)
    assert q.dtype == (torch.float8_e4m3fn if fmt == "e4m3" else torch.float8_e5m2)
    assert torch.equal(q.float() / s, cast(x, fmt, "per_tensor"))


def test_compare_on_the_cpu_reports_the_emulation_only():
    out = fp8_compare("cpu", shape=(32, 32, 32), recipe=Recipe(), repeats=1)
    assert out["available"] is False and "emulated ms (forward + backward)" in out
    assert not any(k.startswith("y:") for k in out)
