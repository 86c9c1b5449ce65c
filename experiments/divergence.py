"""The divergence counterexamples (THEORY.md section 3.3): SignSGD stuck, StoSignSGD converging.

Claims:
- ``signsgd-stuck-2d``: on ``eps|x1+x2| + |x1-x2|`` (resisting oracle), SignSGD's averaged-iterate
  gap never falls below its floor ``eps |x1 + x2|``: ``min_t gap_t / floor >= 1``; variant
  StoSignSGD, which goes below it.
- ``stosign-rate-2d``: StoSignSGD's averaged-iterate gap falls at least as fast as ``1/sqrt(T)``
  (slope of ``log mean gap`` vs ``log T`` at most -0.4); variant SignSGD.
- ``stosign-batch-bound-skewed``: on the skewed problem (a box, so the bound applies) the gap stays
  below the online-to-batch bound ``sqrt(2) w sum_i E[G_{T,i}] / sqrt(T)``: ``max_T gap / bound <= 1``.
  (Its log-log slope is about -0.38 at ``T = 1e5``: the ``1/sqrt(T)`` regime is reached slowly
  there, since the drift ``mu / G = 1/16`` is weak against the sign noise; the bound is the
  theorem, the slope is not.) Variant SignSGD against the same bound with ``G = L``.
- ``signsgd-wrong-way-skewed`` and ``signsgd-wrong-way-quadratic``: on the skewed problems
  SignSGD's averaged iterate ends near the wrong end of the box (gap at least 90% of the gap at
  that end); variant StoSignSGD.
"""
import numpy as np

import problems
from experiments.runs import run_seeds, seeds_for, spec
from theory_bench.claims import Claim, Measurement, Range
from theory_bench.bootstrap import mean_interval
from theory_bench.bounds import online_to_batch_gap, stosign_regret_upper
from theory_bench.rates import bound_ratio, fit_slope

RATE = Range(hi=-0.4)


def _gap_runs(name, kw, opt, T, seeds, jobs):
    ck = np.unique(np.logspace(2, np.log10(T), 12).astype(int))
    runs = run_seeds(spec(name, opt, T, problem_kw=kw, checkpoints=ck), seeds_for(seeds), jobs)
    f_star = problems.make(name, **kw).optimum()[1]
    runs["gap"] = runs["loss_avg"] - f_star
    return ck, runs


def _rate(ck, runs, setup):
    return Measurement(*fit_slope(ck, np.maximum(runs["gap"], 1e-300)), setup=setup)


def _final_gap_fraction(runs, wrong_gap, setup):
    m, lo, hi = mean_interval(runs["gap"][:, -1:] / wrong_gap)
    return Measurement(float(m[0]), float(lo[0]), float(hi[0]), setup=setup)


def claims(quick=False, jobs=None, data=None):
    T, seeds = (2 * 10 ** 4 if quick else 10 ** 5), 20
    out, runs = [], {}
    for name, kw in (("counterexample_2d", {}), ("skewed_linear", dict(d=10)), ("skewed_quadratic", {})):
        for opt in ("SignSGD", "StoSignSGD"):
            runs[name, opt] = _gap_runs(name, kw, opt, T, seeds, jobs)
    if data is not None:
        data.update({f"divergence/{n}/{o}": dict(r, t=ck) for (n, o), (ck, r) in runs.items()})

    p2 = problems.make("counterexample_2d")
    floor = p2.extra["signsgd_floor"]
    setup2 = f"counterexample_2d eps=0.5 from (1, 0.3), eta=0.3/sqrt(t), T={T}, {seeds} seeds"
    stuck = lambda r: Measurement.exact(float((r["gap"] / floor).min()), setup2)
    out.append(Claim("signsgd-stuck-2d", "SignSGD never gets below eps |x1 + x2| on counterexample 1",
                     "min_t gap(x_avg) / (eps |x1 + x2|)", Range(lo=1.0), stuck(runs["counterexample_2d", "SignSGD"][1]),
                     "StoSignSGD", stuck(runs["counterexample_2d", "StoSignSGD"][1]), section="3.3.1"))
    (ck, sto), (_, sign) = runs["counterexample_2d", "StoSignSGD"], runs["counterexample_2d", "SignSGD"]
    setup = f"counterexample_2d, T={T}, {seeds} seeds, checkpoints 1e2..T"
    out.append(Claim("stosign-rate-2d", "StoSignSGD's averaged-iterate gap on counterexample 1 falls as O(1/sqrt(T))",
                     "slope of log mean gap vs log T", RATE, _rate(ck, sto, setup),
                     "SignSGD", _rate(ck, sign, setup), section="3.1, 3.3.1"))
    (ck, sto), (_, sign) = runs["skewed_linear", "StoSignSGD"], runs["skewed_linear", "SignSGD"]
    setup = f"skewed_linear d=10, T={T}, {seeds} seeds; w = 2, eta = w/sqrt(2)"
    batch_bound = lambda G: online_to_batch_gap(stosign_regret_upper(ck, G, 2.0), ck)
    L_sum = problems.make("skewed_linear", d=10).L.sum()
    out.append(Claim("stosign-batch-bound-skewed", "StoSignSGD's averaged-iterate gap on skewed_linear stays below "
                     "the online-to-batch bound sqrt(2) w sum E[G_T] / sqrt(T)", "max_T mean gap / bound(T)",
                     Range(hi=1.0), Measurement(*bound_ratio(sto["gap"], batch_bound, aux=sto["G_sum"]), setup=setup),
                     "SignSGD (G = L)", Measurement(*bound_ratio(sign["gap"], lambda _: batch_bound(L_sum)), setup=setup),
                     section="3.1"))
    for name, label, wrong in (("skewed_linear", "skewed", problems.make("skewed_linear", d=10).extra["signsgd_gap"]),
                               ("skewed_quadratic", "quadratic", 16 / 3 - 16 / 9)):
        setup = f"{name}, T={T}, {seeds} seeds; gap at the wrong end = {wrong:.4g}"
        out.append(Claim(f"signsgd-wrong-way-{label}", f"SignSGD's average runs to the wrong end of the box on {name}",
                         "gap(x_avg_T) / gap at the wrong end", Range(lo=0.9),
                         _final_gap_fraction(runs[name, "SignSGD"][1], wrong, setup),
                         "StoSignSGD", _final_gap_fraction(runs[name, "StoSignSGD"][1], wrong, setup),
                         section="3.3.2"))
    return out
