"""Convergence checks for an optimizer author's CI (docs/theory.md §2.1, §3, §5).

- ``assert_converges(optimizer, problem, T, *, seeds=5, tol=None, on="x_avg")``: the mean over seeds
  of the gap to the cvxpy optimum after ``T`` steps is at most ``tol`` (the theory bounds the
  expected gap). The default ``tol`` is the problem's (``Problem.default_tolerance``): a fraction of
  the known failure floor on the counterexamples and Nesterov's function, else the online-to-batch
  bound ``sqrt(2) w sum_i L_i / sqrt(T)`` that StoSignSGD's theory gives (docs/theory.md §3.1).
- ``assert_regret_rate(optimizer, adversary, T_grid, *, seeds=20, slope=None, max_slope=0.85, lr=None)``:
  the regret is sublinear (the upper end of the slope's 95% interval at most ``max_slope``) and
  below §3.1's bound at the optimizer's step (``max_T mean R_T / bound(T) <= 1``); ``slope=(lo, hi)``
  asks instead for the whole interval inside that window.
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

from theory_bench.analysis.bounds import stosign_regret_upper
from theory_bench.analysis.concentration import bernstein_radius
from theory_bench.analysis.rates import bound_ratio, fit_slope
from theory_bench.engine.optimizer import Optimizer
from theory_bench.engine.protocol import check_protocol, optimizer_name
from theory_bench.engine.seeding import spawn_seeds

ROOT_SEED = 20260423
MAX_SLOPE = 0.85     # sublinear: a linear regret's slope is 1 (docs/testing.md: what the margins are)


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
    params: dict = field(default_factory=dict)      # the problem's parameters (the snapshot key has them)


def as_protocol(optimizer):
    """One of ours or a protocol object as it is; a callable without ``init``/``step`` is a factory of
    torch optimizers (``factory(params) -> torch.optim.Optimizer``), run through
    ``theory_bench.torch.adapter.TorchFactory``."""
    if hasattr(optimizer, "kernel") or callable(getattr(optimizer, "init", None)):
        check_protocol(optimizer)
        return optimizer
    if callable(getattr(optimizer, "step", None)):
        if _is_torch_optimizer(optimizer):
            raise ValueError(f"got a torch optimizer instance {type(optimizer).__name__}; pass a factory that builds "
                             "one from a list of parameters, e.g. functools.partial(torch.optim.SGD, lr=0.1)")
        raise ValueError(f"{type(optimizer).__name__} has step() but no callable init(x0) -> state: the protocol is "
                         "init(x0) -> state and step(x, g, state, t, rng) -> x; add init (or pass a factory of torch "
                         "optimizers)")
    if callable(optimizer):
        from theory_bench.torch.adapter import TorchFactory    # imports torch only for a torch factory
        return TorchFactory(optimizer)
    check_protocol(optimizer)
    return optimizer


def _is_torch_optimizer(obj):
    return any(c.__module__.startswith("torch.optim") and c.__name__ == "Optimizer" for c in type(obj).__mro__)


def _problem(problem, **kw):
    if isinstance(problem, str):
        from theory_bench import problems         # a front door may reach the catalogue
        return problems.make(problem, **kw)
    return problem


def _seeds(seeds, root_seed):
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    return spawn_seeds(root_seed, int(seeds))


def _runs(optimizer, p, T, seeds, root_seed, checkpoints):
    """One trace per seed; a non-finite iterate (or any FloatingPointError) names the seed."""
    out = []
    for i, s in enumerate(_seeds(seeds, root_seed)):
        try:
            out.append(p.minimize(optimizer, T, seed=s, checkpoints=checkpoints))
        except FloatingPointError as err:
            raise FloatingPointError(f"{err} (seed {i}: child {i} of SeedSequence({root_seed}), "
                                     f"root_seed={root_seed})") from err
    return out


def curve_command(optimizer, name, p, T, seed_index, root_seed, on="losses_avg"):
    """A command that draws the failing run's curve: the problem with every parameter tested, the seed,
    and the optimizer itself where its ``repr`` rebuilds it (else ``OPTIMIZER``, to replace by yours)."""
    expr, note = "OPTIMIZER", f" (replace OPTIMIZER by your {name})"
    if isinstance(optimizer, Optimizer):
        import theory_bench.optimizers as namespace
        try:
            if repr(eval(repr(optimizer), vars(namespace))) == repr(optimizer):    # noqa: S307 - our own repr
                expr, note = repr(optimizer), ""
        except Exception:   # a repr that does not rebuild it: the placeholder
            pass
    return (f"python -c \"import numpy as np; from theory_bench import problems; from theory_bench.optimizers import *; "
            f"from theory_bench.engine.seeding import spawn_seeds; p = problems.make({p.name!r}, **{p.params!r}); "
            f"T = {T}; tr = p.minimize({expr}, T, seed=spawn_seeds({root_seed}, {seed_index + 1})[{seed_index}], "
            f"checkpoints=np.unique(np.geomspace(1, T, 30).astype(int))); print(tr.t, tr.{on})\"{note}")


def _failure(message, result):
    """The ``AssertionError`` of a failed check, carrying what was measured as ``.result``."""
    err = AssertionError(message)
    err.result = result
    return err


def assert_converges(optimizer, problem, T, *, seeds=5, tol=None, on="x_avg", root_seed=ROOT_SEED):
    """Fail unless the mean over seeds of ``f(x_T) - f*`` is at most ``tol``; return the ``ConvergenceResult``.

    The theory bounds the *expected* gap (docs/theory.md §3.1), so the mean over seeds is what is
    compared; every seed's gap is in the result and in the message.
    """
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
        tol_note = f"tol={tol:.4g} (given)"
    name = optimizer_name(optimizer)
    traces = _runs(optimizer, p, T, seeds, root_seed, [T])
    gaps = np.array([(tr.losses_avg if on == "x_avg" else tr.losses)[-1] - f_star for tr in traces])
    mean = float(gaps.mean())
    result = ConvergenceResult(name, p.name, T, [float(g) for g in gaps], float(tol), bound,
                               extra={"tolerance": tol_note, "mean": mean}, params=dict(p.params))
    if not mean <= tol:
        worst = int(np.argmax(gaps))
        per_seed = ", ".join(f"seed {i}: {g:.4g}" + (" <- above" if g > tol else "") for i, g in enumerate(gaps))
        lines = [f"{name} does not converge on {p.name} {p.params}: the mean gap f({on}) - f* over {len(gaps)} seeds "
                 f"after T={T} steps is {mean:.4g}, above tol={tol:.4g} ({mean / tol:.3g}x).",
                 f"  {tol_note}",
                 f"  gaps per seed ({len(gaps)} children of SeedSequence({root_seed}), root_seed={root_seed}): {per_seed}"]
        if p.tolerance is None and bound is not None:
            lines.append(f"  StoSignSGD's online-to-batch bound at T={T}: {bound:.4g} (expected gap, G = L)")
        lines.append("  draw the curve: " + curve_command(optimizer, name, p, T, worst, root_seed,
                                                          "losses_avg" if on == "x_avg" else "losses"))
        raise _failure("\n".join(lines), result)
    return result


def _regret_eta(optimizer, lr):
    """The base step ``eta`` of ``eta / sqrt(t)`` for §3.1's bound: ``lr`` if given, else the optimizer's
    own (ours on the ``inv_sqrt`` schedule, a torch factory's ``lr``, a protocol object's ``lr``); None when
    unknown, and then the bound at the tuned step (the smallest over ``eta``)."""
    if lr is not None:
        if not (isinstance(lr, (int, float)) and lr > 0 and np.isfinite(lr)):
            raise ValueError(f"lr must be a finite number > 0 (the base step of eta / sqrt(t)), got {lr!r}")
        return float(lr)
    if isinstance(optimizer, Optimizer):
        return float(optimizer.lr) if optimizer.schedule == "inv_sqrt" else None   # §3.1 is about eta / sqrt(t)
    own = getattr(optimizer, "lr", None)
    return float(own) if isinstance(own, (int, float)) and not isinstance(own, bool) and own > 0 else None


def assert_regret_rate(optimizer, adversary, T_grid, *, seeds=20, slope=None, max_slope=MAX_SLOPE, lr=None,
                       root_seed=ROOT_SEED):
    """Fail unless the regret on ``adversary`` is sublinear and within §3.1's bound (the default), or
    its slope interval lies inside the window ``slope=(lo, hi)``.

    Default, one-sided (docs/theory.md §3.1 bounds regret from above, not below): the upper end of
    the 95% bootstrap interval of the slope of ``log mean R_T`` against ``log T`` is at most
    ``max_slope``, and ``max_T mean R_T / bound(T) <= 1`` (its interval's lower end), with
    ``bound(T) = sqrt(T) sum_i E[G_T,i] (w_i^2 / (2 eta) + eta)`` at the optimizer's ``eta``
    (``lr``, else its own; the tuned step when unknown) and ``G`` the optimizer's envelope where it
    keeps one, else the adversary's ``L``.
    """
    optimizer = as_protocol(optimizer)
    p = _problem(adversary)
    if not getattr(p, "online", False):
        raise ValueError(f"{p.name!r} is not an online adversary; use one of skewed_linear, rademacher_linear, "
                         "hinge_stream, l1_stream")
    T_grid = np.unique(np.asarray(T_grid, dtype=np.int64))
    if T_grid.size < 3 or T_grid[0] < 1:
        raise ValueError(f"T_grid needs at least 3 distinct horizons >= 1, got {T_grid.tolist()}")
    if slope is not None and not (len(slope) == 2 and slope[0] < slope[1]):
        raise ValueError(f"slope must be None (one-sided, the default) or a window (lo, hi) with lo < hi, got {slope!r}")
    if not 0 < max_slope < 1:
        raise ValueError(f"max_slope must lie in (0, 1): a linear regret has slope 1; got {max_slope!r}")
    name = optimizer_name(optimizer)
    traces = _runs(optimizer, p, int(T_grid[-1]), seeds, root_seed, T_grid)
    R = np.stack([tr.extra["regret"] for tr in traces])
    if np.any(R.mean(axis=0) <= 0):
        raise AssertionError(f"{name}'s mean regret on {p.name} is not positive at every horizon "
                             f"({R.mean(axis=0).round(4).tolist()}); start T_grid later")
    est, lo, hi = fit_slope(T_grid, R)
    eta = _regret_eta(optimizer, lr)
    w = (p.hi - p.lo)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{p.name!r} has an unbounded box: §3.1's bound needs a bounded one")
    try:
        G = np.stack([tr.envelope_sum for tr in traces])
        G_note = "sum_i E[G_T,i] of these runs"
    except AttributeError:
        G, G_note = None, f"sum_i L_i = {float(p.L.sum()):.4g} (no envelope kept: G = L)"
    width, L_sum = float(w.max()), float(p.L.sum())
    ratio = bound_ratio(R, lambda g: stosign_regret_upper(T_grid, L_sum if g is None else g, width, eta), aux=G)
    if eta is not None:
        eta_note = f"eta = {eta:g}"
    elif isinstance(optimizer, Optimizer):
        eta_note = (f"the tuned eta = w / sqrt(2) = {width / np.sqrt(2):.4g} (its schedule is {optimizer.schedule_name()!r}, "
                    "not eta / sqrt(t))")
    else:
        eta_note = f"the tuned eta = w / sqrt(2) = {width / np.sqrt(2):.4g} (lr unknown: pass lr=)"
    result = ConvergenceResult(name, p.name, int(T_grid[-1]), R[:, -1].tolist(), slope or max_slope, 0.5, kind="regret",
                               extra={"slope": est, "interval": (lo, hi), "bound_ratio": ratio, "eta": eta,
                                      "T_grid": T_grid.tolist()}, params=dict(p.params))
    head = (f"{name}'s regret on {p.name} {p.params}: slope {est:.3f} (95% interval [{lo:.3f}, {hi:.3f}] over {seeds} "
            f"seeds, children of SeedSequence({root_seed}), root_seed={root_seed}); max_T mean R_T / bound(T) = "
            f"{ratio[0]:.3g} [{ratio[1]:.3g}, {ratio[2]:.3g}]")
    problems_found = []
    if slope is not None:
        if not (slope[0] <= lo and hi <= slope[1]):
            problems_found.append(f"the slope's interval is not inside the window [{slope[0]}, {slope[1]}] "
                                  "(theory: sqrt(T), slope 0.5, for an unbiased sign method at its tuned step)")
    else:
        if hi > max_slope:
            problems_found.append(
                f"the regret is not sublinear: the slope's upper end {hi:.3f} exceeds {max_slope} (a linear regret has "
                "slope 1). The usual causes: biased steps (SignSGD under skewed feedback, docs/theory.md §3.3.2), or "
                "a step that does not decay (a constant lr: regret about lr T sum_i E|g_i| / 2)")
        if ratio[1] > 1:
            problems_found.append(
                f"the regret exceeds §3.1's bound sqrt(T) {G_note} (w^2 / (2 eta) + eta) with w = {width:g} and "
                f"{eta_note}, by {ratio[1]:.3g}x at the interval's lower end")
    if problems_found:
        raise _failure(
            head + ".\n  " + "\n  ".join(problems_found) +
            f"\n  mean regret at T = {T_grid.tolist()}: {R.mean(axis=0).round(2).tolist()}"
            f"\n  draw the curve: " + curve_command(optimizer, name, p, int(T_grid[-1]), 0, root_seed,
                                                   "extra['regret']"), result)
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
        who = getattr(sign_operator, "__qualname__", None) or type(sign_operator).__name__
        raise AssertionError(f"{who} is biased: E[s] != g/G in {len(bad)} checks "
                             f"({n} draws per coordinate, seed {seed}, failure rate of a correct operator "
                             f"< {fail_prob:g}):\n  " + "\n  ".join(bad[:10]))
    return ConvergenceResult("sign_operator", "unbiasedness", n, draws.mean(axis=0).tolist(), fail_prob, kind="mean")
