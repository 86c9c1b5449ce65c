"""This project as the first user of its own testing API: convergence snapshots of StoSignSGD.

Recorded with ``pytest tests/test_ci_convergence.py --theory-bench-update`` into
``test_ci_convergence.py.theory-bench.json``; a change that makes a check's geometric mean worse (one
sided at 1e-3 false alarms, and by more than 10%) or the regret's slope larger fails here, with the
numbers. Each check has the seeds that detect a 2x worse geometric mean with probability >= 0.99
(recording warns otherwise; this file is recorded with ``-W error::UserWarning``).
"""
import pytest

from theory_bench import problems
from theory_bench.optimizers import StoSignSGD
from theory_bench.testing import assert_converges, assert_regret_rate

CONVEX = [("hinge", dict(n=1000, d=100), 5), ("l1", dict(n=1000, d=20), 30), ("max_affine", dict(d=20), 5),
          ("hinge", dict(data="breast_cancer"), 10), ("l1", dict(data="diabetes"), 60)]


@pytest.mark.convergence
@pytest.mark.parametrize("name,kw,seeds", CONVEX, ids=lambda v: str(v))
def test_stosign_converges(name, kw, seeds, convergence_snapshot):
    p = problems.make(name, **kw)
    convergence_snapshot.check(assert_converges(StoSignSGD(p.lr), p, 10_000, seeds=seeds))


@pytest.mark.convergence
def test_stosign_counterexample(convergence_snapshot):
    convergence_snapshot.check(assert_converges(StoSignSGD(0.3), "counterexample_2d", 20_000, tol=0.01, seeds=50))


@pytest.mark.convergence
def test_stosign_regret_rate(convergence_snapshot):
    result = assert_regret_rate(StoSignSGD(2 ** 0.5), problems.make("skewed_linear", d=10),
                                [1000, 3000, 10_000, 30_000, 100_000])
    convergence_snapshot.check(result)
