"""pearray: design, verify and compare mixed-precision processing-element (PE) arrays.

Exit codes: 0 success (for ``sim``: bit-exact and cycles equal to the model), 1 a design failed
(mismatching outputs or cycles, watchdog), 2 bad input (unknown PE, bad shapes, unreadable files,
NaN/inf, out-of-range codes, missing tools).
"""

import argparse
import dataclasses
import io
import json
import sys
import textwrap
from pathlib import Path

import numpy as np

from models.design import DesignConfig
from models.quant import FORMATS, quant_table
from models.realdata import MissingRealDataError, get_tensor
from models.registry import PE_KINDS, get_kind
from models.workload_files import is_workload_file, load_workload_file
from models.workloads import get_workload

from . import accuracy_cli, claims_cli, cost_cli, report_acceptance, sweep_cli
from .args import (EXIT_BAD_INPUT, EXIT_FAIL, EXIT_OK, BadInput, add_design_args, check_depths, check_tile,
                   check_gemm_size, flag_message, option_flag, pe_options, positive_int, seed_int,
                   bounded_float, add_energy_basis_arg)
from .files import (DUMP_MARKER, check_output_dir, check_output_file, load_matrix, write_dir,
                    write_file_atomically)
from .report import build_report, check_report_out, designs
from .report_acceptance import Acceptance
from .run import SimulationError, simulate_gemm
from .simulators import DEFAULT_SIMULATOR, SIMULATORS, get_simulator
from .toolchain import ToolchainError

# the files ``sim --dump`` writes (a folder holding only these is a previous dump)
DUMP_FILES = ("acts_q.npy", "weights_q.npy", "acts_lanes.npy", "weights_lanes.npy", "rtl_out.npy",
              "golden_out.npy", "meta.json", "dequant_params.npz", "scale_codes.npz", "gobo_table.npz",
              DUMP_MARKER)


def cmd_verilog(args):
    tile = check_tile(args)
    design = DesignConfig(args.pe, args.rows, args.cols, args.dataflow, args.act_depth,
                          args.weight_depth, args.out_depth, pe_options(args, get_kind(args.pe)), tile)
    path = Path(args.output) / f"{design.slug}.v"
    check_output_file(path, "-o")
    text = design.verilog()
    write_file_atomically(path, lambda p: p.write_text(text))
    print(path)
    return EXIT_OK


def _operands(args, kind, pe):
    """(GemmOperands, meta) from the files (floats quantised, integers taken as codes) or random
    codes of the PE's formats."""
    if (args.weights is None) != (args.acts is None):
        raise BadInput("--weights and --acts go together")
    if args.weights is None:
        if None in (args.m, args.k, args.n):
            raise BadInput("give --m, --k and --n (or --acts and --weights)")
        check_gemm_size(args.m, args.k, args.n)
        rng = np.random.default_rng(args.seed)
        acts, weights = kind.random_operands(rng, args.m, args.k, args.n, pe)
        meta = {"source": f"random element codes over the PE's full code ranges, seed {args.seed}",
                "dequantise": "no scales: the codes are the PE's element codes "
                              "(see the PE class docstring for their meaning)"}
    else:
        acts = load_matrix(args.acts, "activation", "--acts")
        weights = load_matrix(args.weights, "weight", "--weights")
        if acts.shape[1] != weights.shape[0]:
            raise BadInput(f"shapes do not chain: --acts {acts.shape} (M x K) @ --weights "
                           f"{weights.shape} (K x N)")
        for name, value, actual in (("m", args.m, acts.shape[0]), ("k", args.k, acts.shape[1]),
                                    ("n", args.n, weights.shape[1])):
            if value is not None and value != actual:
                raise BadInput(f"--{name} {value} does not match the files' {name.upper()} = {actual}")
        check_gemm_size(acts.shape[0], acts.shape[1], weights.shape[1])
        meta = {"source": f"acts {args.acts}, weights {args.weights}"}
    try:
        operands = kind.operands(acts, weights, pe)
    except ValueError as e:
        raise BadInput(str(e)) from None
    for side in ("acts", "weights"):
        if getattr(operands, f"{side}_meta") is not None:
            meta[side] = getattr(operands, f"{side}_meta")
    return operands, meta


def _lane_codes(codes, pe, side):
    """The lane values the buffers hold for ``codes`` (acts M x K -> M x steps; weights K x N ->
    steps x N), i.e. the bytes/words the RTL received per K step: OVP pair bytes, LUT bit-plane
    nibbles, plain codes for INT8."""
    g = pe.k_per_step
    if side == "weight":
        codes = codes.T
    rows, k = codes.shape
    padded = np.zeros((rows, -(-k // g) * g), dtype=np.int64)
    padded[:, :k] = codes
    encode = pe.act_lanes if side == "act" else pe.weight_lanes
    lanes = np.asarray(encode(padded.reshape(rows, -1, g)), dtype=object)
    width = pe.act_code_width if side == "act" else pe.weight_code_width
    lanes = lanes.astype(np.int64) if width < 64 else lanes
    return lanes if side == "act" else lanes.T


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def cmd_sim(args):
    simulator = get_simulator(args.simulator)
    simulator.find_tool()   # a missing simulator is bad input: one line, exit 2, before any work
    if args.dump:
        check_output_dir(args.dump, "--dump", marker=DUMP_MARKER, own_names=DUMP_FILES)
    kind = get_kind(args.pe)
    options = pe_options(args, kind)
    tile = check_tile(args)
    pe = kind.prototype(**dict(options))
    operands, meta = _operands(args, kind, pe)
    m, k, n = operands.shape
    design = DesignConfig.sized_for(args.pe, args.rows, args.cols, args.dataflow, m, k, n, options, tile)
    overrides = {f"{b}_depth": getattr(args, f"{b}_depth") for b in ("act", "weight", "out")
                 if getattr(args, f"{b}_depth") is not None}
    if overrides:
        design = dataclasses.replace(design, **overrides)
    check_depths(design)
    try:
        # GOBO: an outlier buffer deep enough for the operands' outlier list
        design = design.fitted_to(operands)
        design.facts.extra_buffer_words(design.layout(m, k, n), operands.extra)
    except ValueError as e:
        raise BadInput(str(e)) from None
    extra = operands.extra
    print(f"pearray: simulating {design.slug}: {m}x{k}x{n} in {args.simulator} ...", file=sys.stderr)
    result = simulate_gemm(design, operands, simulator=simulator)
    est = result.model
    report = {
        "pe": args.pe, **dict(options), "rows": args.rows, "cols": args.cols, "dataflow": args.dataflow,
        "tile": list(tile), "simulator": args.simulator, "m": m, "k": k, "n": n,
        "cycles": result.cycles, "model_cycles": est.cycles, "mismatches": result.mismatches,
        "bit_exact": result.mismatches == 0, "cycles_match": result.cycles == est.cycles,
        "sim_seconds": round(result.sim_seconds, 6),
        "cycles_per_second": round(result.cycles_per_second, 1),
        # MACs per (PE-slot peak MACs per cycle x RTL cycles): macs_per_step / II per PE
        "utilisation": round(est.macs / (args.rows * args.cols * design.facts.pe.macs_per_cycle
                                         * result.cycles), 6),
        "folds": est.folds, "fold_interval": est.fold_interval,
        "scalesim_cycles": est.scalesim_cycles,
        "build_seconds": round(result.build_seconds, 3), "wall_seconds": round(result.wall_seconds, 3),
        "seed": args.seed if args.weights is None else None,
    }
    if args.dump:
        meta.update({"lanes": "acts_lanes.npy (M x K steps) / weights_lanes.npy (K steps x N): the "
                              "buffer lane codes per K step of k_per_step elements, as the RTL received them",
                     "k_per_step": design.facts.pe.k_per_step,
                     "pe": args.pe, "pe_options": dict(options), "design": design.slug,
                     "acc_width": design.facts.pe.acc_width,
                     "rtl_out": "raw integer accumulators, signed, before any dequantisation"})
        files = {}
        if extra is not None:
            meta["rtl_out"] = extra.output_description
            name = extra.description.split()[0]
            meta[name.split(".")[0]] = extra.description
            files[name] = lambda p: p.write_bytes(_npz(**extra.dump_arrays()))
        write_dir(args.dump, {
            "acts_q.npy": lambda p: np.save(p, result.acts),
            "weights_q.npy": lambda p: np.save(p, result.weights),
            "acts_lanes.npy": lambda p: np.save(p, _lane_codes(result.acts, design.facts.pe, "act")),
            "weights_lanes.npy": lambda p: np.save(p, _lane_codes(result.weights, design.facts.pe, "weight")),
            "rtl_out.npy": lambda p: np.save(p, result.rtl_out),
            "golden_out.npy": lambda p: np.save(p, result.golden_out),
            "meta.json": lambda p: p.write_text(json.dumps(meta, indent=2, default=str)),
            **files,
        }, DUMP_MARKER)
    if args.json:
        print(json.dumps(report))
    else:
        verdict = "PASS" if result.passed else "FAIL"
        print(f"{verdict}: {m}x{k}x{n} on {args.rows}x{args.cols} {args.pe} {args.dataflow}: "
              f"{result.mismatches} mismatching elements, cycles {result.cycles} "
              f"(model {est.cycles}, SCALE-Sim {est.scalesim_cycles}), utilisation "
              f"{report['utilisation']:.1%}, {report['cycles_per_second']:.0f} cycles/s")
    return EXIT_OK if result.passed else EXIT_FAIL


def cmd_quant(args):
    """Relative error and SQNR of quantisation formats on one tensor."""
    if (args.tensor is None) == (args.input is None):
        raise BadInput("give exactly one of --tensor (e.g. minilm:L0.ffn2) or --input X.npy")
    if args.all == (args.format is not None):
        raise BadInput("give exactly one of --format F or --all")
    if args.format is not None and args.format not in FORMATS:
        raise BadInput(f"unknown format {args.format!r}; known formats: {', '.join(FORMATS)}")
    if args.tensor is not None:
        try:
            x = get_tensor(args.tensor)
        except (MissingRealDataError, ValueError) as e:
            raise BadInput(f"--tensor: {e}") from None
        source = args.tensor
    else:
        x = load_matrix(args.input, "input", "--input")
        source = args.input
    with np.errstate(all="ignore"):     # every non-finite result is reported in the note column
        table = quant_table(x, None if args.all else [args.format], notes=True)
    note = table["note"].iloc[0]
    if not args.all and note.startswith("skipped: "):
        raise BadInput(f"{source}: {args.format}: {note.removeprefix('skipped: ')}")
    if args.json:
        # JSON has no NaN or Infinity: undefined figures are null, and the note says why
        records = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                   for row in table.to_dict(orient="records")]
        print(json.dumps({"tensor": source, "shape": list(np.shape(x)), "formats": records}))
    else:
        print(f"{source} {tuple(np.shape(x))}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return EXIT_OK


def report_workload(text):
    """(label, GEMMs) of ``report --workload``: an ONNX model or SCALE-Sim topology file, or a
    registered workload name; BadInput naming the problem."""
    try:
        # anything that looks like a path is read as a file (its suffix error names the two forms)
        if is_workload_file(text) or Path(text).suffix or "/" in text:
            return Path(text).name, load_workload_file(text)
        return text, get_workload(text)
    except ValueError as e:   # WorkloadFileError is one
        raise BadInput(f"--workload: {e}") from None


def cmd_report(args):
    workload = None if args.workload is None else report_workload(args.workload)
    check_report_out(args.out)
    try:
        acceptance = Acceptance(args.max_delta_ppl, args.min_spearman, args.min_sqnr)
    except ValueError as e:
        raise BadInput(f"report: {e}") from None
    failing = build_report(args.out, quick=args.quick, workload=workload, acceptance=acceptance,
                           energy_basis=args.energy_basis)
    print((Path(args.out) / "index.html").absolute())
    return EXIT_FAIL if failing else EXIT_OK


def kind_flags(kind, options):
    """The ``--pe ... --option value`` flags that select a registry variant."""
    return " ".join([f"--pe {kind.name}"] + [f"{option_flag(k)} {'none' if v is None else v}"
                                            for k, v in options])


def cmd_kinds(args):
    for name, kind in PE_KINDS.items():
        print(f"{name}: {kind.description}")
        for label, options in kind.variants:
            print(f"    {label:32s} {kind_flags(kind, options)}")
    return EXIT_OK


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; every option's help ends with its default (when it
    has one and the help does not already say it; an on/off flag's is off)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS) and action.option_strings
                and "default" not in text):
            text += " (default: %(default)s)"
        elif action.default is False and action.nargs == 0 and "default" not in text:
            text += " (default: off)"      # an on/off flag
        return text

    def _split_lines(self, text, width):
        # never break a name like ovp-flint4 or --weight-bits at its hyphen
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (no usage dump), exit 2; help in :class:`HelpFormatter`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"pearray: error: {message}\n")


DESCRIPTION = """\
pearray generates Amaranth Verilog for mixed-precision processing-element arrays (INT8, LUT,
OliVe OVP, MixPE shift-add, BitMoD bit-serial ...), verifies it bit for bit in Verilator against
a numpy golden model, and compares the designs with an exact cycle model and a cost model."""

EPILOG = """\
examples:
  pearray report --quick                      compare every design (writes reports/latest/index.html)
  pearray kinds                               the PE kinds and the flags of each report design
  pearray sim --pe lut --weight-bits 2 --rows 8 --cols 8 --m 37 --k 53 --n 29
  pearray cost --pe int8 --rows 32 --cols 32 --workload minilm-l6
  pearray quant --all --tensor minilm:L0.ffn2
  pearray synth --pe ovp --unit pe
  pearray verilog --pe int8 --rows 8 --cols 8 -o build/verilog
  pearray characterise                        re-measure the cost model's primitive table
  pearray sweep examples/space-small.toml --out /tmp/sweep
  pearray accuracy --model smollm2 --pe int8 --quick
  pearray claims                              the seed papers' claims, measured and decomposed

exit status: 0 success, 1 a design failed (mismatch, cycles, watchdog), 2 bad input, 130 interrupted.
`pearray COMMAND --help` describes each command's options."""

# Measured on this project's 2-core machine, shared with 7 other sessions (s24):
# - --quick, every cache warm (Verilator builds, Yosys, OpenSTA): 3 min 48 s at load average 4.6
#   (verification 1:36 = ~3 s per design, Yosys + OpenSTA 1:51, cost model 2 s, page 14 s); the lead
#   saw ~6.6 min under a heavier load;
# - full, verification on 8x8 (48x120x30): 29, 46 and 74 s per design with the build cached, 84,
#   105 and 170 s with the build (INT8, OVP W4A4 flint4, FP16), all at load average 16-21: so
#   ~30 min for 33 designs cached at that load, about 1.5 h building; plus the whole-model quality a
#   full report computes when not cached: SmolLM2 with 8 windows is 8 x the one-window run's 24 s
#   CPU (mean of 12 designs) = ~3 min CPU per design, over an hour for the registry; MiniLM's 50
#   documents add less (not measured here).
REPORT_TIMES = ("--quick about 4 minutes with every cache warm (measured 3 min 48 s on a shared 2-core\n"
                "machine; ~6.6 min under heavy load); full about 30 minutes with the Verilator builds\n"
                "and the accuracy results cached (8x8 verification, 30-75 s per design under load),\n"
                "and more than 2 hours on a first run: each of the {n} designs is built in Verilator\n"
                "(1.5-3 minutes each) and the whole-model quality is computed (~3 CPU minutes per\n"
                "design for SmolLM2). Caches: ~/.cache/pearray")


def build_parser():
    parser = _Parser(prog="pearray", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version="pearray 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, title="commands",
                                metavar="COMMAND")

    p = sub.add_parser("report", help="compare every design: RTL-verified, accuracy, cost, Pareto plots",
                       description=f"Compare every registered design on real workloads and write "
                                   f"index.html, summary.md and one CSV per table.\nRun time: "
                                   f"{REPORT_TIMES.format(n=len(designs()))}.",
                       epilog="example:\n  pearray report --quick --out /tmp/report")
    p.add_argument("--out", default="reports/latest",
                   help="output folder: new, empty, or a previous report, which is replaced")
    p.add_argument("--quick", action="store_true",
                   help="a smaller verified GEMM on 4x4 arrays, one synthesised array, and the "
                        "whole-model quality read from the accuracy cache only (--quick data); the "
                        "cost model and the GEMM quantisation error are unchanged")
    p.add_argument("--workload", metavar="FILE",
                   help="your network: an ONNX model (.onnx) or a SCALE-Sim topology (.csv, conv or "
                        "GEMM form), or a registered workload name; costed beside MiniLM-L6 and "
                        "Llama-2-7B prefill/decode (every cost, energy and roofline section), and the "
                        "decision table ranks on it (default: none, the decision table ranks on "
                        "minilm-l6)")
    p.add_argument("--max-delta-ppl", metavar="PCT", type=bounded_float(0),
                   default=report_acceptance.DEFAULT_MAX_DELTA_PPL_PCT,
                   help="acceptable accuracy: the largest SmolLM2 perplexity increase over fp32, in "
                        "percent, a design may have to be recommended (decision table, Pareto front, "
                        "the one-line answer); applies when perplexity was measured")
    p.add_argument("--min-spearman", metavar="RHO", type=bounded_float(-1, 1),
                   default=report_acceptance.DEFAULT_MIN_SPEARMAN,
                   help="acceptable accuracy when only MiniLM-L6 similarity was measured: the lowest "
                        "Spearman against the fp32 model, in [-1, 1]")
    p.add_argument("--min-sqnr", metavar="DB", type=bounded_float(),
                   default=report_acceptance.DEFAULT_MIN_SQNR_DB,
                   help="acceptable accuracy when only GEMM-level quality is available: the lowest "
                        "SQNR (dB) of the dequantised GEMM output on the real MiniLM tensors")
    add_energy_basis_arg(p, "; the report's TOPS/W, energy tables and the answer line's 'confirmed' "
                            "are on it (its activity is measured: sim unless given)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sim", help="simulate one GEMM (Verilator or Icarus) against the golden model",
                       epilog="example:\n  pearray sim --pe int8 --rows 8 --cols 8 --m 37 --k 53 --n 29 --json")
    add_design_args(p)
    for dim, what in (("m", "rows of the activations (tokens)"), ("k", "the reduction dimension"),
                      ("n", "columns of the weights (output channels)")):
        p.add_argument(f"--{dim}", type=positive_int,
                       help=f"GEMM {dim.upper()}: {what}; with --acts/--weights, taken from the files")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the random operands (without files)")
    p.add_argument("--weights", help="K x N .npy (floats are quantised by the PE's format)")
    p.add_argument("--acts", help="M x K .npy (floats are quantised by the PE's format)")
    p.add_argument("--dump", help="directory for acts_q/weights_q/rtl_out/golden_out .npy + meta.json "
                                  "(new, empty, or a previous dump, which is replaced)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--simulator", choices=tuple(SIMULATORS), default=DEFAULT_SIMULATOR,
                   help="verilator (default) or icarus (Icarus Verilog: a second, independent simulator)")
    p.set_defaults(func=cmd_sim)

    cost_cli.add_cost(sub, BadInput)

    p = sub.add_parser("quant", help="quantisation error of formats on a real or given tensor",
                       epilog="example:\n  pearray quant --all --tensor minilm:L0.ffn2")
    p.add_argument("--format", metavar="F", help="one format: " + ", ".join(FORMATS))
    p.add_argument("--all", action="store_true", help="every format, one row each")
    p.add_argument("--tensor", help="a real tensor, e.g. minilm:L0.ffn2 or minilm:L0.ffn2.act")
    p.add_argument("--input", help="a 2-D float .npy (rows = output channels, groups along the last axis)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_quant)

    cost_cli.add_synth(sub, BadInput)

    p = sub.add_parser("verilog", help="write the accelerator's Verilog",
                       epilog="example:\n  pearray verilog --pe int8 --rows 8 --cols 8 -o build/verilog")
    add_design_args(p, depths_default=256)
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("kinds", help="list the PE kinds and the flags of each design the report compares")
    p.set_defaults(func=cmd_kinds)

    cost_cli.add_characterise(sub, BadInput)
    sweep_cli.add_commands(sub, BadInput)
    accuracy_cli.add_commands(sub, BadInput)
    claims_cli.add_commands(sub, BadInput)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line argument error
        return e.code
    try:
        return args.func(args)
    except (BadInput, ValueError, FileNotFoundError, ToolchainError) as e:
        print(f"pearray: error: {flag_message(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SimulationError as e:
        print(f"pearray: simulation failed: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        # the staging folders are removed by their ``finally`` blocks on the way out
        print("pearray: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
