"""The report's whole-model quality section: SmolLM2-135M perplexity and MiniLM-L6 similarity
Spearman of every registry design, every linear layer through the design's golden GEMM
(:mod:`sim.accuracy`), next to the cost model's TOPS/W and DRAM-bounded TOPS/mm^2 of the same
design, with the Pareto front.

How much is computed is the plan's ``model_quality``:

* ``"full"`` (``pearray report``): the full data (8 perplexity windows, all 50 ``lee.cor``
  documents); results missing from the accuracy cache are computed (a first run takes as long as
  ``pearray accuracy --all`` for both models: both models' designs in one pool of forked
  processes, one per CPU, :func:`sim.accuracy.run_many`; later runs read the cache).
* ``"quick-cached"`` (``pearray report --quick`` and the tests' plans): the ``--quick`` data (one
  window, 20 documents), read from the cache only, so the quick report stays within its time;
  a design not cached is shown as "not computed" with the command that computes it.

:func:`model_quality` builds ``model_quality.csv`` (no timings: the same cache gives the same
bytes); :func:`section` renders it. :data:`SECTIONS` is what :func:`sim.report_html.page` appends.
"""

from __future__ import annotations

import html
import os

import numpy as np
import pandas as pd

from models import smollm2
from models.accuracy import WINDOW, quantisation_summary, spearman
from . import accuracy, report_acceptance, report_html, report_plots as plots

MODES = ("quick-cached", "full")
COMMAND = {"quick-cached": "pearray accuracy --all --quick --model {model}",
           "full": "pearray accuracy --all --model {model}"}
COLUMNS = ("design, pe, weight_bits, act_bits, activations, weights (each quantiser's format and "
           "scale granularity), ppl (SmolLM2-135M perplexity on lee_background.cor, every block "
           "linear through the design's golden GEMM), ppl_fp32 (the dequantised Q4_1 model in fp32), "
           "delta_ppl, delta_ppl_pct, spearman_human (MiniLM-L6 lee.cor pair cosine similarities vs "
           "the human scores), spearman_human_fp32, spearman_fp32 (vs the fp32 model's similarities), "
           "tops_per_w, tops_per_mm2_bounded (costs.csv, minilm-l6, equal PE count), acceptable (delta_ppl_pct "
           "within the report's --max-delta-ppl), pareto (acceptable and not dominated among the "
           "acceptable in (-ppl, TOPS/W, bounded TOPS/mm^2)), status (ok, skipped: why, or not computed: "
           "the command that computes it)")


def _data(model, mode):
    quick = mode == "quick-cached"
    if model == "smollm2":
        return accuracy.smollm2_data(windows=accuracy.QUICK_WINDOWS if quick else accuracy.DEFAULT_WINDOWS)
    return accuracy.minilm_data(quick)


def _results(mode, designs, progress):
    """{model: ({design label: row of :func:`sim.accuracy.score`}, the data, the fp32 model's
    MiniLM Spearman vs human or None)} for both models. ``"full"``: every design of both models
    and each fp32 reference not cached in one pool of forked processes, one per CPU, longest
    first (:func:`sim.accuracy.run_many`; the rows are the serial ones); ``"quick-cached"``: the
    cache only, nothing computed."""
    data = {model: _data(model, mode) for model in accuracy.MODELS}
    if mode == "full":
        if progress:
            progress.note(f"whole-model quality: {', '.join(accuracy.MODELS)}, {len(designs)} designs each "
                          f"(cached per design and data)")
        results = accuracy.run_many([(model, designs, data[model]) for model in accuracy.MODELS],
                                    workers=os.cpu_count() or 1)
        return {model: ({r["design"]: r for r in rows}, data[model], summary.get("spearman_human"))
                for model, (summary, rows) in zip(accuracy.MODELS, results)}
    out = {}
    for model in accuracy.MODELS:
        ref = accuracy.reference(model, data[model], compute_missing=False)
        rows = [accuracy.cached_score(model, d, data[model], ref) for d in designs]
        human = spearman(ref["similarities"], data[model].human) if ref and model == "minilm" else None
        out[model] = ({r["design"]: r for r in rows if r is not None}, data[model], human)
    return out


def model_quality(plan_mode, costs, progress=None, workload=report_html.PRIMARY_WORKLOAD,
                  acceptance=report_acceptance.Acceptance()):
    """(model_quality.csv frame, note): one row per registry design (module docstring). ``pareto``
    is computed among the designs ``acceptance`` admits (its SmolLM2 perplexity limit): an
    unusable design is never starred, however efficient."""
    if plan_mode not in MODES:
        raise ValueError(f"model_quality must be one of {', '.join(MODES)}, not {plan_mode!r}")
    designs = accuracy.registry_designs()
    runnable = [d for d in designs if accuracy.supported(d) is None]
    try:
        results = _results(plan_mode, runnable, progress)
        (smol, smol_data, _), (mini, mini_data, mini_human) = results["smollm2"], results["minilm"]
    except smollm2.MissingModelError as e:
        return pd.DataFrame(columns=["design", "status"]), f"Whole-model quality not available: {e}"
    pe_count = costs[(costs.workload == workload) & (costs.budget == "equal PE count")].set_index("design")
    out = []
    for d in designs:
        pe = d.pe()
        row = {"design": d.label, "pe": d.kind.name, "weight_bits": pe.weight_element_bits,
               "act_bits": pe.act_element_bits}
        s, m = smol.get(d.label), mini.get(d.label)
        quant = quantisation_summary(d.kind, pe)
        row.update(activations=f"{quant['act_format']} per {quant['act_granularity']}",
                   weights=f"{quant['weight_format']} per {quant['weight_granularity']}")
        row.update(ppl=s["ppl"] if s else np.nan, ppl_fp32=s["ppl_fp32"] if s else np.nan,
                   delta_ppl=s["delta_ppl"] if s else np.nan,
                   delta_ppl_pct=100 * s["delta_ppl"] / s["ppl_fp32"] if s else np.nan,
                   spearman_human=m["spearman_human"] if m else np.nan,
                   spearman_human_fp32=mini_human if m else np.nan,
                   spearman_fp32=m["spearman_fp32"] if m else np.nan)
        for column in ("tops_per_w", "tops_per_mm2_bounded"):
            row[column] = float(pe_count.loc[d.label, column]) if d.label in pe_count.index else np.nan
        reason = accuracy.supported(d)
        missing = [model for model, got in (("smollm2", s), ("minilm", m)) if not got]
        row["status"] = (f"skipped: {reason}" if reason else
                         "ok" if not missing else
                         "not computed: " + "; ".join(COMMAND[plan_mode].format(model=x) for x in missing))
        out.append(row)
    frame = pd.DataFrame(out)
    objectives = np.c_[-frame.ppl.to_numpy(float), frame.tops_per_w.to_numpy(float),
                       frame.tops_per_mm2_bounded.to_numpy(float)]
    usable = acceptance.limit("delta_ppl_pct").accepts(frame.delta_ppl_pct)
    frame["acceptable"] = usable
    known = ~np.isnan(objectives).any(axis=1) & usable
    frame["pareto"] = [bool(k) and not any(np.all(o >= p) and np.any(o > p) for o in objectives[known])
                       for k, p in zip(known, objectives)]
    note_int8 = _int8_note(frame, smol_data, plan_mode)
    windows = len(smol_data.windows)
    note = (f"SmolLM2-135M perplexity on {smol_data.source}: {windows} x {WINDOW}-token "
            f"window{'s' if windows > 1 else ''} ({smol_data.tokens:,} scored tokens); MiniLM-L6 on "
            f"{mini_data.source}. "
            + ("Quick report: results read from the accuracy cache only (--quick data). "
               if plan_mode == "quick-cached" else "") + note_int8)
    return frame, note


def _int8_note(frame, data, mode):
    """INT8's perplexity loss and, above 2 %, how much of it the FFN down projections' activation
    outliers cause (INT8 with those 30 linears in fp32, measured on the same windows)."""
    int8 = frame.set_index("design").loc["INT8"] if "INT8" in set(frame.design) else None
    if int8 is None or np.isnan(int8.ppl):
        return ""
    text = f"INT8 (per-tensor activation scales) costs {int8.delta_ppl_pct:+.2f} % perplexity. "
    if int8.delta_ppl_pct <= 2:
        return text
    got = accuracy.int8_without_outlier_layers(data, compute_missing=mode == "full")
    if got is None:
        return text + "(The outlier diagnosis is not cached: a full report computes it.) "
    ratio = got["channel_ratio"]
    others = max(v for k, v in ratio.items() if k != accuracy.OUTLIER_LAYERS)
    return (text + f"With the 30 FFN down projections kept in fp32 it costs "
            f"{100 * (got['ppl'] / int8.ppl_fp32 - 1):+.2f} %: their inputs (the SiLU-gated products) "
            f"have channels up to {ratio[accuracy.OUTLIER_LAYERS]:,.0f}x their median channel's "
            f"magnitude (the other linears' inputs: at most {others:,.0f}x), so one per-tensor scale "
            f"leaves the ordinary channels a few levels (the outlier features LLM.int8 describes). ")


def _fmt_num(digits):
    return lambda v: "—" if pd.isna(v) else f"{v:.{digits}f}"


def section(data):
    """HTML of the section (``data``: the report's :class:`sim.report.ReportData`)."""
    frame = data.tables.get("model_quality.csv")
    note = html.escape(data.model_note)
    if frame is None or "ppl" not in frame:
        return f"<p class='note'>{note}</p>"
    parts = [f"<p class='note'>{note}Every block linear (SmolLM2: q, k, v, o, gate, up, down; MiniLM: "
             f"q, k, v, attention output, FFN1, FFN2) runs through the design's golden GEMM, the "
             f"function its RTL is verified bit-exact against, with the design's own quantisers "
             f"(activations quantised per call: per tensor or per token as the quantiser defines, "
             f"column 'activations'). In fp32: {html.escape(accuracy.FLOAT_PARTS['smollm2'])} "
             f"(SmolLM2); {html.escape(accuracy.FLOAT_PARTS['minilm'])} (MiniLM). SmolLM2's linear "
             f"weights ship as Q4_1 (4-bit, blocks of 32): the fp32 reference is the dequantised "
             f"Q4_1 model, so weight-only 4-bit schemes start from 4-bit weights; activation "
             f"quantisation effects are fully real. TOPS/W and TOPS/mm² (DRAM-bounded): the cost "
             f"model's figures for the same design ({report_html.PRIMARY_WORKLOAD}, equal PE count, "
             f"{report_html.link('costs.csv')}). ★ rows: Pareto-optimal in (perplexity, TOPS/W, "
             f"TOPS/mm²) among the acceptable designs (column 'acc.': Δ perplexity within the "
             f"report's threshold, --max-delta-ppl). {report_html.link('model_quality.csv')}</p>"]
    parts.append(report_html.table(
        frame, {"design": "design", "activations": "activations", "weights": "weights", "ppl": "ppl",
                "delta_ppl": "Δ ppl", "delta_ppl_pct": "Δ ppl %", "spearman_human": "ρ vs human",
                "spearman_fp32": "ρ vs fp32", "tops_per_w": "TOPS/W", "tops_per_mm2_bounded": "TOPS/mm²",
                "acceptable": "acc.", "pareto": "★", "status": "status"},
        {"ppl": _fmt_num(3), "delta_ppl": _fmt_num(3), "delta_ppl_pct": _fmt_num(2),
         "spearman_human": _fmt_num(4), "spearman_fp32": _fmt_num(4), "pareto": lambda v: "★" if v else "",
         "acceptable": lambda v: "yes" if v else "no"},
        row_class=lambda r: "pareto" if r.pareto else "", table_id="model-quality"))
    fp32 = frame.dropna(subset=["spearman_human_fp32"])
    if len(fp32):
        parts.append(f"<p class='note'>fp32 MiniLM-L6 Spearman vs human: "
                     f"{fp32.spearman_human_fp32.iloc[0]:.4f}.</p>")
    metrics = [("tops_per_w", f"TOPS/W on {report_html.PRIMARY_WORKLOAD} (incl. SRAM + DRAM)"),
               ("tops_per_mm2_bounded", f"TOPS/mm² on {report_html.PRIMARY_WORKLOAD}, DRAM-bounded")]
    smol = frame.dropna(subset=["ppl", "tops_per_w", "tops_per_mm2_bounded"]).copy()
    if len(smol):
        # pareto() ranks higher-is-better: fp32 ppl / design ppl (1 = no loss)
        smol["ppl_ratio"] = smol.ppl_fp32 / smol.ppl
        parts.append(report_html.figure(plots.pareto(smol, "ppl_ratio", "SmolLM2 perplexity, fp32 / design "
                                                     "(1 = no loss)", metrics), "SmolLM2 quality Pareto fronts"))
    mini = frame.dropna(subset=["spearman_fp32", "tops_per_w", "tops_per_mm2_bounded"])
    if len(mini):
        parts.append(report_html.figure(plots.pareto(mini, "spearman_fp32", "MiniLM-L6 similarity Spearman "
                                                     "vs fp32", metrics), "MiniLM quality Pareto fronts"))
    if not len(smol) and not len(mini):
        parts.append("<p class='note'>No whole-model results to plot (see the status column).</p>")
    return "".join(parts)


#: the section :func:`sim.report_html.page` appends (anchor, title, render)
SECTIONS = (report_html.Section("model-quality", "Whole-model quality (SmolLM2 perplexity, MiniLM similarity)",
                                section),)
