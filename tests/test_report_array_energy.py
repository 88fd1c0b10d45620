"""The report's small-array energy check: each design's 2x2 array energy, model vs its
gate-simulated netlist, in array_energy.csv, its section, the decision table's "array vs sim"
column and the summary's line."""

import html
import math
from dataclasses import replace

import pandas as pd

from models.array_energy import array_energy
from models.registry import PE_KINDS
from sim import report, report_array_energy, report_html
from tests.report_fixture import ARRAY_ENERGY_DESIGNS, PLAN
from tests.tools import require_synthesis

FIGURES = ["cycles", "model_sim_pj_per_cycle", "model_sta_pj_per_cycle", "sim_sta_pj_per_cycle",
           "error_sim_pct", "error_sta_pct", "words_checked", "lanes_mismatching"]


def _data(folder, errors=None, basis="sim"):
    """The report's tables in ``folder`` as :class:`sim.report.ReportData` on ``basis``;
    ``errors``: {design: error_sim_pct} replacing array_energy.csv's (the others NaN)."""
    tables = {n: pd.read_csv(folder / n) for n in (*report.TABLES, "model_quality.csv", "energy_vs_sta.csv",
                                                   "array_energy.csv") if (folder / n).is_file()}
    if errors is not None:
        check = tables["array_energy.csv"]
        tables["array_energy.csv"] = check.assign(error_sim_pct=check.design.map(errors))
    return report.ReportData(replace(PLAN, energy_basis=basis), tables, "", "", (1, 1))


def _decision_table(folder):
    return (folder / "index.html").read_text().split("<table id='decision'>")[1].split("</table>")[0]


def test_the_csv_holds_array_energys_figures(small_report):
    """INT8's row is :func:`models.array_energy.array_energy`'s result, recomputed here (the
    synthesis cached by the report); every other design has a reason and no figures."""
    require_synthesis()
    folder, _ = small_report
    check = pd.read_csv(folder / "array_energy.csv")
    assert list(check.columns) == ["design", "pe", "rows", "cols", *FIGURES, "note", "source"]
    assert list(check.design) == list(pd.read_csv(folder / "designs.csv").design)
    row = check.set_index("design").loc["INT8"]
    r = array_energy("int8", (), 2, 2, source="minilm", m=32, folds=8)
    assert (row.rows, row.cols, row.cycles) == (2, 2, r.cycles)
    assert math.isclose(row.model_sim_pj_per_cycle, r.model_pj("sim"), abs_tol=1e-4)
    assert math.isclose(row.model_sta_pj_per_cycle, r.model_pj("sta"), abs_tol=1e-4)
    assert math.isclose(row.sim_sta_pj_per_cycle, r.sim_sta_pj, abs_tol=1e-4)
    assert math.isclose(row.error_sim_pct, 100 * (r.model_pj("sim") / r.sim_sta_pj - 1), abs_tol=0.06)
    assert math.isclose(row.error_sta_pct, 100 * (r.model_pj("sta") / r.sim_sta_pj - 1), abs_tol=0.06)
    assert (row.words_checked, row.lanes_mismatching) == (r.checked, r.mismatches)
    assert r.checked > 0 and "array_energy" in row.source
    others = check[~check.design.isin(ARRAY_ENERGY_DESIGNS)]
    assert others[FIGURES].isna().all().all() and others.note.notna().all()
    # an output-stationary design is not skipped for its dataflow: only the plan leaves it out
    os_kinds = others.pe.map(lambda pe: PE_KINDS[pe].dataflows[0] == "os")
    assert os_kinds.any() and (others.note == report_array_energy.NOT_CHOSEN).all()


def test_the_decision_column_shows_the_error_or_why_not(small_report):
    require_synthesis()
    folder, _ = small_report
    check = pd.read_csv(folder / "array_energy.csv").set_index("design")
    frame = report_html.decision_frame(_data(folder)).set_index("design")
    assert frame.loc["INT8", "array_vs_sim_pct"] == check.loc["INT8", "error_sim_pct"]
    assert frame.loc["INT8", "array_vs_sim"] == report_html.percent(check.loc["INT8", "error_sim_pct"])
    # on the OpenSTA basis the column reads the sta-basis error
    sta = report_html.decision_frame(_data(folder, basis="sta")).set_index("design")
    assert sta.loc["INT8", "array_vs_sim_pct"] == check.loc["INT8", "error_sta_pct"]
    for design, note in check.note.dropna().items():
        assert frame.loc[design, "array_vs_sim"] == report_array_energy.short_reason(note)
        assert math.isnan(frame.loc[design, "array_vs_sim_pct"])
    table = _decision_table(folder)
    assert "array vs sim" in table
    assert report_html.percent(check.loc["INT8", "error_sim_pct"]) in table
    assert "— (not run)" in table and "— (os)" not in table
    # the section lists the simulated arrays and says why the others are not
    page = (folder / "index.html").read_text()
    section = page.split("<section id='array-energy'>")[1].split("</section>")[0]
    assert "<table id='array-energy'>" in section and "INT8" in section
    assert html.escape(report_array_energy.NOT_CHOSEN) in section


def test_without_the_check_the_column_and_summary_say_why(small_report):
    """No array_energy.csv (no synthesis tools): a dash and the reason, and the summary says so."""
    folder, _ = small_report
    data = _data(folder)
    data.tables.pop("array_energy.csv", None)
    frame = report_html.decision_frame(data)
    assert (frame.array_vs_sim == "— (no tools)").all() and frame.array_vs_sim_pct.isna().all()
    assert "not run here" in report_array_energy.summary_line(data.tables, "sim")


def test_the_summary_line_counts_the_arrays_within_tolerance(small_report):
    require_synthesis()
    folder, _ = small_report
    check = pd.read_csv(folder / "array_energy.csv")
    line = report_array_energy.summary_line(_data(folder).tables, "sim")
    assert line in (folder / "summary.md").read_text()
    error = check.set_index("design").error_sim_pct["INT8"]
    assert f"{int(abs(error) <= 15)}/1 2x2 arrays within ±15 %" in line
    # three arrays: the count, the range and the largest miss follow the figures
    designs = list(check.design)
    errors = {designs[0]: 14.9, designs[1]: -15.1, designs[2]: 40.0}
    line = report_array_energy.summary_line(_data(folder, errors).tables, "sim")
    assert "1/3 2x2 arrays within ±15 %, error -15 .. +40 %" in line
    assert f"largest miss {designs[2]} (+40 %)" in line
