"""The report's post-array energy check: each grouped design's post-array unit, model vs its
gate-simulated netlist and OpenSTA per dequantised word, in post_array_energy.csv, its section, the
decision table's "post-array" column and the summary's line."""

import math
from dataclasses import replace

import pandas as pd
import pytest

from models import energy_vs_sta, synth
from models.registry import PE_KINDS
from sim import report, report_html, report_post_array
from tests.report_fixture import CI_DESIGNS, PLAN
from tests.tools import require_synthesis

# a design with figures and one without, as the table holds them (the figures' values are what
# the formatting reads, not a claim about any unit)
MEASURED, SKIPPED = "BitMoD mixed4 W4A8 g128", "W4A8 g128 (MixPE)"


def _data(tables, basis="sim"):
    return report.ReportData(replace(PLAN, energy_basis=basis), tables, "", "", (1, 1))


def _with_figures(check, sim_error, sta_error):
    """``check`` (the small report's post_array_energy.csv) with :data:`MEASURED`'s row given
    these errors and a note-free row, as a run that measured it writes."""
    check = check.copy()
    at = check.design == MEASURED
    for column in report_post_array.FIGURES:
        check[column] = check[column].astype(float)
    check.loc[at, report_post_array.FIGURES] = [0.2, 110.0, 100.0, sim_error, 120.0, 150.0, sta_error]
    check["note"] = check["note"].astype(object)
    check.loc[at, "note"] = math.nan
    return check


def test_the_csv_lists_every_grouped_design_and_why_it_has_no_figures(small_report):
    """The small report's plan measures no post-array unit: each grouped design of the report
    has a row saying so, and no design without a unit has one."""
    require_synthesis()
    folder, _ = small_report
    check = pd.read_csv(folder / "post_array_energy.csv")
    assert list(check.columns) == ["design", "pe", *report_post_array.FIGURES, "note", "source"]
    grouped = [label for label, kind, options in report.designs() if label in CI_DESIGNS
               and synth.has_unit(kind.prototype(**dict(options)), synth.POST_ARRAY)]
    assert {MEASURED, SKIPPED} <= set(grouped)
    assert list(check.design) == grouped
    assert check[report_post_array.FIGURES].isna().all().all()
    assert (check.note == report_post_array.NOT_CHOSEN).all()
    page = (folder / "index.html").read_text()
    decision = page.split("<table id='decision'>")[1].split("</table>")[0]
    assert "post-array" in decision and report_post_array.NOT_RUN in decision
    assert report_post_array.NO_UNIT in decision
    assert "<section id='post-array-energy'>" in page
    assert "none in this report's plan" in (folder / "summary.md").read_text()


@pytest.mark.parametrize("basis, column", [("sim", "error_sim_pct"), ("sta", "error_sta_pct")])
def test_the_decision_column_reads_the_reports_basis(small_report, basis, column):
    require_synthesis()
    folder, _ = small_report
    tables = {n: pd.read_csv(folder / n) for n in (*report.TABLES, "model_quality.csv", "energy_vs_sta.csv",
                                                   "array_energy.csv") if (folder / n).is_file()}
    tables["post_array_energy.csv"] = _with_figures(pd.read_csv(folder / "post_array_energy.csv"), 10.0, -40.0)
    frame = report_html.decision_frame(_data(tables, basis)).set_index("design")
    error = tables["post_array_energy.csv"].set_index("design").loc[MEASURED, column]
    assert frame.loc[MEASURED, "post_array_pct"] == error
    assert frame.loc[MEASURED, "post_array"] == report_html.percent(error)
    assert frame.loc[SKIPPED, "post_array"] == report_post_array.NOT_RUN
    assert frame.loc["INT8", "post_array"] == report_post_array.NO_UNIT
    assert math.isnan(frame.loc["INT8", "post_array_pct"])


def test_the_summary_counts_the_measured_units_within_tolerance():
    check = pd.DataFrame({"design": ["a", "b", "c"], "pe": ["x"] * 3, **{f: [1.0] * 3 for f in report_post_array.FIGURES},
                          "note": ["", "", report_post_array.NOT_CHOSEN], "source": ["s"] * 3})
    check["error_sim_pct"] = [-11.0, 30.0, math.nan]
    check["error_sta_pct"] = [5.0, -2.0, math.nan]
    tables = {"post_array_energy.csv": check}
    assert report_post_array.summary_line(tables, "sim") == (
        "Post-array units, model (sim basis) vs gate-simulated netlist per dequantised word: 1/2 within "
        "±15 %, error -11 .. +30 %; largest miss b (+30 %).")
    assert "2/2 within" in report_post_array.summary_line(tables, "sta")
    assert "not run here" in report_post_array.summary_line({}, "sim")
    joined = report_post_array.join(pd.DataFrame(index=["a", "c", "z"]), tables, "sim", report_html.percent)
    assert list(joined.post_array) == [report_html.percent(-11.0), report_post_array.NOT_RUN,
                                       report_post_array.NO_UNIT]


@pytest.mark.slow
def test_a_measured_row_is_the_models_and_the_measurements():
    """W4A16 INT4 g128's row (the quickest unit to simulate, ~1-2 min cold) equals the figures
    computed here with the functions the bench uses."""
    require_synthesis()
    label, options = next((label, options) for label, options in PE_KINDS["wfp16"].variants if "g128" in label)
    check = report_post_array.post_array_table([(label, PE_KINDS["wfp16"], options)])
    row = check.set_index("design").loc[label]
    options = tuple(sorted(options))
    model_sim, rates = energy_vs_sta.post_array_word_energy_pj("wfp16", options, "minilm", basis="sim")
    sim = energy_vs_sta.sim_word_energy_pj("wfp16", options, "minilm", report_post_array.CLOCK_MHZ)
    assert math.isclose(row.model_sim_pj_per_word, model_sim, abs_tol=0.006)
    assert math.isclose(row.sim_pj_per_word, sim, abs_tol=0.006)
    assert math.isclose(row.error_sim_pct, 100 * (model_sim / sim - 1), abs_tol=0.06)
    assert math.isclose(row.toggles_per_word, rates.word, abs_tol=1e-4)
    assert row.sta_pj_per_word > 0 and row.model_sta_pj_per_word > 0
