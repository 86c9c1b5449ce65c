"""Compile the run loop once per oracle and keep it on disk; the optimizer's kernel is its argument.

Numba cannot cache a function that receives another jitted function as an argument across
processes (the argument's type is keyed by its address), and closures over jitted functions
miss the cache too. So for an oracle that can be imported by name, this module writes a small
generated module whose global ``GRAD`` is imported from where the oracle lives and whose body is
the source of the loop, compiled with ``cache=True`` (``theory_bench.engine.codegen``). The file
name is a hash of that source, of the oracle's module file and of the numba version, so editing
any of them gives a new file instead of a stale cache.

The kernel is not bound: the loops ``run_loop.run_horizon`` and ``precision_loop.run_precision_horizon``
take it as their first argument, typed as a first-class function of the one kernel signature
(``kernel_argument.KERNEL_SIGNATURE``), so one compiled loop serves every kernel and a new optimizer costs the
compile of its kernel (about 0.1 s) instead of one loop per (oracle, kernel) (about 2 s):
``theory_bench.engine.kernel_argument``. The call through a pointer costs nothing (``theory_bench.bench.kernel_pointer_ratio``).
A loop whose arguments do not fit that signature (an oracle that returns a strided or read-only
array) is compiled for the kernel itself, as before. ``run_loop.run_user_horizon`` (a user's
optimizer, any signature) keeps its ``STEP`` bound as a global.

The files go to ``loops/`` under ``theory_bench.engine.cache_dir.cache_root``; deleting it is safe.
"""
import functools
import importlib
import inspect
import sys
import types

import numba
import numpy as np
from numba.core import types as nbt
from numba.core.registry import CPUDispatcher

from theory_bench.engine import run_loop
from theory_bench.engine.codegen import compile_bound
from theory_bench.engine.kernel_argument import ROWS, VECTOR, KernelArgument

_LOADED = {}


def is_jitted(f):
    return isinstance(f, CPUDispatcher)


def importable_name(f):
    """``(module, qualname)`` when ``f`` can be imported back by name as the same object, else None."""
    py = getattr(f, "py_func", f)
    mod, qual = getattr(py, "__module__", None), getattr(py, "__qualname__", "")
    if not mod or mod == "__main__" or "<" in qual:
        return None
    try:
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return (mod, qual) if obj is f else None


# The run loops pass these arguments to the kernel unchanged: the iterate, the state, the hyperparameters, the key.
KERNEL_ARGUMENTS = {1: VECTOR, 3: ROWS, 4: VECTOR, 5: nbt.uint64}


@functools.lru_cache(maxsize=None)      # asked on every run: inspect once per template
def takes_kernel(template):
    """Whether ``template`` takes the optimizer's kernel as its first argument ``step``."""
    return next(iter(inspect.signature(template).parameters)) == "step"


def memo_key(grad, step, template=run_loop.run_horizon):
    """What ``loop_for`` keeps a loop under: one per oracle for a template that takes the kernel as its
    argument (whether the kernel is jitted decides the path), one per (oracle, kernel) otherwise."""
    return (grad, is_jitted(step) if takes_kernel(template) else step, template.__name__)


def loop_for(grad, step, template=run_loop.run_horizon):
    """The loop ``template`` bound to ``grad`` (and to ``step`` when the template reads it as the
    global ``STEP``), and how it runs: 'jit-cached', 'jit' or 'python' (a plain Python ``grad`` or
    ``step``). A template is any loop written against the global ``GRAD`` of its module:
    ``run_loop.run_horizon`` (the default) and ``precision_loop.run_precision_horizon`` take the
    kernel as their first argument (call them with it), ``run_loop.run_user_horizon`` binds ``STEP``."""
    memo, kernel_argument = memo_key(grad, step, template), takes_kernel(template)
    if memo not in _LOADED:
        # A loop that takes the kernel as its argument binds only GRAD; STEP is bound (unread) where the
        # kernel is plain Python, so that bound_loop takes the Python path as for a plain Python oracle.
        functions = {"GRAD": grad} if kernel_argument and is_jitted(step) else {"GRAD": grad, "STEP": step}
        loop, path = bound_loop(template, functions)
        if kernel_argument and path != "python":
            loop = KernelArgument(loop, fixed=KERNEL_ARGUMENTS)
        _LOADED[memo] = loop, path
    return _LOADED[memo]


def bound_loop(template, functions):
    """``template`` with its globals bound to the jitted ``functions`` (global name -> function), and
    how it runs: 'jit-cached' when every function is importable by name (a generated module numba
    caches), else 'jit'; 'python' when one of them is plain Python."""
    if not all(is_jitted(f) for f in functions.values()):
        if "GRAD" in functions and not is_jitted(functions["GRAD"]):
            functions = dict(functions, GRAD=checked_oracle(functions["GRAD"]))
        return bind(template, functions), "python"
    names = {g: importable_name(f) for g, f in functions.items()}
    if None in names.values():
        return numba.njit(bind(template, functions)), "jit"
    return compile_bound(template, names, prefix="tb_loop", subdir="loops"), "jit-cached"


def checked_oracle(grad):
    """A plain Python oracle whose every output is checked as the probe checks the first: the
    loop's compiled helpers take a 1-D float64 array, and a list, a scalar or another dtype returned
    mid-run must be a ValueError that says so, not a numba typing error."""
    def checked(x, rng, *args):
        g = grad(x, rng, *args)
        if not isinstance(g, np.ndarray) or g.dtype != np.float64 or g.ndim != 1:
            got = (f"an ndarray of shape {g.shape} and dtype {g.dtype}" if isinstance(g, np.ndarray)
                   else f"{type(g).__name__} {g!r:.60}")
            raise ValueError(f"grad must return a 1-D float64 ndarray at every step, got {got} during the run "
                             "(the first call returned one); return np.asarray(g, dtype=np.float64)")
        return g
    return checked


def bind(template, functions):
    """``template`` with the globals ``functions`` (name -> function) bound, as plain Python."""
    scope = dict(vars(sys.modules[template.__module__]), **functions)
    return types.FunctionType(template.__code__, scope, template.__name__)
