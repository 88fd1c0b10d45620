"""The FP16 PE's arithmetic against an exact-rational restatement of models/fp16_gemm.py: the FP16
product taken exactly, the FP32 sum rounded once to nearest even (subnormals, overflow to
infinity, signed zeros), step by step in Amaranth's simulator (the contract itself -- timing,
holding, poison -- is the conformance suite's)."""

from fractions import Fraction

import numpy as np
import pytest

from hw.pe_fp16 import Fp16PE
from models.fp16_gemm import SPECIAL_CODES, random_fp16_operands
from sim.pe_driver import PEStep, run_steps

FP32_MIN_EXP = -149                # the subnormal quantum 2**-149
FP32_MAX = (2 - Fraction(1, 1 << 23)) * Fraction(2) ** 127


def fp16_value(code):
    """A finite FP16 code as an exact Fraction (the IEEE definition, restated)."""
    sign, ef, f = code >> 15, (code >> 10) & 31, code & 1023
    assert ef != 31
    v = Fraction(f | 1024, 1 << 10) * Fraction(2) ** (ef - 15) if ef else Fraction(f, 1 << 24)
    return -v if sign else v


def fp32_value(word):
    sign, ef, f = word >> 31, (word >> 23) & 255, word & ((1 << 23) - 1)
    assert ef != 255
    v = Fraction(f | 1 << 23, 1 << 23) * Fraction(2) ** (ef - 127) if ef else Fraction(f) * Fraction(2) ** FP32_MIN_EXP
    return -v if sign else v


def _encode_fp32(x, negative_zero=False):
    """An exact Fraction -> the FP32 word nearest to it (ties to even), +-inf beyond the range."""
    if x == 0:
        return 0x80000000 if negative_zero else 0
    sign = (1 << 31) if x < 0 else 0
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    q = max(e - 23, FP32_MIN_EXP)              # the quantum at this magnitude (subnormals: 2**-149)
    scaled = a / Fraction(2) ** q
    n = scaled.numerator // scaled.denominator
    rest = scaled - n
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and n % 2):
        n += 1
    v = n * Fraction(2) ** q
    if v > FP32_MAX:
        return sign | 0x7F800000
    if v == 0:
        return sign
    if n >= 1 << 23:                           # normal (a rounding carry may have made it 2**24)
        e = q + 23 + (n.bit_length() - 24)
        n >>= n.bit_length() - 24
        return sign | ((e + 127) << 23) | (n & ((1 << 23) - 1))
    return sign | n                            # subnormal


def fp32_add_rne(acc_word, product, product_sign=0):
    """``acc_word`` (an FP32 word) + the exact ``product`` (of sign ``product_sign``, which
    matters for a zero: -0 + -0 = -0), rounded once (IEEE RNE)."""
    a = fp32_value(acc_word)
    both_negative_zero = a == 0 and acc_word >> 31 and product == 0 and product_sign
    return _encode_fp32(a + product, negative_zero=both_negative_zero)


def _reference(act, weight, acc_word):
    return fp32_add_rne(acc_word, fp16_value(act) * fp16_value(weight), (act ^ weight) >> 15)


def _acc_words(rng, count):
    """Finite FP32 accumulator words: uniform patterns (huge and tiny exponents, subnormals),
    zeros of both signs, the largest finite values, and values near typical products."""
    words = []
    for _ in range(count):
        r = rng.random()
        if r < 0.4:
            w = int(rng.integers(0, 1 << 32))
            if (w >> 23) & 255 == 255:
                w ^= 1 << 30
        elif r < 0.5:
            w = int(rng.choice([0, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 1, 0x807FFFFF]))
        else:
            w = int(np.float32(rng.normal() * 2.0 ** int(rng.integers(-50, 34))).view(np.uint32))
        words.append(w)
    return words


def _check(steps):
    want = [_reference(s.act, s.weight, s.acc_in) for s in steps]
    assert list(run_steps(Fp16PE(), steps).outputs) == want


def test_random_steps_round_like_ieee_binary32():
    rng = np.random.default_rng(10)
    acts, weights = random_fp16_operands(rng, 1, 600, 600, None)
    accs = _acc_words(rng, 600)
    _check([PEStep(int(a), int(w), acc) for a, w, acc in zip(acts[0], weights[:, 0], accs)])


def test_cancellation_and_ties():
    """acc_in = -(product) +- a few ulps: the massive-cancellation path, and sums exactly halfway
    between two FP32 numbers (a 22-bit product far below a large accumulator)."""
    rng = np.random.default_rng(11)
    acts, weights = random_fp16_operands(rng, 1, 300, 300, None)
    steps = []
    for a, w in zip(acts[0], weights[:, 0]):
        p = fp16_value(int(a)) * fp16_value(int(w))
        word = _encode_fp32(-p)
        if p != 0:
            word = (word & 0x80000000) | ((word & 0x7FFFFFFF) + int(rng.integers(-2, 3)))
        steps.append(PEStep(int(a), int(w), word & 0xFFFFFFFF))
    # ties: 1.0 (0x3C00) * 2**-24 (0x0001) = 2**-24 added to 1.0, 1 + 2**-23 (halfway cases)
    for acc in (0x3F800000, 0x3F800001, 0xBF800000, 0xBF800001):
        steps.append(PEStep(0x3C00, 0x0001, acc))
        steps.append(PEStep(0x3C00, 0x8001, acc))
    _check(steps)


@pytest.mark.parametrize("acc", [0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x80400000,
                                 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000])
def test_every_special_code_pair(acc):
    """Every pair of the special codes (both signs) on zeros, subnormals, the largest finite
    values (a large product pushes them to infinity) and 1.0."""
    codes = [int(c) | s for c in SPECIAL_CODES for s in (0, 0x8000)]
    _check([PEStep(a, w, acc) for a in codes for w in codes])


def test_restatement_agrees_with_numpy_binary32():
    """The two definitions of the step (exact rationals here, numpy's binary32 in the golden
    model) agree, so the golden GEMM and this reference test the same arithmetic."""
    rng = np.random.default_rng(12)
    acts, weights = random_fp16_operands(rng, 1, 2000, 2000, None)
    for a, w, acc in zip(acts[0], weights[:, 0], _acc_words(rng, 2000)):
        p = np.float32(np.float64(np.uint16(a).view(np.float16)) * np.float64(np.uint16(w).view(np.float16)))
        want = int((np.uint32(acc).view(np.float32) + p).view(np.uint32))
        assert _reference(int(a), int(w), acc) == want
