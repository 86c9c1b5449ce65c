"""Online adversaries: the tape records the learner's losses and the best point in hindsight."""
import numpy as np
import pytest

from theory_bench import problems
from theory_bench.problems.online import linear_hindsight
from theory_bench.optimizers import SignSGD, StoSignSGD
from theory_bench.engine.seeding import streams


def test_rademacher_tape_matches_a_replay_of_the_rounds():
    p = problems.make("rademacher_linear", d=3, D=2.0, L=0.5)
    T = 60
    tr = p.minimize(StoSignSGD(p.lr), T, seed=5, checkpoints=np.arange(1, T + 1))
    rng = streams(5)[0]                           # the oracle's stream, replayed
    xs = np.vstack([p.x0, tr.xs[:-1]])            # x_1 .. x_T
    G = np.array([[0.5 if rng.random() < 0.5 else -0.5 for _ in range(3)] for _ in range(T)])
    np.testing.assert_allclose(tr.extra["cum_loss"], np.cumsum((G * xs).sum(axis=1)))
    S = np.cumsum(G, axis=0)
    np.testing.assert_allclose(tr.extra["hindsight"], -2.0 * np.abs(S).sum(axis=1))
    np.testing.assert_allclose(tr.extra["regret"], tr.extra["cum_loss"] - tr.extra["hindsight"])


def test_linear_hindsight_on_an_asymmetric_box():
    value, x = linear_hindsight(np.array([2.0, -1.0, 0.0]), np.array([-1.0, 0.0, -3.0]), np.array([1.0, 5.0, 3.0]))
    assert value == -2.0 - 5.0 and list(x) == [-1.0, 5.0, 3.0]


@pytest.mark.parametrize("name", ["hinge_stream", "l1_stream"])
def test_stream_hindsight_is_the_count_weighted_optimum(name):
    import cvxpy as cp
    import theory_bench as tb
    from theory_bench.problems.online import TAPE_ARGS, new_tape
    p = problems.make(name, n=30, d=3)
    tr = p.minimize(SignSGD(p.lr), 500, seed=2, checkpoints=[50, 500])
    # the same run by hand, keeping the tape: counts[j] = how often sample j was a round's loss
    tape = new_tape([500], p.extra["m"])
    tb.minimize(p.oracle, p.x0, SignSGD(p.lr), 500, args=p.args[:-TAPE_ARGS] + tape, box=p.box, seed=2)
    counts = tape[2]
    assert counts.sum() == 500
    A, target, _ = p.args[:3]
    x = cp.Variable(3)
    if name == "hinge_stream":
        expr = counts @ cp.pos(1 - cp.multiply(target, A @ x))
    else:
        expr = counts @ cp.abs(A @ x - target)
    value = cp.Problem(cp.Minimize(expr), [x >= p.lo, x <= p.hi]).solve(solver="CLARABEL")
    assert tr.extra["hindsight"][-1] == pytest.approx(value, rel=1e-6)
    assert tr.extra["cum_loss"][-1] == pytest.approx(tape[0][1])
    # the learner's cumulative loss over 500 rounds of a fixed pool exceeds the hindsight minimum
    assert tr.extra["regret"][-1] > 0


def test_skewed_adversary_regret_linear_for_signsgd_sublinear_for_stosign():
    p = problems.make("skewed_linear", d=4)
    ck = [1000, 10_000]
    sign = p.minimize(SignSGD(p.lr), 10_000, checkpoints=ck).extra["regret"]
    sto = p.minimize(StoSignSGD(p.lr), 10_000, checkpoints=ck).extra["regret"]
    assert sign[1] / sign[0] > 8           # ~10x for 10x the rounds: linear
    assert sto[1] / sto[0] < 5             # ~sqrt(10) = 3.2: sublinear
    assert sto[1] < 0.1 * sign[1]
