"""A torch optimizer factory as an optimizer of the engine's protocol, for ``theory_bench.testing``.

``TorchFactory(factory)``: ``factory(params)`` returns a ``torch.optim.Optimizer`` (or an
``(optimizer, scheduler)`` pair, the scheduler stepped once per iteration), e.g.
``functools.partial(torch.optim.AdamW, lr=1e-2)``. ``init(x0)`` makes one float64 parameter and
calls the factory; ``step(x, g, state, t, rng)`` sets the parameter to ``x`` and its gradient to
the problem's (numba) oracle's ``g``, steps the optimizer (and the scheduler) and returns the new
parameter. The engine's protocol loop does the rest: box, averaging, checks and messages.

Each run seeds the optimizer's randomness from its own stream: at the first step a seed is drawn
from the run's Generator for ``torch.manual_seed`` and, for ``theory_bench.torch`` optimizers,
their sign noise (``reseed``). Without it every seed of a check would share one noise stream.
"""
import functools
import warnings

import numpy as np
import torch


def factory_name(factory):
    """``AdamW(lr=0.01)`` for ``partial(torch.optim.AdamW, lr=0.01)``; the callable's name otherwise."""
    if isinstance(factory, functools.partial):
        args = ", ".join([*map(repr, factory.args), *(f"{k}={v!r}" for k, v in factory.keywords.items())])
        return f"{factory_name(factory.func)}({args})"
    return getattr(factory, "__name__", type(factory).__name__)


def _describe(v):
    return f"{type(v).__module__}.{type(v).__name__} {v!r}"[:160]


class TorchFactory:
    """The engine's protocol (``init``, ``step``) around a factory of torch optimizers."""

    def __init__(self, factory):
        self.factory = factory
        self.name = factory_name(factory)

    def init(self, x0):
        p = torch.nn.Parameter(torch.tensor(np.asarray(x0, dtype=np.float64)))
        out = self.factory([p])
        opt, sched = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError(f"the factory {self.name} must return a torch.optim.Optimizer or an (optimizer, "
                             f"scheduler) pair when called with a list of parameters, got {_describe(out)}")
        if sched is not None and not callable(getattr(sched, "step", None)):
            raise ValueError(f"the scheduler returned by {self.name} has no step(), got {_describe(sched)}")
        return [p, opt, sched]

    def step(self, x, g, state, t, rng):
        p, opt, sched = state
        if t == 1:
            seed = int(rng.integers(2 ** 62))
            torch.manual_seed(seed)
            if callable(getattr(opt, "reseed", None)):
                opt.reseed(seed)
        p.data = torch.from_numpy(x)            # the loop's iterate, shared: the loop copies what step returns
        p.grad = torch.from_numpy(g)            # the oracle's fresh array, not read again by the loop
        opt.step()
        if sched is not None:
            with warnings.catch_warnings():       # a false alarm after the protocol's probe step on deep copies
                warnings.filterwarnings("ignore", message="Seems like `optimizer.step\\(\\)` has been overridden")
                sched.step()
        return p.detach().numpy().reshape(-1)   # a changed shape or dtype is the loop's error to report


def inv_sqrt_factor(step):
    """``1 / sqrt(t)`` for ``LambdaLR``, whose ``step`` counts from 0 (``t = step + 1``)."""
    return 1.0 / np.sqrt(step + 1.0)


def named_factory(path, *, lr, schedule="inv_sqrt", low_precision=None, **kw):
    """A factory of the optimizer class at ``path`` (``"torch.optim:AdamW"``, ``"lion_pytorch:Lion"``, or a
    file, ``"path/to/file.py:MyOpt"``) with ``lr`` and ``kw``; ``schedule="inv_sqrt"`` pairs it with
    ``LambdaLR`` at ``lr / sqrt(t)``, ``"constant"`` with none. ``low_precision={"state": ..., "weights":
    ...}`` wraps it in ``LowPrecisionOptimizer`` with those formats (nearest rounding, no scaling).
    A name, not a closure, so that a run's configuration is plain JSON."""
    from theory_bench.engine.user_code import load_class
    if schedule not in ("inv_sqrt", "constant"):
        raise ValueError(f"schedule must be 'inv_sqrt' or 'constant', got {schedule!r}")
    try:
        make = load_class(path)
    except ValueError as err:
        raise ValueError(f"cannot import the optimizer {path!r} ({err}); install its package (the zoo extra: "
                         "pip install -e '.[zoo]') or give 'module:Class'") from None
    recipe = None
    if low_precision is not None:
        from theory_bench.torch.recipe import Recipe
        recipe = Recipe(inputs="fp32", grads="fp32", state_scaling="none", scaling="none", **low_precision)

    def factory(params):
        opt = make(params, lr=lr, **kw)
        if recipe is not None:
            from theory_bench.torch.low_precision import LowPrecisionOptimizer
            opt = LowPrecisionOptimizer(opt, recipe)
        return (opt, torch.optim.lr_scheduler.LambdaLR(opt, inv_sqrt_factor)) if schedule == "inv_sqrt" else opt
    cls = path.rpartition(":")[2]
    factory.__name__ = (f"{cls}(lr={lr:g}" + "".join(f", {k}={v!r}" for k, v in kw.items()) + f", {schedule})"
                        + ("" if recipe is None else f" in {recipe.state} state, {recipe.weights} weights"))
    return TorchFactory(factory)
