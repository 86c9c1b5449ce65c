"""Run one configuration over many seeds, in parallel processes, and stack what the claims need.

A run is described by a plain dict (picklable, hashable into a key by the result store):
``{"problem": name, "problem_kw": {...}, "optimizer": name, "opt_kw": {...}, "T": int,
"checkpoints": [...], "window": None | [delta, p, q]}``; ``run_one(spec, seed)`` returns a dict
of arrays at the checkpoints.
"""
from functools import partial

import numpy as np

import problems
import theory_bench as tb
from theory_bench import optimizers as O
from theory_bench.parallel import map_runs

OPTIMIZERS = {
    "SGD": O.SGD, "SignSGD": O.SignSGD, "Signum": O.Signum, "EF-SignSGD": O.EFSignSGD,
    "StoSignSGD": O.StoSignSGD, "StoSignSGD-practical": O.StoSignSGD.practical,
    "AdaGrad": O.AdaGrad, "Adam": O.Adam, "AdamW": O.AdamW, "Lion": O.Lion,
}


def make_optimizer(name, **kw):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**kw)


def spec(problem, optimizer, T, *, problem_kw=None, opt_kw=None, checkpoints=None, window=None):
    return {"problem": problem, "problem_kw": dict(problem_kw or {}), "optimizer": optimizer,
            "opt_kw": dict(opt_kw or {}), "T": int(T),
            "checkpoints": None if checkpoints is None else [int(c) for c in checkpoints],
            "window": None if window is None else [float(w) for w in window]}


def run_one(s, seed):
    p = problems.make(s["problem"], **s["problem_kw"])
    opt_kw = dict(s["opt_kw"])
    opt_kw.setdefault("lr", p.lr)
    opt = make_optimizer(s["optimizer"], **opt_kw)
    if s["window"] is not None:
        tr = tb.minimize(p.oracle, p.x0, opt, s["T"], args=p.args, seed=seed, box=p.box, loss=p.loss_fn,
                         checkpoints=s["checkpoints"], window=tuple(s["window"]))
    else:
        tr = p.minimize(opt, s["T"], seed=seed, checkpoints=s["checkpoints"])
    out = {"t": tr.t, "loss": tr.losses, "loss_avg": tr.losses_avg, "x_final": tr.x, "x_avg": tr.x_avg,
           "wall_s": np.array(tr.wall_s)}
    if "G" in tr.state_sums:
        out["G_sum"] = tr.state_sums["G"]
    if tr.window is not None:
        out["window"] = tr.window
    for k in ("regret", "cum_loss", "hindsight"):
        if k in tr.extra:
            out[k] = tr.extra[k]
    if s.get("keep_xs"):
        out["xs"] = tr.xs
    return out


def run_seeds(s, seeds, jobs=None):
    """``run_one`` for every seed (ints or SeedSequences), stacked: each key -> (seeds, ...) array."""
    results = map_runs(partial(run_one, s), seeds, jobs)
    return {k: np.stack([r[k] for r in results]) for k in results[0]}


def seeds_for(n, root=20260423):
    """``n`` independent seeds, children of one root (stated in every claim)."""
    return tb.spawn_seeds(root, n)
