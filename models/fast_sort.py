"""An exact faster ``np.sort`` for 1-D float64 arrays whose values are all float32 values (GOBO's
weights: SmolLM2's dequantised Q4_1 and MiniLM's float32 tensors, widened to float64 by
:func:`models.gobo_format.quantize_gobo`): :func:`sort_float64`.

How: each value narrowed to float32 and its 32 bits made an unsigned key whose order is the
values' order (a sign bit set: every bit flipped; clear: the sign bit set), the keys sorted by a
least-significant-digit radix sort (three stable counting passes of 11, 11 and 10 bits; a digit
every key shares is skipped: its pass would move nothing), then widened back to float64. About
twice as fast as ``np.sort`` on the float64 values here (half the bytes per key, three linear
passes instead of a comparison sort).

Why the result is ``np.sort``'s, bit for bit, where the kernel answers:

* **The sorted sequence is unique.** ``np.sort`` (whichever algorithm) returns the values in
  ascending ``<`` order (NaNs last). Two float64 values that neither precedes are equal, and
  equal non-NaN float64 values have equal bits except ``-0.0`` and ``+0.0``. So without NaN and
  without both signed zeros, any ascending arrangement is the same array, bit for bit.
* **The kernel returns an ascending arrangement.** Narrowing is exact (the precondition,
  checked per value: ``float64(float32(v)) == v``, which NaN fails) and widening is exact, so the
  output holds the input's values. The key map is strictly increasing in the float32 value for
  non-NaN values (positive values: the bits grow with the value, the set sign bit puts them
  above the negatives; negative values: flipped bits reverse their magnitude order; ``-0`` below
  ``+0``, never both present), and an LSD radix sort of stable counting passes orders the keys.

Otherwise (a value not a float32 value: NaN, beyond float32's range, more than 24 significand
bits; both signed zeros; not 1-D) :func:`sort_float64` returns ``np.sort``'s own result.
``tests/test_fast_sort.py`` pins it to ``np.sort`` (random, tie-heavy, signed zeros, subnormals,
extremes, float64-only values, real SmolLM2 and MiniLM weights).

numba, single-threaded (the accuracy run's workers use every core, see :mod:`models.fast_seq`).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

#: bits of the three radix digits, lowest first (11 + 11 + 10 = 32): a digit's 2048 counts stay
#: in L1, and three passes move each key three times
DIGIT_BITS = (11, 11, 10)
#: counts per digit (the widest digit's range)
BUCKETS = 1 << max(DIGIT_BITS)
#: the float32 sign bit
SIGN = 0x80000000
#: all 32 bits (a negative value's key: its bits flipped)
ALL = 0xFFFFFFFF


def _sort(values, out):
    """``out[:] = np.sort(values)`` when every value is a float32 value and not both signed zeros
    occur (True), else False (``out`` then undefined). Module docstring."""
    n = len(values)
    narrow = np.empty(n, dtype=np.float32)
    for i in range(n):
        narrow[i] = np.float32(values[i])
        if np.float64(narrow[i]) != values[i]:  # not a float32 value (or NaN)
            return False
    keys = narrow.view(np.uint32)
    if not _radix(keys, np.empty(n, dtype=np.uint32), False):
        return False
    for i in range(n):
        out[i] = narrow[i]
    return True


def _sort_rows(x, out, plus_zero):
    """``out[r] = np.sort(x[r])`` (``plus_zero``: ``+ float32(0)``, so every zero ``+0``) for each
    row of the float32 2-D ``x`` (True), or False (``out`` then unfinished) when a row holds a NaN
    or, without ``plus_zero``, both signed zeros. With ``plus_zero`` a ``-0`` key is made ``+0``'s
    first: np.sort then ``+ 0`` gives every zero as ``+0`` wherever the sort put it."""
    rows, n = x.shape
    keys = np.empty(n, dtype=np.uint32)
    spare = np.empty(n, dtype=np.uint32)
    for r in range(rows):
        keys.view(np.float32)[:] = x[r]
        for i in range(n):
            k = np.int64(keys[i])
            if k & 0x7FFFFFFF > 0x7F800000:    # NaN: np.sort puts it last, the key map would not
                return False
            if plus_zero and k == SIGN:
                keys[i] = 0
        if not _radix(keys, spare, plus_zero):
            return False
        out[r] = keys.view(np.float32)
    return True


def _radix(keys, spare, zeros_merged):
    """Sorts the non-NaN float32 bit patterns ``keys`` (uint32) in place in their floats' order
    (``spare``: a scratch array as long); False (``keys`` then unchanged or mapped) when both
    ``-0`` and ``+0`` occur, unless ``zeros_merged`` (the caller made them one). The keys are handled
    as int64 (numba widens uint32 arithmetic, and mixing uint64 with int64 gives float64)."""
    n = len(keys)
    counts = np.zeros((len(DIGIT_BITS), BUCKETS), dtype=np.int64)
    negative_zero = positive_zero = False
    for i in range(n):
        k = np.int64(keys[i])
        negative_zero |= k == SIGN
        positive_zero |= k == 0
        k = k ^ ALL if k & SIGN else k ^ SIGN  # the order-preserving key
        keys[i] = k
        shift = 0
        for d in range(len(DIGIT_BITS)):
            counts[d, (k >> shift) & ((1 << DIGIT_BITS[d]) - 1)] += 1
            shift += DIGIT_BITS[d]
    if negative_zero and positive_zero and not zeros_merged:   # np.sort may order them either way
        return False
    source, target = keys, spare
    start = np.empty(BUCKETS, dtype=np.int64)
    shift = 0
    for d in range(len(DIGIT_BITS)):
        mask = (1 << DIGIT_BITS[d]) - 1
        if n > 0 and counts[d, (np.int64(source[0]) >> shift) & mask] < n:
            total = 0
            for b in range(mask + 1):
                start[b] = total
                total += counts[d, b]
            for i in range(n):                  # stable: equal digits keep their order
                k = np.int64(source[i])
                b = (k >> shift) & mask
                target[start[b]] = k
                start[b] += 1
            source, target = target, source
        # else every key has this digit: its pass would keep the order
        shift += DIGIT_BITS[d]
    for i in range(n):
        k = np.int64(source[i])
        keys[i] = k ^ SIGN if k & SIGN else k ^ ALL
    return True


def sort_float64(values):
    """``np.sort(values)`` bit for bit; for a 1-D float64 array of float32 values (module
    docstring) by the compiled radix sort, else by ``np.sort`` itself."""
    values = np.asarray(values)
    if values.dtype != np.float64 or values.ndim != 1:
        return np.sort(values)
    out = np.empty_like(values)
    if _compiled().sort(np.ascontiguousarray(values), out):
        return out
    return np.sort(values)


#: :func:`sort_rows_float32` sorts rows at least this long by the radix kernel (np.sort's
#: vectorised sort of a short row is faster than three counting passes over 2,048 buckets)
ROW_MIN = 1024


def sort_rows_float32(x, plus_zero=False):
    """``np.sort(x, axis=1)`` (``plus_zero``: ``np.sort(x, axis=1) + np.float32(0)``) bit for bit,
    float32, for a 2-D float32 array: rows of at least :data:`ROW_MIN` elements (a per-tensor
    activation flattened into one row) by the compiled radix sort, unless a row holds a NaN or,
    without ``plus_zero``, both signed zeros (module docstring: then the sorted row is not unique
    bit for bit); otherwise by numpy."""
    x = np.asarray(x)
    if x.dtype == np.float32 and x.ndim == 2 and x.shape[1] >= ROW_MIN:
        out = np.empty(x.shape, dtype=np.float32)
        if _compiled().sort_rows(np.ascontiguousarray(x), out, bool(plus_zero)):
            return out
    xs = np.sort(x, axis=1)
    return xs + np.float32(0) if plus_zero else xs


@functools.cache
def _compiled():
    """The kernels compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred: numba takes about 0.5 s to import."""
    import numba
    global _radix                   # the name both kernels call, bound here with numba's import
    _radix = numba.njit(cache=True, nogil=True)(_radix)
    return SimpleNamespace(sort=numba.njit(cache=True, nogil=True)(_sort),
                           sort_rows=numba.njit(cache=True, nogil=True)(_sort_rows))
