"""The baselines file: the zoo's curves on the battery, written once, read by every audit.

``theory-bench run zoo`` writes ``<figures>/zoo_baselines.json`` (the published copy:
``figures/zoo_baselines.json``, from a full run); ``theory-bench audit`` reads it, so that an audit
never reruns the baselines. Per optimizer, per battery problem, per ``lr`` multiplier: the mean gap
``f(x_avg_t) - f*`` over seeds at the shared checkpoints (``battery.checkpoints``), five significant
digits. The header says what wrote it: the theory-bench version and git commit, the date, the
horizon, the seeds, the ``lr`` grid and the package versions. ``FORMAT`` changes when the layout
does; ``load`` refuses another with the fix.
"""
import json
import time
from pathlib import Path

import numpy as np

from theory_bench.experiments.battery import BATTERY, LR_GRID
from theory_bench.results import strict_json
from theory_bench.results.store import atomic_write_text

FORMAT = 1
FILE = "zoo_baselines.json"


def _sig(values, digits=5):
    return [float(f"{v:.{digits - 1}e}") if np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]


def write(data, zoo, *, T, seeds, versions, commit, outdir, problems=BATTERY):
    """Write the baselines of ``data`` (``{(battery key, label, lr multiplier): runs}``, each with a
    ``gap`` array (seeds, checkpoints), ``t``, ``initial_gap``) to ``outdir/FILE``; return the path."""
    t = None
    optimizers = {}
    for label, path, kw, family in zoo:
        curves = {}
        for e in problems:
            per_lr = {}
            for mult in LR_GRID:
                r = data[e.key, label, mult]
                t = r["t"][0]
                per_lr[f"{mult:g}"] = _sig(r["gap"].mean(axis=0))
            curves[e.key] = per_lr
        optimizers[label] = {"spec": f"torch:{path}", "kwargs": kw, "family": family, "gap": curves}
    head = {(e.key): {"name": e.name, "params": e.params, "label": e.label,
                      "initial_gap": float(data[e.key, zoo[0][0], LR_GRID[0]]["initial_gap"])} for e in problems}
    doc = {"format": FORMAT, "written_by": "theory-bench run zoo", "theory_bench": versions.get("theory-bench"),
           "git_commit": commit, "finished": time.strftime("%Y-%m-%d"), "T": int(T), "seeds": int(seeds),
           "lr_grid": list(LR_GRID), "schedule": "lr / sqrt(t) (LambdaLR)",
           "t": [int(v) for v in t], "problems": head, "versions": versions, "optimizers": optimizers}
    out = Path(outdir) / FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, strict_json.dumps(doc) + "\n")
    return out


def load(path):
    """The baselines at ``path`` as written by ``write`` (non-finite numbers read back as floats); a
    ValueError naming the file and the fix when it is missing or of another format."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no baselines file at {path}: run `theory-bench run zoo` (it writes "
                         f"<figures>/{FILE}) and pass --baselines that file, or --baselines none")
    try:
        doc = json.loads(path.read_text(), parse_constant=float)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON ({err}); write it again with `theory-bench run zoo`") from None
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path} has baselines format {doc.get('format')!r}, this theory-bench reads {FORMAT}: "
                         "write it again with `theory-bench run zoo`")
    for opt in doc["optimizers"].values():
        for per_lr in opt["gap"].values():
            for k, v in per_lr.items():
                per_lr[k] = np.array([float(x) for x in v])
    doc["t"] = np.array(doc["t"], dtype=np.int64)
    return doc
