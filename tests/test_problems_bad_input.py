"""Bad parameters to the catalogue give clear errors."""
import pytest

from theory_bench import problems


@pytest.mark.parametrize("name,kw,match", [
    ("hinge", dict(n=0), r"n must be an int >= 1, got 0"),
    ("l1", dict(d=0), r"d must be an int >= 1, got 0"),
    ("max_affine", dict(m=-1), r"m must be an int >= 1, got -1"),
    ("hinge", dict(radius=0.0), r"box needs lo < hi in every coordinate, got lo\[0\]=-0.0 >= hi\[0\]=0.0"),
    ("hinge", dict(data="mnist"), r"unknown data set 'mnist' for hinge; use data='breast_cancer'"),
    ("l1", dict(data="breast_cancer"), r"unknown data set 'breast_cancer' for l1; use data='diabetes'"),
    ("hinge", dict(flip=0.7), r"flip \(label noise\) must be in \[0, 0.5\), got 0.7"),
    ("hinge", dict(batch=0), r"batch must be an int >= 1, got 0"),
    ("nesterov", dict(d=5, k=5), r"k must be an int in \[0, d-1\] = \[0, 4\], got 5"),
    ("counterexample_2d", dict(eps=1.5), r"eps must be in \(0.0, 1.0\), got 1.5"),
    ("counterexample_2d", dict(oracle="sign"), r"oracle must be 'resisting' or 'numpy_sign', got 'sign'"),
    ("skewed_linear", dict(q=0.25, A=2.0), r"needs mean q\*A - \(1-q\) > 0, got -0.25"),
    ("skewed_linear", dict(q=0.6), r"q must be in \(0.0, 0.5\], got 0.6"),
    ("rademacher_linear", dict(L=0), r"L must be > 0, got 0"),
    ("maxpool", dict(c=7, s=2), r"the pool size s must divide the number of filters c, got c=7, s=2"),
    ("hinge", dict(nn=3), r"unknown parameter\(s\) nn for problem 'hinge'; it takes n, d, seed"),
])
def test_bad_parameters(name, kw, match):
    with pytest.raises(ValueError, match=match):
        problems.make(name, **kw)


def test_unknown_problem_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown problem 'svm'; known: hinge, l1, max_affine"):
        problems.make("svm")
