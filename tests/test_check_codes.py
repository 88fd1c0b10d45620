"""models.golden.check_codes: the range check runs on the input's own values, whatever its dtype;
only integer dtypes and integral floats are codes."""

import re

import numpy as np
import pytest

from models.golden import check_codes


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                   np.uint32, np.uint64, np.float16, np.float32, np.float64])
def test_every_integer_and_float_dtype_passes_in_range_codes(dtype):
    codes = np.array([[0, 1], [2, 7]], dtype=dtype)
    out = check_codes("w", codes, bits=4, signed=True)
    assert out.dtype == np.int64 and out.tolist() == [[0, 1], [2, 7]]


@pytest.mark.parametrize("value", [2 ** 64 - 1, 2 ** 64 - 128, 2 ** 63])
def test_uint64_above_int64_is_out_of_range_not_wrapped(value):
    # int64 conversion first turned these into -1, -128 and -2**63: the first two "valid" int8
    codes = np.array([[1, value]], dtype=np.uint64)
    with pytest.raises(ValueError, match=f"out of range .* max {value}"):
        check_codes("weight", codes, bits=8, signed=True)


def test_signed_range_edges():
    check_codes("a", np.array([[-128, 127]], dtype=np.int64), bits=8, signed=True)
    for bad in (-129, 128):
        with pytest.raises(ValueError, match="out of range for 8-bit signed"):
            check_codes("a", np.array([[bad]], dtype=np.int64), bits=8, signed=True)
    with pytest.raises(ValueError, match=r"out of range for 4-bit unsigned \(0..15\): min -1"):
        check_codes("a", np.array([[-1, 3]], dtype=np.int8), bits=4, signed=False)


@pytest.mark.parametrize("value", [1e30, -1e30, 2.0 ** 63, 2.0 ** 64])
def test_huge_integral_floats_are_reported_as_given(value):
    low, high = min(value, 0.0), max(value, 0.0)
    with pytest.raises(ValueError, match=re.escape(f"min {low}, max {high}")):
        check_codes("w", np.array([[0.0, value]]), bits=8, signed=True)


@pytest.mark.parametrize("value", [0.5, -2.25, np.nan, np.inf, -np.inf])
def test_floats_that_are_not_integers_are_refused(value):
    with pytest.raises(ValueError, match=f"weight must hold integer codes; float64 value {value} "):
        check_codes("weight", np.array([[1.0, value]]), bits=8)


@pytest.mark.parametrize("codes", [
    np.array([[True, False]]),                       # a mask, not codes
    np.array([[1, 2]], dtype=object),
    np.array([[2 ** 70]], dtype=object),             # what np.asarray makes of a huge Python int
    np.array([[1 + 0j]]),
    np.array([["1"]]),
], ids=["bool", "object", "object-bigint", "complex", "str"])
def test_non_numeric_dtypes_are_refused(codes):
    with pytest.raises(ValueError, match=f"must hold integer codes, got dtype {codes.dtype}"):
        check_codes("w", codes, bits=8)


def test_shape_must_be_2d():
    with pytest.raises(ValueError, match="2-D"):
        check_codes("w", np.zeros(3, dtype=np.int8), bits=8)


def test_copy_false_returns_an_int64_input_itself():
    """``copy=False`` (a caller that owns the codes) skips the copy of an int64 input only; the
    checks are the same."""
    codes = np.array([[1, -2], [3, 0]], dtype=np.int64)
    assert check_codes("acts", codes, bits=4, copy=False) is codes
    assert check_codes("acts", codes, bits=4) is not codes
    narrow = codes.astype(np.int16)
    got = check_codes("acts", narrow, bits=4, copy=False)
    assert got.dtype == np.int64 and np.array_equal(got, codes)
    with pytest.raises(ValueError, match="out of range"):
        check_codes("acts", codes * 8, bits=4, copy=False)
