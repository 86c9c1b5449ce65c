"""The optimizers, one module per algorithm (docs/theory.md §2).

Each class validates its hyperparameters on construction and carries one numba kernel
(``Optimizer.kernel``) that the run loop of ``theory_bench.engine.minimize`` calls once per step.
``sign_convert(base, ...)`` turns SGD, heavy ball, AdaGrad, Adam or AdamW into its sign
counterpart (docs/theory.md §2.2).
"""
from theory_bench.optimizers.adagrad import AdaGrad
from theory_bench.optimizers.adam import Adam, AdamW
from theory_bench.engine.optimizer import Optimizer
from theory_bench.optimizers.ef_signsgd import EFSignSGD
from theory_bench.optimizers.lion import Lion
from theory_bench.optimizers.sgd import SGD
from theory_bench.optimizers.sign_conversion import ENVELOPES, NOISES, SignConverted, sign_convert
from theory_bench.optimizers.signsgd import SignSGD
from theory_bench.optimizers.signum import Signum
from theory_bench.optimizers.stosignsgd import StoSignSGD

ALL = (SGD, SignSGD, Signum, EFSignSGD, StoSignSGD, AdaGrad, Adam, AdamW, Lion)

__all__ = ["Optimizer", *[c.__name__ for c in ALL], "ALL", "sign_convert", "SignConverted", "ENVELOPES", "NOISES"]
