"""LUT Tensor Core: reinterpretation, odd table, offline flip, bit-plane lookup == integer dot product."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from models.quant import lut

seeds = st.integers(0, 2 ** 32 - 1)


def test_reinterpretation_identity():
    for B in range(1, 5):
        q = np.arange(2 ** B)
        qp, s2, z2 = lut.reinterpret(q, B, scale=0.3, zero_point=np.arange(2 ** B))
        assert np.all(qp % 2 != 0) and qp.min() == -(2 ** B - 1) and qp.max() == 2 ** B - 1
        bits = (q[:, None] >> np.arange(B)) & 1
        assert np.array_equal(qp, ((2 * bits - 1) << np.arange(B)).sum(-1))  # sum_b 2^b (2 q_b - 1)
        z = np.arange(2 ** B)
        # s (q - z) == s' (q' - z') for every code / zero point pair
        np.testing.assert_allclose(0.3 * (q[:, None] - z[None, :]), s2 * (qp[:, None] - z2[None, :]), rtol=0, atol=1e-12)


def test_table_is_odd_and_half_is_even_entries():
    a = np.array([[3, -5, 7, 100]])
    t = lut.build_tables(a)[0, 0]
    assert t[0] == -105 and t[15] == 105 and t[0b0101] == 3 + 5 + 7 - 100  # bit i of c -> +-a_i
    assert np.array_equal(t[::-1], -t)  # LUT[15 - c] = -LUT[c]
    assert np.array_equal(lut.half_tables(a)[0, 0], t[0::2])
    for c in range(16):
        stored, sign = lut.flip_index(c)
        assert 0 <= stored < 8
        assert t[c] == sign * lut.half_tables(a)[0, 0][stored]
        # stored[3:1] = w[3:1] XOR {3{w[0]}}
        assert stored == ((c >> 1) ^ (0b111 if c & 1 else 0))


@settings(max_examples=40, deadline=None)
@given(seed=seeds, B=st.integers(1, 4), n=st.integers(1, 5), m=st.integers(1, 4), k=st.integers(1, 37))
def test_bitplane_lookup_equals_integer_dot(seed, B, n, m, k):
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 2 ** B, size=(n, k))
    a = rng.integers(-128, 128, size=(m, k))
    qp = lut.reinterpret(q, B)
    y = lut.lut_gemm(q, a, B)  # ragged K is zero padded to a multiple of 4
    assert np.array_equal(y, qp @ a.T)
    assert np.array_equal(lut.lut_dot(q[0], a[0], B), qp[0] @ a[0])


@settings(max_examples=20, deadline=None)
@given(seed=seeds, B=st.integers(1, 4), k=st.integers(1, 40))
def test_dequantised_output(seed, B, k):
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 2 ** B, size=(3, k))
    z = rng.integers(0, 2 ** B, size=3)
    s = rng.uniform(0.01, 1.0, size=3)
    a = rng.integers(-128, 128, size=(2, k))
    y = lut.lut_dequant_gemm(q, a, B, s, z)
    ref = (s[:, None] * (q - z[:, None])) @ a.T
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-9)


def test_extremes_all_ones_and_zeros():
    a = np.full((1, 9), -128)
    for B in range(1, 5):
        for code in (0, 2 ** B - 1):
            q = np.full((1, 9), code)
            assert lut.lut_gemm(q, a, B)[0, 0] == (2 * code - (2 ** B - 1)) * -128 * 9


def test_bad_inputs():
    with pytest.raises(ValueError, match="unsigned 2-bit range"):
        lut.lut_gemm(np.array([[4]]), np.array([[1]]), 2)
    with pytest.raises(ValueError, match="INT8 range"):
        lut.lut_gemm(np.array([[1]]), np.array([[300]]), 2)
    with pytest.raises(ValueError, match="unsupported LUT weight bits"):
        lut.lut_gemm(np.array([[1]]), np.array([[1]]), 0)
    with pytest.raises(ValueError, match="K mismatch"):
        lut.lut_gemm(np.array([[1, 1]]), np.array([[1]]), 2)
    with pytest.raises(ValueError, match="integers"):
        lut.lut_gemm(np.array([[1.0]]), np.array([[1]]), 2)
