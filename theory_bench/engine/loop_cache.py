"""Compile ``run_loop.run_horizon`` once per (oracle, optimizer kernel) and keep it on disk.

Numba cannot cache a function that receives another jitted function as an argument across
processes (the argument's type is keyed by its address), and closures over jitted functions
miss the cache too. So for an oracle that can be imported by name, this module writes a small
generated module whose globals ``GRAD`` and ``STEP`` are imported from where they live and
whose body is the source of ``run_horizon``, compiled with ``cache=True``. The file name is a
hash of that source, of the oracle's and kernel's module files and of the numba version, so
editing any of them gives a new file instead of a stale cache.

The files go to ``loops/`` under ``theory_bench.engine.cache_dir.cache_root``; deleting it is safe.
"""
import importlib
import sys
import types

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from theory_bench.engine import run_loop
from theory_bench.engine.codegen import compile_bound

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


def loop_for(grad, step, template=run_loop.run_horizon):
    """The loop ``template`` bound to ``grad`` and ``step``, and how it runs: 'jit-cached', 'jit' or
    'python' (a plain Python ``grad`` or ``step``). A template is any loop written against the
    globals ``GRAD`` and ``STEP`` of its module: ``run_loop.run_horizon`` (the default),
    ``run_loop.run_user_horizon``, ``precision_loop.run_precision_horizon``."""
    memo = (grad, step, template.__name__)
    if memo not in _LOADED:
        _LOADED[memo] = _build(grad, step, template)
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


def _build(grad, step, template):
    return bound_loop(template, {"GRAD": grad, "STEP": step})


def bind(template, functions):
    """``template`` with the globals ``functions`` (name -> function) bound, as plain Python."""
    scope = dict(vars(sys.modules[template.__module__]), **functions)
    return types.FunctionType(template.__code__, scope, template.__name__)
