"""The torch optimizers on another device than the CPU: do they compute there what the tests check here?

``python -m theory_bench.torch.device_check --device cuda [--quick] [--json FILE]`` prints three checks:

1. **Agreement.** ``StoSignSGD`` (both forms; float64, float32, bfloat16 parameters),
   ``sign_convert(AdamW)`` and ``LowPrecisionOptimizer(StoSignSGD, "fp8")`` with the counter noise
   (``noise="counter"``, ``stream="counter"``: the same uniforms on every device) are run for ``T``
   steps on the device and on the CPU from the same start and gradients: the largest difference of
   the parameters, in units of ``lr``, and whether the two are bit for bit. On the CPU float32 and
   float64 go through the fused numba kernel, so this compares it with the device's torch operations.
2. **Unbiasedness of the device's own noise.** ``noise="uniform"`` draws ``torch.rand`` on the device.
   With the envelope set to ``G = 3`` and 41 ratios ``g/G`` in ``[-1, 1]``, each repeated on ``n``
   coordinates, the mean move of one step over ``lr`` must be ``g/G`` (docs/theory.md §2.1) within
   Bernstein's radius at a 1e-6 false-failure rate (split over the ratios and rows). The falsifying
   variants: uniforms rounded to bfloat16 (8 bits: the bias the default avoids; it shows at about
   10^7 draws per ratio, the full form's 1.7e7) and Gaussian noise (misses at any size).
3. **Speed.** One step on ``d`` float32 parameters against ``torch.optim.AdamW(fused=True)`` and
   ``(foreach=True)`` on the same device, synchronised, the best of 5 batches; and the bytes each
   step must move (StoSignSGD practical and AdamW read ``p, g, m, G|v`` and write ``p, m, G|v``:
   7 streams of ``4 d`` bytes) over its time.

``fp8_compare(device, shape)`` times ``FP8Linear``'s FP8 tensor-core path (``fp8_matmul``) against the
emulation and reports their largest difference. Nothing in the test suite needs a GPU:
``tests/test_torch_device_check.py`` and ``tests/test_fp8_matmul.py`` run these on the CPU.
"""
import argparse
import json

import numpy as np
import torch

from theory_bench.analysis.concentration import bernstein_radius
from theory_bench.engine.timing import best_time
from theory_bench.torch.fp8 import _LinearFn
from theory_bench.torch.fp8_matmul import ScaledMMLinear, scaled_mm_available
from theory_bench.torch.low_precision import LowPrecisionOptimizer
from theory_bench.torch.recipe import get_recipe
from theory_bench.torch.sign_convert import sign_convert
from theory_bench.torch.stosignsgd import StoSignSGD, sto_sign

RATIOS = np.linspace(-1.0, 1.0, 41)
ENVELOPE = 3.0
LR = 2.0 ** -12          # a move of +-LR from 0 is exact in float64, float32, float16 and bfloat16
FAIL_PROB = 1e-6


def _sync(device):
    """What ``best_time`` calls after each batch: the device's queue drained (nothing on the CPU)."""
    if torch.device(device).type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return None


def _trajectory(make, device, dtype, d, T, seed):
    """The parameters after ``T`` steps of ``make([p])`` on ``device``, from the same start and gradients."""
    gen = torch.Generator().manual_seed(seed)
    p = torch.nn.Parameter(torch.randn(d, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype))
    opt = make([p])
    for _ in range(T):
        p.grad = torch.randn(d, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
        opt.step()
    return p.detach().to("cpu", torch.float64)


AGREEMENT = {
    "StoSignSGD theory": lambda ps: StoSignSGD(ps, lr=1e-2, beta1=0.0, seed=1, noise="counter"),
    "StoSignSGD practical": lambda ps: StoSignSGD(ps, lr=1e-2, beta1=0.9, weight_decay=0.01, seed=1, noise="counter"),
    "sign_convert(AdamW)": lambda ps: sign_convert(torch.optim.AdamW(ps, lr=1e-2), seed=1, stream="counter"),
    "LowPrecisionOptimizer(StoSignSGD, fp8)": lambda ps: LowPrecisionOptimizer(
        StoSignSGD(ps, lr=1e-2, seed=1, noise="counter"), "fp8", seed=1),
}


def agreement(device, d=4096, T=50):
    """``[{optimizer, dtype, max_diff_lr, differing, bit_for_bit}]``: the device's trajectory against the CPU's."""
    rows = []
    for name, make in AGREEMENT.items():
        for dtype in (torch.float64, torch.float32, torch.bfloat16):
            if name.startswith("LowPrecision") and dtype != torch.float32:
                continue
            a = _trajectory(make, device, dtype, d, T, seed=0)
            b = _trajectory(make, "cpu", dtype, d, T, seed=0)
            diff = (a - b).abs()
            rows.append({"optimizer": name, "dtype": str(dtype).replace("torch.", ""), "steps": T, "d": d,
                         "max_diff_lr": float(diff.max()) / 1e-2, "differing": int((diff > 0).sum()),
                         "bit_for_bit": bool(torch.equal(a, b))})
    return rows


VARIANTS = {
    "bf16 uniforms (variant)": lambda d, device: torch.rand(d, device=device).to(torch.bfloat16).float(),
    "gaussian noise (variant)": lambda d, device: 0.5 + 0.5 * torch.randn(d, device=device),   # 2u - 1 ~ N(0, 1)
}


def _mean_moves(device, dtype, n, steps, variant=None):
    """The mean move over ``LR`` of each ratio's ``n`` coordinates over ``steps`` steps of the theory form
    with ``noise="uniform"``, and the ratio each should have (``g / G`` of the ``g`` the parameter's dtype
    holds); ``variant`` (a key of ``VARIANTS``) takes the sign with its uniforms instead."""
    d = len(RATIOS) * n
    p = torch.nn.Parameter(torch.zeros(d, device=device, dtype=dtype))
    opt = StoSignSGD([p], lr=LR, beta1=0.0, seed=7)
    p.grad = torch.full((d,), ENVELOPE, device=device, dtype=dtype)
    opt.step()                                        # G = 3 everywhere
    g = torch.from_numpy(np.repeat(RATIOS * ENVELOPE, n)).to(device=device, dtype=dtype)
    total = torch.zeros(d, device=device, dtype=torch.float64)
    for _ in range(steps):
        before = p.detach().clone()
        p.grad = g.clone()
        if variant is None:
            opt.step()
        else:
            with torch.no_grad():
                p.sub_(LR * sto_sign(g, opt.state[p]["G"], VARIANTS[variant](d, device)).to(dtype))
        total += ((before - p.detach()) / LR).to(torch.float64)
    expected = torch.tensor(RATIOS * ENVELOPE).to(dtype).double().numpy() / ENVELOPE
    return (total.view(len(RATIOS), n).mean(dim=1) / steps).cpu().numpy(), expected


def unbiasedness(device, n=1 << 20, steps=16, dtypes=(torch.float32, torch.bfloat16, torch.float16)):
    """``[{dtype, noise, draws_per_ratio, worst_z, misses, passed}]``: the mean sign of the device's noise
    against ``g/G``; ``worst_z`` is the largest ``|mean - g/G|`` over its Bernstein radius (<= 1 passes).
    The radius is set so that a correct noise fails a row with probability < 1e-6 over all the rows."""
    cases = [(dt, None) for dt in dtypes] + [(torch.float32, v) for v in VARIANTS]
    delta = FAIL_PROB / (len(RATIOS) * len(cases))
    radius = bernstein_radius(1 - RATIOS ** 2, n * steps, delta, 2.0)
    rows = []
    for dtype, variant in cases:
        mean, expected = _mean_moves(device, dtype, n, steps, variant)
        z = np.abs(mean - expected) / np.maximum(radius, 1e-300)
        z[radius == 0] = np.where(mean[radius == 0] == expected[radius == 0], 0.0, np.inf)
        rows.append({"dtype": str(dtype).replace("torch.", ""),
                     "noise": variant or "torch.rand in >= float32 (default)",
                     "draws_per_ratio": n * steps, "worst_z": float(z.max()), "misses": int((z > 1).sum()),
                     "passed": bool((z <= 1).all())})
    return rows


def _step_seconds(make, device, d, seed=0):
    gen = torch.Generator().manual_seed(seed)
    p = torch.nn.Parameter(torch.randn(d, generator=gen).to(device))
    p.grad = torch.randn(d, generator=gen).to(device)
    return best_time(make([p]).step, sync=_sync(device))


SPEED = {
    "AdamW(fused=True)": lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True),
    "AdamW(foreach=True)": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True),
    "StoSignSGD practical": lambda ps: StoSignSGD(ps, lr=1e-3, seed=0),
    "StoSignSGD theory": lambda ps: StoSignSGD(ps, lr=1e-3, beta1=0.0, seed=0),
    "StoSignSGD practical, check_finite=False": lambda ps: StoSignSGD(ps, lr=1e-3, seed=0, check_finite=False),
}


def speed(device, sizes=(10 ** 6, 10 ** 7, 10 ** 8)):
    """``[{optimizer, d, ms, vs_fused_adamw, GB_per_s}]`` (7 streams of 4 d bytes per step)."""
    rows = []
    for d in sizes:
        ms = {name: 1e3 * _step_seconds(make, device, d) for name, make in SPEED.items()}
        for name, v in ms.items():
            rows.append({"optimizer": name, "d": d, "ms": v, "vs_fused_adamw": v / ms["AdamW(fused=True)"],
                         "GB_per_s": 7 * 4 * d / (v * 1e-3) / 1e9})
    return rows


def fp8_compare(device="cuda", shape=(4096, 4096, 4096), recipe="fp8", repeats=5):
    """On ``device``: the tensor-core layer against the emulated one, forward and backward on random
    data (largest difference relative to the output's largest value) and the time of each, in ms (the
    best of ``repeats`` batches). ``python -c "from theory_bench.torch.device_check import fp8_compare; print(fp8_compare())"`` on a GPU."""
    recipe = get_recipe(recipe)
    M, K, N = shape
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(M, K, generator=gen).to(device).requires_grad_()
    w = torch.randn(N, K, generator=gen).div(K ** 0.5).to(device).requires_grad_()
    dy = torch.randn(M, N, generator=gen).to(device)
    out = {"available": scaled_mm_available(x, w, recipe)}
    results = {}
    for name, fn in (("emulated", _LinearFn.apply), ("tensor cores", ScaledMMLinear.apply)):
        if name == "tensor cores" and not out["available"]:
            continue
        x.grad = w.grad = None
        y = fn(x, w, None, recipe)
        y.backward(dy)
        results[name] = (y.detach(), x.grad.clone(), w.grad.clone())

        def step():
            x.grad = w.grad = None
            fn(x, w, None, recipe).backward(dy)
        out[f"{name} ms (forward + backward)"] = 1e3 * best_time(step, repeats=repeats, sync=_sync(device))
    if "tensor cores" in results:
        for i, what in enumerate(("y", "dx", "dW")):
            a, b = results["emulated"][i], results["tensor cores"][i]
            out[f"{what}: max |tensor cores - emulated| / max |emulated|"] = float((a - b).abs().max() / a.abs().max())
    return out


def report(device="cuda", quick=False):
    """The three checks on ``device``, as a dict of row lists (and the device's name)."""
    name = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else "cpu"
    return {"device": name, "torch": torch.__version__,
            "agreement": agreement(device, d=512 if quick else 4096, T=10 if quick else 50),
            "unbiasedness": unbiasedness(device, n=1 << 12 if quick else 1 << 20, steps=2 if quick else 16),
            "speed": speed(device, sizes=(10 ** 5,) if quick else (10 ** 6, 10 ** 7, 10 ** 8))}


def _print(result):
    print(f"device: {result['device']}, torch {result['torch']}")
    for section in ("agreement", "unbiasedness", "speed"):
        print(f"\n{section}")
        rows = result[section]
        keys = list(rows[0])
        print(" | ".join(keys))
        for r in rows:
            print(" | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes: seconds, for a smoke test")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    result = report(args.device, args.quick)
    _print(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if verdict(result["unbiasedness"]) else 1


def verdict(rows):
    """The default noise passes for every dtype, and the Gaussian variant fails (the bf16 variant's bias,
    about 0.004, needs some 10^7 draws per ratio: it is reported, not required)."""
    default = [r["passed"] for r in rows if "variant" not in r["noise"]]
    gaussian = [r["passed"] for r in rows if r["noise"].startswith("gaussian")]
    return all(default) and not any(gaussian)


def check_device(device):
    """``torch.device(device)``, or a ValueError that names it and what to use instead."""
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device!r} is not a torch device ({err}); use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this torch has no CUDA device (torch.cuda.is_available() is False, "
                         f"torch {torch.__version__}); use --device cpu, or a CUDA build of torch on a GPU machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: only cpu and cuda are supported")
    return dev


if __name__ == "__main__":
    raise SystemExit(main())
