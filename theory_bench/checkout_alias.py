"""``import problems`` and ``import experiments`` in a checkout: the installed packages, not copies.

The folders ``problems/`` and ``experiments/`` sit at the top of the repository but are installed
as ``theory_bench.problems`` and ``theory_bench.experiments`` (docs/architecture.md). From the
repository root Python also finds them under their short names; each package's ``__init__``
then calls ``alias`` so that ``problems`` *is* ``theory_bench.problems`` (same module objects,
same classes, same compiled oracles) instead of a second copy of every module.
"""
import importlib
import importlib.abc
import importlib.util
import pkgutil
import sys


class _Existing(importlib.abc.Loader):
    """Loads a module that is already imported under its installed name."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    """``short.<sub>`` imported later (one that needs an optional package, say) is ``full.<sub>``."""

    def __init__(self, short, full):
        self.short, self.full = short, full

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(self.short + "."):
            return None
        module = importlib.import_module(self.full + name[len(self.short):])
        return importlib.util.spec_from_loader(name, _Existing(module))


def alias(short, full):
    """Make ``short`` and every ``short.<sub>`` the modules ``full`` and ``full.<sub>``. A submodule
    whose optional package (torch) is not installed is left out, and raises that package's
    ModuleNotFoundError when it is imported, under either name."""
    try:
        package = importlib.import_module(full)
    except ModuleNotFoundError as err:
        raise ImportError(f"{short!r} is the checkout folder of {full!r}, which is not installed; "
                          "run `pip install -e .` in the repository root") from err
    for info in pkgutil.iter_modules(package.__path__):
        try:
            importlib.import_module(f"{full}.{info.name}")
        except ModuleNotFoundError as err:
            if (err.name or "").startswith(("theory_bench", short)):
                raise
    for name, module in list(sys.modules.items()):
        if name == full or name.startswith(full + "."):
            sys.modules[short + name[len(full):]] = module
    if not any(isinstance(f, _AliasFinder) and f.short == short for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder(short, full))
    return package
