"""Shared helpers: validation messages, QuantizedTensor, fp16 rounding, lattice lookup tables."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from models.quant import bitmod, ovp_format, ovp_search
from models.quant.common import (LatticeTable, QuantizedTensor, as_float_2d, check_bits, check_group,
                                 round_f16)


@settings(max_examples=60, deadline=None)
@given(v=hnp.arrays(np.float32, 128, elements=st.floats(-65504, 65504, width=32)))
def test_round_f16_equals_numpy_cast(v):
    ties = v.astype(np.float16).astype(np.float32)
    with np.errstate(over="ignore"):  # spacing(65504) overflows fp16; those ties are filtered out
        half_ulp = np.spacing(np.abs(v).astype(np.float16)).astype(np.float32) / 2
    for w in (v, ties + half_ulp, ties - half_ulp, v * np.float32(2.0 ** -20)):
        w = w[np.abs(w) <= 65504]
        got = round_f16(w)
        ref = w.astype(np.float16).astype(np.float32)
        assert np.array_equal(got, ref) and np.array_equal(np.signbit(got), np.signbit(ref))


@settings(max_examples=40, deadline=None)
@given(t=hnp.arrays(np.float64, 64, elements=st.floats(-80, 80)),
       name=st.sampled_from(sorted(bitmod.LEVELS)))
def test_level_table_equals_search(t, name):
    lv = np.asarray(bitmod.LEVELS[name])
    tab = bitmod._level_table(bitmod.LEVELS[name])
    on_lattice = np.round(t * 4) / 4  # hits every midpoint exactly
    for v in (t, on_lattice):
        assert np.array_equal(tab(v), bitmod._nearest_tie_low(v, lv).astype(np.float32))


def test_lattice_table_rejects_irrational_midpoints():
    with pytest.raises(ValueError, match="lattice"):
        LatticeTable(np.array([0.1]), lambda t: t)


def test_sq_error_rows_matches_fake_quant():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((8, 64)) * rng.uniform(0.5, 5, (8, 64))).astype(np.float32)
    for mode in ("int4", "flint4", "int8"):
        cfg = ovp_format.CONFIGS[mode]
        alpha = ovp_search.x_max_3sigma(x) * np.float32(1.03)
        out, *_ = ovp_format._fake_quant_f32(x, alpha, cfg)
        d = out - x
        s = ovp_search._sq_error_rows(x, alpha / np.float32(cfg.normal_max), cfg)
        assert np.array_equal(s, ovp_search.rowsum_f32_vec8x4(d * d))


def test_rowsum_order_is_sequential_lanes():
    rng = np.random.default_rng(4)
    a = (rng.standard_normal((3, 70)) * 10 ** rng.uniform(-4, 4, (3, 70))).astype(np.float32)
    ref = []
    for row in a:
        acc = np.zeros((4, 8), np.float32)
        for i in range(0, 64, 32):
            acc = acc + row[i:i + 32].reshape(4, 8)
        v = acc[0] + acc[1] + acc[2] + acc[3]
        s = np.float32(0.0)
        for lane in v:
            s = np.float32(s + lane)
        for tail in row[64:]:
            s = np.float32(s + tail)
        ref.append(s)
    assert np.array_equal(ovp_search.rowsum_f32_vec8x4(a), np.array(ref, np.float32))


def test_quantized_tensor_group_expansion_and_frozen():
    qt = QuantizedTensor(codes=np.array([[1, 2, 3, 4]]), scale=np.array([[0.5, 2.0]]),
                         zero_point=np.array([[1, 0]]), group_size=2)
    np.testing.assert_allclose(qt.dequantize(), [[0.0, 0.5, 6.0, 8.0]])
    assert qt.shape == (1, 4)
    with pytest.raises(Exception):
        qt.codes = np.zeros(4)  # frozen dataclass


def test_validation_messages():
    with pytest.raises(ValueError, match="must be 2-D"):
        as_float_2d(np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="non-empty"):
        as_float_2d(np.ones((0, 3)))
    with pytest.raises(ValueError, match="real numeric"):
        as_float_2d(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"1 NaN and 1 inf"):
        as_float_2d(np.array([[np.nan, np.inf]]))
    with pytest.raises(ValueError, match=r"unsupported bits=9: supported values are \[2, 3\]"):
        check_bits(9, (2, 3))
    with pytest.raises(ValueError, match="does not divide K=10"):
        check_group(10, 4)
    with pytest.raises(ValueError, match="positive integer"):
        check_group(10, 0)
