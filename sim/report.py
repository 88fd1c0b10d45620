"""`pearray report`: compare every registered design on real workloads, RTL-verified.

For every PE kind at its natural precisions (``PEKind.variants``) the report
1. generates the Verilog (kept under ``verilog/``);
2. runs the GEMM on real MiniLM-L6 tensors (layer-0 FFN1 input activations and weights) in
   Verilator, spanning several folds, and records bit-exactness and RTL vs model cycles;
3. synthesises the PE (when the synthesis tools are installed; otherwise says so);
4. evaluates the exact cycle model on real network layer lists (MiniLM-L6 at sequence 128,
   Llama-2-7B prefill and decode) at an equal PE count (every design on the same array);
5. measures each design's quantisation error on the real weights, activations and GEMM output.

Everything is written to a staging folder and moved into place at the end, so a report folder
is always complete. CSV files hold no timings, so the same inputs give the same CSV bytes.
A design that fails verification is shown as FAILING and the command exits 1 after writing.
"""

import base64
import io
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.cycles import gemm_cycles
from models.registry import PE_KINDS
from models.workloads import get_workload

from .design import DesignConfig

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

    @classmethod
    def default(cls, quick=False):
        # quick: 2 k-folds x 3 n-folds; full: 4 k-folds x 4 n-folds with ragged edges
        return cls(8, 8, 16, 64, 20) if quick else cls(8, 8, 48, 120, 30)


def designs():
    """(label, kind, options) for every registered kind at its natural precisions."""
    return [(label, kind, options) for kind in PE_KINDS.values() for label, options in kind.variants]


def _progress(message):
    print(f"pearray report: {message}", file=sys.stderr, flush=True)


def _real_operands(plan):
    from models.realdata import get_tensor
    acts = get_tensor("minilm:L0.ffn1.act")
    weights = get_tensor("minilm:L0.ffn1").T
    if acts.shape[0] < plan.m:
        raise ValueError(f"the forward pass gives {acts.shape[0]} tokens, the report needs {plan.m}")
    return np.asarray(acts[:plan.m, :plan.k], dtype=np.float64), np.asarray(weights[:plan.k, :plan.n], dtype=np.float64)


def _rel_error(ref, approx):
    return float(np.linalg.norm(approx - ref) / np.linalg.norm(ref))


def verify_and_measure(plan, staging):
    """Steps 1, 2 and 5 for every design: Verilog, RTL verification, quantisation error."""
    from .run import SimulationError, simulate_gemm

    acts_f, weights_f = _real_operands(plan)
    reference = acts_f @ weights_f
    verification, quant = [], []
    for label, kind, options in designs():
        pe = kind.prototype(**dict(options))
        acts, a_meta = kind.quantize_acts(acts_f, pe)
        weights, w_meta = kind.quantize_weights(weights_f, pe)
        design = DesignConfig.sized_for(kind.name, plan.rows, plan.cols, "ws", plan.m, plan.k, plan.n, options)
        (staging / "verilog").mkdir(exist_ok=True)
        (staging / "verilog" / f"{design.slug}.v").write_text(design.verilog())
        _progress(f"{label}: simulating {plan.m}x{plan.k}x{plan.n} on {plan.rows}x{plan.cols} in Verilator")
        row = {"design": label, "pe": kind.name, "options": json.dumps(dict(options)),
               "rows": plan.rows, "cols": plan.cols, "dataflow": "ws",
               "m": plan.m, "k": plan.k, "n": plan.n}
        try:
            result = simulate_gemm(design, acts, weights)
        except SimulationError as e:
            row.update({"status": f"FAIL: {e}", "bit_exact": False, "mismatches": -1, "rtl_cycles": -1})
            result = None
        if result is not None:
            row.update({"status": "PASS" if result.passed else "FAIL", "bit_exact": result.mismatches == 0,
                        "mismatches": result.mismatches, "rtl_cycles": result.cycles})
        est = gemm_cycles(design.timing(), plan.m, plan.k, plan.n)
        row.update({"model_cycles": est.cycles, "scalesim_cycles": est.scalesim_cycles,
                    "folds": est.folds, "utilisation": round(est.utilisation, 6)})
        verification.append(row)

        raw = kind.golden_gemm(acts, weights, pe)
        out = kind.dequantize_output(raw, acts, a_meta, w_meta, pe)
        quant.append({"design": label, "act_format": a_meta["format"], "weight_format": w_meta["format"],
                      "output_rel_error": round(_rel_error(reference, out), 6),
                      "output_sqnr_db": round(float(-20 * np.log10(_rel_error(reference, out))), 3)})
    return pd.DataFrame(verification), pd.DataFrame(quant)


def workload_cycles(plan):
    """Step 4 (cycles part): every design on the same array, per layer of real networks."""
    rows = []
    for label, kind, options in designs():
        timing = DesignConfig(kind.name, plan.workload_rows, plan.workload_cols, "ws",
                              pe_options=options).timing()
        for workload in WORKLOADS:
            for gemm in get_workload(workload):
                est = gemm_cycles(timing, gemm.m, gemm.k, gemm.n)
                rows.append({"design": label, "workload": workload, "layer": gemm.name,
                             "m": gemm.m, "k": gemm.k, "n": gemm.n, "count": gemm.count,
                             "cycles": est.cycles, "total_cycles": est.cycles * gemm.count,
                             "utilisation": round(est.utilisation, 6),
                             "macs_per_cycle": round(est.macs_per_cycle, 3)})
    return pd.DataFrame(rows)


def synthesis_table():
    """Step 3: per-design synthesis, or a note saying why there is none."""
    try:
        from models.synth import report_table
    except ImportError:
        return None, "Synthesis and the area/energy model are not part of this build yet (issue 8)."
    return report_table(designs())


CLAIMS = (
    # paper, claim, paper ratio, baseline, the pair this project measures, and how
    ("OliVe (ISCA 2023)", "speedup vs GOBO", 4.5, "GOBO accelerator", None,
     "not measured: no GOBO baseline and no OVP PE in this build"),
    ("OliVe (ISCA 2023)", "energy reduction vs GOBO", 4.0, "GOBO accelerator", None,
     "not measured: needs the energy model and an OVP PE"),
    ("BitMoD (HPCA 2025)", "speedup vs ANT", 1.69, "ANT (weight-only, FP16 activations)", None,
     "not measured: no bit-serial PE in this build"),
    ("LUT Tensor Core (ISCA 2025)", "compute density vs A100 FP16 tensor core", 20.9,
     "FP16 tensor core", ("LUT W2A8", "INT8"),
     "MACs per PE per cycle at equal PE count vs the INT8 PE (not per area: needs the area model)"),
    ("MixPE (2024)", "speedup vs quantisation accelerators", 2.6, "ANT / BitFusion / INT8", None,
     "not measured: no shift-and-add PE in this build"),
    ("FP8 vs INT8 (seed)", "FP formats less efficient in dedicated hardware", 1.5,
     "INT8 (50-180 % cost)", None, "not measured: no FP PE in this build"),
)


def claims_table(workloads):
    rows = []
    per_design = workloads[workloads.workload == "minilm-l6"].groupby("design")
    macs = per_design.apply(lambda g: float((g.m * g.k * g.n * g["count"]).sum()), include_groups=False)
    cycles = per_design.total_cycles.sum()
    for paper, claim, ratio, baseline, pair, how in CLAIMS:
        measured = ""
        if pair is not None and pair[0] in cycles and pair[1] in cycles:
            measured = round(float((macs[pair[0]] / cycles[pair[0]]) / (macs[pair[1]] / cycles[pair[1]])), 3)
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
    "claims.csv": "paper, claim, paper_ratio, paper_baseline, measured_pair, measured_ratio, note",
}


def _plot_png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(workloads, quant):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    totals = workloads.groupby(["workload", "design"]).total_cycles.sum().unstack("design")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    totals.plot.bar(ax=ax, logy=True)
    ax.set_ylabel("cycles per forward pass (32x32)")
    ax.set_title("Per-workload cycles, equal PE count")
    plots["Cycles per workload"] = _plot_png(fig)
    plt.close(fig)

    minilm = workloads[workloads.workload == "minilm-l6"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for design, group in minilm.groupby("design"):
        ax.plot(group.layer, group.utilisation, marker="o", label=design)
    ax.set_ylabel("utilisation")
    ax.set_title("Per-layer utilisation, MiniLM-L6 (seq 128), 32x32")
    ax.tick_params(axis="x", rotation=60)
    ax.legend(fontsize=7)
    plots["Per-layer utilisation"] = _plot_png(fig)
    plt.close(fig)

    per_design = minilm.groupby("design")
    throughput = per_design.apply(lambda g: float((g.m * g.k * g.n * g["count"]).sum() / g.total_cycles.sum()),
                                  include_groups=False)
    merged = quant.set_index("design").join(throughput.rename("macs_per_cycle"))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(merged.output_rel_error, merged.macs_per_cycle)
    for design, row in merged.iterrows():
        ax.annotate(design, (row.output_rel_error, row.macs_per_cycle), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("GEMM output relative error (real MiniLM tensors)")
    ax.set_ylabel("MACs per cycle (32x32, MiniLM-L6)")
    ax.set_title("Throughput vs quantisation error (per area needs the area model)")
    plots["Throughput vs error"] = _plot_png(fig)
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


def _summary(verification, quant, workloads, synth_note, seconds):
    failing = verification[verification.status != "PASS"]
    lines = ["# pearray report", ""]
    if len(failing):
        lines += [f"**FAILING: {', '.join(failing.design)}** (see verification.csv)", ""]
    else:
        lines += [f"All {len(verification)} designs bit-exact on real MiniLM tensors, RTL cycles == model.", ""]
    v = verification[["design", "status", "rtl_cycles", "model_cycles", "scalesim_cycles", "utilisation"]]
    lines += ["## Verification (Verilator, real MiniLM L0 FFN1 tensors)", "", v.to_markdown(index=False), ""]
    lines += ["## Quantisation error of each design's format", "", quant.to_markdown(index=False), ""]
    totals = workloads.groupby(["workload", "design"]).total_cycles.sum().unstack("workload")
    lines += ["## Cycles per forward pass (equal PE count: 32x32 array, exact cycle model)", "",
              totals.to_markdown(), ""]
    lines += ["## Synthesis and cost", "", synth_note, "",
              f"Report generated in {seconds:.0f} s. Tables: verification.csv, quant_error.csv, "
              "workload_cycles.csv, claims.csv; plots in index.html."]
    return "\n".join(lines) + "\n"


def build_report(out, quick=False):
    """Write the report into ``out``; returns the number of failing designs."""
    started = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)
    try:
        plan = ReportPlan.default(quick)
        _progress("steps 1, 2, 5: Verilog, RTL verification, quantisation error")
        verification, quant = verify_and_measure(plan, staging)
        _progress("step 4: cycle model on MiniLM-L6, Llama-2-7B prefill and decode")
        workloads = workload_cycles(plan)
        _progress("step 3: synthesis")
        synth, synth_note = synthesis_table()
        claims = claims_table(workloads)
        tables = {"verification.csv": verification, "quant_error.csv": quant,
                  "workload_cycles.csv": workloads, "claims.csv": claims}
        if synth is not None:
            tables["synthesis.csv"] = synth
        for name, table in tables.items():
            table.to_csv(staging / name, index=False, lineterminator="\n")
        (staging / "COLUMNS.md").write_text("".join(f"- `{k}`: {v}\n" for k, v in COLUMNS.items()))
        _progress("plots and HTML")
        notes = [synth_note] if synth_note else []
        (staging / "index.html").write_text(_html(tables, _plots(workloads, quant), notes))
        (staging / "summary.md").write_text(
            _summary(verification, quant, workloads, synth_note or "", time.perf_counter() - started))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    failing = int((verification.status != "PASS").sum())
    _progress(f"written to {out}" + (f"; {failing} design(s) FAILING" if failing else ""))
    return failing
