"""The layout by role, checked from the source (docs/architecture.md): no import cycles, the arrows
point one way (front doors and the audit -> experiments -> workloads -> problems -> torch -> results -> analysis -> optimizers
-> engine), the packages pyproject installs are the packages in the tree, and ``import problems``
in a checkout is the installed package, not a copy."""
import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> the package it is installed as
PACKAGES = {"theory_bench": "theory_bench", "problems": "theory_bench.problems",
            "workloads": "theory_bench.workloads", "experiments": "theory_bench.experiments"}
FRONT_DOORS = {"theory_bench", "theory_bench.cli", "theory_bench.bench", "theory_bench.bench_scale", "theory_bench.bench_torch",
               "theory_bench.testing", "theory_bench.testing_calibration", "theory_bench.pytest_plugin"}
LAYERS = [  # lowest first; a module may import its own layer and those below it, never above
    ("engine", ("theory_bench.engine", "theory_bench.checkout_alias")),
    ("optimizers", ("theory_bench.optimizers",)),
    ("analysis", ("theory_bench.analysis",)),
    ("results", ("theory_bench.results",)),
    ("torch", ("theory_bench.torch",)),
    ("problems", ("theory_bench.problems",)),
    ("workloads", ("theory_bench.workloads",)),
    ("experiments", ("theory_bench.experiments",)),
    ("front doors", (*FRONT_DOORS, "theory_bench.audit")),
]


def modules():
    """``{module name: source path}`` for every module of the three folders, by installed name."""
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def imports(name, path, known):
    """The project modules ``name`` imports anywhere in its source (module level or inside functions)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name):
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes if p not in FRONT_DOORS) or name in prefixes:
            return rank
    raise AssertionError(f"{name} belongs to no layer: add it to LAYERS and to docs/architecture.md")


def find_cycle(g):
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    colour, stack = {}, []

    def visit(u):
        colour[u] = "grey"
        stack.append(u)
        for v in sorted(g[u]):
            if colour.get(v) == "grey":
                return stack[stack.index(v):] + [v]
            if v not in colour and (found := visit(v)):
                return found
        colour[u] = "black"
        stack.pop()
        return None

    for u in sorted(g):
        if u not in colour and (found := visit(u)):
            return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: the old problem.py <-> online.py cycle is found."""
    g = {"problem": {"online"}, "online": {"problem", "noise"}, "noise": set()}
    assert find_cycle(g) == ["online", "problem", "online"]


def test_imports_flow_down_the_layers():
    wrong = [f"{a} ({LAYERS[layer(a)][0]}) imports {b} ({LAYERS[layer(b)][0]})"
             for a, targets in graph().items() for b in targets if layer(b) > layer(a)]
    assert not wrong, "imports against the arrows:\n  " + "\n  ".join(wrong)


def test_the_layer_check_sees_an_upward_import():
    assert layer("theory_bench.engine.minimize") < layer("theory_bench.analysis.stationarity")
    assert layer("theory_bench.problems.hinge") < layer("theory_bench.experiments.runs") < layer("theory_bench.cli")
    assert layer("theory_bench.experiments.zoo") < layer("theory_bench.audit.runner") == layer("theory_bench.cli")
    with pytest.raises(AssertionError, match="belongs to no layer"):
        layer("theory_bench.somewhere_new")


def test_pyproject_installs_every_package_of_the_tree():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    in_tree = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert listed == in_tree, f"pyproject packages differ from the tree: missing {in_tree - listed}, extra {listed - in_tree}"
    assert config["package-dir"] == {"theory_bench.problems": "problems", "theory_bench.experiments": "experiments",
                                     "theory_bench.workloads": "workloads"}


def test_checkout_names_are_the_installed_packages():
    """From the repository root ``import problems`` works and is ``theory_bench.problems`` itself."""
    code = ("import problems, problems.hinge, experiments, theory_bench.problems as P, theory_bench.experiments as E;"
            "from problems import make, names;"
            "assert problems is P and problems.hinge is P.hinge and experiments is E;"
            "assert experiments.pipeline is E.pipeline and make('hinge').name == 'hinge' and 'moe' in names()")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_checkout_names_work_without_the_optional_packages():
    """Without torch (blocked here, as on a machine that lacks it) ``import experiments`` still works;
    the modules that need torch say so when imported, under either name."""
    code = ("import sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import experiments, workloads, theory_bench.experiments as E, theory_bench.workloads as W;"
            "assert experiments.pipeline is E.pipeline and workloads.data is W.data;"
            "import importlib\n"
            "for name in ('workloads.models', 'theory_bench.workloads.models'):\n"
            "    try: importlib.import_module(name)\n"
            "    except ModuleNotFoundError as err: assert err.name == 'torch', err\n"
            "    else: raise AssertionError(name)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_outside_a_checkout_only_the_namespaced_names_exist(tmp_path):
    """Installed, the catalogue does not take the generic top-level names a user's package may have."""
    code = ("import importlib.util as u, theory_bench.problems as P;"
            "assert u.find_spec('problems') is None and u.find_spec('experiments') is None and u.find_spec('workloads') is None;"
            "assert P.make('counterexample_2d').name == 'counterexample_2d'")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)


def test_public_names_keep_working():
    import theory_bench
    from theory_bench import bounds, optimizers, rates, stationarity, testing
    from theory_bench.bounds import expected_abs_walk                          # the flat paths of before
    from theory_bench.optimizers import SGD, StoSignSGD, sign_convert
    assert bounds is theory_bench.analysis.bounds and rates is theory_bench.analysis.rates
    assert stationarity is theory_bench.analysis.stationarity and callable(testing.assert_converges)
    assert optimizers.SGD is SGD and callable(sign_convert) and StoSignSGD.__module__.startswith("theory_bench.optimizers")
    assert callable(theory_bench.minimize) and theory_bench.Trace.__name__ == "Trace"
    assert expected_abs_walk is theory_bench.analysis.bounds.expected_abs_walk
    assert theory_bench.parallel.iter_runs is theory_bench.results.parallel.iter_runs
    assert theory_bench.counter_rng is theory_bench.engine.counter_rng
