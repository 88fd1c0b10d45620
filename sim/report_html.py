"""The report's page (``index.html``) and its one-screen Markdown summary.

The page answers "which design gives the best TOPS/W and TOPS/mm^2 at acceptable accuracy" on
its first screen: a verdict line, the one-line answer (:func:`answer`), a table of contents and
the decision table, whose designs over the stated accuracy threshold
(:mod:`sim.report_acceptance`) are greyed and kept off the Pareto front; then the Pareto plots;
the other sections are folded behind their titles; every full table is a linked CSV.

Adding a section is a local change: write a function ``(data) -> html`` (``data`` a
:class:`sim.report.ReportData`; :func:`table` formats a DataFrame readably, :func:`figure` embeds
a plot of :mod:`sim.report_plots`) and add a :class:`Section` to :data:`SECTIONS`; the table of
contents follows. A new decision-table column is one :class:`Column` in :data:`DECISION_COLUMNS`.
"""

import html
import json
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import report_array_energy, report_claims, report_energy_check, report_intfp, report_post_array
from .report_acceptance import Acceptance
from . import report_plots as plots

PRIMARY_WORKLOAD = "minilm-l6"
WIDTH_PX = 1400

CSS = """
body{font-family:system-ui,sans-serif;max-width:1340px;margin:0 auto;padding:0 16px;color:#222}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:2px;margin-top:28px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
td,th{border:1px solid #ccc;padding:2px 6px} th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{overflow-wrap:normal;word-break:keep-all;hyphens:none} th[title]{text-decoration:underline dotted}
tr.pareto td{background:#eef7ee} .FAIL{color:#b00;font-weight:bold} .PASS{color:#070}
tr.unacceptable td{color:#999;background:#fafafa}
.answer{font-size:16px;padding:6px 10px;border-left:4px solid #2a7;background:#f4faf6;max-width:1300px}
summary h2,summary h3{display:inline-block;margin:14px 0 4px;border:0} section>details>summary{border-bottom:1px solid #ddd}
.verdict{font-size:18px;font-weight:bold;padding:6px 10px;border-radius:4px;background:#f6f6f6}
.verdict.FAIL{background:#fde8e8} .note{font-size:13px;color:#444;max-width:1200px}
img{max-width:100%;height:auto} nav ul{columns:3;font-size:14px} details{margin:4px 0}
code{font-size:90%;background:#f3f3f3;padding:0 2px} summary{cursor:pointer}
"""


# --------------------------------------------------------------------------------------------
# formatting


def number(value, sig=3):
    """A readable number: integers with thousands separators, others to ``sig`` significant
    figures, never in exponent notation; NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    value = float(value)
    if abs(value) >= 10 ** (sig - 1):
        return f"{round(value):,}"
    return np.format_float_positional(value, precision=sig, unique=False, fractional=False, trim="-")


def percent(value, sig=2):
    """A signed percentage, e.g. ``+3.1 %``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return ("+" if value > 0 else "−" if value < 0 else "±") + number(abs(float(value)), sig) + " %"


def _cell(value, fmt):
    if fmt is not None:
        return fmt(value), True
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return number(value), True
    return html.escape(str(value)), False


def _head(headers, titles, groups):
    """The <thead>: one row, or with ``groups`` a row of group headers above the grouped columns
    (a column without a group spans both rows)."""
    def th(column, extra=""):
        title = titles.get(column)
        return (f"<th{extra}{f' title={html.escape(title, quote=True)!r}' if title else ''}>"
                f"{html.escape(headers[column])}</th>")
    if not groups:
        return "<tr>" + "".join(th(c) for c in headers) + "</tr>"
    top, bottom, columns = [], [], list(headers)
    i = 0
    while i < len(columns):
        group = groups.get(columns[i])
        if group is None:
            top.append(th(columns[i], " rowspan='2'"))
            i += 1
            continue
        run = [c for c in columns[i:]]
        run = run[:next((j for j, c in enumerate(run) if groups.get(c) != group), len(run))]
        top.append(f"<th colspan='{len(run)}'>{html.escape(group)}</th>")
        bottom += [th(c) for c in run]
        i += len(run)
    return "<tr>" + "".join(top) + "</tr><tr>" + "".join(bottom) + "</tr>"


def table(frame, headers=None, formats=None, row_class=None, table_id=None, titles=None, groups=None):
    """``frame`` as an HTML table: ``headers`` renames columns (and picks them, in order),
    ``formats`` maps a column to a function value -> HTML text, ``row_class`` a row -> CSS class,
    ``titles`` a column to its header's tooltip (the long name a short header stands for),
    ``groups`` a column to a group header spanning its neighbours of the same group."""
    headers = headers or {c: c for c in frame.columns}
    formats = formats or {}
    parts = [f"<table{f' id={table_id!r}' if table_id else ''}><thead>"
             + _head(headers, titles or {}, groups or {}) + "</thead><tbody>"]
    for _, row in frame.iterrows():
        css = row_class(row) if row_class else ""
        cells = []
        for column in headers:
            text, numeric = _cell(row[column], formats.get(column))
            cells.append(f"<td class='num'>{text}</td>" if numeric else f"<td>{text}</td>")
        parts.append(f"<tr class='{css}'>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def figure(png, alt):
    return f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{png}'/></figure>"


def link(name):
    return f"<a href='{html.escape(name)}'>{html.escape(name)}</a>"


def folded(summary, items):
    """A long list folded behind its summary line."""
    if not items:
        return "none"
    return (f"<details><summary>{html.escape(summary)}</summary>"
            + html.escape(", ".join(items)) + "</details>")


def prose(text):
    """A note as HTML: escaped, with `command` spans (the notes are shared with summary.md,
    Markdown) as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


# a table longer than this many rows is folded behind its summary line (all rows stay in its CSV)
FOLD_ROWS = 40


def foldable(rows, summary, body):
    """``body`` (a table of ``rows`` rows) folded behind ``summary`` when longer than FOLD_ROWS."""
    if rows <= FOLD_ROWS:
        return body
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def status(value):
    css = "PASS" if value == "PASS" else "FAIL"
    return f"<span class='{css}'>{html.escape(str(value))}</span>"


# --------------------------------------------------------------------------------------------
# the decision table


@dataclass(frozen=True)
class Column:
    """A decision-table column: a short header (so the table fits 1400 px), the source column of
    :func:`decision_frame`, a format, the long name (the header's tooltip and the legend) and the
    budget group it sits under (None: its header spans both header rows)."""
    header: str
    column: str
    fmt: Callable = None
    title: str = None
    group: str = None

    @property
    def qualified(self):
        """The header with its group: summary.md's header, where there are no group rows."""
        return f"{self.group}: {self.header}" if self.group else self.header


PE_COUNT, EQUAL_AREA = "equal PE count", "equal area"
_UNDER_TOPS_W = (f"the error under its TOPS/W; beyond ±{100 * report_energy_check.TOLERANCE:g} % "
                 f"unconfirmed")


def _energy_columns(basis):
    """The two energy-check columns; the one of the report's energy ``basis``
    (:data:`sim.report_energy_check.CHECKS`) is the check under its TOPS/W."""
    return (Column("energy vs STA", "energy_vs_sta_pct", percent,
                   "the cost model's PE energy per step vs OpenSTA's on MiniLM activity (model / OpenSTA - 1): "
                   + (_UNDER_TOPS_W if basis == "sta" else "the OpenSTA basis's check, not this report's basis")),
            Column("energy vs sim", "energy_vs_sim_pct", percent,
                   "the model on the gate-simulated primitive table vs the PE's netlist simulated gate by gate on "
                   "the same MiniLM stream (model / simulated - 1): "
                   + (_UNDER_TOPS_W if basis == "sim" else "a second check, independent of OpenSTA's propagation")))


DECISION_COLUMNS = (
    Column("★", "pareto", lambda v: "★" if v else "",
           "Pareto-optimal among the designs of acceptable accuracy, in (quality, TOPS/W, DRAM-bounded "
           "TOPS/mm²) at equal PE count"),
    Column("design", "design"),
    Column("family", "pe", title="PE family (registry kind)"),
    Column("W/A bits", "bits", title="bits per weight / activation element code as the buffers hold it"),
    Column("acc.", "acceptable", lambda v: "yes" if v else "no", "accuracy within the stated threshold"),
    Column("SQNR dB", "gemm_out_sqnr_db", title="GEMM output SQNR (dB) on the whole real MiniLM tensors"),
    *_energy_columns("sta"),
    Column("array vs sim", "array_vs_sim", html.escape,
           "the cost model's energy of the design's 2x2 array in its first dataflow (PEs, slot / edge registers, "
           "border units) vs the array's netlist simulated gate by gate on its MiniLM port stream (sim@STA), "
           "on the report's energy basis: model / simulated - 1; where not simulated, "
           + report_array_energy.LEGEND),
    Column("post-array", "post_array", html.escape,
           "the cost model's energy per dequantised word of the design's post-array unit (its group dequantiser) "
           "on its own MiniLM stream vs measurement, on the report's energy basis (sim: the unit's netlist simulated "
           "gate by gate; sta: OpenSTA): model / measured - 1; " + report_post_array.LEGEND),
    Column("TOPS/W", "tops_per_w", title="TOPS/W, incl. SRAM and DRAM (the same at Fmax)", group=PE_COUNT),
    Column("TOPS/mm²", "tops_per_mm2_bounded", title="TOPS/mm², DRAM-roofline-bounded", group=PE_COUNT),
    Column("Fmax MHz", "fmax_mhz", title="Fmax (MHz, 45 nm, static timing)", group=PE_COUNT),
    Column("TOPS/mm² at Fmax", "tops_per_mm2_bounded_fmax", title="TOPS/mm², DRAM-bounded, at the design's Fmax",
           group=PE_COUNT),
    Column("mm²", "area_mm2", title="area (mm², 45 nm)", group=PE_COUNT),
    Column("shape", "ea_shape", title="array rows x columns", group=EQUAL_AREA),
    Column("mm² (vs INT8)", "ea_area", html.escape, "area (mm²) and its difference from INT8 32x32's",
           EQUAL_AREA),
    Column("TOPS/W", "ea_tops_per_w", title="TOPS/W, incl. SRAM and DRAM", group=EQUAL_AREA),
    Column("TOPS/mm²", "ea_tops_per_mm2_bounded", title="TOPS/mm², DRAM-roofline-bounded", group=EQUAL_AREA),
    Column("TOPS/mm² at Fmax", "ea_tops_per_mm2_bounded_fmax",
           title="TOPS/mm², DRAM-bounded, at the design's Fmax", group=EQUAL_AREA),
)


# whole-model quality metrics of model_quality.csv the decision table can rank on, in order of
# preference: (column, header naming the metric, +1 higher is better / -1 lower is better)
MODEL_METRICS = (("delta_ppl_pct", "SmolLM2 Δ perplexity vs fp32 (%, lower is better)", -1),
                 ("spearman_fp32", "MiniLM-L6 similarity Spearman vs fp32 (higher is better)", +1))
# the decision table's short header of each whole-model metric (the long one is its tooltip)
MODEL_METRIC_HEADERS = {"delta_ppl_pct": "Δ ppl %", "spearman_fp32": "ρ vs fp32"}


def primary_workload(data):
    """The workload the decision table ranks on: the user's (``report --workload``) if given."""
    return getattr(data.plan, "primary_workload", PRIMARY_WORKLOAD)


def model_metric(data):
    """(column, header, sign) of the first of :data:`MODEL_METRICS` that some design has in
    model_quality.csv, or None: the decision table's quality is then the GEMM output SQNR."""
    frame = data.tables.get("model_quality.csv")
    for column, header, sign in MODEL_METRICS:
        if frame is not None and column in frame and frame[column].notna().any():
            return column, header, sign
    return None


def energy_basis(data):
    """The report's energy basis (:attr:`sim.report.ReportPlan.energy_basis`): what its TOPS/W is on."""
    return data.plan.energy_basis


def basis_paragraph(data):
    """The paragraph the page and summary.md state the TOPS/W figures' energy basis with, and why
    sim is the default (:func:`sim.report_energy_check.default_reason`, on this report's checks)."""
    basis = energy_basis(data)
    # the papers' claims (models.claims) price their own design points, on CostConfig's basis
    claims = "" if basis == "sta" else "; the papers' claims (claims.csv) stay on the OpenSTA basis"
    return (f"TOPS/W (and every energy figure of the cost tables) is on "
            f"{report_energy_check.BASIS_NAMES[basis]}; set by `pearray report --energy-basis`{claims}. "
            + report_energy_check.default_reason(data.tables.get("energy_vs_sta.csv")))


def decision_columns(data):
    """:data:`DECISION_COLUMNS` (its energy-check columns described for :func:`energy_basis`), with
    the whole-model quality column (``model_quality``) first among the quality columns when
    :func:`model_metric` finds one."""
    columns = DECISION_COLUMNS
    at = [c.column for c in columns].index("energy_vs_sta_pct")
    columns = columns[:at] + _energy_columns(energy_basis(data)) + columns[at + 2:]
    metric = model_metric(data)
    if metric is None:
        return columns
    at = [c.column for c in columns].index("gemm_out_sqnr_db")
    return (columns[:at] + (Column(MODEL_METRIC_HEADERS[metric[0]], "model_quality", title=metric[1]),)
            + columns[at:])


def acceptance(data):
    """The accuracy threshold of the report (:class:`sim.report_acceptance.Acceptance`)."""
    return getattr(data.plan, "acceptance", None) or Acceptance()


def quality_limit(data):
    """The :class:`sim.report_acceptance.Limit` that applies: the one of the metric the decision
    table ranks on (:func:`model_metric`, else the GEMM output SQNR)."""
    metric = model_metric(data)
    return acceptance(data).limit(metric[0] if metric else "gemm_out_sqnr_db")


def decision_frame(data, workload=None):
    """One row per design: quality, the equal-PE-count figures and the equal-area ones on
    ``workload`` (default :func:`primary_workload`), Pareto-optimal rows marked, sorted Pareto
    first, then acceptable, then by bounded TOPS/mm^2. Quality is the whole-model metric of
    :func:`model_metric` (column ``model_quality``) when one exists, else the GEMM output SQNR;
    ``acceptable`` says whether it is within :func:`quality_limit` (False when unknown); the
    Pareto marks are computed among the acceptable designs only, in (quality, TOPS/W, bounded
    TOPS/mm^2 at an equal PE count), so a design without the quality metric (not computed, or
    skipped) or over the threshold is neither marked nor counted. ``fmax_mhz``
    and the ``*_fmax`` figures (each design at its own clock) are NaN when no timing ran."""
    workload = workload or primary_workload(data)
    costs = data["costs.csv"]
    costs = costs[costs.workload == workload]
    pe_count = costs[costs.budget == "equal PE count"].set_index("design")
    area = costs[costs.budget == "equal area"].set_index("design")
    frame = data["designs.csv"].set_index("design").join(data["quant_error.csv"].set_index("design"))
    frame = frame.join(pe_count[["tops_per_w", "tops_per_mm2_bounded", "area_mm2"]])
    frame["bits"] = [f"W{w}A{a}" for w, a in zip(frame.weight_bits, frame.act_bits)]
    frame["ea_shape"] = [f"{r}x{c}" for r, c in zip(area.rows[frame.index], area.cols[frame.index])]
    frame["ea_area"] = [f"{number(a)} ({percent(p)})" for a, p in
                        zip(area.area_mm2[frame.index], area.area_vs_int8_pct[frame.index])]
    frame["ea_tops_per_w"] = area.tops_per_w[frame.index]
    frame["ea_tops_per_mm2_bounded"] = area.tops_per_mm2_bounded[frame.index]
    for column, source in (("fmax_mhz", pe_count), ("tops_per_mm2_bounded_fmax", pe_count),
                           ("ea_tops_per_mm2_bounded_fmax", area)):
        name = column.removeprefix("ea_")
        frame[column] = source[name][frame.index] if name in source else math.nan
    metric = model_metric(data)
    quality = "gemm_out_sqnr_db"
    if metric is not None:
        column, _, sign = metric
        frame["model_quality"] = data["model_quality.csv"].set_index("design")[column].reindex(frame.index)
        frame["_quality"] = sign * frame.model_quality
        quality = "_quality"
    frame["acceptable"] = quality_limit(data).accepts(frame["model_quality" if metric else quality])
    objectives = frame[[quality, "tops_per_w", "tops_per_mm2_bounded"]].to_numpy(float)
    ranked = ~np.isnan(objectives).any(axis=1) & frame.acceptable.to_numpy()
    frame["pareto"] = [bool(k) and not any(np.all(o >= p) and np.any(o > p) for o in objectives[ranked])
                       for k, p in zip(ranked, objectives)]
    frame = report_energy_check.join(frame.drop(columns=["_quality"], errors="ignore"), data.tables)
    frame = report_array_energy.join(frame, data.tables, energy_basis(data), percent)
    frame = report_post_array.join(frame, data.tables, energy_basis(data), percent)
    frame = frame.reset_index().sort_values(["pareto", "acceptable", "tops_per_mm2_bounded"], ascending=False)
    return frame


def _best(frame, column):
    """The acceptable row of ``frame`` with the highest ``column`` (None if there is none)."""
    ok = frame[frame.acceptable & frame[column].notna()]
    return None if ok.empty else ok.loc[ok[column].idxmax()]


def answer(data, frame=None):
    """The one-line answer to "which design gives the best TOPS/W and TOPS/mm² at acceptable
    accuracy", read from the decision table's rows (``frame``, default :func:`decision_frame`):
    the best acceptable design by TOPS/W and by DRAM-bounded TOPS/mm² at each budget, with the
    threshold and the quality each reached. Plain text (the page escapes it, summary.md reads it)."""
    frame = decision_frame(data) if frame is None else frame
    limit = quality_limit(data)
    plan = data.plan
    quality = "model_quality" if "model_quality" in frame else "gemm_out_sqnr_db"

    def quality_text(row):
        value = row[quality]
        if limit.column == "delta_ppl_pct":
            return f"Δ ppl {percent(value)}"
        if limit.column == "spearman_fp32":
            return f"ρ {number(value)}"
        return f"SQNR {number(value)} dB"

    ok = int(frame.acceptable.sum())
    threshold = f"acceptable: {limit.describe()}, {ok} of {len(frame)} designs"
    where = f"on {primary_workload(data)}, 45 nm, 500 MHz, LPDDR4"
    if not ok:
        return (f"No design reaches acceptable accuracy ({limit.describe()}) {where}; the threshold is "
                f"set by {limit.flag}.")
    best = []
    for prefix in ("", "ea_"):
        w, a = _best(frame, f"{prefix}tops_per_w"), _best(frame, f"{prefix}tops_per_mm2_bounded")

        def watts(row, column=f"{prefix}tops_per_w"):
            return f"{row.design} ({number(row[column])} TOPS/W, {quality_text(row)})"

        # the TOPS/W winner's energy is the model's: say when its basis's check does not confirm it
        best.append((watts(w) + report_energy_check.energy_qualifier(frame, f"{prefix}tops_per_w", w, watts,
                                                                     percent, energy_basis(data)),
                     f"{a.design} ({number(a[f'{prefix}tops_per_mm2_bounded'])} TOPS/mm², {quality_text(a)})"))
    side = f"{plan.workload_rows}x{plan.workload_cols}"
    return (f"Best TOPS/W at acceptable accuracy: {best[0][0]}; best bounded TOPS/mm²: {best[0][1]}; at "
            f"{PE_COUNT} ({side}) {where} ({threshold}). At {EQUAL_AREA} (INT8 {side}'s area): best "
            f"TOPS/W {best[1][0]}; best bounded TOPS/mm² {best[1][1]}.")


def verdict(data):
    v = data["verification.csv"]
    # a unit whose synthesis failed (a watchdog) is a gap in the area check, said up front
    gap = "" if not data.synth_failed else (
        f"<p class='verdict FAIL'>NOT SYNTHESISED: {len(data.synth_failed)} unit(s), left out of the "
        f"area check: {html.escape('; '.join(data.synth_failed))} (see <a href='#synthesis'>synthesis</a>)</p>")
    if data.failing:
        return (f"<p class='verdict FAIL'>FAIL: {len(data.failing)} of {len(v)} designs failed "
                f"verification: {html.escape(', '.join(data.failing))} (see <a href='#verification'>"
                f"verification</a>)</p>") + gap
    return (f"<p class='verdict PASS'>PASS: all {len(v)} designs bit-exact in Verilator on real MiniLM "
            f"tensors, RTL cycles equal to the model.</p>") + gap


# --------------------------------------------------------------------------------------------
# sections


def _quality_note(data):
    metric = model_metric(data)
    sqnr = ("SQNR of the dequantised GEMM output on the whole real MiniLM tensors (higher is "
            "better)")
    if metric is None:
        return f"Quality: {sqnr}; no whole-model quality was available (see the whole-model section). ", "SQNR"
    return (f"Quality: {html.escape(metric[1])}, from {link('model_quality.csv')} (— where it was not "
            f"computed or the design was skipped: such rows are not ranked); then the {sqnr}. ",
            html.escape(metric[1].split(" (")[0]))


def decision_section(data):
    frame = decision_frame(data)
    plan = data.plan
    columns = decision_columns(data)
    headers = {c.column: c.header for c in columns}
    formats = {c.column: c.fmt for c in columns if c.fmt}
    quality_note, quality_name = _quality_note(data)
    workload = primary_workload(data)
    described = (f"{workload} (sequence 128)" if workload == PRIMARY_WORKLOAD
                 else f"{html.escape(workload)} (your workload)")
    limit = quality_limit(data)
    titles = {c.column: c.title for c in columns if c.title}
    groups = {c.column: c.group for c in columns if c.group}
    legend = "; ".join(f"<b>{html.escape(c.header)}</b>{f' ({html.escape(c.group)})' if c.group else ''}: "
                       f"{html.escape(c.title)}" for c in columns if c.title)
    unacceptable = int((~frame.acceptable).sum())
    return (f"<p class='note'>Acceptable accuracy: {html.escape(limit.describe())} (set by "
            f"<code>pearray report {limit.flag}</code>). {unacceptable} grey row"
            f"{'s' if unacceptable != 1 else ''} are over it or not measured: not recommended, no ★; the "
            f"Pareto front is computed among the acceptable designs. "
            f"Column legend below the table; hover a header for its full name.</p>"
            f"<p class='note' id='energy-basis'>{html.escape(basis_paragraph(data))}</p>"
            + table(frame, headers, formats, row_class=_decision_row_class, table_id="decision",
                    titles=titles, groups=groups)
            + f"<details><summary>Legend and method</summary><p class='note'>{legend}.</p>"
            f"<p class='note'>{described}, 45 nm, 500 MHz, LPDDR4. {quality_note}TOPS/W "
            f"includes SRAM and DRAM energy. TOPS/mm² divides the DRAM-roofline-bounded throughput by "
            f"the area (the compute-bound figure is tops_per_mm2_compute in {link('costs.csv')}). "
            f"Left: every design on a {plan.workload_rows}x{plan.workload_cols} array (equal PE count); "
            f"right: each design's array closest to the INT8 {plan.workload_rows}x{plan.workload_cols} "
            f"area, with the area it got. ★ = Pareto-optimal in ({quality_name}, TOPS/W, bounded TOPS/mm²) at "
            f"equal PE count. W/A code bits: bits per weight / activation element code as the buffers hold it "
            f"(a BitMoD mixed code carries its group's special-value selector). Fmax: each design's own "
            f"clock from static timing (its slowest unit, see <a href='#timing'>timing</a>; — where it "
            f"did not run); the Fmax columns are the same design points run at that clock, the DRAM "
            f"roofline unchanged. TOPS/W does not depend on the clock in this model (energy per "
            f"operation and per cycle; osu018 leakage, taken at the characterisation clock, is ~1e-5 of the clock energy).</p>"
            f"</details>")


def _decision_row_class(row):
    return "pareto" if row.pareto else "" if row.acceptable else "unacceptable"


def pareto_section(data):
    frame = decision_frame(data)
    workload = primary_workload(data)
    limit = quality_limit(data)
    png = plots.pareto(frame, "gemm_out_sqnr_db", "GEMM output SQNR (dB, real MiniLM tensors)",
                       [("tops_per_w", f"TOPS/W on {workload} (incl. SRAM + DRAM)"),
                        ("tops_per_mm2_bounded", f"TOPS/mm² on {workload}, DRAM-bounded")],
                       acceptable=frame.acceptable.to_numpy(),
                       threshold=limit.value if limit.column == "gemm_out_sqnr_db" else None)
    return (f"<p class='note'>Hollow grey points: designs over the accuracy threshold "
            f"({html.escape(limit.describe())}) or not measured; the front is drawn among "
            f"the others.</p>" + figure(png, "Pareto fronts"))


def _synth_array_mm2(data):
    """Per design: the calibrated synthesised area of its PEs and border units on the equal-PE-count
    array (PE area x R*C + act border x R + weight border x C), where synthesis ran."""
    compare = data.tables.get("synthesis_vs_model.csv")
    if compare is None:
        return None
    designs = data["designs.csv"]
    area = data["area_breakdown.csv"]
    out = {}
    for row in designs.itertuples():
        shape = area[(area.design == row.design) & (area.budget == "equal PE count")].iloc[0]
        units = compare[compare.pe == row.pe]
        options = _options_key(row.pe, row.options, units)
        units = units[units.options == options].set_index("unit").calibrated_um2 if options else None
        if units is None or "pe" not in units:
            continue
        um2 = (units["pe"] * shape.rows * shape.cols + units.get("act_border", 0) * shape.rows
               + units.get("weight_border", 0) * shape.cols)
        out[row.design] = um2 * 1e-6
    return out


def _options_key(pe, options_json, units):
    """The synthesis table's options string of a design (its options over the kind's defaults)."""
    given = json.loads(options_json)
    for key in dict.fromkeys(units.options):
        setting = dict(part.split("=", 1) for part in key.split(",") if "=" in part)
        if all(str(v) == setting.get(k) for k, v in given.items()):
            return key
    return None


def breakdown_section(data):
    return (figure(plots.area_bars(data["area_breakdown.csv"], _synth_array_mm2(data)), "Area by component")
            + figure(plots.energy_bars(data["energy_breakdown.csv"],
                                       tuple(dict.fromkeys((primary_workload(data), "minilm-l6",
                                                            "llama2-7b-decode")))),
                     "Energy per MAC by component")
            + f"<p class='note'>Numbers: {link('area_breakdown.csv')}, {link('energy_breakdown.csv')}.</p>")


def workloads_section(data):
    costs = data["costs.csv"]
    parts = []
    for workload in dict.fromkeys(costs.workload):
        frame = costs[(costs.workload == workload) & (costs.budget == "equal PE count")].copy()
        # (a CSV read back gives NaN for an empty list)
        frame["memory_bound"] = [folded(f"{count} layers", names.split()) if isinstance(names, str) and names
                                 else "none" for count, names in zip(frame.memory_bound_count,
                                                                     frame.memory_bound_layers)]
        title = f"<h3>{html.escape(workload)}, equal PE count</h3>"
        # the primary workload's table shown, the others folded (every row is in costs.csv)
        parts.append((title if workload == primary_workload(data) else
                      f"<details><summary>{title}</summary>") + table(
            frame, {"design": "design", "cycles": "cycles", "pe_busy": "PE busy",
                    "mac_util_vs_int8": "MAC util. vs INT8 array", "tops_compute": "TOPS (compute-bound)",
                    "tops_bounded": "TOPS (DRAM-bounded)", "pj_per_mac": "pJ/MAC", "tops_per_w": "TOPS/W",
                    "memory_bound": "memory-bound layers"},
            {"memory_bound": lambda v: v}) + ("" if workload == primary_workload(data) else "</details>"))
    layers = data["workload_cycles.csv"]
    bandwidth, peak = data.roof
    parts.append(f"<p class='note'>{prose(data.memory_note)}</p>")
    parts.append(figure(plots.roofline(layers, data["designs.csv"], list(dict.fromkeys(layers.workload)),
                                       bandwidth, peak), "Per-layer roofline"))
    parts.append(figure(plots.layer_cycles(layers, tuple(dict.fromkeys((primary_workload(data), "minilm-l6",
                                                                      "llama2-7b-prefill")))),
                        "Cycles per layer"))
    parts.append(f"<p class='note'>PE busy = MACs / the PE's own peak; MAC utilisation = MACs / the "
                 f"peak of an INT8 array of the same shape (comparable across PEs). Per layer: "
                 f"{link('workload_cycles.csv')}; all budgets and workloads: {link('costs.csv')}.</p>")
    return "".join(parts)


def verification_section(data):
    v = data["verification.csv"]
    r = v.iloc[0]
    return (f"<p class='note'>Verilator, real MiniLM L0 FFN1 tensors cropped to {r.m}x{r.k}x{r.n} on "
            f"{r.rows}x{r.cols} arrays. SCALE-Sim: its compute-cycle model applied to the PE's steps "
            f"(K in steps of k_per_step, a token every II cycles); it pays fill, drain and weight load "
            f"every fold and leaves out buffer and dequantisation cycles. Full table: "
            f"{link('verification.csv')}.</p>"
            + table(v, {"design": "design", "status": "status", "rtl_cycles": "RTL cycles",
                        "model_cycles": "model cycles", "scalesim_cycles": "SCALE-Sim cycles",
                        "folds": "folds", "pe_busy": "PE busy", "mac_util_vs_int8": "MAC util. vs INT8"},
                    {"status": status}, row_class=lambda row: "" if row.status == "PASS" else "FAIL",
                    table_id="verification"))


def accuracy_section(data):
    q = data["quant_error.csv"]
    r = q.iloc[0]
    return (f"<p class='note'>Error of the dequantised GEMM output against fp64, measured on the whole "
            f"tensors {html.escape(r.tensor)} ({r.m}x{r.k}x{r.n}) through each design's exact "
            f"integer arithmetic. {link('quant_error.csv')}</p>"
            + table(q, {"design": "design", "act_format": "activations", "weight_format": "weights",
                        "gemm_out_rel_error": "relative error", "gemm_out_sqnr_db": "SQNR (dB)"},
                    {"gemm_out_rel_error": lambda v: number(100 * v) + " %"}))


def claims_section(data):
    return report_claims.claims_section(data, table, link)


def synthesis_section(data):
    compare = data.tables.get("synthesis_vs_model.csv")
    if compare is None:
        return f"<p class='note'>{prose(data.synth_note)}</p>"
    return (f"<p class='note'>{prose(data.synth_note)} Cell lists: {link('synthesis_cells.csv')}; "
            f"all units: {link('synthesis_vs_model.csv')}.</p>"
            + foldable(len(compare), f"{len(compare)} units (PEs, border and post-array units): model vs "
                       f"synthesised area", table(compare, {"pe": "PE", "options": "options", "unit": "unit", "model_um2": "model µm²",
                              "synth_scaled_um2": "synthesised µm² (45 nm)", "calibrated_um2": "synthesised µm² (no calibration)",
                              "raw_error": "model vs synth", "error": "model / synthesis - 1"},
                    {"raw_error": lambda v: percent(100 * v), "error": lambda v: percent(100 * v)})))


def timing_section(data):
    timing = data.tables.get("timing.csv")
    if timing is None:
        return f"<p class='note'>{prose(data.timing_note)}</p>"
    frame = timing.copy()
    frame["path"] = [f"{s} → {e}" for s, e in zip(frame.start, frame.end)]
    return (f"<p class='note'>{prose(data.timing_note)} Every unit: {link('timing_units.csv')}; "
            f"per design: {link('timing.csv')}.</p>"
            + table(frame.sort_values("fmax_mhz", ascending=False),
                    {"design": "design", "limiting_unit": "slowest unit", "path": "critical path (start → end)",
                     "delay_ns": "delay (ns, osu018)", "setup_ns": "setup (ns)",
                     "fmax_osu018_mhz": "Fmax osu018 (MHz)", "fmax_mhz": "Fmax 45 nm (MHz)"},
                    table_id="timing"))


def array_energy_section(data):
    return report_array_energy.section(data, table, link, percent)


def post_array_section(data):
    return report_post_array.section(data, table, link, percent)


def intfp_section(data):
    """The HTML section: one table per block."""
    frame = data.tables.get("int_vs_fp.csv")
    if frame is None or frame.empty:
        return "<p class='note'>No design has 8-, 6- or 4-bit weights.</p>"
    frame = frame.copy()
    frame["formats"] = [f"{w} / {a}" for w, a in zip(frame.weight_format, frame.act_format)]
    headers = {"design": "design", "family": "family", "formats": "W / A format",
               "weight_scaling": "W scaling", "gemm_out_sqnr_db": "SQNR (dB)",
               "pe_area_um2": "PE µm² (model)", "pe_area_osu018_um2": "PE µm² (osu018)",
               "pe_pj_per_mac": "PE pJ/MAC", "pj_per_mac": "total pJ/MAC", "fmax_mhz": "Fmax (MHz)",
               "tops_bounded": "32x32 TOPS", "tops_bounded_fmax": "32x32 TOPS at Fmax",
               "ea_shape": "equal area", "ea_tops_bounded": "eq. area TOPS",
               "ea_tops_bounded_fmax": "eq. area TOPS at Fmax"}
    parts = [f"<p class='note'>Every design whose weight format is 8, 6 or 4 bits wide, grouped by "
             f"that width: quality on the same real MiniLM tensors, the PE's area and energy per MAC, "
             f"Fmax, and DRAM-bounded TOPS on {report_intfp.WORKLOAD} at an equal PE count and at an equal area, "
             f"at the common clock and at each design's Fmax. Block-scaled (MX) rows appear when "
             f"the kind is registered. {link('int_vs_fp.csv')}</p>"]
    for block, rows in frame.groupby("block", sort=False):
        parts.append(f"<h3>{block}</h3>" + table(rows, headers, table_id=f"intfp-{block.split('-')[0]}"))
    return "".join(parts)


def files_section(data, columns):
    items = "".join(f"<li>{link(name)}: {html.escape(columns.get(name, ''))}</li>" for name in data.tables)
    return f"<details><summary>{len(data.tables)} CSV files and their columns</summary><ul>{items}</ul></details>"


@dataclass(frozen=True)
class Section:
    """A section of the page; ``open``: shown unfolded (the first screen's), else folded behind
    its title so the page opens short."""
    anchor: str
    title: str
    render: Callable
    open: bool = False


SECTIONS = (
    Section("decision", "Decision table", decision_section, open=True),
    Section("pareto", "Quality against efficiency (Pareto fronts)", pareto_section, open=True),
    Section("intfp", "INT vs FP: integer, floating point and block-scaled formats", intfp_section),
    Section("breakdown", "Where the area and the energy go", breakdown_section),
    Section("workloads", "Workloads: throughput, roofline, cycles per layer", workloads_section),
    Section("verification", "Verification", verification_section),
    Section("accuracy", "Quantisation error", accuracy_section),
    Section("claims", "Papers' claims", claims_section),
    Section("synthesis", "Synthesis vs model", synthesis_section),
    Section("timing", "Timing: Fmax and critical paths", timing_section),
    Section("array-energy", "Energy of a small array: model vs its gate-simulated netlist", array_energy_section),
    Section("post-array-energy", "Energy of the post-array unit: model vs its gate-simulated netlist and OpenSTA",
            post_array_section),
)


def page(data, columns, extra_sections=()):
    """index.html: verdict, the one-line answer, table of contents, the sections (then
    ``extra_sections``: sections kept in their own modules; all but the ``open`` ones folded), the
    data files."""
    sections = SECTIONS + tuple(extra_sections)
    toc = "".join(f"<li><a href='#{s.anchor}'>{html.escape(s.title)}</a></li>" for s in sections)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width={WIDTH_PX}'><title>pearray report</title>"
             f"<style>{CSS}</style></head><body><h1>pearray report</h1>", verdict(data),
             f"<p class='answer' id='answer'>{html.escape(answer(data))}</p>",
             f"<nav><ul>{toc}<li><a href='#files'>Data files</a></li></ul></nav>"]
    for s in sections:
        title = f"<h2>{html.escape(s.title)}</h2>"
        body = (f"{title}{s.render(data)}" if s.open else
                f"<details><summary>{title}</summary>{s.render(data)}</details>")
        parts.append(f"<section id='{s.anchor}'>{body}</section>")
    parts.append(f"<section id='files'><h2>Data files</h2>{files_section(data, columns)}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def summary(data, seconds):
    """summary.md: the verdict and the decision table in Markdown."""
    lines = ["# pearray report", ""]
    if data.synth_failed:
        lines += [f"**NOT SYNTHESISED (left out of synthesis_vs_model.csv): {'; '.join(data.synth_failed)}**", ""]
    if data.failing:
        lines += [f"**FAILING: {', '.join(data.failing)}** (see verification.csv)", ""]
    else:
        lines += [f"All {len(data['verification.csv'])} designs bit-exact on real MiniLM tensors, "
                  f"RTL cycles == model.", ""]
    lines += [answer(data), ""]
    frame = decision_frame(data)
    columns = decision_columns(data)
    shown = frame[[c.column for c in columns]].copy()
    shown["pareto"] = ["*" if p else "" for p in shown.pareto]
    signed = {c.column for c in columns if c.fmt is percent}     # e.g. the energy error: "−43 %"
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = [(percent if column in signed else number)(v) for v in shown[column]]
    shown["acceptable"] = ["yes" if a else "no" for a in shown.acceptable]
    shown.columns = [c.qualified for c in columns]
    lines += ["## Papers' claims (paper configuration and common 32x32; claims.csv)", "",
              report_claims.claims_markdown(data["claims.csv"]), ""]
    lines += [f"## Decision table ({primary_workload(data)}, 45 nm, 500 MHz and each design's Fmax, LPDDR4)", "",
              basis_paragraph(data), "", report_array_energy.summary_line(data.tables, energy_basis(data)), "",
              report_post_array.summary_line(data.tables, energy_basis(data)), "",
              shown.to_markdown(index=False), "", data.memory_note, "",
              f"Report generated in {seconds:.0f} s; plots and every table in index.html."]
    return "\n".join(lines) + "\n"
