"""MX / NVFP4 / FP8: element rounding == ml_dtypes, shared exponents, saturation, codes."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from models.quant import mx

FP = ["fp4_e2m1", "fp6_e2m3", "fp6_e3m2", "fp8_e4m3", "fp8_e5m2"]
wide = st.floats(-1e5, 1e5, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(v=hnp.arrays(np.float32, 64, elements=wide), fmt=st.sampled_from(FP))
def test_element_rounding_equals_ml_dtypes(v, fmt):
    f = mx.ELEM_FORMATS[fmt]
    # also probe exact ties: midpoints between adjacent representable values
    grid = np.unique(np.abs(np.arange(256, dtype=np.uint8).view(f.ml_dtype).astype(np.float64)))
    grid = grid[np.isfinite(grid)]
    mids = (grid[:-1] + grid[1:]) / 2
    for x in (v.astype(np.float64), np.concatenate([mids, -mids, grid])):
        own = mx.round_to_elem(x, fmt, "even")
        ref = np.clip(x, -f.max_norm, f.max_norm).astype(f.ml_dtype).astype(np.float64)
        assert np.array_equal(own, ref)


def test_nearest_breaks_ties_away_from_zero():
    # e2m1 grid 0, 0.5, 1, 1.5, 2, 3, 4, 6: ties 0.25, 0.75, 2.5, 5
    x = np.array([0.25, 0.75, 2.5, 5.0, -0.25, -2.5, 1.25, 100.0])
    assert mx.round_to_elem(x, "fp4_e2m1", "even").tolist() == [0.0, 1.0, 2.0, 4.0, -0.0, -2.0, 1.0, 6.0]
    assert mx.round_to_elem(x, "fp4_e2m1", "nearest").tolist() == [0.5, 1.0, 3.0, 6.0, -0.5, -3.0, 1.5, 6.0]
    assert mx.round_to_elem(np.array([0.5 / 64, 1.5 / 64, 3.0]), "int8", "nearest").tolist() == [1 / 64, 2 / 64, 127 / 64]


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float32, (2, 64), elements=st.floats(-1e4, 1e4, width=32)),
       fmt=st.sampled_from(FP + ["int8"]), rnd=st.sampled_from(["even", "nearest"]))
def test_mx_block_structure(x, fmt, rnd):
    qt = mx.quantize_mx(x, fmt, rnd)
    f = mx.ELEM_FORMATS[fmt]
    se = qt.meta["shared_exp"]
    assert se.shape == (2, 2) and se.min() >= -127 and se.max() <= 127
    amax = np.abs(x.astype(np.float64)).reshape(2, 2, 32).max(-1)
    nz = amax > 0
    assert np.array_equal(se[nz], np.maximum(np.floor(np.log2(amax[nz])).astype(int) - f.emax, -127))
    assert np.all(se[~nz] == max(-126 - f.emax, -127))  # zero block: log2(FP32_MIN_NORMAL) - emax
    y = qt.dequantize()
    # elements are on the grid scaled by 2**shared_exp and never exceed max_norm * 2**shared_exp
    v = y.reshape(2, 2, 32) / np.ldexp(1.0, se)[..., None]
    assert np.all(np.abs(v) <= f.max_norm)
    assert np.array_equal(mx.round_to_elem(v, fmt, rnd), v)
    if rnd == "even":
        assert np.array_equal(y, mx.fake_quant_mx(x, fmt, "even", backend="ml_dtypes"))


def test_mxint8_is_sign_magnitude():
    x = np.zeros((1, 32))
    x[0, 0], x[0, 1] = 1.0, -1.0
    qt = mx.quantize_mx(x, "int8")
    assert qt.codes.min() >= -127 and qt.codes.max() <= 127
    assert qt.codes[0, 0] == 64 and qt.codes[0, 1] == -64  # 1.0 = 64/64 with shared exponent 0


def test_nvfp4():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64)) * rng.uniform(0.01, 10, (8, 1))
    qt = mx.quantize_nvfp4(x)
    sb = qt.meta["block_scale"]
    assert sb.dtype == ml_dtypes.float8_e4m3fn and sb.shape == (8, 4)
    g = qt.meta["tensor_scale"]
    assert g == pytest.approx(np.abs(x).max() / (6 * 448), rel=1e-6)
    y = qt.dequantize()
    v = y.reshape(8, 4, 16) / (sb.astype(np.float64)[..., None] * g)
    assert np.array_equal(v.astype(ml_dtypes.float4_e2m1fn).astype(np.float64), v)  # E2M1 elements
    assert np.all(np.abs(v) <= 6)
    assert np.linalg.norm(y - x) / np.linalg.norm(x) < 0.15


@pytest.mark.parametrize("fmt,dt", [("e4m3", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2)])
def test_fp8_per_tensor(fmt, dt):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 40)) * 3
    qt = mx.quantize_fp8(x, fmt)
    s = float(qt.scale)
    fmax = float(ml_dtypes.finfo(dt).max)
    assert s == pytest.approx(np.abs(x).max() / fmax)
    ref = np.clip(x / s, -fmax, fmax).astype(dt).astype(np.float64) * s
    assert np.array_equal(qt.dequantize(), ref)
    assert np.all(np.isfinite(qt.dequantize()))


def test_bad_input():
    with pytest.raises(ValueError, match="does not divide K"):
        mx.quantize_mx(np.ones((2, 48)), "fp8_e4m3")
    with pytest.raises(ValueError, match="unsupported MX element format"):
        mx.quantize_mx(np.ones((2, 32)), "fp5")
    with pytest.raises(ValueError, match="unsupported rounding"):
        mx.quantize_mx(np.ones((2, 32)), "fp4_e2m1", "floor")
    with pytest.raises(ValueError, match="NaN"):
        mx.quantize_nvfp4(np.full((1, 16), np.nan))
    with pytest.raises(ValueError, match="inf"):
        mx.quantize_fp8(np.array([[np.inf, 1.0]]))
    with pytest.raises(ValueError, match="unsupported FP8 format"):
        mx.quantize_fp8(np.ones((1, 2)), "e3m4")
    with pytest.raises(ValueError, match="only rounds half to even"):
        mx.round_to_elem(np.ones(2), "fp4_e2m1", "nearest", backend="ml_dtypes")
