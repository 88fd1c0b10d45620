"""``pearray cost`` and ``pearray synth``: the cost model and Yosys synthesis on the command line.

:func:`add_commands` registers both subcommands on the caller's argparse subparsers; every bad
input (unknown PE kind or workload, bad GEMM string, node not 45/28/22/7, missing synthesis tools)
raises the caller's exception type with a one-line message (the ``pearray`` CLI turns it into
exit status 2).
"""

from __future__ import annotations

import argparse
import json
import re
import time

from hw.pe import OptionError
from models import (characterise, cost, cost_vs_synth, energy_vs_sta, primitive_outputs, primitive_pincaps, sta,
                    synth, tech)
from models.design import DesignConfig
from models.registry import PE_KINDS
from models.workload_files import is_workload_file, load_workload_file
from models.workloads import Gemm, get_workload

from .args import (add_energy_basis_arg, add_pe_option_args, add_tile_arg, check_tile, default_energy_basis,
                   pe_options, positive_float, positive_int)

NODES = (45, 28, 22, 7)


def parse_gemm(text, bad):
    """'MxKxN' -> Gemm; ``bad`` is the exception type to raise."""
    found = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*[xX*]\s*(\d+)\s*", text or "")
    if not found or min(int(v) for v in found.groups()) < 1:
        raise bad(f"--gemm must be MxKxN with positive integers (e.g. 128x384x1536), not {text!r}")
    m, k, n = (int(v) for v in found.groups())
    return Gemm(f"{m}x{k}x{n}", m, k, n)


def _kind_and_options(args, bad):
    if args.pe not in PE_KINDS:
        raise bad(f"unknown PE kind {args.pe!r}; known kinds: {', '.join(PE_KINDS)}")
    kind = PE_KINDS[args.pe]
    return kind, pe_options(args, kind)


def _fmt_si(value, unit):
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"),
                          (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def cmd_cost(args, bad):
    _, options = _kind_and_options(args, bad)
    if args.node not in NODES:
        raise bad(f"--node must be one of {', '.join(map(str, NODES))}, not {args.node}")
    if (args.gemm is None) == (args.workload is None):
        raise bad("give exactly one of --gemm MxKxN or --workload NAME")
    if args.energy_basis not in (None, "sta") and not isinstance(args.activity, str):
        raise bad(f"--energy-basis {args.energy_basis} needs a measured --activity "
                  f"({' or '.join(cost.ACTIVITY_SOURCES)}), not {args.activity:g}")
    basis = args.energy_basis or default_energy_basis(args.activity)
    if args.gemm is not None:
        workload = [parse_gemm(args.gemm, bad)]
        label = args.gemm
    else:
        try:
            if is_workload_file(args.workload):
                workload = load_workload_file(args.workload)
            else:
                workload = get_workload(args.workload)
        except ValueError as e:   # WorkloadFileError is one
            raise bad(str(e)) from None
        label = args.workload
    tile = check_tile(args)
    try:
        config = cost.CostConfig(
            args.pe, args.rows, args.cols, args.dataflow, clock_mhz=args.clock_mhz, node=args.node,
            act_kib=args.act_kib, weight_kib=args.weight_kib, out_kib=args.out_kib, dram=args.dram,
            pe_options=options, tile=tile, activity=args.activity, energy_basis=basis)
        result = cost.evaluate(config, workload)
        provenance = config.activity_provenance()
    except (ValueError, tech.UnknownComponentError) as e:
        raise bad(str(e)) from None
    if args.json:
        out = result.to_dict()
        out["workload"] = label
        out["activity_provenance"] = provenance
        out["energy_basis"] = config.energy_basis
        print(json.dumps(out, default=str))
        return 0
    opts = "".join(f" {k}={v}" for k, v in options)
    tiled = f" tile {args.tile[0]}x{args.tile[1]}" if args.tile != (1, 1) else ""
    print(f"{args.pe}{opts} {args.rows}x{args.cols}{tiled} {args.dataflow}, {args.node} nm, "
          f"{args.clock_mhz:g} MHz, {args.dram}; workload {label} ({len(result.layers)} GEMMs)")
    print("activity: " + (f"fixed {provenance['activity']:g}" if provenance["source"] == "fixed" else
                          f"measured per part on {provenance['source']} operands (data "
                          f"{provenance['data_hash']}, {provenance['date']})"))
    print(f"energy basis: {config.energy_basis} ("
          + ("primitives characterised by OpenSTA" if config.energy_basis == "sta" else
             "primitives characterised by gate-level simulation, plus the pins between PE parts") + ")")
    print(f"area {result.area_total_um2 * 1e-6:.4f} mm^2: " + ", ".join(
        f"{k} {v * 1e-6:.4f}" for k, v in result.area_um2.items() if v))
    print(f"cycles {result.cycles:,}  utilisation {result.utilisation:.1%}  "
          f"MACs/cycle {result.macs_per_cycle:.1f}  {result.tops:.3f} TOPS  "
          f"{result.tops_per_w:.3f} TOPS/W  {result.tops_per_mm2:.3f} TOPS/mm^2")
    print(f"energy {_fmt_si(result.energy_total_pj * 1e-12, 'J')}: " + ", ".join(
        f"{k} {v / result.energy_total_pj:.1%}" for k, v in result.energy_pj.items() if v))
    print(f"roofline ({config.bandwidth_gbps:g} GB/s): {result.tops_roofline:.3f} TOPS; "
          f"memory-bound: {', '.join(result.memory_bound_layers) or 'none'}")
    if len(result.layers) > 1:
        for layer in result.layers:
            print(f"  {layer.name:10s} {layer.m}x{layer.k}x{layer.n} x{layer.count}: "
                  f"{layer.cycles:,} cycles, util {layer.utilisation:.1%}, "
                  f"{_fmt_si(layer.energy_total_pj * 1e-12, 'J')}"
                  f"{' MEMORY-BOUND' if layer.memory_bound else ''}")
    return 0


def activity_arg(text):
    """``--activity``: "minilm", "random" or a number in 0..1."""
    if text in cost.ACTIVITY_SOURCES:
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {' or '.join(cost.ACTIVITY_SOURCES)} or a number in 0..1, not {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in 0..1, not {text}")
    return value


def cmd_synth(args, bad):
    kind, options = _kind_and_options(args, bad)
    array = args.rows is not None or args.cols is not None
    if array == (args.unit is not None) or (array and (args.rows is None or args.cols is None)):
        raise bad("give either --unit pe|act_border|weight_border|post_array or both --rows and --cols")
    if not array and args.tile != (1, 1):
        raise bad("--tile is an array option: give it with --rows and --cols, not --unit")
    if not array and args.accelerator:
        raise bad("--accelerator is an array option: give it with --rows and --cols, not --unit")
    if args.accelerator:
        return _synth_accelerator(args, bad, options)
    if not array and not synth.has_unit(kind.prototype(**dict(options)), args.unit):
        effective = sorted({**dict(kind.options), **dict(options)}.items())   # the defaults too
        described = f" with {' '.join(f'{k}={v}' for k, v in effective)}" if effective else ""
        raise bad(f"PE kind {args.pe!r}{described} has no {args.unit.replace('_', '-')} unit")
    where = ({"rows": args.rows, "cols": args.cols, "dataflow": args.dataflow, "tile": args.tile}
             if array else {"unit": args.unit})
    if array:
        check_tile(args)
        # a design the accelerator refuses (e.g. a float accumulator in ws) is refused before Yosys
        try:
            DesignConfig(args.pe, args.rows, args.cols, args.dataflow, pe_options=options, tile=args.tile).facts
        except OptionError as e:
            raise bad(str(e)) from None
    try:
        if array:
            result = synth.synthesize(args.pe, rows=args.rows, cols=args.cols, dataflow=args.dataflow,
                                      pe_options=options, tile=args.tile)
            model = cost_vs_synth.unit_area_um2(args.pe, pe_options=options, rows=args.rows,
                                                cols=args.cols, dataflow=args.dataflow, tile=args.tile)
        else:
            result = synth.synthesize(args.pe, unit=args.unit, pe_options=options)
            model = cost_vs_synth.unit_area_um2(args.pe, args.unit, options)
        timing = synth.unit_timing(args.pe, pe_options=options, **where)
        power = synth.unit_power(args.pe, pe_options=options, source=args.activity,
                                 clock_mhz=args.clock_mhz, **where)
    except (synth.SynthesisError, sta.StaError, ValueError, tech.UnknownComponentError) as e:
        raise bad(str(e).splitlines()[0]) from None
    scaled = result.area_um2 * tech.value("scale.area.180_to_45")
    # the model's energy on the same activity next to OpenSTA's (issue 14): a PE's per step, the
    # post-array unit's per dequantised word (on its own stream)
    energy = {}
    per_unit = {"pe": (energy_vs_sta.pe_step_energy_pj, energy_vs_sta.sta_step_energy_pj, "step"),
                synth.POST_ARRAY: (energy_vs_sta.post_array_word_energy_pj,
                                   energy_vs_sta.sta_word_energy_pj, "word")}
    if args.unit in per_unit:
        model_energy, sta_energy, per = per_unit[args.unit]
        try:
            model_pj, _ = model_energy(args.pe, options, source=args.activity)
        except tech.UnknownComponentError as e:
            raise bad(str(e).splitlines()[0]) from None
        sta_pj = sta_energy(args.pe, options, power)
        energy = {"model_energy_pj": model_pj, "sta_energy_pj": sta_pj,
                  "energy_error": model_pj / sta_pj - 1 if sta_pj else None, "energy_per": per}
    tiled = f" tile {args.tile[0]}x{args.tile[1]}" if args.tile != (1, 1) else ""
    what = f"{args.rows}x{args.cols}{tiled} {args.dataflow} array" if array else f"unit {args.unit}"
    path, total = timing.critical_path, power.power
    if args.json:
        out = {"pe": args.pe, **dict(options), **where,
               **result.to_dict(), "synth_area_um2_45nm": scaled, "model_area_um2_45nm": model,
               "critical_path": {"start": path.start, "end": path.end, "delay_ns": path.delay_ns,
                                 "setup_ns": path.setup_ns},
               "fmax_mhz": timing.fmax_mhz, "clock_mhz": power.clock_mhz,
               "power_mw": total.to_dict(),
               "power_mw_by_group": {"sequential": power.sequential.to_dict(),
                                     "combinational": power.combinational.to_dict()},
               "activity_source": power.activity_source,
               "input_toggle_rate": power.mean_toggle_rate,
               "area_error": model / scaled - 1 if scaled else None,
               **energy}
        print(json.dumps(out))
        return 0
    opts = "".join(f" {k}={v}" for k, v in options)
    print(f"{args.pe}{opts} {what}: Yosys {result.version} ({result.tool})"
          f"{' [cached]' if result.cached else ''}")
    print("  word-level: " + " ".join(f"{c}:{n}" for c, n in result.word_cells.items()))
    print("  coarse:     " + " ".join(f"{c}:{n}" for c, n in result.coarse_cells.items()))
    print(f"  multipliers {result.multipliers}, flops {result.flop_bits}, "
          f"{sum(result.mapped_cells.values())} osu018 cells, {result.area_um2:,.0f} um^2 at 180 nm "
          f"(x1/19 -> {scaled:,.0f} um^2 at 45 nm; model {model:,.0f} um^2)")
    print(f"  critical path {path.start} -> {path.end}: {path.delay_ns:.3f} ns + {path.setup_ns:.3f} ns "
          f"setup; Fmax {timing.fmax_mhz:.1f} MHz (OpenSTA, osu018)")
    print(f"  power at {power.clock_mhz:.1f} MHz, {power.activity_source} activity (mean input toggle "
          f"rate {power.mean_toggle_rate:.3f}): {total.total:.3f} mW = internal {total.internal:.3f} + "
          f"switching {total.switching:.3f} + leakage {total.leakage * 1e3:.3f} uW "
          f"({power.energy_per_cycle_pj:.1f} pJ per cycle)")
    if energy:
        error = "n/a" if energy["energy_error"] is None else f"{energy['energy_error']:+.0%}"
        print(f"  energy per {energy['energy_per']} at 45 nm: model {energy['model_energy_pj']:.3f} pJ, OpenSTA "
              f"{energy['sta_energy_pj']:.3f} pJ ({error})")
    return 0


def _synth_accelerator(args, bad, options):
    """``pearray synth --accelerator``: the accelerator top's area against the model
    (:func:`models.cost_vs_synth.accelerator_area_um2`) and its critical path."""
    check_tile(args)
    where = {"rows": args.rows, "cols": args.cols, "dataflow": args.dataflow, "tile": args.tile}
    try:
        DesignConfig(args.pe, args.rows, args.cols, args.dataflow, pe_options=options, tile=args.tile).facts
    except OptionError as e:
        raise bad(str(e)) from None
    try:
        result = synth.synthesize(args.pe, pe_options=options, accelerator=True, **where)
        timing = synth.unit_timing(args.pe, pe_options=options, accelerator=True, **where)
        model = cost_vs_synth.accelerator_area_um2(args.pe, args.rows, args.cols, args.dataflow, options,
                                                   tile=args.tile)
    except (synth.SynthesisError, sta.StaError, ValueError, tech.UnknownComponentError) as e:
        raise bad(str(e).splitlines()[0]) from None
    scaled = result.area_um2 * tech.value("scale.area.180_to_45")
    path = timing.critical_path
    if args.json:
        print(json.dumps({"pe": args.pe, **dict(options), **where, "accelerator": True,
                          "buffer_depth": synth.ACCELERATOR_BUFFER_DEPTH, **result.to_dict(),
                          "synth_area_um2_45nm": scaled, "model_area_um2_45nm": model,
                          "area_error": model / scaled - 1 if scaled else None,
                          "critical_path": {"start": path.start, "end": path.end,
                                            "delay_ns": path.delay_ns, "setup_ns": path.setup_ns},
                          "fmax_mhz": timing.fmax_mhz}))
        return 0
    opts = "".join(f" {k}={v}" for k, v in options)
    print(f"{args.pe}{opts} {args.rows}x{args.cols} {args.dataflow} accelerator top (one-word buffers): "
          f"Yosys {result.version} ({result.tool}){' [cached]' if result.cached else ''}")
    print(f"  flops {result.flop_bits}, {sum(result.mapped_cells.values())} osu018 cells, "
          f"{result.area_um2:,.0f} um^2 at 180 nm (x1/19 -> {scaled:,.0f} um^2 at 45 nm; model "
          f"{model:,.0f} um^2, {model / scaled - 1:+.1%})")
    print(f"  critical path {path.start} -> {path.end}: {path.delay_ns:.3f} ns + {path.setup_ns:.3f} ns "
          f"setup; Fmax {timing.fmax_mhz:.1f} MHz (OpenSTA, osu018)")
    return 0


def cmd_characterise(args, bad):
    if args.jobs < 1:
        raise bad(f"--jobs must be >= 1, not {args.jobs}")
    try:   # missing tools: one line naming the Debian package, before any work
        tool = synth.find_yosys()
        synth.liberty_path()
    except synth.SynthesisError as e:
        raise bad(str(e).splitlines()[0]) from None
    out = args.out or str(characterise.TABLE_PATH)
    start = time.perf_counter()

    def progress(done, total, m):
        if not args.quiet:
            # a table's content is a long integer: name it by its module name instead
            what = (characterise.verilog(m["family"], tuple(m["widths"]))[1] if m["family"] == "table"
                    else f"{m['family']}{tuple(m['widths'])}")
            print(f"  [{done}/{total}] {what}: {m['area_um2']:,.0f} um^2"
                  f"{' (cached)' if m['cached'] else ''}", flush=True)

    table, regenerated = characterise.characterise(out, jobs=args.jobs, force=args.force, tool=tool,
                                                   progress=progress)
    prov = table["provenance"]
    print(f"{'wrote' if regenerated else 'up to date (same Yosys, liberty and generator):'} {out}: "
          f"{len(table['points'])} points, {len(table['families'])} families; Yosys {prov['yosys']}, "
          f"liberty sha256 {prov['liberty_sha256'][:12]}, {time.perf_counter() - start:.1f} s")
    for family, fit in table["families"].items():
        print(f"  {family:7s} area = [{', '.join(f'{c:.4g}' for c in fit['area_um2'])}] . ({fit['features']})"
              f"  max fit error {fit['area_um2_max_fit_error']:.1%} over {fit['points']} points")
    if args.out is None and (regenerated or args.force or not primitive_outputs.is_current()):
        # the output gains are measured on the repository table's points (OpenSTA, cached netlists)
        start = time.perf_counter()
        n = primitive_outputs.write_table(jobs=args.jobs)
        print(f"wrote {primitive_outputs.TABLE_PATH}: output gains of {n} points, "
              f"{time.perf_counter() - start:.1f} s")
    if args.out is None and (regenerated or args.force or not primitive_pincaps.is_current()):
        # the input pin capacitances, read from the same cached netlists (no OpenSTA)
        start = time.perf_counter()
        n = primitive_pincaps.write_table()
        print(f"wrote {primitive_pincaps.TABLE_PATH}: input pin capacitances of {n} points, "
              f"{time.perf_counter() - start:.1f} s")
    return 0


def add_commands(subparsers, bad_input_exception):
    """Register ``cost``, ``synth`` and ``characterise`` on ``subparsers`` (from ``add_subparsers``); bad input
    raises ``bad_input_exception`` with a one-line message."""
    add_cost(subparsers, bad_input_exception)
    add_synth(subparsers, bad_input_exception)
    add_characterise(subparsers, bad_input_exception)


def add_cost(subparsers, bad):
    """Register ``cost`` (see :func:`add_commands`)."""
    p = subparsers.add_parser(
        "cost", help="area, energy and throughput of a design on a GEMM or a network (cost model)",
        description="The analytical cost model of one design point on one GEMM or a network's "
                    "layers. Give exactly one of --gemm or --workload.",
        epilog="examples:\n  pearray cost --pe int8 --rows 32 --cols 32 --workload minilm-l6\n"
               "  pearray cost --pe lut --weight-bits 2 --rows 16 --cols 16 --gemm 128x384x1536 --json")
    p.add_argument("--pe", required=True, help="PE kind (see `pearray kinds`)")
    p.add_argument("--rows", type=positive_int, required=True, help="PE rows of the array")
    p.add_argument("--cols", type=positive_int, required=True, help="PE columns of the array")
    p.add_argument("--dataflow", choices=("ws", "os"), default="ws",
                   help="weight-stationary (ws) or output-stationary (os)")
    p.add_argument("--node", type=int, default=45, help="technology node in nm: 45, 28, 22 or 7")
    p.add_argument("--clock-mhz", type=positive_float, default=500.0, help="clock frequency in MHz")
    add_tile_arg(p)
    add_pe_option_args(p)
    p.add_argument("--dram", choices=("lpddr4", "ddr4", "gddr5", "hbm2"), default="lpddr4",
                   help="DRAM type (its energy per bit and peak bandwidth)")
    for name in ("act", "weight", "out"):
        p.add_argument(f"--{name}-kib", type=positive_float, default=64.0, help=f"{name} buffer size in KiB")
    which = p.add_argument_group("workload (exactly one is required)")
    which.add_argument("--gemm", help="one GEMM, MxKxN (e.g. 128x384x1536)")
    which.add_argument("--workload", help="minilm-l6, bert-base, llama2-7b-prefill or llama2-7b-decode, "
                                          "or a file: an ONNX model (.onnx) or a SCALE-Sim topology "
                                          "(.csv, conv or GEMM form)")
    p.add_argument("--activity", type=activity_arg, default="minilm",
                   help="toggle activity: minilm (default: measured per part on MiniLM operands), "
                        "random (measured on random codes) or a fixed number in 0..1 (every part)")
    add_energy_basis_arg(p, "; sim needs a measured --activity")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=lambda args: cmd_cost(args, bad))



def add_synth(subparsers, bad):
    """Register ``synth`` (see :func:`add_commands`)."""
    p = subparsers.add_parser(
        "synth", help="Yosys synthesis of a PE, a border unit, a post-array unit or an array: osu018 area, OpenSTA "
                      "critical path, Fmax and power",
        description="Yosys synthesis with the OSU 0.18 um liberty, OpenSTA timing and power. Give "
                    "either --unit or both --rows and --cols.",
        epilog="examples:\n  pearray synth --pe ovp --unit pe\n  pearray synth --pe shiftadd --unit post_array\n"
               "  pearray synth --pe int8 --rows 4 --cols 4")
    p.add_argument("--pe", required=True, help="PE kind (see `pearray kinds`)")
    p.add_argument("--unit", choices=synth.ALL_UNITS,
                   help="one unit alone (post_array: a grouped design's dequantiser after the "
                        "array, 2 columns)")
    p.add_argument("--rows", type=positive_int, help="PE rows of an array (with --cols)")
    p.add_argument("--cols", type=positive_int, help="PE columns of an array (with --rows)")
    p.add_argument("--dataflow", choices=("ws", "os"), default="ws", help="the array's dataflow")
    p.add_argument("--accelerator", action="store_true",
                   help="with --rows and --cols: the whole accelerator top (sequencer, host port, "
                        "one-word buffers, array, output writer); area and timing, no power")
    add_tile_arg(p)
    add_pe_option_args(p)
    p.add_argument("--activity", choices=("minilm", "random"), default="minilm",
                   help="operands whose input toggle rates drive the power analysis: MiniLM L0 FFN1 "
                        "through the kind's quantisers (default) or uniformly random codes")
    p.add_argument("--clock-mhz", type=positive_float, default=None,
                   help="clock for the power analysis (default: the unit's own Fmax)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=lambda args: cmd_synth(args, bad))


def add_characterise(subparsers, bad):
    """Register ``characterise`` (see :func:`add_commands`)."""
    p = subparsers.add_parser("characterise", help="synthesise the cost model's primitives (osu018) and "
                                                   "refit models/data/primitives_osu018.json")
    p.add_argument("--out", help="table to write (default: the repository's "
                                         "models/data/primitives_osu018.json)")
    p.add_argument("--jobs", type=int, default=2, help="parallel Yosys runs (default 2)")
    p.add_argument("--force", action="store_true",
                   help="regenerate even if the table matches this Yosys version and liberty")
    p.add_argument("--quiet", action="store_true", help="no per-primitive lines")
    p.set_defaults(func=lambda args: cmd_characterise(args, bad))
