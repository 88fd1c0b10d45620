"""models.numba_bits.as_float64 is numpy's uint64 -> float64 view, and as_int64 numpy's float64 ->
int64 view, bit for bit: random patterns, every special class (+-0, subnormals, normals at the extremes, +-inf, quiet and signalling NaNs
with payloads), read back as bit patterns (so a NaN's payload and a zero's sign count)."""

import numba
import numpy as np
import pytest

from models.numba_bits import as_float64, as_int64


@numba.njit
def _cast_all(bits, out):
    for i in range(bits.size):
        out[i] = as_float64(bits[i])


@numba.njit
def _patterns(values, out):
    for i in range(values.size):
        out[i] = as_int64(values[i])


SPECIAL = np.array([0, 1 << 63, 1, (1 << 52) - 1, 1 << 52, 0x7FEFFFFFFFFFFFFF, 0x3FF0000000000000,
                    0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000, 0x7FF0000000000001,
                    0xFFF8000000000123, 0x7FF4000000000000, (1 << 64) - 1], dtype=np.uint64)


@pytest.mark.parametrize("bits", [SPECIAL, np.random.default_rng(0).integers(0, 2**64, 100_000, dtype=np.uint64)],
                         ids=["special", "random"])
def test_as_float64_is_the_view(bits):
    out = np.empty(bits.size, dtype=np.float64)
    _cast_all(bits, out)
    np.testing.assert_array_equal(out.view(np.uint64), bits)


def test_only_uint64_is_accepted():
    """A signed or narrower integer is refused at typing, not silently converted."""
    with pytest.raises(numba.core.errors.TypingError):
        _cast_all(np.zeros(2, dtype=np.int64), np.empty(2))


@pytest.mark.parametrize("bits", [SPECIAL, np.random.default_rng(1).integers(0, 2**64, 100_000, dtype=np.uint64)],
                         ids=["special", "random"])
def test_as_int64_is_the_view(bits):
    """Every pattern read as a float64 and back (NaN payloads and signs kept: no float operation
    touches the value in between)."""
    out = np.empty(bits.size, dtype=np.int64)
    _patterns(bits.view(np.float64), out)
    np.testing.assert_array_equal(out, bits.view(np.int64))


def test_as_int64_accepts_only_float64():
    with pytest.raises(numba.core.errors.TypingError):
        _patterns(np.zeros(2, dtype=np.float32), np.empty(2, dtype=np.int64))
