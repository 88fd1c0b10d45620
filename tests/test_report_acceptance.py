"""The report's accuracy threshold: designs over it are greyed and never starred, the Pareto front
and the one-line answer are computed among the acceptable designs only, the threshold is stated and
overridable (``pearray report --max-delta-ppl`` ...), and a bad value is refused before any work."""

import dataclasses
import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from sim import cli, report, report_html
from sim.cli import main
from sim.report_acceptance import Acceptance

PLAN = report.ReportPlan(2, 2, 5, 12, 6, workload_rows=8, workload_cols=8)


def _data(delta_ppl=(0.5, 9.0, 3.0, 5.3e6), sqnr=(40.0, 25.0, 30.0, 3.0), acceptance=Acceptance(),
          perplexity=True):
    """Four designs on the primary workload (TOPS/W, TOPS/mm^2 at both budgets): A (best quality),
    B (better TOPS/W than A and C), C (best TOPS/mm^2 of the usable ones) and D, the LUT W1A8 of
    the reviewer: unusable quality, best in both efficiencies."""
    designs = pd.DataFrame({"design": list("ABCD"), "pe": "int8", "weight_bits": 8, "act_bits": 8})
    figures = {"A": (1.0, 1.0, 1.5), "B": (3.0, 2.0, 2.5), "C": (2.0, 3.0, 3.5), "D": (9.0, 9.0, 9.0)}
    costs = pd.DataFrame([{"design": d, "workload": report_html.PRIMARY_WORKLOAD, "budget": b, "rows": 8,
                           "cols": 8, "area_mm2": 1.0, "area_vs_int8_pct": 0.0, "tops_per_w": w,
                           # at equal area, A overtakes B in TOPS/W: the two budgets can disagree
                           "tops_per_mm2_bounded": a if b == "equal PE count" else ea}
                          for d, (w, a, ea) in figures.items() for b in report.BUDGETS])
    costs.loc[(costs.budget == "equal area") & (costs.design == "A"), "tops_per_w"] = 4.0
    tables = {"designs.csv": designs, "costs.csv": costs,
              "quant_error.csv": pd.DataFrame({"design": list("ABCD"), "gemm_out_sqnr_db": list(sqnr)})}
    if perplexity:
        tables["model_quality.csv"] = pd.DataFrame({"design": list("ABCD"), "delta_ppl_pct": list(delta_ppl)})
    return report.ReportData(dataclasses.replace(PLAN, acceptance=acceptance), tables, "", "", (1, 1))


def test_limits_accept_within_and_refuse_over_or_unknown():
    a = Acceptance(max_delta_ppl_pct=5, min_spearman=0.9, min_sqnr_db=20)
    assert list(a.limit("delta_ppl_pct").accepts([0.0, 5.0, 5.01, np.nan, -1.0])) == [True, True, False, False, True]
    assert list(a.limit("spearman_fp32").accepts([0.95, 0.9, 0.89, np.nan])) == [True, True, False, False]
    assert list(a.limit("gemm_out_sqnr_db").accepts([25, 20, 19.9])) == [True, True, False]
    assert a.limit("delta_ppl_pct").describe() == "SmolLM2 Δ perplexity ≤ +5 %"
    for bad in ({"max_delta_ppl_pct": -1}, {"min_spearman": 1.5}, {"min_sqnr_db": math.inf}):
        with pytest.raises(ValueError):
            Acceptance(**bad)


def test_unacceptable_designs_are_greyed_and_off_the_front():
    frame = report_html.decision_frame(_data()).set_index("design")
    assert dict(frame.acceptable) == {"A": True, "B": False, "C": True, "D": False}
    # D would dominate everything; over the threshold it dominates nothing and is not starred
    assert dict(frame.pareto) == {"A": True, "B": False, "C": True, "D": False}
    # raising the threshold to 10 % admits B, which C does not dominate (better TOPS/W)
    lenient = report_html.decision_frame(_data(acceptance=Acceptance(max_delta_ppl_pct=10))).set_index("design")
    assert dict(lenient.pareto) == {"A": True, "B": True, "C": True, "D": False}
    # sorted: starred, then acceptable, then the rest
    order = list(report_html.decision_frame(_data()).design)
    assert order[:2] == ["C", "A"] and set(order[2:]) == {"B", "D"}
    # the page greys the rows, states the threshold and the flag
    page = report_html.decision_section(_data())
    rows = _rows(page)
    assert rows["D"] == "unacceptable" and rows["B"] == "unacceptable" and rows["C"] == "pareto"
    assert "SmolLM2 Δ perplexity ≤ +5 %" in page and "--max-delta-ppl" in page


def test_sqnr_threshold_when_only_gemm_quality_is_known():
    data = _data(perplexity=False, acceptance=Acceptance(min_sqnr_db=28))
    frame = report_html.decision_frame(data).set_index("design")
    assert dict(frame.acceptable) == {"A": True, "B": False, "C": True, "D": False}
    assert "GEMM output SQNR ≥ 28 dB" in report_html.answer(data)


def test_the_one_line_answer_follows_the_data():
    text = report_html.answer(_data())
    assert text.startswith("Best TOPS/W at acceptable accuracy: C (2 TOPS/W, Δ ppl +3 %); "
                           "best bounded TOPS/mm²: C (3 TOPS/mm², Δ ppl +3 %); at equal PE count (8x8)")
    assert "(acceptable: SmolLM2 Δ perplexity ≤ +5 %, 2 of 4 designs)" in text
    assert text.endswith("At equal area (INT8 8x8's area): best TOPS/W A (4 TOPS/W, Δ ppl +0.5 %); "
                         "best bounded TOPS/mm² C (3.5 TOPS/mm², Δ ppl +3 %).")
    # change the data: D becomes usable and wins both
    text = report_html.answer(_data(delta_ppl=(0.5, 9.0, 3.0, 1.0)))
    assert text.startswith("Best TOPS/W at acceptable accuracy: D (9 TOPS/W, Δ ppl +1 %); best bounded "
                           "TOPS/mm²: D (9 TOPS/mm²")
    # change the threshold: B admitted, best TOPS/W at equal PE count
    assert report_html.answer(_data(acceptance=Acceptance(max_delta_ppl_pct=10))).startswith(
        "Best TOPS/W at acceptable accuracy: B (3 TOPS/W, Δ ppl +9 %)")
    # nothing acceptable: said, with the flag that moves the threshold
    none = report_html.answer(_data(acceptance=Acceptance(max_delta_ppl_pct=0.1)))
    assert none.startswith("No design reaches acceptable accuracy") and "--max-delta-ppl" in none


def test_decision_table_headers_are_short_with_their_long_names_as_titles():
    page = report_html.decision_section(_data())
    head = page.split("<thead>")[1].split("</thead>")[0]
    assert "<th colspan='5'>equal PE count</th>" in head and "<th colspan='5'>equal area</th>" in head
    assert "title='TOPS/mm², DRAM-roofline-bounded'" in head
    assert "title='SmolLM2 Δ perplexity vs fp32 (%, lower is better)'>Δ ppl %</th>" in head
    assert max(len(h) for h in re.findall(r">([^<]*)</th>", head)) <= 16


@pytest.fixture
def captured(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "build_report", lambda out, **kw: calls.append(kw) or 0)
    return calls


def test_cli_passes_the_threshold_and_refuses_bad_values_before_work(captured, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", "--out", str(out), "--max-delta-ppl", "2.5", "--min-sqnr", "15"]) == 0
    assert captured[-1]["acceptance"] == Acceptance(max_delta_ppl_pct=2.5, min_sqnr_db=15)
    assert main(["report", "--out", str(out)]) == 0
    assert captured[-1]["acceptance"] == Acceptance()
    capsys.readouterr()
    for flag, value in (("--max-delta-ppl", "-1"), ("--min-spearman", "1.5"), ("--min-sqnr", "inf"),
                        ("--max-delta-ppl", "lots")):
        assert main(["report", "--out", str(out), flag, value]) == 2
        err = capsys.readouterr().err
        assert flag in err and len(err.strip().splitlines()) == 1
    assert len(captured) == 2 and not out.exists()


class _RowClasses(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self._css, self._cells = {}, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._css, self._cells = dict(attrs).get("class", ""), []
        elif tag == "td":
            self._cells.append("")

    def handle_data(self, text):
        if self._cells:
            self._cells[-1] += text

    def handle_endtag(self, tag):
        if tag == "tr" and self._cells:
            self.rows[self._cells[1]] = self._css
            self._cells = None


def _rows(page):
    """{design: its row's CSS class} of the decision table (the design is the second cell)."""
    parser = _RowClasses()
    parser.feed(page)
    return parser.rows
