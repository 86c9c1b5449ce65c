"""The FP8 systems' state layouts (``theory_bench.torch.state_scaling``, the ``fp8-block``, ``fp8-msamp``
and ``fp8-te`` recipes): each against a naive numpy reference (ml_dtypes' E4M3), torchao's own
quantizer and optimizer where torchao is installed, and the underflow they exist to cure."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")

from theory_bench.torch.low_precision import LowPrecisionOptimizer  # noqa: E402
from theory_bench.torch.recipe import RECIPES, Recipe  # noqa: E402
from theory_bench.torch.state_scaling import BLOCK, blocked, state_bytes, store  # noqa: E402


def reference(x, scaling):
    """Per block of 256 (or the whole tensor) in float32: scale = max(amax, 1e-12) / 448, E4M3 of x / scale
    by ml_dtypes (round to nearest even), times the scale."""
    v = x.numpy().astype(np.float32)
    rows = v.reshape(1, -1) if scaling == "absmax" else v.reshape(-1, BLOCK)
    scale = (np.maximum(np.abs(rows).max(axis=1, keepdims=True), np.float32(1e-12)) / np.float32(448.0)).astype(np.float32)
    codes = (rows / scale).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    return torch.from_numpy((codes * scale).reshape(v.shape))


def spread(n, seed=0):
    """Values whose magnitudes span 1e-8 to 1e3 inside one tensor, signs mixed."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * torch.logspace(-8, 3, n)[torch.randperm(n, generator=g)]


@pytest.mark.parametrize("scaling", ["block", "absmax"])
@pytest.mark.parametrize("seed", range(5))
def test_store_is_the_naive_reference_bit_for_bit(scaling, seed):
    x = spread(8192, seed).reshape(32, 256)
    assert torch.equal(store(x, "e4m3", scaling), reference(x, scaling))


def test_block_follows_torchaos_rule_for_small_tensors():
    """torchao quantizes a state tensor only with >= 4096 values in whole blocks: the others stay fp32."""
    assert blocked(4096) and blocked(4352) and not blocked(3840) and not blocked(4353) and not blocked(256)
    x = spread(1000, 1)
    assert torch.equal(store(x, "e4m3", "block"), x)
    assert state_bytes("e4m3", "block", 1000) == 4000
    assert state_bytes("e4m3", "block", 8192) == 8192 + 4 * 32
    assert state_bytes("fp16", "none", 10) == 20 and state_bytes("e4m3", "absmax", 10) == 14


def test_block_scaling_keeps_what_one_scale_per_tensor_flushes():
    """The issue's case at torchao's sizes: half the gradients 1e-6, half 1e2, one AdamW step. With one
    power-of-two scale per tensor (the fp8 recipe) every small entry of m and v is stored as 0; with
    one scale per block of 256 none is. v in FP16 unscaled (MS-AMP's O2) flushes them as well: 1e-15 is
    below FP16's smallest subnormal 2^-24, so FP16 keeps v only for |g| above sqrt(2^-25 / (1 - b2)) ~ 5.5e-3."""
    g = torch.cat([torch.full((2048,), 1e-6), torch.full((2048,), 1e2)])
    m, v = 0.1 * g, 1e-3 * g.square()
    small = slice(0, 2048)
    assert (store(m, "e4m3", "per_tensor")[small] == 0).all() and (store(v, "e4m3", "per_tensor")[small] == 0).all()
    assert (store(v, "e4m3", "absmax")[small] == 0).all()                  # TransformerEngine's layout flushes too
    assert (store(v, "fp16", "none")[small] == 0).all()
    for kept in (store(m, "e4m3", "block"), store(v, "e4m3", "block")):
        assert (kept != 0).all()
    floor = np.sqrt(2.0 ** -25 / 1e-3)
    assert (store(1e-3 * torch.tensor([1.01 * floor]) ** 2, "fp16") > 0).all()
    assert (store(1e-3 * torch.tensor([0.99 * floor]) ** 2, "fp16") == 0).all()
    assert torch.allclose(store(v, "e4m3", "block"), v, rtol=2 ** -4)      # within half an E4M3 spacing


@pytest.mark.parametrize("scaling, rows", [("block", 16), ("absmax", 1)])
def test_the_flush_threshold_is_the_blocks_amax_times_2_pow_minus_10_over_448(scaling, rows):
    """docs/theory.md §6: stored with one scale amax / 448 per block (or tensor), an entry rounds to zero
    exactly when it is below amax 2^-10 / 448 (half of E4M3's smallest subnormal, after scaling)."""
    v = torch.full((rows, 256), 1.0)
    edge = 2.0 ** -10 / 448
    v[:, 0], v[:, 1], v[:, 2] = 1e3, 1e3 * edge * 1.01, 1e3 * edge * 0.99
    out = store(v.reshape(-1), "e4m3", scaling).reshape(rows, 256)
    assert (out[:, 1] > 0).all() and (out[:, 2] == 0).all()


def test_the_recipes_store_each_state_as_named():
    msamp = RECIPES["fp8-msamp"]
    assert msamp.state_format("exp_avg") == ("e4m3", "absmax") and msamp.state_format("exp_avg_sq") == ("fp16", "none")
    assert msamp.state_format("G") == ("fp16", "none") and RECIPES["fp8-block"].state_format("m") == ("e4m3", "block")
    assert "state_formats" not in RECIPES["fp8"].config() and RECIPES["fp8-msamp"].config()["state_formats"]
    p = torch.nn.Parameter(spread(4096, 2))
    opt = LowPrecisionOptimizer(torch.optim.AdamW([p], lr=1e-3), "fp8-msamp")
    for _ in range(3):
        p.grad = spread(4096, 3)
        opt.step()
    st = opt.state[p]
    assert torch.equal(st["exp_avg_sq"], st["exp_avg_sq"].to(torch.float16).float())
    assert torch.equal(st["exp_avg"], store(st["exp_avg"], "e4m3", "absmax"))
    with pytest.raises(ValueError, match="state_formats must be pairs"):
        Recipe(state_formats=(("exp_avg_sq",),))
    with pytest.raises(ValueError, match="stochastic rounding is emulated with state_scaling"):
        Recipe(state_scaling="block", rounding="stochastic")
    with pytest.raises(ValueError, match="state scaling must be one of"):
        Recipe(state_scaling="per_row")


def test_against_torchao():
    """torchao's quantizer is ``store`` bit for bit; its AdamWFp8 and the emulated fp8-block AdamW keep the
    same state to within one E4M3 spacing of each block's scale and take the same steps (torchao's compiled
    update rounds the fp32 arithmetic differently, which can move a block's amax by an ulp and with it
    every code; Gaussian gradients, so that no entry sits at the edge of a block's range)."""
    pytest.importorskip("torchao")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchao.optim import AdamWFp8
        from torchao.optim.subclass_fp8 import quantize_fp8
    x = spread(8192, 4)
    codes, scale = quantize_fp8(x, BLOCK)
    assert torch.equal((codes.float().view(-1, BLOCK) * scale.view(-1, 1)).view(-1), store(x, "e4m3", "block"))
    p1 = torch.nn.Parameter(spread(8192, 5).reshape(32, 256))
    p2 = torch.nn.Parameter(p1.detach().clone())
    start = p1.detach().clone()
    ours = LowPrecisionOptimizer(torch.optim.AdamW([p1], lr=1e-3, weight_decay=0.0),
                                 Recipe(state_scaling="block", weights="fp32"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = AdamWFp8([p2], lr=1e-3, weight_decay=0.0)
        for t in range(3):
            g = torch.randn(32, 256, generator=torch.Generator().manual_seed(10 + t))
            p1.grad, p2.grad = g.clone(), g.clone()
            ours.step()
            theirs.step()
    for key in ("exp_avg", "exp_avg_sq"):
        a, b = ours.state[p1][key].reshape(-1, BLOCK), theirs.state[p2][key].dequantize().reshape(-1, BLOCK)
        top = torch.maximum(a.abs().amax(dim=1, keepdim=True), b.abs().amax(dim=1, keepdim=True))
        spacing = top / 448 * 32                    # E4M3's spacing in its top binade [256, 448], dequantized
        assert ((a - b).abs() <= spacing).all(), key
        assert (a != b).float().mean() < 0.5
    moved1, moved2 = (p1.detach() - start) / 1e-3, (p2.detach() - start) / 1e-3      # in units of lr
    assert (moved1 - moved2).abs().max() < 0.1 and moved1.abs().max() > 1
