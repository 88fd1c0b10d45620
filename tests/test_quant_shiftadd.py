"""MixPE shift-add products, per-group dequantisation, HAWQ-V3 dyadic requantisation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from models.quant import intq, shiftadd

seeds = st.integers(0, 2 ** 32 - 1)


def test_shift_add_exhaustive_int4_x_int8():
    q = np.arange(-8, 8)[:, None]  # every INT4 value, one row each
    a = np.arange(-128, 128)[None, :]  # every INT8 value
    for qi in range(16):
        y = shiftadd.shift_add_gemm(np.full((1, 256), q[qi, 0]), np.diag(a[0]), 4)  # (1, 256): q * a_j
        assert np.array_equal(y[0], q[qi, 0] * a[0])


@settings(max_examples=40, deadline=None)
@given(seed=seeds, bits=st.sampled_from([2, 3, 4]), signed=st.booleans(), k=st.integers(1, 50))
def test_shift_add_equals_integer_dot(seed, bits, signed, k):
    rng = np.random.default_rng(seed)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1)) if signed else (0, 2 ** bits)
    q = rng.integers(lo, hi, size=(3, k))
    a = rng.integers(-128, 128, size=(2, k))
    assert np.array_equal(shiftadd.shift_add_gemm(q, a, bits, signed), q @ a.T)
    assert np.array_equal(shiftadd.shift_add_dot(q, a[0], bits, signed), q @ a[0])


@settings(max_examples=20, deadline=None)
@given(seed=seeds, ng=st.integers(1, 4))
def test_group_dequant_identity(seed, ng):
    rng = np.random.default_rng(seed)
    G = 16
    w = rng.standard_normal((4, ng * G))
    qt = intq.quantize_int(w, 4, symmetric=False, granularity="group", group_size=G)
    a = rng.integers(-128, 128, size=(3, ng * G))
    y = shiftadd.group_dequant_gemm(qt.codes, a, qt.scale, qt.zero_point, G, bits=4, signed=False)
    np.testing.assert_allclose(y, qt.dequantize() @ a.T, rtol=1e-10, atol=1e-9)
    # symmetric (signed two's complement codes, no zero point)
    qs = intq.quantize_int(w, 4, symmetric=True, granularity="group", group_size=G)
    ys = shiftadd.group_dequant_gemm(qs.codes, a, qs.scale, None, G, bits=4, signed=True)
    np.testing.assert_allclose(ys, qs.dequantize() @ a.T, rtol=1e-10, atol=1e-9)


def test_dyadic_worked_example():
    # The spec's example prints the scale to 6 digits: b = 1901240861, c = 40 is the dyadic form of
    # scale = 1901240861 / 2**40 = 1.7291685e-3 (= 1.72917e-3 at 6 significant digits).  The literal
    # float 1.72917e-3 gives m * 2**31 = 1901242521.4 -> b = 1901242521 (8.7e-7 relative away).
    implied = 1901240861 / 2 ** 40
    assert f"{implied:.5e}" == "1.72917e-03"
    assert shiftadd.dyadic_params(implied) == (1901240861, 40)
    assert shiftadd.dyadic_params(1.72917e-3) == (1901242521, 40)
    for scale in (implied, 1.72917e-3):
        assert int(shiftadd.dyadic_requant(np.array([123456]), scale, 0, 255)[0]) == 213
        assert int(shiftadd.dyadic_requant(np.array([123456]), scale)[0]) == 127  # default int8 clamp
        assert int(shiftadd.dyadic_requant(np.array([-123456]), scale)[0]) == -128


@settings(max_examples=50, deadline=None)
@given(acc=st.integers(-(2 ** 31), 2 ** 31 - 1), scale=st.floats(1e-9, 1e3))
def test_dyadic_matches_python_ints(acc, scale):
    b, c = shiftadd.dyadic_params(scale)
    assert 2 ** 30 <= b < 2 ** 31
    assert abs(b / 2 ** c - scale) <= scale * 2.0 ** -31
    exact = (acc * b + (1 << (c - 1))) >> c  # Python big ints: no overflow possible
    got = int(shiftadd.dyadic_requant(np.array([acc]), scale, -(2 ** 62), 2 ** 62)[0])
    assert got == exact


def test_dyadic_bad_inputs():
    with pytest.raises(ValueError, match="positive"):
        shiftadd.dyadic_params(0.0)
    with pytest.raises(ValueError, match="int32"):
        shiftadd.dyadic_requant(np.array([2 ** 31]), 0.01)
    with pytest.raises(ValueError, match="range 1..62"):
        shiftadd.dyadic_params(2.0 ** 40)


def test_shift_add_bad_inputs():
    with pytest.raises(ValueError, match="signed 4-bit range"):
        shiftadd.shift_add_gemm(np.array([[8]]), np.array([[1]]), 4)
    with pytest.raises(ValueError, match="unsupported shift-add weight bits"):
        shiftadd.shift_add_gemm(np.array([[1]]), np.array([[1]]), 5)
    with pytest.raises(ValueError, match="INT8 range"):
        shiftadd.shift_add_gemm(np.array([[1]]), np.array([[-129]]), 4)
    with pytest.raises(ValueError, match="does not divide K"):
        shiftadd.group_dequant_gemm(np.ones((1, 10), int), np.ones((1, 10), int), np.ones((1, 1)), None, 4)
