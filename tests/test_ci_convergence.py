"""This project as the first user of its own testing API: convergence snapshots of StoSignSGD.

Recorded with ``pytest tests/test_ci_convergence.py --theory-bench-update`` into
``test_ci_convergence.py.theory-bench.json``; a change that makes a gap or a regret worse by more
than 10% fails here, with the numbers.
"""
import pytest

from theory_bench import problems
from theory_bench.optimizers import StoSignSGD
from theory_bench.testing import assert_converges, assert_regret_rate

CONVEX = [("hinge", dict(n=1000, d=100)), ("l1", dict(n=1000, d=20)), ("max_affine", dict(d=20)),
          ("hinge", dict(data="breast_cancer")), ("l1", dict(data="diabetes"))]


@pytest.mark.convergence
@pytest.mark.parametrize("name,kw", CONVEX, ids=lambda v: str(v))
def test_stosign_converges(name, kw, convergence_snapshot):
    p = problems.make(name, **kw)
    convergence_snapshot.check(assert_converges(StoSignSGD(p.lr), p, 10_000))


@pytest.mark.convergence
def test_stosign_counterexample(convergence_snapshot):
    convergence_snapshot.check(assert_converges(StoSignSGD(0.3), "counterexample_2d", 20_000, tol=0.01))


@pytest.mark.convergence
def test_stosign_regret_rate(convergence_snapshot):
    result = assert_regret_rate(StoSignSGD(2 ** 0.5), problems.make("skewed_linear", d=10),
                                [1000, 3000, 10_000, 30_000, 100_000])
    convergence_snapshot.check(result)
