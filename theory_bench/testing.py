"""Convergence checks for an optimizer author's CI (docs/theory.md §2.1, §3, §5).

- ``assert_converges(optimizer, problem, T, *, seeds=5, tol=None, on="x_avg")``: the gap to the
  cvxpy optimum after ``T`` steps is below ``tol`` for every seed. The default ``tol`` is the
  problem's (``Problem.default_tolerance``): a fraction of the known failure floor on the
  counterexamples and Nesterov's function, else the online-to-batch bound
  ``sqrt(2) w sum_i L_i / sqrt(T)`` that StoSignSGD's theory gives (docs/theory.md §3.1).
- ``assert_regret_rate(optimizer, adversary, T_grid, *, seeds=20, slope=(0.4, 0.6))``: the
  bootstrap interval of the regret's log-log slope lies inside ``slope``.
- ``assert_unbiased(sign_operator, ...)``: ``sign_operator(g, G, rng)`` has mean ``g / G``.
``optimizer`` is one of ours, any object with ``init(x0) -> state`` and
``step(x, g, state, t, rng) -> x`` (``theory_bench.engine.protocol``), or a factory of torch
optimizers ``factory(params) -> torch.optim.Optimizer`` (or ``(optimizer, scheduler)``), e.g.
``functools.partial(torch.optim.AdamW, lr=1e-2)`` (``theory_bench.torch.adapter``). ``problem`` is a
``theory_bench.problems.Problem`` or the name of one (``"counterexample_2d"``). Seeds are fixed (children of
``root_seed``) and stated in every message; statistical thresholds come from the variance so a
correct optimizer fails less than once in a million runs.
"""
from dataclasses import dataclass, field

import numpy as np

from theory_bench.analysis.concentration import bernstein_radius
from theory_bench.engine.protocol import check_protocol, optimizer_name
from theory_bench.analysis.rates import fit_slope
from theory_bench.engine.seeding import spawn_seeds

ROOT_SEED = 20260423


@dataclass
class ConvergenceResult:
    """What a check measured: per seed, with the threshold and the theory's value beside it."""
    optimizer: str
    problem: str
    T: int
    values: list
    threshold: object
    theory: float | None = None
    kind: str = "gap"
    extra: dict = field(default_factory=dict)


def as_protocol(optimizer):
    """One of ours or a protocol object as it is; a callable without ``init``/``step`` is a factory of
    torch optimizers (``factory(params) -> torch.optim.Optimizer``), run through
    ``theory_bench.torch.adapter.TorchFactory``."""
    if hasattr(optimizer, "kernel") or callable(getattr(optimizer, "init", None)):
        check_protocol(optimizer)
        return optimizer
    if callable(getattr(optimizer, "step", None)):
        raise ValueError(f"got an optimizer instance {type(optimizer).__name__}; pass a factory that builds one from "
                         "a list of parameters, e.g. functools.partial(torch.optim.SGD, lr=0.1), or an object with "
                         "init(x0) -> state and step(x, g, state, t, rng) -> x")
    if callable(optimizer):
        from theory_bench.torch.adapter import TorchFactory    # imports torch only for a torch factory
        return TorchFactory(optimizer)
    check_protocol(optimizer)
    return optimizer


def _problem(problem, **kw):
    if isinstance(problem, str):
        from theory_bench import problems         # a front door may reach the catalogue
        return problems.make(problem, **kw)
    return problem


def _seeds(seeds, root_seed):
    if not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    return spawn_seeds(root_seed, int(seeds))


def assert_converges(optimizer, problem, T, *, seeds=5, tol=None, on="x_avg", root_seed=ROOT_SEED):
    """Fail unless ``f(x_T) - f* <= tol`` for every seed; return the ``ConvergenceResult``."""
    optimizer = as_protocol(optimizer)
    if on not in ("x_avg", "x"):
        raise ValueError(f"on must be 'x_avg' (the averaged iterate) or 'x' (the last one), got {on!r}")
    p = _problem(problem)
    f_star = p.optimum()[1]
    bound = p.batch_bound(T)
    if tol is None:
        tol, why = p.default_tolerance(T)
        tol_note = f"tol={tol:.4g}, the default for {p.name}: {why}"
    else:
        tol_note = f"tol={tol:.4g}"
    name = optimizer_name(optimizer)
    gaps = []
    for s in _seeds(seeds, root_seed):
        tr = p.minimize(optimizer, T, seed=s, checkpoints=[T])
        gaps.append((tr.losses_avg if on == "x_avg" else tr.losses)[-1] - f_star)
    result = ConvergenceResult(name, p.name, T, [float(g) for g in gaps], float(tol), bound,
                               extra={"tolerance": tol_note})
    bad = [i for i, g in enumerate(gaps) if not g <= tol]
    if bad:
        per_seed = ", ".join(f"seed {i}: {g:.4g}" + (" <- above" if i in bad else "") for i, g in enumerate(gaps))
        theory = f"{bound:.4g} (StoSignSGD's online-to-batch bound with G = L)" if bound is not None else "n/a (unbounded box)"
        raise AssertionError(
            f"{name} does not converge on {p.name} {p.params}: gap f({on}) - f* after T={T} steps exceeds "
            f"tol={tol:.4g} for {len(bad)} of {len(gaps)} seeds.\n"
            f"  {tol_note}\n"
            f"  gaps per seed ({len(gaps)} children of SeedSequence({root_seed})): {per_seed}\n"
            f"  theory at T={T}: {theory}\n"
            f"  draw the curve: theory-bench run convex (or python -c \"from theory_bench import problems; "
            f"print(problems.make({p.name!r}).minimize(OPT, {T}).losses_avg)\")")
    return result


def assert_regret_rate(optimizer, adversary, T_grid, *, seeds=20, slope=(0.4, 0.6), root_seed=ROOT_SEED):
    """Fail unless the 95% bootstrap interval of the regret slope lies inside ``slope``."""
    optimizer = as_protocol(optimizer)
    p = _problem(adversary)
    if not getattr(p, "online", False):
        raise ValueError(f"{p.name!r} is not an online adversary; use one of skewed_linear, rademacher_linear, "
                         "hinge_stream, l1_stream")
    T_grid = np.unique(np.asarray(T_grid, dtype=np.int64))
    if T_grid.size < 3 or T_grid[0] < 1:
        raise ValueError(f"T_grid needs at least 3 distinct horizons >= 1, got {T_grid.tolist()}")
    lo_s, hi_s = slope
    name = optimizer_name(optimizer)
    R = np.stack([p.minimize(optimizer, int(T_grid[-1]), seed=s, checkpoints=T_grid).extra["regret"]
                  for s in _seeds(seeds, root_seed)])
    if np.any(R.mean(axis=0) <= 0):
        raise AssertionError(f"{name}'s mean regret on {p.name} is not positive at every horizon "
                             f"({R.mean(axis=0).round(4).tolist()}); start T_grid later")
    est, lo, hi = fit_slope(T_grid, R)
    result = ConvergenceResult(name, p.name, int(T_grid[-1]), R[:, -1].tolist(), slope, 0.5, kind="regret",
                               extra={"slope": est, "interval": (lo, hi)})
    if not (lo_s <= lo and hi <= hi_s):
        raise AssertionError(
            f"{name}'s regret on {p.name} {p.params} grows with slope {est:.3f} (95% interval [{lo:.3f}, {hi:.3f}] "
            f"over {seeds} seeds, children of SeedSequence({root_seed})), not inside [{lo_s}, {hi_s}].\n"
            f"  theory: sqrt(T), slope 0.5, for an unbiased sign method; linear regret (slope 1) means biased steps.\n"
            f"  mean regret at T = {T_grid.tolist()}: {R.mean(axis=0).round(2).tolist()}\n"
            f"  draw the curve: theory-bench run regret")
    return result


def assert_unbiased(sign_operator, *, ratios=None, n=20_000, envelope=3.0, fail_prob=1e-6, seed=0):
    """Fail unless ``sign_operator(g, G, rng)`` (vectors) has mean ``g / G`` and variance ``1 - (g/G)^2``.

    Every coordinate's mean must lie within its Bernstein radius (exact variance ``1 - a^2``,
    range 2, union bound over the coordinates), so a correct operator fails with probability
    below ``fail_prob``; Gaussian noise or no noise misses by many radii.
    """
    a = np.linspace(-1.0, 1.0, 41) if ratios is None else np.asarray(ratios, dtype=np.float64)
    if np.any(np.abs(a) > 1):
        raise ValueError(f"ratios g/G must lie in [-1, 1], got {a[np.abs(a) > 1][:3].tolist()}")
    g, G = a * envelope, np.full(a.shape, envelope)
    rng = np.random.default_rng(seed)
    draws = np.empty((n, a.size))
    for k in range(n):
        s = np.asarray(sign_operator(g.copy(), G.copy(), rng), dtype=np.float64)
        if s.shape != a.shape:
            raise ValueError(f"sign_operator must return an array shaped like g, {a.shape}; got shape {s.shape}")
        draws[k] = s
    delta = fail_prob / (2 * a.size)
    bad = []
    for i, ai in enumerate(a):
        var = 1.0 - ai ** 2
        eps = float(bernstein_radius(var, n, delta, 2.0))
        m = draws[:, i].mean()
        if abs(m - ai) > eps:
            bad.append(f"g/G={ai:+.3f}: mean {m:+.4f} (allowed +-{eps:.4f})")
        v = draws[:, i].var()
        if abs(v - var) > eps * (2 * abs(ai) + eps) + 1e-12:
            bad.append(f"g/G={ai:+.3f}: variance {v:.4f}, theory {var:.4f}")
    if bad:
        raise AssertionError(f"the sign operator is biased: E[s] != g/G in {len(bad)} checks "
                             f"({n} draws per coordinate, seed {seed}, failure rate of a correct operator "
                             f"< {fail_prob:g}):\n  " + "\n  ".join(bad[:10]))
    return ConvergenceResult("sign_operator", "unbiasedness", n, draws.mean(axis=0).tolist(), fail_prob, kind="mean")
