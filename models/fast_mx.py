"""Compiled per-lane extremes for the MX fast path's exact-row test (:func:`models.fast_golden.mx_exact_rows`).

Why compiled: :func:`models.fast_golden.mx_fast` decides per block row whether one float64 GEMM
sums it exactly from each lane's largest element magnitude and lowest set bit
(:func:`models.fast_golden.lane_extremes`); in numpy that is seven passes over the (M, steps,
sub_block) int64 element integers per linear, a sixth of an MXFP8 E5M2 accuracy run. Here it is
one pass. Integer operations only (``abs``, ``x & -x``, comparisons): the same values as the
numpy definition, which ``tests/test_fast_lmul_mx.py`` pins it to.

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

#: the lowest set bit of a lane with no nonzero element (above every element integer's)
NO_BIT = 1 << 62


def _extremes(x, top, low):
    """Per lane (r, s) of ``x`` (R, steps, sub_block) int64: ``top`` the largest ``|x|``, ``low``
    the smallest ``|x| & -|x|`` of a nonzero element (:data:`NO_BIT` for none). The lane loop
    is branch-free (``max``, ``min`` and a select), so LLVM vectorises it: 512 x 192 lanes of 8,
    3.0 -> 0.25 ms (a loop of ``if`` updates ran scalar). Compiled by :func:`_compiled`."""
    rows, steps, width = x.shape
    for r in range(rows):
        xr, tr, lr = x[r], top[r], low[r]
        for s in range(steps):
            xs = xr[s]
            t = 0
            b = NO_BIT
            for j in range(width):
                v = abs(xs[j])
                t = max(t, v)
                b = min(b, v & -v if v != 0 else NO_BIT)
            tr[s] = t
            lr[s] = b


def lane_extremes(x_int):
    """(R, steps, sub_block) int64 element integers -> (largest magnitude, lowest set bit of a
    nonzero magnitude or :data:`NO_BIT`), each (R, steps) int64."""
    x = np.ascontiguousarray(x_int, dtype=np.int64)
    top = np.empty(x.shape[:2], dtype=np.int64)
    low = np.empty(x.shape[:2], dtype=np.int64)
    _compiled().extremes(x, top, low)
    return top, low


@functools.cache
def _compiled():
    """The kernel compiled by numba, or loaded from numba's on-disk cache (``cache=True``).
    Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to import."""
    import numba
    return SimpleNamespace(extremes=numba.njit(cache=True, nogil=True)(_extremes))
