"""Regret against the upper and lower bounds (docs/theory.md §3.1, §3.2, §5).

Claims:
- ``regret-rate-skewed``: StoSignSGD's regret on the skewed adversary grows as ``sqrt(T)`` (slope
  interval in [0.4, 0.6]); variant SignSGD. ``regret-linear-signsgd``: SignSGD's is linear.
- ``regret-bound-skewed``: ``max_T mean(R_T) / bound(T) <= 1`` with the data-dependent
  ``sum_i E[G_{T,i}]`` of the same runs; variant SignSGD against the same bound (with ``G = L``).
- ``regret-rate-<stream>`` / ``regret-bound-<stream>``: the same on streams of hinge and L1
  samples; variant SignSGD fed the same stream with skewed zero-mean noise (docs/theory.md §3.3.3).
- ``lower-bound-<algorithm>``: on the Rademacher adversary every algorithm's mean regret equals
  ``d D L E|S_T|`` (a check of the harness); variant: the biased adversary ``p_plus = 0.6``.
- ``upper-over-lower``: StoSignSGD's tuned upper bound over the exact lower bound stays within
  ``2 sqrt(pi)`` (to 0.1%, for ``T >= 1000``; the gap is ``O(1/T)``); variant: an untuned
  ``eta = 4 w``.
Regret runs are cheap (about 25 s for all at ``T = 1e5`` on 2 cores), so ``--quick`` keeps them:
at ``T = 1e4`` the slope is still in its transient (0.65-0.69 on the grid 1e2..1e4).
"""
import math

import numpy as np

from theory_bench import problems
from theory_bench.experiments.runs import spec
from theory_bench.analysis.bootstrap import bootstrap_interval
from theory_bench.analysis.bounds import linear_regret_lower, stosign_regret_upper
from theory_bench.analysis.claims import Claim, Covers, Measurement, Range
from theory_bench.analysis.rates import bound_ratio, fit_slope

NAME = "regret"
TITLE = "regret against the upper and lower bounds, with fitted slopes"
SLOPE_RANGE = Range(0.4, 0.6)
T, SEEDS = 10 ** 5, 20
CK = np.unique(np.logspace(3, 5, 9).astype(int))
D_SKEWED, D_STREAM, D_RADEMACHER = 100, 10, 10
STREAMS = ("hinge_stream", "l1_stream")
RADEMACHER_ALGOS = ("SGD", "SignSGD", "StoSignSGD", "Adam")


def configs():
    """Every (label, spec) this experiment runs."""
    out = [(f"skewed/{o}", spec("skewed_linear", o, T, problem_kw=dict(d=D_SKEWED), checkpoints=CK))
           for o in ("StoSignSGD", "SignSGD")]
    for name in STREAMS:
        out.append((f"{name}/StoSignSGD", spec(name, "StoSignSGD", T, problem_kw=dict(d=D_STREAM), checkpoints=CK)))
        out.append((f"{name}/SignSGD-skewed", spec(name, "SignSGD", T, problem_kw=dict(d=D_STREAM, skew=0.3),
                                                   checkpoints=CK)))
    for o in RADEMACHER_ALGOS:
        for label, p_plus in (("main", 0.5), ("biased", 0.6)):
            out.append((f"rademacher/{o}/{label}",
                        spec("rademacher_linear", o, T, problem_kw=dict(d=D_RADEMACHER, p_plus=p_plus),
                             opt_kw={"lr": 0.05} if o == "Adam" else {}, checkpoints=CK)))
    return out


def run(ctx):
    return {label: ctx.runs(s, SEEDS) for label, s in configs()}


def _slope(r, setup):
    return Measurement(*fit_slope(CK, r["regret"]), setup=setup)


def _ratio(r, width, setup, L_sum=None):
    if L_sum is not None:                      # a method without an envelope, against G = L
        return Measurement(*bound_ratio(r["regret"], lambda _: stosign_regret_upper(CK, L_sum, width)), setup=setup)
    return Measurement(*bound_ratio(r["regret"], lambda g: stosign_regret_upper(CK, g, width), aux=r["G_sum"]),
                       setup=setup)


def upper_over_lower(Ts, eta_factor=None):
    """``stosign_regret_upper / linear_regret_lower`` on the Rademacher adversary (``G_sum = d L``)."""
    w = 2.0
    eta = None if eta_factor is None else eta_factor * w
    return stosign_regret_upper(Ts, 1.0, w, eta) / linear_regret_lower(Ts, 1, 1.0, 1.0)


def claims(data, ctx):
    n = ctx.n_seeds(SEEDS)
    setup = f"skewed_linear d={D_SKEWED}, T={T}, {n} seeds, eta=sqrt(2)/sqrt(t), grid 1e3..1e5"
    sto, sign = data["skewed/StoSignSGD"], data["skewed/SignSGD"]
    L_skewed = problems.make("skewed_linear", d=D_SKEWED).L.sum()
    out = [
        Claim("regret-rate-skewed", "StoSignSGD's regret on the skewed adversary grows as sqrt(T)",
              "slope of log mean R_T vs log T", SLOPE_RANGE, _slope(sto, setup), "SignSGD", _slope(sign, setup),
              section="3.1, 3.3.2"),
        Claim("regret-linear-signsgd", "SignSGD's regret on the skewed adversary is linear",
              "slope of log mean R_T vs log T", Range(0.9, math.inf), _slope(sign, setup),
              "StoSignSGD", _slope(sto, setup), section="3.3.2"),
        Claim("regret-bound-skewed", "StoSignSGD's regret stays below sqrt(2) w sqrt(T) sum E[G_T]",
              "max_T mean R_T / bound(T)", Range(hi=1.0), _ratio(sto, 2.0, setup),
              "SignSGD (G = L)", _ratio(sign, 2.0, setup, L_skewed), section="3.1"),
    ]
    for name in STREAMS:
        main, variant = data[f"{name}/StoSignSGD"], data[f"{name}/SignSGD-skewed"]
        setup = f"{name} d={D_STREAM}, T={T}, {n} seeds"
        L_sum = problems.make(name, d=D_STREAM, skew=0.3).L.sum()
        kind = name.split("_")[0]
        out.append(Claim(f"regret-rate-{name}", f"StoSignSGD's regret on a stream of {kind} samples grows as sqrt(T)",
                         "slope of log mean R_T vs log T", SLOPE_RANGE, _slope(main, setup),
                         "SignSGD, feedback with skewed zero-mean noise", _slope(variant, setup), section="3.1, 3.3.3"))
        out.append(Claim(f"regret-bound-{name}", f"StoSignSGD's regret on the {kind} stream stays below its bound",
                         "max_T mean R_T / bound(T)", Range(hi=1.0), _ratio(main, 2.0, setup),
                         "SignSGD, skewed feedback (G = L)", _ratio(variant, 2.0, setup, L_sum), section="3.1"))
    lower = float(linear_regret_lower(CK[-1], D_RADEMACHER, 1.0, 1.0))
    for o in RADEMACHER_ALGOS:
        m = {}
        for label in ("main", "biased"):
            R = data[f"rademacher/{o}/{label}"]["regret"][:, -1] / lower
            m[label] = Measurement(*bootstrap_interval(R, np.mean, level=0.999, n_boot=20_000),
                                   setup=f"d={D_RADEMACHER}, D=L=1, T={CK[-1]}, {n} seeds, 99.9% interval")
        out.append(Claim(f"lower-bound-{o}", f"{o}'s mean regret on the Rademacher adversary equals d D L E|S_T|",
                         "mean R_T / (d D L E|S_T|)", Covers(1.0), m["main"], "biased adversary p_plus=0.6",
                         m["biased"], section="3.2"))
    Ts = np.unique(np.logspace(3, 9, 50).astype(np.int64))
    target = 2 * math.sqrt(math.pi)
    exact = lambda r: Measurement(float(r.max()), float(r.min()), float(r.max()), setup="T = 1e3 .. 1e9, exact")
    out.append(Claim("upper-over-lower", "StoSignSGD's upper bound is within 2 sqrt(pi) of the exact lower bound",
                     "upper(T) / lower(T), all T", Range(target * 0.999, target * 1.001), exact(upper_over_lower(Ts)),
                     "untuned step eta = 4 w", exact(upper_over_lower(Ts, 4.0)), section="3.2"))
    return out


def figures(data, ctx, outdir):
    from theory_bench.results.plotting import COLORS, band, figure, save
    fig, axes = figure(ncols=4, width=4.0)
    panels = [("skewed adversary, d=100", "skewed", ("StoSignSGD", "SignSGD"), D_SKEWED * 4.0),
              ("hinge stream, d=10", "hinge_stream", ("StoSignSGD", "SignSGD-skewed"), None),
              ("L1 stream, d=10", "l1_stream", ("StoSignSGD", "SignSGD-skewed"), None)]
    for ax, (title, prefix, opts, _) in zip(axes[0], panels):
        for o in opts:
            r = data[f"{prefix}/{o}"]
            name = o.replace("-skewed", "")
            label = o.replace("-skewed", " (skewed feedback)")
            band(ax, CK, r["regret"], label, COLORS[name])
            if "G_sum" in r:
                ax.plot(CK, stosign_regret_upper(CK, r["G_sum"].mean(axis=0), 2.0), "--", color=COLORS[name],
                        label="upper bound, sqrt(2) w sqrt(T) E[sum G_T]")
        ax.plot(CK, CK ** 0.5 * data[f"{prefix}/StoSignSGD"]["regret"][:, 0].mean() / CK[0] ** 0.5, ":", color="k",
                label="slope 1/2")
        ax.set(xscale="log", yscale="log", xlabel="horizon T (rounds)", ylabel="regret R_T", title=title)
        ax.legend(loc="upper left", fontsize=7)
    ax = axes[0][3]
    for o in RADEMACHER_ALGOS:
        band(ax, CK, data[f"rademacher/{o}/main"]["regret"], o, COLORS[o], alpha=0.8)
    ax.plot(CK, linear_regret_lower(CK, D_RADEMACHER, 1, 1), "k--", label="exact lower bound d D L E|S_T|")
    ax.plot(CK, stosign_regret_upper(CK, D_RADEMACHER * 1.0, 2.0), "--", color=COLORS["StoSignSGD"],
            label="StoSignSGD upper bound")
    ax.set(xscale="log", yscale="log", xlabel="horizon T (rounds)", ylabel="regret R_T",
           title="Rademacher adversary, d=10, D=L=1")
    ax.legend(loc="upper left", fontsize=7)
    return save(fig, outdir, "regret")
