"""The report's timing: a design's Fmax is its slowest unit's, scaled to 45 nm by the recorded
delay factor, and the cost model runs each design at it."""

import math

import pandas as pd
import pytest

from models import registry, tech
from models.cost import CostConfig, evaluate
from sim import report, report_timing


def test_a_design_takes_its_slowest_units_fmax_and_path():
    units = pd.DataFrame([
        {"design": "A", "pe": "a", "unit": "pe", "start": "x", "end": "y", "delay_ns": 5.0, "setup_ns": 0.2,
         "fmax_osu018_mhz": 192.3, "fmax_mhz": 1205.0},
        {"design": "A", "pe": "a", "unit": "act_border", "start": "p", "end": "q", "delay_ns": 9.0,
         "setup_ns": 0.0, "fmax_osu018_mhz": 111.1, "fmax_mhz": 696.5},
        {"design": "A", "pe": "a", "unit": "weight_border", "note": "no timing path: only wiring"},
        {"design": "B", "pe": "b", "unit": "pe", "start": "s", "end": "t", "delay_ns": 7.0, "setup_ns": 0.1,
         "fmax_osu018_mhz": 140.8, "fmax_mhz": 882.7}])
    d = report_timing.design_rows(units).set_index("design")
    assert list(d.index) == ["A", "B"]
    assert (d.loc["A", "limiting_unit"], d.loc["A", "start"], d.loc["A", "fmax_mhz"]) == ("act_border", "p", 696.5)
    assert d.loc["B", "limiting_unit"] == "pe"


def test_fmax_scales_by_the_stillmaker_delay_record():
    # the 45 nm / 180 nm delay ratio from the fits' coefficients, not from the function under test
    a45, b45, c45, d45 = tech.STILLMAKER_DELAY_FIT["HP45"]
    a18, b18, c18, d18 = tech.STILLMAKER_DELAY_FIT["180"]
    ratio = (a45 * 0.9 ** 3 + b45 * 0.9 ** 2 + c45 * 0.9 + d45) / (a18 * 1.8 ** 3 + b18 * 1.8 ** 2 + c18 * 1.8 + d18)
    assert report_timing.fmax_at_45nm(100.0) == pytest.approx(100.0 / ratio)
    assert 5 < 1 / ratio < 8


def test_unit_rows_time_every_unit_of_a_design():
    if report_timing.tools_missing():
        pytest.skip(report_timing.tools_missing())
    kind = registry.PE_KINDS["lut"]
    rows = report_timing.unit_rows([("LUT W2A8", kind, (("weight_bits", 2),))])
    assert list(rows.unit) == ["pe", "act_border"]       # the LUT kind has a table precompute unit
    for r in rows.itertuples():
        assert math.isclose(r.fmax_osu018_mhz, 1000 / (r.delay_ns + r.setup_ns), rel_tol=1e-3)
        assert r.fmax_mhz == pytest.approx(report_timing.fmax_at_45nm(r.fmax_osu018_mhz), rel=1e-3)
        assert r.area_osu018_um2 > 0
    # the design's Fmax is the minimum over its units
    d = report_timing.design_rows(rows).iloc[0]
    assert d.fmax_mhz == rows.fmax_mhz.min()


def test_costs_at_the_own_clock_follow_the_roofline():
    plan = report.ReportPlan(2, 2, 5, 12, 6, workload_rows=8, workload_cols=8)
    kind = registry.PE_KINDS["int8"]
    target = report.baseline_area_um2(plan)
    common, *_ = report.cost_design(plan, "INT8", kind, (), target)
    fast, *_ = report.cost_design(plan, "INT8", kind, (), target, fmax_mhz=1000.0)
    for c, f in zip(common, fast):
        assert math.isnan(c["fmax_mhz"]) and math.isnan(c["tops_bounded_fmax"])
        assert f["fmax_mhz"] == 1000.0 and f["tops_bounded"] == c["tops_bounded"]
        config = CostConfig("int8", f["rows"], f["cols"], clock_mhz=1000.0)
        r = evaluate(config, f["workload"])
        assert f["tops_bounded_fmax"] == pytest.approx(r.tops_roofline, abs=1e-6)
        assert f["tops_per_mm2_bounded_fmax"] == pytest.approx(r.tops_roofline_per_mm2, abs=1e-6)
        # twice the clock: at most twice the bounded throughput, never less than at 500 MHz
        assert c["tops_bounded"] <= f["tops_bounded_fmax"] <= 2 * c["tops_bounded"] + 1e-6
        # no leakage in the model: energy per operation, hence TOPS/W, does not depend on the clock
        assert f["tops_per_w_fmax"] == pytest.approx(c["tops_per_w"], abs=1e-6)


@pytest.mark.parametrize("label", ["INT8", "LUT W4A8", "W4A8 g128 (MixPE)", "FP16 (FP32 acc)"])
def test_decode_is_memory_bound_where_the_weight_port_outruns_dram(label):
    """The report's explanation of Llama decode: a design whose weight-load port (one weight word
    per cycle) is faster than DRAM is memory-bound in every decode layer; these, below it, in none (a design just below can
    tip a layer with its activation and output traffic: FP8 E5M2)."""
    plan = report.ReportPlan(2, 2, 5, 12, 6)
    label, kind, options = next(d for d in report.designs() if d[0] == label)
    config = CostConfig(kind.name, 32, 32, kind.dataflows[0], pe_options=options)
    r = evaluate(config, "llama2-7b-decode")
    port = report.weight_port_gbps(kind, options, plan)
    if port > config.bandwidth_gbps:
        assert len(r.memory_bound_layers) == len(r.layers)
        assert label in report.memory_bound_note(plan)
    else:
        assert r.memory_bound_layers == ()


def test_a_design_with_a_post_array_unit_has_it_timed():
    """A grouped design's post-array unit (the scale dequantiser) is synthesised and timed like
    its PE, and bounds the design's Fmax; the same design without groups has none."""
    if report_timing.tools_missing():
        pytest.skip(report_timing.tools_missing())
    kind = registry.PE_KINDS["wfp16"]
    grouped = (("group_size", 128), ("weight_format", "int4"))
    rows = report_timing.unit_rows([("g128", kind, grouped), ("plain", kind, (("weight_format", "int4"),))])
    assert list(rows[rows.design == "g128"].unit) == ["pe", "post_array"]
    assert list(rows[rows.design == "plain"].unit) == ["pe"]
    post = rows[rows.unit == "post_array"].iloc[0]
    assert post.area_osu018_um2 > 0 and post.fmax_mhz > 0 and post.end.endswith("(flop)")
    d = report_timing.design_rows(rows).set_index("design")
    assert d.loc["g128", "fmax_mhz"] == rows[rows.design == "g128"].fmax_mhz.min()
