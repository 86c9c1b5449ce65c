"""``import problems`` and ``import experiments`` in a checkout: the installed packages, not copies.

The folders ``problems/`` and ``experiments/`` sit at the top of the repository but are installed
as ``theory_bench.problems`` and ``theory_bench.experiments`` (docs/architecture.md). From the
repository root Python also finds them under their short names; each package's ``__init__``
then calls ``alias`` so that ``problems`` *is* ``theory_bench.problems`` (same module objects,
same classes, same compiled oracles) instead of a second copy of every module.
"""
import importlib
import pkgutil
import sys


def alias(short, full):
    """Make ``short`` and every ``short.<sub>`` the modules ``full`` and ``full.<sub>``."""
    try:
        package = importlib.import_module(full)
    except ModuleNotFoundError as err:
        raise ImportError(f"{short!r} is the checkout folder of {full!r}, which is not installed; "
                          "run `pip install -e .` in the repository root") from err
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{full}.{info.name}")
    for name, module in list(sys.modules.items()):
        if name == full or name.startswith(full + "."):
            sys.modules[short + name[len(full):]] = module
    return package
