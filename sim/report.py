"""`pearray report`: compare every registered design on real workloads, RTL-verified.

For every PE kind at its natural precisions (``PEKind.variants``) the report
1. generates the Verilog (kept under ``verilog/``);
2. runs the GEMM on real MiniLM-L6 tensors (layer-0 FFN1 input activations and weights) in
   Verilator, spanning several folds, and records bit-exactness and RTL vs model cycles;
3. synthesises the PE (when the synthesis tools are installed; otherwise says so);
4. evaluates the cost model (area, energy, exact cycles, TOPS/W, TOPS/mm^2, DRAM roofline) on real
   network layer lists (MiniLM-L6 at sequence 128, Llama-2-7B prefill and decode) at an equal PE
   count (every design on a 32x32 array) and at an equal area (each design's square array whose
   area is closest to the INT8 32x32 design's);
5. measures each design's quantisation error on the real weights, activations and GEMM output.

Everything is written to a staging folder and moved into place at the end, so a report folder
is always complete. CSV files hold no timings, so the same inputs give the same CSV bytes.
A design that fails verification is shown as FAILING and the command exits 1 after writing.
"""

import base64
import io
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hw.accelerator import IncompatibleOptions
from models import cost_vs_synth, synth
from models.cost import CostConfig, evaluate
from models.design import DesignConfig
from models.realdata import real_gemm
from models.registry import PE_KINDS
from models.workloads import get_workload

from . import run
from .files import REPORT_MARKER, check_output_dir, replace_dir, staging_dir

TABLES = ("verification.csv", "quant_error.csv", "costs.csv", "workload_cycles.csv", "claims.csv")
# the real tensors every design is verified on: MiniLM-L6 layer 0 FFN1 (forward-pass inputs, weight)
REAL_TENSOR = "minilm:L0.ffn1"
WORKLOADS = ("minilm-l6", "llama2-7b-prefill", "llama2-7b-decode")


@dataclass(frozen=True)
class ReportPlan:
    """What a report run covers; ``quick`` shrinks the verified GEMM and the array."""
    rows: int
    cols: int
    m: int
    k: int
    n: int
    workload_rows: int = 32
    workload_cols: int = 32
    synth_arrays: tuple = ((2, 2, "ws"), (4, 4, "ws"))

    @classmethod
    def default(cls, quick=False):
        # quick: a 4x4 array (small, fast Verilator builds), 16 x 64 x 20 (5 n-folds, several
        # k-folds for every kind), one synthesised array; full: 8x8, 4 k-folds x 4 n-folds with
        # ragged edges
        if quick:
            return cls(4, 4, 16, 64, 20, synth_arrays=((2, 2, "ws"),))
        return cls(8, 8, 48, 120, 30)


def designs():
    """(label, kind, options) for every registered kind at its natural precisions."""
    return [(label, kind, options) for kind in PE_KINDS.values() for label, options in kind.variants]


def _progress(message):
    print(f"pearray report: {message}", file=sys.stderr, flush=True)


def _rel_error(ref, approx):
    return float(np.linalg.norm(approx - ref) / np.linalg.norm(ref))


def verify_and_measure(plan, staging):
    """Steps 1, 2 and 5 for every design: Verilog, RTL verification, quantisation error."""
    acts_f, weights_f = real_gemm(REAL_TENSOR, plan.m, plan.k, plan.n)
    reference = acts_f @ weights_f
    verification, quant = [], []
    for label, kind, options in designs():
        pe = kind.prototype(**dict(options))
        operands = kind.operands(acts_f, weights_f, pe)
        dataflow = kind.dataflows[0]
        design = DesignConfig.sized_for(kind.name, plan.rows, plan.cols, dataflow, plan.m, plan.k, plan.n,
                                        options)
        (staging / "verilog").mkdir(exist_ok=True)
        (staging / "verilog" / f"{design.slug}.v").write_text(design.verilog())
        _progress(f"{label}: simulating {plan.m}x{plan.k}x{plan.n} on {plan.rows}x{plan.cols} in Verilator")
        row = {"design": label, "pe": kind.name, "options": json.dumps(dict(options)),
               "rows": plan.rows, "cols": plan.cols, "dataflow": dataflow,
               "m": plan.m, "k": plan.k, "n": plan.n}
        job = run.prepare_gemm(design, operands)
        try:
            result = run.simulate_job(job)
        except run.SimulationError as e:
            row.update({"status": f"FAIL: {e}", "bit_exact": False, "mismatches": -1, "rtl_cycles": -1})
            raw = job.golden_out()
        else:
            row.update({"status": "PASS" if result.passed else "FAIL", "bit_exact": result.mismatches == 0,
                        "mismatches": result.mismatches, "rtl_cycles": result.cycles})
            raw = result.golden_out
        est = job.model
        row.update({"model_cycles": est.cycles, "scalesim_cycles": est.scalesim_cycles,
                    "folds": est.folds, "utilisation": round(est.utilisation, 6)})
        verification.append(row)

        out = kind.dequantize_output(raw, operands.acts, operands.acts_meta, operands.weights_meta, pe)
        quant.append({"design": label, "act_format": operands.acts_meta["format"],
                      "weight_format": operands.weights_meta["format"],
                      "output_rel_error": round(_rel_error(reference, out), 6),
                      "output_sqnr_db": round(float(-20 * np.log10(_rel_error(reference, out))), 3)})
    return pd.DataFrame(verification), pd.DataFrame(quant)


def synthesis_tables(plan):
    """Step 3: per-unit synthesis (cell counts, osu018 area) and model-vs-synthesis areas, or a
    note saying why there is none."""
    try:
        synth.find_yosys()
        synth.liberty_path()
    except synth.SynthesisError as e:
        return None, None, f"Synthesis skipped: {e}"
    kinds = sorted({kind.name for _, kind, _ in designs()})
    cells = synth.synthesis_table(kinds)
    compare = cost_vs_synth.synthesis_comparison(kinds, arrays=plan.synth_arrays)
    factor = compare.attrs["calibration_factor"]
    compare = compare.round(4)
    note = (f"Synthesis: Yosys + OSU 0.18 um liberty, areas scaled to 45 nm (Stillmaker). One "
            f"calibration factor for this technology, fitted on the INT8 PE: {factor:.3f}; "
            f"`raw_error` is model vs scaled synthesis before it, `error` after it.")
    return cells, compare, note


def cost_tables(plan):
    """Step 4: cost model per design and workload, at equal PE count and at equal area; and the
    per-layer cycles of the equal-PE-count points (every design on the same array)."""

    def point(kind, options, rows, cols):
        return CostConfig(kind.name, rows, cols, kind.dataflows[0], pe_options=options)

    base = evaluate(point(PE_KINDS["int8"], (), plan.workload_rows, plan.workload_cols),
                    (1, 1, 1)).area_total_um2
    rows, layers = [], []
    for label, kind, options in designs():
        sizes = {"equal PE count": (plan.workload_rows, plan.workload_cols)}
        areas = {}
        for s in range(4, 129, 2):
            try:
                areas[s] = evaluate(point(kind, options, s, s), (1, 1, 1)).area_total_um2
            except IncompatibleOptions:   # e.g. a group size that is not a multiple of the rows
                continue
        side = min(areas, key=lambda s: (abs(areas[s] - base), s))
        sizes["equal area"] = (side, side)
        for budget, (R, C) in sizes.items():
            config = point(kind, options, R, C)
            for workload in WORKLOADS:
                r = evaluate(config, get_workload(workload))
                if budget == "equal PE count":
                    layers += [{"design": label, "workload": workload, "layer": layer.name,
                                "m": layer.m, "k": layer.k, "n": layer.n, "count": layer.count,
                                "cycles": layer.cycles, "total_cycles": layer.cycles * layer.count,
                                "utilisation": round(layer.utilisation, 6),
                                "macs_per_cycle": round(layer.macs_per_cycle, 3)} for layer in r.layers]
                rows.append({
                    "design": label, "budget": budget, "rows": R, "cols": C, "workload": workload,
                    "area_mm2": round(r.area_total_mm2, 6), "cycles": r.cycles,
                    "utilisation": round(r.utilisation, 6), "energy_uj": round(r.energy_total_pj * 1e-6, 6),
                    "pj_per_mac": round(r.energy_total_pj / r.macs, 6), "tops": round(r.tops, 6),
                    "tops_per_w": round(r.tops_per_w, 6), "tops_per_mm2": round(r.tops_per_mm2, 6),
                    "tops_roofline": round(r.tops_roofline, 6),
                    "memory_bound_layers": " ".join(r.memory_bound_layers)})
    return pd.DataFrame(rows), pd.DataFrame(layers)


CLAIMS = (
    # paper, claim, paper ratio, paper baseline, the pair this project measures, the metric
    # (a column of costs.csv, MiniLM-L6, 32x32 arrays, 45 nm), and why the numbers differ
    ("OliVe (ISCA 2023)", "speedup vs GOBO", 4.5, "GOBO accelerator", None, None,
     "not measured: no GOBO baseline in this project"),
    ("OliVe (ISCA 2023)", "energy reduction vs GOBO", 4.0, "GOBO accelerator", None, None,
     "not measured: no GOBO baseline in this project"),
    ("BitMoD (HPCA 2025)", "speedup vs ANT", 1.69, "ANT (weight-only, FP16 activations)", None, None,
     "not measured: no ANT baseline in this project"),
    ("BitMoD (HPCA 2025)", "speedup vs OliVe", 1.48, "OliVe (re-modelled weight-only, FP16 activations)",
     ("BitMoD mixed4 W4A8 g128", "OVP W4A4"), "tops_per_mm2",
     "throughput per area (equal-area speedup) vs this project's OVP W4A4 integer PE (two MACs per "
     "cycle, INT4 activations), not the paper's FP16-activation OliVe; the bit-serial PE spends 2 "
     "cycles per MAC (INT8 activations here) and its per-group dequantiser counts against it"),
    ("BitMoD (HPCA 2025)", "energy efficiency vs OliVe", 1.31, "OliVe (re-modelled weight-only, FP16 activations)",
     ("BitMoD mixed4 W4A8 g128", "OVP W4A4"), "tops_per_w",
     "TOPS/W vs the OVP W4A4 integer PE incl. SRAM and DRAM energy; the paper's OliVe baseline pays "
     "FP16 activation arithmetic, this one 4-bit integer activations"),
    ("LUT Tensor Core (ISCA 2025)", "compute density vs A100 FP16 tensor core", 20.9,
     "FP16 tensor core", ("LUT W2A8", "INT8"), "tops_per_mm2",
     "baseline here is an INT8 MAC array, not an FP16 tensor core; this systolic version passes the "
     "88-bit table through a register in every PE (the paper broadcasts it to a 64-column tile)"),
    ("LUT Tensor Core (ISCA 2025)", "energy efficiency vs A100 FP16 tensor core", 11.2,
     "FP16 tensor core", ("LUT W2A8", "INT8"), "tops_per_w",
     "baseline here is an INT8 MAC array; DRAM and SRAM energy included"),
    ("MixPE (2024)", "speedup vs quantisation accelerators", 2.6, "ANT / BitFusion / INT8",
     ("W4A8 g128 (MixPE)", "INT8"), "tops_per_mm2",
     "throughput per area (an equal-area speedup) vs this INT8 array, not vs ANT/BitFusion; the "
     "shift-add PE does one MAC per cycle like INT8, so the gain is area, and the group dequantiser "
     "and its buffers count against it"),
    ("MixPE (2024)", "energy reduction vs quantisation accelerators", 1.4, "ANT / BitFusion / INT8",
     ("W4A8 g128 (MixPE)", "INT8"), "tops_per_w",
     "TOPS/W vs this INT8 array incl. SRAM and DRAM energy (4-bit weights halve weight traffic)"),
    ("FP8 vs INT8 (seed)", "FP formats less efficient in dedicated hardware", 1.5,
     "INT8 (50-180 % cost)", None, None, "not measured: no FP PE in this build"),
)


def claims_table(costs):
    rows = []
    minilm = costs[(costs.workload == "minilm-l6") & (costs.budget == "equal PE count")].set_index("design")
    for paper, claim, ratio, baseline, pair, metric, how in CLAIMS:
        measured = ""
        if pair is not None and pair[0] in minilm.index and pair[1] in minilm.index:
            measured = round(float(minilm.loc[pair[0], metric] / minilm.loc[pair[1], metric]), 3)
        rows.append({"paper": paper, "claim": claim, "paper_ratio": ratio, "paper_baseline": baseline,
                     "measured_pair": " vs ".join(pair) if pair else "", "measured_ratio": measured,
                     "note": how})
    return pd.DataFrame(rows)


COLUMNS = {
    "verification.csv": "design, pe, options (JSON), rows, cols, dataflow, m, k, n (the verified GEMM on "
                        "real MiniLM L0 FFN1 tensors), status (PASS/FAIL), bit_exact, mismatches "
                        "(elements), rtl_cycles (RTL counter), model_cycles (models.cycles), "
                        "scalesim_cycles (SCALE-Sim formula), folds, utilisation (model)",
    "quant_error.csv": "design, act_format, weight_format, output_rel_error (||Y_q - Y||/||Y|| of the "
                       "dequantised GEMM output vs fp64), output_sqnr_db",
    "workload_cycles.csv": "design, workload, layer, m, k, n, count (per forward pass), cycles (one "
                           "GEMM, exact model), total_cycles (x count), utilisation, macs_per_cycle; "
                           "every design on the same 32x32 array (equal PE count)",
    "costs.csv": "design, budget (equal PE count: 32x32 for all; equal area: the square array closest "
                 "to the INT8 32x32 area), rows, cols, workload, area_mm2 (PEs, border units, buffers; "
                 "45 nm), cycles (exact model), utilisation, energy_uj, pj_per_mac (incl. SRAM and "
                 "DRAM), tops, tops_per_w, tops_per_mm2, tops_roofline (DRAM-bound), "
                 "memory_bound_layers; 500 MHz, LPDDR4, 64 KiB per buffer (models/cost.py)",
    "claims.csv": "paper, claim, paper_ratio, paper_baseline, measured_pair, measured_ratio, note",
    "synthesis_cells.csv": "pe, options, unit, mul ($mul cells), add_sub_neg, mux_pmux, flop_bits, "
                           "coarse_cells (word-level cells after proc;opt;wreduce;alumacc;opt), "
                           "mapped_cells, area_um2 (osu018, 0.18 um)",
    "synthesis_vs_model.csv": "pe, options, unit, model_um2 (45 nm), synth_osu018_um2, synth_scaled_um2 "
                              "(to 45 nm), mul, flop_bits, note, raw_error, calibrated_um2, error",
}


def _plot_png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(workloads, quant, costs):
    # deferred on purpose: the headless backend must be chosen before pyplot is first imported,
    # and only the report draws
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}

    def scatter(frame, x, y, title, xlabel, ylabel, logx=False):
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.scatter(frame[x], frame[y])
        for design, row in frame.iterrows():
            ax.annotate(design, (row[x], row[y]), fontsize=7)
        if logx:
            ax.set_xscale("log")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        plots[title] = _plot_png(fig)
        plt.close(fig)

    minilm = costs[(costs.workload == "minilm-l6") & (costs.budget == "equal PE count")].set_index("design")
    scatter(minilm, "area_mm2", "pj_per_mac", "Area vs energy per MAC",
            "area of a 32x32 design incl. buffers (mm^2, 45 nm)", "pJ per MAC on MiniLM-L6 (incl. DRAM)")
    merged = quant.set_index("design").join(minilm[["tops_per_mm2"]])
    scatter(merged, "output_rel_error", "tops_per_mm2", "Throughput per area vs quantisation error",
            "GEMM output relative error (real MiniLM tensors)", "TOPS/mm^2 on MiniLM-L6", logx=True)

    layers = workloads[workloads.workload == "minilm-l6"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for design, group in layers.groupby("design"):
        axes[0].plot(group.layer, group.cycles, marker="o", label=design)
        axes[1].plot(group.layer, group.utilisation, marker="o", label=design)
    axes[0].set(yscale="log", ylabel="cycles per GEMM", title="Per-layer cycles, MiniLM-L6, 32x32")
    axes[1].set(ylabel="utilisation", title="Per-layer utilisation, MiniLM-L6, 32x32")
    for ax in axes:
        ax.tick_params(axis="x", rotation=60)
    axes[1].legend(fontsize=7)
    plots["Per-layer cycles and utilisation"] = _plot_png(fig)
    plt.close(fig)
    return plots


def _html(tables, plots, notes):
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>pearray report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
             ".FAIL{color:#b00;font-weight:bold}</style></head><body><h1>pearray report</h1>"]
    for note in notes:
        parts.append(f"<p>{note}</p>")
    for title, png in plots.items():
        parts.append(f"<h2>{title}</h2><figure data-plot='{title}'><img alt='{title}' "
                     f"src='data:image/png;base64,{png}'/></figure>")
    for name, table in tables.items():
        parts.append(f"<h2>{name}</h2><p>{COLUMNS.get(name, '')}</p>")
        parts.append(table.to_html(index=False, table_id=name.replace(".", "_"), border=0))
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(verification, quant, costs, synth_note, seconds):
    failing = verification[verification.status != "PASS"]
    lines = ["# pearray report", ""]
    if len(failing):
        lines += [f"**FAILING: {', '.join(failing.design)}** (see verification.csv)", ""]
    else:
        lines += [f"All {len(verification)} designs bit-exact on real MiniLM tensors, RTL cycles == model.", ""]
    v = verification[["design", "status", "rtl_cycles", "model_cycles", "scalesim_cycles", "utilisation"]]
    lines += ["## Verification (Verilator, real MiniLM L0 FFN1 tensors)", "", v.to_markdown(index=False), ""]
    lines += ["## Quantisation error of each design's format", "", quant.to_markdown(index=False), ""]
    for budget in ("equal PE count", "equal area"):
        frame = costs[(costs.workload == "minilm-l6") & (costs.budget == budget)]
        frame = frame[["design", "rows", "area_mm2", "cycles", "pj_per_mac", "tops_per_w", "tops_per_mm2",
                       "tops_roofline"]]
        lines += [f"## MiniLM-L6 (seq 128), {budget}, 45 nm, 500 MHz, LPDDR4", "",
                  frame.to_markdown(index=False), ""]
    decode = costs[(costs.workload == "llama2-7b-decode") & (costs.budget == "equal PE count")]
    lines += ["## Llama-2-7B decode (M = 1), equal PE count", "",
              decode[["design", "cycles", "utilisation", "tops_roofline", "memory_bound_layers"]]
              .to_markdown(index=False), "",
              "At M = 1 every weight-stationary fold is bound by loading R weight rows, so utilisation "
              "is about 1/R and designs packing more K per row need fewer folds.", ""]
    lines += ["## Synthesis", "", synth_note, "",
              f"Report generated in {seconds:.0f} s. Tables: " + ", ".join(COLUMNS) + "; plots in index.html."]
    return "\n".join(lines) + "\n"


def report_files():
    """The names a report writes at its top level (a folder holding only these is a report)."""
    return (*TABLES, "synthesis_cells.csv", "synthesis_vs_model.csv", "COLUMNS.md", "index.html",
            "summary.md", "verilog", REPORT_MARKER)


def check_report_out(out, flag="--out"):
    """BadInput unless ``out`` may receive a report: new, empty or a previous report."""
    check_output_dir(out, flag, marker=REPORT_MARKER, own_names=report_files())


def build_report(out, quick=False):
    """Write the report into ``out``; returns the number of failing designs. ``out`` must be new,
    empty or a previous report (checked before any work: :func:`check_report_out`); the report is
    built beside it and replaces it whole at the end."""
    started = time.perf_counter()
    out = Path(out)
    check_report_out(out)
    staging = staging_dir(out)
    try:
        plan = ReportPlan.default(quick)
        _progress("steps 1, 2, 5: Verilog, RTL verification, quantisation error")
        verification, quant = verify_and_measure(plan, staging)
        _progress("step 3: synthesis (cached per Verilog hash)")
        cells, compare, synth_note = synthesis_tables(plan)
        _progress("step 4: cost model on MiniLM-L6, Llama-2-7B prefill and decode")
        costs, workloads = cost_tables(plan)
        claims = claims_table(costs)
        tables = dict(zip(TABLES, (verification, quant, costs, workloads, claims)))
        if cells is not None:
            tables["synthesis_cells.csv"] = cells
            tables["synthesis_vs_model.csv"] = compare
        for name, table in tables.items():
            table.to_csv(staging / name, index=False, lineterminator="\n")
        (staging / "COLUMNS.md").write_text("".join(f"- `{k}`: {v}\n" for k, v in COLUMNS.items()))
        _progress("plots and HTML")
        notes = [synth_note]
        (staging / "index.html").write_text(_html(tables, _plots(workloads, quant, costs), notes))
        (staging / "summary.md").write_text(
            _summary(verification, quant, costs, synth_note, time.perf_counter() - started))
        replace_dir(staging, out, REPORT_MARKER)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    failing = int((verification.status != "PASS").sum())
    _progress(f"written to {out}" + (f"; {failing} design(s) FAILING" if failing else ""))
    return failing
