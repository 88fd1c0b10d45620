"""The MX / NVFP4 PE's FP32 conversion is counted as synthesis builds it: only the paths the
format's value ranges reach (models.mx_gemm.conversion_paths), each part at its real width.

The ranges are checked against the block values themselves (real numbers, not the converter's
biased-exponent arithmetic), the inventory against Yosys/osu018 synthesis of
:meth:`hw.pe_mx.MxPE._to_fp32` alone (a few seconds each; cached in ~/.cache/pearray/synth).
"""

from fractions import Fraction

import pytest
from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module, Signal, signed

from hw.fp32_add import SIG32_BITS
from hw.pe import facts_only
from hw.pe_mx import E4M3_SCALE_EXP_BITS, FORMATS, SCALE_BITS, MxPE, scale_terms
from models import cost_vs_synth, synth, tech
from models.cost_primitives import primitive
from models.mx_gemm import conversion_items, conversion_paths, mx_pe_items
from models.registry import get_kind
from tests.tools import require_synthesis

#: the issue-14 target: model area within +-10 % of synthesis
TARGET = 0.10
FP32_MIN_NORMAL = Fraction(1, 2 ** 126)
FP32_MAX = Fraction(2 ** 24 - 1, 2 ** 23) * 2 ** 127


def _scale_exponent_max(fmt):
    """The largest ``x`` the converter's input can carry: two 8-bit E8M0 codes (0xFF included:
    the hardware does not know it never ends a block) or two E4M3 exponent shifts max(e, 1) - 1."""
    if fmt.scale == "e8m0":
        return 2 * (2 ** SCALE_BITS - 1)
    return 2 * (2 ** E4M3_SCALE_EXP_BITS - 2)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_conversion_paths_follow_the_block_values(name):
    """The smallest nonzero block value (|T| = 1, x = 0) is an FP32 subnormal exactly when the
    denormalising path exists; the largest (|T| all ones, x at its maximum) reaches FP32's
    largest finite value exactly when the saturation select exists; without subnormals nothing
    rounds when |T| fits the 24-bit significand."""
    fmt = FORMATS[name]
    extra_bits, x0 = scale_terms(fmt)
    magnitude_bits = fmt.sum_bits + extra_bits - 1
    paths = conversion_paths(fmt)
    assert paths.magnitude_bits == magnitude_bits
    smallest = Fraction(1, 2 ** x0)
    largest = (2 ** magnitude_bits - 1) * Fraction(2) ** (_scale_exponent_max(fmt) - x0)
    assert paths.subnormal == (smallest < FP32_MIN_NORMAL)
    assert paths.rounds == (paths.subnormal or magnitude_bits > SIG32_BITS)
    assert paths.saturates == (largest >= FP32_MAX)


def test_nvfp4_conversion_is_exact_and_e8m0_is_not():
    """NVFP4's 20-bit |T| scaled by two E4M3 exponents never leaves FP32's normal range: its
    conversion has no denormalising shift, no rounding and no saturation (the old inventory
    counted all three: +22 % on the PE); E8M0 scales reach both ends of the range."""
    assert conversion_paths(FORMATS["nvfp4"])[2:] == (False, False, False)
    for name in ("mxfp4", "mxfp6-e2m3", "mxint8", "mxfp8-e4m3"):
        assert conversion_paths(FORMATS[name])[2:] == (True, True, True)
    prims = {prim for prim, *_ in conversion_items(FORMATS["nvfp4"])}
    assert prims.isdisjoint({"shiftn", "eq", "inc"})


class _Conversion(Elaboratable):
    """:meth:`hw.pe_mx.MxPE._to_fp32` alone: ``t`` and ``x`` as wide as the PE drives them."""

    def __init__(self, pe):
        self.pe = pe
        f = pe.mx_format
        extra_bits, self.x0 = scale_terms(f)
        self.t = Signal(signed(f.sum_bits + extra_bits))
        self.x = Signal(_scale_exponent_max(f).bit_length())
        self.word = Signal(32)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.word.eq(self.pe._to_fp32(m, self.t, self.x, self.x0))
        return m


@pytest.mark.parametrize("name", ["nvfp4", "mxfp4"])
def test_conversion_area_is_what_synthesis_builds(name):
    """The conversion's inventory against its synthesised area (was +241 % NVFP4, +60 % MXFP4:
    full-frame denormalising shifts, a 31-bit adder for the RNE increment, dead paths counted)."""
    require_synthesis()
    unit = _Conversion(facts_only(MxPE(format=name)))   # only its _to_fp32 is built
    text = verilog.convert(unit, name=f"mx_conversion_{name}", ports=[unit.t, unit.x, unit.word],
                           emit_src=False)
    synth_um2 = synth.synthesize_verilog(text, f"mx_conversion_{name}").area_um2
    model = sum(n * primitive(prim, *widths).area_um2
                for prim, widths, n, _ in conversion_items(unit.pe.mx_format))
    assert abs(model / (synth_um2 * tech.value("scale.area.180_to_45")) - 1) <= TARGET


def test_partial_clear_merges_with_the_reset():
    """``partial`` is cleared at a block's end and loaded otherwise, when valid: Yosys merges the
    clear into the flop's synchronous reset (a gate per D bit, ``and``), not a 2:1 select."""
    require_synthesis()
    pe = get_kind("mx").prototype(format="mxfp6-e2m3")
    w = pe.partial_bits
    text = (f"module partial_clear(clk, rst, valid, ends, d, q); input clk, rst, valid, ends; "
            f"input [{w - 1}:0] d; output reg [{w - 1}:0] q;\n  always @(posedge clk) if (rst) q <= 0; "
            f"else if (valid) q <= ends ? {w}'d0 : d;\nendmodule\n")
    synth_um2 = synth.synthesize_verilog(text, "partial_clear").area_um2
    items = [(prim, widths) for prim, widths, _, _ in mx_pe_items(pe)
             if prim in ("and", "mux", "reg_en") and widths[-1] == w]
    assert sorted(items) == [("and", (w,)), ("reg_en", (w,))]
    model = sum(primitive(prim, *widths).area_um2 for prim, widths in items)
    assert abs(model / (synth_um2 * tech.value("scale.area.180_to_45")) - 1) <= TARGET


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nvfp4", "mxfp4", "mxfp6-e3m2", "mxfp6-e2m3"])
def test_narrow_mx_pe_is_within_the_target(name):
    """The whole PE (was +22 % NVFP4, +10 % MXFP4, +11 % MXFP6-E3M2, +19 % MXFP6-E2M3; E2M3 is
    at +9.96 %: its PE alone synthesises 8 % smaller than each PE of its 2 x 2 array, +1.0 %).
    Yosys: about a minute each."""
    require_synthesis()
    options = (("format", name), ("sub_block", 8))
    model = cost_vs_synth.unit_area_um2("mx", "pe", options)
    synth_um2 = synth.synthesize("mx", unit="pe", pe_options=options).area_um2
    assert abs(model / (synth_um2 * tech.value("scale.area.180_to_45")) - 1) <= TARGET
