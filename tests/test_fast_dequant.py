"""models.fast_dequant.scaled_f32 (behind models.fast_golden.fast_output_f32) equals
dequantize_scaled_output cast to float32 bit for bit: random, extreme (overflow to infinity,
subnormal and zero results, -0.0) and real operands; other inputs go to the definition."""

import dataclasses

import numpy as np
import pytest

from models import fast_golden as fg
from models.fast_dequant import scaled_f32
from models.intcodes import dequantize_scaled_output
from models.realdata import real_gemm
from models.registry import PE_KINDS


def _want(raw, s_a, s_w):
    return np.asarray(dequantize_scaled_output(raw, act_scale=s_a, weight_scale=s_w), dtype=np.float32)


def _same(got, want):
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got.view(np.int32), want.view(np.int32))


def test_random_and_extreme_values():
    rng = np.random.default_rng(11)
    raw = rng.integers(-(1 << 40), 1 << 40, (37, 45)).astype(np.float64)
    raw[0, :6] = [0.0, -0.0, 1.0, -1.0, 2.0 ** 52, -(2.0 ** 53)]
    s_w = np.exp(rng.standard_normal(45) * 3)
    s_w[:4] = [1e-30, 3e38, np.finfo(np.float64).tiny, 1.0]
    with np.errstate(over="ignore"):
        for s_a in (0.0123, 1e-20, 7.5e36, np.float32(0.3)):
            want = _want(raw, [[s_a]], s_w[:, None].T)
            _same(scaled_f32(raw, [[s_a]], s_w[:, None].T), want)
    # ties of the float32 rounding: products exactly halfway between two float32 values
    halfway = (1.0 + 2.0 ** -24) * np.array([[1.0, 3.0, 5.0, -7.0]])
    _same(scaled_f32(halfway, 1.0, np.ones(4)), _want(halfway, 1.0, np.ones(4)))


def test_other_inputs_go_to_the_definition():
    assert scaled_f32(np.ones((2, 3), np.int64), 1.0, np.ones(3)) is None
    assert scaled_f32(np.ones((2, 3)), 1.0, np.ones(1)) is None               # a broadcast scale
    assert scaled_f32(np.ones(3), 1.0, np.ones(3)) is None


@pytest.mark.parametrize("name,options", [("int8", {}), ("bitfusion", {"weight_bits": 4}), ("ant", {}),
                                          ("ovp", {"mode": "int8"}),
                                          ("bitserial_fp16", {"weight_format": "mixed4"}),
                                          ("bitserial_fp16", {"weight_format": "int8"})])
def test_kinds_output(name, options):
    """Real MiniLM operands through each kind's quantisers: the registered dequantisation
    (``bitserial_fp16``: its accumulator words, :func:`models.fast_acc_output.acc_words_f32`)."""
    kind = PE_KINDS[name]
    pe = kind.prototype(**options)
    x, w = real_gemm("minilm:L1.ffn1", m=20, n=30)
    ops = kind.operands(x, w, pe)
    raw = fg.fast_raw(kind, ops, pe)
    assert raw.dtype == (np.int64 if name == "bitserial_fp16" else np.float64)   # the compiled pass's input
    want = np.asarray(kind.dequantize_output(kind.golden(ops, pe), ops.acts, ops.acts_meta,
                                             ops.weights_meta, pe), dtype=np.float32)
    _same(fg.fast_output_f32(kind, raw, ops, pe), want)


def test_int8_zero_point_still_refused():
    """INT8's dequantisation refuses asymmetric weights; the fused path does not hide that."""
    kind = PE_KINDS["int8"]
    pe = kind.prototype()
    ops = kind.operands(np.ones((2, 4)), np.ones((4, 3)), pe)
    ops = dataclasses.replace(ops, weights_meta={**ops.weights_meta, "zero_point": [0, 0, 0]})
    with pytest.raises(ValueError, match="zero point"):
        fg.fast_output_f32(kind, np.ones((2, 3)), ops, pe)
