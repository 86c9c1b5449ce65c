"""``sign_convert``: any base optimizer of ours -> its unbiased sign counterpart (docs/theory.md §2.2).

The base proposes a direction ``u_t`` (SGD: ``g``; heavy ball: ``m``; AdaGrad:
``g / (sqrt(sum g^2) + eps)``; Adam and AdamW: ``m_hat / (sqrt(v_hat) + eps)``); the converted
optimizer keeps an envelope ``B_t >= |u_t|`` and steps ``x <- x - eta_t sign(u_t + B_t n_t)``, so
its expected step is ``eta_t u_t / B_t``, one bit per coordinate. The ablation axes are switches:

- ``envelope``: ``"max"`` (running max, StoSignSGD's ``G``), ``"decayed_max"``
  (``B <- max(beta B, |u|)``), ``"constant"`` (``C``; unbiased only while ``C >= |u|``),
  ``"current"`` (``|u_t|``: plain sign), ``"norm_inf"`` (``||u_t||_inf``, Jin et al.) and
  ``"norm_2"`` (``||u_t||_2``, Safaryan and Richtarik);
- ``noise``: ``"uniform"`` (unbiased), ``"gaussian"`` (``E = erf(u / (sqrt(2) B))``, biased),
  ``"none"`` (plain sign);
- ``scaled``: step ``B_t sign(...)`` (expected step ``eta_t u_t``, no longer one bit).

``sign_convert(SGD(lr))`` is StoSignSGD's theory form and ``sign_convert(SGD(lr, momentum=b))``
its practical form (without weight decay), bit for bit. Each variant is compiled once into its own
kernel (``theory_bench.engine.codegen``), cached on disk, as fast as the hand-written one.
"""
import numpy as np

from theory_bench.engine.codegen import compile_bound
from theory_bench.optimizers import sign_kernels as K
from theory_bench.engine.optimizer import Optimizer, _finite

ENVELOPES = ("max", "decayed_max", "constant", "current", "norm_inf", "norm_2")
NOISES = ("uniform", "gaussian", "none")
SCALAR_ENVELOPES = ("norm_inf", "norm_2")
DEFAULT_BETA = 0.999
CONVERTIBLE = "SGD (with or without heavy-ball momentum), AdaGrad, Adam, AdamW"


def sign_convert(base, *, envelope="max", noise="uniform", scaled=False, beta=None, C=None):
    """The sign counterpart of ``base`` (an ``SGD``, ``AdaGrad``, ``Adam`` or ``AdamW``), same
    ``lr`` and schedule. ``beta`` (default 0.999) goes with ``envelope="decayed_max"`` and ``C``
    (required) with ``envelope="constant"``; see the module docstring for the switches."""
    return SignConverted(base, envelope=envelope, noise=noise, scaled=scaled, beta=beta, C=C)


class SignConverted(Optimizer):
    """A base optimizer's direction through a stochastic sign; built by ``sign_convert``."""

    summary = "sign conversion of a base optimizer: sign(u + B n), B an envelope of its direction u"

    def __init__(self, base, *, envelope="max", noise="uniform", scaled=False, beta=None, C=None):
        parts = _direction_of(base)
        self.base = base
        self.envelope, self.noise, self.scaled, self.beta, self.C = check_switches(envelope, noise, scaled, beta, C)
        self.lr, self.schedule = base.lr, base.schedule
        self.formula = parts.formula
        self.state_names = (*parts.state_names, "G")
        self.hyper_names = (*base.hyper_names, "beta", "C")
        self.name = f"sign({base.name})"
        self.kernel = _kernel(parts, len(base.hyper_names), self.envelope, self.noise, scaled)

    @property
    def hyper(self):
        """The base's hyperparameters, then ``beta`` (1 when unused) and ``C`` (0 when unused)."""
        extra = [1.0 if self.beta is None else self.beta, 0.0 if self.C is None else self.C]
        return np.array(self.base.hyper.tolist() + extra, dtype=np.float64)

    def bits_per_coordinate(self, d):
        """What a worker sends per coordinate per step so that a server can apply the step in
        dimension ``d``: one sign bit, plus a float64 envelope when scaled (one per coordinate, or
        one per vector for the scalar envelopes; none for a constant both sides know)."""
        if not self.scaled or self.envelope == "constant":
            return 1.0
        return 1.0 + 64.0 / d if self.envelope in SCALAR_ENVELOPES else 65.0

    def config(self):
        base = {f"base_{k}": v for k, v in self.base.config().items() if k not in ("lr", "schedule")}
        return {"optimizer": self.name, "lr": self.lr, "schedule": self.schedule_name(), **base,
                "envelope": self.envelope, "noise": self.noise, "scaled": self.scaled,
                "beta": self.beta, "C": self.C}

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in (("beta", self.beta), ("C", self.C)) if v is not None)
        return (f"sign_convert({self.base!r}, envelope={self.envelope!r}, noise={self.noise!r}, "
                f"scaled={self.scaled!r}{extra})")

    def __reduce__(self):  # the kernel lives in a generated module: rebuild it from the switches
        return (_rebuild, (self.base, self.envelope, self.noise, self.scaled, self.beta, self.C))


def check_switches(envelope, noise, scaled, beta, C):
    """The switches of a sign conversion, checked: ``(envelope, noise, scaled, beta, C)`` with
    ``beta`` defaulted for ``decayed_max``; a ValueError naming the value and the fix otherwise.
    Shared by ``theory_bench.torch.sign_convert``."""
    envelope, noise = _choice("envelope", envelope, ENVELOPES), _choice("noise", noise, NOISES)
    if not isinstance(scaled, bool):
        raise ValueError(f"scaled must be True or False, got {scaled!r}")
    return envelope, noise, scaled, _beta(beta, envelope), _constant(C, envelope)


def _rebuild(base, envelope, noise, scaled, beta, C):
    return SignConverted(base, envelope=envelope, noise=noise, scaled=scaled, beta=beta, C=C)


def _direction_of(base):
    if not isinstance(base, Optimizer):
        raise ValueError(f"sign_convert takes an optimizer instance ({CONVERTIBLE}), got {base!r}; "
                         "e.g. sign_convert(SGD(lr=0.1))")
    direction = getattr(base, "direction", None)
    if direction is None:
        raise ValueError(f"sign_convert cannot convert {base.name}: it has no real-valued direction to take "
                         f"the sign of (it is already a sign method or keeps its own); convertible: {CONVERTIBLE}")
    return direction()


def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def _applies(name, value, envelope, owner):
    """Whether the switch ``name`` is used (``envelope == owner``); an error if it is set in vain."""
    if envelope == owner:
        return True
    if value is not None:
        raise ValueError(f"{name}={value!r} only applies to envelope={owner!r}, got envelope={envelope!r}; "
                         f"drop {name} or set envelope={owner!r}")
    return False


def _beta(beta, envelope):
    if not _applies("beta", beta, envelope, "decayed_max"):
        return None
    b = DEFAULT_BETA if beta is None else _finite("beta", beta)
    if not 0.0 < b <= 1.0:
        raise ValueError(f"beta must be in (0, 1] (beta=1 is the running max), got {beta!r}")
    return b


def _constant(C, envelope):
    if not _applies("C", C, envelope, "constant"):
        return None
    if C is None:
        raise ValueError("envelope='constant' needs C > 0, an upper bound of |u| (unbiased only while C >= |u|); "
                         "e.g. C=L for SGD with gradients bounded by L")
    c = _finite("C", C)
    if c <= 0:
        raise ValueError(f"C must be > 0 (the constant envelope, at least |u| for unbiasedness), got {C!r}")
    return c


def _name_of(f):
    py = f.py_func
    return py.__module__, py.__qualname__


_KERNELS = {}


def _kernel(parts, nb, envelope, noise, scaled):
    memo = (parts.direction, parts.prep, parts.decay, nb, len(parts.state_names), envelope, noise, scaled)
    if memo not in _KERNELS:
        functions = {"PREP": _name_of(parts.prep), "DIRECTION": _name_of(parts.direction),
                     "DECAY": _name_of(parts.decay), "NOISE": _name_of(getattr(K, f"noise_{noise}"))}
        if envelope in SCALAR_ENVELOPES:
            template = K.vector_step
            functions["NORM_ADD"] = _name_of(getattr(K, f"{envelope}_add"))
            functions["NORM_END"] = _name_of(getattr(K, f"{envelope}_end"))
        else:
            template = K.coordinate_step
            functions["ENVELOPE"] = _name_of(getattr(K, f"envelope_{envelope}"))
        constants = {"NB": nb, "ROW_B": len(parts.state_names), "SCALED": scaled}
        _KERNELS[memo] = compile_bound(template, functions, constants, prefix="tb_sign", subdir="kernels",
                                       jit_options={"error_model": "numpy"})
    return _KERNELS[memo]
