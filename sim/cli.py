"""The ``pearray`` command line.

Exit codes: 0 success (for ``sim``: bit-exact and cycles equal to the model), 1 a design failed
(mismatching outputs or cycles, watchdog), 2 bad input (unknown PE, bad shapes, unreadable files,
NaN/inf, out-of-range codes, missing tools).
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


# command-line flags that set a PE option (the option name is the PE class's keyword)
PE_OPTION_FLAGS = ("weight_bits", "weight_format", "mode", "group_size")


class BadInput(Exception):
    """Reported as one line on stderr with exit code 2."""


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


NO_GROUP = "none"


def group_size_arg(text):
    """A positive group size, or ``none`` (the raw design without the post-array unit)."""
    return NO_GROUP if text.strip().lower() == NO_GROUP else positive_int(text)


def _pe_kind(text):
    from models.registry import PE_KINDS
    if text not in PE_KINDS:
        raise argparse.ArgumentTypeError(f"unknown PE kind {text!r}; known kinds: {', '.join(PE_KINDS)}")
    return text


def add_pe_option_args(p):
    """The flags of PE_OPTION_FLAGS (checked against the kind by ``pe_options``)."""
    p.add_argument("--weight-bits", type=positive_int,
                   help="weight bits of PE kinds that take them (lut: 1..4, default 4; shiftadd: 2..4)")
    p.add_argument("--weight-format",
                   help="weight format of kinds that take one (bitserial: int8, int6, fp4, fp3, "
                        "mixed4 (default), mixed3)")
    p.add_argument("--mode", help="PE mode of kinds that take one (ovp: int4 (default), flint4, int8)")
    p.add_argument("--group", dest="group_size", type=group_size_arg,
                   help="K elements per dequantisation group of kinds that take one (shiftadd, "
                        "bitserial: default 128, a multiple of --rows; ws only; 'none' = the raw "
                        "integer GEMM, either dataflow)")


def _add_design_args(p, depths_default=None):
    p.add_argument("--pe", type=_pe_kind, required=True, help="PE kind (see `pearray kinds`)")
    p.add_argument("--rows", type=positive_int, required=True)
    p.add_argument("--cols", type=positive_int, required=True)
    p.add_argument("--dataflow", choices=("ws", "os"), default="ws",
                   help="weight-stationary (default) or output-stationary")
    add_pe_option_args(p)
    for name in ("act", "weight", "out"):
        p.add_argument(f"--{name}-depth", type=positive_int, default=depths_default,
                       help=f"{name} buffer depth in words"
                            + (" (default: sized to the GEMM, rounded up to a power of two)"
                               if depths_default is None else f" (default {depths_default})"))


def _write_atomically(directory, files):
    """Write ``{name: writer(path)}`` into ``directory`` so that either every file lands or none."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".pearray-", dir=directory))
    try:
        for name, writer in files.items():
            writer(staging / name)
        for name in files:
            os.replace(staging / name, directory / name)
    finally:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()


def cmd_verilog(args):
    from models.registry import get_kind
    from models.design import DesignConfig
    design = DesignConfig(args.pe, args.rows, args.cols, args.dataflow, args.act_depth,
                          args.weight_depth, args.out_depth, pe_options(args, get_kind(args.pe)))
    text = design.verilog()
    path = Path(args.output) / f"{design.slug}.v"
    _write_atomically(args.output, {path.name: lambda p: p.write_text(text)})
    print(path)
    return EXIT_OK


def _load_matrix(path, what):
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read {what} file {path}: {e}") from None
    if array.ndim != 2:
        raise BadInput(f"{what} file {path} must hold a 2-D matrix, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise BadInput(f"{what} file {path} must hold integers or floats, got dtype {array.dtype}")
    return array


def pe_options(args, kind):
    """The PE options given on the command line, checked against what the kind accepts."""
    given = {name: getattr(args, name) for name in PE_OPTION_FLAGS if getattr(args, name) is not None}
    if given.get("group_size") == NO_GROUP:
        given["group_size"] = None
    known = dict(kind.options)
    for name in given:
        if name not in known:
            raise BadInput(f"PE kind {kind.name!r} has no --{name.replace('_', '-')} option")
    try:
        kind.prototype(**given)
    except TypeError as e:
        raise BadInput(str(e)) from None
    return tuple(sorted(given.items()))


def _operands(args, kind, pe):
    """(acts codes, weights codes, meta) from the files or random codes of the PE's formats."""
    if (args.weights is None) != (args.acts is None):
        raise BadInput("--weights and --acts go together")
    if args.weights is None:
        if None in (args.m, args.k, args.n):
            raise BadInput("give --m, --k and --n (or --acts and --weights)")
        rng = np.random.default_rng(args.seed)
        acts, weights = kind.random_operands(rng, args.m, args.k, args.n, pe)
        return acts, weights, {"source": f"random element codes over the PE's full code ranges, seed {args.seed}",
                               "dequantise": "no scales: the codes are the PE's element codes "
                                             "(see the PE class docstring for their meaning)"}
    acts = _load_matrix(args.acts, "activation")
    weights = _load_matrix(args.weights, "weight")
    if acts.shape[1] != weights.shape[0]:
        raise BadInput(f"shapes do not chain: acts {acts.shape} (M x K) @ weights {weights.shape} (K x N)")
    for name, value, actual in (("m", args.m, acts.shape[0]), ("k", args.k, acts.shape[1]),
                                ("n", args.n, weights.shape[1])):
        if value is not None and value != actual:
            raise BadInput(f"--{name} {value} does not match the files' {name.upper()} = {actual}")
    meta = {"source": f"acts {args.acts}, weights {args.weights}"}
    if np.issubdtype(acts.dtype, np.floating):
        acts, meta["acts"] = kind.quantize_acts(acts, pe)
    if np.issubdtype(weights.dtype, np.floating):
        weights, meta["weights"] = kind.quantize_weights(weights, pe)
    return acts, weights, meta


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
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def cmd_sim(args):
    from models.registry import get_kind
    from models.design import DesignConfig
    from sim.run import simulate_gemm
    from sim.simulators import get_simulator

    simulator = get_simulator(args.simulator)
    simulator.find_tool()   # a missing simulator is bad input: one line, exit 2, before any work
    kind = get_kind(args.pe)
    options = pe_options(args, kind)
    pe = kind.prototype(**dict(options))
    try:
        acts, weights, meta = _operands(args, kind, pe)
        acts, weights = kind.check_acts(acts, pe), kind.check_weights(weights, pe)
    except ValueError as e:
        raise BadInput(str(e)) from None
    (m, k), n = acts.shape, weights.shape[1]
    design = DesignConfig.sized_for(args.pe, args.rows, args.cols, args.dataflow, m, k, n, options)
    overrides = {f"{b}_depth": getattr(args, f"{b}_depth") for b in ("act", "weight", "out")
                 if getattr(args, f"{b}_depth") is not None}
    if overrides:
        design = DesignConfig(**{**design.__dict__, **overrides})
    try:
        design.layout(m, k, n)
    except ValueError as e:
        raise BadInput(str(e)) from None
    make_extra = getattr(kind, "extra_operand", None)   # e.g. shiftadd's per-group parameters
    try:
        extra = make_extra(acts, weights, pe, meta.get("acts"), meta.get("weights")) if make_extra else None
    except ValueError as e:
        raise BadInput(str(e)) from None
    print(f"pearray: simulating {design.slug}: {m}x{k}x{n} in {args.simulator} ...", file=sys.stderr)
    result = simulate_gemm(design, acts, weights, extra, simulator=simulator)
    est = result.model
    report = {
        "pe": args.pe, **dict(options), "rows": args.rows, "cols": args.cols, "dataflow": args.dataflow,
        "simulator": args.simulator, "m": m, "k": k, "n": n,
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
            from hw.group_dequant import DequantParams
            meta["rtl_out"] = (
                "group-dequantised integer output: per group, HAWQ-V3 dyadic (b, c) applied to "
                "raw - z * sum(a), summed over groups" + (", then requantised to INT8" if extra.requant else "")
                if isinstance(extra, DequantParams) else
                "group-scaled integer output: per group, the raw sums times the group's 8-bit scale "
                "code, summed over groups")
            name = extra.description.split()[0]
            meta[name.split(".")[0]] = extra.description
            files[name] = lambda p: p.write_bytes(_npz(**extra.dump_arrays()))
        _write_atomically(args.dump, {
            "acts_q.npy": lambda p: np.save(p, result.acts),
            "weights_q.npy": lambda p: np.save(p, result.weights),
            "acts_lanes.npy": lambda p: np.save(p, _lane_codes(result.acts, design.facts.pe, "act")),
            "weights_lanes.npy": lambda p: np.save(p, _lane_codes(result.weights, design.facts.pe, "weight")),
            "rtl_out.npy": lambda p: np.save(p, result.rtl_out),
            "golden_out.npy": lambda p: np.save(p, result.golden_out),
            "meta.json": lambda p: p.write_text(json.dumps(meta, indent=2, default=str)),
            **files,
        })
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
    from models.quant import FORMATS, quant_table

    if (args.tensor is None) == (args.input is None):
        raise BadInput("give exactly one of --tensor (e.g. minilm:L0.ffn2) or --input X.npy")
    if args.all == (args.format is not None):
        raise BadInput("give exactly one of --format F or --all")
    if args.format is not None and args.format not in FORMATS:
        raise BadInput(f"unknown format {args.format!r}; known formats: {', '.join(FORMATS)}")
    if args.tensor is not None:
        from models.realdata import MissingRealDataError, get_tensor
        try:
            x = get_tensor(args.tensor)
        except MissingRealDataError as e:
            raise BadInput(str(e)) from None
        source = args.tensor
    else:
        x = _load_matrix(args.input, "input")
        source = args.input
    if not np.all(np.isfinite(x)):
        raise BadInput(f"{source} holds NaN or inf values")
    table = quant_table(x, None if args.all else [args.format])
    if args.json:
        print(json.dumps({"tensor": source, "shape": list(np.shape(x)),
                          "formats": table.to_dict(orient="records")}))
    else:
        print(f"{source} {tuple(np.shape(x))}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return EXIT_OK


def cmd_report(args):
    from sim.report import build_report
    failing = build_report(args.out, quick=args.quick)
    print(Path(args.out) / "summary.md")
    return EXIT_FAIL if failing else EXIT_OK


def cmd_kinds(args):
    from models.registry import PE_KINDS
    width = max(map(len, PE_KINDS))
    for name, kind in PE_KINDS.items():
        print(f"{name:{width}s} {kind.description}")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (no usage dump), exit 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"pearray: error: {message}\n")


def build_parser():
    parser = _Parser(prog="pearray", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version="pearray 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("verilog", help="write the accelerator's Verilog")
    _add_design_args(p, depths_default=256)
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("sim", help="simulate a GEMM (Verilator or Icarus) against the golden model")
    _add_design_args(p)
    for dim in ("m", "k", "n"):
        p.add_argument(f"--{dim}", type=positive_int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", help="K x N .npy (floats are quantised by the PE's format)")
    p.add_argument("--acts", help="M x K .npy (floats are quantised by the PE's format)")
    p.add_argument("--dump", help="directory for acts_q/weights_q/rtl_out/golden_out .npy + meta.json")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    from sim.simulators import DEFAULT_SIMULATOR, SIMULATORS
    p.add_argument("--simulator", choices=tuple(SIMULATORS), default=DEFAULT_SIMULATOR,
                   help="verilator (default) or icarus (Icarus Verilog: a second, independent simulator)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("quant", help="quantisation error of formats on a real or given tensor")
    p.add_argument("--format", help="one format (see --all for the list)")
    p.add_argument("--all", action="store_true", help="every format, one row each")
    p.add_argument("--tensor", help="a real tensor, e.g. minilm:L0.ffn2 or minilm:L0.ffn2.act")
    p.add_argument("--input", help="a 2-D float .npy (rows = output channels, groups along the last axis)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_quant)

    p = sub.add_parser("report", help="compare every design: RTL-verified, cycles, quantisation error")
    p.add_argument("--out", default="reports/latest", help="output folder (default reports/latest)")
    p.add_argument("--quick", action="store_true", help="smaller verified GEMM (about a minute)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("kinds", help="list the PE kinds")
    p.set_defaults(func=cmd_kinds)

    from sim.cost_cli import add_commands
    add_commands(sub, BadInput)
    return parser


def main(argv=None):
    import warnings
    # Components built only to read their contract properties are never elaborated, by design.
    warnings.filterwarnings("ignore", message=".*created but never used")
    from sim.run import SimulationError
    from sim.toolchain import ToolchainError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line argument error
        return e.code
    try:
        return args.func(args)
    except (BadInput, ValueError, FileNotFoundError, ToolchainError) as e:
        print(f"pearray: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SimulationError as e:
        print(f"pearray: simulation failed: {e}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
