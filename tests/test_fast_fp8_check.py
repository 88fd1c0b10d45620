"""The compiled FP8 code check (:func:`models.fast_fp8.all_in_table`, issue 17 speed) answers as
:func:`models.fp8_gemm.check_fp8_codes`' numpy definition does, and the check built on it returns
the same array and raises the same errors: every code value, each bad value (NaN / infinity
patterns, -1, 256, huge) at the first, a middle and the last position of large arrays, the size
threshold and non-contiguous arrays (numpy's path), real MiniLM operands."""

import numpy as np
import pytest

from models import fast_fp8, fast_golden as fg, fp8_gemm
from models.fast_fp8 import TABLE_CHECK_SIZE, all_in_table
from models.fp8_gemm import check_fp8_codes, get_format
from models.realdata import real_gemm
from models.registry import PE_KINDS

FORMATS = ("e4m3", "e5m2")
BIG = (TABLE_CHECK_SIZE // 64 + 3, 64)          # just past the threshold, not a round size


def _numpy_ok(codes, fmt):
    """The numpy definition: every code in 0..255 and a finite ``fmt`` pattern."""
    codes = np.asarray(codes, dtype=np.int64)
    return bool(((codes >= 0) & (codes <= 255)).all()
                and get_format(fmt).valid(np.clip(codes, 0, 255)).all())


def _numpy_error(name, codes, fmt):
    """The error the numpy path raises for ``codes`` (None when it raises none)."""
    f = get_format(fmt)
    if codes.min() < 0 or codes.max() > 0xFF:
        return f"{name} FP8 codes must be 8-bit patterns (0..255)"
    bad = ~f.valid(codes)
    if bad.any():
        return (f"{name} codes hold FP8 {fmt} NaN/infinity patterns (e.g. "
                f"0x{int(codes[bad].flat[0]):02X}), which are not operands")
    return None


def _valid_codes(fmt, shape, rng):
    valid = np.flatnonzero(get_format(fmt).valid(np.arange(256)))
    return valid[rng.integers(0, len(valid), shape)].astype(np.int64)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_code_value_at_every_position_kind(fmt):
    """Each of the 256 code values and the out-of-range ones, placed first, in the middle and
    last in an otherwise valid array past the threshold (a kernel skipping an element fails)."""
    rng = np.random.default_rng(1)
    base = _valid_codes(fmt, BIG, rng)
    assert all_in_table(base, fp8_gemm._operand_table(fmt)) is True
    for value in [*range(256), -1, 256, 1 << 40, -(1 << 62)]:
        for pos in (0, base.size // 2 + 7, base.size - 1):
            codes = base.copy()
            codes.flat[pos] = value
            want = _numpy_ok(codes, fmt)
            assert all_in_table(codes, fp8_gemm._operand_table(fmt)) is want, (value, pos)


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_returns_and_raises_as_numpy(fmt):
    """check_fp8_codes: the same int64 array (no copy of an int64 input) when valid, the numpy
    path's message naming the first bad code (in C order) when not: two bad codes, the later one
    smaller, so the message shows which one is first."""
    rng = np.random.default_rng(2)
    codes = _valid_codes(fmt, BIG, rng)
    assert check_fp8_codes("weight", codes, fmt) is codes
    nan_codes = np.flatnonzero(~get_format(fmt).valid(np.arange(256)))
    bad = codes.copy()
    bad.flat[100], bad.flat[bad.size - 5] = nan_codes[-1], nan_codes[0]
    with pytest.raises(ValueError) as err:
        check_fp8_codes("activation", bad, fmt)
    assert str(err.value) == _numpy_error("activation", bad, fmt)
    assert f"0x{int(nan_codes[-1]):02X}" in str(err.value)
    bad.flat[7] = 300
    with pytest.raises(ValueError, match="must be 8-bit patterns"):
        check_fp8_codes("weight", bad, fmt)


def test_small_strided_and_other_dtypes_take_numpy():
    """Below the threshold, non-C-contiguous, or not int64: None (the caller's numpy check), and
    check_fp8_codes still answers the same."""
    table = fp8_gemm._operand_table("e4m3")
    rng = np.random.default_rng(3)
    small = _valid_codes("e4m3", (TABLE_CHECK_SIZE // 64 - 1, 64), rng)
    big = _valid_codes("e4m3", BIG, rng)
    assert all_in_table(small, table) is None
    assert all_in_table(np.asfortranarray(big), table) is None
    assert all_in_table(big.astype(np.uint8), table) is None
    strided = big.T
    strided[0, -1] = 0x7F                           # e4m3's NaN
    with pytest.raises(ValueError, match="0x7F"):
        check_fp8_codes("weight", strided, "e4m3")


@pytest.mark.parametrize("kind_name,fmt", [("fp8", "e4m3"), ("fp8", "e5m2"), ("lmul", "e4m3"), ("lmul", "e5m2")])
def test_real_minilm_operands(kind_name, fmt):
    """The quantisers' codes of a real MiniLM GEMM (layer 2's FFN up: large enough for the
    compiled path) pass; one NaN pattern written in is found."""
    x, w = real_gemm("minilm:L2.ffn1")
    kind = PE_KINDS[kind_name]
    pe = kind.prototype(format=fmt)
    acts, _ = kind.quantize_acts(x, pe)
    assert check_fp8_codes("activation", acts, fmt) is acts
    codes, _ = kind.quantize_weights(w, pe)
    assert codes.size >= TABLE_CHECK_SIZE
    table = fp8_gemm._operand_table(fmt)
    assert all_in_table(np.ascontiguousarray(codes), table) is True
    codes = np.array(codes)
    codes.flat[codes.size // 3] = np.flatnonzero(~get_format(fmt).valid(np.arange(256)))[0]
    assert all_in_table(codes, table) is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_checked_values(fmt):
    """fast_fp8.checked_values (the FP8 E4M3 and L-Mul accuracy paths' code check with their
    operand lookup) is ``values[codes]`` with the rows padded by ``values[0]`` for valid codes of
    every value, any size, and None for each bad value at the first, a middle and the last
    position (where the callers' check raises); the FP8 E4M3 and L-Mul paths raise the check's
    error for them."""
    rng = np.random.default_rng(4)
    ok = fp8_gemm._operand_table(fmt)
    values = rng.standard_normal(256)
    patterns = rng.integers(0, 1 << 63, 256, dtype=np.uint64)
    for shape in ((1, 1), (3, 256), (5, 7), (64, 33)):
        codes = _valid_codes(fmt, shape, rng)
        codes.flat[:min(codes.size, 3)] = [0x00, 0x80, 0x01][:codes.size]
        for table, multiple in ((values, 1), (patterns, 4)):
            got = fast_fp8.checked_values(codes, ok, table, multiple)
            rows = -(-shape[0] // multiple) * multiple
            assert got.shape == (rows, shape[1]) and got.dtype == table.dtype
            assert np.array_equal(got[:shape[0]], table[codes]) and (got[shape[0]:] == table[0]).all()
    bads = [v for v in range(256) if not ok[v]] + [-1, 256, 1 << 40]
    base = _valid_codes(fmt, (6, 50), rng)
    for bad in bads:
        for pos in (0, base.size // 2, base.size - 1):
            codes = base.copy()
            codes.flat[pos] = bad
            assert fast_fp8.checked_values(codes, ok, values) is None
            assert fast_fp8.checked_values(codes, ok, patterns, 4) is None
    codes = base.copy()
    codes[3, 7] = bads[0]
    for kind in ("fp8", "lmul"):
        pe = PE_KINDS[kind].prototype(format="e4m3" if fmt == "e4m3" else fmt)
        prepared = fg.prepare_weights(PE_KINDS[kind], base[:, :50].T.copy()[:50], pe)
        with pytest.raises(ValueError, match="NaN/infinity"):
            fg.FAST_FLOATS[kind](codes, prepared, pe)
