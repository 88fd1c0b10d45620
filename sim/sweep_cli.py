"""``pearray sweep``: the design-space sweep on the command line (see :mod:`sim.sweep`).

Everything that can be checked before work is: the space file (a bad key, kind, option or value
names the key), ``--out`` (new, empty, or a previous sweep's folder, which is continued), the tools
``--verify`` / ``--synth`` need, the scheduler's address. Each failure raises the caller's exception
type with a one-line message (exit status 2) and creates nothing. Exit status 1 when a verified
point is not bit-exact or its cycles differ from the model (after everything is written).
"""

from __future__ import annotations

import json
import re
import sys

from models.sweep_space import SpaceError, load_space

from .args import EXIT_FAIL, EXIT_OK, positive_int
from .files import check_input_file


def _workers(text):
    return 0 if text.strip() == "0" else positive_int(text)


def cmd_sweep(args, bad):
    from . import sweep
    if args.scheduler is not None and args.workers is not None:
        raise bad("give --workers N (a local cluster) or --scheduler ADDRESS, not both")
    if args.scheduler is not None and not re.fullmatch(r"(tcp|tls|inproc|ucx)://\S+", args.scheduler):
        raise bad(f"--scheduler must be an address like tcp://127.0.0.1:8786, not {args.scheduler!r}")
    check_input_file(args.space, "SPACE", "space")
    try:
        space = load_space(args.space)
    except SpaceError as e:
        raise bad(str(e)) from None
    with open(args.space, encoding="utf-8") as f:
        space_text = f.read()
    sweep.check_out(args.out)
    sweep.check_tools(space, args.verify, args.synth)
    client = sweep.open_client(args.workers, args.scheduler)
    try:
        summary = sweep.sweep(space, space_text, args.out, client, verify=args.verify,
                              synth=args.synth)
    finally:
        sweep.close_client(client)
    if args.json:
        print(json.dumps(summary, default=int))
    else:
        print(sweep.summary_text(args.out, summary))
    failing = sum(n for s, n in summary.get("verify", {}).items() if s not in ("pass", "skipped"))
    if failing:
        print(f"pearray: {failing} verified design point(s) failed; see verify_status and "
              f"verify_error in {args.out}/results.parquet", file=sys.stderr)
    return EXIT_FAIL if failing else EXIT_OK


def add_commands(subparsers, bad_input_exception):
    """Register ``sweep`` on ``subparsers``; bad input raises ``bad_input_exception``."""
    bad = bad_input_exception
    p = subparsers.add_parser(
        "sweep", help="design-space sweep on Dask: cost model on every point, Parquet results, "
                      "Pareto fronts, RTL verification and synthesis of chosen points")
    p.add_argument("space", metavar="SPACE", help="the space file (TOML; see examples/space-small.toml)")
    p.add_argument("--out", required=True,
                   help="output folder: new, empty, or a previous sweep's folder, which is continued "
                        "(finished points are not redone)")
    p.add_argument("--workers", type=_workers,
                   help="local Dask worker processes (default: one per core; 0: one worker thread "
                        "in this process)")
    p.add_argument("--scheduler", help="a running Dask scheduler, e.g. tcp://127.0.0.1:8786 "
                                       "(its workers must be able to import pearray)")
    p.add_argument("--verify", choices=("pareto", "all", "none"), default="none",
                   help="RTL-verify the points on a Pareto front, all valid points, or none (default)")
    p.add_argument("--synth", choices=("pareto", "all", "none"), default="none",
                   help="synthesise the arrays of the points on a Pareto front, all, or none (default)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=lambda args: cmd_sweep(args, bad))
