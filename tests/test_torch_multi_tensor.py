"""StoSignSGD's multi-tensor path (``theory_bench.torch.multi_tensor``) is the one-by-one step bit for
bit: for a model of tensors of many sizes, both dtypes and both forms, across a ``load_state_dict``
(which replaces the flat state) and an added param group; a non-finite gradient in a batched tensor
is named and moves nothing; the flat state is views that ``torch.save`` round-trips. Skipped without torch."""
import io

import pytest

torch = pytest.importorskip("torch")

from theory_bench.torch import StoSignSGD  # noqa: E402
from theory_bench.torch.multi_tensor import MULTI_MAX  # noqa: E402


def model(dtype):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(300, 260), torch.nn.LayerNorm(260), torch.nn.Linear(260, 3))
    return m.to(dtype)                    # 78,000 weights (one by one by default) and small tensors (batched)


def grads(params, t):
    gen = torch.Generator().manual_seed(t)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen).to(p.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("beta1", [0.0, 0.9], ids=["theory", "practical"])
def test_the_multi_tensor_path_is_the_one_by_one_step_bit_for_bit(dtype, beta1):
    runs = []
    for foreach in (None, True, False):
        m = model(dtype)
        params = list(m.parameters())
        assert params[0].numel() > MULTI_MAX > params[1].numel()
        opt = StoSignSGD(params[:4], lr=1e-3, beta1=beta1, weight_decay=0.01 * (beta1 > 0), seed=2, foreach=foreach)
        for t in range(3):
            grads(params[:4], t)
            opt.step()
        saved = opt.state_dict()
        opt = StoSignSGD(params[:4], lr=1e-3, beta1=beta1, weight_decay=0.01 * (beta1 > 0), seed=5, foreach=foreach)
        opt.load_state_dict(saved)                         # new state tensors: the flat state is rebuilt
        opt.add_param_group({"params": params[4:], "lr": 2e-3})
        for t in range(3, 6):
            grads(params, t)
            opt.step()
        runs.append(([p.detach().clone() for p in params],
                     [opt.state[p][n].clone() for p in params for n in sorted(opt.state[p])]))
    for params, state in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0][0], params))
        assert all(torch.equal(a, b) for a, b in zip(runs[0][1], state))


def test_a_non_finite_gradient_in_a_batch_is_named_and_moves_nothing():
    ps = [torch.nn.Parameter(torch.ones(5)) for _ in range(3)]
    opt = StoSignSGD(ps, lr=0.1, seed=0)
    for p in ps:
        p.grad = torch.ones(5)
    opt.step()
    before = [p.detach().clone() for p in ps]
    ps[1].grad = torch.tensor([1.0, 1.0, float("inf"), 1.0, 1.0])
    with pytest.raises(FloatingPointError, match=r"parameter 1 has a non-finite gradient at step 2 \(element 2: inf\)"):
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, ps)) and opt.t == 1


def test_the_flat_state_round_trips_through_torch_save():
    m = model(torch.float32)
    params = list(m.parameters())
    opt = StoSignSGD(params, lr=1e-3, seed=1)
    grads(params, 0)
    opt.step()
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf)
    for k, p in enumerate(params):
        for name, v in opt.state[p].items():
            assert torch.equal(loaded["state"][k][name], v) and loaded["state"][k][name].shape == v.shape
    with pytest.raises(ValueError, match="foreach must be None"):
        StoSignSGD(params, foreach="yes")
