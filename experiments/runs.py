"""Run one configuration over many seeds, in parallel processes, through the result store.

A run is described by a plain dict (JSON, hashed into the store's key):
``{"problem": name, "problem_kw": {...}, "optimizer": name, "opt_kw": {...}, "T": int,
"checkpoints": [...], "window": None | [delta, p, q], "goldstein": None | [delta, K, p, q],
"trajectory": bool}``, and ``"precision": {grad, state, weights, rounding, scaling}`` when a run is
in number formats (absent otherwise, so the keys of the fp64 runs already stored do not change). ``run_one(spec, seed)`` returns a dict of arrays at the checkpoints;
``run_seeds`` skips the seeds already in the store, stores each run as it finishes (so an
interrupted sweep resumes) and returns the stacked arrays read back from the store.
"""
from functools import partial

import numpy as np

from theory_bench import problems
from theory_bench import optimizers as O
from theory_bench.engine.minimize import minimize
from theory_bench.engine.precision import Precision
from theory_bench.engine.seeding import spawn_seeds
from theory_bench.results.parallel import iter_runs
from theory_bench.results.store import MissingResults

OPTIMIZERS = {
    "SGD": O.SGD, "SignSGD": O.SignSGD, "Signum": O.Signum, "EF-SignSGD": O.EFSignSGD,
    "StoSignSGD": O.StoSignSGD, "StoSignSGD-practical": O.StoSignSGD.practical,
    "AdaGrad": O.AdaGrad, "Adam": O.Adam, "AdamW": O.AdamW, "Lion": O.Lion,
}


def _sign_converted(lr, base="SGD", base_kw=None, **switches):
    """``sign_convert`` of the base ``base`` (a name above) built with ``lr`` and ``base_kw``."""
    return O.sign_convert(make_optimizer(base, lr=lr, **(base_kw or {})), **switches)


OPTIMIZERS["sign_convert"] = _sign_converted


def make_optimizer(name, **kw):
    """One of ``OPTIMIZERS`` by name; ``"torch:module:Class"`` or ``"torch:path/file.py:Class"``: a torch
    optimizer through the testing adapter (``theory_bench.torch.adapter.named_factory``; ``kw``: ``lr``,
    ``schedule``, ``low_precision`` and the class's own keywords); ``"file:path/file.py:Class"``: a
    user's class of the numpy protocol, built as ``Class(**kw)``."""
    if name.startswith("torch:"):
        from theory_bench.torch.adapter import named_factory
        return named_factory(name[len("torch:"):], **kw)
    if name.startswith("file:"):
        from theory_bench.engine.user_code import load_class
        return load_class(name[len("file:"):])(**kw)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**kw)


def spec(problem, optimizer, T, *, problem_kw=None, opt_kw=None, checkpoints=None, window=None,
         goldstein=None, trajectory=False, precision=None):
    out = {"problem": problem, "problem_kw": dict(problem_kw or {}), "optimizer": optimizer,
           "opt_kw": dict(opt_kw or {}), "T": int(T),
           "checkpoints": None if checkpoints is None else [int(c) for c in checkpoints],
           "window": None if window is None else [float(w) for w in window],
           "goldstein": None if goldstein is None else [float(g) for g in goldstein],
           "trajectory": bool(trajectory)}
    if precision is not None:
        out["precision"] = Precision(**precision).config()        # checked now, not in a worker
    return out


def run_one(s, seed):
    p = problems.make(s["problem"], **s["problem_kw"])
    opt_kw = dict(s["opt_kw"])
    opt_kw.setdefault("lr", p.lr)
    opt = make_optimizer(s["optimizer"], **opt_kw)
    if s.get("window") is not None:
        tr = minimize(p.oracle, p.x0, opt, s["T"], args=p.args, seed=seed, box=p.box, loss=p.loss_fn,
                         checkpoints=s["checkpoints"], window=tuple(s["window"]))
    else:
        low = Precision(**s["precision"]) if s.get("precision") else None
        tr = p.minimize(opt, s["T"], seed=seed, checkpoints=s["checkpoints"], precision=low)
    out = {"t": tr.t, "loss": tr.losses, "loss_avg": tr.losses_avg,
           "wall_s": tr.wall_s, "compile_s": tr.compile_s}
    if "G" in tr.state_sums:
        out["G_sum"] = tr.state_sums["G"]
    if tr.window is not None:
        out["window"] = tr.window
    for k in ("regret", "cum_loss", "hindsight"):
        if k in tr.extra:
            out[k] = tr.extra[k]
    if "largest_step" in tr.extra:
        out["largest_step"] = tr.extra["largest_step"]
        out["last_move"] = tr.extra["last_move"]
        out["x_final"] = tr.x
        out.update({f"flushed_{row}": v for row, v in tr.extra["flushed_fraction"].items()})
    if s.get("goldstein") is not None:
        from theory_bench.analysis.stationarity import goldstein_sampled
        delta, K, pn, qn = s["goldstein"]
        out["goldstein"] = np.array([goldstein_sampled(p.full_grad, x, delta, K=int(K), p=pn, q=qn).value
                                     for x in tr.xs])
    if s.get("trajectory"):
        for i in range(tr.xs.shape[1]):
            out[f"x{i}"] = tr.xs[:, i]
    return out


def run_seeds(s, seeds, jobs=None, store=None, compute=True, progress=None, fn=None, scheduler=None):
    """Every seed's run of ``s``, stacked: metric -> (seeds, ...) array (scalars -> (seeds,)).

    ``fn(s, seed)`` computes one run (default ``run_one``; the fp8 experiments pass their torch
    training loop): a module-level function, so that worker processes can import it.
    With a ``store``: stored runs are read, missing ones computed and stored one by one as they
    finish (here, in this process, whichever process or Dask worker computed them: ``scheduler``,
    ``theory_bench.results.parallel.iter_runs``); ``compute=False`` raises ``MissingResults``
    instead of computing.
    """
    return run_many([(s, seeds)], jobs, store, compute, progress, fn, scheduler)[0]


def _call(fn, item):
    s, seed = item
    return fn(s, seed)


def run_many(items, jobs=None, store=None, compute=True, progress=None, fn=None, scheduler=None):
    """``run_seeds`` for many configurations at once: ``items`` is a list of ``(s, seeds)``, and every
    missing run of all of them goes to the processes together (in the order given: put the longest
    first), so that no configuration waits for the last seed of another. Returns one stacked dict per item."""
    items = [(s, list(seeds)) for s, seeds in items]
    todo = [(s, seed) for s, seeds in items for seed in seeds if store is None or not store.has(s, seed)]
    if todo and not compute:
        s, total = todo[0][0], sum(len(seeds) for _, seeds in items)
        what = f"{s['optimizer']} on {s.get('problem', s.get('model'))}" + (" and others" if len(items) > 1 else "")
        raise MissingResults(f"{len(todo)} of {total} runs of {what} are not in {store.dir}; "
                             f"run `theory-bench run {store.experiment}` first")
    fresh = {}
    for i, result in iter_runs(partial(_call, fn or run_one), todo, jobs, scheduler):
        if store is not None:
            store.put(*todo[i], result)
        else:
            fresh[i] = result
        if progress is not None:
            progress.update(1)
    fresh = iter(fresh[i] for i in range(len(fresh)))
    out = []
    for s, seeds in items:
        results = [store.get(s, seed) for seed in seeds] if store is not None else [next(fresh) for _ in seeds]
        out.append({k: np.stack([np.asarray(r[k]) for r in results]) for k in results[0] if all(k in r for r in results)})
    return out


SEED_ROOT = 20260423


def seeds_for(n, root=SEED_ROOT):
    """``n`` independent seeds, children of one root (stated in every claim)."""
    return spawn_seeds(root, n)
