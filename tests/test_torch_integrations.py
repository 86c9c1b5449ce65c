"""The suite's torch optimizers in the tools that train with them, run for real: DCP's
``get/set_optimizer_state_dict`` (the FSDP2 path) and ``dcp.save/load``, transformers' ``Trainer``
(``optimizers=`` and ``optimizer_cls_and_kwargs``, warm-up from lr = 0, resume from a checkpoint), and
``torch.compile`` of a training step. Each resume is compared bit for bit with the run that did not
stop; the variant that fails (a state without the noise key) is shown to diverge. Skipped without
torch (and transformers for the Trainer)."""
import math

import pytest

torch = pytest.importorskip("torch")

from theory_bench.torch import StoSignSGD, sign_convert  # noqa: E402
from theory_bench.torch.fp8 import LowPrecisionOptimizer  # noqa: E402

MAKERS = {
    "StoSignSGD": lambda ps: StoSignSGD(ps, lr=0.05),
    "sign_convert(AdamW)": lambda ps: sign_convert(torch.optim.AdamW(ps, lr=0.05)),
    "LowPrecisionOptimizer(StoSignSGD)":
        lambda ps: LowPrecisionOptimizer(StoSignSGD(ps, lr=0.05), "fp8-bf16-state"),
}


def model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))


def train(m, opt, steps, start=0):
    for t in range(start, start + steps):
        x = torch.randn(8, 6, generator=torch.Generator().manual_seed(t))
        opt.zero_grad()
        m(x).pow(2).mean().backward()
        opt.step()


def params(m):
    return [p.detach().clone() for p in m.parameters()]


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")     # one process, on purpose
@pytest.mark.parametrize("name", list(MAKERS))
def test_dcp_saves_and_restores_a_run_bit_for_bit(name, tmp_path):
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (get_model_state_dict, get_optimizer_state_dict,
                                                         set_model_state_dict, set_optimizer_state_dict)
    straight = model()
    opt = MAKERS[name](straight.parameters())
    train(straight, opt, 8)
    first = model()
    opt1 = MAKERS[name](first.parameters())
    train(first, opt1, 4)
    dcp.save({"model": get_model_state_dict(first), "optim": get_optimizer_state_dict(first, opt1)},
             checkpoint_id=str(tmp_path))
    torch.manual_seed(99)                    # a fresh process would draw another default noise key
    second = model(seed=1)
    opt2 = MAKERS[name](second.parameters())
    state = {"model": get_model_state_dict(second), "optim": get_optimizer_state_dict(second, opt2)}
    dcp.load(state, checkpoint_id=str(tmp_path))
    set_model_state_dict(second, state["model"])
    set_optimizer_state_dict(second, opt2, state["optim"])
    train(second, opt2, 4, start=4)
    assert all(torch.equal(a, b) for a, b in zip(params(straight), params(second)))
    if name == "StoSignSGD":                  # the variant: the noise key dropped, as DCP dropped it before
        third = model(seed=1)
        opt3 = MAKERS[name](third.parameters())
        state = {"model": get_model_state_dict(third), "optim": get_optimizer_state_dict(third, opt3)}
        dcp.load(state, checkpoint_id=str(tmp_path))
        set_model_state_dict(third, state["model"])
        for g in state["optim"]["param_groups"]:
            g["noise_key"] = opt3.param_groups[0]["noise_key"]
        set_optimizer_state_dict(third, opt3, state["optim"])
        train(third, opt3, 4, start=4)
        assert not all(torch.equal(a, b) for a, b in zip(params(straight), params(third)))


def tiny_lm():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config)


class Tokens(torch.utils.data.Dataset):
    """A fixed synthetic language: each sequence counts up modulo 32 from a random start."""

    def __init__(self, n=64):
        starts = torch.randint(0, 32, (n,), generator=torch.Generator().manual_seed(0))
        self.rows = [(s + torch.arange(12)) % 32 for s in starts]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return {"input_ids": self.rows[i], "labels": self.rows[i]}


TRAINER_CASES = {
    "optimizer_cls_and_kwargs=StoSignSGD": lambda m: {"optimizer_cls_and_kwargs": (StoSignSGD, {"lr": 0.01})},
    "optimizers=sign_convert(AdamW)":
        lambda m: {"optimizers": (sign_convert(torch.optim.AdamW(m.parameters(), lr=0.01)), None)},
    "optimizers=LowPrecisionOptimizer(StoSignSGD)":
        lambda m: {"optimizers": (LowPrecisionOptimizer(StoSignSGD(m.parameters(), lr=0.01), "fp8-bf16-state"), None)},
}


@pytest.mark.parametrize("case", list(TRAINER_CASES))
def test_the_trainer_trains_from_a_warm_up_and_resumes_bit_for_bit(case, tmp_path):
    """Six steps of transformers' Trainer (linear warm-up from lr = 0 over 2 steps), checkpoints every
    3; a second Trainer resumed from checkpoint-3 ends on the same weights, bit for bit."""
    transformers = pytest.importorskip("transformers")

    def trainer(out, m):
        args = transformers.TrainingArguments(
            output_dir=str(out), max_steps=6, per_device_train_batch_size=8, save_steps=3, warmup_steps=2,
            learning_rate=0.01, logging_steps=1, report_to="none", use_cpu=True, seed=0,
            dataloader_num_workers=0, disable_tqdm=True)
        return transformers.Trainer(model=m, args=args, train_dataset=Tokens(), **TRAINER_CASES[case](m))
    m1 = tiny_lm()
    t1 = trainer(tmp_path / "a", m1)
    t1.train()
    losses = [h["loss"] for h in t1.state.log_history if "loss" in h]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    m2 = tiny_lm()
    t2 = trainer(tmp_path / "a", m2)
    t2.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-3"))
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


@pytest.mark.parametrize("name", list(MAKERS))
def test_torch_compile_traces_a_training_step_around_each_optimizer(name):
    """Dynamo (``backend="eager"``) traces the training step; the optimizer step is a graph break and
    runs eagerly: the compiled run's weights are the eager run's."""
    def run(compiled):
        m = model()
        opt = MAKERS[name](m.parameters())
        torch.manual_seed(5)

        def train_step(x):
            opt.zero_grad()
            loss = m(x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss
        step = torch.compile(train_step, backend="eager") if compiled else train_step
        for t in range(3):
            step(torch.randn(8, 6, generator=torch.Generator().manual_seed(t)))
        return params(m)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(run(False), run(True)))
