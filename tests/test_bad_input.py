"""Bad input: a clear error that names the value and the fix, never a silent NaN trajectory."""
import numpy as np
import pytest

import theory_bench as tb
from theory_bench import optimizers as O
from tests.oracles import abs_sum, nan_after_5, wrong_shape_after_3


@pytest.mark.parametrize("make,match", [
    (lambda: O.SGD(-0.1), r"lr must be > 0, got -0.1"),
    (lambda: O.SignSGD(0.0), r"lr must be > 0, got 0.0"),
    (lambda: O.StoSignSGD(float("nan")), r"lr must be finite, got nan"),
    (lambda: O.Signum(0.1, beta=1.0), r"beta must be in \[0, 1\), got 1.0"),
    (lambda: O.Adam(0.1, eps=0.0), r"eps must be > 0, got 0.0"),
    (lambda: O.AdamW(0.1, weight_decay=-1), r"weight_decay must be >= 0, got -1"),
    (lambda: O.Lion(0.1, beta2="a"), r"beta2 must be a number, got 'a'"),
    (lambda: O.SGD(0.1, schedule="cosine"), r"schedule must be 'constant', 'inv_sqrt' or a callable"),
])
def test_hyperparameters_are_validated_on_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("kwargs,match", [
    (dict(T=0), r"T must be an int >= 1 \(the number of steps\), got 0"),
    (dict(T=2.5), r"T must be an int >= 1"),
    (dict(x0=np.zeros((2, 2))), r"x0 must be a non-empty 1-D array, got shape \(2, 2\)"),
    (dict(x0=[0.0, np.nan]), r"x0 must be finite, got x0\[1\]=nan"),
    (dict(box=(1.0, -1.0)), r"lo < hi in every coordinate, got lo\[0\]=1.0 >= hi\[0\]=-1.0"),
    (dict(box=(np.zeros(3), 1.0)), r"box lo must be a scalar or have shape \(2,\), got shape \(3,\)"),
    (dict(box=5), r"box must be a pair \(lo, hi\)"),
    (dict(x0=[2.0, 0.0], box=(-1, 1)), r"x0 must lie in the box, got x0\[0\]=2.0 outside \[-1.0, 1.0\]"),
    (dict(checkpoints=[0, 5]), r"checkpoints must lie in \[1, T=10\], got 0"),
    (dict(seed=-3), r"seed must be an int >= 0 or a numpy.random.SeedSequence, got -3"),
    (dict(args=np.zeros(2)), r"args must be a tuple"),
    (dict(optimizer="sgd"), r"optimizer must be an instance from theory_bench.optimizers"),
])
def test_bad_arguments_to_minimize(kwargs, match):
    call = dict(grad=abs_sum, x0=np.zeros(2), optimizer=O.SGD(0.1), T=10)
    call.update(kwargs)
    with pytest.raises(ValueError, match=match):
        tb.minimize(call.pop("grad"), call.pop("x0"), call.pop("optimizer"), call.pop("T"), **call)


def test_bad_schedule_values():
    with pytest.raises(ValueError, match=r"schedule multiplier must be finite and > 0 .* at t=3"):
        tb.minimize(abs_sum, np.zeros(2), O.SGD(0.1, schedule=lambda t: 1.0 if t < 3 else -1.0), 5)


@pytest.mark.parametrize("grad,match", [
    (lambda x, rng: np.ones(3), r"grad must return shape \(2,\) \(the shape of x0\), got \(3,\)"),
    (lambda x, rng: [1.0, 1.0], r"grad must return a float64 ndarray, got list"),
    (lambda x, rng: np.ones(2, dtype=np.float32), r"got ndarray of float32"),
])
def test_oracle_checked_before_the_run(grad, match):
    with pytest.raises(ValueError, match=match):
        tb.minimize(grad, np.zeros(2), O.SGD(0.1), 10)


@pytest.mark.parametrize("jit", [True, False])
def test_nonfinite_gradient_raises_at_its_step(jit):
    grad = nan_after_5 if jit else nan_after_5.py_func
    with pytest.raises(FloatingPointError, match=r"non-finite value at step t=6, coordinate 1"):
        # the probe call works on a copy of args, so the counter in args counts steps
        tb.minimize(grad, np.zeros(3), O.SGD(0.1), 100, args=(np.zeros(1, dtype=np.int64),))


@pytest.mark.parametrize("jit", [True, False])
def test_wrong_shape_midway_raises_at_its_step(jit):
    grad = wrong_shape_after_3 if jit else wrong_shape_after_3.py_func
    with pytest.raises(ValueError, match=r"grad returned shape \(4,\) at step t=4, expected \(3,\)"):
        tb.minimize(grad, np.zeros(3), O.SGD(0.1), 100, args=(np.zeros(1, dtype=np.int64),))


def test_overflowing_iterate_is_an_error_not_a_nan_trajectory():
    big = lambda x, rng: np.full(2, 1e300)
    with pytest.raises(FloatingPointError, match=r"non-finite iterate at step t=\d+, coordinate 0"):
        tb.minimize(big, np.zeros(2), O.SGD(1e10, schedule="constant"), 100)


def test_envelope_of_an_optimizer_without_one():
    tr = tb.minimize(abs_sum, np.ones(2), O.SGD(0.1), 5)
    with pytest.raises(AttributeError, match=r"SGD keeps no envelope G"):
        tr.envelope_sum
