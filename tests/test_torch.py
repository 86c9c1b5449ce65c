"""theory_bench.torch: StoSignSGD bit-identical to the numba engine (counter noise, float64), sign_convert
of any torch optimizer (of SGD: StoSignSGD itself), the step unbiased (Gaussian noise, the variant,
is not), state_dict round trips that resume the noise, dtypes and schedulers, and the testing API on
torch optimizer factories. Skipped where PyTorch is not installed: the core needs none."""
import copy
import functools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import theory_bench as tb  # noqa: E402
from tests.stats import bernstein_radius  # noqa: E402
from theory_bench import problems  # noqa: E402
from theory_bench.optimizers import StoSignSGD as NumbaStoSign  # noqa: E402
from theory_bench.testing import assert_converges, assert_regret_rate  # noqa: E402
from theory_bench.torch import StoSignSGD, sign_convert  # noqa: E402

P = problems.make("counterexample_2d")


def torch_run(opt_factory, T, x0=P.x0, seed=0):
    """``T`` steps on counterexample 1's oracle; every iterate."""
    x = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = opt_factory([x])
    rng = np.random.default_rng(seed)
    xs = []
    for _ in range(T):
        x.grad = torch.from_numpy(P.oracle(x.detach().numpy().copy(), rng, *P.args))
        opt.step()
        xs.append(x.detach().numpy().copy())
    return np.array(xs), opt


@pytest.mark.parametrize("fused", [True, False], ids=["fused-cpu-kernel", "torch-ops"])
@pytest.mark.parametrize("form", ["theory", "practical"])
def test_counter_noise_is_bit_identical_to_the_numba_engine(form, fused, monkeypatch):
    """Both paths: the fused numba pass (CPU, float32/64) and the torch operations every other device runs."""
    if not fused:
        monkeypatch.setattr("theory_bench.torch.stosignsgd.FUSED_DTYPES", ())
    T = 2000
    if form == "theory":
        engine, kw = NumbaStoSign(0.3, schedule="constant"), dict(beta1=0.0)
    else:
        engine, kw = NumbaStoSign.practical(0.3, schedule="constant", beta1=0.9, weight_decay=0.01), \
            dict(beta1=0.9, weight_decay=0.01)
    trace = tb.minimize(P.oracle, P.x0, engine, T, args=P.args, seed=5, checkpoints=np.arange(1, T + 1))
    xs, opt = torch_run(lambda ps: StoSignSGD(ps, lr=0.3, seed=5, noise="counter", **kw), T)
    assert np.array_equal(xs, trace.xs)
    state = opt.state[opt.param_groups[0]["params"][0]]
    assert np.array_equal(state["G"].numpy(), trace.state["G"])


@pytest.mark.parametrize("stream,noise", [("counter", "uniform"), ("counter", "counter")])
def test_sign_convert_of_sgd_is_stosignsgd(stream, noise):
    """On the CPU StoSignSGD's default noise is the counter stream, in its fused kernel."""
    a, _ = torch_run(lambda ps: sign_convert(torch.optim.SGD(ps, lr=0.3), seed=3, stream=stream), 2000)
    b, _ = torch_run(lambda ps: StoSignSGD(ps, lr=0.3, beta1=0.0, seed=3, noise=noise), 2000)
    assert np.array_equal(a, b)


def sign_draws(make, n=20_000, envelope=3.0):
    """``n`` signs per coordinate for the ratios ``g/G`` in [-1, 1], read off the parameter's moves."""
    ratios = np.linspace(-1.0, 1.0, 41)
    x = torch.nn.Parameter(torch.zeros(41, dtype=torch.float64))
    opt = make([x])
    lr = 2.0 ** -12                                    # moves of +-lr are exact in float64
    x.grad = torch.full((41,), envelope, dtype=torch.float64)
    opt.step()                                         # sets the envelope G = 3 everywhere
    g = torch.from_numpy(ratios * envelope)
    draws = np.empty((n, 41))
    for k in range(n):
        before = x.detach().clone()
        x.grad = g.clone()
        opt.step()
        draws[k] = ((before - x.detach()) / lr).numpy()
    return ratios, draws


def unbiased_misses(ratios, draws, fail_prob=1e-6):
    n = draws.shape[0]
    delta = fail_prob / (2 * len(ratios))
    miss = []
    for a, d in zip(ratios, draws.T):
        var = 1 - a * a
        eps = float(bernstein_radius(var, n, delta, 2.0))
        if abs(d.mean() - a) > eps or abs(d.var() - var) > eps * (2 * abs(a) + eps) + 1e-12:
            miss.append(a)
    return miss


def test_the_torch_step_is_unbiased_and_gaussian_noise_is_not():
    """docs/theory.md §2.1: mean g/G and variance 1 - (g/G)^2 on 41 ratios (failure rate < 1e-6)."""
    lr = 2.0 ** -12
    ratios, draws = sign_draws(lambda ps: StoSignSGD(ps, lr=lr, beta1=0.0, seed=1))
    assert not unbiased_misses(ratios, draws)
    ratios, draws = sign_draws(lambda ps: sign_convert(torch.optim.SGD(ps, lr=lr), seed=1))
    assert not unbiased_misses(ratios, draws)
    ratios, draws = sign_draws(lambda ps: sign_convert(torch.optim.SGD(ps, lr=lr), noise="gaussian", seed=1))
    assert len(unbiased_misses(ratios, draws)) >= 20


@pytest.mark.parametrize("make", [
    lambda ps: StoSignSGD(ps, lr=0.1, seed=2),
    lambda ps: StoSignSGD(ps, lr=0.1, seed=2, noise="counter"),
    lambda ps: sign_convert(torch.optim.Adam(ps, lr=0.1), seed=2),
], ids=["stosign-torch-noise", "stosign-counter", "sign(Adam)"])
def test_state_dict_round_trip_resumes_the_same_trajectory(make):
    whole, _ = torch_run(make, 100)
    first, opt = torch_run(make, 50)
    saved = copy.deepcopy(opt.state_dict())
    x = torch.nn.Parameter(torch.tensor(first[-1]))
    resumed = make([x])
    resumed.load_state_dict(saved)
    rng = np.random.default_rng(0)
    for _ in range(50):                               # the oracle is deterministic: no stream to resume
        P.oracle(x.detach().numpy().copy(), rng, *P.args)
    rest = []
    for _ in range(50):
        x.grad = torch.from_numpy(P.oracle(x.detach().numpy().copy(), rng, *P.args))
        resumed.step()
        rest.append(x.detach().numpy().copy())
    assert np.array_equal(np.array(rest), whole[50:])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_any_floating_dtype_and_state_dtype(dtype):
    model = torch.nn.Linear(8, 3).to(dtype)
    opt = StoSignSGD(model.parameters(), lr=1e-2, weight_decay=0.01)
    loss = model(torch.randn(16, 8, dtype=dtype)).square().mean()
    loss.backward()
    before = [p.detach().clone() for p in model.parameters()]
    opt.step()
    for p, b in zip(model.parameters(), before):
        assert opt.state[p]["G"].dtype == dtype and opt.state[p]["m"].dtype == dtype
        moved, b = (p.double() - b.double()).abs(), b.double().abs()                         # one sign step,
        assert torch.all(moved <= 1e-2 * (1 + 0.01 * b) + torch.finfo(dtype).eps * (b + 1e-2))   # then rounded
    opt32 = StoSignSGD(model.parameters(), lr=1e-2, state_dtype=torch.float32)
    opt32.step()
    assert all(s["G"].dtype == torch.float32 for s in opt32.state.values())


def test_lr_schedulers_drive_the_step():
    x = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    opt = StoSignSGD([x], lr=1.0, beta1=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 ** k)
    for k in range(4):
        before = x.detach().clone()
        x.grad = torch.ones(4, dtype=torch.float64)         # G = 1 = g: the sign is +1
        opt.step()
        sched.step()
        assert torch.equal(before - x.detach(), torch.full((4,), 0.5 ** k, dtype=torch.float64))


class TorchSignSGD(torch.optim.Optimizer):
    """SignSGD written as a torch optimizer: what the testing API must catch on counterexample 1."""

    def __init__(self, params, lr=0.3):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(group["lr"] * torch.sign(p.grad))


def inv_sqrt(make):
    """``factory(params) -> (optimizer, scheduler)`` with ``eta_t = lr / sqrt(t)``."""
    def factory(params):
        opt = make(params)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 / math.sqrt(k + 1))
    factory.__name__ = f"{make.__name__ if hasattr(make, '__name__') else make} / sqrt(t)"
    return factory


def test_testing_api_takes_torch_factories():
    """torch.optim.SGD with lr/sqrt(t) converges on counterexample 1; SignSGD in torch does not."""
    assert_converges(inv_sqrt(functools.partial(torch.optim.SGD, lr=0.3)), "counterexample_2d", 10_000)
    with pytest.raises(AssertionError, match=r"TorchSignSGD / sqrt\(t\) does not converge on counterexample_2d"):
        assert_converges(inv_sqrt(TorchSignSGD), "counterexample_2d", 10_000)
    assert_converges(inv_sqrt(functools.partial(StoSignSGD, lr=2 ** 0.5, beta1=0.0)), "skewed_linear", 20_000, seeds=2)


@pytest.mark.slow
def test_regret_rate_of_a_torch_factory():
    """The torch StoSignSGD's regret slope on the skewed adversary (the numba engine: [0.52, 0.59])."""
    assert_regret_rate(inv_sqrt(functools.partial(StoSignSGD, lr=2 ** 0.5, beta1=0.0)),
                       problems.make("skewed_linear", d=4), [1000, 3000, 10_000, 30_000], seeds=10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"must return a torch.optim.Optimizer or an \(optimizer, scheduler\) pair.*"
                                         r"got builtins.list"):
        assert_converges(lambda params: [params], "counterexample_2d", 10)
    x = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="got a torch optimizer instance SGD; pass a factory"):
        assert_converges(torch.optim.SGD([x], lr=0.1), "counterexample_2d", 10)

    class WritesNaN(torch.optim.SGD):
        @torch.no_grad()
        def step(self, closure=None):
            for p in self.param_groups[0]["params"]:
                p.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"WritesNaN.*non-finite iterate at step t=1"):
        assert_converges(functools.partial(WritesNaN, lr=0.1), "counterexample_2d", 10)

    class Grows(torch.optim.SGD):
        @torch.no_grad()
        def step(self, closure=None):
            p = self.param_groups[0]["params"][0]
            p.data = torch.zeros(3, dtype=p.dtype)
    with pytest.raises(ValueError, match=r"must return a float64 ndarray of shape \(2,\).*shape \(3,\)"):
        assert_converges(functools.partial(Grows, lr=0.1), "counterexample_2d", 10)
    with pytest.raises(ValueError, match="envelope must be one of 'max'"):
        sign_convert(torch.optim.SGD([x], lr=0.1), envelope="foo")
    with pytest.raises(ValueError, match="sign_convert wraps a torch.optim.Optimizer instance"):
        sign_convert(NumbaStoSign(0.1))
    with pytest.raises(ValueError, match="lr must be finite and >= 0, got -1"):
        StoSignSGD([x], lr=-1)
    with pytest.raises(ValueError, match="noise must be 'uniform'.*or 'counter'"):
        StoSignSGD([x], lr=0.1, noise="gaussian")
    with pytest.raises(ValueError, match=r"param groups have no \['betas', 'noise_key'\]: it was not saved by"):
        StoSignSGD([x], lr=0.1).load_state_dict(torch.optim.SGD([x], lr=0.1).state_dict())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_every_parameter_has_its_own_noise_and_both_paths_agree(monkeypatch, dtype):
    """A model of several tensors: parameter k draws under its own key (two equal tensors with equal
    gradients move differently), and the fused CPU kernel and the torch operations agree bit for bit
    (float32: the single-precision kernels, float32 arithmetic and the 24-bit stream)."""
    def run(fused):
        if not fused:
            monkeypatch.setattr("theory_bench.torch.stosignsgd.FUSED_DTYPES", ())
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 5), torch.nn.Linear(5, 1)).to(dtype)
        twin = torch.nn.Parameter(torch.zeros(40, dtype=dtype))
        other = torch.nn.Parameter(torch.zeros(40, dtype=dtype))
        opt = StoSignSGD([*model.parameters(), twin, other], lr=1e-2, weight_decay=0.01, seed=9, noise="counter")
        for t in range(20):
            opt.zero_grad()
            model(torch.randn(8, 6, dtype=dtype)).square().mean().backward()
            g = 3.0 if t == 0 else 0.1                     # G = 0.3 after the first step, |m| below it after
            twin.grad, other.grad = torch.full((40,), g, dtype=dtype), torch.full((40,), g, dtype=dtype)
            opt.step()
        monkeypatch.undo()
        return [p.detach().clone() for p in [*model.parameters(), twin, other]]
    fused, ops = run(True), run(False)
    assert all(torch.equal(a, b) for a, b in zip(fused, ops))
    assert not torch.equal(fused[-1], fused[-2])
