"""INT quantiser: ranges, half-step error, rounding/clamping rules, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from models.quant import intq
from models.quant.common import relative_error, sqnr_db

FLOATS = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


def _mats(max_rows=6, k_choices=(8, 16, 32)):
    return st.sampled_from(k_choices).flatmap(
        lambda k: hnp.arrays(np.float64, st.tuples(st.integers(1, max_rows), st.just(k)), elements=FLOATS))


GRANS = [("tensor", None), ("channel", None), ("group", 8)]


@settings(max_examples=60, deadline=None)
@given(x=_mats(), bits=st.integers(2, 8), sym=st.booleans(), gi=st.integers(0, 2))
def test_codes_in_range_and_half_step_error(x, bits, sym, gi):
    gran, g = GRANS[gi]
    qt = intq.quantize_int(x, bits, sym, gran, g)
    c = qt.codes.astype(np.int64)
    if sym:
        qmax = 2 ** (bits - 1) - 1
        assert c.min() >= -qmax and c.max() <= qmax
    else:
        assert c.min() >= 0 and c.max() <= 2 ** bits - 1
        z = qt.expand(qt.zero_point)
        assert np.all((z >= 0) & (z <= 2 ** bits - 1))
    s = np.broadcast_to(qt.expand(qt.scale), x.shape)
    err = np.abs(qt.dequantize() - x)
    # every input lies in the representable range, so the error is at most half a step
    bound = 0.5 * s * (1 + 1e-9) + 1e-12
    assert np.all(err <= bound)


def test_rounding_is_half_to_even_and_clamped():
    # absmax 7 with 4 bits -> scale 1: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2
    x = np.array([[0.5, 1.5, 2.5, -2.5, 7.0, -7.0, 3.5, 0.0]])
    qt = intq.quantize_int(x, 4, True, "tensor")
    assert qt.codes.tolist() == [[0, 2, 2, -2, 7, -7, 4, 0]]
    assert float(qt.scale.ravel()[0]) == 1.0


def test_asymmetric_zero_point_and_group_scales():
    x = np.array([[0.0, 1.0, 2.0, 3.0, -6.0, -4.0, -2.0, 0.0], [3.0, 4.0, 5.0, 6.0, 5.0, 5.0, 5.0, 5.0]])
    qt = intq.quantize_int(x, 2, False, "group", 4)
    assert qt.scale.shape == (2, 2) and qt.zero_point.shape == (2, 2)
    np.testing.assert_allclose(qt.scale, [[1.0, 2.0], [2.0, 5.0 / 3]])  # range widened to include 0
    assert qt.zero_point.tolist() == [[0, 3], [0, 0]]
    np.testing.assert_allclose(qt.dequantize()[0], [0, 1, 2, 3, -6, -4, -2, 0])
    np.testing.assert_allclose(qt.dequantize()[1], [4, 4, 4, 6, 5, 5, 5, 5])  # 1.5 -> 2, 2.5 -> 2 (even)


def test_per_channel_uses_row_absmax():
    x = np.array([[1.0, -2.0], [100.0, 50.0]])
    qt = intq.quantize_int(x, 8, True, "channel")
    np.testing.assert_allclose(qt.scale.ravel(), [2.0 / 127, 100.0 / 127])
    np.testing.assert_allclose(qt.dequantize(), x, rtol=0, atol=100.0 / 127 / 2)


def test_zero_input_is_exact():
    x = np.zeros((2, 8))
    for sym in (True, False):
        assert np.array_equal(intq.fake_quant_int(x, 4, sym, "group", 4), x)


@pytest.mark.parametrize("bad,match", [
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[1.0, np.inf]]), "inf"),
    (np.ones(4), "2-D"),
    (np.ones((2, 2, 2)), "2-D"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        intq.quantize_int(bad, 4)


@pytest.mark.parametrize("bits", [1, 9, 16, 4.0, "4"])
def test_unsupported_bits(bits):
    with pytest.raises(ValueError, match="unsupported INT bits"):
        intq.quantize_int(np.ones((2, 4)), bits)


def test_group_must_divide_k():
    with pytest.raises(ValueError, match="group_size=3 does not divide K=8"):
        intq.quantize_int(np.ones((2, 8)), 4, True, "group", 3)
    with pytest.raises(ValueError, match="granularity"):
        intq.quantize_int(np.ones((2, 8)), 4, True, "block")


def test_error_metrics():
    x = np.array([[3.0, 4.0]])
    assert relative_error(x, x) == 0.0
    assert sqnr_db(x, x) == float("inf")
    assert relative_error(x, np.zeros_like(x)) == pytest.approx(1.0)
    assert sqnr_db(x, x * 0.9) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="shape mismatch"):
        relative_error(x, x.T)
