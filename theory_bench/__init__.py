"""theory-bench: verify by experiment what the theory says about sign-based optimizers.

``minimize`` runs an optimizer from ``theory_bench.optimizers`` on a (sub)gradient oracle for a
whole horizon in one numba-compiled call and returns a ``Trace``. The package is grouped by role
(docs/architecture.md):

- ``engine``: what runs a horizon (``minimize``, the compiled run loop and its disk cache, the
  counter-based sign noise, seeding, schedules, checkpoints, the optimizer contract and the
  protocol for a user's own optimizer);
- ``optimizers``: one module per algorithm, and ``sign_convert``;
- ``analysis``: bounds, rates, bootstrap intervals, concentration radii, stationarity measures,
  sign-bias checks and falsifiable claims;
- ``results``: the result store, parallel runs and plotting;
- ``problems`` and ``experiments``: the catalogue and the claim groups (folders at the top of the
  repository, installed here);
- the front doors: ``cli``, ``bench``, ``testing``, ``pytest_plugin``.
"""
import sys

from theory_bench import optimizers
from theory_bench.analysis import bounds, rates, stationarity
from theory_bench.engine import counter_rng, precision
from theory_bench.engine.minimize import minimize
from theory_bench.engine.seeding import spawn_seeds
from theory_bench.engine.trace import Trace
from theory_bench.results import parallel

# Modules that were public under a flat path before the layout by role keep that path too:
# ``from theory_bench.bounds import expected_abs_walk`` is ``theory_bench.analysis.bounds``.
for _module in (bounds, rates, stationarity, counter_rng, parallel, precision):
    sys.modules.setdefault(f"theory_bench.{_module.__name__.rsplit('.', 1)[1]}", _module)
del _module

__version__ = "0.1.0"
__all__ = ["minimize", "optimizers", "spawn_seeds", "Trace", "bounds", "rates", "stationarity", "precision",
           "__version__"]
