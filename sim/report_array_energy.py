"""The report's check of the cost model's energy on a small array: each design's 2x2 array in
its kind's first dataflow, the model against the array's mapped netlist simulated gate by gate on
its real MiniLM port stream (issue 14 item 4, "a small array").

:mod:`sim.report_energy_check` checks a PE alone; this checks the PEs where they sit, with the
array's slot and edge registers and border units, on the stream the array really sees
(:func:`models.activity.array_run`). The figures are :func:`models.array_energy.array_energy`'s,
the ones ``bench/bench_array_energy.py`` prints: the model's array groups (PEs, slot / edge
registers, border units and their idle energy; no SRAM, DRAM or post-array unit) priced over the
window's events, against the netlist's simulated toggles priced as OpenSTA 2.0.17 prices them
("sim@STA"), 45 nm pJ per cycle; the same simulation's ``out`` words checked against the golden
GEMM. The decision table's "array vs sim" column is the error on the report's energy basis
(:attr:`sim.report.ReportPlan.energy_basis`), within :data:`TOLERANCE` as the PE checks.

A design runs when the plan names it (:attr:`sim.report.ReportPlan.array_energy_designs`, None:
every design); an output-stationary array (synthesised with one shared PE module) is simulated
as its flattened mapped netlist. Every other design gets a row saying why it has no figure. Like
the PE energy check the figures are computed in the quick report too, cached per design (:mod:`sim.report_cache`, under
``<synth cache>/array_energy``): a cold 2x2 array is a synthesis and a gate simulation,
20-90 s for a ws array, 1-8 min for an os one (a larger flat netlist, 1,024 cycles, the PEs'
activity from the array's RTL: ``bench/bench_array_energy.py`` prints each); the synthesis has
its own cache.
"""

import html
import math

import pandas as pd

from models.array_energy import array_energy
from models.registry import get_kind

from . import report_cache
from .report_energy_check import TOLERANCE

SOURCE = "minilm"
# the stream: tokens per fold (ws; os: M, a fold streams all of K), folds (the first a warm-up),
# array_energy's defaults and the bench's
M, FOLDS = 32, 8
# how the CSV names where its figures come from
PROVENANCE = (f"models.array_energy.array_energy (bench/bench_array_energy.py): {SOURCE} L0 FFN1 "
              f"array stream, {FOLDS} folds of {M} tokens (ws) or of the K steps (os, M = {M}), fold 0 a "
              "warm-up; osu018 netlist, 45 nm 0.9 V")
COLUMNS = ("design, pe, rows, cols (the array checked, in the kind's first dataflow), cycles (the counted "
           "window), "
           "model_sim_pj_per_cycle, model_sta_pj_per_cycle (the cost model's array groups, PEs, slot / "
           "edge registers, border units and their idle energy, over the window's events on the sim and "
           "the OpenSTA energy basis; 45 nm pJ per cycle), sim_sta_pj_per_cycle (the array's mapped "
           "netlist simulated gate by gate on the same port stream, its toggles priced as OpenSTA 2.0.17 "
           "prices them: sim@STA, same scaling), error_sim_pct, error_sta_pct (100 x (model on that "
           f"basis / sim@STA - 1); within +-{TOLERANCE:.0%} counts as confirmed), words_checked (the "
           "netlist's out words compared with the golden GEMM of the array's plain sums), "
           "lanes_mismatching, note (why a design has no figures), source")

# the fields of a design's cache entry, in design_array_energy's order
_ENTRY = ("cycles", "model_sim_pj", "model_sta_pj", "sim_sta_pj", "checked", "mismatches")
# per energy basis: the error column the decision table and the summary read
ERRORS = {"sim": "error_sim_pct", "sta": "error_sta_pct"}
NOT_CHOSEN = "not in this report's plan"
NO_TOOLS = "no synthesis tools"
# the decision table's short form of each reason (its cells do not wrap: the table fits 1400 px;
# the column's legend spells them out, the section and the CSV give the full note)
SHORT = {NOT_CHOSEN: "not run", NO_TOOLS: "no tools"}
LEGEND = (f"— (not run): {NOT_CHOSEN}; — (no tools): {NO_TOOLS}; "
          "— (error): see array_energy.csv's note")


def short_reason(note):
    """The decision table's cell of a design without figures, from its ``note`` (NaN: the design
    has no row, so was not run)."""
    return f"— ({SHORT.get(note, 'error') if isinstance(note, str) else SHORT[NOT_CHOSEN]})"


def design_array_energy(kind, options, rows, cols):
    """(window cycles, model pJ/cycle on the sim basis, on the sta basis, sim@STA pJ/cycle, out
    words checked, lanes mismatching) of the ``rows`` x ``cols`` array of ``kind`` (a registry
    name) with ``options`` (:func:`models.array_energy.array_energy`), from the cache or computed
    and cached."""
    def measure():
        r = array_energy(kind, options, rows, cols, source=SOURCE, m=M, folds=FOLDS)
        return r.cycles, r.model_pj("sim"), r.model_pj("sta"), r.sim_sta_pj, r.checked, r.mismatches
    path = report_cache.cache_file("array_energy", kind, options, rows, cols, SOURCE, M, FOLDS, _ENTRY)
    return report_cache.cached(path, _ENTRY, measure)


def array_energy_table(designs, rows=2, cols=2, chosen=None, progress=None):
    """array_energy.csv: one row per (label, kind, options) of ``designs``, its ``rows`` x ``cols``
    array's figures, or NaN and a note saying why not: not in ``chosen`` (labels; None: every
    design), or the error that stopped it. Needs Yosys and the liberty (the caller checks)."""
    if progress:
        progress.step(f"model energy vs the gate-simulated netlist of every {rows}x{cols} array (cached)")
    table = []
    for label, kind, options in designs:
        row = {"design": label, "pe": kind.name, "rows": rows, "cols": cols}
        if chosen is not None and label not in chosen:
            table.append({**row, "note": NOT_CHOSEN})
            continue
        try:
            cycles, model_sim, model_sta, sim_sta, checked, wrong = design_array_energy(
                kind.name, tuple(options), rows, cols)
        except ValueError as e:
            table.append({**row, "note": str(e)})
            continue
        table.append({**row, "cycles": cycles, "model_sim_pj_per_cycle": round(model_sim, 4),
                      "model_sta_pj_per_cycle": round(model_sta, 4), "sim_sta_pj_per_cycle": round(sim_sta, 4),
                      "error_sim_pct": round(100 * (model_sim / sim_sta - 1), 1),
                      "error_sta_pct": round(100 * (model_sta / sim_sta - 1), 1),
                      "words_checked": checked, "lanes_mismatching": wrong, "note": "", "source": PROVENANCE})
    frame = pd.DataFrame(table)
    columns = ["design", "pe", "rows", "cols", "cycles", "model_sim_pj_per_cycle", "model_sta_pj_per_cycle",
               "sim_sta_pj_per_cycle", "error_sim_pct", "error_sta_pct", "words_checked", "lanes_mismatching",
               "note", "source"]
    # a design without figures leaves them empty (NaN), not absent
    return frame.reindex(columns=columns).astype({"cycles": "Int64", "words_checked": "Int64",
                                                  "lanes_mismatching": "Int64"})


def _measured(check, basis):
    """The rows of ``check`` (array_energy.csv) with figures, and the error column of ``basis``."""
    column = ERRORS[basis]
    return check[check[column].notna()], column


def join(frame, tables, basis, percent):
    """``frame`` (the decision frame, indexed by design) with ``array_vs_sim_pct`` (the design's
    array error on ``basis``, NaN without one) and ``array_vs_sim`` (it as ``percent`` formats it,
    or a dash and the short reason there is none: :func:`short_reason`)."""
    check = tables.get("array_energy.csv")
    if check is None:
        return frame.assign(array_vs_sim_pct=math.nan, array_vs_sim=short_reason(NO_TOOLS))
    check = check.set_index("design").reindex(frame.index)
    errors = check[ERRORS[basis]].astype(float)
    text = [percent(e) if not math.isnan(e) else short_reason(note) for e, note in zip(errors, check.note)]
    return frame.assign(array_vs_sim_pct=errors, array_vs_sim=text)


def summary_line(tables, basis):
    """One line: how many of the simulated arrays the model on ``basis`` puts within
    :data:`TOLERANCE` of sim@STA, the error's range and the largest miss (or that the check did
    not run)."""
    check = tables.get("array_energy.csv")
    measured, column = (None, None) if check is None else _measured(check, basis)
    if measured is None or measured.empty:
        return "Small arrays, model vs gate-simulated netlist: not run here (needs Yosys and the osu018 liberty)."
    shape = f"{measured.rows.iloc[0]}x{measured.cols.iloc[0]}"
    errors = measured[column]
    within = int((errors.abs() <= 100 * TOLERANCE).sum())
    worst = measured.loc[errors.abs().idxmax()]
    return (f"Small arrays, model ({basis} basis) vs gate-simulated netlist (sim@STA): {within}/{len(measured)} "
            f"{shape} arrays within ±{100 * TOLERANCE:g} %, error {errors.min():+.0f} .. {errors.max():+.0f} %; "
            f"largest miss {worst.design} ({worst[column]:+.0f} %).")


def section(data, table, link, percent):
    """The HTML section: the method, :func:`summary_line`, and per design the model on both bases
    next to sim@STA with the errors and the output check; the designs without figures listed with
    their reasons. ``table``, ``link``, ``percent``: the page's formatters."""
    check = data.tables.get("array_energy.csv")
    basis = data.plan.energy_basis
    intro = (f"<p class='note'>Each design's 2x2 array in its kind's first dataflow (output-stationary "
             f"arrays simulated as their flattened mapped netlist): the cost model's array groups (PEs, "
             f"slot / edge registers, border units and their idle energy; no SRAM, DRAM or post-array unit) "
             f"against the array's mapped osu018 netlist simulated gate by gate on its own MiniLM L0 FFN1 port "
             f"stream ({FOLDS} folds of {M} tokens, or of all K steps in os, the first a warm-up), its "
             f"toggles priced as OpenSTA 2.0.17 prices them (sim@STA), 45 nm pJ per cycle; the same simulation's output words checked against "
             f"the golden GEMM. The decision table's <b>array vs sim</b> is the error on this report's "
             f"energy basis ({basis}). {summary_line(data.tables, basis)}")
    if check is None:
        return intro + "</p>"
    measured, column = _measured(check, basis)
    intro += f" {link('array_energy.csv')}; <code>python bench/bench_array_energy.py</code> prints the same.</p>"
    shown = measured.assign(out_check=[f"{int(w):,} words, {int(n)} lanes differ"
                                       for w, n in zip(measured.words_checked, measured.lanes_mismatching)])
    body = table(shown.sort_values(column, key=abs, ascending=False),
                 {"design": "design", "cycles": "cycles", "model_sim_pj_per_cycle": "model, sim basis",
                  "model_sta_pj_per_cycle": "model, OpenSTA basis", "sim_sta_pj_per_cycle": "netlist sim@STA",
                  "error_sim_pct": "error, sim basis", "error_sta_pct": "error, OpenSTA basis",
                  "out_check": "output vs golden"},
                 {"error_sim_pct": percent, "error_sta_pct": percent}, table_id="array-energy")
    skipped = check[check[column].isna()]
    listed = "; ".join(f"{html.escape(d)}: {html.escape(n)}" for d, n in zip(skipped.design, skipped.note.fillna("not computed")))
    return intro + body + (f"<p class='note'>Not simulated: {listed}.</p>" if listed else "")
