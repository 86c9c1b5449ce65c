"""The battery: every problem the suite grades an optimizer on, with what the theory says of it.

The zoo runs its optimizers on all of them and writes their curves as the baselines
(``figures/zoo_baselines.json``); ``theory-bench audit`` runs a user's optimizer on the same
problems, horizon, checkpoints and ``lr`` grid and places it among them (docs/audit.md). One list,
so that the two can never drift apart.

Each ``Entry``: a stable ``key`` (``report.json``'s ``problem``), the catalogue name and parameters,
a label for tables, the section of docs/theory.md that predicts the outcome and that prediction in
one line.

``verdict(r)``, from intervals over seeds (never hand-written): ``wrong way`` when the final gap's 95%
interval lies above the gap at ``x0``; ``converges`` when the slope of ``log mean gap`` over the last
decade has its interval below ``FALLING``, or the gap's upper end is below ``1e-3`` of the initial
gap; else ``stuck``. (``diverges``, a non-finite iterate, is the audit's, which catches it.)
"""
from dataclasses import dataclass, field

import numpy as np

from theory_bench.analysis.claims import Measurement
from theory_bench.analysis.rates import fit_slope
from theory_bench.experiments.ablation import falling_slope, final_gap


@dataclass(frozen=True)
class Entry:
    key: str
    name: str
    params: dict = field(default_factory=dict)
    label: str = ""
    section: str = ""
    theory: str = ""
    online: bool = False       # an online adversary: its regret is measured too


SPIKES = {"d": 100, "mu": 0.05, "p": 0.002, "A": 50.0}     # p W = 0.2 at beta 0.99 (§3.5)
BATTERY = (
    Entry("counterexample_1", "counterexample_2d", {}, "counterexample 1", "3.3.1",
          "a plain sign step stalls on the floor eps |x1 + x2|; an unbiased step (SGD, StoSignSGD) converges"),
    Entry("counterexample_2", "skewed_linear", {"d": 100}, "counterexample 2 (skewed, d=100)", "3.3.2",
          "the sign of a skewed gradient has the median's sign: SignSGD goes the wrong way, linear regret; "
          "StoSignSGD's regret grows as sqrt(T)", online=True),
    Entry("counterexample_3", "skewed_quadratic", {}, "counterexample 3 (skewed quadratic)", "3.3.2",
          "smoothness does not remove the sign's bias: SignSGD goes the wrong way"),
    Entry("spikes", "spiky_linear", SPIKES, "rare spikes (d=100, p=0.002, A=50)", "3.5",
          "a sign of momentum with p W above the mean's share drifts the wrong way (Lion at beta 0.99: drift "
          "-0.25); unbiased steps converge"),
    Entry("nesterov", "nesterov", {}, "Nesterov's worst case (d=50)", "3.4",
          "no span method halves the gap in its first d - 1 steps; afterwards a convergent method does"),
    Entry("hinge_skewed", "hinge", {"d": 10, "skew": 0.3}, "hinge, skewed noise (d=10)", "3.3.3",
          "skewed zero-mean noise flips SignSGD's step where |E g_i| < 1.25 s; SGD and StoSignSGD converge"),
    Entry("hinge_breast_cancer", "hinge", {"data": "breast_cancer"}, "hinge, breast_cancer", "3.3.3",
          "real data, minibatch noise: every convergent method converges"),
    Entry("l1_skewed", "l1", {"d": 10, "skew": 0.3}, "L1, skewed noise (d=10)", "3.3.3",
          "as for hinge: the median of the skewed noise decides SignSGD's step"),
    Entry("l1_diabetes", "l1", {"data": "diabetes"}, "L1, diabetes", "3.3.3",
          "real data: every convergent method converges"),
)
LR_GRID = (0.01, 0.1, 1.0)     # multipliers of each problem's lr_p, with eta_t = lr / sqrt(t)
CHECKPOINT_GRID = np.unique(np.logspace(1, 5, 49).astype(np.int64))     # 10 .. 10^5, 12 per decade


def horizon(quick):
    """``(T, seeds)`` of the zoo's runs (and the audit's defaults)."""
    return (2000, 2) if quick else (10 ** 4, 5)


def checkpoints(T):
    """One log grid for every horizon, cut at ``T`` (and ``T`` itself): a quick run's checkpoints are
    the full run's first ones, so curves of different horizons compare point by point."""
    return np.unique(np.append(CHECKPOINT_GRID[CHECKPOINT_GRID < T], T))


def by_key(key):
    for e in BATTERY:
        if e.key == key:
            return e
    raise ValueError(f"unknown battery problem {key!r}; known: {', '.join(e.key for e in BATTERY)}")


FALLING = -0.15      # "converges": the log gap surely falls at least this fast over the last decade


def verdict(r):
    """``wrong way``, ``converges`` or ``stuck`` for the runs ``r`` (``gap``: seeds x checkpoints, and
    ``initial_gap``)."""
    g = final_gap(r)
    if g.lo > r["initial_gap"]:
        return "wrong way"
    if g.hi <= 1e-3 * r["initial_gap"] or falling_slope(r).hi < FALLING:
        return "converges"
    return "stuck"


def regret_slope(r):
    """The slope of ``log mean R_t`` against ``log t`` over ``[T/100, T]``, with its 95% interval."""
    t = r["t"][0]
    sel = t >= t[-1] / 100
    return Measurement(*fit_slope(t[sel], np.maximum(r["regret"][:, sel], 1e-300)))
