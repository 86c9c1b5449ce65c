"""``theory-bench audit``: grade any optimizer on the whole battery, and place it among the baselines.

``audit(spec, kwargs=None, lrs=None, quick=False, out="audit", ...)`` reads and checks the
optimizer (``spec.read_spec``) and the baselines file before anything runs or is written, runs the
battery (``runner``), grades every problem and check (``grades``), places the optimizer in the
zoo's performance profile (``profile``), then writes ``report.md``, ``report.json`` and the figures
(``report``) under ``out``; the runs themselves are stored under ``out/store`` (an interrupted audit
resumes). docs/audit.md says what every number means.
"""
import shlex
import sys
import time
from pathlib import Path

from theory_bench.audit.spec import AuditInputError, check_lrs, read_spec

DEFAULT_BASELINES = Path(__file__).resolve().parents[2] / "figures" / "zoo_baselines.json"
__all__ = ["AuditInputError", "audit", "DEFAULT_BASELINES"]


def _baselines(path):
    from theory_bench.experiments import baselines
    if path in ("none", None):
        return None, "No baselines asked for (--baselines none): no profile."
    if path == "default":
        if not DEFAULT_BASELINES.is_file():
            return None, (f"No baselines: {DEFAULT_BASELINES} is not there (an install without the repository's "
                          "figures/); run `theory-bench run zoo` and pass --baselines <figures>/zoo_baselines.json.")
        path = DEFAULT_BASELINES
    try:
        return baselines.load(path) | {"file": str(path)}, None
    except ValueError as err:
        raise AuditInputError(f"--baselines: {err}") from None


def command(spec, kwargs_text, lrs, quick, seeds, keys):
    parts = ["theory-bench", "audit", spec]
    if kwargs_text:
        parts += ["--kwargs", kwargs_text]
    if lrs:
        parts += ["--lr", *map(repr, lrs)]
    if quick:
        parts.append("--quick")
    if seeds:
        parts += ["--seeds", str(seeds)]
    if keys:
        parts += ["--problems", *keys]
    return shlex.join(parts)


def _versions(audited):
    from importlib import metadata
    from theory_bench.experiments.packages import package_versions, versions
    out = versions()
    top = audited.optimizer.split(":")[1].split(".")[0] if audited.optimizer.startswith("torch:") else None
    dists = metadata.packages_distributions().get(top, []) if top else []
    return {**out, **package_versions(["torch", *dists])}


def audit(spec, *, kwargs=None, lrs=None, quick=False, out="audit", seeds=None, problems=None, jobs=None,
          scheduler=None, baselines="default", progress=True):
    """Audit ``spec`` (docs/audit.md); return the report as a dict (what ``report.json`` holds)."""
    from theory_bench.audit import grades, profile, report, runner
    from theory_bench.experiments.battery import LR_GRID
    from theory_bench.experiments.context import Context
    from theory_bench.experiments.runs import SEED_ROOT
    from theory_bench.results.parallel import scheduler_from
    from theory_bench.results.store import ResultStore

    audited = read_spec(spec, kwargs)
    lrs = check_lrs(lrs)
    try:
        plan = runner.Plan.make(quick, seeds, problems, lrs)
    except ValueError as err:
        raise AuditInputError(str(err)) from None
    base, note = _baselines(baselines)
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=plan.n_runs(audited), desc="audit", unit=" runs", dynamic_ncols=True, file=sys.stderr)
    ctx = Context(quick=quick, jobs=jobs, store=ResultStore(out, "store"), seeds=plan.seeds, progress=bar,
                  scheduler=scheduler_from(scheduler))
    try:
        settings = runner.run_battery(audited, plan, ctx)
    finally:
        if bar is not None:
            bar.close()
    rows = [grades.grade(s, plan) for s in settings.values()]
    checks = [grades.regret_check(s) for (key, low), s in settings.items() if s["entry"].online and not low]
    checks.append(grades.unbiased_check(audited.sign_operator, 5000 if quick else 20000))
    rep = {"optimizer": spec, "kind": audited.kind, "kwargs": audited.kwargs,
           "command": command(spec, kwargs, lrs, quick, seeds, problems), "quick": quick, "T": plan.T,
           "seeds": plan.seeds, "root_seed": SEED_ROOT, "lr_grid": None if lrs is None else list(lrs),
           "lr_grid_text": (f"{list(LR_GRID)} x each problem's lr_p" if lrs is None else f"{list(lrs)} on every problem"),
           "problems": rows, "checks": checks, "profile": None, "baselines": None,
           "source_sha256": audited.source_sha256, "versions": _versions(audited)}
    if audited.kind == "numpy":
        rep["not_run"] = (f"the {runner.LOW_PRECISION_LABEL} rows: a numpy-protocol class keeps its state itself, so "
                          "the engine cannot store it in a format; round inside your step "
                          "(theory_bench.precision.round_to) or audit a torch version")
    if base is not None:
        keys = [e.key for e in plan.entries if e.key in base["problems"]]
        horizon = int(min(plan.T, base["T"]))
        target = profile.targets(base, keys, horizon)
        left_out = [k for k in keys if k not in target]
        keys = [k for k in keys if k in target]
        steps = {spec: profile.audited_steps(settings, keys, horizon, target),
                 **profile.baseline_steps(base, keys, horizon, target)}
        rho, scores, _ = profile.profile(steps)
        for row in rows:
            if row["precision"] == "fp64" and row["problem"] in target:
                row["target"], row["steps_to_target"] = target[row["problem"]], steps[spec][keys.index(row["problem"])]
        rep["profile"] = {"audited": spec, "problems": keys, "left_out": left_out, "horizon": horizon,
                          "target_factor": profile.TARGET_FACTOR,
                          "targets": target, "tau": profile.TAUS, "rho": rho, "scores": scores, "steps": steps,
                          "same_lr_grid": lrs is None and list(base["lr_grid"]) == list(LR_GRID)}
        rep["baselines"] = {k: base[k] for k in ("file", "written_by", "theory_bench", "git_commit", "finished", "T",
                                                  "seeds", "lr_grid")}
    else:
        rep["baselines_note"] = note
    rep["wall_s"] = time.perf_counter() - t0
    rep["files"] = [str(p) for p in report.write(rep, out)]
    return rep
