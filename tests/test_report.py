"""`pearray report` on a small plan: complete output, parseable HTML, reproducible CSVs, failures
loud, and the numbers it ranks by computed as documented.

The default run reads one report of the CI designs (:func:`tests.conftest.small_report`); the
report of every registered design, built twice for byte-reproducibility, is ``slow``."""

import html
import math
from dataclasses import replace
from html.parser import HTMLParser

import pandas as pd
import pytest

from models import synth
from models.cost import CostConfig, evaluate
from models.cycles import gemm_cycles
from models.design import DesignConfig
from sim import report, report_html, run
from sim.cli import main
from tests.report_fixture import CI_DESIGNS, PLAN, build_small_report, design_subset
from tests.tools import require_sta, require_synthesis


@pytest.fixture
def small_plan(monkeypatch):
    monkeypatch.setattr(report.ReportPlan, "default", classmethod(lambda cls, quick=False: PLAN))
    return PLAN


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.links, self.classes = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(attrs.get("id"))
        if tag == "img" and attrs.get("src", "").startswith("data:image/png;base64,"):
            self.images.append(attrs.get("alt"))
        if tag == "a":
            self.links.append(attrs.get("href"))
        if "class" in attrs:
            self.classes.append(attrs["class"])


def check_complete(a, labels):
    """The report in folder ``a`` of the designs ``labels`` is whole: every table, documented and
    linked, the page's first screen, the plots, summary.md, a Verilog file per design."""
    csvs = sorted(p.name for p in a.glob("*.csv"))
    assert set(report.TABLES) | set(report.OPTIONAL_TABLES) | {"model_quality.csv"} == set(csvs)
    assert set(csvs) <= set(report.COLUMNS)            # every CSV's columns documented
    assert sorted(pd.read_csv(a / "designs.csv").design) == sorted(labels)
    assert (pd.read_csv(a / "verification.csv").status == "PASS").all()
    parser = _Collect()
    parser.feed((a / "index.html").read_text())
    assert {"decision", "verification", "model-quality"} <= set(parser.tables)
    assert set(csvs) <= set(parser.links)              # every table linked
    assert len(parser.images) == 5 and all(parser.images)
    assert "verdict PASS" in parser.classes and "verdict FAIL" not in parser.classes
    # the first screen: verdict, the one-line answer, the table of contents, the decision table;
    # the sections after the Pareto plots are folded
    page = (a / "index.html").read_text()
    marks = [page.index(m) for m in ("class='verdict", "class='answer'", "<nav>", "id='decision'")]
    assert marks == sorted(marks) and "Best TOPS/W at acceptable accuracy" in page
    for anchor in ("verification", "claims", "timing", "model-quality"):
        assert page.split(f"<section id='{anchor}'>")[1].startswith("<details><summary><h2>"), anchor
    summary = (a / "summary.md").read_text()
    assert "bit-exact" in summary and "FAILING" not in summary and "Decision table" in summary
    assert "Best TOPS/W at acceptable accuracy" in summary.split("## ")[0]
    assert len(list((a / "verilog").glob("*.v"))) == len(labels)
    assert not [p for p in a.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_report_is_complete(small_report):
    folder, code = small_report
    assert code == 0
    check_complete(folder, CI_DESIGNS)


@pytest.mark.slow
def test_the_report_of_every_design_is_complete_and_reproducible(tmp_path, tmp_path_factory):
    codes = [build_small_report(tmp_path, name, tmp_path_factory) for name in ("a", "b")]
    assert codes == [0, 0]
    a, b = tmp_path / "a", tmp_path / "b"
    check_complete(a, [label for label, _, _ in report.designs()])
    for p in a.glob("*.csv"):
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name


def test_decision_ranks_by_the_roofline_bounded_tops_per_mm2(small_report):
    folder, _ = small_report
    costs = pd.read_csv(folder / "costs.csv")
    assert (costs.tops_per_mm2_bounded <= costs.tops_per_mm2_compute + 1e-9).all()
    for row in costs.itertuples():
        assert math.isclose(row.tops_per_mm2_bounded, row.tops_bounded / row.area_mm2, rel_tol=1e-3)
    # the decision table sorts (Pareto rows first, then acceptable ones) by the bounded column, not
    # the compute one
    page = (folder / "index.html").read_text()
    data = report.ReportData(PLAN, {n: pd.read_csv(folder / n) for n in report.TABLES}, "", "", (1, 1))
    frame = report_html.decision_frame(data)
    for _, group in frame.groupby(["pareto", "acceptable"]):
        assert list(group.tops_per_mm2_bounded) == sorted(group.tops_per_mm2_bounded, reverse=True)
    minilm = costs[(costs.workload == "minilm-l6") & (costs.budget == "equal PE count")].set_index("design")
    assert list(frame.design) and all(d in page for d in frame.design)
    top = frame.iloc[0]
    assert math.isclose(top.tops_per_mm2_bounded, minilm.loc[top.design, "tops_per_mm2_bounded"])


def test_per_layer_cycles_are_multiplied_by_the_layer_count(small_report):
    folder, _ = small_report
    layers = pd.read_csv(folder / "workload_cycles.csv")
    costs = pd.read_csv(folder / "costs.csv")
    assert (layers.total_cycles == layers.cycles * layers["count"]).all()
    assert (layers["count"] > 1).any()
    totals = layers.groupby(["design", "workload"]).total_cycles.sum()
    pe_count = costs[costs.budget == "equal PE count"].set_index(["design", "workload"]).cycles
    assert (totals.sort_index() == pe_count.sort_index()).all()


def test_equal_area_points_state_the_area_they_got(small_report):
    folder, _ = small_report
    costs = pd.read_csv(folder / "costs.csv")
    base = costs[(costs.design == "INT8") & (costs.budget == "equal PE count")].area_mm2.iloc[0]
    area = costs[costs.budget == "equal area"]
    for row in area.itertuples():
        assert math.isclose(row.area_vs_int8_pct, 100 * (row.area_mm2 / base - 1), abs_tol=0.02)


def test_equal_area_shapes_fill_the_int8_32x32_area():
    """Rows the kind accepts nearest the square side, columns filling the area: a g128 design,
    which can only take 16 or 32 rows, was 24 % short of the budget as a square."""
    plan = report.ReportPlan(2, 2, 5, 12, 6)
    target = report.baseline_area_um2(plan)
    for label, kind, options in report.designs():
        if label not in ("BitMoD mixed4 W4A8 g128", "LUT W1A8"):
            continue
        rows, cols = report.equal_area_shape(kind, options, target, 32)
        got = report._area(report._point(kind, options, rows, cols))
        assert abs(got / target - 1) < 0.03, (label, rows, cols, got / target)
        for other in (cols - 1, cols + 1):      # no neighbouring column count is closer
            assert abs(report._area(report._point(kind, options, rows, other)) - target) >= abs(got - target)


def test_mac_utilisation_counts_against_an_int8_array_of_the_same_shape():
    # INT8 on 8x8, 64^3: 262,144 MACs in 8 + 63*64 + 63 + 17 + 1 = 4,121 cycles (test_cycles)
    assert math.isclose(report.mac_utilisation(64 ** 3, 4121, 8, 8), 64 ** 3 / (64 * 4121))
    # LUT W1A8 does K = 4 per step in 1 cycle: busy time near 1 either way, but 4x the MACs of INT8
    timing = DesignConfig("lut", 8, 8, "ws", pe_options=(("weight_bits", 1),)).timing()
    est = gemm_cycles(timing, 64, 256, 64)
    mac = report.mac_utilisation(est.macs, est.cycles, 8, 8)
    assert math.isclose(mac, est.macs / (64 * est.cycles))
    assert math.isclose(mac, est.utilisation * timing.macs_per_step / timing.initiation_interval)
    # the cost model's totals give the same figure
    r = evaluate(CostConfig("int8", 8, 8), (64, 64, 64))
    assert math.isclose(report.mac_utilisation(r.macs, r.cycles, 8, 8), r.utilisation)


def test_a_failing_design_is_loud_and_exits_1(small_plan, tmp_path, monkeypatch, capsys):
    # INT8 passes, the three LUT designs fail: the report's other designs add nothing here
    monkeypatch.setattr(report, "designs", design_subset(("INT8", "LUT W4A8", "LUT W2A8", "LUT W1A8")))
    real = run.simulate_job

    def flaky(job):
        if job.design.pe == "lut":
            raise run.SimulationError("watchdog: done not raised within 5 cycles")
        return real(job)

    monkeypatch.setattr(run, "simulate_job", flaky)
    assert main(["report", "--out", str(tmp_path / "r")]) == 1
    out, err = capsys.readouterr()
    assert out.strip().endswith("index.html")
    assert "[1/" in err and "ETA" in err
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "**FAILING: LUT W4A8, LUT W2A8, LUT W1A8**" in summary
    assert "FAIL: watchdog" in (tmp_path / "r" / "verification.csv").read_text()
    page = (tmp_path / "r" / "index.html").read_text()
    verdict = page.split("class='verdict FAIL'>")[1].split("</p>")[0]
    assert "LUT W4A8, LUT W2A8, LUT W1A8" in verdict


def test_a_unit_whose_synthesis_fails_is_left_out_and_named(small_plan, monkeypatch):
    """One unit's synthesis outliving the watchdog leaves that unit out of the area table, named
    in the note, and the others are still compared (it used to end a report of hours there)."""
    require_synthesis()
    monkeypatch.setattr(report, "designs", design_subset(("INT8",)))
    real = synth.synthesize

    def slow_arrays(pe, **kw):
        if kw.get("rows") is not None:
            raise synth.SynthesisError(f"{pe}_array: synthesis exceeded 1 s (PEARRAY_SYNTH_TIMEOUT); Yosys/ABC killed")
        return real(pe, **kw)

    monkeypatch.setattr(synth, "synthesize", slow_arrays)
    _, compare, note, failed = report.synthesis_tables(small_plan)
    assert failed == ("INT8 array 2x2 ws: int8_array: synthesis exceeded 1 s (PEARRAY_SYNTH_TIMEOUT); "
                      "Yosys/ABC killed",)
    assert "NOT SYNTHESISED" in note and failed[0] in note
    assert "pe" in set(compare.unit) and not compare.unit.str.startswith("array").any()
    assert compare.error.notna().all()


def test_a_synthesis_gap_is_loud_and_exits_1(small_report, tmp_path, monkeypatch, capsys):
    """A report with a unit not synthesised is written whole, says so first (summary and page)
    and exits 1 (a watchdog fired)."""
    folder, _ = small_report
    tables = {p.name: pd.read_csv(p) for p in folder.glob("*.csv")}
    gap = ("INT8 array 2x2 ws: int8_array_ws_2x2: synthesis exceeded 900 s (PEARRAY_SYNTH_TIMEOUT); "
           "Yosys/ABC killed")
    data = report.ReportData(PLAN, tables, "Synthesis: ...", "", (1, 1), synth_failed=(gap,))
    monkeypatch.setattr(report, "gather", lambda plan, staging, progress: data)
    assert main(["report", "--out", str(tmp_path / "r")]) == 1
    assert "1 unit(s) NOT SYNTHESISED" in capsys.readouterr().err
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert f"**NOT SYNTHESISED (left out of synthesis_vs_model.csv): {gap}**" in summary.split("## ")[0]
    page = (tmp_path / "r" / "index.html").read_text()
    assert "NOT SYNTHESISED: 1 unit(s)" in page.split("class='verdict")[2]


def test_every_design_has_its_fmax_and_int_vs_fp_reads_the_same_tables(small_report):
    folder, _ = small_report
    a = folder
    costs = pd.read_csv(a / "costs.csv")
    timing = pd.read_csv(a / "timing.csv").set_index("design")
    designs = pd.read_csv(a / "designs.csv")
    assert set(timing.index) == set(designs.design)
    assert (timing.fmax_mhz > 0).all() and timing.start.notna().all() and timing.end.notna().all()
    for row in costs.itertuples():
        assert row.fmax_mhz == timing.loc[row.design, "fmax_mhz"]
        if row.fmax_mhz >= row.clock_mhz:      # a faster clock never lowers the bounded throughput
            assert row.tops_bounded_fmax >= row.tops_bounded - 1e-6
        else:
            assert row.tops_bounded_fmax <= row.tops_bounded + 1e-6
    page = (a / "index.html").read_text()
    data = report.ReportData(PLAN, {n: pd.read_csv(a / n) for n in (*report.TABLES, "timing.csv")}, "", "",
                             (1, 1))
    frame = report_html.decision_frame(data)
    assert frame.fmax_mhz.notna().all() and frame.tops_per_mm2_bounded_fmax.notna().all()
    assert "id='timing'" in page and "id='intfp-8'" in page and "id='intfp-4'" in page
    intfp = pd.read_csv(a / "int_vs_fp.csv").set_index("design")
    quant = pd.read_csv(a / "quant_error.csv").set_index("design")
    assert {"INT8", "FP8 E4M3", "FP8 E5M2", "L-Mul E4M3", "LUT W4A8", "W4A8 g128 (MixPE)", "OVP W4A4"} <= set(intfp.index)
    for design, row in intfp.iterrows():
        assert row.gemm_out_sqnr_db == quant.loc[design, "gemm_out_sqnr_db"]
        assert row.fmax_mhz == timing.loc[design, "fmax_mhz"]


def test_cost_rows_are_on_the_plans_energy_basis():
    """``report --energy-basis sim``: every TOPS/W and energy figure of a design's cost rows is the
    cost model's on the sim basis, and costs.csv says which."""
    label, kind, options = next(d for d in report.designs() if d[0] == "INT8")
    target = report.baseline_area_um2(PLAN)
    rows = {basis: report.cost_design(replace(PLAN, energy_basis=basis), label, kind, options, target)[0]
            for basis in ("sta", "sim")}
    for basis, costs in rows.items():
        for row in costs:
            assert row["energy_basis"] == basis
            config = CostConfig(kind.name, row["rows"], row["cols"], kind.dataflows[0], pe_options=options,
                                energy_basis=basis)
            expected = evaluate(config, PLAN.workloads[row["workload"]]).tops_per_w
            assert row["tops_per_w"] == round(expected, 6), (basis, row["budget"], row["workload"])
    # the same points and areas, other energies
    assert [(r["rows"], r["cols"], r["area_mm2"]) for r in rows["sim"]] == \
        [(r["rows"], r["cols"], r["area_mm2"]) for r in rows["sta"]]
    assert all(a["tops_per_w"] != b["tops_per_w"] for a, b in zip(rows["sim"], rows["sta"]))


def test_the_page_and_summary_name_the_energy_basis(small_report):
    folder, _ = small_report
    tables = {n: pd.read_csv(folder / n) for n in (*report.TABLES, "model_quality.csv")}
    assert set(tables["costs.csv"].energy_basis) == {"sim"}       # the default run's (measured activity)
    for basis, words in (("sta", "the OpenSTA energy basis"), ("sim", "the simulated-toggle energy basis")):
        data = report.ReportData(replace(PLAN, energy_basis=basis), tables, "", "", (1, 1))
        sentence = f"TOPS/W (and every energy figure of the cost tables) is on {words}"
        assert sentence in report_html.decision_section(data)
        summary = report_html.summary(data, 0)
        assert sentence in summary and summary.index(sentence) < summary.index("| design")
    assert "is on the simulated-toggle energy basis" in (folder / "index.html").read_text()


def test_the_report_says_why_sim_is_the_default_in_its_own_figures(small_report):
    """The basis paragraph (page and summary.md) gives both checks' counts and ranges and OpenSTA's
    whole-PE figure over the simulated toggles', read from this report's energy_vs_sta.csv."""
    require_sta()      # energy_vs_sta.csv is written when the tools ran
    folder, _ = small_report
    check = pd.read_csv(folder / "energy_vs_sta.csv")
    n = len(check)
    sim_ok = sum(abs(e) <= 15 for e in check.energy_vs_sim_pct)
    sta_ok = sum(abs(e) <= 15 for e in check.energy_vs_sta_pct)
    ratio = check.sta_pj_per_step / check.sim_pj_per_step
    expected = (f"{sim_ok}/{n} PEs within ±15 % ({check.energy_vs_sim_pct.min():+.0f} .. "
                f"{check.energy_vs_sim_pct.max():+.0f} %) of sim@STA, the OpenSTA basis {sta_ok}/{n} PEs "
                f"within ±15 % ({check.energy_vs_sta_pct.min():+.0f} .. {check.energy_vs_sta_pct.max():+.0f} %) "
                f"of OpenSTA's report_power, and OpenSTA's own whole-PE figure is {ratio.min():.2f} .. "
                f"{ratio.max():.3g}x sim@STA")
    page = html.unescape((folder / "index.html").read_text())
    summary = (folder / "summary.md").read_text()
    for text in (page, summary):
        assert "The sim basis is the default wherever the activity is measured" in text
        assert expected in text, expected
    # without the checks (no synthesis tools) it says so rather than quoting figures
    tables = {name: pd.read_csv(folder / name) for name in (*report.TABLES, "model_quality.csv")}
    paragraph = report_html.basis_paragraph(report.ReportData(PLAN, tables, "", "", (1, 1)))
    assert "the energy checks did not run here" in paragraph and "PEs within" not in paragraph
