"""The FP8 and L-Mul accuracy output (:func:`models.fast_golden.fp8_output_f32`, behind
:func:`~models.fast_golden.fast_output_f32`) equals the registered dequantisation
:func:`models.fp8_gemm.fp8_dequantise` cast to float32 bit for bit: random integer sums up to
e5m2's widths, zeros of both signs, sums at 2**53 and 2**80, activation scales down to where
``s_a * 2**-FRAC`` leaves the normal range (then the definition runs), weight scales that
overflow or give subnormal float32 results, float32 ties; real MiniLM operands through both
kinds' quantisers, the compiled pass being the one compared."""

import numpy as np
import pytest

from models import fast_golden as fg
from models.fp8_gemm import fp8_dequantise, get_format
from models.realdata import real_gemm
from models.registry import PE_KINDS

FORMATS = ("e4m3", "e5m2")


def _want(raw, s_a, s_w, pe):
    with np.errstate(over="ignore"):
        return np.asarray(fp8_dequantise(raw, None, {"scale": [s_a]}, {"scale": list(s_w)}, pe), dtype=np.float32)


def _same(got, want):
    assert got is not None and got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("fmt", FORMATS)
def test_random_and_extreme_values(fmt):
    pe = PE_KINDS["fp8"].prototype(format=fmt)
    rng = np.random.default_rng(21)
    top = 80 if fmt == "e5m2" else 46
    raw = np.ldexp(rng.integers(-(1 << 20), 1 << 20, (23, 31)).astype(np.float64),
                   rng.integers(0, top - 20, (23, 31)))
    raw[0, :7] = [0.0, -0.0, 1.0, -1.0, 2.0 ** 53, -(2.0 ** 53) - 2, 2.0 ** (top - 1)]
    s_w = np.exp(rng.standard_normal(31) * 3)
    s_w[:4] = [1e-30, 3e38, np.finfo(np.float64).tiny, 1.0]
    frac = get_format(fmt).frac
    with np.errstate(over="ignore"):
        for s_a in (0.0123, 1e-20, 7.5e36, 1.0, float(np.float32(0.3)), 2.0 ** (-1022 + frac)):
            _same(fg.fp8_output_f32(raw, {"scale": [s_a]}, {"scale": list(s_w)}, pe), _want(raw, s_a, s_w, pe))
    # float32 ties: values exactly halfway between two float32 values after the scales
    halfway = np.ldexp((1.0 + 2.0 ** -24) * np.array([[1.0, 3.0, 5.0, -7.0]]), frac)
    _same(fg.fp8_output_f32(halfway, {"scale": [1.0]}, {"scale": [1.0] * 4}, pe),
          _want(halfway, 1.0, np.ones(4), pe))


def test_scales_outside_the_normal_range_go_to_the_definition():
    """``s_a * 2**-FRAC`` subnormal (or 0, or not finite), or raw not float64: None."""
    pe = PE_KINDS["fp8"].prototype(format="e5m2")
    raw = np.ones((2, 3))
    s_min = 2.0 ** (-1022 + get_format("e5m2").frac)
    assert fg.fp8_output_f32(raw, {"scale": [s_min]}, {"scale": [1.0] * 3}, pe) is not None
    for s_a in (s_min / 2, 0.0, np.inf, np.nan):
        assert fg.fp8_output_f32(raw, {"scale": [s_a]}, {"scale": [1.0] * 3}, pe) is None
    assert fg.fp8_output_f32(raw.astype(np.int64), {"scale": [1.0]}, {"scale": [1.0] * 3}, pe) is None


@pytest.mark.parametrize("name", ["fp8", "lmul"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_real_minilm_output(name, fmt, monkeypatch):
    """Real MiniLM operands through the kind's quantisers: fast_output_f32 (the compiled pass
    taken) equals the golden's output dequantised and cast."""
    kind = PE_KINDS[name]
    pe = kind.prototype(format=fmt)
    x, w = real_gemm("minilm:L1.ffn1", m=20, n=30)
    ops = kind.operands(x, w, pe)
    raw = fg.fast_raw(kind, ops, pe)
    assert raw.dtype == np.float64
    calls = []
    monkeypatch.setattr(fg, "fp8_output_f32", lambda *a: calls.append(1) or fp8_output_f32(*a))
    want = np.asarray(kind.dequantize_output(kind.golden(ops, pe), ops.acts, ops.acts_meta,
                                             ops.weights_meta, pe), dtype=np.float32)
    got = fg.fast_output_f32(kind, raw, ops, pe)
    _same(got, want)
    assert calls == [1]
    _same(fp8_output_f32(raw, ops.acts_meta, ops.weights_meta, pe), want)      # not the fallback


fp8_output_f32 = fg.fp8_output_f32
