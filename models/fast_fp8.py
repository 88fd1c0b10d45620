"""Compiled FP8 element cast of the per-tensor / per-channel FP8 quantisers: ``clip(x / s)`` to
E4M3 / E5M2 codes, round half to even, in one pass (:func:`fp8_codes`); the same cast of any small
float format with an ml_dtypes type (:func:`float_codes`: the MX elements FP8 / FP6 / FP4). Also
the FP8 E5M2 and L-Mul accuracy paths' row passes over checked codes (:func:`row_parts`,
:func:`fill_parts`, :func:`column_span`, :func:`checked_values`: code checks, exponent spans and
splits, operand rows), each the numpy definition's integer comparisons and lookups in one pass.

Why compiled: ``np.clip(x / s, -fmax, fmax).astype(ml_dtypes.float8_*)`` costs about 20 ns per
element (ml_dtypes converts element by element through a generic loop, after two float64 passes),
about 3 CPU s of an FP8 or L-Mul design's SmolLM2 ``--quick`` run (every weight column and every
activation tensor). Here it is one pass of a few integer operations per element.

Why it gives ml_dtypes' codes, bit for bit (``tests/test_fast_fp8.py`` pins it on every code's
neighbourhood, ties, subnormals, signed zeros and random / real data):

* the quotient ``x / s`` and the clip to ``[-fmax, fmax]`` are the same IEEE float64 operations
  (numba without ``fastmath``); ``fmax`` is a code's value, so the clipped value never rounds past it;
* ml_dtypes rounds the float64 directly to the FP8 grid, half to even (not through float32);
* below the smallest normal ``2**emin`` the grid is uniform with step ``2**(emin - M)``: the code
  is ``rint(|v| * 2**(M - emin))`` (a power-of-two scale, exact; ``rint`` is half to even), which
  also gives the smallest normal's code when it rounds up;
* from ``2**emin`` on, the float64 pattern rounded to M mantissa bits half to even (add
  ``2**(51 - M) - 1`` plus the kept bits' lowest bit, drop ``52 - M`` bits: a carry moves into the
  exponent, as it must) is the FP8 exponent-mantissa field offset by ``(1023 - bias) << M``;
* the sign bit is the float64's, put above the exponent field (so ``-0.0`` and a negative value rounding to 0 give ``0x80``, as
  ml_dtypes does).

A non-finite input is not handled (the callers check finiteness first; :func:`fp8_codes` falls back
to the ml_dtypes cast if one slips through). Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import ml_dtypes
import numpy as np

#: (exponent bits, mantissa bits, largest finite value, the reference's ml_dtypes type) per FP8 format
#: (the FP8 quantiser, models.quant.mx, reads its element types and largest values from here)
FP8_FORMATS = {"e4m3": (4, 3, 448.0, ml_dtypes.float8_e4m3fn), "e5m2": (5, 2, 57344.0, ml_dtypes.float8_e5m2)}


def code_terms(mbits, bias):
    """The constants :func:`float_code` takes for a format with ``mbits`` mantissa bits and
    exponent bias ``bias``: (dropped pattern bits, smallest normal, inverse subnormal step,
    exponent offset). Kernels compute them once, outside their loops."""
    emin = 1 - bias
    return 52 - mbits, 2.0 ** emin, 2.0 ** (mbits - emin), (1023 - bias) << mbits


def float_code(v, bits, terms, sign_bit):
    """The code of a finite float64 ``v`` inside the format's range (already clipped), rounded
    half to even (module docstring): ``bits`` is ``v``'s IEEE pattern as an int64, ``terms`` the
    format's :func:`code_terms`, its sign bit at ``sign_bit``. Compiled into the kernels that
    call it (:func:`jitable`): :func:`_codes` and :mod:`models.fast_mx_quant`'s."""
    shift, min_normal, sub_scale, offset = terms
    a = abs(v)
    if a < min_normal:
        code = np.int64(np.rint(a * sub_scale))
    else:
        m = bits & 0x7FFFFFFFFFFFFFFF
        code = ((m + ((1 << (shift - 1)) - 1) + ((m >> shift) & 1)) >> shift) - offset
    return code | (((bits >> 63) & 1) << sign_bit)


def _codes(x, s, fmax, mbits, bias, sign_bit, out):
    """``out[i, j]`` = FP8 code of ``clip(x[i, j] / s[j], -fmax, fmax)`` (module docstring); returns
    False (``out`` incomplete) at the first non-finite quotient. Compiled by :func:`_compiled`."""
    rows, cols = x.shape
    terms = code_terms(mbits, bias)
    tmp = np.empty(1, dtype=np.float64)
    pattern = tmp.view(np.int64)
    for i in range(rows):
        for j in range(cols):
            v = x[i, j] / s[j]
            if not np.isfinite(v):
                return False
            v = min(max(v, -fmax), fmax)
            tmp[0] = v
            out[i, j] = float_code(v, pattern[0], terms, sign_bit)
    return True


def _all_in_table(codes, ok):
    """True when every value of the flat int64 ``codes`` is in 0..255 and ``ok`` (256 bools)
    marks it; stops at the first that is not. Compiled by :func:`_compiled`."""
    for v in codes:
        if v < 0 or v > 255 or not ok[v]:
            return False
    return True


def _row_parts(codes, ok, e, room, kinds, cuts):
    """Per row i of the int64 ``codes`` (R x K) with exponents ``e[code]`` (0: every product of
    the operand is 0): ``kinds[i]`` 0 when its nonzero exponents span at most ``room``, else 1
    when its operands with exponent up to ``cuts[i]`` (the smallest nonzero one plus
    ``max(room, 0)``; its zero operands too) and the others each span at most ``room``, else 2;
    False at the first code outside 0..255 or not marked in ``ok``. Compiled by
    :func:`_compiled`."""
    rows, k = codes.shape
    for i in range(rows):
        lo, hi = 255, 0
        for j in range(k):
            c = codes[i, j]
            if c < 0 or c > 255 or not ok[c]:
                return False
            v = e[c]
            if v != 0:
                lo = min(lo, v)
                hi = max(hi, v)
        cut = lo + max(room, 0)
        cuts[i] = cut
        if max(hi - lo, 0) <= room:
            kinds[i] = 0
            continue
        low_hi, high_lo, high_hi = 0, 255, 0
        for j in range(k):
            v = e[codes[i, j]]
            if v != 0:
                if v <= cut:
                    low_hi = max(low_hi, v)
                else:
                    high_lo = min(high_lo, v)
                    high_hi = max(high_hi, v)
        kinds[i] = 1 if max(low_hi - lo, 0) <= room and max(high_hi - high_lo, 0) <= room else 2
    return True


def _fill_parts(codes, e, values, kinds, cuts, out):
    """``out[i] = values[codes[i]]`` for the rows of kind 0 and 2 (:func:`_row_parts`); a row
    of kind 1 as its low part (``values[0]``, code 0's value, where the exponent is above
    ``cuts[i]``), its high part (``values[0]`` elsewhere) in the next of the rows below R, in
    row order. Compiled by :func:`_compiled`."""
    rows, k = codes.shape
    zero = values[0]
    nxt = rows
    for i in range(rows):
        if kinds[i] == 1:
            cut = cuts[i]
            for j in range(k):
                c = codes[i, j]
                if e[c] <= cut:
                    out[i, j] = values[c]
                    out[nxt, j] = zero
                else:
                    out[i, j] = zero
                    out[nxt, j] = values[c]
            nxt += 1
        else:
            for j in range(k):
                out[i, j] = values[codes[i, j]]


def _checked_values(codes, ok, values, out):
    """``out[i] = values[codes[i]]`` for flat int64 codes; False (``out`` incomplete) at the
    first code outside 0..255 or not marked in ``ok``. Compiled by :func:`_compiled`."""
    for i in range(codes.size):
        c = codes[i]
        if c < 0 or c > 255 or not ok[c]:
            return False
        out[i] = values[c]
    return True


def checked_values(codes, ok, values, multiple=1):
    """``values[codes]`` (``values``' dtype, ``codes``' shape; a 2-D array's rows then padded
    with ``values[0]`` to a multiple of ``multiple``) when every code is in 0..255 and marked in
    the 256-entry ``ok``, else None (the caller's check raises its error): the code check and
    the lookup in one compiled pass (numpy's are five passes: ``min``, ``max``, the table
    lookup, ``all``, the value lookup)."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    shape = codes.shape
    if codes.ndim == 2 and multiple > 1:
        shape = (-(-shape[0] // multiple) * multiple, shape[1])
    out = np.empty(shape, dtype=values.dtype)
    out.reshape(-1)[codes.size:] = values[0]
    if not _compiled().checked_values(codes.reshape(-1), np.ascontiguousarray(ok, dtype=np.bool_),
                                      values, out.reshape(-1)):
        return None
    return out


def _column_span(codes, e, lo, hi):
    """The largest over the columns of the int64 ``codes`` (K x N) of ``max(hi - lo, 0)``, its
    nonzero exponents ``e[code]``' largest and smallest (``lo``, ``hi``: (N,) int64 scratch).
    Compiled by :func:`_compiled`."""
    k, n = codes.shape
    lo[:] = 255
    hi[:] = 0
    for i in range(k):
        for j in range(n):
            v = e[codes[i, j]]
            if v != 0:
                lo[j] = min(lo[j], v)
                hi[j] = max(hi[j], v)
    span = 0
    for j in range(n):
        span = max(span, hi[j] - lo[j])
    return span


def column_span(codes, e):
    """The largest exponent span of a column of checked codes (K x N, any integer array whose
    codes are 0..255): per column the largest minus the smallest nonzero exponent ``e[code]`` (0
    where there is none), as :func:`models.fast_golden.exponent_spans` along axis 0 and
    ``_lmul_room``'s weight span compute it, in one compiled pass without temporaries."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    n = codes.shape[1]
    return int(_compiled().column_span(codes, np.ascontiguousarray(e, dtype=np.int64),
                                       np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)))


def row_parts(codes, ok, e, room):
    """Checked codes and per-row exponent splits in one compiled pass: ``(kinds, cuts)`` of
    :func:`_row_parts` for ``codes`` (any integer array, R x K) against the 256-entry tables
    ``ok`` (operand codes) and ``e`` (exponents, 0 for an operand whose products are all 0), or
    None when a code is not an operand (the caller's check raises its error). Kind 0 is
    :func:`models.fast_golden.fp8_exact_rows` / ``lmul_exact_rows``' test (the row span at most
    ``room``), kind 1 the ``ok`` of their ``*_split_rows`` (both parts of
    :func:`models.fast_golden._exponent_split` at ``room`` within it): the same integer
    comparisons, without the numpy passes' temporaries (``tests/test_fast_fp8_rows.py`` pins
    them to the numpy functions)."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    kinds = np.empty(codes.shape[0], dtype=np.int8)
    cuts = np.empty(codes.shape[0], dtype=np.int64)
    if not _compiled().row_parts(codes, np.ascontiguousarray(ok, dtype=np.bool_),
                                 np.ascontiguousarray(e, dtype=np.int64), int(room), kinds, cuts):
        return None
    return kinds, cuts


def fill_parts(codes, e, values, kinds, cuts, multiple=1):
    """The operand rows of :func:`row_parts`' split (``values``' dtype, ``R + n1`` rows, ``n1``
    the rows of kind 1, then rows of ``values[0]`` up to a multiple of ``multiple``): every row
    ``values[codes]`` in place, a row of kind 1 as its low part with its high part among the
    next ``n1`` rows, in row order; each part's other operands as code 0 (whose products are
    all 0), as :func:`models.fast_golden._exponent_split` writes them."""
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    rows = codes.shape[0] + int(np.count_nonzero(kinds == 1))
    out = np.empty((-(-rows // multiple) * multiple, codes.shape[1]), dtype=values.dtype)
    out[rows:] = values[0]
    _compiled().fill_parts(codes, np.ascontiguousarray(e, dtype=np.int64), values, kinds, cuts, out)
    return out


#: below this many codes :func:`all_in_table` answers None (numpy's check is as quick, and a
#: small call need not import numba)
TABLE_CHECK_SIZE = 1 << 16


def all_in_table(codes, ok):
    """True when every code of the int64 array ``codes`` is in 0..255 and marked in the 256-entry
    bool table ``ok`` (an FP8 format's operand codes), False otherwise, in one compiled pass
    without temporaries (an FP8 or L-Mul accuracy run checks every weight matrix and activation
    tensor several times: numpy's check makes five full-size temporaries each time); None (not
    checked) for a small or non-C-contiguous array or another dtype: the caller checks it itself."""
    if not (isinstance(codes, np.ndarray) and codes.dtype == np.int64 and codes.flags.c_contiguous
            and codes.size >= TABLE_CHECK_SIZE):
        return None
    return bool(_compiled().all_in_table(codes.reshape(-1), np.ascontiguousarray(ok, dtype=np.bool_)))


def fp8_codes(x, scale, fmt):
    """FP8 ``fmt`` codes (uint8, ``x``'s shape) of ``clip(x / scale, -fmax, fmax)`` rounded half to
    even: ``x`` (R, C) float64, ``scale`` a float or (C,) per-column float64 scales. Equal to
    ``np.clip(x / scale, -fmax, fmax).astype(ml_dtypes.float8_<fmt>).view(np.uint8)``, which it
    falls back to when a quotient is not finite."""
    return float_codes(x, scale, *FP8_FORMATS[fmt])


def float_codes(x, scale, ebits, mbits, fmax, dt):
    """Codes (uint8, ``x``'s shape) of the small float format with ``ebits`` exponent bits (bias
    ``2**(ebits - 1) - 1``), ``mbits`` mantissa bits and largest finite ``fmax``, whose ml_dtypes
    type is ``dt`` (FP8, FP6, FP4: the sign bit above the exponent): ``np.clip(x / scale, -fmax,
    fmax).astype(dt).view(np.uint8)`` (its fallback when a quotient is not finite)."""
    x = np.asarray(x, dtype=np.float64)
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), x.shape[-1:])
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    out = np.empty(x2.shape, dtype=np.uint8)
    bias = (1 << (ebits - 1)) - 1
    if not _compiled().codes(x2, np.ascontiguousarray(s), float(fmax), mbits, bias, ebits + mbits, out):
        return np.clip(x / scale, -fmax, fmax).astype(dt).view(np.uint8)
    return out.reshape(x.shape)


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to
    import and only a call needs it."""
    import numba
    jitable()
    return SimpleNamespace(codes=numba.njit(cache=True, nogil=True, error_model="numpy")(_codes),
                           all_in_table=numba.njit(cache=True, nogil=True)(_all_in_table),
                           row_parts=numba.njit(cache=True, nogil=True)(_row_parts),
                           fill_parts=numba.njit(cache=True, nogil=True)(_fill_parts),
                           column_span=numba.njit(cache=True, nogil=True)(_column_span),
                           checked_values=numba.njit(cache=True, nogil=True)(_checked_values))


@functools.cache
def jitable():
    """Register :func:`float_code` and :func:`code_terms` with numba, so that kernels calling
    them compile them in (they stay plain Python functions for Python callers); once, before any
    such kernel compiles."""
    from numba.extending import register_jitable
    register_jitable(float_code)
    register_jitable(code_terms)
