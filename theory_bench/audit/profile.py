"""The audited optimizer among the baselines: steps to target and an AlgoPerf-style performance profile.

The target on each battery problem is set from the baselines, as AlgoPerf sets its targets from
the best baseline's result within the budget (Dahl et al. 2023): ``TARGET_FACTOR`` times the
smallest mean gap ``f(x_avg_t) - f*`` any baseline reaches by the common horizon
``H = min(T_audit, T_baselines)``, over its ``lr`` grid (the checkpoints are one shared log grid, so
a quick audit reads the full baselines' first points). For each method (the audited one and every
baseline), the steps to the target are the fewest over its ``lr`` grid, from the mean curves up to
``H``, interpolated in log-log between checkpoints; never reached: infinite (AlgoPerf's rule). A
problem whose target is not below half the gap at ``x0`` (no baseline gets within a quarter of it by
``H``) measures no speed at that horizon: it is left out of the profile, and the report says so. The performance ratio of a method on
a problem is its steps over the best method's there; its profile ``rho(tau)`` is the fraction of
problems with ratio at most ``tau``, for ``tau`` in ``[1, 4]``, and its score the profile's mean
over that range (1: fastest everywhere; 0: never within 4x of the best, or never at the target).
A problem that no method reaches counts against every method alike.
"""
import numpy as np

from theory_bench.analysis.bootstrap import steps_to_target

TAUS = np.linspace(1.0, 4.0, 301)
TARGET_FACTOR = 2.0


def targets(doc, keys, horizon):
    """``{key: target gap}``: ``TARGET_FACTOR`` x the least mean gap of any baseline by ``horizon``, for
    the problems where that is below half the gap at ``x0`` (the others measure no speed)."""
    sel = doc["t"] <= horizon
    out = {}
    for key in keys:
        initial = doc["problems"][key]["initial_gap"]
        least = min(float(np.min(c[sel])) for opt in doc["optimizers"].values() for c in opt["gap"][key].values()
                    if np.isfinite(c[sel]).all())
        target = TARGET_FACTOR * max(least, 1e-12 * initial)
        if target < 0.5 * initial:
            out[key] = target
    return out


def baseline_steps(doc, keys, horizon, target):
    """``{label: [steps on each of keys]}`` from the baselines file, read up to ``horizon``."""
    t = doc["t"]
    sel = t <= horizon
    out = {}
    for label, opt in doc["optimizers"].items():
        out[label] = [min((steps_to_target(t[sel], c[sel][None, :], target[key]) for c in opt["gap"][key].values()),
                          default=np.inf) for key in keys]
    return out


def audited_steps(settings, keys, horizon, target):
    """The audited optimizer's steps on ``keys`` (its fp64 runs, ``runner.run_battery``) up to ``horizon``."""
    out = []
    for key in keys:
        setting = settings[key, False]
        best = np.inf
        for r in setting["runs"].values():
            t = r["t"][0]
            sel = t <= horizon
            if np.isfinite(r["gap"]).all():
                best = min(best, steps_to_target(t[sel], r["gap"][:, sel], target[key]))
        out.append(best)
    return out


def ratios(steps):
    """``{method: ratio per problem}``: steps over the least steps of any method on that problem."""
    table = np.array(list(steps.values()), dtype=np.float64)
    best = table.min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(np.isfinite(best), table / best, np.inf)
    return {m: r[i] for i, m in enumerate(steps)}


def profile(steps, taus=TAUS):
    """``{method: rho(taus)}``, the fraction of problems within ``tau`` of the best, and the scores."""
    r = ratios(steps)
    rho = {m: (v[None, :] <= taus[:, None]).mean(axis=1) for m, v in r.items()}
    return rho, {m: float(v.mean()) for m, v in rho.items()}, r
