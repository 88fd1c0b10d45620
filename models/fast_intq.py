"""Compiled uniform integer quantisation per tensor and per channel: the codes, scales and zero
points of :func:`models.quant.intq.quantize_int`, bit for bit, in two passes over the input.

Why compiled: every design whose activations or weights are plain INT codes (INT8, BitFusion,
LUT, bit-serial, shift-add, the W-FP16 designs) quantises each linear's input and weight per
accuracy run. numpy makes a float64 copy, a finiteness pass, an ``abs`` and a ``max``, a
division, ``rint``, ``clip`` and two integer casts, each a full pass with a temporary: about a
second of a SmolLM2 window's INT8 run. Here one pass finds each group's extremes (and whether
every value is finite) and a second writes the codes.

Why it is exact: the same IEEE float64 operations on the same values. A float32 input widens to
float64 exactly, as the reference's ``astype``; extremes are exact whatever the order (``abs``,
``min`` and ``max`` round nothing; ``-0.0`` and ``+0.0`` give the same scale, zero point and
codes); the scale is the same one division ``absmax / qmax`` (or ``(hi - lo) / qmax``), replaced
by 1 when not positive; each code is ``rint(x / s)`` (round half to even, numba's ``np.rint`` is
LLVM's ``rint`` in the default rounding mode, as numpy's), plus the zero point, clipped, as in
the reference (numba without ``fastmath``: no reassociation, no reciprocal for a division). A
group is a row (``"channel"`` of the array passed), a column (the same quantisation of a
transposed array, read in its own memory order), or the whole tensor; other granularities, other
dtypes, empty or non-finite input go to the reference, which returns or raises what it always
did. ``tests/test_fast_intq.py`` pins :func:`quantize` to the reference on random, real, tied
and extreme inputs.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

#: how the groups of a C-ordered 2-D array are laid out: one group, one per row, one per column
TENSOR, ROWS, COLUMNS = 0, 1, 2


def _extremes(x, layout, lo, hi):
    """Per group of ``x`` its minimum ``lo`` and maximum ``hi`` (float64, arrive +inf / -inf);
    False when a value is not finite."""
    rows, cols = x.shape
    finite = True
    for i in range(rows):
        for j in range(cols):
            v = np.float64(x[i, j])
            g = 0 if layout == TENSOR else (i if layout == ROWS else j)
            if v < lo[g]:
                lo[g] = v
            if v > hi[g]:
                hi[g] = v
            if not np.isfinite(v):
                finite = False
    return finite


def _codes(x, layout, s, z, low, high, out):
    """``out[i, j] = clip(rint(x / s) + z, low, high)`` with the group's ``s`` and ``z``."""
    rows, cols = x.shape
    for i in range(rows):
        for j in range(cols):
            g = 0 if layout == TENSOR else (i if layout == ROWS else j)
            q = np.rint(np.float64(x[i, j]) / s[g]) + z[g]
            out[i, j] = min(max(q, low), high)


@functools.cache
def _compiled():
    """The kernels compiled by numba (no ``fastmath``: IEEE semantics), or loaded from numba's
    on-disk cache. Deferred on purpose: numba takes about 0.5 s to import, and every command
    imports the quantisers through the registry; only a call needs it."""
    import numba
    jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    return SimpleNamespace(extremes=jit(_extremes), codes=jit(_codes))


def _layout(x, granularity):
    """(C-ordered array, layout) holding ``x``'s values with its groups; None when not handled."""
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.size == 0 or x.dtype not in (np.float32, np.float64):
        return None
    if granularity == "tensor":
        return (x, TENSOR) if x.flags.c_contiguous else (np.ascontiguousarray(x), TENSOR)
    if granularity != "channel":
        return None
    if x.flags.c_contiguous:
        return x, ROWS
    if x.T.flags.c_contiguous:                     # a transposed weight: its rows are our columns
        return x.T, COLUMNS
    return np.ascontiguousarray(x), ROWS


def quantize(x, bits, symmetric, granularity):
    """``(codes int16 (rows, K), scale, zero_point or None)`` exactly as
    :func:`models.quant.intq.quantize_int` builds them (``scale`` float64 and ``zero_point``
    int16 of shape (1, 1) per tensor, (rows, 1) per channel), for a finite float32 / float64
    2-D ``x`` and ``granularity`` ``"tensor"`` or ``"channel"``; None for any other input (the
    caller runs the reference). ``codes`` may be a transposed view (values are what count)."""
    found = _layout(x, granularity)
    if found is None:
        return None
    data, layout = found
    kernels = _compiled()
    groups = 1 if layout == TENSOR else data.shape[0 if layout == ROWS else 1]
    lo, hi = np.full(groups, np.inf), np.full(groups, -np.inf)
    if not kernels.extremes(data, layout, lo, hi):
        return None
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        s = np.maximum(np.abs(lo), np.abs(hi)) / qmax
        s = np.where(s > 0, s, 1.0)
        z = np.zeros(groups)
        low = -qmax
    else:
        qmax = 2 ** bits - 1
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        s = (hi - lo) / qmax
        s = np.where(s > 0, s, 1.0)
        z = np.clip(np.rint(-lo / s), 0, qmax)
        low = 0
    out = np.empty(data.shape, dtype=np.int16)
    kernels.codes(data, layout, s, z, float(low), float(qmax), out)
    codes = out.T if layout == COLUMNS else out
    shape = (1, 1) if layout == TENSOR else (groups, 1)
    return codes, s.reshape(shape), None if symmetric else z.reshape(shape).astype(np.int16)
