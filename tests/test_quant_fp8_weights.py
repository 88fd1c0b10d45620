"""FP8 weight quantiser (one scale per output channel, all columns at once) and the raw ->
float conversion: bit-identical to the per-column loop over ``quantize_fp8`` and to the Python-int
conversion they replace, on random, real (MiniLM) and extreme weights."""
from __future__ import annotations

import numpy as np
import pytest

from models import realdata
from models.fp8_gemm import quantize_fp8_weights, raw_to_float
from models.quant.mx import quantize_fp8
from models.registry import PE_KINDS


def _reference_fp8_weights(w, fmt):
    """The quantiser as first written: quantize_fp8 (per tensor) of each column on its own."""
    w = np.asarray(w, dtype=np.float64)
    codes = np.zeros(w.shape, dtype=np.int64)
    scales = []
    for n in range(w.shape[1]):
        q = quantize_fp8(w[:, n:n + 1], fmt)
        codes[:, n] = q.codes[:, 0]
        scales.append(float(q.scale))
    return codes, scales


def _reference_raw_to_float(raw, frac):
    return np.ldexp(np.asarray(raw, dtype=object).astype(np.float64), -frac)


def _weights():
    rng = np.random.default_rng(11)
    base = rng.standard_normal((40, 24))
    outliers = base.copy()
    outliers[3, 2], outliers[7, 9] = 1e30, -5e5
    cols = base.copy()
    cols[:, 0] = 0.0                       # an all-zero channel: scale 1
    cols[:, 1] = -3.25                     # constant negative channel
    cols[:, 2] = 1e-310                    # subnormal float64 channel
    a, w = realdata.real_gemm("minilm:L0.ffn2", n=64)
    return {"gauss": base, "heavy": rng.standard_t(2.0, (64, 33)), "outliers": outliers,
            "special columns": cols, "negative only": -np.abs(base), "single element": np.array([[0.7]]),
            "float32 transposed": np.asarray(rng.standard_normal((16, 48)), dtype=np.float32).T,
            "minilm": w}


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
@pytest.mark.parametrize("case", list(_weights()))
def test_fp8_weights_equal_per_column_loop(fmt, case):
    w = _weights()[case]
    pe = PE_KINDS["fp8"].prototype(format=fmt)
    codes, meta = quantize_fp8_weights(w, pe)
    want_codes, want_scales = _reference_fp8_weights(w, fmt)
    assert codes.dtype == want_codes.dtype and np.array_equal(codes, want_codes)
    assert meta["scale"] == want_scales


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_raw_to_float_equals_python_int_conversion(fmt):
    from models.fp8_gemm import get_format
    frac = get_format(fmt).frac
    rng = np.random.default_rng(2)
    raw = np.concatenate([rng.integers(-2 ** 62, 2 ** 62, 500), rng.integers(-2 ** 20, 2 ** 20, 500),
                          [0, 1, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 53 + 1, -(2 ** 53 + 1), 2 ** 54 + 2]])
    raw = raw.astype(np.int64).reshape(2, -1)
    assert np.array_equal(raw_to_float(raw, fmt), _reference_raw_to_float(raw, frac))
    wide = raw.astype(object) << 20                      # an accumulator wider than int64
    assert np.array_equal(raw_to_float(wide, fmt), _reference_raw_to_float(wide, frac))
