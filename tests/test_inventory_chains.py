"""Weight-stationary arrays are counted as synthesis builds their accumulation chains: flop bits
exactly, areas within the issue-14 target (models.inventory's chain and the kinds' inventories
against Yosys/osu018; a few seconds each, cached in ~/.cache/pearray/synth)."""

import pytest

from hw.pe_wfp16 import SIG_BITS, lookup_weight_format
from models import cost_vs_synth, inventory, synth, tech
from models.cost_primitives import primitive
from models.lmul_gemm import lmul_zero_bits
from models.registry import get_kind
from tests.tools import require_synthesis

#: the issue-14 target: model area within +-10 % of synthesis
TARGET = 0.10


@pytest.fixture
def tools():
    require_synthesis()


def _flops(items):
    return sum(i.count * primitive(i.prim, *i.widths).flop_bits for i in items)


def _area_error(pe, options, rows, cols):
    flow = get_kind(pe).dataflows[0]
    model = cost_vs_synth.unit_area_um2(pe, pe_options=options, rows=rows, cols=cols, dataflow=flow)
    r = synth.synthesize(pe, rows=rows, cols=cols, dataflow=flow, pe_options=options)
    return model / (r.area_um2 * tech.value("scale.area.180_to_45")) - 1


@pytest.mark.parametrize("fmt, zero_bits", [("e4m3", 1), pytest.param("e5m2", 0, marks=pytest.mark.slow)])
def test_lmul_product_low_bits_are_wiring(tools, fmt, zero_bits):
    """L-Mul's significand is moved up by the constant M - 2 before its shift: those product bits
    are 0, and so are the same acc_out bits down a weight-stationary column (e4m3: one flop less
    per PE and per deskew stage; the old count was 5 flops over in 2 x 2 and the array +13.7 %)."""
    options = (("format", fmt),)
    proto = get_kind("lmul").prototype(**dict(options))
    assert lmul_zero_bits(proto) == zero_bits
    items = inventory.array_items_ws(proto, 2, 2)
    assert _flops(items) == synth.synthesize("lmul", rows=2, cols=2, pe_options=options).flop_bits
    assert abs(_area_error("lmul", options, 2, 2)) <= TARGET


@pytest.mark.parametrize("weight_format", ["int8", "int4"])
def test_wfp16_product_is_an_unsigned_by_signed_multiply(tools, weight_format):
    """The FP16 significand (hidden bit, sign bit the constant 0) times the signed weight
    integer, negated by the activation's sign: synthesis builds an unsigned x signed multiplier
    and one conditional negation (the old 12-bit signed multiplier, negation and select were
    +27 % on this product and put the W8A16 2 x 2 array at +14 %)."""
    proto = get_kind("wfp16").prototype(weight_format=weight_format)
    B, i_bits = proto.mult_bits, lookup_weight_format(weight_format).int_width
    text = (f"module product(man, i, s, y); input [{SIG_BITS - 1}:0] man; input signed [{i_bits - 1}:0] i; "
            f"input s; output signed [{B}:0] y;\n  wire signed [{B - 1}:0] p = $signed({{1'b0, man}}) * i;\n"
            f"  assign y = s ? -p : p;\nendmodule\n")
    synth_um2 = synth.synthesize_verilog(text, "product").area_um2 * tech.value("scale.area.180_to_45")
    items = [(prim, widths) for prim, widths, _, _ in inventory.unit_items(proto) if prim in ("usmult", "cneg")]
    assert [prim for prim, _ in items] == ["usmult", "cneg"]
    model = sum(primitive(prim, *widths).area_um2 for prim, widths in items)
    assert abs(model / synth_um2 - 1) <= TARGET


@pytest.mark.slow
def test_w8a16_array_is_within_the_target(tools):
    """W8A16 INT8 (FP16 act) 2 x 2 (was +14.0 %). Yosys: about 15 s."""
    assert abs(_area_error("wfp16", (("weight_format", "int8"),), 2, 2)) <= TARGET
