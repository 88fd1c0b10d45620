"""``pearray accuracy``: whole-model quality of designs, every linear layer through the design's
golden GEMM (SmolLM2-135M perplexity, MiniLM-L6 similarity Spearman; see :mod:`sim.accuracy`).

:func:`add_commands` registers the subcommand; every bad input (unknown kind or option, both or
neither of --pe/--all, an unreadable or too short --text, options of the other model, a kind
without a fast path, a missing model or data package) raises the caller's exception type with a
one-line message before any model runs (the ``pearray`` CLI turns it into exit status 2).
"""

from __future__ import annotations

import json
import os
import sys

from .args import add_pe_option_args, option_flag, pe_option_names, pe_options, positive_int


def _designs(args, bad):
    from models.registry import PE_KINDS
    from .accuracy import AccuracyDesign, registry_designs, supported
    if args.all == (args.pe is not None):
        raise bad("give exactly one of --pe P or --all")
    if args.all:
        given = [option_flag(name) for name in pe_option_names() if getattr(args, name, None) is not None]
        if given:
            raise bad(f"--all scores the registry's variants; PE options ({', '.join(given)}) go with --pe")
        designs = registry_designs()
        return [d for d in designs if supported(d) is None], [d for d in designs if supported(d) is not None]
    if args.pe not in PE_KINDS:
        raise bad(f"unknown PE kind {args.pe!r}; known kinds: {', '.join(PE_KINDS)}")
    kind = PE_KINDS[args.pe]
    options = pe_options(args, kind)
    label = args.pe + "".join(f" {k}={v}" for k, v in options)
    design = AccuracyDesign(label, kind, options)
    reason = supported(design)
    if reason:
        raise bad(reason)
    return [design], []


def _data(args, bad):
    from models import smollm2
    from .accuracy import DEFAULT_WINDOWS, QUICK_WINDOWS, minilm_data, smollm2_data
    try:
        if args.model == "minilm":
            for flag, value in (("--text", args.text), ("--windows", args.windows)):
                if value is not None:
                    raise bad(f"{flag} applies to --model smollm2 (MiniLM scores the lee.cor documents)")
            return minilm_data(args.quick)
        text = None
        if args.text is not None:
            try:
                with open(args.text, "rb") as f:
                    text = f.read().decode("utf-8")
            except OSError as e:
                raise bad(f"--text {args.text}: {e.strerror or e}") from None
            except UnicodeDecodeError as e:
                raise bad(f"--text {args.text} is not UTF-8 text (byte {e.start})") from None
        windows = args.windows or (QUICK_WINDOWS if args.quick else DEFAULT_WINDOWS)
        try:
            return smollm2_data(text, windows, source=args.text)
        except ValueError as e:
            raise bad(f"{'--text ' + args.text if args.text else 'the corpus'}: {e}") from None
    except smollm2.MissingModelError as e:
        raise bad(str(e)) from None


def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def cmd_accuracy(args, bad):
    # deferred on purpose: the models are heavy imports that only this subcommand needs
    from .accuracy import run, supported
    designs, skipped = _designs(args, bad)
    data = _data(args, bad)
    progress = None if args.json else (lambda label: print(f"  scoring {label} ...", file=sys.stderr, flush=True))
    summary, rows = run(args.model, designs, data, progress=progress, workers=args.workers)
    skipped_rows = [{"design": d.label, "pe": d.kind.name, "skipped": supported(d)} for d in skipped]
    if args.json:
        print(json.dumps({"model": args.model, "reference": summary, "results": rows,
                          "skipped": skipped_rows}))
        return 0
    # deferred on purpose: tabulate is only needed for the text table
    from tabulate import tabulate
    if args.model == "smollm2":
        print(f"SmolLM2-135M perplexity on {summary['source']}: {summary['windows']} x 512-token windows, "
              f"{summary['scored_tokens']} scored tokens; fp32 (dequantised Q4_1) ppl {summary['ppl']:.3f}")
        table = [[r["design"], _fmt(r["ppl"]), _fmt(r["delta_ppl"], 3),
                  f"{r['act_format']} per {r['act_granularity']}", f"{r['weight_format']} per {r['weight_granularity']}",
                  f"{r['cpu_s']:.0f}{' (cached)' if r['cached'] else ''}"] for r in rows]
        print(tabulate(table, headers=["design", "ppl", "delta ppl", "activations", "weights", "cpu s"]))
    else:
        print(f"MiniLM-L6 similarity on {summary['source']}: fp32 Spearman vs human {summary['spearman_human']:.4f}")
        table = [[r["design"], _fmt(r["spearman_human"], 4), _fmt(r["spearman_fp32"], 4),
                  f"{r['act_format']} per {r['act_granularity']}", f"{r['weight_format']} per {r['weight_granularity']}",
                  f"{r['cpu_s']:.0f}{' (cached)' if r['cached'] else ''}"] for r in rows]
        print(tabulate(table, headers=["design", "Spearman vs human", "vs fp32", "activations", "weights", "cpu s"]))
    if rows:
        print(f"every design: {rows[0]['fp32_parts']}; every block linear through the design's golden GEMM")
    for r in skipped_rows:
        print(f"skipped {r['design']}: {r['skipped']}")
    return 0


def add_commands(subparsers, bad_input_exception):
    """Register ``accuracy`` on ``subparsers``; bad input raises ``bad_input_exception``."""
    bad = bad_input_exception
    p = subparsers.add_parser("accuracy", help="whole-model quality with every linear layer through "
                                               "the design's golden GEMM")
    p.add_argument("--model", choices=("smollm2", "minilm"), required=True,
                   help="smollm2: perplexity on lee_background.cor; minilm: similarity Spearman on lee.cor")
    p.add_argument("--pe", help="PE kind (see `pearray kinds`)")
    p.add_argument("--all", action="store_true", help="every registry variant")
    add_pe_option_args(p)
    p.add_argument("--text", help="smollm2: score this UTF-8 text file instead of the default corpus")
    p.add_argument("--windows", type=positive_int,
                   help="smollm2: number of 512-token windows (default 8, --quick 1)")
    p.add_argument("--quick", action="store_true",
                   help="1 window (smollm2) or the first 20 documents (minilm)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                   help="processes scoring the designs and the fp32 reference, longest first "
                        "(default: the CPU count; every result is the same on any count)")
    p.set_defaults(func=lambda args: cmd_accuracy(args, bad))
