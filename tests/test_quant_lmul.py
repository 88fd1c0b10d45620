"""L-Mul in the integer-add form (and the paper's formula for comparison)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from models.quant import lmul


def test_l_of_m():
    assert [lmul.l_of_m(m) for m in range(1, 9)] == [1, 2, 3, 3, 4, 4, 4, 4]


def test_spec_carry_example():
    # 1.75 x 1.75 with M = 7 (bf16): formula 2.5625, integer add 3.125 (mantissa carry)
    assert float(lmul.lmul(1.75, 1.75, mbits=7)) == 3.125
    assert float(lmul.lmul_formula(1.75, 1.75, mbits=7)) == 2.5625


def test_small_cases():
    assert float(lmul.lmul(1.0, 1.0, 7)) == 1.0 + 2.0 ** -4
    assert float(lmul.lmul(-2.0, 3.0, 3, 4)) == -(1.5 + 2.0 ** -3) * 4  # M=3: l=3
    assert float(lmul.lmul(0.0, 5.0)) == 0.0 and float(lmul.lmul(5.0, -0.0)) == 0.0
    assert float(lmul.lmul(1.5, 1.25, 4, 4)) == (1 + 0.5 + 0.25 + 0.125) * 1  # M=4: l=3, no carry


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-1e6, 1e6), y=st.floats(-1e6, 1e6), m=st.integers(1, 10))
def test_integer_form_vs_formula(x, y, m):
    xr, yr = lmul.round_to_float(x, 8, m), lmul.round_to_float(y, 8, m)
    got = float(lmul.lmul(xr, yr, m))
    ref = float(lmul.lmul_formula(xr, yr, m))
    if xr == 0 or yr == 0:
        assert got == 0.0
        return
    mx_ = 2 * np.frexp(abs(xr))[0] - 1
    my_ = 2 * np.frexp(abs(yr))[0] - 1
    frac = mx_ + my_ + 2.0 ** -lmul.l_of_m(m)
    e = (np.frexp(abs(xr))[1] - 1) + (np.frexp(abs(yr))[1] - 1)
    if e + np.floor(frac) < -126:  # result exponent field <= 0: flushed to zero
        assert got == 0.0
        return
    if frac < 1:  # no carry: the two forms agree exactly
        assert got == ref
    else:  # carry (c = 1, or 2 when x_m + y_m + 2**-l >= 2): the adder's mantissa field wraps and
        # its exponent grows by c: (1 + frac - c) 2**(e + c) instead of the formula's (1 + frac) 2**e
        c = np.floor(frac)
        assert abs(got) == pytest.approx((1 + frac - c) * 2.0 ** (e + c), rel=1e-12)
    # error against the exact product: dropping x_m y_m costs < 1/4 relative, the offset adds 2**-l
    # (2**(1-l) after a carry)
    lm = lmul.l_of_m(m)
    bound = (2.0 ** -lm if frac < 1 else 2.0 ** (1 - lm)) + 0.25
    assert abs(got - xr * yr) <= bound * abs(xr * yr)
    assert np.sign(got) == np.sign(xr * yr)


def test_range_limits_fp8_e4m3_like():
    # (E=4, M=3): bias 7, largest finite (2 - 2**-3) * 2**7 = 240, smallest normal 2**-6
    assert float(lmul.lmul(200.0, 200.0, 3, 4)) == 240.0  # saturates
    assert float(lmul.lmul(2.0 ** -5, 2.0 ** -5, 3, 4)) == 0.0  # underflow flushes
    assert float(lmul.round_to_float(1e-3, 4, 3)) == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        lmul.lmul(np.nan, 1.0)
    with pytest.raises(ValueError, match="unsupported mantissa bits"):
        lmul.lmul(1.0, 1.0, mbits=0)
