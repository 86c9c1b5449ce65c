"""The catalogue: every problem by name, ``make(name, **params)`` and ``names()``."""
import inspect

from theory_bench.problems.counterexamples import make_counterexample_2d, make_skewed_linear, make_skewed_quadratic
from theory_bench.problems.hinge import make_hinge
from theory_bench.problems.l1 import make_l1
from theory_bench.problems.max_affine import make_max_affine
from theory_bench.problems.nesterov import make_nesterov
from theory_bench.problems.nonconvex import make_maxpool, make_moe, make_relu_regression
from theory_bench.problems.online import make_hinge_stream, make_l1_stream, make_rademacher_linear
from theory_bench.problems.spiky import make_spiky_hinge, make_spiky_l1, make_spiky_linear
from theory_bench.problems.workers import make_hinge_shards, make_l1_shards, make_noisy_linear

CATALOGUE = {
    "hinge": make_hinge,
    "l1": make_l1,
    "max_affine": make_max_affine,
    "nesterov": make_nesterov,
    "counterexample_2d": make_counterexample_2d,
    "skewed_linear": make_skewed_linear,
    "skewed_quadratic": make_skewed_quadratic,
    "spiky_linear": make_spiky_linear,
    "spiky_hinge": make_spiky_hinge,
    "spiky_l1": make_spiky_l1,
    "rademacher_linear": make_rademacher_linear,
    "hinge_stream": make_hinge_stream,
    "l1_stream": make_l1_stream,
    "relu_regression": make_relu_regression,
    "maxpool": make_maxpool,
    "moe": make_moe,
    "noisy_linear": make_noisy_linear,
    "hinge_shards": make_hinge_shards,
    "l1_shards": make_l1_shards,
}


def names():
    """Every problem ``make`` knows, in catalogue order."""
    return list(CATALOGUE)


def make(name, **params):
    """Build the problem ``name`` with its parameters, e.g. ``make("hinge", n=500, d=20, seed=1)``."""
    if name not in CATALOGUE:
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(CATALOGUE)}")
    factory = CATALOGUE[name]
    allowed = [p for p in inspect.signature(factory).parameters if p != "name"]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for problem {name!r}; "
                         f"it takes {', '.join(allowed)}")
    return factory(**params)

