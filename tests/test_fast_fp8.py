"""The compiled FP8 element cast (:func:`models.fast_fp8.fp8_codes`, issue 17 speed) equals the
reference ``np.clip(x / s, -fmax, fmax).astype(ml_dtypes.float8_*).view(np.uint8)`` bit for bit:
every code's value and its float64 neighbours, the midpoints between codes (ties to even) and
theirs, subnormals, signed zeros, values past the clip, per-column and scalar scales, random data
over many binades and real MiniLM operands; and the FP8 quantisers built on it return the codes
the reference cast gives."""

import ml_dtypes
import numpy as np
import pytest

from models import fp8_gemm
from models.fast_fp8 import float_codes, fp8_codes
from models.quant import mx
from models.quant.mx import ELEM_FORMATS, quantize_fp8, quantize_mx
from models.realdata import real_gemm
from models.registry import PE_KINDS

DTYPES = {"e4m3": (ml_dtypes.float8_e4m3fn, 448.0), "e5m2": (ml_dtypes.float8_e5m2, 57344.0)}


def _reference(x, s, fmt):
    dt, fmax = DTYPES[fmt]
    with np.errstate(all="ignore"):
        return np.clip(np.asarray(x, dtype=np.float64) / s, -fmax, fmax).astype(dt).view(np.uint8)


def _compiled_path(x, s, fmt):
    """True when :func:`fp8_codes` takes the compiled path on ``x`` (every quotient finite)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(x / s)))


def _grid_neighbourhood(fmt):
    """Every finite code value, the midpoints between consecutive values, and each of those's
    float64 neighbours, both signs, plus zeros, the tiniest doubles and values past the clip."""
    return _neighbourhood(*DTYPES[fmt])


def _neighbourhood(dt, fmax):
    vals = np.arange(256, dtype=np.uint8).view(dt).astype(np.float64)
    pos = np.unique(vals[np.isfinite(vals) & (vals >= 0)])
    mids = (pos[:-1] + pos[1:]) / 2.0
    pts = np.concatenate([pos, mids, [pos[1] / 2.0, pos[1] / 4.0, 3 * pos[1] / 4.0, fmax * 1.5, 1e300,
                                      5e-324, 2.2250738585072014e-308]])
    pts = np.concatenate([pts, np.nextafter(pts, np.inf), np.nextafter(pts, -np.inf)])
    return np.concatenate([pts, -pts, [0.0, -0.0]])


@pytest.mark.parametrize("fmt", DTYPES)
def test_every_code_midpoint_and_neighbour(fmt):
    x = _grid_neighbourhood(fmt).reshape(1, -1)
    assert _compiled_path(x, 1.0, fmt)
    got = fp8_codes(x, 1.0, fmt)
    assert np.array_equal(got, _reference(x, 1.0, fmt))
    # the ties do occur (else half to even would not be tested)
    dt, _ = DTYPES[fmt]
    assert np.any(np.arange(256, dtype=np.uint8).view(dt).astype(np.float64)[got[0]] != x[0])


MX_FLOATS = [name for name, f in ELEM_FORMATS.items() if f.ml_dtype is not None]


@pytest.mark.parametrize("name", MX_FLOATS)
def test_mx_element_formats(name):
    """:func:`float_codes` of the MX element formats (FP8, FP6, FP4: sign bit above the exponent)
    on every value, midpoint and neighbour, and random data at random scales."""
    f = ELEM_FORMATS[name]
    x = _neighbourhood(f.ml_dtype, f.max_norm).reshape(1, -1)
    want = np.clip(x, -f.max_norm, f.max_norm).astype(f.ml_dtype).view(np.uint8)
    assert np.array_equal(float_codes(x, 1.0, f.ebits, f.mbits, f.max_norm, f.ml_dtype), want)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((19, 40)) * np.exp2(rng.integers(-12, 12, size=(19, 40)))
    s = np.exp2(rng.uniform(-5, 5, size=40))
    want = np.clip(x / s, -f.max_norm, f.max_norm).astype(f.ml_dtype).view(np.uint8)
    assert np.array_equal(float_codes(x, s, f.ebits, f.mbits, f.max_norm, f.ml_dtype), want)


@pytest.mark.parametrize("name", MX_FLOATS)
def test_quantize_mx_codes(name):
    """quantize_mx's element codes are the ml_dtypes patterns of its on-grid values (real data)."""
    a, _ = real_gemm("minilm:L0.ffn2")
    a = np.asarray(a[:32], dtype=np.float64)
    _, _, _, _, vq = mx._mx_core(a, name, "even", 32, "numpy")
    want = vq.astype(ELEM_FORMATS[name].ml_dtype).view(np.uint8).reshape(a.shape)
    assert np.array_equal(quantize_mx(a, name).codes, want)


@pytest.mark.parametrize("fmt", DTYPES)
def test_random_scales_and_binades(fmt):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 53)) * np.exp2(rng.integers(-30, 30, size=(37, 53)))
    x[0, :5] = [0.0, -0.0, 1e-320, -1e-320, 1e300]
    s = np.exp2(rng.uniform(-20, 20, size=53))
    assert _compiled_path(x, s, fmt) and _compiled_path(x.T, s[:37], fmt)
    assert np.array_equal(fp8_codes(x, s, fmt), _reference(x, s, fmt))
    assert np.array_equal(fp8_codes(x, 0.37, fmt), _reference(x, 0.37, fmt))
    xt = x.T                                    # a non-contiguous input
    assert np.array_equal(fp8_codes(xt, s[:37], fmt), _reference(xt, s[:37], fmt))


@pytest.mark.parametrize("fmt", DTYPES)
def test_non_finite_falls_back_to_the_reference(fmt):
    x = np.array([[1.0, np.inf, -np.inf, np.nan, 3.0]])
    assert not _compiled_path(x, 1.0, fmt)
    assert np.array_equal(fp8_codes(x, 1.0, fmt), _reference(x, 1.0, fmt))
    x = np.array([[1.0, 2.0]])                  # a zero scale: infinite quotients
    assert np.array_equal(fp8_codes(x, np.array([0.0, 1.0]), fmt), _reference(x, np.array([0.0, 1.0]), fmt))


@pytest.mark.parametrize("fmt", DTYPES)
def test_quantisers_on_real_operands(fmt):
    a, w = real_gemm("minilm:L0.ffn2")
    a, w = np.asarray(a[:64], dtype=np.float64), np.asarray(w, dtype=np.float64)
    q = quantize_fp8(a, fmt)
    assert np.array_equal(q.codes, _reference(a, float(q.scale), fmt))
    pe = PE_KINDS["fp8"].prototype(format=fmt)
    codes, meta = fp8_gemm.quantize_fp8_weights(w, pe)
    assert codes.dtype == np.int64
    assert np.array_equal(codes, _reference(w, np.asarray(meta["scale"]), fmt).astype(np.int64))


def test_nvfp4_codes():
    """quantize_nvfp4's E2M1 codes are the ml_dtypes cast of its clipped block quotients."""
    a, _ = real_gemm("minilm:L0.ffn2")
    rng = np.random.default_rng(12)
    for x in (np.asarray(a[:32], dtype=np.float64), rng.standard_t(2.0, (24, 64))):
        q = mx.quantize_nvfp4(x, 16)
        xb = x.reshape(x.shape[0], -1, 16)
        sbf = q.meta["block_scale"].astype(np.float64)
        v = xb / (np.where(sbf == 0.0, 1.0, sbf) * q.meta["tensor_scale"])[..., None]
        want = np.clip(v, -6.0, 6.0).astype(ml_dtypes.float4_e2m1fn).view(np.uint8).reshape(x.shape)
        assert np.array_equal(q.codes, want)
