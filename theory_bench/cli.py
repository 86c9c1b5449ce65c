"""The ``theory-bench`` command line."""
import argparse
import importlib
import json
import sys

EXAMPLES = """examples:
  theory-bench list                  the optimizers and problems, one line each
  theory-bench bench                 kernel throughput vs numpy and the memory roofline
  theory-bench bench --quick         the same at d = 1e3 .. 1e6 only (a few seconds)
  theory-bench bench --json out.json also write the measured numbers as JSON
"""


def _cmd_list(args):
    from theory_bench import optimizers
    print("optimizers (theory_bench.optimizers):")
    for cls in optimizers.ALL:
        print(f"  {cls.__name__:12s} {cls.summary}")
    # The catalogue is found like a plugin, by name: the engine never imports it at module level.
    catalogue = importlib.import_module("problems")
    print("problems (problems.make(name, **params)):")
    for name in catalogue.names():
        p = catalogue.make(name)
        print(f"  {name:18s} {p.describe().split(': ', 1)[1]}; {p.notes}")
    return 0


def _cmd_bench(args):
    from theory_bench import bench
    sizes = args.sizes or tuple(10 ** k for k in range(3, 7 if args.quick else 8))
    result = bench.run(sizes=sizes)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="theory-bench", description="Verify by experiment what the theory says about sign-based optimizers.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", help="list optimizers and problems", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("bench", help="kernel throughput vs numpy and the roofline, from one run",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="stop at d = 1e6 (in cache; no roofline)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="D", help="the dimensions to time (default 1e3 .. 1e7)")
    p.add_argument("--json", metavar="FILE", help="also write the numbers to FILE as JSON")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
