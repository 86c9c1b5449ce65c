"""The PyTorch front end: the verified optimizers for real models (needs ``pip install -e ".[torch]"``).

- ``StoSignSGD(params, lr=1e-3, beta1=0.9, weight_decay=0.0, seed=None)``: a ``torch.optim.Optimizer``;
  ``noise="counter"`` makes it bit-identical to ``theory_bench.minimize`` in float64.
- ``sign_convert(optimizer, *, envelope="max", noise="uniform", scaled=False, beta=None, C=None, seed=None)``:
  any torch optimizer into its unbiased sign counterpart (docs/theory.md §2.2).

Nothing else in theory_bench imports torch; the testing API reaches this package only when given a
torch optimizer factory.
"""
try:
    import torch  # noqa: F401
except ImportError as err:  # pragma: no cover - the message is the point
    raise ImportError("theory_bench.torch needs PyTorch: pip install -e \".[torch]\" (on these machines "
                      "`pip install torch==2.13.0` takes the CPU build)") from err

from theory_bench.torch.sign_convert import SignConverted, sign_convert
from theory_bench.torch.stosignsgd import StoSignSGD

__all__ = ["StoSignSGD", "sign_convert", "SignConverted"]
