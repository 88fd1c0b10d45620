"""Compiled table encode of the BitMoD FP-like weight values (:func:`models.bitserial_gemm.encode_weight_values`),
and the same lookup in the quantiser's layout (:func:`encode_rows_lookup`: levels row by row, one
selector per group, for :func:`models.bitserial_gemm.encode_quantised`).

Why compiled: the numpy lookup made nine passes over the (K, N) int64 values of a linear layer
(range checks of the values and the selectors, the index arithmetic, the gather, the refusal
check), strided ones on the quantiser's transposed values: about 3 CPU s of a BitMoD mixed
design's SmolLM2 ``--quick`` run. Here it is one pass, element by element in memory order.

Why it is the same: integer arithmetic only, the same index ``(v + reach) * 4 + sel`` into the
same table; any element the numpy path would send to the field-by-field encoder (a value or
selector out of range, a refused pair) makes the kernel report failure, and the caller then runs
that encoder as before (its codes or its error). Single-threaded, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np


def _encode(values, sel, table, reach, out):
    """``out[i] = table[(values[i] + reach) * 4 + sel[i]]``; False at the first value outside
    ``-reach .. reach``, selector outside 0..3 or refused pair (a negative entry)."""
    for i in range(values.size):
        v = values[i]
        s = sel[i]
        if v < -reach or v > reach or s < 0 or s > 3:
            return False
        code = table[(v + reach) * 4 + s]
        if code < 0:
            return False
        out[i] = code
    return True


def encode_lookup(values, sel, table, reach):
    """The codes (int64, ``values``' shape) of int64 ``values`` with int64 selectors ``sel`` (same
    shape, or a scalar 0) from the encode table, or None where the caller must use the
    field-by-field encoder. Walks both arrays in ``values``' memory order."""
    values = np.asarray(values, dtype=np.int64)
    sel = np.broadcast_to(np.asarray(sel, dtype=np.int64), values.shape)
    order = "F" if values.flags.f_contiguous and not values.flags.c_contiguous else "C"
    v = values.ravel(order=order)
    s = sel.ravel(order=order)
    out = np.empty(v.size, dtype=np.int64)
    if not _compiled().encode(v, s, table, reach, out):
        return None
    return out.reshape(values.shape, order=order)


def _encode_rows(q, sel, group, k, table, reach, out):
    """``out[n, i] = table[(q[n, i] + reach) * 4 + sel[n, i // group]]`` for ``i < k``; False at
    the first value, selector or pair :func:`_encode` refuses."""
    for n in range(out.shape[0]):
        for i in range(k):
            v = np.int64(q[n, i])
            s = np.int64(sel[n, i // group])
            if v < -reach or v > reach or s < 0 or s > 3:
                return False
            code = table[(v + reach) * 4 + s]
            if code < 0:
                return False
            out[n, i] = code
    return True


def encode_rows_lookup(q, sel, group, k, table, reach):
    """:func:`encode_lookup` of the quantiser's layout: integer levels ``q`` (N, K') row by row
    (an output column per row), selectors ``sel`` (N, K' / group) one per group of ``group``
    along the row, the first ``k`` of each row: the codes as a K x N array (a transposed view of
    an (N, K) one: the memory order :func:`encode_lookup` gives a transposed input), or None
    where it would return None. No repeated selector array and no transposing copies."""
    q = np.ascontiguousarray(q)
    sel = np.ascontiguousarray(sel)
    out = np.empty((q.shape[0], k), dtype=np.int64)
    if not _compiled().encode_rows(q, sel, group, k, table, reach, out):
        return None
    return out.T


@functools.cache
def _compiled():
    """The kernel compiled by numba, or loaded from numba's on-disk cache (``cache=True``).
    Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to import."""
    import numba
    jit = numba.njit(cache=True, nogil=True)
    return SimpleNamespace(encode=jit(_encode), encode_rows=jit(_encode_rows))
