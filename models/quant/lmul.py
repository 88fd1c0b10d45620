"""L-Mul ("Addition is All You Need"), spec section 5.

Chosen form: the **integer-add form**

    R = X + Y - (bias << M) + (1 << (M - l(M))),   sign = s_x XOR s_y,

where ``X``, ``Y`` are the (exponent | mantissa) bit fields of the operands (sign stripped), ``M``
the mantissa width and ``l(m) = m (m <= 3), 3 (m = 4), 4 (m > 4)``.  Why: it is what an L-Mul
processing element actually computes (one integer adder on the packed fields, the mantissa carry
propagating into the exponent for free), so an RTL can be checked against it bit-exactly; the
paper's formula ``(1 + x_m + y_m + 2**-l) 2**(x_e + y_e)`` needs an extra normalisation step once
the mantissa sum reaches 2, and it disagrees with the adder exactly then (1.75 x 1.75 with M = 7:
formula 2.5625, integer add 3.125).  The formula is kept as :func:`lmul_formula` for comparison;
the two agree whenever ``x_m + y_m + 2**-l < 1``.

Format handling: operands are first rounded (half to even) to the (E, M) float format with bias
``2**(E-1) - 1``; values below the smallest normal are flushed to zero (no subnormals), values
above the largest finite saturate.  A zero operand gives 0.  A result whose exponent field
underflows (<= 0) is flushed to zero; one that overflows saturates to the largest finite value
(the all-ones exponent is treated as reserved for inf/NaN).
"""
from __future__ import annotations

import numpy as np

from .common import check_bits, check_finite

__all__ = ["l_of_m", "round_to_float", "lmul", "lmul_formula"]


def l_of_m(m: int) -> int:
    """The offset exponent ``l(m)``: m for m <= 3, 3 for m = 4, 4 for m > 4."""
    return m if m <= 3 else (3 if m == 4 else 4)


def _params(ebits: int, mbits: int):
    ebits = check_bits(ebits, range(2, 12), "exponent bits")
    mbits = check_bits(mbits, range(1, 24), "mantissa bits")
    bias = 2 ** (ebits - 1) - 1
    emax_field = 2 ** ebits - 2  # largest finite exponent field
    max_finite = (2.0 - 2.0 ** -mbits) * 2.0 ** (emax_field - bias)
    min_normal = 2.0 ** (1 - bias)
    return ebits, mbits, bias, emax_field, max_finite, min_normal


def round_to_float(x, ebits: int = 8, mbits: int = 7) -> np.ndarray:
    """Round to the (E, M) format: RNE (on the subnormal step below the normal range), then flush
    results below the smallest normal to 0; saturate at the largest finite value."""
    ebits, mbits, bias, _, max_finite, min_normal = _params(ebits, mbits)
    x = np.asarray(x, dtype=np.float64)
    check_finite(x)
    _, e = np.frexp(x)
    e = np.maximum(e, 2 - bias)  # below the normal range round on the smallest normal's step
    step = np.ldexp(1.0, e - 1 - mbits)
    r = np.rint(x / step) * step
    r = np.clip(r, -max_finite, max_finite)
    return np.where(np.abs(r) < min_normal, 0.0, r)


def _fields(v: np.ndarray, mbits: int, bias: int):
    """|v| (normal, nonzero) -> packed (exponent field << M) | mantissa field, as int64."""
    m, e = np.frexp(np.abs(v))  # |v| = m 2**e, m in [0.5, 1)
    efield = np.where(v != 0, e - 1 + bias, 0)
    mfield = np.where(v != 0, np.rint((2.0 * m - 1.0) * 2 ** mbits), 0).astype(np.int64)
    return (efield.astype(np.int64) << mbits) | mfield


def lmul(x, y, mbits: int = 7, ebits: int = 8) -> np.ndarray:
    """L-Mul of ``x`` and ``y`` (broadcast) in the integer-add form, for an (ebits, mbits) format."""
    ebits, mbits, bias, emax_field, max_finite, _ = _params(ebits, mbits)
    xr = round_to_float(x, ebits, mbits)
    yr = round_to_float(y, ebits, mbits)
    xr, yr = np.broadcast_arrays(xr, yr)
    X = _fields(xr, mbits, bias)
    Y = _fields(yr, mbits, bias)
    R = X + Y - (bias << mbits) + (1 << (mbits - l_of_m(mbits)))
    efield = R >> mbits
    mfield = R & ((1 << mbits) - 1)
    mag = np.ldexp(1.0 + mfield / 2.0 ** mbits, (efield - bias).astype(np.int64))
    mag = np.where(efield <= 0, 0.0, np.where(efield > emax_field, max_finite, mag))
    sign = np.where(np.signbit(xr) ^ np.signbit(yr), -1.0, 1.0)
    zero = (xr == 0) | (yr == 0)
    return np.where(zero, 0.0, sign * mag)


def lmul_formula(x, y, mbits: int = 7, ebits: int = 8) -> np.ndarray:
    """The paper's formula ``(1 + x_m + y_m + 2**-l(M)) 2**(x_e + y_e)`` (no renormalisation, no range limits)."""
    ebits, mbits, _, _, _, _ = _params(ebits, mbits)
    xr = round_to_float(x, ebits, mbits)
    yr = round_to_float(y, ebits, mbits)
    mx_, ex = np.frexp(np.abs(xr))
    my_, ey = np.frexp(np.abs(yr))
    xm = 2.0 * mx_ - 1.0
    ym = 2.0 * my_ - 1.0
    val = (1.0 + xm + ym + 2.0 ** -l_of_m(mbits)) * np.ldexp(1.0, (ex - 1) + (ey - 1))
    sign = np.where(np.signbit(xr) ^ np.signbit(yr), -1.0, 1.0)
    return np.where((xr == 0) | (yr == 0), 0.0, sign * val)
