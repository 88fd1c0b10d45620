"""The report's INT vs FP table: blocks by the format's nominal width, families from the format
name, and every figure read from the report's own tables (no list of design names)."""

import pandas as pd
import pytest

from sim import report_intfp


@pytest.mark.parametrize("name, bits", [
    ("int8", 8), ("int4-asym", 4), ("ovp-int4", 4), ("bitmod-mixed3", 3), ("fp8-e4m3", 8),
    ("fp8-e5m2", 8), ("mxfp8-e4m3", 8), ("mxfp6-e2m3", 6), ("mxfp4", 4), ("mxint8", 8), ("nvfp4", 4),
    ("ant-pot4", 4), ("fp16", 16), ("binary (1-bit)", None)])
def test_nominal_bits_reads_the_element_width_not_the_exponent_split(name, bits):
    assert report_intfp.nominal_bits(name) == bits


@pytest.mark.parametrize("name, family", [
    ("int8", "INT (integer-coded)"), ("ovp-flint4", "INT (integer-coded)"), ("fp8-e5m2", "FP"),
    ("mxint8", "MX INT (block-scaled)"), ("mxfp8-e4m3", "MX FP (block-scaled)"),
    ("mxfp4", "MX FP (block-scaled)"), ("nvfp4", "NVFP (block-scaled)")])
def test_family_from_the_weight_format(name, family):
    assert report_intfp.family(name) == family


def _tables(formats):
    """Minimal report tables for designs named after their (weight format, act format)."""
    designs, quant, costs, area, energy = [], [], [], [], []
    for i, (w, a) in enumerate(formats):
        d = f"D{i} {w}"
        designs.append({"design": d, "pe": f"pe{i}"})
        quant.append({"design": d, "weight_format": w, "act_format": a, "weight_scaling": "block 32 E8M0",
                      "gemm_out_sqnr_db": 10.0 + i})
        for budget, (r, c) in (("equal PE count", (32, 32)), ("equal area", (20 + i, 30))):
            costs.append({"design": d, "budget": budget, "workload": "minilm-l6", "rows": r, "cols": c,
                          "area_mm2": 1.0 + i, "pj_per_mac": 2.0 + i, "tops_bounded": 0.5 + i,
                          "fmax_mhz": 800.0 + i, "tops_bounded_fmax": 0.6 + i})
            area.append({"design": d, "budget": budget, "rows": r, "cols": c, "pes_mm2": 1.024 * (i + 1)})
            energy.append({"design": d, "budget": budget, "workload": "minilm-l6", "pes_pj_per_mac": 0.1 * i})
    return {"designs.csv": pd.DataFrame(designs), "quant_error.csv": pd.DataFrame(quant),
            "costs.csv": pd.DataFrame(costs), "area_breakdown.csv": pd.DataFrame(area),
            "energy_breakdown.csv": pd.DataFrame(energy)}


def test_rows_appear_for_any_registered_format_in_blocks():
    tables = _tables([("int8", "int8"), ("mxfp4", "mxfp4"), ("fp8-e4m3", "fp8-e4m3"), ("binary (1-bit)", "int8"),
                      ("nvfp4", "nvfp4"), ("mxint8", "mxint8"), ("fp16", "fp16"), ("int4-asym", "int8")])
    frame = report_intfp.int_vs_fp(tables)
    # 1-bit and 16-bit formats are not in the comparison; 8-bit block first, INT before FP before MX
    assert list(frame.design) == ["D0 int8", "D2 fp8-e4m3", "D5 mxint8", "D7 int4-asym", "D1 mxfp4",
                                  "D4 nvfp4"]
    assert list(frame.block) == ["8-bit weights"] * 3 + ["4-bit weights"] * 3
    row = frame.set_index("design").loc["D1 mxfp4"]
    assert row.family == "MX FP (block-scaled)" and row.weight_scaling == "block 32 E8M0"
    assert row.pe_area_um2 == pytest.approx(1.024 * 2 * 1e6 / 1024)       # one PE of the 32x32 array
    assert (row.gemm_out_sqnr_db, row.pj_per_mac, row.pe_pj_per_mac) == (11.0, 3.0, pytest.approx(0.1))
    assert (row.fmax_mhz, row.tops_bounded, row.tops_bounded_fmax) == (801.0, 1.5, 1.6)
    assert row.ea_shape == "21x30"
    assert row.pe_area_osu018_um2 != row.pe_area_osu018_um2        # NaN: no timing table given


def test_no_timing_leaves_the_fmax_columns_empty():
    tables = _tables([("int8", "int8")])
    tables["costs.csv"] = tables["costs.csv"].drop(columns=["fmax_mhz", "tops_bounded_fmax"])
    row = report_intfp.int_vs_fp(tables).iloc[0]
    assert row.fmax_mhz != row.fmax_mhz and row.tops_bounded_fmax != row.tops_bounded_fmax


@pytest.mark.parametrize("text, short", [
    ("group of 128 along K per output column (K zero-padded to 256)", "group 128"),
    ("output channel (column of K x N)", "per channel"), ("channel", "per channel"),
    ("block 16 E4M3 + per-tensor FP32", "block 16 E4M3 + per-tensor FP32"), ("none", "per tensor")])
def test_short_scaling(text, short):
    assert report_intfp.short_scaling(text) == short
