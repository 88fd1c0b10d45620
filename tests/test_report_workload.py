"""`pearray report --workload FILE` (the user's network costed beside the default workloads and
ranked on by the decision table; a bad file refused before any work) and the decision table's
whole-model quality column."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from models.cost import CostConfig, evaluate
from models.registry import PE_KINDS
from models.workload_files import load_workload_file
from sim import report, report_html
from sim.report_acceptance import Acceptance
from sim.cli import main
from tests.test_workload_files import tiny_onnx

PLAN = report.ReportPlan(2, 2, 5, 12, 6, workload_rows=8, workload_cols=8)
TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
            "Strides,\nConv1, 10, 10, 3, 3, 4, 8, 1,\nFC, 1, 1, 1, 1, 32, 10, 1,\n")


@pytest.fixture
def no_work(monkeypatch):
    def started(*args, **kwargs):
        raise AssertionError("work started before --workload was checked")
    monkeypatch.setattr(report, "build_report", started)


@pytest.mark.parametrize("name, content, words", [
    ("missing.onnx", None, ("cannot read workload file",)),
    ("garbage.onnx", b"not a protobuf at all", ("not a readable ONNX model",)),
    ("bad.csv", b"name, M, N, K\nfc, 3, x, 4\n", ("line 2", "whole numbers")),
    ("net.txt", b"", ("expected a .onnx model",)),
])
def test_a_bad_workload_file_is_one_line_exit_2_before_any_work(tmp_path, capsys, no_work, name,
                                                                   content, words):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    code = main(["report", "--quick", "--workload", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert all(w in err for w in ("--workload", *words)), err
    assert not out.exists()


def _two_designs(monkeypatch):
    chosen = [("INT8", PE_KINDS["int8"], ()), ("LUT W2A8", PE_KINDS["lut"], (("weight_bits", 2),))]
    monkeypatch.setattr(report, "designs", lambda: chosen)
    return chosen


@pytest.mark.parametrize("kind", ["onnx", "scalesim"])
def test_cost_sections_run_on_the_users_workload(tmp_path, monkeypatch, kind):
    chosen = _two_designs(monkeypatch)
    if kind == "onnx":
        path = tiny_onnx(tmp_path / "tiny.onnx")
    else:
        path = tmp_path / "topo.csv"
        path.write_text(TOPOLOGY)
    gemms = load_workload_file(path)
    plan = PLAN.__class__(**{**PLAN.__dict__, "user_workload": (path.name, gemms)})
    assert list(plan.workloads) == [path.name, *report.WORKLOADS] and plan.primary_workload == path.name
    costs, area, energy, layers = report.cost_tables(plan)
    for table in (costs, energy):
        assert set(table.workload) == {path.name, *report.WORKLOADS}
    # the user's rows are the cost model's own numbers on the file's GEMMs
    for label, k, options in chosen:
        row = costs[(costs.design == label) & (costs.workload == path.name)
                    & (costs.budget == "equal PE count")].iloc[0]
        r = evaluate(CostConfig(k.name, 8, 8, k.dataflows[0], pe_options=options,
                                energy_basis=plan.energy_basis), gemms)
        assert row.cycles == r.cycles and math.isclose(row.tops_per_w, r.tops_per_w, abs_tol=1e-6)
    mine = layers[layers.workload == path.name]
    assert sorted(set(mine.layer)) == sorted(g.name for g in gemms)     # the per-layer roofline's rows
    # the decision table ranks on the user's workload
    data = report.ReportData(plan, {"designs.csv": report.design_table(), "costs.csv": costs,
                                    "quant_error.csv": pd.DataFrame({"design": [c[0] for c in chosen],
                                                                     "gemm_out_sqnr_db": [40.0, 20.0]})},
                             "", "", (1, 1))
    frame = report_html.decision_frame(data).set_index("design")
    own = costs[(costs.workload == path.name) & (costs.budget == "equal PE count")].set_index("design")
    assert np.allclose(frame.loc[own.index, "tops_per_w"], own.tops_per_w)
    assert path.name in report_html.decision_section(data)


# every design of acceptable accuracy: the tests of the ranking metric (the threshold's own tests
# are in test_report_acceptance.py)
LENIENT = dataclasses.replace(PLAN, acceptance=Acceptance(max_delta_ppl_pct=1e6, min_spearman=-1, min_sqnr_db=-1e3))


def _decision_data(model_quality):
    """Three designs: A best SQNR, B best TOPS/W, C best TOPS/mm^2 (all Pareto in SQNR)."""
    designs = pd.DataFrame({"design": list("ABC"), "pe": "int8", "weight_bits": 8, "act_bits": 8})
    costs = pd.DataFrame([{"design": d, "workload": report_html.PRIMARY_WORKLOAD, "budget": b, "rows": 8,
                           "cols": 8, "area_mm2": 1.0, "area_vs_int8_pct": 0.0, "tops_per_w": w,
                           "tops_per_mm2_bounded": a}
                          for d, w, a in (("A", 1.0, 1.0), ("B", 3.0, 2.0), ("C", 2.0, 3.0))
                          for b in report.BUDGETS])
    quant = pd.DataFrame({"design": list("ABC"), "gemm_out_sqnr_db": [30.0, 20.0, 10.0]})
    tables = {"designs.csv": designs, "costs.csv": costs, "quant_error.csv": quant}
    if model_quality is not None:
        tables["model_quality.csv"] = model_quality
    return report.ReportData(LENIENT, tables, "", "", (1, 1))


def test_decision_table_ranks_on_whole_model_quality_when_it_exists():
    without = report_html.decision_frame(_decision_data(None)).set_index("design")
    assert without.pareto.all() and "model_quality" not in without
    # with perplexity: A (least loss) and B (best TOPS/W) are Pareto; C has no result: not ranked
    mq = pd.DataFrame({"design": list("ABC"), "delta_ppl_pct": [0.5, 9.0, np.nan],
                       "spearman_fp32": [0.99, 0.9, 0.95]})
    data = _decision_data(mq)
    frame = report_html.decision_frame(data).set_index("design")
    assert frame.loc["A", "model_quality"] == 0.5
    assert bool(frame.loc["A", "pareto"]) and bool(frame.loc["B", "pareto"])
    assert not frame.loc["C", "pareto"]          # not computed: not ranked
    # C worse than B in perplexity, TOPS/W and TOPS/mm^2: dominated
    mq2 = mq.assign(delta_ppl_pct=[0.5, 9.0, 10.0])
    costs = data["costs.csv"].copy()
    costs.loc[costs.design == "C", ["tops_per_w", "tops_per_mm2_bounded"]] = [2.5, 1.5]
    data2 = report.ReportData(LENIENT, {**data.tables, "model_quality.csv": mq2, "costs.csv": costs}, "", "",
                              (1, 1))
    frame2 = report_html.decision_frame(data2).set_index("design")
    assert not frame2.loc["C", "pareto"] and frame2.loc["B", "pareto"]
    # the marks follow the model metric, not the SQNR: with the best SQNR, C is still dominated
    # (and Pareto when only the SQNR is known)
    quant = data2["quant_error.csv"].assign(gemm_out_sqnr_db=[30.0, 20.0, 50.0])
    data3 = report.ReportData(LENIENT, {**data2.tables, "quant_error.csv": quant}, "", "", (1, 1))
    assert not report_html.decision_frame(data3).set_index("design").loc["C", "pareto"]
    no_mq = {k: v for k, v in data3.tables.items() if k != "model_quality.csv"}
    assert report_html.decision_frame(report.ReportData(LENIENT, no_mq, "", "", (1, 1))).set_index(
        "design").loc["C", "pareto"]
    # the page and the summary name the metric, and keep the SQNR as a second column
    page = report_html.decision_section(data3)
    assert "SmolLM2 Δ perplexity vs fp32 (%, lower is better)" in page and "GEMM output SQNR (dB)" in page
    assert page.index("Δ ppl %</th>") < page.index("SQNR dB</th>")
    # no perplexity anywhere: the MiniLM Spearman is the metric (higher is better)
    mq4 = mq2.assign(delta_ppl_pct=np.nan)
    frame4 = report_html.decision_frame(report.ReportData(LENIENT, {**data3.tables, "model_quality.csv": mq4},
                                                          "", "", (1, 1))).set_index("design")
    assert frame4.loc["A", "model_quality"] == 0.99 and frame4.loc["A", "pareto"]
