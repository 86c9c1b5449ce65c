"""The torch optimizers' step time against the field's (``theory-bench bench``): one float32 tensor of
``d`` elements and a model of many small tensors, on one CPU thread, each the best of 5 batches, the
ratios taken in the same run. Rows: ``torch.optim.AdamW`` with ``fused=True`` and ``foreach=True``,
``lion_pytorch.Lion`` (where installed), ``theory_bench.torch.StoSignSGD`` in both forms (and, for the
small tensors, its multi-tensor path against one by one); the testing adapter's steps per second."""
import functools

from theory_bench.engine.timing import best_time


def _step_ms(torch, make, shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    opt = make(params)
    return 1e3 * best_time(opt.step)


def torch_rows(sizes=(10 ** 6, 10 ** 7), small=(1000, 100)):
    """``{row: value}``; ``{}`` without PyTorch."""
    try:
        import torch
    except ImportError:
        return {}
    from theory_bench import problems
    from theory_bench.engine.protocol import minimize_any
    from theory_bench.torch import StoSignSGD
    from theory_bench.torch.adapter import TorchFactory
    makers = {"AdamW(fused=True)": lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True),
              "AdamW(foreach=True)": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True),
              "StoSignSGD practical": lambda ps: StoSignSGD(ps, lr=1e-3, seed=0),
              "StoSignSGD theory": lambda ps: StoSignSGD(ps, lr=1e-3, beta1=0.0, seed=0)}
    try:
        from lion_pytorch import Lion
        makers["lion_pytorch Lion"] = lambda ps: Lion(ps, lr=1e-4)
    except ImportError:
        pass
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = {}
    try:
        for d in sizes:
            ms = {name: _step_ms(torch, make, [(d,)]) for name, make in makers.items()}
            rows.update({f"{name} step, one tensor d={d:.0e} (ms)": v for name, v in ms.items()})
            for form in ("practical", "theory"):
                rows[f"StoSignSGD {form} / AdamW(fused=True), d={d:.0e}"] = ms[f"StoSignSGD {form}"] / ms["AdamW(fused=True)"]
        n, size = small
        many = {"AdamW(fused=True)": makers["AdamW(fused=True)"], "AdamW(foreach=True)": makers["AdamW(foreach=True)"],
                "StoSignSGD practical (multi-tensor)": makers["StoSignSGD practical"],
                "StoSignSGD practical (foreach=False)": lambda ps: StoSignSGD(ps, lr=1e-3, seed=0, foreach=False)}
        ms = {name: _step_ms(torch, make, [(size,)] * n) for name, make in many.items()}
        rows.update({f"{name} step, {n} tensors of {size} (ms)": v for name, v in ms.items()})
        rows[f"StoSignSGD multi-tensor / AdamW(fused=True), {n} tensors"] = (
            ms["StoSignSGD practical (multi-tensor)"] / ms["AdamW(fused=True)"])
        rows[f"StoSignSGD one by one / multi-tensor, {n} tensors"] = (
            ms["StoSignSGD practical (foreach=False)"] / ms["StoSignSGD practical (multi-tensor)"])
    finally:
        torch.set_num_threads(threads)
    hinge = problems.make("hinge", d=100)
    T = 5000
    sgd = TorchFactory(functools.partial(torch.optim.SGD, lr=0.1))
    rows["testing adapter, torch.optim.SGD, d=100 (steps/s)"] = T / best_time(
        lambda: minimize_any(sgd, hinge.oracle, hinge.x0, T, args=hinge.args, box=hinge.box), repeats=3)
    return rows
