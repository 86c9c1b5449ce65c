"""The optimizers the torch experiments and ``theory-bench finetune`` compare, by name.

``make(name, params, lr, seed)``: AdamW (``torch.optim.AdamW``, defaults), SignSGD
(``pytorch_optimizer.SignSGD(momentum=0)``), Lion (``lion_pytorch.Lion``, defaults) and StoSignSGD
(``theory_bench.torch.StoSignSGD(beta1=0.9)``, the practical form, its noise seeded by ``seed``).
SignSGD and Lion need the ``zoo`` extra (``pip install -e '.[zoo]'``).
"""
import torch

from theory_bench.torch.stosignsgd import StoSignSGD


def _adamw(params, lr, seed):
    return torch.optim.AdamW(params, lr=lr)


def _signsgd(params, lr, seed):
    from pytorch_optimizer import SignSGD
    return SignSGD(params, lr=lr, momentum=0.0)


def _lion(params, lr, seed):
    from lion_pytorch import Lion
    return Lion(params, lr=lr)


def _stosign(params, lr, seed):
    return StoSignSGD(params, lr=lr, beta1=0.9, seed=seed)


OPTIMIZERS = {"AdamW": _adamw, "SignSGD": _signsgd, "Lion": _lion, "StoSignSGD": _stosign}
LABELS = {"AdamW": "torch.optim.AdamW (defaults)", "SignSGD": "pytorch_optimizer.SignSGD(momentum=0)",
          "Lion": "lion_pytorch.Lion (defaults)", "StoSignSGD": "theory_bench.torch.StoSignSGD(beta1=0.9)"}


def make(name, params, lr, seed=0):
    """The optimizer ``name`` (one of ``OPTIMIZERS``) over ``params`` at peak ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, seed)
