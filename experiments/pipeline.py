"""Run experiments through the result store, draw their figures, collect and publish the claims.

``run_experiment`` is what ``theory-bench run NAME`` does: every run not yet in the store is
computed (in parallel processes) and stored as it finishes, then the claims are evaluated and the
figures drawn from what the store holds, and ``manifest.json`` records the configuration,
package versions, git commit, wall and compile times and the claims. ``plot`` draws again from
the store without computing; ``reproduce`` runs every experiment and writes the claims table to
``<figures>/claims.md``.

Where things go (``figures_for``): a quick run, and any ``run NAME``, draws into ``<out>/figures``
and touches no tracked file; only ``publish`` (a full ``reproduce``, or ``--publish``) writes the
committed ``figures/`` and splices the tables into README.md, and only when every experiment ran
in that one invocation, so the README's prose, tables and figures come from one run.
"""
import time
from pathlib import Path

from theory_bench import experiments
from theory_bench.experiments.context import Context
from theory_bench.experiments.packages import git_commit, versions
from theory_bench.analysis.claims import table
from theory_bench.results import strict_json
from theory_bench.results.parallel import scheduler_from
from theory_bench.results.store import ResultStore, atomic_write_text

README_BEGIN, README_END = "<!-- claims:begin -->", "<!-- claims:end -->"


def _progress(name, enabled):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(desc=f"{name:12s}", unit=" runs", leave=True, dynamic_ncols=True)


def run_experiment(name, *, quick=False, seeds=None, jobs=None, out="results", figures_dir="figures",
                   compute=True, progress=True, draw=True, scheduler=None):
    """Run (or, with ``compute=False``, only read) one experiment; return ``(claims, figure paths)``."""
    module = experiments.get(name)
    store = ResultStore(out, name)
    bar = _progress(name, progress and compute)
    scheduler = scheduler_from(scheduler)
    ctx = Context(quick=quick, jobs=jobs, store=store, compute=compute, seeds=seeds, progress=bar, scheduler=scheduler)
    t0 = time.perf_counter()
    try:
        data = module.run(ctx)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    claims = module.claims(data, ctx)
    paths = module.figures(data, ctx, figures_dir) if draw else []
    if draw and hasattr(module, "table"):   # a results table, spliced into the README by publish
        paths.append(Path(figures_dir) / f"{name}_table.md")
        atomic_write_text(paths[-1], module.table(data, ctx) + "\n")
    if compute:
        store.write_manifest({
            "experiment": name, "title": module.TITLE, "quick": quick, "seeds_override": seeds, "jobs": jobs,
            "scheduler": scheduler,
            "versions": versions(), "git_commit": git_commit(), "wall_s": wall,
            "compile_s_total": _total(data, "compile_s"), "run_wall_s_total": _total(data, "wall_s"),
            "claims": [c.to_dict() for c in claims], "figures": [str(p) for p in paths],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return claims, paths


def _total(data, metric):
    total = 0.0
    for v in data.values():
        if isinstance(v, dict) and metric in v:
            total += float(v[metric].sum())
    return total


def figures_for(out, figures=None, published=False):
    """The figures folder: ``figures`` when given, else the committed ``figures/`` for a published
    run and ``<out>/figures`` for any other, so that a quick run never rewrites tracked files."""
    if figures is not None:
        return Path(figures)
    return Path("figures") if published else Path(out) / "figures"


def skipped_experiments():
    """``{name: message}`` for every experiment whose optional packages are not installed."""
    out = {}
    for name in experiments.names():
        lacking = experiments.missing(name)
        if lacking:
            hint = getattr(experiments.get(name), "INSTALL", "")
            out[name] = f"it needs {', '.join(lacking)}" + (f" ({hint})" if hint else "")
    return out


def check_publishable(skipped):
    """A published run must run every experiment: else a ValueError naming what is missing and the fix."""
    if skipped:
        why = "; ".join(f"{n}: {m}" for n, m in skipped.items())
        raise ValueError(f"cannot publish: the README's tables and figures come from one run of every experiment, "
                         f"and {', '.join(skipped)} would be skipped ({why}); install what they need, or run "
                         "without --publish (results and figures then go under --out)")


def run_all(names=None, **kw):
    """Every experiment (or those named): all of them, less those whose optional packages are not
    installed (said on stderr) unless named."""
    import sys
    claims, paths = [], []
    if names is None:
        skipped = skipped_experiments()
        for name, why in skipped.items():
            print(f"skipping {name}: {why}", file=sys.stderr)
        names = [n for n in experiments.names() if n not in skipped]
    for name in names:
        c, p = run_experiment(name, **kw)
        claims += c
        paths += p
    return claims, paths


def publish(claims, figures_dir="figures", readme="README.md"):
    """Write the claims table to ``<figures>/claims.md`` and, unless ``readme`` is None, into README.md
    between the claims markers; splice each experiment's ``<figures>/<name>_table.md`` between
    ``<!-- <name>-table:begin -->`` and ``<!-- <name>-table:end -->`` where README.md has them."""
    text = table(claims)
    Path(figures_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(figures_dir) / "claims.md", text + "\n")
    written = [Path(figures_dir) / "claims.md"]
    if readme is None:
        return written
    path = Path(readme)
    if not path.exists():
        return written
    src = _splice(path.read_text(), README_BEGIN, README_END, text)
    for name in experiments.names():
        md = Path(figures_dir) / f"{name}_table.md"
        if md.exists():
            src = _splice(src, f"<!-- {name}-table:begin -->", f"<!-- {name}-table:end -->", md.read_text().rstrip("\n"))
    if src != path.read_text():
        atomic_write_text(path, src)
        written.append(path)
    return written


def _splice(src, begin, end, text):
    """``src`` with what lies between the markers ``begin`` and ``end`` replaced by ``text`` (unchanged
    when either marker is missing)."""
    if begin not in src or end not in src:
        return src
    head, rest = src.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{text}\n{end}{tail}"


def claims_json(claims):
    """The claims as strict JSON: a non-finite number is the string "NaN", "Infinity" or "-Infinity"."""
    return strict_json.dumps([c.to_dict() for c in claims], indent=1)
