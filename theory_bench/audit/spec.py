"""What is audited: ``SPEC`` and ``--kwargs`` read, checked and turned into the runs' optimizer names.

``SPEC`` is ``torch:module:Class`` (a ``torch.optim.Optimizer`` class), ``path/to/file.py:Class`` (a
torch optimizer or a class of the numpy protocol, ``init(x0) -> state`` and
``step(x, g, state, t, rng) -> x``, in a user's file), or a built-in name (``StoSignSGD``; ``theory-bench
list``). ``read_spec`` checks all of it before anything runs or is written: the import, the JSON
of the keywords, that the class takes them (it builds one), and that it follows one of the two
protocols. Each failure is an ``AuditInputError`` (a ValueError: exit status 2) naming the value
and the fix.
"""
import json
from dataclasses import dataclass, field

import numpy as np

from theory_bench.engine.user_code import file_hash, load_class, split_target


class AuditInputError(ValueError):
    """SPEC, ``--kwargs`` or ``--lr`` cannot be audited; the message says why and what to give instead."""


@dataclass
class Audited:
    spec: str                 # as given
    kind: str                 # "torch", "numpy" (a user's protocol class) or "builtin"
    optimizer: str            # the runs' optimizer name (experiments.runs.make_optimizer)
    kwargs: dict = field(default_factory=dict)
    source_sha256: str | None = None       # a file's, so that a changed file never reads stale stored runs
    cls: object = None

    @property
    def sign_operator(self):
        op = getattr(self.cls, "sign_operator", None)
        return op if callable(op) else None

    def opt_kw(self, lr, low_precision=None):
        kw = {"lr": float(lr), **self.kwargs}
        if low_precision is not None:
            kw["low_precision"] = dict(low_precision)
        return kw


def parse_kwargs(text):
    """``--kwargs`` as a dict; an AuditInputError unless it is a JSON object."""
    if text is None:
        return {}
    try:
        kw = json.loads(text)
    except json.JSONDecodeError as err:
        raise AuditInputError(f"--kwargs {text!r} is not JSON ({err.msg} at column {err.colno}); give an object "
                              "such as --kwargs '{\"betas\": [0.9, 0.99]}'") from None
    if not isinstance(kw, dict):
        raise AuditInputError(f"--kwargs {text!r} is JSON but not an object; give keyword arguments as "
                              "--kwargs '{\"name\": value}'")
    if "lr" in kw:
        raise AuditInputError(f"--kwargs {text!r} sets lr, which the audit tunes on its grid; give learning rates "
                              "with --lr LR [LR ...]")
    return kw


def check_lrs(lrs):
    if lrs is None:
        return None
    bad = [v for v in lrs if not (np.isfinite(v) and v > 0)]
    if bad or not lrs:
        raise AuditInputError(f"--lr takes finite learning rates > 0, got {list(lrs)}; e.g. --lr 0.01 0.1 1")
    return sorted(set(float(v) for v in lrs))


def _is_torch_optimizer_class(cls):
    if not isinstance(cls, type):
        return False
    try:
        import torch
    except ImportError:
        return False
    return issubclass(cls, torch.optim.Optimizer)


def _torch_probe(cls, kwargs, spec):
    import torch
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    try:
        opt = cls([p], lr=0.1, **kwargs)
    except TypeError as err:
        raise AuditInputError(f"{spec} does not accept --kwargs {json.dumps(kwargs)} ({err}); give keywords its "
                              "constructor takes (lr is the audit's)") from None
    except ValueError as err:
        raise AuditInputError(f"{spec} refused --kwargs {json.dumps(kwargs)}: {err}") from None
    p.grad = torch.ones_like(p)
    try:
        opt.step()
    except Exception as err:
        raise AuditInputError(f"{spec}: one step on a float64 parameter raised {type(err).__name__}: {err}; the "
                              "battery's problems are float64 vectors with dense gradients") from None


def _numpy_probe(cls, kwargs, spec):
    try:
        opt = cls(lr=0.1, **kwargs)
    except TypeError as err:
        raise AuditInputError(f"{spec} cannot be built as {cls.__name__}(lr=..., **kwargs) with --kwargs "
                              f"{json.dumps(kwargs)} ({err}); a numpy-protocol class takes lr as a keyword") from None
    missing = [m for m in ("init", "step") if not callable(getattr(opt, m, None))]
    if missing:
        raise AuditInputError(f"{spec} follows neither protocol: it is not a torch.optim.Optimizer and has no "
                              f"callable {' or '.join(missing)}; write init(x0) -> state and "
                              "step(x, g, state, t, rng) -> x, or subclass torch.optim.Optimizer")


def read_spec(spec, kwargs_text=None):
    """The ``Audited`` of ``SPEC`` with ``--kwargs``, checked; an AuditInputError otherwise."""
    from theory_bench.experiments.runs import OPTIMIZERS
    kwargs = parse_kwargs(kwargs_text)
    if spec in OPTIMIZERS and spec != "sign_convert":
        cls = OPTIMIZERS[spec]
        try:
            cls(lr=0.1, **kwargs)
        except (TypeError, ValueError) as err:
            raise AuditInputError(f"the built-in {spec} does not take --kwargs {json.dumps(kwargs)} ({err})") from None
        return Audited(spec, "builtin", spec, kwargs, cls=getattr(cls, "__self__", cls))
    if spec.startswith("torch:"):
        target = spec[len("torch:"):]
        try:
            import torch  # noqa: F401
        except ImportError:
            raise AuditInputError(f"{spec} needs torch: pip install torch==2.13.0") from None
    else:
        target = spec
    try:
        where, attr = split_target(target)
    except ValueError:
        known = ", ".join(n for n in OPTIMIZERS if n != "sign_convert")
        raise AuditInputError(f"SPEC {spec!r} is none of torch:module:Class, path/to/file.py:Class or a built-in "
                              f"name ({known})") from None
    is_file = where.endswith(".py")
    if not spec.startswith("torch:") and not is_file:
        raise AuditInputError(f"SPEC {spec!r}: an importable class is audited as torch:{target} (a torch optimizer); "
                              "a numpy-protocol class as path/to/file.py:Class")
    try:
        cls = load_class(target)
    except ValueError as err:
        raise AuditInputError(f"SPEC {spec!r}: {err}") from None
    sha = None
    if is_file:
        from pathlib import Path
        sha = file_hash(where)
        target = f"{Path(where).resolve()}:{attr}"          # worker processes load it by the same path
    if _is_torch_optimizer_class(cls):
        _torch_probe(cls, kwargs, spec)
        return Audited(spec, "torch", "torch:" + target, kwargs, sha, cls)
    if spec.startswith("torch:"):
        raise AuditInputError(f"SPEC {spec!r} is not a torch.optim.Optimizer subclass (got {cls!r}); a class of the "
                              "numpy protocol is audited from its file: path/to/file.py:Class")
    if not isinstance(cls, type):
        raise AuditInputError(f"SPEC {spec!r} names {type(cls).__name__} {cls!r}, not a class")
    _numpy_probe(cls, kwargs, spec)
    return Audited(spec, "numpy", "file:" + target, kwargs, sha, cls)
