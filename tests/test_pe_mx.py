"""The MX / NVFP4 PE's arithmetic against an exact-rational restatement of models/mx_gemm.py:
elements and scales decoded by ml_dtypes (not the golden model's decoder), a block's dot product
summed exactly over its sub-block steps, scaled once, rounded to FP32 (nearest even, saturating)
and added with one more FP32 rounding; in the golden model and step by step in Amaranth's
simulator (the contract itself -- timing, holding, poison -- is the conformance suite's)."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from hw.pe import OptionError
from hw.pe_mx import CONTINUE_CODE, FORMATS, MxPE
from models.mx_gemm import (QUANT_ELEMENT, element_integers, interleave, mx_check_operands, mx_gemm,
                            quantize_mx_acts, quantize_mx_weights, random_block_ends, random_lanes,
                            split_lanes)
from models.realdata import real_gemm
from models.quant.mx import quantize_mx, quantize_nvfp4
from sim.pe_driver import code_step, run_steps
from tests.test_pe_fp16 import FP32_MAX, _encode_fp32, fp32_add_rne, fp32_value

ML_DTYPES = {"mxfp8-e4m3": ml_dtypes.float8_e4m3fn, "mxfp8-e5m2": ml_dtypes.float8_e5m2,
             "mxfp6-e2m3": ml_dtypes.float6_e2m3fn, "mxfp6-e3m2": ml_dtypes.float6_e3m2fn,
             "mxfp4": ml_dtypes.float4_e2m1fn, "nvfp4": ml_dtypes.float4_e2m1fn}
NAMES = list(FORMATS)


def element_value(code, fmt):
    code = int(code)
    if fmt.ebits == 0:
        return Fraction(code - 256 if code >= 128 else code, 64)
    value = float(np.array([code], dtype=np.uint8).view(ML_DTYPES[fmt.name])[0])
    assert np.isfinite(value)
    return Fraction(value)


def scale_value(code, fmt):
    code = int(code)
    if fmt.scale == "e8m0":
        assert code != 255
        return Fraction(2) ** (code - 127)
    return Fraction(float(np.array([code], dtype=np.uint8).view(ml_dtypes.float8_e4m3fn)[0]))


def block_word(a_codes, w_codes, a_scale, w_scale, fmt):
    """One block's value, exact, rounded to FP32 (nearest even), saturating at max finite."""
    exact = sum(element_value(a, fmt) * element_value(w, fmt) for a, w in zip(a_codes, w_codes))
    value = exact * scale_value(a_scale, fmt) * scale_value(w_scale, fmt)
    value = max(min(value, FP32_MAX), -FP32_MAX)
    return _encode_fp32(value)


def reference_steps(acc_words, a_lanes, w_lanes, pe):
    """The PE's outputs for a sequence of lanes, restated: a lane whose scale slots hold the
    continue code adds its elements to the open block and outputs its ``acc_in``; the lane that
    ends a block adds the block (exact, scaled, rounded to FP32) to its ``acc_in`` (an infinite
    accumulator stays infinite). ``acc_words[i]`` is lane i's ``acc_in``."""
    fmt, sb = pe.mx_format, pe.sub_block
    outputs, a_open, w_open = [], [], []
    for acc_word, a_lane, w_lane in zip(acc_words, a_lanes, w_lanes):
        a_open += list(a_lane[:sb])
        w_open += list(w_lane[:sb])
        a_scale = sum(int(c) << (i * fmt.bits) for i, c in enumerate(a_lane[sb:]))
        w_scale = sum(int(c) << (i * fmt.bits) for i, c in enumerate(w_lane[sb:]))
        if a_scale == CONTINUE_CODE:
            outputs.append(acc_word)
            continue
        word = block_word(a_open, w_open, a_scale, w_scale, fmt)
        a_open, w_open = [], []
        if (acc_word >> 23) & 255 == 255:
            outputs.append(acc_word)
        else:
            outputs.append(fp32_add_rne(acc_word, fp32_value(word), word >> 31))
    return outputs


@pytest.mark.parametrize("name", NAMES)
def test_golden_gemm_is_the_restated_block_sequence(name):
    """Blocks of every length up to a whole block (random ends), elements with special values,
    scales at the extremes: the golden GEMM equals the restatement, each output from +0."""
    pe = MxPE(format=name)
    rng = np.random.default_rng(20)
    steps = 3 * pe.steps_per_block
    ends = random_block_ends(rng, steps, pe)
    acts = random_lanes(rng, 3, steps * pe.k_per_step, pe, ends)
    weights = random_lanes(rng, 4, steps * pe.k_per_step, pe, ends).T
    golden = mx_gemm(acts, weights, pe)
    per = pe.k_per_step
    for i in range(3):
        for j in range(4):
            lanes_a = [acts[i, s * per:(s + 1) * per] for s in range(steps)]
            lanes_w = [weights[s * per:(s + 1) * per, j] for s in range(steps)]
            assert int(golden[i, j]) & 0xFFFFFFFF == _fed_back(lanes_a, lanes_w, pe)[-1], (i, j)


def _fed_back(lanes_a, lanes_w, pe):
    """:func:`reference_steps` with each output fed back as the next ``acc_in``, from +0."""
    fmt, sb = pe.mx_format, pe.sub_block
    outs, acc = [], 0
    a_open, w_open = [], []
    for a_lane, w_lane in zip(lanes_a, lanes_w):
        # the open block is carried between calls by passing the whole block's lanes at its end
        a_open.append(a_lane)
        w_open.append(w_lane)
        slot = sum(int(c) << (i * fmt.bits) for i, c in enumerate(a_lane[sb:]))
        if slot != CONTINUE_CODE:
            acc = reference_steps([acc] * len(a_open), a_open, w_open, pe)[-1]
            a_open, w_open = [], []
        outs.append(acc)
    return outs


@pytest.mark.parametrize("name", NAMES)
def test_element_integers_match_ml_dtypes(name):
    fmt = FORMATS[name]
    codes = np.arange(1 << fmt.bits)
    if fmt.ebits == 4:
        codes = codes[(codes & 0x7F) != 0x7F]
    if fmt.ebits == 5:
        codes = codes[((codes >> 2) & 31) != 31]
    got = element_integers(codes, fmt, "x")
    assert [Fraction(int(v), 1 << fmt.frac_bits) for v in got] == [element_value(int(c), fmt) for c in codes]


def _two_blocks(name, a_scale_codes=None, element=None):
    """(acts 1 x K', weights K' x 1) of two blocks of ones (scale 1); ``a_scale_codes`` replaces
    both operands' two block scale codes, ``element`` the activation's fourth element code."""
    pe = MxPE(format=name)
    fmt = pe.mx_format
    one_scale = 127 if fmt.scale == "e8m0" else 0x38
    one = 1 << 6 if fmt.ebits == 0 else (fmt.bias << fmt.mbits)
    elements = np.full((1, 2 * fmt.block), one, dtype=np.int64)
    scales = np.array([a_scale_codes or [one_scale, one_scale]])
    weights = interleave(elements, scales, pe).T
    if element is not None:
        elements[0, 3] = element
    acts = interleave(elements, scales, pe)
    return pe, acts, weights


@pytest.mark.parametrize("name, scales, element, message", [
    ("mxfp8-e4m3", None, 0x7F, "NaN"), ("mxfp8-e5m2", None, 0x7C, "infinity"),
    ("nvfp4", [0x38, 0xB8], None, "sign bit"), ("nvfp4", [0x7F, 0x38], None, "NaN code 0x7F"),
    ("mxfp4", "open", None, "last lane of K' must end its block"),
    ("mxint8", [CONTINUE_CODE, 127], None, "spans more than 4 lanes"),
    ("mxfp4", [127, CONTINUE_CODE], None, "spans more than 4 lanes"),
    ("mxfp6-e2m3", [127, 0x38 | 0x100], None, "8-bit")])
def test_invalid_codes_are_refused(name, scales, element, message):
    """The operand check (the registered hook, run before any work) refuses NaN / infinity
    elements, invalid block scales, open last blocks and over-long blocks."""
    if scales == "open":      # the second block's last lane cut off: an open block at the end
        pe, acts, weights = _two_blocks(name)
        acts, weights = acts[:, :-pe.k_per_step], weights[:-pe.k_per_step]
        assert mx_gemm(acts, weights, pe).shape == (1, 1)      # the golden model holds it
    else:
        pe, acts, weights = _two_blocks(name, scales, element)
    mx_check_operands(*_two_blocks(name)[1:], pe)       # the valid operands pass
    with pytest.raises(ValueError, match=message):
        mx_check_operands(acts, weights, pe)


def test_block_ends_must_agree_between_activations_and_weights():
    pe, acts, weights = _two_blocks("mxfp8-e4m3")
    short = weights.copy()
    short[pe.k_per_step - 1, 0] = 127          # the weights end their first block a lane early
    with pytest.raises(ValueError, match="same steps"):
        mx_gemm(acts, short, pe)


@pytest.mark.parametrize("sub_block", [0, 3, 64, "8"])
def test_sub_block_must_divide_the_block(sub_block):
    with pytest.raises(OptionError, match="sub_block"):
        MxPE(format="mxfp8-e4m3", sub_block=sub_block)


def test_the_result_does_not_depend_on_the_sub_block():
    """MiniLM tensors quantised for sub-blocks of 1 .. 32 elements (1 .. 32 steps per block): the
    same element and scale codes, the same FP32 words (the block sums are exact)."""
    acts, weights = real_gemm("minilm:L0.ffn1", 4, 96, 5)
    words = []
    for sub_block in (1, 4, 8, 32):
        pe = MxPE(format="mxfp8-e5m2", sub_block=sub_block)
        a, _ = quantize_mx_acts(acts, pe)
        w, _ = quantize_mx_weights(weights, pe)
        assert a.shape[1] == 3 * pe.steps_per_block * pe.k_per_step
        words.append(mx_gemm(a, w, pe))
    assert all(np.array_equal(words[0], w) for w in words[1:])
    assert np.any(words[0] != 0)


@pytest.mark.parametrize("name", NAMES)
def test_quantiser_codes_are_the_reference_quantiser(name):
    """The lane codes hold exactly models.quant.mx's elements and scales (zero-padded K), the
    continue code in every lane but a block's last."""
    pe = MxPE(format=name)
    fmt = pe.mx_format
    x = np.random.default_rng(21).normal(size=(3, 70)) * np.exp2(np.arange(70) % 9 - 4)
    codes, meta = quantize_mx_acts(x, pe)
    elements, slots = split_lanes(codes, pe, "x")
    ends = np.arange(slots.shape[1]) % pe.steps_per_block == pe.steps_per_block - 1
    assert np.all(slots[:, ~ends] == CONTINUE_CODE)
    scales = slots[:, ends]
    elements = elements.reshape(3, -1, fmt.block)
    xp = np.pad(x, ((0, 0), (0, -70 % fmt.block)))
    values = np.vectorize(lambda c: float(element_value(int(c), fmt)))(elements)
    if fmt.scale == "e8m0":
        want = quantize_mx(xp, QUANT_ELEMENT[name], block=fmt.block).dequantize()
        got = values * np.exp2(scales.astype(np.float64) - 127)[..., None]
    else:
        want = quantize_nvfp4(xp, block=fmt.block).dequantize()
        s = np.vectorize(lambda c: float(scale_value(int(c), fmt)))(scales)
        got = values * s[..., None] * meta["tensor_scale"]
    assert np.array_equal(got.reshape(3, -1), want)


@pytest.mark.parametrize("name, sub_block", [(name, 8) for name in NAMES]
                         + [("nvfp4", 16), ("mxfp8-e5m2", 4), ("mxint8", 32)])
def test_pe_steps_with_special_values_and_scale_extremes(name, sub_block):
    """Lanes of special elements and extreme scales in blocks of every length, each step on its
    own ``acc_in`` (zero, random, huge, infinite; the open block lives in the PE), step by step in
    Amaranth's simulator against the restatement; the default sub-block and 1, 4 and 8 steps per
    block."""
    pe = MxPE(format=name, sub_block=sub_block)
    rng = np.random.default_rng(22)
    steps = 8 * pe.steps_per_block + 8
    ends = random_block_ends(rng, steps, pe)
    per = pe.k_per_step
    acts = random_lanes(rng, 1, steps * per, pe, ends).reshape(steps, per)
    weights = random_lanes(rng, 1, steps * per, pe, ends).reshape(steps, per)
    accs = [int(np.float32(rng.normal() * 2.0 ** int(rng.integers(-40, 40))).view(np.uint32))
            for _ in range(steps)]
    special = [0, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x00000001, 0x3F800000]
    for i, at in enumerate(np.flatnonzero(ends)[:len(special)]):     # on block-ending steps
        accs[at] = special[i]
    steps_in = [code_step(pe, a, w, acc) for a, w, acc in zip(acts, weights, accs)]
    want = reference_steps(accs, acts, weights, pe)
    assert sum(ends) >= 8 and list(run_steps(pe, steps_in).outputs) == want
