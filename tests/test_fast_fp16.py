"""The compiled FP16 conversions (:mod:`models.fast_fp16`, issue 17 speed) equal numpy's
definitions bit for bit: :func:`~models.fast_fp16.encode` is ``x.astype(np.float16)``'s codes
(the cast :func:`models.fp16_gemm.encode_fp16` makes) on every FP16 value, every midpoint between
consecutive values (ties to even) and each one's float64 neighbours, both signs, signed zeros,
subnormals, the range's edge, float32 and float64 inputs, random and real data; it refuses (None)
what encode_fp16 refuses, whose error is then the numpy path's. :func:`~models.fast_fp16.values_f32`
is ``decode_fp16(codes).astype(np.float32)`` on all 65,536 codes but the infinity / NaN ones,
which it refuses, as out-of-range codes."""

import numpy as np
import pytest

from models import fast_fp16, fast_golden as fg
from models.fp16_gemm import decode_fp16, encode_fp16
from models.realdata import real_gemm

FINITE = np.arange(1 << 16)[((np.arange(1 << 16) >> 10) & 31) != 31]


def _reference(x):
    return np.asarray(x, dtype=np.float64).astype(np.float16).view(np.uint16).astype(np.int64)


def _neighbourhood():
    """Every finite FP16 value, the midpoints between consecutive ones, and their float64
    neighbours, both signs, and the smallest doubles."""
    pos = np.unique(np.abs(FINITE.astype(np.uint16).view(np.float16).astype(np.float64)))
    mids = (pos[:-1] + pos[1:]) / 2.0
    pts = np.concatenate([pos, mids, [pos[1] / 2.0, pos[1] / 4.0, 3 * pos[1] / 4.0, 5e-324,
                                      2.2250738585072014e-308]])
    pts = np.concatenate([pts, np.nextafter(pts, np.inf), np.nextafter(pts, -np.inf)])
    pts = pts[np.abs(pts) <= 65504.0]
    return np.concatenate([pts, -pts, [0.0, -0.0]])


def test_every_value_midpoint_and_neighbour():
    x = _neighbourhood()
    got = fast_fp16.encode(x)
    assert got is not None and got.dtype == np.int64
    assert np.array_equal(got, _reference(x))
    assert np.any(decode_fp16(got) != x)                     # ties and neighbours do round
    assert got[-1] == 0x8000 and got[-2] == 0                # -0.0 keeps its sign


def test_float32_input_and_shapes():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((130, 257)) * np.exp2(rng.integers(-30, 16, (130, 257)))).clip(-65504, 65504)
    for arr in (x, x.astype(np.float32), np.asfortranarray(x), x[:, ::2]):
        got = fast_fp16.encode(arr)
        assert got.shape == arr.shape and np.array_equal(got, _reference(arr))
        assert np.array_equal(encode_fp16(arr, "w"), _reference(arr))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 65504.5, -70000.0, 1e300])
def test_refused_values_raise_numpys_error(bad):
    x = np.zeros(fast_fp16.MIN_SIZE + 5)
    x[-1] = bad                                              # the last element: no early exit
    assert fast_fp16.encode(x) is None
    with pytest.raises(ValueError, match="NaN or infinity" if not np.isfinite(bad) else "exceed the FP16 range"):
        encode_fp16(x, "activations")


def test_small_and_other_dtypes_take_numpy():
    assert fast_fp16.encode(np.ones(fast_fp16.MIN_SIZE - 1)) is None
    assert fast_fp16.encode(np.ones(fast_fp16.MIN_SIZE, dtype=np.float16)) is None
    assert fast_fp16.values_f32(np.zeros(fast_fp16.MIN_SIZE - 1, dtype=np.int64)) is None
    assert fast_fp16.values_f32(np.zeros(fast_fp16.MIN_SIZE, dtype=np.float64)) is None


def test_values_of_every_code():
    codes = np.concatenate([FINITE, FINITE[::-1]]).reshape(2, -1)
    got = fast_fp16.values_f32(codes)
    want = decode_fp16(codes).astype(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got.view(np.int32), want.view(np.int32))
    assert np.array_equal(fg.fp16_values_f32(codes, "activation").view(np.int32), want.view(np.int32))
    assert np.array_equal(fast_fp16.values_f32(codes.astype(np.uint16)).view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("bad", [0x7C00, 0xFC00, 0x7E00, 0xFFFF, -1, 0x10000])
def test_values_refuse_what_the_decode_refuses(bad):
    codes = np.tile(FINITE[:1000], fast_fp16.MIN_SIZE // 1000 + 1)
    codes[-1] = bad
    assert fast_fp16.values_f32(codes) is None
    with pytest.raises(ValueError, match="infinity or NaN|16-bit"):
        fg.fp16_values_f32(codes, "activation")


def test_real_minilm():
    x, w = real_gemm("minilm:L2.ffn1")
    for arr in (x, w, x.astype(np.float32)):
        codes = fast_fp16.encode(arr)
        assert codes is not None and np.array_equal(codes, _reference(arr))
        values = fast_fp16.values_f32(codes)
        assert np.array_equal(values, decode_fp16(codes).astype(np.float32))
