"""``sign_convert(...)`` and ``LowPrecisionOptimizer(...)`` are ``torch.optim.Optimizer``s as torch's own
(isinstance, schedulers, hooks, add_param_group, defaults, state_dict in torch's format), and the
three optimizers of the suite keep torch's conventions: the step bumps autograd's version counter, a
warm-up step at lr = 0 moves no parameter, a failed step moves nothing, a state_dict for other shapes
is refused, ``torch.manual_seed`` decides the default noise, ``OneCycleLR`` cycles StoSignSGD's beta1.
Each check runs on torch's own optimizer too, or on the variant that fails it. Skipped without torch."""
import copy

import pytest

torch = pytest.importorskip("torch")

from theory_bench.torch import StoSignSGD, sign_convert  # noqa: E402
from theory_bench.torch.fp8 import LowPrecisionOptimizer  # noqa: E402

MAKERS = {
    "StoSignSGD": lambda ps, lr=0.1: StoSignSGD(ps, lr=lr, seed=3),
    "sign_convert(SGD)": lambda ps, lr=0.1: sign_convert(torch.optim.SGD(ps, lr=lr, momentum=0.9), seed=3),
    "sign_convert(AdamW)": lambda ps, lr=0.1: sign_convert(torch.optim.AdamW(ps, lr=lr), seed=3),
    "LowPrecisionOptimizer(AdamW)": lambda ps, lr=0.1: LowPrecisionOptimizer(torch.optim.AdamW(ps, lr=lr), "fp8-bf16-state"),
    "LowPrecisionOptimizer(sign_convert(SGD))":
        lambda ps, lr=0.1: LowPrecisionOptimizer(sign_convert(torch.optim.SGD(ps, lr=lr), seed=3), "fp8-bf16-state"),
}
ALL = pytest.mark.parametrize("name", list(MAKERS))


def grads(params, seed):
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen).to(p.dtype)


def model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def train(opt, params, steps, start=0, sched=None):
    for t in range(start, start + steps):
        grads(params, t)
        opt.step()
        if sched is not None:
            sched.step()


def same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b))


@ALL
def test_it_is_a_torch_optimizer_that_schedulers_and_add_param_group_take(name):
    m = model()
    opt = MAKERS[name](list(m[0].parameters()))
    assert isinstance(opt, torch.optim.Optimizer) and opt.defaults["lr"] == 0.1
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    train(opt, list(m[0].parameters()), 2, sched=sched)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)
    opt.add_param_group({"params": list(m[2].parameters()), "lr": 0.2})
    assert len(opt.param_groups) == 2
    before = [p.detach().clone() for p in m[2].parameters()]
    train(opt, list(m.parameters()), 1, start=2)
    assert not same(before, m[2].parameters())           # the added group steps
    inner = getattr(opt, "base", opt)
    assert inner.param_groups is opt.param_groups and inner.state is opt.state


@ALL
def test_state_dict_is_torchs_format_and_resume_is_bit_exact(name):
    straight, resumed = model(), model()
    a, b = MAKERS[name](list(straight.parameters())), MAKERS[name](list(resumed.parameters()))
    train(a, list(straight.parameters()), 8)
    train(b, list(resumed.parameters()), 4)
    saved = copy.deepcopy(b.state_dict())
    assert set(saved) == {"state", "param_groups"}
    torch.manual_seed(123)                                # another default key: the saved one must win
    c = MAKERS[name](list(resumed.parameters()), lr=0.5)
    c.load_state_dict(saved)
    train(c, list(resumed.parameters()), 4, start=4)
    assert same(straight.parameters(), resumed.parameters())


VERSIONED = {**MAKERS, "StoSignSGD theory, one by one": lambda ps: StoSignSGD(ps, lr=0.1, beta1=0.0, foreach=False),
             "torch SGD": lambda ps: torch.optim.SGD(ps, lr=0.1)}


@pytest.mark.parametrize("name", list(VERSIONED))
def test_the_step_bumps_the_version_counter(name):
    """A backward through a graph saved before the step raises, as for torch.optim.SGD (the fused
    kernels write through numpy: they bump the counter by hand, one tensor or a batch)."""
    p = torch.nn.Parameter(torch.randn(10))
    y = (p * p).sum()                                  # saves p for the backward
    opt = VERSIONED[name]([p])
    version = p._version
    p.grad = torch.randn(10)
    opt.step()
    assert p._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@ALL
def test_a_warm_up_step_at_lr_0_moves_no_parameter_and_the_next_one_moves(name):
    m = model()
    params = list(m.parameters())
    with torch.no_grad():
        for p in params:                     # bf16 values: LowPrecisionOptimizer keeps its weights in bf16
            p.copy_(p.bfloat16())
    opt = MAKERS[name](params)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: k / 10)
    before = [p.detach().clone() for p in params]
    train(opt, params, 1, sched=sched)
    assert same(before, params) and opt.state                # the state moved, the parameters did not
    train(opt, params, 1, start=1)
    assert not same(before, params)


def test_sign_convert_at_lr_0_keeps_the_state_torchs_optimizer_keeps():
    """The base's state after a step at lr = 0 is the one torch's optimizer leaves (momentum buffer)."""
    p, q = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(4))
    conv, ref = sign_convert(torch.optim.SGD([p], lr=0.0, momentum=0.9), seed=1), torch.optim.SGD([q], lr=0.0, momentum=0.9)
    for opt, x in ((conv, p), (ref, q)):
        x.grad = torch.arange(4.0)
        opt.step()
    assert torch.equal(conv.state[p]["momentum_buffer"], ref.state[q]["momentum_buffer"])
    assert torch.equal(conv.state[p]["sign_envelope"], torch.arange(4.0)) and conv.param_groups[0]["lr"] == 0.0


def test_the_default_noise_key_is_torch_manual_seeds_and_an_explicit_seed_is_its_own():
    def run(make, manual):
        torch.manual_seed(manual)
        p = torch.nn.Parameter(torch.zeros(64))
        opt = make([p])
        for g in (1.0, 0.5):                 # the running max is 1, then a coin of mean 0.5 per coordinate
            p.grad = torch.full((64,), g)
            opt.step()
        return p.detach().clone()
    for make in (lambda ps: StoSignSGD(ps, lr=1.0, beta1=0.0), lambda ps: sign_convert(torch.optim.SGD(ps, lr=1.0))):
        assert torch.equal(run(make, 0), run(make, 0)) and not torch.equal(run(make, 0), run(make, 1))
    fixed = lambda ps: StoSignSGD(ps, lr=1.0, beta1=0.0, seed=7)          # noqa: E731
    assert torch.equal(run(fixed, 0), run(fixed, 1))


def test_one_cycle_lr_cycles_beta1_and_the_step_reads_it():
    m1, m2 = model(), model()
    a = StoSignSGD(m1.parameters(), lr=0.01, seed=1)
    sched = torch.optim.lr_scheduler.OneCycleLR(a, max_lr=0.1, total_steps=10)        # cycle_momentum=True
    b = StoSignSGD(m2.parameters(), lr=0.01, seed=1)
    seen = set()
    for t in range(8):
        for g_a, g_b in zip(a.param_groups, b.param_groups):
            g_b["lr"], g_b["betas"] = g_a["lr"], g_a["betas"]
        seen.add(a.param_groups[0]["betas"][0])
        train(a, list(m1.parameters()), 1, start=t, sched=sched)
        train(b, list(m2.parameters()), 1, start=t)
    assert same(m1.parameters(), m2.parameters()) and len(seen) > 4 and max(seen) == pytest.approx(0.95)
    c = StoSignSGD(model().parameters(), lr=0.01)
    c.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "beta1": 0.5})
    assert c.param_groups[1]["betas"] == (0.5,)
    with pytest.raises(ValueError, match=r"betas\[0\] \(beta1\) must be in \[0, 1\)"):
        c.param_groups[1]["betas"] = (1.5,)
        train(c, [p for g in c.param_groups for p in g["params"]], 1)


def test_hooks_fire_once_around_the_whole_step():
    """A global post-hook sees the wrapper's finished step, once; the base's own hooks fire inside."""
    from torch.optim.optimizer import register_optimizer_step_post_hook
    p = torch.nn.Parameter(torch.ones(5))
    base = torch.optim.SGD([p], lr=0.1)
    opt = sign_convert(base, seed=0)
    calls = []
    handles = [register_optimizer_step_post_hook(lambda o, a, k: calls.append(("global", o, p.detach().clone()))),
               opt.register_step_post_hook(lambda o, a, k: calls.append(("wrapper", o, p.detach().clone()))),
               base.register_step_pre_hook(lambda o, a, k: calls.append(("base", o, None)))]
    try:
        p.grad = torch.full((5,), 0.3)
        opt.step()
    finally:
        for h in handles:
            h.remove()
    assert [(w, o) for w, o, _ in calls] == [("base", base), ("wrapper", opt), ("global", opt)]
    assert all(torch.equal(x, p.detach()) for _, _, x in calls[1:])       # after the sign step, not the base's


def test_a_failed_step_moves_nothing():
    """A complex parameter (LowPrecisionOptimizer), a non-finite gradient (sign_convert): refused before
    any parameter or the base's state moves."""
    dense, z = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))
    opt = LowPrecisionOptimizer(torch.optim.SGD([dense, z], lr=0.1, momentum=0.9), "fp8")
    dense.grad, z.grad = torch.ones(3), torch.ones(2, dtype=torch.complex64)
    with pytest.raises(ValueError, match="parameter 1 of dtype torch.complex64; no parameter was changed"):
        opt.step()
    assert torch.equal(dense.detach(), torch.ones(3)) and not opt.state
    conv = sign_convert(torch.optim.SGD([dense], lr=0.1, momentum=0.9))
    dense.grad = torch.tensor([1.0, float("nan"), 1.0])
    with pytest.raises(FloatingPointError, match="no parameter was changed"):
        conv.step()
    assert torch.equal(dense.detach(), torch.ones(3)) and not conv.state and conv.t == 0


def test_a_state_dict_for_other_shapes_is_refused_at_load():
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(5, 3)
    saved = sign_convert(torch.optim.SGD(a.parameters(), lr=0.1))
    train(saved, list(a.parameters()), 1)
    with pytest.raises(ValueError, match=r"'sign_envelope' of parameter 0 has shape \(3, 4\).*needs shape \(3, 5\)"):
        sign_convert(torch.optim.SGD(b.parameters(), lr=0.1)).load_state_dict(saved.state_dict())
    with pytest.raises(ValueError, match="not in torch's format"):
        LowPrecisionOptimizer(torch.optim.SGD(b.parameters(), lr=0.1)).load_state_dict({"optimizer": {}})


def test_grad_scaler_skips_an_overflowed_step_and_takes_the_others():
    """torch.amp.GradScaler on the CPU: an inf gradient is found in the unscale and the step skipped."""
    for name in ("StoSignSGD", "sign_convert(AdamW)"):
        m = model()
        opt = MAKERS[name](list(m.parameters()))
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
        before = [p.detach().clone() for p in m.parameters()]
        loss = m(torch.full((2, 6), 1e38)).pow(2).sum()          # inf in the scaled backward
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        assert same(before, m.parameters()) and scaler.get_scale() == 2.0 ** 7
        opt.zero_grad()
        scaler.scale(m(torch.ones(2, 6)).pow(2).sum()).backward()
        scaler.step(opt)
        assert not same(before, m.parameters())


def test_swa_lr_sets_the_step_of_a_sign_method():
    """SWALR anneals the group lr to swa_lr; a sign step then moves every coordinate by exactly lr."""
    from torch.optim.swa_utils import SWALR, AveragedModel
    m = model()
    opt = StoSignSGD(m.parameters(), lr=0.1, beta1=0.0, seed=0)
    swa, sched = AveragedModel(m), SWALR(opt, swa_lr=2.0 ** -6, anneal_epochs=1)
    for t in range(3):
        lr, before = opt.param_groups[0]["lr"], [p.detach().clone() for p in m.parameters()]
        train(opt, list(m.parameters()), 1, start=t)
        swa.update_parameters(m)
        sched.step()
    assert lr == 2.0 ** -6
    assert all(torch.allclose((p.detach() - q).abs(), torch.full_like(q, lr), rtol=1e-5, atol=0)
               for p, q in zip(m.parameters(), before))
