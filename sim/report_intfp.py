"""The report's "INT vs FP" table: is integer or floating point, per-channel or micro-scaled,
cheaper in silicon at the same quality?

One table over the registry's designs (no list of names: a kind registered later, e.g. the MX
block-scaled formats, appears by itself), in blocks by the nominal weight precision of the format
(the digits of its name: ``int8``, ``fp8-e4m3``, ``mxfp4``, ``bitmod-mixed4`` ...; 8, 6 and 4 bits,
the widths the trade-off is argued at): per design its number family, element formats, how the
weights are scaled, the quantisation error on the same real tensors as every other design (the
report's quant_error.csv), the PE's area (model at 45 nm and synthesised on osu018), energy per
MAC (the PEs' share and the total with buffers and DRAM, MiniLM-L6), Fmax (timing.csv), and
throughput at an equal PE count (32x32) and at an equal area (the INT8 32x32 area), each at the
common clock and at the design's own Fmax.
"""

import re

import numpy as np
import pandas as pd

WORKLOAD = "minilm-l6"
# the nominal weight widths the table compares, widest first
BLOCK_BITS = (8, 6, 4)
# number families by the weight format's name, first match wins (the MX ones before plain FP)
FAMILIES = (("mxint", "MX INT (block-scaled)"), ("mxfp", "MX FP (block-scaled)"),
            ("nvfp", "NVFP (block-scaled)"), ("fp", "FP"))
INTEGER_FAMILY = "INT (integer-coded)"
FAMILY_ORDER = (INTEGER_FAMILY, "FP", "MX INT (block-scaled)", "MX FP (block-scaled)", "NVFP (block-scaled)")


def nominal_bits(format_name):
    """The element width a format's name states (``int4-asym`` 4, ``fp8-e4m3`` 8, ``mxfp4`` 4,
    ``ovp-int4`` 4, ``bitmod-mixed3`` 3), or None (``binary (1-bit)``): the first dash-separated
    part that is letters then digits (so ``e4m3`` is not read)."""
    for part in str(format_name).split("-"):
        found = re.fullmatch(r"[a-z]+(\d+)", part)
        if found:
            return int(found[1])
    return None


def family(format_name):
    name = str(format_name)
    return next((label for prefix, label in FAMILIES if name.startswith(prefix)), INTEGER_FAMILY)


def short_scaling(granularity):
    """A quantiser's granularity text, shortened for a table cell."""
    g = str(granularity or "").strip()
    group = re.match(r"group of (\d+)", g)
    if group:
        return f"group {group[1]}"
    if g.startswith("block"):
        return g
    if "channel" in g:
        return "per channel"
    return "per tensor" if g in ("", "none", "tensor", "per tensor") else g


def int_vs_fp(tables):
    """int_vs_fp.csv from the report's tables (designs, quant_error, costs, area and energy
    breakdowns, and timing.csv when timing ran): one row per design in a block of
    :data:`BLOCK_BITS`."""
    designs = tables["designs.csv"].set_index("design")
    quant = tables["quant_error.csv"].set_index("design")
    costs = tables["costs.csv"]
    costs = costs[costs.workload == WORKLOAD]
    pe_count = costs[costs.budget == "equal PE count"].set_index("design")
    area = costs[costs.budget == "equal area"].set_index("design")
    breakdown = tables["area_breakdown.csv"]
    breakdown = breakdown[breakdown.budget == "equal PE count"].set_index("design")
    energy = tables["energy_breakdown.csv"]
    energy = energy[(energy.workload == WORKLOAD) & (energy.budget == "equal PE count")].set_index("design")
    units = tables.get("timing_units.csv")
    synth_pe = ({} if units is None else
                units[units.unit == "pe"].set_index("design").area_osu018_um2.to_dict())
    rows = []
    for design in designs.index:
        q = quant.loc[design]
        bits = nominal_bits(q.weight_format)
        if bits not in BLOCK_BITS:
            continue
        p, a, b = pe_count.loc[design], area.loc[design], breakdown.loc[design]
        rows.append({
            "block": f"{bits}-bit weights", "design": design, "pe": designs.loc[design, "pe"],
            "family": family(q.weight_format), "weight_format": q.weight_format,
            "act_format": q.act_format, "weight_scaling": short_scaling(q.get("weight_scaling")),
            "gemm_out_sqnr_db": q.gemm_out_sqnr_db,
            "pe_area_um2": round(b.pes_mm2 * 1e6 / (b.rows * b.cols), 1),
            "pe_area_osu018_um2": synth_pe.get(design, np.nan),
            "array_area_mm2": p.area_mm2,
            "pe_pj_per_mac": energy.loc[design, "pes_pj_per_mac"], "pj_per_mac": p.pj_per_mac,
            "fmax_mhz": p.get("fmax_mhz", np.nan),
            "tops_bounded": p.tops_bounded, "tops_bounded_fmax": p.get("tops_bounded_fmax", np.nan),
            "ea_shape": f"{a.rows}x{a.cols}", "ea_tops_bounded": a.tops_bounded,
            "ea_tops_bounded_fmax": a.get("tops_bounded_fmax", np.nan)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["_block"] = [-int(b.split("-")[0]) for b in frame.block]
    frame["_family"] = [FAMILY_ORDER.index(f) for f in frame.family]
    return (frame.sort_values(["_block", "_family", "gemm_out_sqnr_db"], ascending=[True, True, False])
            .drop(columns=["_block", "_family"]).reset_index(drop=True))


COLUMNS = ("design, pe, block (nominal weight bits from the format's name), family (INT / FP / MX "
           "block-scaled, from the weight format), weight_format, act_format, weight_scaling (the "
           "weight quantiser's granularity), gemm_out_sqnr_db (as quant_error.csv: the same real "
           "tensors for every design), pe_area_um2 (model, 45 nm, one PE), pe_area_osu018_um2 "
           "(synthesised PE, osu018; NaN without synthesis), array_area_mm2 (32x32 with borders "
           "and buffers), pe_pj_per_mac (the PEs' energy), pj_per_mac (total incl. SRAM and "
           "DRAM), fmax_mhz (timing.csv), tops_bounded / tops_bounded_fmax (32x32, DRAM-bounded, "
           "at the common clock / at Fmax), ea_shape, ea_tops_bounded, ea_tops_bounded_fmax (the "
           "same at an equal area); MiniLM-L6, 45 nm")

