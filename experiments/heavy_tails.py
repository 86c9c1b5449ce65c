"""When momentum does not save the sign: rare positive spikes (docs/theory.md §3.5).

On ``spiky_linear`` (``g = mu + A (B - p)`` per coordinate, ``mu = r A p`` with the signal fraction
``r = 1/2``, ``A = 10``) every method's stationary drift ``E[s]`` (``+``: downhill) is measured by
running the suite's own kernels with a constant step of ``2^-30`` from ``x = 0``, so that no
coordinate reaches the box and the move over ``[t0, T]`` is exactly the sum of the sign steps:
``E[s] = -(sum_i x_T,i - sum_i x_t0,i) / (d lr (T - t0))``, read off the loss ``mu sum_i x_i``.

Claims (each with its falsifying variant):
- ``heavy_tails-drift-<method>``: the measured drift agrees with ``analysis.spike_drift.drift`` at
  every ``p`` of the grid (within the seeds' 99.9% interval plus the drift's stated accuracy), for
  SignSGD, Signum(0.9), Signum(0.99), Lion(0.9, 0.99) and StoSignSGD; variant: the Gaussian model
  of the average (``E[sign m] = erf(E[m] / sqrt(2 Var m))``), which ignores the skew, for the
  momentum methods, and SignSGD's ``2p - 1`` for StoSignSGD.
- ``heavy_tails-boundary``: where the theory's drift is clearly non-zero, the measured drift has
  its sign (the boundary ``p W`` lies where the theory puts it, near ``0.35`` for ``r = 1/2``);
  variant: the first guess, wrong way iff ``p W < ln 2``.
- ``heavy_tails-symmetric``: at ``p W = 0.1`` (wrong way under spikes) Signum(0.99) and Lion
  converge under symmetric noise of the same variance (drift ``> 0``); variant: the spikes.
- ``heavy_tails-stosign-time``: StoSignSGD (``lr sqrt(2) / sqrt(t)``) halves the gap of its averaged
  iterate (``mean x_avg <= -1/2``) in a number of steps growing as ``(A / mu)^2`` (§3.1's bound with
  ``G = mu + A (1 - p)``: slope of ``log T*`` against ``log(A / mu)`` in ``[1.5, 2.5]``): the price of
  unbiasedness; variant: SignSGD, which never gets there. SGD is in the figure: its steps grow
  more slowly here (its step is not divided by ``G``).
Figures: drift against ``p W`` per method (theory line, measured points), and mean trajectories.
"""
import math

import numpy as np
from scipy.special import erf

from theory_bench.analysis.bootstrap import bootstrap_interval, mean_interval
from theory_bench.analysis.claims import Claim, Measurement, Range
from theory_bench.analysis.spike_drift import drift_with_error
from theory_bench.experiments.runs import spec

NAME = "heavy_tails"
TITLE = "rare positive spikes: where momentum does not save the sign, and what unbiasedness costs"
A, R, D = 10.0, 0.5, 200                  # spike height, signal fraction mu / (A p), coordinates
P_GRID = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04)
LR = 2.0 ** -30
METHODS = {                               # label -> (optimizer, its keywords, spike_drift method and hyper)
    "SignSGD": ("SignSGD", {}, ("signsgd", {})),
    "Signum(0.9)": ("Signum", {"beta": 0.9}, ("signum", {"beta": 0.9})),
    "Signum(0.99)": ("Signum", {"beta": 0.99}, ("signum", {"beta": 0.99})),
    "Lion(0.9, 0.99)": ("Lion", {"beta1": 0.9, "beta2": 0.99}, ("lion", {"beta1": 0.9, "beta2": 0.99})),
    "StoSignSGD": ("StoSignSGD", {}, ("stosignsgd", {})),
}
WINDOW = {"SignSGD": 1.0, "Signum(0.9)": 10.0, "Signum(0.99)": 100.0, "Lion(0.9, 0.99)": 100.0, "StoSignSGD": 1.0}
SEEDS, QUICK_SEEDS = 8, 4
TIME_RATIOS = (25, 50, 100, 200)          # A / mu for the time-to-target claim (p = 0.1, mu = 0.01)
TIME_P, TIME_MU, TIME_D, TIME_T = 0.1, 0.01, 10, 1_000_000
TIME_OPTS = ("StoSignSGD", "SGD", "SignSGD")


def mu_of(p):
    return R * A * p


def window(p, quick=False):
    """``(t0, T)``: measure after 20 / p steps (a first spike in every coordinate, the average settled)."""
    t0 = int(math.ceil(20 / p))
    return t0, t0 + (10_000 if quick else 40_000)


def drift_spec(label, p, symmetric=False, quick=False):
    opt, kw, _ = METHODS[label]
    if symmetric:       # +-sigma with probability 1/2 (p = 1/2 spikes of 2 sigma): the same variance
        sigma = A * math.sqrt(p * (1 - p))
        problem_kw = dict(d=D, mu=mu_of(p), p=0.5, A=2 * sigma)
    else:
        problem_kw = dict(d=D, mu=mu_of(p), p=p, A=A)
    return _drift_run(opt, {"lr": LR, "schedule": "constant", **kw}, problem_kw, p, quick)


def _drift_run(opt, opt_kw, problem_kw, p, quick):
    t0, T = window(p, quick)
    return spec("spiky_linear", opt, T, problem_kw=problem_kw, opt_kw=opt_kw, checkpoints=[t0, T])


# --- envelopes under spikes (the ablation's rows, docs/sign_conversion.md): bias against speed ---
ENV_MU, ENV_P, ENV_A = 0.01, 0.1, 1.0        # spike mu + A (1 - p) = 0.91, between spikes mu - A p = -0.09
SPIKE, LOW = ENV_MU + ENV_A * (1 - ENV_P), ENV_A * ENV_P - ENV_MU
ENVELOPES = {   # label -> sign_convert switches
    "running max (StoSignSGD)": {"envelope": "max"},
    "decayed max, beta 0.99": {"envelope": "decayed_max", "beta": 0.99},
    "decayed max, beta 0.9": {"envelope": "decayed_max", "beta": 0.9},
    f"constant C = {2 * SPIKE:.3g} (2x the spike)": {"envelope": "constant", "C": 2 * SPIKE},
    "constant C = 0.5 (below the spike)": {"envelope": "constant", "C": 0.5},
}


def envelope_theory(switches):
    """The drift where it has a closed form: ``mu / B`` for an envelope at least every |g| (the running
    max is the spike, ``B = SPIKE``); a constant below the spike clips it: ``p + (1 - p) (mu - A p) / C``."""
    if switches["envelope"] == "max":
        return ENV_MU / SPIKE
    if switches["envelope"] == "constant":
        C = switches["C"]
        return ENV_MU / C if C >= SPIKE else ENV_P + (1 - ENV_P) * (ENV_MU - ENV_A * ENV_P) / C
    return None                                   # the decayed max: measured only (its B moves with the spikes)


def envelope_specs(quick):
    out = []
    for label, switches in ENVELOPES.items():
        out.append((("env-drift", label), _drift_run("sign_convert", {"lr": LR, "base_kw": {"schedule": "constant"},
                                                                      **switches},
                                                     dict(d=D, mu=ENV_MU, p=ENV_P, A=ENV_A), ENV_P, quick)))
        out.append((("env-time", label), spec("spiky_linear", "sign_convert", TIME_T,
                                              problem_kw=dict(d=TIME_D, mu=ENV_MU, p=ENV_P, A=ENV_A),
                                              opt_kw={"lr": 2 ** 0.5, **switches},
                                              checkpoints=np.unique(np.logspace(1, math.log10(TIME_T), 60).astype(int)))))
    return out


def time_spec(opt, ratio):
    """The quick form too runs ``TIME_T`` steps: at ``A / mu = 200`` a seed takes up to 4e5 (d = 10: cheap)."""
    return spec("spiky_linear", opt, TIME_T, problem_kw=dict(d=TIME_D, mu=TIME_MU, p=TIME_P, A=ratio * TIME_MU),
                checkpoints=np.unique(np.logspace(1, math.log10(TIME_T), 60).astype(int)))


def configs(quick=False):
    out = [(("drift", label, p), drift_spec(label, p, quick=quick)) for label in METHODS for p in P_GRID]
    out += [(("symmetric", label), drift_spec(label, 0.001, symmetric=True, quick=quick))
            for label in ("Signum(0.99)", "Lion(0.9, 0.99)")]
    out += [(("time", opt, ratio), time_spec(opt, ratio)) for opt in TIME_OPTS for ratio in TIME_RATIOS]
    return out + envelope_specs(quick)


def theory(quick):
    """``{(label, p): (drift, accuracy)}`` from ``spike_drift`` (fewer draws in the quick form)."""
    n = 1_000_000 if quick else None                  # quick: accuracy 5.4e-3 instead of 1e-3
    out = {}
    for label, (_, _, (method, hyper)) in METHODS.items():
        for p in P_GRID:
            out[label, p] = drift_with_error(method, mu_of(p), p, A, n=n, **hyper)
    return out


def run(ctx):
    seeds = QUICK_SEEDS if ctx.quick else SEEDS
    data = {key: ctx.runs(s, seeds) for key, s in configs(ctx.quick)}
    data["theory"] = theory(ctx.quick)
    return data


def table(data, ctx):
    """The envelope ablation under spikes: each envelope's drift (theory where closed, measured) and its
    steps to halve the gap of the averaged iterate."""
    rows = ["| variant | unbiased under spikes | drift, theory | drift, measured [95%] | steps to halve the gap, median "
            "[min, max] over seeds |", "| --- | --- | --- | --- | --- |"]
    for label, switches in ENVELOPES.items():
        th = envelope_theory(switches)
        m, lo, hi = _interval(measured_drift(data["env-drift", label], ENV_MU), 0.95)
        steps = steps_to_target(data["env-time", label], mu=ENV_MU)
        fmt = lambda v: "never" if not np.isfinite(v) else f"{v:.3g}"
        unbiased = "yes" if th is not None and th > 0 and switches["envelope"] != "decayed_max" else "no"
        rows.append(f"| {label} | {unbiased} | {'-' if th is None else f'{th:+.4f}'} | {m:+.4f} [{lo:+.4f}, {hi:+.4f}] | "
                    f"{fmt(np.median(steps))} [{fmt(steps.min())}, {fmt(steps.max())}] |")
    rows.append("")
    rows.append(f"spiky_linear, mu = {ENV_MU}, p = {ENV_P}, A = {ENV_A} (spike {SPIKE:.3g}, between spikes "
                f"{-LOW:.3g}); sign_convert(SGD) with each envelope. Drift: constant step 2^-30, d = {D}, after "
                f"20 / p steps; steps: lr sqrt(2) / sqrt(t), d = {TIME_D}, T <= {TIME_T}, target mean x_avg <= -1/2. "
                "A decayed max falls below the spike between spikes, so a spike step counts 1 while the steps "
                "between count g / B > g / G: biased the wrong way; a constant below the spike clips it.")
    return "\n".join(rows)


def measured_drift(r, mu, d=D):
    """Per seed: ``-(sum x_T - sum x_t0) / (d lr (T - t0))`` from the loss ``mu sum_i x_i``."""
    t0, T = r["t"][0]
    return -(r["loss"][:, 1] - r["loss"][:, 0]) / mu / (d * LR * (T - t0))


def gaussian_model(label, p):
    """The drift if the average were Gaussian: ``erf(mu / sqrt(2 Var m))`` (it ignores the skew)."""
    _, kw, _ = METHODS[label]
    var_g = A * A * p * (1 - p)
    if "beta" in kw:
        b = kw["beta"]
        var = var_g * (1 - b) / (1 + b)
    else:
        b1, b2 = kw["beta1"], kw["beta2"]
        var = var_g * ((1 - b1) ** 2 + (b1 * (1 - b2)) ** 2 / (1 - b2 ** 2))
    return float(erf(mu_of(p) / math.sqrt(2 * var)))


def _interval(x, level=0.999):
    return bootstrap_interval(np.asarray(x)[:, None], lambda rows: float(rows.mean()), level=level)


def _agreement(data, label, predict):
    """``max_p |measured - predicted| / (half-width of the 99.9% interval + accuracy)``."""
    worst = 0.0
    for p in P_GRID:
        m, lo, hi = _interval(measured_drift(data["drift", label, p], mu_of(p)))
        pred, acc = predict(p)
        worst = max(worst, abs(m - pred) / ((hi - lo) / 2 + acc + 1e-12))
    return worst


def _sign_agreement(data, predict_sign):
    """The fraction of grid points, where the theory's drift is clearly non-zero, at which the measured
    drift has the sign ``predict_sign(label, p)`` gives."""
    agree = total = 0
    for label in ("Signum(0.9)", "Signum(0.99)", "Lion(0.9, 0.99)"):
        for p in P_GRID:
            pred, acc = data["theory"][label, p]
            m, lo, hi = _interval(measured_drift(data["drift", label, p], mu_of(p)))
            if abs(pred) > 2 * acc + (hi - lo):
                total += 1
                agree += int(np.sign(m) == predict_sign(label, p))
    return agree / max(total, 1)


def steps_to_target(r, d=TIME_D, mu=TIME_MU, target=-0.5):
    """Per seed: the first checkpoint at which the averaged iterate's mean coordinate is at or below
    ``target`` (inf if never): the gap halved."""
    mean_x = r["loss_avg"] / mu / d
    hit = mean_x <= target
    return np.where(hit.any(axis=1), r["t"][0][np.argmax(hit, axis=1)], np.inf)


def _time_slope(data, opt):
    ratios = np.log(np.array(TIME_RATIOS, dtype=np.float64))
    cols = np.stack([steps_to_target(data["time", opt, ratio]) for ratio in TIME_RATIOS], axis=1)

    def slope(rows):
        med = np.log(np.median(rows, axis=0))
        return float(np.polyfit(ratios, med, 1)[0]) if np.all(np.isfinite(med)) else math.inf
    return bootstrap_interval(cols, slope, method="inverted_cdf")


def claims(data, ctx):
    n = ctx.n_seeds(QUICK_SEEDS if ctx.quick else SEEDS)
    setup = f"spiky_linear d={D}, A={A:g}, mu = {R} A p, p in {list(P_GRID)}, lr = 2^-30 constant, {n} seeds"
    out = []
    for label, (_, _, (method, _)) in METHODS.items():
        theory_fn = lambda p, label=label: data["theory"][label, p]
        if method in ("signum", "lion"):
            variant, variant_fn = "Gaussian model of the average (no skew)", lambda p, label=label: (gaussian_model(label, p), 0.0)
        elif method == "stosignsgd":
            variant, variant_fn = "SignSGD's 2p - 1", lambda p: (2 * p - 1, 0.0)
        else:
            variant, variant_fn = "StoSignSGD's mu / G", lambda p: (mu_of(p) / (mu_of(p) + A * (1 - p)), 0.0)
        out.append(Claim(
            f"heavy_tails-drift-{label.lower().replace('(', '').replace(')', '').replace(', ', '-')}",
            f"{label}'s stationary drift under rare spikes is spike_drift.drift's at every p",
            "max_p |measured - theory| / (99.9% half-width + accuracy)", Range(hi=1.0),
            Measurement.exact(_agreement(data, label, theory_fn), setup), variant,
            Measurement.exact(_agreement(data, label, variant_fn), setup), section="3.5"))
    naive = lambda label, p: -1.0 if p * WINDOW[label] < math.log(2) else 1.0
    theory_sign = lambda label, p: float(np.sign(data["theory"][label, p][0]))
    out.append(Claim(
        "heavy_tails-boundary", "Signum and Lion go the wrong way exactly where the theory's drift is negative "
        "(the boundary near p W = 0.35 for mu / (A p) = 1/2)", "fraction of clear grid points with the theory's sign",
        Range(lo=1.0), Measurement.exact(_sign_agreement(data, theory_sign), setup), "first guess: wrong way iff p W < ln 2",
        Measurement.exact(_sign_agreement(data, naive), setup), section="3.5"))
    sym_setup = f"spiky_linear d={D}, p = 0.001 (p W = 0.1), mu = {mu_of(0.001):g}; symmetric: +-A sqrt(p (1-p))"

    def lowest(kind):
        vals = [_interval(measured_drift(data[k], mu_of(0.001)), 0.95) for k in kind]
        return Measurement(min(v[0] for v in vals), min(v[1] for v in vals), min(v[2] for v in vals), sym_setup)
    out.append(Claim(
        "heavy_tails-symmetric", "Signum(0.99) and Lion go the right way under symmetric noise of the same variance "
        "where spikes send them the wrong way", "min over the two of the measured drift", Range(lo=0.0),
        lowest([("symmetric", "Signum(0.99)"), ("symmetric", "Lion(0.9, 0.99)")]), "the spikes (p = 0.001)",
        lowest([("drift", "Signum(0.99)", 0.001), ("drift", "Lion(0.9, 0.99)", 0.001)]), section="3.5"))
    t_setup = (f"spiky_linear d={TIME_D}, p={TIME_P}, mu={TIME_MU}, A / mu in {list(TIME_RATIOS)}, "
               f"lr sqrt(2)/sqrt(t), target mean x_avg <= -1/2, T <= {TIME_T}, {n} seeds")
    out.append(Claim(
        "heavy_tails-stosign-time", "StoSignSGD's steps to the target grow as (A / mu)^2: the price of unbiasedness",
        "slope of log median steps vs log(A / mu)", Range(1.5, 2.5), Measurement(*_time_slope(data, "StoSignSGD"),
                                                                             setup=t_setup),
        "SignSGD", Measurement(*_time_slope(data, "SignSGD"), setup=t_setup), section="3.1, 3.5"))
    return out


def figures(data, ctx, outdir):
    from theory_bench.results.plotting import COLORS, figure, legend_below, save
    fig, axes = figure(ncols=2, width=5.2, height=4.2)
    ax = axes[0][0]
    colors = {"SignSGD": COLORS["SignSGD"], "Signum(0.9)": "#ff7f0e", "Signum(0.99)": "#8c564b",
              "Lion(0.9, 0.99)": "#bcbd22", "StoSignSGD": COLORS["StoSignSGD"]}
    markers = {"SignSGD": "v", "Signum(0.9)": "o", "Signum(0.99)": "s", "Lion(0.9, 0.99)": "D", "StoSignSGD": "^"}
    for label in METHODS:
        u = np.array([p * WINDOW[label] for p in P_GRID])
        th = np.array([data["theory"][label, p][0] for p in P_GRID])
        ax.plot(u, th, color=colors[label], lw=1.2, label=f"{label}: theory")
        ms = [_interval(measured_drift(data["drift", label, p], mu_of(p)), 0.95) for p in P_GRID]
        m = np.array([v[0] for v in ms])
        err = np.array([[v[0] - v[1] for v in ms], [v[2] - v[0] for v in ms]])
        ax.errorbar(u, m, yerr=err, fmt=markers[label], color=colors[label], ms=4, lw=0, elinewidth=1,
                    label=f"{label}: measured")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axvline(math.log(2), color="0.6", ls=":", lw=1, label="first guess p W = ln 2")
    ax.set(xscale="log", xlabel="expected spikes per window, p W  (W = 1 / (1 - beta))",
           ylabel="stationary drift E[s]  (+: downhill)", title=f"spiky noise, A = {A:g}, mu = A p / 2")
    legend_below(ax, ncol=2, offset=0.2)
    ax = axes[0][1]
    for opt, ls in (("StoSignSGD", "-"), ("SGD", "--"), ("SignSGD", ":")):
        for ratio, shade in zip(TIME_RATIOS, (1.0, 0.75, 0.5, 0.3)):
            if opt == "SignSGD" and ratio != TIME_RATIOS[0]:
                continue                               # the same curve at every A / mu: its sign ignores A
            r = data["time", opt, ratio]
            mean_x = (r["loss_avg"] / TIME_MU / TIME_D).mean(axis=0)
            label = "SignSGD, every A/mu (the same curve)" if opt == "SignSGD" else f"{opt}, A/mu = {ratio}"
            ax.plot(r["t"][0], mean_x, ls=ls, color=COLORS[opt], alpha=shade, lw=1.6, label=label)
    ax.axhline(-0.5, color="0.5", ls="-.", lw=1, label="target: mean x_avg = -1/2")
    ax.set(xscale="log", xlabel="step t", ylabel="mean coordinate of x_avg (x* = -1, wrong end +1)",
           title=f"time to halve the gap, p = {TIME_P}, mu = {TIME_MU}")
    legend_below(ax, ncol=2, offset=0.2)
    return save(fig, outdir, NAME)
