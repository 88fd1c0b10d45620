"""``pearray claims``: the seed papers' headline claims, measured under their own configurations
and in this project's common 32 x 32 setting, with a decomposition of every gap.

:func:`add_commands` registers the subcommand; bad input (an unknown ``--paper``, an unreadable
cached L-Mul figure file) raises the caller's exception with a one-line message (exit 2). The
table comes from :func:`models.claims.claims_table` (cost model + the cached synthesis figures of
:mod:`models.lmul_energy`): no synthesis runs, it prints in about a second.
"""

from __future__ import annotations

import json

from models.claim_row import COLUMNS
from models.claims import QUICK_WORKLOAD, claims_table
from models.claims_configs import CLAIMS
from models.lmul_energy import DATA_FILE, load

from .args import EXIT_OK
from .report_claims import claims_text

PAPERS = tuple(dict.fromkeys(c.paper for c in CLAIMS)) + ("L-Mul (Addition is All You Need)",)


def cmd_claims(args, bad):
    papers = PAPERS
    if args.paper is not None:
        papers = [p for p in PAPERS if args.paper.lower() in p.lower()]
        if not papers:
            raise bad(f"--paper {args.paper!r} matches no paper; papers: {', '.join(PAPERS)}")
    try:
        lmul_data = load()
    except (OSError, ValueError) as e:
        raise bad(f"cannot read the cached L-Mul synthesis figures {DATA_FILE} "
                  f"(regenerate: python -m models.lmul_energy): {e}") from None
    rows = [r for r in claims_table(quick=args.quick, lmul_data=lmul_data) if r["paper"] in papers]
    if args.json:
        print(json.dumps({"quick": args.quick, "columns": list(COLUMNS), "claims": rows}))
    else:
        print(claims_text(rows, quick=args.quick))
    return EXIT_OK


def add_commands(subparsers, bad):
    """Register ``claims`` on ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "claims", help="the seed papers' headline claims under their own configurations and in the "
                       "common 32x32 setting, with the measured factors behind every gap",
        description="One row per headline claim of the seed papers (shared/specs/pe-designs.md "
                    "sections 1-5): the paper's ratio, the cost model's ratio under the paper's "
                    "configuration (models/claims_configs.py) and in the common 32x32 setting, a "
                    "verdict (reproduced within +-30 %%; unreproducible: a GPU or unverified figure) and, for a claim that differs, the factors "
                    "that change one thing at a time from the common configuration to the paper's. "
                    "The L-Mul rows use cached synthesis + OpenSTA figures "
                    "(regenerate: python -m models.lmul_energy).",
        epilog="examples:\n  pearray claims\n  pearray claims --paper bitmod --json")
    p.add_argument("--paper", help="only the claims of papers whose name contains this (e.g. bitmod)")
    p.add_argument("--quick", action="store_true",
                   help=f"every paper workload replaced by {QUICK_WORKLOAD} (the rows say so)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: a `claims` list of rows with the claims.csv columns")
    p.set_defaults(func=lambda args: cmd_claims(args, bad))
