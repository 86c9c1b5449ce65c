"""The audit's runs: the audited optimizer on every battery problem, at every ``lr`` of its grid.

Each configuration runs over the seeds through the result store of ``experiments.runs`` (so
``--jobs`` and ``--scheduler`` work as for ``theory-bench run``, and an interrupted audit resumes).
``audit_run`` is ``run_one`` that records a non-finite iterate (the loop's ``FloatingPointError``) as
a diverged run with an infinite gap instead of stopping the audit: divergence at a large ``lr`` is a
result. Low precision: the real-data problems again with the state stored in e4m3 and the weights
in bf16 (nearest rounding, no scaling; docs/theory.md §6), through ``Precision`` for the built-in
optimizers and ``LowPrecisionOptimizer`` for torch ones; a numpy-protocol class keeps its state
to itself, so its low-precision rows are not run, and the report says so.
"""
from dataclasses import dataclass

import numpy as np

from theory_bench import problems
from theory_bench.experiments.battery import BATTERY, LR_GRID, checkpoints, horizon
from theory_bench.experiments.runs import run_one, spec

LOW_PRECISION = {"state": "e4m3", "weights": "bf16"}
LOW_PRECISION_LABEL = "e4m3 state, bf16 weights"
LOW_PRECISION_KEYS = ("hinge_breast_cancer", "l1_diabetes")     # the precision experiment's problems
QUICK_SEEDS, FULL_SEEDS = 4, 10


def audit_run(s, seed):
    """``run_one(s, seed)`` plus ``diverged`` (0 or 1); a non-finite iterate gives infinite losses."""
    try:
        out = run_one(s, seed)
        out["diverged"] = 0.0
        return out
    except FloatingPointError:
        t = np.asarray(s["checkpoints"], dtype=np.int64)
        inf = np.full(t.shape, np.inf)
        out = {"t": t, "loss": inf, "loss_avg": inf, "wall_s": 0.0, "compile_s": 0.0, "diverged": 1.0}
        if problems.make(s["problem"], **s["problem_kw"]).online:
            out["regret"] = inf
        return out


@dataclass
class Plan:
    """What an audit runs: horizon, seeds, the battery entries, the ``lr`` grid (``None``: ``LR_GRID``
    times each problem's ``lr_p``; else absolute values for every problem) and the low-precision rows."""
    T: int
    seeds: int
    entries: tuple
    lrs: tuple | None = None
    low_precision: bool = True

    @classmethod
    def make(cls, quick, seeds=None, keys=None, lrs=None):
        T, _ = horizon(quick)
        entries = BATTERY if not keys else tuple(e for e in BATTERY if e.key in keys)
        unknown = sorted(set(keys or ()) - {e.key for e in BATTERY})
        if unknown:
            raise ValueError(f"--problems: unknown {', '.join(unknown)}; the battery: "
                             f"{', '.join(e.key for e in BATTERY)}")
        return cls(T, seeds or (QUICK_SEEDS if quick else FULL_SEEDS), entries, None if lrs is None else tuple(lrs))

    def lr_grid(self, p):
        return list(self.lrs) if self.lrs is not None else [m * float(p.lr) for m in LR_GRID]

    def low_precision_entries(self, audited):
        if not self.low_precision or audited.kind == "numpy":
            return ()
        return tuple(e for e in self.entries if e.key in LOW_PRECISION_KEYS)

    def n_runs(self, audited):
        n = len(self.entries) + len(self.low_precision_entries(audited))
        return n * self.seeds * (len(self.lrs) if self.lrs is not None else len(LR_GRID))


def _spec(audited, e, T, lr, low):
    engine = low and audited.kind == "builtin"      # the engine's Precision; a torch optimizer's wrapper otherwise
    s = spec(e.name, audited.optimizer, T, problem_kw=e.params, checkpoints=checkpoints(T),
             opt_kw=audited.opt_kw(lr, LOW_PRECISION if low and not engine else None),
             precision=LOW_PRECISION if engine else None)
    if audited.source_sha256:
        s["source_sha256"] = audited.source_sha256
    return s


def run_battery(audited, plan, ctx):
    """``{(battery key, low precision?): {"entry", "initial_gap", "lp", "runs": {lr: runs}}}`` where
    ``runs`` has ``gap`` (seeds x checkpoints, ``inf`` where a run diverged) besides ``run_one``'s arrays."""
    out = {}
    settings = [(e, False) for e in plan.entries] + [(e, True) for e in plan.low_precision_entries(audited)]
    for e, low in settings:
        p = problems.make(e.name, **e.params)
        f_star = p.optimum()[1]
        initial = float(p.loss_fn(p.x0, *p.args) - f_star)
        runs = {}
        for lr in plan.lr_grid(p):
            r = ctx.runs(_spec(audited, e, plan.T, lr, low), plan.seeds, fn=audit_run)
            r["gap"] = r["loss_avg"] - f_star
            r["initial_gap"] = initial
            runs[lr] = r
        out[e.key, low] = {"entry": e, "initial_gap": initial, "lr_p": float(p.lr), "runs": runs, "problem": p,
                           "low": low, "precision": LOW_PRECISION_LABEL if low else "fp64"}
    return out
