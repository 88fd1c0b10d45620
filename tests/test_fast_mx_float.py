"""The MX accuracy path's float output (:func:`models.fast_golden.mx_float`, registered in
``FAST_FLOATS`` and read by :func:`models.mx_gemm.mx_dequantise`) equals the golden's words
dequantised, bit for bit: random codes of every format (special values, short blocks, scales
that overflow the FP32 accumulator to infinity), NVFP4's per-tensor scales, and real MiniLM
operands through the quantisers."""

import numpy as np
import pytest

from hw.pe_mx import FORMATS
from models import fast_golden as fg, mx_gemm
from models.realdata import real_gemm
from models.registry import PE_KINDS, GemmOperands

KIND = PE_KINDS["mx"]


def _bits(x):
    return np.asarray(x, dtype=np.float64).view(np.int64)


def _dequantised(ops, pe):
    return KIND.dequantize_output(KIND.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_random_codes(fmt):
    pe = KIND.prototype(format=fmt)
    rng = np.random.default_rng(41)
    meta = {"tensor_scale": 1.0}
    for m, k, n in ((4, 96, 5), (6, 200, 3)):
        a, w = KIND.random_codes(rng, m, k, n, pe)
        ops = GemmOperands(a, w, None, meta, meta)
        got = fg.mx_float(a, fg.prepare_weights(KIND, w, pe), pe)
        assert got.dtype == np.float64
        assert np.array_equal(_bits(got), _bits(mx_gemm.decode_fp32(KIND.golden(ops, pe))))
        assert np.array_equal(_bits(fg.fast_output(KIND, ops, pe)), _bits(_dequantised(ops, pe)))


def test_overflow_to_infinity():
    """Blocks at the largest E8M0 scales: the FP32 accumulator overflows to +-inf (and the
    float output carries it, as the words' decoding does)."""
    pe = KIND.prototype(format="mxfp8-e4m3")
    elements = np.full((2, 2 * pe.block), 0x7E)             # 448, the largest E4M3 value
    elements[1] |= 0x80
    a = mx_gemm.interleave(elements, np.full((2, 2), 254), pe)
    w = mx_gemm.interleave(np.full((3, 2 * pe.block), 0x7E), np.full((3, 2), 254), pe).T
    meta = {"tensor_scale": 1.0}
    ops = GemmOperands(a, w, None, meta, meta)
    got = fg.fast_output(KIND, ops, pe)
    assert np.isposinf(got[0]).all() and np.isneginf(got[1]).all()
    assert np.array_equal(_bits(got), _bits(_dequantised(ops, pe)))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_real_minilm_operands(fmt):
    pe = KIND.prototype(format=fmt)
    ops = KIND.operands(*real_gemm("minilm:L0.ffn2", m=9, n=40), pe)
    assert fmt != "nvfp4" or ops.acts_meta["tensor_scale"] != 1.0
    assert np.array_equal(_bits(fg.fast_output(KIND, ops, pe)), _bits(_dequantised(ops, pe)))
    assert fg.FAST_FLOATS["mx"] is fg.mx_float
