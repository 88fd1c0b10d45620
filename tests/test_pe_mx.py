"""The MX / NVFP4 PE's arithmetic against an exact-rational restatement of models/mx_gemm.py:
elements and scales decoded by ml_dtypes (not the golden model's decoder), the block dot product
summed exactly, scaled, rounded to FP32 (nearest even, saturating) and added with one more FP32
rounding; in the golden model and step by step in Amaranth's simulator (the contract itself --
timing, holding, poison -- is the conformance suite's)."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from hw.pe_mx import FORMATS, MxPE
from models.mx_gemm import (QUANT_ELEMENT, element_integers, interleave, mx_gemm, quantize_mx_acts,
                            random_lanes, split_lanes)
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


def reference_step(acc_word, a_lane, w_lane, fmt):
    """acc_word + the block, restated (an infinite accumulator stays infinite)."""
    if (acc_word >> 23) & 255 == 255:
        return acc_word
    a_scale = sum(int(c) << (i * fmt.bits) for i, c in enumerate(a_lane[fmt.block:]))
    w_scale = sum(int(c) << (i * fmt.bits) for i, c in enumerate(w_lane[fmt.block:]))
    word = block_word(a_lane[:fmt.block], w_lane[:fmt.block], a_scale, w_scale, fmt)
    return fp32_add_rne(acc_word, fp32_value(word), word >> 31)


@pytest.mark.parametrize("name", NAMES)
def test_golden_gemm_is_the_restated_block_sequence(name):
    fmt = FORMATS[name]
    per = fmt.block + fmt.scale_slots
    rng = np.random.default_rng(20)
    acts = random_lanes(rng, 3, 3 * per, fmt)
    weights = random_lanes(rng, 4, 3 * per, fmt).T
    golden = mx_gemm(acts, weights, fmt)
    for i in range(3):
        for j in range(4):
            acc = 0
            for b in range(3):
                s = slice(b * per, (b + 1) * per)
                acc = reference_step(acc, acts[i, s], weights[s, j], fmt)
            assert int(golden[i, j]) & 0xFFFFFFFF == acc, (i, j)


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


@pytest.mark.parametrize("name, code, message", [("mxfp8-e4m3", 0x7F, "NaN"), ("mxfp8-e5m2", 0x7C, "infinity"),
                                                 ("mxfp4", None, "E8M0 NaN"), ("nvfp4", None, "sign bit")])
def test_invalid_codes_are_refused(name, code, message):
    fmt = FORMATS[name]
    elements = np.zeros((1, fmt.block), dtype=np.int64)
    scales = np.array([[127 if fmt.scale == "e8m0" else 0x38]])
    if code is not None:
        elements[0, 3] = code
    else:
        scales[0, 0] = 255 if fmt.scale == "e8m0" else 0xB8
    acts = interleave(elements, scales, fmt)
    with pytest.raises(ValueError, match=message):
        mx_gemm(acts, interleave(np.zeros_like(elements), np.array([[127 if fmt.scale == "e8m0" else 0x38]]),
                                 fmt).T, fmt)


@pytest.mark.parametrize("name", NAMES)
def test_quantiser_codes_are_the_reference_quantiser(name):
    """The interleaved codes hold exactly models.quant.mx's elements and scales (zero-padded K)."""
    fmt = FORMATS[name]
    x = np.random.default_rng(21).normal(size=(3, 70)) * np.exp2(np.arange(70) % 9 - 4)
    pe = MxPE(format=name)
    codes, meta = quantize_mx_acts(x, pe)
    elements, scales = split_lanes(codes, fmt, "x")
    xp = np.pad(x, ((0, 0), (0, -70 % fmt.block)))
    if fmt.scale == "e8m0":
        qt = quantize_mx(xp, QUANT_ELEMENT[name], block=fmt.block)
        want = qt.dequantize()
        values = np.vectorize(lambda c: float(element_value(int(c), fmt)))(elements)
        got = values * np.exp2(scales.astype(np.float64) - 127)[..., None]
    else:
        qt = quantize_nvfp4(xp, block=fmt.block)
        want = qt.dequantize()
        values = np.vectorize(lambda c: float(element_value(int(c), fmt)))(elements)
        s = np.vectorize(lambda c: float(scale_value(int(c), fmt)))(scales)
        got = values * s[..., None] * meta["tensor_scale"]
    assert np.array_equal(got.reshape(3, -1), want)


@pytest.mark.parametrize("name", NAMES)
def test_pe_steps_with_special_values_and_scale_extremes(name):
    """Blocks of special elements and extreme scales, on zero, random, huge and infinite
    accumulators, step by step in Amaranth's simulator against the restatement."""
    fmt = FORMATS[name]
    per = fmt.block + fmt.scale_slots
    rng = np.random.default_rng(22)
    acts = random_lanes(rng, 24, per, fmt)
    weights = random_lanes(rng, 24, per, fmt)
    accs = [0, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x00000001, 0x3F800000]
    accs += [int(np.float32(rng.normal() * 2.0 ** int(rng.integers(-40, 40))).view(np.uint32))
             for _ in range(16)]
    pe = MxPE(format=name)
    steps = [code_step(pe, a, w, acc) for a, w, acc in zip(acts, weights, accs)]
    want = [reference_step(acc, a, w, fmt) for a, w, acc in zip(acts, weights, accs)]
    assert list(run_steps(pe, steps).outputs) == want
