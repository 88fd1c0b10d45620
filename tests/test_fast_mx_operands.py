"""The row-wise MX weight kernels (:mod:`models.fast_mx_operands`, behind
``models.mx_gemm.weight_rows`` / ``mx_check_operands`` and ``models.fast_golden.mx_fast``)
against what they replace: :func:`models.fast_mx_lanes.decode_lanes` of the transposed codes
(itself pinned to the definition) for the slot codes, :func:`models.fast_golden.lane_extremes`
of its integers for the extremes, and ``_blocks`` of the integers times the scales, cast, for the
block GEMMs' weight operand. Random lane codes of every format and sub-block (special values,
short blocks, K' cut inside a lane), real MiniLM and SmolLM2 weights through the quantiser;
codes the definition must handle (NaN patterns, out-of-range codes, wide slot codes) give None;
the whole MX fast path on prepared weights equals the golden; a perturbed kernel is caught."""

import numpy as np
import pytest

from hw.pe_mx import FORMATS
from models import accuracy as acc, fast_golden as fg, fast_mx_lanes, fast_mx_operands, mx_gemm
from models.realdata import real_gemm
from models.registry import PE_KINDS, GemmOperands
from tests.smollm2_linears import smollm2_linear

KIND = PE_KINDS["mx"]


def _tables(pe):
    values, refused = mx_gemm._element_table(pe.mx_format)
    return values, refused


def _reference(weights, pe):
    """(integers (N, steps, sub_block), slot codes (N, steps), extremes) the general decoder gives."""
    ints, slots = fast_mx_lanes.decode_lanes(np.asarray(weights, dtype=np.int64).T, *_tables(pe), pe)
    return ints, slots, fg.lane_extremes(ints)


def _same(weights, pe, rng):
    """weight_lanes equals the general decoder's slots and extremes; weight_operand equals the
    blocks of its integers times random column scales (float64 and float32) for the codes' own
    block ends and for random ones (short blocks)."""
    weights = np.asarray(weights, dtype=np.int64)
    ints, slots, (top, low) = _reference(weights, pe)
    got = fast_mx_operands.weight_lanes(weights, *_tables(pe), pe)
    assert got is not None
    assert all(x.dtype == np.int64 for x in (got[0], *got[1]))
    assert np.array_equal(got[0], slots) and np.array_equal(got[1][0], top) and np.array_equal(got[1][1], low)
    values = _tables(pe)[0].astype(np.float64)
    steps = slots.shape[1]
    for ends in (np.flatnonzero(slots[0] != mx_gemm.CONTINUE_CODE) if len(slots) else np.zeros(0, int),
                 np.flatnonzero(mx_gemm.random_block_ends(rng, steps, pe))):
        if len(ends) == 0:
            continue
        mult = np.ldexp(rng.integers(1, 16, (len(ends), weights.shape[1])).astype(np.float64),
                        rng.integers(-30, 30, (len(ends), weights.shape[1])))
        blocks = fg._blocks(ints, ends, pe).transpose(0, 2, 1)
        for dtype in (np.float64, np.float32):
            want = (blocks * mult[:, None, :]).astype(dtype)
            out = fast_mx_operands.weight_operand(weights, values, pe, ends, mult, dtype)
            assert out.dtype == dtype and out.shape == want.shape
            assert np.array_equal(out.view(np.uint8), np.ascontiguousarray(want).view(np.uint8))


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("sub_block", [1, 8, 16])
def test_random_codes(fmt, sub_block):
    pe = KIND.prototype(format=fmt, sub_block=sub_block)
    rng = np.random.default_rng(31)
    for m, k, n in ((5, 64, 3), (3, 200, 4), (1, 7, 1), (2, 96, 40)):
        _, w = KIND.random_codes(rng, m, k, n, pe)
        _same(w, pe, rng)
        _same(np.asarray(w)[:-1], pe, rng)                 # K' cut inside a lane: zero-padded
        _same(np.asfortranarray(w), pe, rng)               # any strides


def test_extremes_at_the_ends_of_the_range():
    """Lanes of only zeros and -0 (no set bit), of the largest magnitudes of either sign, and of
    the smallest subnormal: the extremes are the decoder's (E5M2's integers reach 2**32)."""
    pe = KIND.prototype(format="mxfp8-e5m2")
    elements = np.zeros((3, 2 * pe.block), dtype=np.int64)
    elements[0, 0], elements[1, 1], elements[2, 2] = 0x7B, 0xFB, 0x01   # +-max finite, 2**-16
    elements[0, pe.sub_block] = 0x80                                     # -0: a zero magnitude
    w = mx_gemm.interleave(elements, np.full((3, 2), 127), pe).T
    _same(w, pe, np.random.default_rng(32))
    top, low = fast_mx_operands.weight_lanes(np.ascontiguousarray(w), *_tables(pe), pe)[1]
    assert top[0, 0] == top[1, 0] == 7 << 29 and low[2, 0] == 1 and low[0, 1] == fast_mx_operands.NO_BIT


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_real_minilm_weights(fmt):
    pe = KIND.prototype(format=fmt)
    x, w = real_gemm("minilm:L0.ffn2", m=8, n=48)
    ops = KIND.operands(x, w, pe)
    _same(ops.weights, pe, np.random.default_rng(33))
    prepared = fg.prepare_weights(KIND, ops.weights, pe)
    assert prepared[1] is None                          # the row-wise path was taken
    assert np.array_equal(fg.fast_golden(KIND, ops, pe, prepared), KIND.golden(ops, pe))


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
@pytest.mark.parametrize("fmt", ["mxfp8-e4m3", "mxfp8-e5m2", "mxfp4", "nvfp4"])
def test_real_smollm2_weights(fmt):
    w = smollm2_linear("blk.3.attn_k")
    pe = KIND.prototype(format=fmt)
    codes, _ = KIND.quantize_weights(np.asarray(w)[:, :64], pe)
    _same(codes, pe, np.random.default_rng(34))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_codes_the_definition_handles_give_none(fmt):
    """An element code past the code range, a refused (NaN / infinity) code, a slot code past 8
    bits: None (the caller runs the definition); mx_check_operands still raises the
    definition's errors, and the fast path on such weights still equals the golden or raises."""
    pe = KIND.prototype(format=fmt)
    f = pe.mx_format
    rng = np.random.default_rng(35)
    a, w = KIND.random_codes(rng, 3, 64, 4, pe)
    w = np.array(w, dtype=np.int64)
    odd = w.copy()
    odd[1, 2] = (1 << f.bits) + 3
    assert fast_mx_operands.weight_lanes(odd, *_tables(pe), pe) is None
    assert mx_gemm.weight_rows(acc.freeze(odd.copy()), pe) is None
    if f.ebits in (4, 5):
        bad = w.copy()
        bad[0, 1] = 0x7F if f.ebits == 4 else 0x7C
        assert fast_mx_operands.weight_lanes(bad, *_tables(pe), pe) is None
        with pytest.raises(ValueError, match="element codes contain"):
            mx_gemm.mx_check_operands(acc.freeze(np.array(a)), acc.freeze(bad), pe)
    if f.scale_slots > 1 and f.bits * f.scale_slots > 8:
        wide = w.copy()
        wide[pe.sub_block + 1] = (1 << f.bits) - 1          # every column's first slot code past 8 bits
        assert fast_mx_operands.weight_lanes(wide, *_tables(pe), pe) is None
        with pytest.raises(ValueError, match="scale codes must be 8-bit"):
            mx_gemm.mx_check_operands(acc.freeze(np.array(a)), acc.freeze(wide), pe)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_fast_path_on_row_prepared_weights(fmt):
    """mx_fast on weights prepared row-wise (no integers kept) equals the golden, with short
    blocks and random scales (E5M2's wide rows included, where the integers are decoded late)."""
    pe = KIND.prototype(format=fmt)
    rng = np.random.default_rng(36)
    for m, k, n in ((4, 96, 5), (3, 160, 7)):
        a, w = KIND.random_codes(rng, m, k, n, pe)
        prepared = fg.mx_weight_lanes(acc.freeze(np.array(w, dtype=np.int64)), pe)
        assert prepared[1] is None
        ops = GemmOperands(a, prepared[0], None, None, None)
        assert np.array_equal(fg.mx_fast(a, prepared, pe), KIND.golden(ops, pe))


def test_a_perturbed_kernel_is_caught():
    """The comparison can fail: the operand from another format's table, the extremes of
    weights with one code changed."""
    pe = KIND.prototype(format="mxfp8-e4m3")
    rng = np.random.default_rng(37)
    _, w = KIND.random_codes(rng, 2, 96, 6, pe)
    w = np.asarray(w, dtype=np.int64)
    ints, slots, extremes = _reference(w, pe)
    ends = np.flatnonzero(slots[0] != mx_gemm.CONTINUE_CODE)
    mult = np.ones((len(ends), w.shape[1]))
    other = mx_gemm._element_table(KIND.prototype(format="mxfp8-e5m2").mx_format)[0].astype(np.float64)
    got = fast_mx_operands.weight_operand(w, other, pe, ends, mult, np.float64)
    assert not np.array_equal(got, fg._blocks(ints, ends, pe).transpose(0, 2, 1))
    changed = w.copy()
    changed[0] ^= 0x08
    assert not np.array_equal(fast_mx_operands.weight_lanes(changed, *_tables(pe), pe)[1][0], extremes[0])


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("sub_block", [1, 8])
def test_act_operand(fmt, sub_block):
    """act_operand equals the float64 blocks of the integers times the row scales, cast (float64
    and float32), for whole and short blocks, random codes and real MiniLM activations."""
    pe = KIND.prototype(format=fmt, sub_block=sub_block)
    rng = np.random.default_rng(38)
    acts = [KIND.random_codes(rng, 5, 96, 2, pe)[0], KIND.random_codes(rng, 3, 200, 2, pe)[0]]
    if sub_block == 8:
        acts.append(KIND.operands(*real_gemm("minilm:L0.ffn2", m=6, n=8), pe).acts)
    for a in acts:
        ints, slots = fast_mx_lanes.decode_lanes(np.asarray(a, dtype=np.int64), *_tables(pe), pe)
        for ends in (np.flatnonzero(slots[0] != mx_gemm.CONTINUE_CODE),
                     np.flatnonzero(mx_gemm.random_block_ends(rng, slots.shape[1], pe))):
            mult = np.ldexp(rng.integers(1, 16, (len(ends), len(ints))).astype(np.float64),
                            rng.integers(-40, 40, (len(ends), len(ints))))
            for dtype in (np.float64, np.float32):
                want = (fg._blocks(ints, ends, pe) * mult[:, :, None]).astype(dtype)
                got = fast_mx_operands.act_operand(ints, pe, ends, mult, dtype)
                assert got.dtype == dtype and np.array_equal(got.view(np.uint8), want.view(np.uint8))
