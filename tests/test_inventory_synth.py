"""The inventories count what Yosys builds: flop bits exactly, areas within the issue-14 target.

Each test guards one counting rule (models.inventory and the kinds' inventories) against the
synthesised netlist (models.synth, osu018; cached in ~/.cache/pearray/synth): the post-array
scale dequantiser's folded Horner step, the weight-stationary accumulation chain of the wfp16
PE, the shift-add PE's narrow term adders, the MX PE's lane (decode tables, shiftn, cneg)
and FP32 conversion (lead1), and the OVP pair decoder's shared victim compares. Skipped without
Yosys / the liberty, except under CI=true.
"""

import collections
import re

import pytest

from hw.ovp_decoder import MODES, OvpPairDecoder
from models import cost_vs_synth, inventory, synth
from models.ant_gemm import ant_declared_out
from models.cost_primitives import primitive
from models.registry import get_kind
from tests.tools import require_synthesis

#: the issue-14 target: model area within +-10 % of synthesis
TARGET = 0.10
WFP16_G128 = (("group_size", 128), ("weight_format", "int4"))
BITSERIAL_INT8_G128 = (("group_size", 128), ("weight_format", "int8"))
BITSERIAL_MIXED4_G128 = (("group_size", 128), ("weight_format", "mixed4"))
BITSERIAL_MIXED3_G128 = (("group_size", 128), ("weight_format", "mixed3"))
ANT_INT4 = (("act_type", "int4"), ("weight_type", "int4"))


@pytest.fixture
def tools():
    require_synthesis()


def _flops(items):
    return sum(n * primitive(prim, *widths).flop_bits for prim, widths, n, _ in items)


@pytest.mark.parametrize("pe, options", [("wfp16", WFP16_G128), ("bitserial", BITSERIAL_INT8_G128)])
def test_post_array_flops_are_the_synthesised_flops(tools, pe, options):
    """wfp16 takes a whole code per cycle (the code register is constant: the Horner step and
    the raw register fold), BitMoD INT8 a digit per cycle (they stay)."""
    unit = synth.post_array_unit(get_kind(pe).prototype(**dict(options)))
    assert _flops(inventory.unit_items(unit)) == synth.synthesize(
        pe, unit="post_array", pe_options=options).flop_bits


@pytest.mark.parametrize("rows", [1, 2, pytest.param(3, marks=pytest.mark.slow)])
def test_wfp16_column_flops_follow_the_accumulation_chain(tools, rows):
    """A weight-stationary column keeps only each row's significant sum bits (row 0 adds to 0)."""
    proto = get_kind("wfp16").prototype(weight_format="int4")
    items = inventory.array_items_ws(proto, rows, 1)
    flops = sum(i.count * primitive(i.prim, *i.widths).flop_bits for i in items)
    assert flops == synth.synthesize("wfp16", rows=rows, cols=1, pe_options=(("weight_format", "int4"),)).flop_bits


def _error(pe, options, unit=None, rows=None):
    if unit is not None:
        model = cost_vs_synth.unit_area_um2(pe, unit, options)
        r = synth.synthesize(pe, unit=unit, pe_options=options)
    else:
        flow = get_kind(pe).dataflows[0]
        model = cost_vs_synth.unit_area_um2(pe, pe_options=options, rows=rows, cols=rows, dataflow=flow)
        r = synth.synthesize(pe, rows=rows, cols=rows, dataflow=flow, pe_options=options)
    return model / (r.area_um2 * cost_vs_synth.tech.value("scale.area.180_to_45")) - 1


@pytest.mark.parametrize("pe, options, unit, rows", [
    ("wfp16", WFP16_G128, "post_array", None),        # was +121 % (the folded Horner step counted)
    ("bitserial", BITSERIAL_MIXED4_G128, "post_array", None),   # was +12 % (d ANDs + d - 1 adds, not one $macc)
    ("bitserial", BITSERIAL_INT8_G128, "post_array", None),     # was +7 %
    ("wfp16", (("weight_format", "int4"),), None, 2),  # was +45 % (no accumulation chain)
    ("wfp16", (("weight_format", "ovp4"),), None, 2),  # was +28 %
    ("shiftadd", (), None, 2),                         # was +15 % (term adders act_width + b wide)
    # was -19.5 % (acc_out narrowed by value range); -12 % while the four merged 4x4 product
    # ports of the step's $macc were counted as smult at their own 8 bits (maccmap sign-extends
    # them to the sum's width: smult / mac with n products)
    ("ant", ANT_INT4, None, 2),
    # was +20 % (the fused mode's shifted nibble products counted as full-width csa addends)
    ("ant", (("act_type", "int8"), ("weight_type", "int8")), None, 2),
    ("bitfusion", (("act_bits", 8), ("weight_bits", 4)), None, 2),   # was +47 % (one add per brick)
    ("lut", (), "act_border", None),    # was +12.8 % (the sign tree counted as add/subtract pairs)
    # OVP pair decoders: were +18.9 % / +9.1 % (each victim compare counted next to the lookup that
    # contains it); int8 keeps its compares (-17 % without them: they gate the negation chains)
    ("ovp", (), "act_border", None),
    ("ovp", (("mode", "flint4"),), "act_border", None),
    ("ovp", (("mode", "int8"),), "act_border", None),
    # was +13.5 % (and: the row-0 PE's final add is the Horner add; the negation and select one scneg)
    ("lut", (("weight_bits", 1),), None, 2),
    # were -29.4 % / -20.3 % (the encoder written as a magnitude table and leading-one
    # searches, which synthesis only partly merges; now it is the lookup the inventory counts)
    ("bitserial", BITSERIAL_MIXED4_G128, "weight_border", None),
    ("bitserial", BITSERIAL_MIXED3_G128, "weight_border", None),
    # was +12.5 % (the PE's shifter and accumulate operand 7 shifts wide; mixed3 shifts by <= 2)
    ("bitserial", BITSERIAL_MIXED3_G128, None, 2),
    # was +14 % (negate + select per lane, not one cneg; the acc_in select is the slot's gate); ~30 s
    pytest.param("bitserial_fp16", (("weight_format", "mixed4"),), None, 2, marks=pytest.mark.slow),
])
def test_fixed_units_are_within_the_target(tools, pe, options, unit, rows):
    assert abs(_error(pe, options, unit, rows)) <= TARGET


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mxfp8-e4m3", "mxfp8-e5m2", "mxint8"])
def test_mx_pe_is_within_the_target(tools, fmt):
    """Was +46 % / +66 % / -7 % (full barrel shifters, decode compares, a frame:1 mux for the
    leading-zero count; MXINT8's products counted unsigned). Yosys takes 0.5-3 min each."""
    assert abs(_error("mx", (("format", fmt), ("sub_block", 8)), "pe")) <= TARGET


@pytest.mark.parametrize("dataflow, rows, cols", [
    ("ws", 3, 2), ("os", 2, 2), pytest.param("os", 3, 2, marks=pytest.mark.slow),
    pytest.param("os", 2, 3, marks=pytest.mark.slow)])
def test_array_token_chains_merge_as_synthesis_merges_them(tools, dataflow, rows, cols):
    """The valid / bank (ws) and valid / first / last (os) bits of every token stage are the
    array inputs delayed by the stage's depth: one flop per distinct depth, not per stage; the
    os capture delays depend on r + c only. The INT8 array's flops are then counted exactly."""
    proto = get_kind("int8").prototype()
    items = inventory.ARRAY_INVENTORIES[dataflow](proto, rows, cols)
    flops = sum(i.count * primitive(i.prim, *i.widths).flop_bits for i in items)
    assert flops == synth.synthesize("int8", rows=rows, cols=cols, dataflow=dataflow).flop_bits


@pytest.mark.parametrize("weight_format", ["int8", "mixed4"])
def test_term_operand_registers_keep_what_synthesis_keeps(tools, weight_format):
    """The weight banks and lanes hold the term encoder's operand: its always-0 bits fold, its
    always-1 bits (Booth's shift 2i) share one flop, every other bit stays, equal bits once
    (mixed4's two sign bits: one column of the encoder's lookup). Flops of a 1 x 2 array exactly."""
    options = (("weight_format", weight_format),)
    proto = get_kind("bitserial").prototype(**dict(options))
    items = inventory.array_items_ws(proto, 1, 2)
    flops = sum(i.count * primitive(i.prim, *i.widths).flop_bits for i in items)
    assert flops == synth.synthesize("bitserial", rows=1, cols=2, pe_options=options).flop_bits


def test_lut_lanes_merge_the_entries_shared_low_bits(tools):
    """LUT W1A8 2 x 1: the row-1 skew stage holds the table's 88 entry bits less the 4 low bits
    that entries j and j ^ 4 (one partial sum plus and minus a3) share; its flops exactly."""
    options = (("weight_bits", 1),)
    proto = get_kind("lut").prototype(**dict(options))
    items = inventory.array_items_ws(proto, 2, 1)
    flops = sum(i.count * primitive(i.prim, *i.widths).flop_bits for i in items)
    result = synth.synthesize("lut", rows=2, cols=1, pe_options=options)
    assert flops == result.flop_bits
    # the operand bits the lane keeps, bank bit aside (it rides in the same register)
    assert _register_flops(result)["skew_r1_data0"] - 1 == inventory._operand_widths(proto)[0]


def _register_flops(result):
    """{register name: mapped flops} of a synthesised netlist (each DFF's Q net, bit index dropped)."""
    counts = collections.Counter()
    for ports in re.findall(r"DFFPOSX1\s+\S+\s*\((.*?)\);", result.netlist(), re.S):
        q = re.search(r"\.Q\(([^)]*)\)", ports).group(1).strip()
        counts[re.sub(r"\[\d+\]$", "", q).lstrip("\\").strip()] += 1
    return counts


@pytest.mark.parametrize("options", [ANT_INT4, (("act_type", "flint4"), ("weight_type", "flint4")),
                                     (("act_type", "int8"), ("weight_type", "int8"))])
def test_ant_array_registers_keep_what_synthesis_keeps(tools, options):
    """ANT 2 x 2: a weight bank holds the decoder operand's distinct varying bits (int4: an
    integer's two sign-extension bits are one, 4 per element; the array carries no others). With
    a variable shift (flint4) acc_out keeps acc_width flops below row 0 and so do the output
    deskew registers (the sum of shifter outputs is not narrowed); with constant shifts (int4,
    the fused mode) each row keeps the add chain's width, row 0 included."""
    proto = get_kind("ant").prototype(**dict(options))
    flops = _register_flops(synth.synthesize("ant", rows=2, cols=2, pe_options=options))
    bank = inventory._bank_bits(proto)
    assert [flops[f"w{b}_{r}_{c}"] for b in (0, 1) for r in (0, 1) for c in (0, 1)] == [bank] * 8
    assert flops["wlane_c1_d0"] == bank
    out = inventory._out_bits(proto, 2, "ws")
    assert flops["pe_1_0.acc_out"] == flops["pe_1_1.acc_out"] == flops["deskew_c0_d0"] == out
    items = inventory.array_items_ws(proto, 2, 2)
    assert ("reg", (out,)) in {(i.prim, i.widths) for i in items if i.group == "edge_regs"}
    regs = {(i.prim, i.widths) for i in items if i.group == "pes" and i.prim.startswith("reg")}
    if ant_declared_out(proto):
        assert out == proto.acc_width and regs == {("reg_en", (proto.acc_width,))}
    else:
        assert out < proto.acc_width
        assert regs == {("reg_en", (flops["pe_0_0.acc_out"],)), ("reg_en", (flops["pe_1_0.acc_out"],))}


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_lmul_zero_gate_folds_into_the_shifter(tools, fmt):
    """L-Mul's flush-to-zero gate on the shifted mantissa: synthesis folds it into the shifter's
    input (a gate as wide as the M + 1 significand bits), not a product_bits-wide AND."""
    from models.fp8_gemm import fp8_format
    pe = get_kind("lmul").prototype(format=fmt)
    _, M, _ = fp8_format(pe.format)
    P, s = pe.product_bits, 8 - M
    text = (f"module gated(m, sh, z, y); input [{M}:0] m; input [{s - 1}:0] sh; input z; "
            f"output [{P - 1}:0] y;\n  wire [{P - 1}:0] v = {{m, {M - 2}'d0}} << sh;\n"
            f"  assign y = z ? {P}'d0 : v;\nendmodule\n") if M > 2 else (
            f"module gated(m, sh, z, y); input [{M}:0] m; input [{s - 1}:0] sh; input z; "
            f"output [{P - 1}:0] y;\n  wire [{P - 1}:0] v = m << sh;\n"
            f"  assign y = z ? {P}'d0 : v;\nendmodule\n")
    synth_um2 = synth.synthesize_verilog(text, "gated").area_um2 * cost_vs_synth.tech.value("scale.area.180_to_45")
    items = [(prim, widths) for prim, widths, _, _ in inventory.unit_items(pe) if prim in ("shiftn", "and")]
    model = sum(primitive(prim, *widths).area_um2 for prim, widths in items)
    assert abs(model / synth_um2 - 1) <= TARGET


@pytest.mark.parametrize("weight_format", ["mixed4", "mixed3", "fp3", "int8"])
def test_term_fields_are_the_formats_largest_shift(weight_format):
    """In an array the PE's shifter keeps the amount bits of the largest shift the column's term
    encoder can give: an fp format's largest magnitude's leading one (mixed3: 6 -> 2, not the 7
    SHIFT_BITS allow), Booth's top digit 2(terms - 1) + 1."""
    from hw.bitserial_terms import weight_format as lookup
    fmt = lookup(weight_format)
    if fmt.kind == "booth":
        top = 2 * (fmt.terms - 1) + 1
    else:
        top = (max(fmt.magnitudes + tuple(abs(v) for v in fmt.special_values or ())).bit_length() - 1)
    assert inventory.term_fields(fmt)[1] == top
    pe = get_kind("bitserial").prototype(weight_format=weight_format)
    shifters = {w for p, w, _, _ in inventory.bitserial_pe_items(pe, bordered=True) if p == "shiftn"}
    assert shifters == ({(pe.act_width, top.bit_length(), pe.act_width + top)} if top else set())


@pytest.mark.parametrize("mode", ["int4", "flint4", "int8"])
def test_ovp_negation_chain_is_the_outlier_magnitudes_carry(mode):
    """The OVP decoder's compares are counted only where negating an outlier magnitude
    ``2**M + m`` is a carry chain: some bit of ``-x`` depends on two or more mantissa bits."""
    fmt = MODES[mode]
    M, I = fmt.mant_bits, fmt.int_width
    neg = [(-((1 << M) | m)) % (1 << I) for m in range(1 << M)]
    fan_in = [sum(any((neg[m] ^ neg[m ^ (1 << j)]) >> b & 1 for m in range(1 << M)) for j in range(M))
              for b in range(I)]
    assert inventory.ovp_negation_chain(fmt) == (max(fan_in) >= 2)
    compares = [w for p, w, _, _ in inventory.ovp_decoder_items(OvpPairDecoder(mode=mode)) if p == "eqc"]
    assert compares == ([(fmt.bits,)] if max(fan_in) >= 2 else [])
