"""The ``theory-bench`` command line, a front door: it sits above the experiments and the
catalogue and imports them inside the commands that need them, so ``theory-bench --help`` and
``bench`` start without loading either (docs/architecture.md).
"""
import argparse
import sys

EXAMPLES = """examples:
  theory-bench list                      experiments, problems and optimizers, one line each
  theory-bench reproduce --quick         every experiment; results, figures and claims table under results/
  theory-bench reproduce                 the full horizons, then the README's tables and figures/ (published)
  theory-bench run divergence --quick    one experiment; results in results/, figures in results/figures/
  theory-bench run regret --seeds 40 --jobs 2 --out /tmp/res
  theory-bench run regret --scheduler tcp://10.0.0.5:8786   the runs on a Dask cluster
  theory-bench check --quick --json      the claims as JSON; exit status 1 if one is not passed
  theory-bench plot regret               the figures again from stored results, no rerun
  theory-bench bench                     kernel throughput vs numpy and the memory roofline
  theory-bench audit torch:lion_pytorch:Lion --kwargs '{"betas": [0.9, 0.99]}' --quick
                                         grade an optimizer on the battery; report in audit/report.md
"""


def _cmd_list(args):
    from theory_bench import experiments as exps
    from theory_bench import optimizers, problems as catalogue
    print("experiments (theory-bench run NAME):")
    for name in exps.names():
        print(f"  {name:18s} {exps.get(name).TITLE}")
    print("problems (problems.make(name, **params)):")
    for name in catalogue.names():
        p = catalogue.make(name)
        print(f"  {name:18s} {p.describe().split(': ', 1)[1]}; {p.notes}")
    print("optimizers (theory_bench.optimizers):")
    for cls in optimizers.ALL:
        print(f"  {cls.__name__:18s} {cls.summary}")
    print(f"  {'sign_convert':18s} {optimizers.SignConverted.summary}; envelope "
          f"{'|'.join(optimizers.ENVELOPES)}, noise {'|'.join(optimizers.NOISES)}, scaled True|False")
    from theory_bench.experiments.battery import BATTERY
    print("the audit's battery (theory-bench audit SPEC --problems KEY ...):")
    for e in BATTERY:
        print(f"  {e.key:20s} {e.label}, §{e.section}")
    return 0


def _run_kw(args, published=False):
    from theory_bench.experiments.pipeline import figures_for
    return dict(quick=args.quick, seeds=args.seeds, jobs=args.jobs, out=args.out,
                figures_dir=figures_for(args.out, args.figures, published), progress=not args.no_progress,
                scheduler=args.scheduler)


def _summary(claims, paths, args):
    from theory_bench.analysis.claims import table
    print(table(claims))
    failed = [c.id for c in claims if c.status != "passed"]
    print(f"\nclaims: {len(claims) - len(failed)} passed, {len(failed)} not passed"
          + (f" ({', '.join(failed)})" if failed else ""))
    print(f"results: {args.out}/   figures: {', '.join(str(p) for p in paths if str(p).endswith('.png'))}")
    return 1 if failed else 0


def _cmd_run(args):
    from theory_bench.experiments import pipeline
    claims, paths = pipeline.run_experiment(args.name, **_run_kw(args))
    return _summary(claims, paths, args)


def _cmd_reproduce(args):
    from theory_bench.experiments import pipeline
    published = args.publish or not args.quick
    if published:
        pipeline.check_publishable(pipeline.skipped_experiments())     # before any work
    kw = _run_kw(args, published)
    claims, paths = pipeline.run_all(**kw)
    written = pipeline.publish(claims, kw["figures_dir"], "README.md" if published else None)
    code = _summary(claims, paths, args)
    print(f"claims table: {', '.join(map(str, written))}" + ("" if published else
          " (a quick run leaves README.md and figures/ as they are; a full run, or --publish, rewrites them)"))
    return code


def _cmd_check(args):
    from theory_bench.experiments import pipeline
    kw = _run_kw(args)
    kw["progress"] = kw["progress"] and not args.json
    claims, _ = pipeline.run_all(draw=False, **kw)
    if args.json:
        print(pipeline.claims_json(claims))
        return 0 if all(c.status == "passed" for c in claims) else 1
    return _summary(claims, [], args)


def _cmd_plot(args):
    from theory_bench.experiments import pipeline
    _, paths = pipeline.run_experiment(args.name, quick=args.quick, seeds=args.seeds, out=args.out,
                                       figures_dir=pipeline.figures_for(args.out, args.figures), compute=False,
                                       progress=False)
    print("\n".join(map(str, paths)))
    return 0


def _cmd_bench(args):
    from theory_bench import bench
    sizes = args.sizes or tuple(10 ** k for k in range(3, 7 if args.quick else 8))
    result = bench.run(sizes=sizes, quick=args.quick)
    if args.json:
        from theory_bench.results import strict_json
        from theory_bench.results.store import atomic_write_text
        atomic_write_text(args.json, strict_json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


def _cmd_audit(args):
    from theory_bench.audit import AuditInputError, audit
    try:
        rep = audit(args.spec, kwargs=args.kwargs, lrs=args.lr, quick=args.quick, out=args.out, seeds=args.seeds,
                    problems=args.problems, jobs=args.jobs, scheduler=args.scheduler, baselines=args.baselines,
                    progress=not (args.no_progress or args.json))
    except AuditInputError as err:
        print(f"theory-bench audit: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        from theory_bench.results import strict_json
        print(strict_json.dumps(rep, indent=1))
        return 0
    width = max(len(r["label"] + r["precision"]) for r in rep["problems"]) + 3
    for r in rep["problems"]:
        print(f"  {r['label'] + ', ' + r['precision']:{width}s} {r['verdict']:10s} final gap {r['final_gap']:.3g} "
              f"[{r['interval'][0]:.3g}, {r['interval'][1]:.3g}] of {r['initial_gap']:.3g} at x0")
    for c in rep["checks"]:
        print(f"  {c['check']:{width}s} {c['verdict']}")
    if rep["profile"]:
        prof = rep["profile"]
        order = sorted(prof["scores"], key=lambda m: -prof["scores"][m])
        print(f"  profile score {prof['scores'][args.spec]:.2f}, rank {order.index(args.spec) + 1} of {len(order)} "
              f"(baselines: {rep['baselines']['file']})")
    print(f"report: {args.out}/report.md  ({rep['wall_s']:.0f} s)")
    return 0


def _cmd_fp8_time(args):
    from theory_bench.results import strict_json
    from theory_bench.workloads.models import TransformerSize
    from theory_bench.workloads.time_to_target import parse_method, report_lines, time_to_target
    methods = tuple(parse_method(m) for m in args.methods)
    size = TransformerSize(width=args.width, layers=args.layers, heads=args.heads, experts=args.experts,
                           hidden=args.hidden or 2 * args.width)
    lrs = dict(zip([m[0] for m in methods], args.lr)) if args.lr else None
    if args.lr and len(args.lr) != len(methods):
        raise ValueError(f"--lr takes one value per method: {len(methods)} methods, got {len(args.lr)} values")
    result = time_to_target(size, methods, args.steps, args.evals, lrs, args.seed, args.device, args.target)
    print(strict_json.dumps(result, indent=1) if args.json else "\n".join(report_lines(result)))
    return 0


def _cmd_finetune(args):
    from theory_bench.torch.finetune import run
    m = run(args.model, args.data, args.optimizer, args.lr, args.steps, args.lora, args.device, args.out, args.batch,
            args.seed, args.limit)
    print(f"accuracy {m['accuracy']:.4f} ({m['correct']} of {m['test_problems']}); final training loss "
          f"{m['final_train_loss']:.4g}; {m['wall_s']:.0f} s; {args.out}/metrics.json")
    return 0


def _sub(sub, name, help_text, func):
    p = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p


def positive_int(text):
    """An argparse type: an integer >= 1 (argparse names the flag and exits 2 before any work)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {n}")
    return n


FIGURES_HELP = ("where figures and tables go (default: DIR/figures of --out; figures/ for a published run: "
                "a full reproduce or --publish)")


def _run_options(p, name=True):
    if name:
        p.add_argument("name", help="an experiment: see `theory-bench list`")
    p.add_argument("--quick", action="store_true", help="shorter horizons and fewer seeds")
    p.add_argument("--seeds", type=positive_int, metavar="N", help="override every experiment's number of seeds (>= 1)")
    p.add_argument("--jobs", type=positive_int, metavar="N", help="parallel processes (default: the number of cores)")
    p.add_argument("--out", default="results", metavar="DIR", help="the results folder (default: results)")
    p.add_argument("--figures", default=None, metavar="DIR", help=FIGURES_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="send the runs to the Dask cluster at ADDRESS (tcp://host:8786), or 'dask-local' for a "
                        "LocalCluster of --jobs workers; default: $THEORY_BENCH_SCHEDULER, else local processes "
                        "(needs pip install -e '.[dask]')")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="theory-bench", description="Verify by experiment what the theory says about sign-based optimizers.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _sub(sub, "list", "list experiments, problems and optimizers", _cmd_list)
    _run_options(_sub(sub, "run", "run one experiment: results, figures and its claims", _cmd_run))
    p = _sub(sub, "reproduce", "run every experiment, then the claims table", _cmd_reproduce)
    _run_options(p, name=False)
    p.add_argument("--publish", action="store_true",
                   help="write figures/ and the README's tables even for --quick (a full run always does; "
                        "every experiment must be installed)")
    p = _sub(sub, "check", "evaluate every claim (runs what is not stored yet); exit 1 if one is not passed",
             _cmd_check)
    _run_options(p, name=False)
    p.add_argument("--json", action="store_true", help="print the claims as JSON")
    p = _sub(sub, "plot", "draw an experiment's figures again from stored results", _cmd_plot)
    p.add_argument("name", help="an experiment")
    p.add_argument("--quick", action="store_true", help="the stored results of the quick form")
    p.add_argument("--seeds", type=positive_int, metavar="N", help="the seeds override the results were run with")
    p.add_argument("--out", default="results", metavar="DIR")
    p.add_argument("--figures", default=None, metavar="DIR", help="where figures go (default: DIR/figures of --out)")
    p = _sub(sub, "bench", "kernel throughput vs numpy and the roofline, from one run", _cmd_bench)
    p.add_argument("--quick", action="store_true", help="stop at d = 1e6 (in cache; no roofline) and skip the certified optima of the largest problems")
    p.add_argument("--sizes", type=int, nargs="+", metavar="D", help="the dimensions to time (default 1e3 .. 1e7)")
    p.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")
    p = _sub(sub, "audit", "grade an optimizer on the whole battery, with a report and its place among the baselines",
             _cmd_audit)
    p.add_argument("spec", metavar="SPEC", help="torch:module:Class, path/to/file.py:Class (a torch optimizer or a "
                   "numpy-protocol class) or a built-in name (StoSignSGD)")
    p.add_argument("--lr", type=float, nargs="+", metavar="LR", help="learning rates for every problem (default: "
                   "0.01, 0.1 and 1 times each problem's lr_p, the baselines' grid)")
    p.add_argument("--kwargs", metavar="JSON", help="keyword arguments of the class, a JSON object")
    p.add_argument("--quick", action="store_true", help="T = 2000 and 4 seeds (default: T = 10^4, 10 seeds)")
    p.add_argument("--out", default="audit", metavar="DIR", help="where report.md, report.json, the figures and the "
                   "runs go (default: audit)")
    p.add_argument("--json", action="store_true", help="print report.json to stdout (no progress bar)")
    p.add_argument("--jobs", type=positive_int, metavar="N", help="parallel processes (default: the number of cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None, help="run on the Dask cluster at ADDRESS, or "
                   "'dask-local' (a user's file must be at the same path on the workers)")
    p.add_argument("--seeds", type=positive_int, metavar="N", help="seeds per configuration")
    p.add_argument("--problems", nargs="+", metavar="KEY", help="only these battery problems (docs/audit.md lists them)")
    p.add_argument("--baselines", default="default", metavar="FILE", help="the baselines file (default: the "
                   "repository's figures/zoo_baselines.json; 'none': no profile)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = _sub(sub, "fp8-time", "wall-clock seconds to a target validation loss, StoSignSGD in FP8 against AdamW in bf16 "
             "(on an H100/H200: --device cuda; docs/fp8.md)", _cmd_fp8_time)
    p.add_argument("--device", default="cpu", help="cpu or cuda (FP8 tensor cores on compute capability >= 8.9)")
    p.add_argument("--methods", nargs="+", default=["StoSignSGD:fp8", "AdamW:bf16"], metavar="OPT:RECIPE",
                   help="the methods, the first one timed against the others (default: StoSignSGD:fp8 AdamW:bf16)")
    p.add_argument("--lr", type=float, nargs="+", metavar="LR", help="one peak lr per method (default: the fp8 "
                   "experiment's tuned lr)")
    p.add_argument("--width", type=positive_int, default=64, help="model width (default 64)")
    p.add_argument("--layers", type=positive_int, default=2, help="transformer blocks (default 2)")
    p.add_argument("--heads", type=positive_int, default=4, help="attention heads (default 4)")
    p.add_argument("--experts", type=int, default=4, help="experts per block, 0 for the dense twin (default 4)")
    p.add_argument("--hidden", type=positive_int, help="expert MLP width (default 2 x width)")
    p.add_argument("--steps", type=positive_int, default=1000, help="training steps of 16 x 64 bytes (default 1000)")
    p.add_argument("--evals", type=positive_int, default=20, help="validation evaluations (default 20)")
    p.add_argument("--target", type=float, help="the target validation loss (default: 1.05 x the worse final loss "
                   "of the methods that train)")
    p.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = _sub(sub, "finetune", "fine-tune a local checkpoint on GSM8K-format math problems with transformers' Trainer; "
             "write DIR/metrics.json (accuracy) and DIR/predictions.jsonl (docs/finetune.md)", _cmd_finetune)
    p.add_argument("--model", required=True, metavar="PATH", help="a checkpoint folder (save_pretrained: config, "
                   "weights, tokenizer); nothing is downloaded")
    p.add_argument("--data", required=True, metavar="FILE", help="a JSONL file of {question, answer} (its last 10%% "
                   "held out for the test) or a folder with train.jsonl and test.jsonl")
    p.add_argument("--optimizer", default="StoSignSGD", choices=("AdamW", "SignSGD", "Lion", "StoSignSGD"),
                   help="default StoSignSGD (practical form, beta1 = 0.9)")
    p.add_argument("--lr", type=float, default=3e-4, help="peak lr, 5%% warm-up then cosine (default 3e-4)")
    p.add_argument("--steps", type=positive_int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--lora", type=positive_int, metavar="R", help="LoRA of rank R on every linear layer (default: "
                   "every parameter trains)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--out", default="finetune", metavar="DIR", help="where metrics.json goes (default: finetune)")
    p.add_argument("--batch", type=positive_int, default=16, help="problems per step (default 16)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--limit", type=positive_int, metavar="N", help="test on the first N held-out problems only")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = _call(args)
        sys.stdout.flush()              # here, where a closed pipe can still be caught
        return code
    except BrokenPipeError:
        return _closed_stdout()


SIGPIPE_STATUS = 128 + 13       # what a shell reports for a command whose reader went away (yes | head)


def _closed_stdout():
    """The reader of stdout went away (``theory-bench check --json | head``): end quietly, with the
    usual status of a command killed by SIGPIPE; stdout goes to /dev/null so that Python's own
    flush at exit does not print a second error."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return SIGPIPE_STATUS


def _call(args):
    try:
        return args.func(args)
    except BrokenPipeError:             # a ConnectionError too, but no error of ours: main ends quietly
        raise
    except (ValueError, LookupError, RuntimeError, ImportError, ConnectionError) as err:
        from theory_bench.results.dask_runs import DaskMissing
        from theory_bench.results.store import MissingResults, StoreError
        if isinstance(err, (MissingResults, StoreError, DaskMissing, ConnectionError)) or type(err) is ValueError:
            print(f"theory-bench: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
