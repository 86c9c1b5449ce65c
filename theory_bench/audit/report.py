"""The audit's report: ``report.json``, ``report.md`` (one page) and its figures, PNG and PDF.

``report.json``: ``{"optimizer", "kwargs", "command", "quick", "T", "seeds", "lr_grid",
"problems": [{"problem", "verdict", "final_gap", "interval", "best_lr", "steps_to_target",
"sensitivity", ...}], "checks": [...], "profile": {...} | null, "baselines": {...} | null,
"versions": {...}}``, strict JSON (``Infinity`` as a string). Every file is written atomically, and
only after every run finished.
"""
from pathlib import Path

import numpy as np

from theory_bench.results import strict_json
from theory_bench.results.store import atomic_write_text

HIGHLIGHT = {"SGD": ("#2ca02c", "-"), "Adam": ("#9467bd", "-"), "SignSGD (pytorch-optimizer)": ("#d62728", "--"),
             "Lion (lion-pytorch)": ("#e69f00", ":"), "StoSignSGD (theory_bench.torch)": ("#1f77b4", "-"),
             "StoSignSGD practical (theory_bench.torch)": ("#17becf", "--")}


def _g(v):
    return "inf" if not np.isfinite(v) else f"{v:.3g}"


def _steps(v):
    if v is None:
        return "-"
    return "never (inf)" if not np.isfinite(v) else f"{v:.0f}"


def markdown(rep, figures):
    lines = [f"# Audit of `{rep['optimizer']}`" + (f" with `{strict_json.dumps(rep['kwargs'])}`" if rep["kwargs"] else ""),
             "", f"Reproduce: `{rep['command']}`", "",
             f"Every problem of the battery at T = {rep['T']} steps, {rep['seeds']} seeds (children of "
             f"SeedSequence({rep['root_seed']})), lr from {rep['lr_grid_text']} with eta_t = lr / sqrt(t) "
             "(a numpy-protocol class gets lr and decides its schedule itself). Verdicts at the best lr, from 95% "
             "bootstrap intervals over seeds: *wrong way*, the final gap's interval lies above the gap at x0; "
             "*converges*, log gap falls with slope surely below -0.15 over the last decade, or the gap is below "
             "1e-3 of the initial one; *stuck*, neither; *diverges*, a non-finite iterate at every lr. Theory: the "
             "section of docs/theory.md that predicts the outcome.", "",
             "| problem | precision | verdict | final gap [95% interval] | gap at x0 | best lr (x lr_p) | "
             "steps to target | theory |", "|" + " --- |" * 8]
    for r in rep["problems"]:
        lr = "none finite" if r["best_lr"] is None else f"{r['best_lr']:.3g} (x{r['lr_multiplier']:.3g})"
        lines.append(f"| {r['label']} | {r['precision']} | **{r['verdict']}** | {_g(r['final_gap'])} "
                     f"[{_g(r['interval'][0])}, {_g(r['interval'][1])}] | {r['initial_gap']:.3g} | {lr} | "
                     f"{_steps(r['steps_to_target'])} | §{r['section']}: {r['theory']} |")
    if rep.get("not_run"):
        lines += ["", f"Not run: {rep['not_run']}"]
    lines += ["", "| check | verdict | numbers | theory |", "| --- | --- | --- | --- |"]
    for c in rep["checks"]:
        if c["check"] == "regret rate" and "slope" in c:
            nums = (f"slope {c['slope']:.2f} [{c['interval'][0]:.2f}, {c['interval'][1]:.2f}] over [T/100, T] "
                    f"(sublinear: upper end <= {c['max_slope']}); max_T mean R_T / bound(T) = "
                    f"{c['bound_ratio'][0]:.3g} [{c['bound_ratio'][1]:.3g}, {c['bound_ratio'][2]:.3g}] at eta = {c['lr']:.3g}")
        else:
            nums = c.get("detail", "")
        lines.append(f"| {c['check']}" + (f" ({c['problem']})" if c.get("problem") else "") +
                     f" | **{c['verdict']}** | {nums} | §{c['section']}: {c['theory']} |")
    lines += ["", "## Step sizes", "", f"![sensitivity]({figures['sensitivity']})", "",
              "Final gap over the gap at x0 against lr, every problem; a cross on the top edge: a run diverged "
              "at that lr. A narrow valley is a narrow working range.", ""]
    lines += _baselines_md(rep, figures)
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in rep["versions"].items() if v) + "."]
    return "\n".join(lines) + "\n"


def _baselines_md(rep, figures):
    prof = rep.get("profile")
    if prof is None:
        return ["## Among the baselines", "", rep.get("baselines_note", "No baselines file: no profile."), ""]
    b = rep["baselines"]
    scores = sorted(prof["scores"].items(), key=lambda kv: -kv[1])
    rank = [m for m, _ in scores].index(prof["audited"]) + 1
    lines = ["## Among the baselines", "",
             f"![profile]({figures['profile']})", "",
             "The audited optimizer is the wide grey line (drawn under the baselines, so a baseline with the same "
             "profile shows on top of it).", "",
             f"Steps to target, the fewest over the lr grid, read up to T = {prof['horizon']}: the target on each problem "
             f"is {prof['target_factor']:g}x the smallest mean gap any baseline reaches by then (AlgoPerf sets targets "
             "from the best baseline), infinite where never reached (AlgoPerf's rule)"
             + (f"; left out, as no baseline gets within a quarter of the gap at x0 by then: "
                f"{', '.join(prof['left_out'])}" if prof["left_out"] else "") + ". Performance profile: "
             "the fraction of the problems on which a method is within tau of the fastest; score: its mean over "
             f"tau in [1, 4]. **{prof['audited']}: score {prof['scores'][prof['audited']]:.2f}, rank {rank} of "
             f"{len(scores)}.** Baselines: `{b['file']}`, written by {b['written_by']} (theory-bench "
             f"{b['theory_bench']}, commit {str(b['git_commit'])[:10]}, {b['finished']}; T = {b['T']}, {b['seeds']} seeds, "
             f"lr grid {b['lr_grid']} x lr_p).", "",
             "| method | score | " + " | ".join(prof["problems"]) + " |", "|" + " --- |" * (2 + len(prof["problems"]))]
    for m, sc in scores:
        name = f"**{m}**" if m == prof["audited"] else m
        lines.append(f"| {name} | {sc:.2f} | " + " | ".join(_steps(v) for v in prof["steps"][m]) + " |")
    return lines


def sensitivity_figure(rep, outdir):
    from theory_bench.results.plotting import figure, legend_below, save, style
    fp64 = [r for r in rep["problems"] if r["precision"] == "fp64"]
    low = [r for r in rep["problems"] if r["precision"] != "fp64"]
    fig, axes = figure(ncols=2 if low else 1, width=4.8, height=4.0)
    relative = rep["lr_grid"] is None
    xlabel = "lr / lr_p (the problem's theory step)" if relative else "lr"

    def draw(ax, rows, dashed=False):
        """One line per problem; the lrs at which a run diverged as crosses on the top edge."""
        curves, diverged = [], []
        for k, r in enumerate(rows):
            color, ls = style(k)
            xs = np.array([s["lr"] / (r["lr_p"] if relative else 1.0) for s in r["sensitivity"]])
            ys = np.array([s["final_gap"] / r["initial_gap"] for s in r["sensitivity"]])
            order = np.argsort(xs)
            xs, ys = xs[order], ys[order]
            ok = np.isfinite(ys)
            label = r["label"] + (f" ({r['precision']})" if r["precision"] != "fp64" or dashed else "")
            curves.append((xs[ok], np.maximum(ys[ok], 1e-8), color, "--" if dashed else ls, label))
            diverged += [(x, color) for x in xs[~ok]]
        top = 2 * max([1.0] + [float(c[1].max()) for c in curves if c[1].size])
        for xs, ys, color, ls, label in curves:
            ax.plot(xs, ys, color=color, ls=ls, marker="o", ms=3, label=label)
        for x, color in diverged:
            ax.plot([x], [top], marker="x", color=color, ms=7, ls="none")
        if diverged:
            ax.plot([], [], marker="x", color="0.3", ls="none", label="diverged at this lr (top edge)")

    ax = axes[0][0]
    draw(ax, fp64)
    ax.axhline(1.0, color="0.3", lw=0.8, ls=":", label="gap at x0 (above: wrong way)")
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="final gap / gap at x0", title="fp64, every problem")
    legend_below(ax, ncol=2, offset=0.32)
    if low:
        ax = axes[0][1]
        twins = [r for r in fp64 if r["problem"] in {lr["problem"].split("@")[0] for lr in low}]
        draw(ax, low)
        draw(ax, twins, dashed=True)
        ax.axhline(1.0, color="0.3", lw=0.8, ls=":")
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="final gap / gap at x0",
               title=f"{low[0]['precision']} (solid) vs fp64 (dashed)")
        legend_below(ax, ncol=1, offset=0.32)
    fig.suptitle(f"{rep['optimizer']}: final gap against lr, T = {rep['T']}, mean of {rep['seeds']} seeds", fontsize=9)
    return save(fig, outdir, "audit_sensitivity")


def profile_figure(rep, outdir):
    from theory_bench.results.plotting import figure, legend_below, save
    prof = rep["profile"]
    taus = np.asarray(prof["tau"])
    fig, axes = figure(width=6.0, height=3.9)
    ax = axes[0][0]
    baselines = [m for m in prof["rho"] if m != prof["audited"]]
    top = max(baselines, key=lambda m: prof["scores"][m])
    shown = {**HIGHLIGHT, **({} if top in HIGHLIGHT else {top: ("#e377c2", "-.")})}
    others = [m for m in baselines if m not in shown]
    for k, m in enumerate(others):
        ax.step(taus, prof["rho"][m], where="post", color="0.75", lw=0.7,
                label=f"the other {len(others)} baselines" if k == 0 else None)
    for m, (color, ls) in shown.items():
        if m in prof["rho"]:
            ax.step(taus, prof["rho"][m], where="post", color=color, ls=ls, lw=1.5,
                    label=m + (" (the best baseline here)" if m == top else ""))
    ax.step(taus, prof["rho"][prof["audited"]], where="post", color="black", lw=4, alpha=0.45, zorder=1,
            label=f"audited: {prof['audited'].rpartition(':')[2]} (wide grey)")
    ax.set(xlabel="tau (steps to target / the fastest method's)", ylabel="fraction of problems within tau",
           ylim=(-0.03, 1.03), xlim=(1, taus[-1]),
           title=f"performance profile on {len(prof['problems'])} problems (target: {prof['target_factor']:g}x "
                 "the best baseline's gap)")
    legend_below(ax, ncol=2, offset=0.3)
    return save(fig, outdir, "audit_profile")


def write(rep, outdir):
    """The figures, ``report.md`` and ``report.json`` under ``outdir``; the paths written."""
    outdir = Path(outdir)
    paths = list(sensitivity_figure(rep, outdir))
    figures = {"sensitivity": "audit_sensitivity.png", "profile": "audit_profile.png"}
    if rep.get("profile") is not None:
        paths += profile_figure(rep, outdir)
    atomic_write_text(outdir / "report.json", strict_json.dumps(rep, indent=1) + "\n")
    atomic_write_text(outdir / "report.md", markdown(rep, figures))
    return paths + [outdir / "report.json", outdir / "report.md"]
