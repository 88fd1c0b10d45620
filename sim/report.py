"""`pearray report`: compare every registered design on real workloads, RTL-verified.

For every PE kind at its natural precisions (``PEKind.variants``) the report
1. generates the Verilog (kept under ``verilog/``);
2. runs the GEMM on real MiniLM-L6 tensors (layer-0 FFN1 input activations and weights, cropped to
   the plan's M x K x N) in Verilator, spanning several folds, and records bit-exactness and RTL vs
   model cycles;
3. measures each design's quantisation error on the whole real tensors of that GEMM (every token
   of the forward pass, all of K and N: a g128 format has real groups) through the kind's exact
   golden arithmetic;
4. synthesises the PE and its border units and times them with OpenSTA: each design's Fmax and
   critical path (:mod:`sim.report_timing`; when the tools are installed, otherwise says so);
5. evaluates the cost model (area, energy, exact cycles, TOPS/W, TOPS/mm^2, DRAM roofline) on real
   network layer lists (MiniLM-L6 at sequence 128, Llama-2-7B prefill and decode, and the user's
   network given by ``--workload``: an ONNX model or SCALE-Sim topology, which the decision table
   then ranks on; the defaults stay for comparison) at an equal PE
   count (every design on a 32x32 array) and at an equal area (each design's array whose area is
   closest to the INT8 32x32 design's, rows the kind accepts nearest the square side, columns
   filling the area; the area each design got is stated), at the common clock and at each
   design's own Fmax;
6. tabulates INT vs FP vs block-scaled formats at equal PE count and equal area
   (:mod:`sim.report_intfp`).

This module gathers the tables (:class:`ReportData`) and writes the files; the page is
:mod:`sim.report_html`, its plots :mod:`sim.report_plots`. Everything is written to a staging
folder and moved into place at the end, so a report folder is always complete. CSV files hold no
timings, so the same inputs give the same CSV bytes. A design that fails verification is shown as
FAILING and the command exits 1 after writing.
"""

import json
import math
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from hw.accelerator import IncompatibleOptions
from models import cost_vs_synth, synth
from models.cost import CostConfig, area_um2, evaluate
from models.cycles import fold_interval
from models.design import DesignConfig
from models.realdata import real_gemm
from models.registry import PE_KINDS
from models.workloads import get_workload

from . import (build, report_acceptance, report_accuracy, report_array_energy, report_claims, report_energy_check,
               report_html, report_intfp, report_post_array, report_timing, run)
from .args import default_energy_basis
from .files import REPORT_MARKER, check_output_dir, replace_dir, staging_dir
from .progress import Progress

# the real tensors every design is verified and measured on: MiniLM-L6 layer 0 FFN1 (forward-pass
# inputs, weight)
REAL_TENSOR = "minilm:L0.ffn1"
WORKLOADS = ("minilm-l6", "llama2-7b-prefill", "llama2-7b-decode")
# the baseline kind: the equal-area budget is its 32x32 area, and MAC utilisation is counted
# against the peak of an array of its PEs of the same shape
BASELINE_KIND = "int8"
BUDGETS = ("equal PE count", "equal area")


@dataclass(frozen=True)
class ReportPlan:
    """What a report run covers; ``quick`` shrinks the verified GEMM and the array.
    ``accuracy_crop``: None measures the quantisation error on the whole real tensors; (m, k, n)
    crops them (tests only: the column then says which shape it measured)."""
    rows: int
    cols: int
    m: int
    k: int
    n: int
    workload_rows: int = 32
    workload_cols: int = 32
    synth_arrays: tuple = ((2, 2, "ws"), (4, 4, "ws"))
    accuracy_crop: tuple = None
    model_quality: str = "quick-cached"      # sim.report_accuracy.MODES
    # the user's network (``pearray report --workload``): (label, tuple of Gemm), costed beside
    # WORKLOADS and ranked on by the decision table; None: the default workloads only
    user_workload: tuple = None
    # the accuracy a design needs for the decision table to recommend it (``report --max-delta-ppl``)
    acceptance: report_acceptance.Acceptance = report_acceptance.Acceptance()
    # the cost model's energy basis (``report --energy-basis``, models.cost.ENERGY_BASES): every
    # TOPS/W and pJ figure of the cost tables, and the check behind "confirmed"; by default the
    # commands' rule on the activity the cost points are priced at (CostConfig's: measured, so sim)
    energy_basis: str = default_energy_basis(CostConfig.activity)
    # the designs whose 2x2 array energy is checked against its gate-simulated netlist
    # (sim.report_array_energy; labels), None: every design
    array_energy_designs: tuple = None
    # the designs whose post-array unit's energy is checked against its gate-simulated netlist
    # and OpenSTA (sim.report_post_array; labels), None: every design with one
    post_array_designs: tuple = None

    @property
    def workloads(self):
        """{name: GEMMs} the cost sections run on: the user's workload first, then WORKLOADS."""
        user = dict([self.user_workload]) if self.user_workload else {}
        return {**user, **{w: get_workload(w) for w in WORKLOADS if w not in user}}

    @property
    def primary_workload(self):
        """The workload the decision table and the Pareto plots rank on."""
        return next(iter(self.workloads))

    @classmethod
    def default(cls, quick=False):
        # quick: a 4x4 array (small, fast Verilator builds), 16 x 64 x 20 (5 n-folds, several
        # k-folds for every kind), one synthesised array; full: 8x8, 4 k-folds x 4 n-folds with
        # ragged edges
        if quick:
            return cls(4, 4, 16, 64, 20, synth_arrays=((2, 2, "ws"),))
        return cls(8, 8, 48, 120, 30, model_quality="full")


def designs():
    """(label, kind, options) for every registered kind at its natural precisions."""
    return [(label, kind, options) for kind in PE_KINDS.values() for label, options in kind.variants]


def _rel_error(ref, approx):
    return float(np.linalg.norm(approx - ref) / np.linalg.norm(ref))


def design_table():
    """One row per design: its PE family (the registry kind), options and element widths."""
    rows = []
    for label, kind, options in designs():
        pe = kind.prototype(**dict(options))
        rows.append({"design": label, "pe": kind.name, "options": json.dumps(dict(options)),
                     "weight_bits": pe.weight_element_bits, "act_bits": pe.act_element_bits,
                     "dataflow": kind.dataflows[0]})
    return pd.DataFrame(rows)


def verify_design(plan, staging, label, kind, options, progress=None):
    """Steps 1 and 2 for one design: its Verilog, and one verification row. ``progress`` (a
    :class:`sim.progress.Progress`) announces the step, saying whether the Verilator build is
    cached or about to be made."""
    pe = kind.prototype(**dict(options))
    acts_f, weights_f = real_gemm(REAL_TENSOR, plan.m, plan.k, plan.n)
    operands = kind.operands(acts_f, weights_f, pe)
    dataflow = kind.dataflows[0]
    # sized for the lanes the PE receives (an MX block's scale codes take lanes too), as `sim` does
    design = DesignConfig.sized_for(kind.name, plan.rows, plan.cols, dataflow, *operands.shape,
                                    options).fitted_to(operands)
    if progress:
        how = "cached" if build.is_cached(design) else "building, 1-2 min"
        progress.step(f"{label}: Verilator build ({how}) + simulation of {plan.m}x{plan.k}x{plan.n} on "
                      f"{plan.rows}x{plan.cols}, quantisation error on {REAL_TENSOR}")
    (staging / "verilog").mkdir(exist_ok=True)
    (staging / "verilog" / f"{design.slug}.v").write_text(design.verilog())
    row = {"design": label, "pe": kind.name, "options": json.dumps(dict(options)),
           "rows": plan.rows, "cols": plan.cols, "dataflow": dataflow,
           "m": plan.m, "k": plan.k, "n": plan.n}
    job = run.prepare_gemm(design, operands)
    try:
        result = run.simulate_job(job)
    except run.SimulationError as e:
        row.update({"status": f"FAIL: {e}", "bit_exact": False, "mismatches": -1, "rtl_cycles": -1})
    else:
        row.update({"status": "PASS" if result.passed else "FAIL", "bit_exact": result.mismatches == 0,
                    "mismatches": result.mismatches, "rtl_cycles": result.cycles})
    est = job.model
    row.update({"model_cycles": est.cycles, "scalesim_cycles": est.scalesim_cycles, "folds": est.folds,
                "pe_busy": round(est.utilisation, 6),
                "mac_util_vs_int8": round(mac_utilisation(est.macs, est.cycles, plan.rows, plan.cols), 6)})
    return row


def measure_accuracy(plan, label, kind, options):
    """Step 3 for one design: the quantisation error of its GEMM output on the whole real tensors."""
    pe = kind.prototype(**dict(options))
    acts_f, weights_f = real_gemm(REAL_TENSOR, *(plan.accuracy_crop or (None, None, None)))
    operands = kind.operands(acts_f, weights_f, pe)
    raw = kind.golden(operands, pe)
    out = kind.dequantize_output(raw, operands.acts, operands.acts_meta, operands.weights_meta, pe)
    error = _rel_error(acts_f @ weights_f, out)
    m, k = acts_f.shape
    return {"design": label, "act_format": operands.acts_meta["format"],
            "weight_format": operands.weights_meta["format"],
            "act_scaling": operands.acts_meta.get("granularity", ""),
            "weight_scaling": operands.weights_meta.get("granularity", ""),
            "tensor": REAL_TENSOR + ("" if plan.accuracy_crop is None else " (cropped)"),
            "m": m, "k": k, "n": weights_f.shape[1],
            "gemm_out_rel_error": round(error, 6), "gemm_out_sqnr_db": round(-20 * np.log10(error), 3)}


def mac_utilisation(macs, cycles, rows, cols):
    """MACs done / the MACs an array of ``rows`` x ``cols`` baseline (INT8) PEs could do in
    ``cycles``: comparable across PE kinds (a PE doing more MACs per cycle than the baseline's can
    exceed 1), unlike ``pe_busy`` (the kind's own peak)."""
    peak = PE_KINDS[BASELINE_KIND].prototype().macs_per_cycle
    return macs / (rows * cols * peak * cycles)


def synthesis_tables(plan):
    """Step 4: per-unit synthesis (cell counts, osu018 area) and model-vs-synthesis areas, or a
    note saying why there is none; and the units whose synthesis failed (e.g. outlived
    ``PEARRAY_SYNTH_TIMEOUT``), each ``"variant unit: error"``: they are left out of the table and
    named in the note, and the report goes on (hours of verification are not lost to one unit)."""
    try:
        synth.find_yosys()
        synth.liberty_path()
    except synth.SynthesisError as e:
        return None, None, f"Synthesis skipped: {e}", ()
    kinds = sorted({kind.name for _, kind, _ in designs()})
    cells = synth.synthesis_table(kinds)
    missing = []
    compare = cost_vs_synth.synthesis_comparison(
        kinds, arrays=plan.synth_arrays, on_error=lambda variant, unit, e: missing.append(f"{variant} {unit}: {e}"))
    compare = compare.round(4)
    note = ("Synthesis: Yosys + OSU 0.18 um liberty. The cost model uses the same technology (its "
            "primitives characterised on osu018 by `pearray characterise`), both scaled to 45 nm "
            "with the same factors, no calibration: error = model / synthesis - 1")
    if compare.error.notna().any():
        worst = compare.loc[compare.error.abs().idxmax()]
        note += f"; the largest is {worst.error:+.0%} ({worst.pe} {worst.unit})."
    else:
        note += "."
    if missing:
        note += f" NOT SYNTHESISED, left out of the table ({len(missing)}): " + "; ".join(missing) + "."
    return cells, compare, note, tuple(missing)


def _point(kind, options, rows, cols):
    return CostConfig(kind.name, rows, cols, kind.dataflows[0], pe_options=options)


def _area(config):
    return sum(area_um2(config).values())


def equal_area_shape(kind, options, target_um2, side_guess):
    """(rows, cols) of the design whose area is closest to ``target_um2``: the rows nearest the
    square side the kind accepts (a group size must be a multiple of the rows), then the columns
    that fill the area (area is affine in the columns at fixed rows, up to buffer rounding)."""
    for r in sorted(range(2, 257), key=lambda s: (abs(s - side_guess), s)):
        try:
            a0 = _area(_point(kind, options, r, r))
        except IncompatibleOptions:     # e.g. a group size that is not a multiple of the rows
            continue
        slope = (_area(_point(kind, options, r, r + 8)) - a0) / 8
        c = max(1, round(r + (target_um2 - a0) / slope))
        candidates = {max(1, min(256, v)) for v in (c - 1, c, c + 1)}
        return r, min(candidates, key=lambda v: (abs(_area(_point(kind, options, r, v)) - target_um2), v))
    raise ValueError(f"no array shape accepts {kind.name} {dict(options)}")


def _layer_rows(label, kind, workload, result):
    rows = []
    R, C = result.config.rows, result.config.cols
    for layer in result.layers:
        ops, dram = 2 * layer.macs, sum(layer.dram_bytes.values())
        rows.append({"design": label, "pe": kind.name, "workload": workload, "layer": layer.name,
                     "m": layer.m, "k": layer.k, "n": layer.n, "count": layer.count,
                     "cycles": layer.cycles, "total_cycles": layer.cycles * layer.count,
                     "pe_busy": round(layer.utilisation, 6),
                     "mac_util_vs_int8": round(mac_utilisation(layer.macs, layer.cycles, R, C), 6),
                     "macs_per_cycle": round(layer.macs_per_cycle, 3),
                     "ops_per_dram_byte": round(ops / dram, 4),
                     "tops_bounded": round(ops / max(layer.compute_s, layer.dram_s) / 1e12, 6),
                     "compute_us": round(layer.compute_s * 1e6, 4), "dram_us": round(layer.dram_s * 1e6, 4),
                     "memory_bound": layer.memory_bound})
    return rows


def cost_design(plan, label, kind, options, target_um2, fmax_mhz=None):
    """Step 5 for one design: costs.csv rows (both budgets, every workload), its area and energy
    breakdowns, and the per-layer rows of the equal-PE-count point, on the plan's energy basis.
    ``fmax_mhz``: the design's own clock (45 nm, from STA); each point is evaluated at it too (the
    ``*_fmax`` columns, NaN without one)."""
    W = plan.workload_rows
    shapes = {"equal PE count": (plan.workload_rows, plan.workload_cols),
              "equal area": equal_area_shape(kind, options, target_um2,
                                             W * (target_um2 / _area(_point(kind, options, W, W))) ** 0.5)}
    costs, area_rows, energy_rows, layers = [], [], [], []
    for budget, (R, C) in shapes.items():
        config = replace(_point(kind, options, R, C), energy_basis=plan.energy_basis)
        area = area_um2(config)
        area_rows.append({"design": label, "pe": kind.name, "budget": budget, "rows": R, "cols": C,
                          **{f"{g}_mm2": round(v * 1e-6, 6) for g, v in area.items()}})
        for workload, gemms in plan.workloads.items():
            r = evaluate(config, gemms)
            own = evaluate(replace(config, clock_mhz=fmax_mhz), gemms) if fmax_mhz else None
            if budget == "equal PE count":
                layers += _layer_rows(label, kind, workload, r)
            energy_rows.append({"design": label, "pe": kind.name, "budget": budget, "workload": workload,
                                **{f"{g}_pj_per_mac": round(v / r.macs, 6) for g, v in r.energy_pj.items()}})
            costs.append({
                "design": label, "pe": kind.name, "budget": budget, "rows": R, "cols": C,
                "workload": workload, "area_mm2": round(r.area_total_mm2, 6),
                "area_vs_int8_pct": round(100 * (r.area_total_um2 / target_um2 - 1), 2),
                "cycles": r.cycles, "pe_busy": round(r.utilisation, 6),
                "mac_util_vs_int8": round(mac_utilisation(r.macs, r.cycles, R, C), 6),
                "energy_uj": round(r.energy_total_pj * 1e-6, 6), "pj_per_mac": round(r.energy_total_pj / r.macs, 6),
                "tops_compute": round(r.tops, 6), "tops_bounded": round(r.tops_roofline, 6),
                "tops_per_w": round(r.tops_per_w, 6),
                "tops_per_mm2_compute": round(r.tops_per_mm2, 6),
                "tops_per_mm2_bounded": round(r.tops_roofline_per_mm2, 6),
                "clock_mhz": config.clock_mhz, "fmax_mhz": fmax_mhz or math.nan,
                **{f"{name}_fmax": round(getattr(own, attr), 6) if own else math.nan
                   for name, attr in (("tops_bounded", "tops_roofline"), ("tops_per_w", "tops_per_w"),
                                      ("tops_per_mm2_bounded", "tops_roofline_per_mm2"))},
                "memory_bound_layers": " ".join(r.memory_bound_layers),
                "memory_bound_count": f"{len(r.memory_bound_layers)} of {len(r.layers)}",
                "energy_basis": plan.energy_basis})
    return costs, area_rows, energy_rows, layers


def baseline_area_um2(plan):
    """The equal-area budget: the baseline kind's area on the equal-PE-count array."""
    return _area(CostConfig(BASELINE_KIND, plan.workload_rows, plan.workload_cols,
                            PE_KINDS[BASELINE_KIND].dataflows[0]))


def weight_port_gbps(kind, options, plan, clock_mhz=None):
    """GB/s the array's weight-load port moves at M = 1 (decode) on the equal-PE-count array (at
    ``clock_mhz``, default the cost model's common clock): one weight word per cycle, but a
    weight-stationary array loads only R rows per fold interval, which at M = 1 is
    ``max(II, min_fold_interval)`` (longer than R for a multi-cycle PE: :mod:`hw.array`)."""
    config = _point(kind, options, plan.workload_rows, plan.workload_cols)
    clock = clock_mhz or config.clock_mhz
    acc = config.design().facts
    share = 1.0
    if config.dataflow == "ws":
        share = config.rows / fold_interval(1, acc.array.pe.initiation_interval, acc.array.min_fold_interval)
    return acc.word_widths["weight"] / 8 * clock * 1e6 / 1e9 * share


def memory_bound_note(plan):
    """Why (in this model) the prefill layers are memory-bound and the decode layers of some designs
    are not, in numbers of the baseline design: the partial-sum spill of a weight-stationary run
    whose M output words do not fit the output buffer, and the array's one-word-per-cycle weight
    load, slower than DRAM at M = 1 for the designs named."""
    config = CostConfig(BASELINE_KIND, plan.workload_rows, plan.workload_cols,
                        PE_KINDS[BASELINE_KIND].dataflows[0])
    acc = config.design().facts
    words = acc.word_widths
    load_gbps = words["weight"] / 8 * config.clock_mhz * 1e6 / 1e9
    prefill_m = max(g.m for g in get_workload("llama2-7b-prefill"))
    faster = [f"{label} {weight_port_gbps(kind, options, plan):.0f}" for label, kind, options in designs()
              if weight_port_gbps(kind, options, plan) > config.bandwidth_gbps]
    return (f"Memory-bound layers, read in this model's terms (INT8 {config.rows}x{config.cols}, "
            f"{config.clock_mhz:g} MHz, {config.dram.upper()} {config.bandwidth_gbps:g} GB/s): in "
            f"Llama-2-7B prefill (M = {prefill_m:,}) one n tile's {prefill_m:,} output words of "
            f"{words['out']} bits do not fit the {config.out_kib:g} KiB output buffer "
            f"({acc.out_depth:,} words), so the weight-stationary sequencer spills its partial sums "
            f"to DRAM at every k tile: prefill is memory-bound through that spill, which an M-tiling "
            f"sequencer (not built) would avoid. In decode (M = 1) each fold is bound by loading "
            f"{config.rows} weight rows, one {words['weight']}-bit word per cycle = "
            f"{load_gbps:.1f} GB/s, below the DRAM's {config.bandwidth_gbps:g} GB/s: the array's "
            f"weight-load port, not DRAM, is the bottleneck, so INT8's decode layers count as "
            f"compute-bound at a PE busy time near 1/{config.rows}. A design whose weight word is "
            f"wider loads faster than DRAM delivers and is memory-bound in decode: "
            f"{', '.join(faster) or 'none'} (GB/s at {config.clock_mhz:g} MHz); at a design's own "
            f"Fmax its port is faster in proportion (the *_fmax columns of costs.csv).")


def cost_tables(plan, progress=None, fmax=None):
    """Step 5 for every design: (costs, area breakdown, energy breakdown, per-layer rows).
    ``fmax``: {design: its own clock in MHz} where timing ran."""
    target = baseline_area_um2(plan)
    frames = [[], [], [], []]
    fmax = fmax or {}
    for label, kind, options in designs():
        if progress:
            progress.step(f"cost model: {label} at both budgets on {', '.join(plan.workloads)}"
                          + (", at the common clock and at its Fmax" if label in fmax else ""))
        for frame, rows in zip(frames, cost_design(plan, label, kind, options, target, fmax.get(label))):
            frame += rows
    return tuple(pd.DataFrame(f) for f in frames)


COLUMNS = {
    "designs.csv": "design, pe (the PE family: its registry kind), options (JSON), weight_bits, "
                   "act_bits (element code widths), dataflow (the one the report uses)",
    "verification.csv": "design, pe, options (JSON), rows, cols, dataflow, m, k, n (the verified GEMM: "
                        "real MiniLM L0 FFN1 tensors cropped to M x K x N), status (PASS/FAIL), "
                        "bit_exact, mismatches (elements), rtl_cycles (RTL counter), model_cycles "
                        "(models.cycles), scalesim_cycles (SCALE-Sim's compute-cycle formula applied "
                        "to the PE's steps: K in steps of k_per_step, a token every II cycles; fill, "
                        "drain and weight load in every fold; see models/cycles.py), folds, pe_busy "
                        "(MACs / (R*C * the PE's own peak MACs per cycle * cycles): PE busy time), "
                        "mac_util_vs_int8 (MACs / (R*C * an INT8 PE's 1 MAC per cycle * cycles): "
                        "comparable across kinds)",
    "quant_error.csv": "design, act_format, weight_format, act_scaling, weight_scaling (each "
                       "quantiser's granularity: per tensor, channel, group or block), tensor, m, k, n (the whole real tensors "
                       "measured: every token of the MiniLM forward pass, all of K and N), "
                       "gemm_out_rel_error (||Y_q - Y|| / ||Y|| of the dequantised GEMM output, "
                       "computed with the design's exact integer arithmetic, vs fp64; not `pearray "
                       "quant`'s relative_error, which is a weight tensor's own), gemm_out_sqnr_db "
                       "(-20 log10 of it)",
    "costs.csv": "design, pe, budget (equal PE count: 32x32 for all; equal area: rows the kind accepts "
                 "nearest the square side, columns filling the INT8 32x32 area), rows, cols, workload (with "
                 "--workload, the user's network too, by its file name), "
                 "area_mm2 (PEs, border units, buffers; 45 nm), area_vs_int8_pct (signed), cycles "
                 "(exact model, layers x count), pe_busy, mac_util_vs_int8 (as verification.csv), "
                 "energy_uj, pj_per_mac (incl. SRAM and DRAM), tops_compute (at the RTL's cycles, DRAM "
                 "assumed fast enough), tops_bounded (DRAM roofline: every layer at max(compute, DRAM "
                 "time)), tops_per_w, tops_per_mm2_compute, tops_per_mm2_bounded (tops_bounded / area: "
                 "the one to rank by), clock_mhz (the common clock every design is costed at), "
                 "fmax_mhz (the design's own clock: timing.csv, 45 nm), tops_bounded_fmax, "
                 "tops_per_w_fmax, tops_per_mm2_bounded_fmax (the same at fmax_mhz; NaN without "
                 "timing; TOPS/W does not change with the clock: the model's energies are per operation "
                 "and per cycle, leakage taken at the 100 MHz characterisation clock, ~1e-5 of the clock energy), memory_bound_layers, memory_bound_count, "
                 "energy_basis (the cost model's primitive energies: sim, by gate-level simulation, the default, or "
                 "sta, characterised by OpenSTA; `pearray report --energy-basis`); LPDDR4, "
                 "64 KiB per buffer (models/cost.py)",
    "area_breakdown.csv": "design, pe, budget, rows, cols, then the area of each group of "
                          "models.cost.AREA_GROUPS in mm^2 (45 nm)",
    "energy_breakdown.csv": "design, pe, budget, workload, then the energy of each group of "
                            "models.cost.ENERGY_GROUPS in pJ per MAC",
    "workload_cycles.csv": "design, pe, workload, layer, m, k, n, count (per forward pass), cycles (one "
                           "GEMM, exact model), total_cycles (x count), pe_busy, mac_util_vs_int8, "
                           "macs_per_cycle, ops_per_dram_byte (arithmetic intensity), tops_bounded "
                           "(ops / max(compute, DRAM time)), compute_us, dram_us, memory_bound; every "
                           "design on the same 32x32 array (equal PE count)",
    "claims.csv": report_claims.COLUMNS_DOC,
    "synthesis_cells.csv": "pe, options, unit, mul ($mul cells), add_sub_neg, mux_pmux, flop_bits, "
                           "coarse_cells (word-level cells after proc;opt;wreduce;alumacc;opt), "
                           "mapped_cells, area_um2 (osu018, 0.18 um)",
    "synthesis_vs_model.csv": "pe, options, unit, model_um2 (45 nm), synth_osu018_um2, synth_scaled_um2 "
                              "(to 45 nm), mul, flop_bits, note, raw_error, calibrated_um2, error",
    "int_vs_fp.csv": report_intfp.COLUMNS,
    "timing.csv": "design, pe, limiting_unit (the design's slowest unit: its Fmax is the design's), "
                  "start, end (the critical path's start and end points: an input port, i.e. a flop "
                  "outside the unit, or a flop named by the net its Q drives), delay_ns (data "
                  "arrival, osu018), setup_ns (of the capturing flop), fmax_osu018_mhz (1000 / "
                  "(delay + setup)), fmax_mhz (scaled to 45 nm by Stillmaker & Baas; sim/report_timing.py)",
    "timing_units.csv": "design, pe, unit (pe / act_border / weight_border / post_array), area_osu018_um2, start, "
                        "end, delay_ns, setup_ns, fmax_osu018_mhz, fmax_mhz (as timing.csv), note",
    "timing_broadcast.csv": report_timing.BROADCAST_COLUMNS,
    "energy_vs_sta.csv": report_energy_check.COLUMNS,
    "array_energy.csv": report_array_energy.COLUMNS,
    "post_array_energy.csv": report_post_array.COLUMNS,
    "model_quality.csv": report_accuracy.COLUMNS,
}
# written when the tools ran (synthesis: Yosys + liberty; timing: also OpenSTA)
OPTIONAL_TABLES = ("synthesis_cells.csv", "synthesis_vs_model.csv", "timing.csv", "timing_units.csv",
                   "timing_broadcast.csv", "energy_vs_sta.csv", "array_energy.csv", "post_array_energy.csv")
TABLES = ("designs.csv", "verification.csv", "quant_error.csv", "costs.csv", "area_breakdown.csv",
          "energy_breakdown.csv", "workload_cycles.csv", "claims.csv", "int_vs_fp.csv")


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows: the tables by CSV name (the synthesis ones only when synthesis
    ran), and notes. Sections of the page read it (:mod:`sim.report_html`)."""
    plan: ReportPlan
    tables: dict
    synth_note: str
    memory_note: str
    roof: tuple          # (DRAM GB/s, the baseline array's peak TOPS) for the roofline plot
    timing_note: str = ""
    model_note: str = ""  # the whole-model quality section's data note (sim.report_accuracy)
    synth_failed: tuple = ()  # "variant unit: error" of each unit whose synthesis failed (a watchdog)

    def __getitem__(self, name):
        return self.tables[name]

    @property
    def failing(self):
        v = self.tables["verification.csv"]
        return list(v.design[v.status != "PASS"])


def gather(plan, staging, progress):
    """Run every step; the :class:`ReportData` of the report."""
    verification, quant = [], []
    for label, kind, options in designs():
        verification.append(verify_design(plan, staging, label, kind, options, progress))
        quant.append(measure_accuracy(plan, label, kind, options))
    progress.step("Yosys synthesis of every PE and border unit (cached per Verilog hash)")
    cells, compare, synth_note, synth_failed = synthesis_tables(plan)
    timing_units, timing, timing_note = report_timing.timing_tables(designs(), progress)
    fmax = {} if timing is None else dict(zip(timing.design, timing.fmax_mhz))
    costs, area, energy, layers = cost_tables(plan, progress, fmax)
    # int_vs_fp.csv (the last of TABLES) is derived from the others, below
    tables = dict(zip(TABLES[:-1], (design_table(), pd.DataFrame(verification), pd.DataFrame(quant),
                                    costs, area, energy, layers, report_claims.claims_frame())))
    if cells is not None:
        tables["synthesis_cells.csv"] = cells
        tables["synthesis_vs_model.csv"] = compare
    if timing is not None:
        tables["timing.csv"] = timing
        tables["timing_units.csv"] = timing_units
        tables["timing_broadcast.csv"] = report_timing.broadcast_rows(report_timing.tiled_sides())
        tables["energy_vs_sta.csv"] = report_energy_check.energy_table(designs(), progress)
        tables["post_array_energy.csv"] = report_post_array.post_array_table(
            designs(), chosen=plan.post_array_designs, progress=progress)
    if cells is not None:      # the array check needs synthesis only (its reference is simulated)
        tables["array_energy.csv"] = report_array_energy.array_energy_table(
            designs(), chosen=plan.array_energy_designs, progress=progress)
    tables["int_vs_fp.csv"] = report_intfp.int_vs_fp(tables)
    progress.step(f"whole-model quality ({plan.model_quality}): SmolLM2 perplexity, MiniLM similarity")
    tables["model_quality.csv"], model_note = report_accuracy.model_quality(
        plan.model_quality, costs, progress, acceptance=plan.acceptance)
    return ReportData(plan, tables, synth_note, memory_bound_note(plan), roof(plan), timing_note, model_note,
                      synth_failed)


def roof(plan):
    """(DRAM bandwidth in GB/s, peak TOPS of the baseline array) at the cost model's defaults."""
    config = CostConfig(BASELINE_KIND, plan.workload_rows, plan.workload_cols,
                        PE_KINDS[BASELINE_KIND].dataflows[0])
    peak = config.rows * config.cols * PE_KINDS[BASELINE_KIND].prototype().macs_per_cycle
    return config.bandwidth_gbps, 2 * peak * config.clock_mhz * 1e6 / 1e12


def steps(plan):
    """The progress steps of a report: per design a verification and a cost step, synthesis,
    timing, the energy check, the post-array check, the array energy check, whole-model quality,
    page."""
    return 2 * len(designs()) + 7


def report_files():
    """The names a report writes at its top level (a folder holding only these is a report)."""
    return (*TABLES, *OPTIONAL_TABLES, "model_quality.csv", "COLUMNS.md", "index.html",
            "summary.md", "verilog", REPORT_MARKER)


def check_report_out(out, flag="--out"):
    """BadInput unless ``out`` may receive a report: new, empty or a previous report."""
    check_output_dir(out, flag, marker=REPORT_MARKER, own_names=report_files())


def build_report(out, quick=False, progress=None, workload=None, acceptance=None, energy_basis=None):
    """Write the report into ``out``; returns the number of failing designs plus the units whose
    synthesis failed (a watchdog: :func:`synthesis_tables`), so nonzero is exit 1. ``out`` must be new,
    empty or a previous report (checked before any work: :func:`check_report_out`); the report is
    built beside it and replaces it whole at the end. ``workload``: (label, GEMMs) of the user's
    network (:attr:`ReportPlan.user_workload`), or None. ``acceptance``: the accuracy threshold
    (:class:`sim.report_acceptance.Acceptance`; None: its defaults). ``energy_basis``: the cost
    model's (:attr:`ReportPlan.energy_basis`; None: the plan's default). Progress lines (i/N, elapsed, ETA) go to
    stderr."""
    started = time.perf_counter()
    out = Path(out)
    check_report_out(out)
    staging = staging_dir(out)
    try:
        plan = ReportPlan.default(quick)
        if workload is not None:
            plan = replace(plan, user_workload=workload)
        if acceptance is not None:
            plan = replace(plan, acceptance=acceptance)
        if energy_basis is not None:
            plan = replace(plan, energy_basis=energy_basis)
        progress = progress or Progress(steps(plan), "pearray report")
        with warnings.catch_warnings():
            # prototype PEs built only to read their contract properties (and the ones an array
            # shape refuses) are never elaborated; Amaranth would warn about each on stderr
            warnings.filterwarnings("ignore", message=".*created but never used")
            data = gather(plan, staging, progress)
        progress.step("plots and HTML page")
        for name, table in data.tables.items():
            table.to_csv(staging / name, index=False, lineterminator="\n")
        (staging / "COLUMNS.md").write_text("".join(f"- `{k}`: {v}\n" for k, v in COLUMNS.items()))
        (staging / "index.html").write_text(report_html.page(data, COLUMNS, report_accuracy.SECTIONS))
        (staging / "summary.md").write_text(report_html.summary(data, time.perf_counter() - started))
        replace_dir(staging, out, REPORT_MARKER)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    failing, failed = len(data.failing), len(data.synth_failed)
    progress.note(f"written to {out}" + (f"; {failing} design(s) FAILING" if failing else "")
                  + (f"; {failed} unit(s) NOT SYNTHESISED (see summary.md)" if failed else ""))
    return failing + failed
