"""An optimizer around another: a ``torch.optim.Optimizer`` that shares its base's ``param_groups``,
``state`` and ``defaults`` (the same objects), so that LR schedulers, transformers' ``Trainer``,
step hooks, ``add_param_group`` and checkpointing take ``sign_convert(...)`` and
``LowPrecisionOptimizer(...)`` as they take torch's own optimizers.

What a wrapper keeps for a resume lives in the shared ``state`` (per-parameter tensors) and
``param_groups`` (counters, keys), so ``state_dict()`` is the base's, in torch's format, and DCP
restores it. The base's step is called without torch's step hooks (its global hooks would fire
inside the wrapper's step, before it has finished): hooks on the wrapper, and global ones, fire
once, around the whole step; hooks registered on the base fire inside it, as before.
"""
import torch

from theory_bench.torch.state_checks import check_saved_state


def unhooked_step(base, closure):
    """``base.step(closure)`` without torch's global step hooks (its own instance hooks still fire)."""
    step = type(base).step
    raw = step.__wrapped__ if getattr(step, "hooked", False) and hasattr(step, "__wrapped__") else None
    if raw is None:
        return base.step(closure)
    args, kwargs = (base, closure), {}
    for hook in base._optimizer_step_pre_hooks.values():
        result = hook(base, args, kwargs)
        if result is not None:
            args, kwargs = result
    out = raw(*args, **kwargs)
    if hasattr(base, "_opt_called"):        # an LR scheduler built on the base counts its steps by this flag
        base._opt_called = True
    for hook in base._optimizer_step_post_hooks.values():
        hook(base, args, kwargs)
    return out


class WrappedOptimizer(torch.optim.Optimizer):
    """The ``torch.optim.Optimizer`` plumbing of a wrapper around ``base``."""

    OWN = ()          # the names of the wrapper's own per-parameter state entries, checked at load

    def __init__(self, base, who):
        if not isinstance(base, torch.optim.Optimizer):
            raise ValueError(f"{who} wraps a torch.optim.Optimizer instance, got {type(base).__name__}: {base!r}; "
                             "e.g. " + who + "(torch.optim.AdamW(model.parameters(), lr=1e-3))")
        self._who = who
        super().__init__(base.param_groups, base.defaults)     # torch's hooks and bookkeeping; groups re-read below
        self.base = base
        self._share()

    def _share(self):
        self.param_groups, self.state, self.defaults = self.base.param_groups, self.base.state, self.base.defaults

    def add_param_group(self, param_group):
        if "base" not in self.__dict__:                     # torch's __init__ registering the base's groups
            return super().add_param_group(param_group)
        self.base.add_param_group(param_group)
        self.init_group(self.param_groups[-1])

    def init_group(self, group):
        """Fill in a new param group's entries of the wrapper (counters, keys); nothing by default."""

    def zero_grad(self, set_to_none=True):
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        """The base's ``state_dict`` (torch's format; the wrapper's entries are in its state and groups)."""
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        out = self.base.state_dict()
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, out)
            if result is not None:
                out = result
        return out

    def load_state_dict(self, state_dict):
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        if not (isinstance(state_dict, dict) and {"state", "param_groups"} <= set(state_dict)):
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{self._who}: this state_dict is not in torch's format (keys 'state', 'param_groups'), "
                             f"got {got}; it was not saved by this optimizer (theory-bench before 0.9 saved its "
                             "wrappers in their own format: resume those with the version that saved them)")
        check_saved_state(state_dict, self.param_groups, self._who, only=self.OWN)
        self.base.load_state_dict(state_dict)
        self._share()                                       # torch's load replaces the base's groups and state
        for group in self.param_groups:
            self.init_group(group)
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        return f"{self._who}({self.base!r})"
