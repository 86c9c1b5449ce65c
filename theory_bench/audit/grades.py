"""The audit's verdicts, each from intervals over seeds and each with the theory that predicts it.

- ``grade(setting, plan)``: one battery problem (or its low-precision twin): for every ``lr`` of
  the grid the mean final gap ``f(x_avg_T) - f*`` with its 95% bootstrap interval and verdict (the
  sensitivity curve), the best ``lr`` (lowest mean final gap; on the online adversary, lowest mean
  final regret; never one at which a run diverged), and the verdict there:
  ``battery.verdict`` (converges, stuck, wrong way), or ``diverges`` when every ``lr`` of the grid
  had a non-finite iterate. (Steps to target come from the baselines' targets: ``profile``.)
- ``regret_check``: on the online adversary, the regret's slope over ``[T/100, T]`` (sublinear when
  the interval's upper end is at most ``testing.MAX_SLOPE``) and ``max_T mean R_T / bound(T)``
  against §3.1's bound at the best ``lr`` as ``eta`` (``G = L``), as ``assert_regret_rate`` does.
- ``unbiased_check``: ``testing.assert_unbiased`` on the optimizer's ``sign_operator(g, G, rng)``,
  where its class has one.
"""
import numpy as np

from theory_bench.analysis.bounds import stosign_regret_upper
from theory_bench.analysis.rates import bound_ratio
from theory_bench.experiments.ablation import final_gap
from theory_bench.experiments.battery import regret_slope, verdict
from theory_bench.testing import MAX_SLOPE, assert_unbiased

VERDICTS = ("converges", "stuck", "wrong way", "diverges")


def _diverged(r):
    return int(np.asarray(r["diverged"]).sum())


def _final(r, metric):
    return float(np.mean(r[metric][:, -1]))


def best_lr(runs, online):
    """The ``lr`` with the lowest mean final gap (regret on an online problem) among those where no run
    diverged; None when every one did."""
    ok = [lr for lr, r in runs.items() if _diverged(r) == 0]
    return min(ok, key=lambda lr: _final(runs[lr], "regret" if online else "gap")) if ok else None


def grade(setting, plan):
    e, runs, initial = setting["entry"], setting["runs"], setting["initial_gap"]
    sensitivity = []
    for lr, r in runs.items():
        if _diverged(r):
            sensitivity.append({"lr": lr, "final_gap": np.inf, "interval": [np.inf, np.inf], "diverged": _diverged(r),
                                "verdict": "diverges"})
        else:
            g = final_gap(r)
            sensitivity.append({"lr": lr, "final_gap": g.value, "interval": [g.lo, g.hi], "diverged": 0,
                                "verdict": verdict(r)})
    lr = best_lr(runs, e.online)
    row = {"problem": e.key + ("@lowp" if setting.get("low") else ""), "label": e.label, "name": e.name,
           "params": e.params, "precision": setting.get("precision", "fp64"), "section": e.section,
           "theory": e.theory, "initial_gap": initial, "lr_p": setting["lr_p"], "T": plan.T, "seeds": plan.seeds,
           "target": None, "steps_to_target": None, "sensitivity": sensitivity}
    if lr is None:
        row.update(verdict="diverges", final_gap=np.inf, interval=[np.inf, np.inf], best_lr=None)
    else:
        g = final_gap(runs[lr])
        row.update(verdict=verdict(runs[lr]), final_gap=g.value, interval=[g.lo, g.hi], best_lr=lr,
                   lr_multiplier=lr / setting["lr_p"])
    return row


def regret_check(setting):
    """The regret rate and §3.1's bound on an online battery problem, at its best ``lr``."""
    e, runs, p = setting["entry"], setting["runs"], setting["problem"]
    lr = best_lr(runs, online=True)
    out = {"check": "regret rate", "problem": e.key, "section": "3.1",
           "theory": "an unbiased sign method at eta / sqrt(t) has regret O(sqrt(T)) (slope 1/2), below "
                     "sqrt(T) sum_i G_i (w^2 / (2 eta) + eta)"}
    if lr is None:
        return {**out, "verdict": "diverges", "lr": None}
    r = runs[lr]
    s = regret_slope(r)
    t = r["t"][0]
    width, L_sum = float(np.max(p.hi - p.lo)), float(np.sum(p.L))
    ratio = bound_ratio(r["regret"], lambda _: stosign_regret_upper(t, L_sum, width, lr))
    sub = s.hi <= MAX_SLOPE
    within = ratio[1] <= 1.0
    return {**out, "lr": lr, "slope": s.value, "interval": [s.lo, s.hi], "max_slope": MAX_SLOPE,
            "bound_ratio": list(ratio), "sublinear": bool(sub), "within_bound": bool(within),
            "verdict": ("sublinear" if sub else "not sublinear") + (", within the bound" if within else
                                                                    ", above the bound")}


def unbiased_check(operator, n):
    out = {"check": "unbiasedness", "problem": None, "section": "2.1",
           "theory": "E[sign(g + G n)] = g / G for n ~ U[-1, 1] and |g| <= G; a plain sign has mean sign(g)"}
    if operator is None:
        return {**out, "verdict": "not exposed",
                "detail": "the class has no sign_operator(g, G, rng); add one to have it checked"}
    try:
        assert_unbiased(operator, n=n)
    except AssertionError as err:
        return {**out, "verdict": "biased", "detail": str(err).splitlines()[0] + " " +
                "; ".join(line.strip() for line in str(err).splitlines()[1:4])}
    except Exception as err:       # a user's operator that does not take (g, G, rng): said, not raised
        return {**out, "verdict": "error", "detail": f"sign_operator(g, G, rng) raised {type(err).__name__}: {err}"}
    return {**out, "verdict": "unbiased",
            "detail": f"every mean within its Bernstein radius over {n} draws at 41 ratios g/G (false failure < 1e-6)"}
