"""theory-bench: verify by experiment what the theory says about sign-based optimizers.

The engine: ``minimize`` runs an optimizer from ``theory_bench.optimizers`` on a
(sub)gradient oracle for a whole horizon in one numba-compiled call and returns a ``Trace``.
"""
from theory_bench import optimizers
from theory_bench.minimize import minimize
from theory_bench.seeding import spawn_seeds
from theory_bench.trace import Trace

__version__ = "0.1.0"
__all__ = ["minimize", "optimizers", "spawn_seeds", "Trace", "__version__"]
