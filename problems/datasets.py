"""Data for the finite-sum problems: synthetic instances and the real sets scikit-learn ships.

Real sets are standardised (zero mean, unit variance per feature) and get an intercept column
of ones as their last feature, so every model is linear in ``x`` with no separate bias.
"""
import numpy as np

from theory_bench.problems.problem import positive_int

REAL = ("breast_cancer", "diabetes")


def load_real(name):
    """``(A, target)`` of a bundled scikit-learn data set, standardised, with an intercept column."""
    if name not in REAL:
        raise ValueError(f"unknown data set {name!r}; the bundled ones are {', '.join(REAL)}")
    from sklearn import datasets
    bunch = getattr(datasets, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float64)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    return np.ascontiguousarray(A), np.asarray(bunch.target, dtype=np.float64)


def classification(n, d, seed, flip=0.1):
    """Gaussian features, labels of a random hyperplane, a fraction ``flip`` of labels flipped."""
    n, d = positive_int("n", n), positive_int("d", d)
    if not 0.0 <= flip < 0.5:
        raise ValueError(f"flip (label noise) must be in [0, 0.5), got {flip!r}")
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d)) / np.sqrt(d)
    y = np.sign(A @ rng.normal(size=d))
    y[y == 0] = 1.0
    y[rng.random(n) < flip] *= -1.0
    return A, y


def regression(n, d, seed, tail_df=1.5):
    """Gaussian features, a random linear target, Student-t noise with ``tail_df`` degrees of freedom."""
    n, d = positive_int("n", n), positive_int("d", d)
    if not tail_df > 0:
        raise ValueError(f"tail_df must be > 0, got {tail_df!r}")
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d)) / np.sqrt(d)
    x_true = rng.uniform(-0.5, 0.5, size=d)
    b = A @ x_true + 0.1 * rng.standard_t(tail_df, size=n)
    return A, b
