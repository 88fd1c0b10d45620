"""The FP8, L-Mul and W*A16 accuracy output (:func:`models.fast_golden.pow2_output_f32`, behind
:func:`~models.fast_golden.fast_output_f32`) equals the registered dequantisation
(:func:`models.fp8_gemm.fp8_dequantise`, :func:`models.wfp16_gemm.wfp16_dequantise`) cast to
float32 bit for bit: random integer sums up to
e5m2's widths, zeros of both signs, sums at 2**53 and 2**80, activation scales down to where
``s_a * 2**-FRAC`` leaves the normal range (then the definition runs), weight scales that
overflow or give subnormal float32 results, float32 ties; real MiniLM operands through the
kinds' quantisers (every W*A16 variant), the compiled pass being the one compared."""

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
            _same(fg.pow2_output_f32("fp8", raw, {"scale": [s_a]}, {"scale": list(s_w)}, pe), _want(raw, s_a, s_w, pe))
    # float32 ties: values exactly halfway between two float32 values after the scales
    halfway = np.ldexp((1.0 + 2.0 ** -24) * np.array([[1.0, 3.0, 5.0, -7.0]]), frac)
    _same(fg.pow2_output_f32("fp8", halfway, {"scale": [1.0]}, {"scale": [1.0] * 4}, pe),
          _want(halfway, 1.0, np.ones(4), pe))


def test_scales_outside_the_normal_range_go_to_the_definition():
    """``s_a * 2**-FRAC`` subnormal (or 0, or not finite), or raw not float64: None."""
    pe = PE_KINDS["fp8"].prototype(format="e5m2")
    raw = np.ones((2, 3))
    s_min = 2.0 ** (-1022 + get_format("e5m2").frac)
    assert fg.pow2_output_f32("fp8", raw, {"scale": [s_min]}, {"scale": [1.0] * 3}, pe) is not None
    for s_a in (s_min / 2, 0.0, np.inf, np.nan):
        assert fg.pow2_output_f32("fp8", raw, {"scale": [s_a]}, {"scale": [1.0] * 3}, pe) is None
    assert fg.pow2_output_f32("fp8", raw.astype(np.int64), {"scale": [1.0]}, {"scale": [1.0] * 3}, pe) is None


WFP16 = PE_KINDS["wfp16"]
CASES = [("fp8", {"format": f}) for f in FORMATS] + [("lmul", {"format": f}) for f in FORMATS] \
    + [("wfp16", dict(o)) for _, o in WFP16.variants]


def test_wfp16_random_and_extreme_values():
    """``raw * 2**-24 * s_w[n]`` (per-channel and second-level scales): the same float32 bits."""
    rng = np.random.default_rng(22)
    raw = np.ldexp(rng.integers(-(1 << 20), 1 << 20, (13, 17)).astype(np.float64), rng.integers(0, 44, (13, 17)))
    raw[0, :5] = [0.0, -0.0, 1.0, 2.0 ** 63, -(2.0 ** 64)]
    s_w = np.exp(rng.standard_normal(17) * 3)
    s_w[:4] = [1e-30, 3e38, np.finfo(np.float64).tiny, 1.0]
    for options in ({}, {"group_size": 128}):
        pe = WFP16.prototype(**options)
        key = "scale" if pe.group_size is None else "second_level_scale"
        with np.errstate(over="ignore"):
            want = np.asarray(WFP16.dequantize_output(raw, None, {}, {key: list(s_w)}, pe), dtype=np.float32)
        _same(fg.pow2_output_f32("wfp16", raw, {}, {key: list(s_w)}, pe), want)
        # float32 ties: halfway between two float32 values after the scales (a scale off by an
        # ulp rounds them the other way)
        halfway = np.ldexp((1.0 + 2.0 ** -24) * np.array([[1.0, 3.0, 5.0, -7.0]]), 24)
        want = np.asarray(WFP16.dequantize_output(halfway, None, {}, {key: [1.0] * 4}, pe), dtype=np.float32)
        _same(fg.pow2_output_f32("wfp16", halfway, {}, {key: [1.0] * 4}, pe), want)


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_real_minilm_output(name, options, monkeypatch):
    """Real MiniLM operands through the kind's quantisers: fast_output_f32 (the compiled pass
    taken) equals the golden's output dequantised and cast."""
    kind = PE_KINDS[name]
    pe = kind.prototype(**options)
    x, w = real_gemm("minilm:L1.ffn1", m=20, n=30)
    ops = kind.operands(x, w, pe)
    raw = fg.fast_raw(kind, ops, pe)
    assert raw.dtype == np.float64
    calls = []
    monkeypatch.setattr(fg, "pow2_output_f32", lambda *a: calls.append(1) or pow2_output_f32(*a))
    want = np.asarray(kind.dequantize_output(kind.golden(ops, pe), ops.acts, ops.acts_meta,
                                             ops.weights_meta, pe), dtype=np.float32)
    got = fg.fast_output_f32(kind, raw, ops, pe)
    _same(got, want)
    assert calls == [1]
    _same(pow2_output_f32(name, raw, ops.acts_meta, ops.weights_meta, pe), want)   # not the fallback


pow2_output_f32 = fg.pow2_output_f32
