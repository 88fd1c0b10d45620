"""The BitMoD term encoder and bit-serial PE alone (Amaranth's simulator), against references
written from the spec: every code of every format, every activation for the PE."""

import re

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from hw.bitserial_terms import FORMATS, TERM_WIDTH, TermEncoder
from hw.pe_bitserial import BitSerialPE
from models.bitserial_gemm import decode_weight_codes, encode_weight_values, term_planes
from models.golden import wrap_signed
from models.quant.bitmod import LEVELS, UNIT
from sim.pe_driver import PEStep, run_steps
from hw.scale_dequant import BitSerialScaleDequant

FORMAT_NAMES = tuple(FORMATS)

# spec section 2, in code units (FP4 values x 2): basic magnitudes and the SV register order
# er_pos, er_neg, ea_pos, ea_neg
SPEC_MAGNITUDES = {"fp4": [0, 0.5, 1, 1.5, 2, 3, 4, 6], "fp3": [0, 1, 2, 4]}
SPEC_SPECIAL = {"mixed4": [5, -5, 8, -8], "mixed3": [3, -3, 6, -6]}


def _spec_value(code, fmt):
    """A code's value in code units, straight from the spec tables (no shared code)."""
    if fmt in ("int8", "int6"):
        bits = 8 if fmt == "int8" else 6
        return code - (1 << bits) if code >= 1 << (bits - 1) else code
    base = "fp4" if fmt in ("fp4", "mixed4") else "fp3"
    unit = 2 if base == "fp4" else 1
    vb = 4 if base == "fp4" else 3
    sign, index, selector = (code >> (vb - 1)) & 1, code & ((1 << (vb - 1)) - 1), code >> vb
    if sign and index == 0 and fmt in SPEC_SPECIAL:
        return int(SPEC_SPECIAL[fmt][selector] * unit)
    mag = int(SPEC_MAGNITUDES[base][index] * unit)
    return -mag if sign else mag


def _all_codes(fmt):
    return list(range(1 << FORMATS[fmt].code_bits))


def _signed_code(code, fmt):
    f = FORMATS[fmt]
    if f.signed_codes and code >= 1 << (f.code_bits - 1):
        return code - (1 << f.code_bits)
    return code


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_golden_decoder_matches_the_spec_tables(fmt):
    codes = [_signed_code(c, fmt) for c in _all_codes(fmt)]
    want = [_spec_value(c, fmt) for c in _all_codes(fmt)]
    assert decode_weight_codes(np.array(codes), fmt).tolist() == want


@pytest.mark.parametrize("fmt", ["fp4", "fp3", "mixed4", "mixed3", "int6", "int8"])
def test_every_quantiser_level_encodes_and_decodes(fmt):
    """Every level the BitMoD quantiser can emit (each SV type, with its selector) has a code."""
    types = {"mixed4": ["fp4_er_pos", "fp4_er_neg", "fp4_ea_pos", "fp4_ea_neg"],
             "mixed3": ["fp3_er_pos", "fp3_er_neg", "fp3_ea_pos", "fp3_ea_neg"]}.get(fmt, [fmt])
    for selector, name in enumerate(types):
        values = np.rint(np.array(LEVELS[name])).astype(np.int64)
        codes = encode_weight_values(values, fmt, selector if fmt.startswith("mixed") else None)
        assert decode_weight_codes(codes, fmt).tolist() == values.tolist()
    if fmt.startswith("mixed"):
        with pytest.raises(ValueError, match="not"):     # an SV of another selector
            encode_weight_values(np.array([SPEC_SPECIAL[fmt][1] * (2 if fmt == "mixed4" else 1)]), fmt, 0)


def _encoder_terms(fmt):
    unit = TermEncoder(weight_format=fmt)
    seen = []

    async def tb(ctx):
        for code in _all_codes(fmt):
            ctx.set(unit.code, code)
            seen.append(ctx.get(unit.operand))

    sim = Simulator(unit)
    sim.add_testbench(tb)
    sim.run()
    return [[((op >> (t * TERM_WIDTH)) & 1, (op >> (t * TERM_WIDTH + 1)) & 1, op >> (t * TERM_WIDTH + 2) & 7)
             for t in range(FORMATS[fmt].terms)] for op in seen]


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_encoder_terms_sum_to_the_value_and_match_the_golden_terms(fmt):
    terms = _encoder_terms(fmt)
    codes = np.array([_signed_code(c, fmt) for c in _all_codes(fmt)])
    values = [_spec_value(c, fmt) for c in _all_codes(fmt)]
    planes = term_planes(decode_weight_codes(codes, fmt), fmt)
    for i, (ts, v) in enumerate(zip(terms, values)):
        got = [(-1 if neg else 1) * (1 << shift) if nz else 0 for nz, neg, shift in ts]
        assert sum(got) == v, (fmt, i, ts, v)
        # the golden model's term planes hold the same terms in the same order (the FP16 mode's
        # accumulator rounds per term, so the order matters); it may list an empty slot more
        T = FORMATS[fmt].terms
        assert got == [int(p[i]) for p in planes[:T]] and all(p[i] == 0 for p in planes[T:]), (fmt, i)
    assert FORMATS[fmt].terms == max(sum(1 for nz, _, _ in ts if nz) for ts in terms)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_pe_every_activation_times_every_code(fmt):
    """All 256 activations x all codes (terms from the encoder), steps back to back at II."""
    pe = BitSerialPE(weight_format=fmt, group_size=None)
    enc_terms = _encoder_terms(fmt)
    operands = [sum((nz | neg << 1 | shift << 2) << (t * TERM_WIDTH) for t, (nz, neg, shift) in enumerate(ts))
                for ts in enc_terms]
    rng = np.random.default_rng(len(fmt))
    pairs = [(a, c) for a in range(-128, 128) for c in range(len(operands))]
    if len(pairs) > 8000:
        keep = rng.choice(len(pairs), 8000, replace=False)
        pairs = [pairs[i] for i in sorted(keep)] + [(-128, c) for c in range(len(operands))]
    acc_in = rng.integers(-(1 << 31), 1 << 31, size=len(pairs))
    steps = [PEStep(a, operands[c], int(acc)) for (a, c), acc in zip(pairs, acc_in)]
    got = wrap_signed(run_steps(pe, steps).outputs, 32).tolist()
    want = [int(wrap_signed(int(acc) + a * _spec_value(c, fmt), 32)) for (a, c), acc in zip(pairs, acc_in)]
    assert got == want
    assert pe.initiation_interval == pe.latency == FORMATS[fmt].terms


def test_term_counts_follow_the_datatype():
    counts = {f: BitSerialPE(weight_format=f).initiation_interval for f in FORMAT_NAMES}
    assert counts == {"int8": 4, "int6": 3, "fp4": 2, "fp3": 1, "mixed4": 2, "mixed3": 2}
    assert BitSerialPE(weight_format="int8").macs_per_cycle == 0.25
    assert UNIT["fp4"] == 0.5     # the code-unit convention the decoder tables assume


def _cells(component):
    return set(re.findall(r"cell (\$\w+)", rtlil.convert(component)))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_pe_and_encoder_have_no_multiplier(fmt):
    assert "$mul" not in _cells(BitSerialPE(weight_format=fmt))
    assert "$mul" not in _cells(TermEncoder(weight_format=fmt))


@pytest.mark.parametrize("kwargs, match", [
    (dict(weight_format="fp5"), "weight_format"), (dict(weight_format=4), "weight_format"),
    (dict(group_size=0), "group_size"), (dict(acc_width=16), "acc_width"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(TypeError, match=match):
        BitSerialPE(**kwargs)


# --------------------------------------------------------------------------------------------
# the digit-serial scale dequantiser


@pytest.mark.parametrize("digit_bits", [1, 2, 3, 4, 8])
def test_scale_dequant_back_to_back_words(digit_bits):
    """Words every ``cycles`` cycles (the fastest the array delivers them), extreme raw sums and
    codes: y = wrap(raw * code) per lane, ``latency`` cycles after in_valid."""
    cols = 3
    unit = BitSerialScaleDequant(cols=cols, acc_width=32, digit_bits=digit_bits)
    assert unit.latency == unit.cycles == -(-8 // digit_bits)
    rng = np.random.default_rng(digit_bits)
    words = 40
    raw = rng.integers(-(1 << 31), 1 << 31, size=(words, cols))
    codes = rng.integers(1, 256, size=(words, cols))
    raw[:3] = [[-(1 << 31), (1 << 31) - 1, -1], [0, 1, -(1 << 31)], [123456, -7, 2 ** 24]]
    codes[:3] = [[255, 255, 1], [1, 255, 128], [255, 2, 129]]
    got = []

    async def tb(ctx):
        out_cycle = {}
        for w in range(words):
            ctx.set(unit.raw, sum((int(v) & 0xFFFFFFFF) << (32 * c) for c, v in enumerate(raw[w])))
            ctx.set(unit.params, sum(int(v) << (8 * c) for c, v in enumerate(codes[w])))
            ctx.set(unit.in_valid, 1)
            for i in range(unit.cycles):
                await ctx.tick()
                ctx.set(unit.in_valid, 0)
                ctx.set(unit.raw, 0)            # sampled with in_valid only
                ctx.set(unit.params, 0)
                if ctx.get(unit.y_valid):
                    y = ctx.get(unit.y)
                    got.append([int(wrap_signed((y >> (32 * c)) & 0xFFFFFFFF, 32)) for c in range(cols)])
                    out_cycle[len(got) - 1] = i + 1
        # the last word leaves ``latency`` cycles after its in_valid
        assert set(out_cycle.values()) == {unit.latency}

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert got == wrap_signed(raw * codes, 32).tolist()


def test_scale_dequant_has_no_multiplier():
    assert "$mul" not in _cells(BitSerialScaleDequant(cols=2, digit_bits=4))
