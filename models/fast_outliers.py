"""Compiled kernels of :func:`models.fast_golden.outlier_sums`: an integer GEMM whose few wide
values (OVP W8A8's outliers) would force float64 BLAS, as float32 GEMMs of the normal parts plus
the outliers' products added one by one.

Why compiled: the split needs, per activation matrix, the normal part in float32 and the
outliers' positions, and after the GEMM each outlier's products added to one output row (or,
for a weight outlier, column). In numpy that is an ``abs``, a comparison, a ``where``, a cast,
a ``nonzero`` and gathered product arrays summed by ``reduceat`` (slower than the float64 GEMM
they replace); here it is one pass over the operand and one loop over the outliers.

Why it is exact: every value is an integer; the normal part is the value or 0 (a float32 holds
integers of magnitude at most 127 exactly), and each product and every partial sum the loops
form is an integer whose magnitude is at most the caller's bound ``sum |a_k| |w_k| < 2**53``,
which float64 holds exactly, whatever the order (no fastmath). ``tests/test_fast_outliers.py``
pins :func:`models.fast_golden.outlier_sums` to the golden GEMM.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np


def _normal_part(x, limit, out):
    """``out = x`` where ``|x| <= limit``, else 0 (``out`` float32, ``x`` int64, any layout, read
    in ``out``'s C order); returns the number of the other values, the outliers."""
    rows, cols = x.shape
    count = 0
    for i in range(rows):
        for j in range(cols):
            v = x[i, j]
            big = v > limit or v < -limit
            count += big
            out[i, j] = 0 if big else v
    return count


def _outliers(x, limit, by_column, k, n, values):
    """The outliers of ``x`` (``|x| > limit``) row by row (each row in column order), or column
    by column (each in row order): their row ``k``, column ``n`` and value (float64) in the
    given arrays, sized by :func:`_normal_part`'s count."""
    rows, cols = x.shape
    outer, inner = (cols, rows) if by_column else (rows, cols)
    found = 0
    for o in range(outer):
        for i in range(inner):
            r, c = (i, o) if by_column else (o, i)
            v = x[r, c]
            if v > limit or v < -limit:
                k[found], n[found], values[found] = r, c, v
                found += 1


def _add_row_outliers(r, which, values, w_rows, total):
    """For each activation outlier ``(r, c, value)``: ``total[r, :] += value * w[c, :]`` (float64),
    ``w[c, :]`` being ``w_rows[which]``: the weight rows the outliers meet, gathered once."""
    width = total.shape[1]
    for t in range(len(r)):
        rr, row, f = r[t], which[t], values[t]
        for j in range(width):
            total[rr, j] += f * w_rows[row, j]


def _add_column_outliers(an, k, n, values, total):
    """For each weight outlier ``(k, n, value)``: ``total[:, n] += an[:, k] * value`` (float64)."""
    rows = an.shape[0]
    for t in range(len(k)):
        kk, nn, f = k[t], n[t], values[t]
        for r in range(rows):
            total[r, nn] += np.float64(an[r, kk]) * f


@functools.cache
def _compiled():
    """The kernels compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache;
    deferred as :func:`models.fast_intq._compiled` is."""
    import numba
    jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    return SimpleNamespace(normal_part=jit(_normal_part), outliers=jit(_outliers),
                           add_row_outliers=jit(_add_row_outliers), add_column_outliers=jit(_add_column_outliers))


def normal_part(x, limit):
    """``(normal, count)``: ``x`` (int64 2-D) with its values beyond ``+-limit`` set to 0, as
    float32 (C order), and how many there were."""
    x = np.asarray(x, dtype=np.int64)
    out = np.empty(x.shape, dtype=np.float32)
    return out, int(_compiled().normal_part(x, limit, out))


def column_outliers(x, limit, count):
    """``(k, n, values)``: the ``count`` values of ``x`` beyond ``+-limit``, by column then row
    (``values`` float64)."""
    return _found(x, limit, count, True)


def _found(x, limit, count, by_column):
    """``(k, n, values)`` of :func:`_outliers`."""
    k, n, values = np.empty(count, np.intp), np.empty(count, np.intp), np.empty(count, np.float64)
    _compiled().outliers(np.asarray(x, dtype=np.int64), limit, by_column, k, n, values)
    return k, n, values


def add_row_outliers(a, limit, count, w, total):
    """Add each of the ``count`` activation outliers' (``|a| > limit``) products with its weight
    row (of ``w``, int64, any layout) to ``total`` (in place)."""
    r, c, values = _found(a, limit, count, False)
    rows, which = np.unique(c, return_inverse=True)
    # the rows the outliers meet, contiguous (OVP's weights are column-major: a row is strided)
    _compiled().add_row_outliers(r, which, values, np.asarray(w)[rows].astype(np.float64), total)


def add_column_outliers(an, k, n, values, total):
    """Add each weight outlier's products with its activation column to ``total`` (in place)."""
    _compiled().add_column_outliers(an, k, n, values, total)
