"""A user's class by name: ``"module:Class"`` (importable) or ``"path/to/file.py:Class"`` (a file).

``load_class(target)`` imports the module, or executes the file once per process under a private
module name (``theory_bench_user_<hash of the path>``, so that two files of the same name do not
clash and worker processes load it by the same path), and returns the attribute. Every failure is
a ``ValueError`` that names the target and the fix.
"""
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path


def split_target(target):
    """``(module or file, attribute)`` of ``"a.b:C"`` or ``"dir/f.py:C"``; a ValueError if malformed."""
    if not isinstance(target, str) or ":" not in target:
        raise ValueError(f"{target!r} is not 'module:Class' or 'path/to/file.py:Class'")
    where, _, attr = target.rpartition(":")
    if not where or not attr.isidentifier():
        raise ValueError(f"{target!r} is not 'module:Class' or 'path/to/file.py:Class' (the class name "
                         f"{attr!r} is not an identifier)")
    return where, attr


def file_hash(path):
    """The SHA-256 of a file's bytes (a result store keys a file's runs by it, not only by its path)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_file(path):
    path = Path(path).resolve()
    if not path.is_file():
        raise ValueError(f"no file {str(path)!r}: give the path of a Python file, e.g. ./my_optimizer.py:MyOpt")
    name = "theory_bench_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise ValueError(f"importing {str(path)!r} raised {type(err).__name__}: {err}; fix the file "
                         "(it is run as a module, with its folder not on sys.path)") from err
    return module


def load_class(target):
    """The attribute ``target`` names; a ValueError naming what failed and the fix."""
    where, attr = split_target(target)
    if where.endswith(".py"):
        module = _load_file(where)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as err:
            raise ValueError(f"cannot import {where!r} for {target!r} ({err}); install the package that provides "
                             "it, or give a file: path/to/file.py:Class") from None
    if not hasattr(module, attr):
        found = sorted(n for n in vars(module) if not n.startswith("_") and isinstance(getattr(module, n), type))
        raise ValueError(f"{where!r} has no {attr!r}" + (f"; its classes: {', '.join(found[:20])}" if found else ""))
    return getattr(module, attr)
