"""models.fast_acc_output.acc_words_f32 (behind models.fast_golden.fast_output_f32) equals the
BitMoD FP16-activation design's registered dequantisation (:func:`models.bitserial_fp16.fp16_dequantise`)
cast to float32 bit for bit: every exponent and mantissa-field extreme (zero, the most negative
mantissa, the largest exponent), bits above the word, ties of the float32 rounding, an overflow to
infinity; real operands through the design's quantisers in ``tests/test_fast_dequant.py``; other
inputs go to the definition."""

import numpy as np

from models.bitserial_fp16 import ACC_MAN_BITS, fp16_dequantise
from models.fast_acc_output import acc_words_f32


def _meta(codes, s2):
    return {"scale_codes": [list(codes)], "second_level_scale": list(s2)}


def _same(got, want):
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got.view(np.int32), want.view(np.int32))


def _want(raw, meta):
    return np.asarray(fp16_dequantise(raw, None, None, meta, None), dtype=np.float32)


def test_every_field_extreme():
    rng = np.random.default_rng(3)
    f = np.array([0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x1234, 0xC000])
    x = np.array([0, 1, 27, 28, 29, 60, 100, 127])
    raw = (f[:, None] | (x[None, :] << ACC_MAN_BITS)).reshape(-1, 8)          # 7 x 8 words
    raw = np.concatenate([raw, raw | (rng.integers(1, 1 << 20, raw.shape) << 23)])  # bits above the word
    codes = rng.integers(1, 256, 8)
    s2 = np.exp(rng.standard_normal(8) * 4)
    s2[:3] = [1.0, 2.0 ** -30, 3e20]
    meta = _meta(codes, s2)
    with np.errstate(over="ignore"):
        _same(acc_words_f32(raw, meta), _want(raw, meta))
    words = rng.integers(0, 1 << 23, (33, 21))
    meta = _meta(rng.integers(1, 256, 21), np.exp(rng.standard_normal(21) * 3))
    _same(acc_words_f32(words, meta), _want(words, meta))


def test_float32_ties():
    """Values exactly halfway between two float32 values: ``F = 2**24 + 1`` halves over an
    odd column scale's bits (nearest even, as numpy's cast)."""
    f = np.array([[0x4001, 0x4003, 0xC001, 0x7FFF]])                  # odd mantissas, both signs
    raw = f | (28 << ACC_MAN_BITS)
    s2 = np.full(4, 1.0 + 2.0 ** -9)                                   # 15 + 10 bits: past float32's 24
    meta = _meta([1, 1, 1, 1], s2)
    _same(acc_words_f32(raw, meta), _want(raw, meta))


def test_other_inputs_go_to_the_definition():
    meta = _meta([1, 2, 3], [1.0, 1.0, 1.0])
    assert acc_words_f32(np.ones((2, 3)), meta) is None                      # float words
    assert acc_words_f32(np.ones(3, dtype=np.int64), meta) is None           # 1-D
    assert acc_words_f32(np.ones((2, 3), dtype=np.int64), _meta([1], [1.0])) is None   # a broadcast
