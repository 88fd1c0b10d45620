"""Compiled kernels of GOBO's weight quantiser (:func:`models.gobo_format.quantize_gobo`): the
nearest-centroid search its refinement repeats (up to 50 rounds over every weight of a tensor,
:func:`models.gobo_format.fit_centroids`), the refinement's sums, and the outlier test.

Two ways to the same indices, both exactly ``np.abs(values[:, None] - centroids[None, :])
.argmin(axis=1)`` for finite values (ties: the lower index):

* :func:`nearest_centroid`, any values and centroids: per value the float64 distances ``|v - c_j|``
  (one IEEE subtraction, exact ``abs``) and a running minimum that moves only on a strictly
  smaller one (``argmin`` keeps the first minimum), a chunk of values at a time, centroid by
  centroid (the same comparisons per value, as vector selects). Its helpers :func:`abs_errors` (the L1
  terms ``np.abs(v - c[i])``, the same operations) and :func:`index_counts` (group sizes).
* :func:`cluster_ends`, sorted values: the same running minimum evaluated only at ``O(C log n)``
  values (a binary search per centroid boundary) when the indices are provably non-decreasing
  along the sorted values, so the groups are the slices ``values[ends[j-1]:ends[j]]``.

Why the binary search is exact (when :func:`cluster_ends` does not return ``None``). Write
``d_j(v) = |fl(v - c_j)|`` (``fl``: float64 rounding, monotone and odd) and ``nearest(v)`` the
first ``j`` of smallest ``d_j(v)``. The kernel requires the centroids strictly ascending and
each gap ``fl(c_{j+1} - c_j) > 2**-50 * F`` (and ``> 2**-1000``), ``F = fl(v_max - c_0)``.
For ``a < b`` let ``P(v)`` be ``d_b(v) < d_a(v)``; ``P`` is an up-set on ``[v_min, v_max]``:

* ``v <= c_a``: ``d_a = fl(c_a - v) <= fl(c_b - v) = d_b``, so ``P(v)`` is false;
* ``P(v)`` and ``v < v' <= c_b``: ``d_a`` does not fall and ``d_b`` does not rise from ``v`` to
  ``v'`` (monotone rounding of ``v - c_a > 0`` and ``c_b - v >= 0``), so ``P(v')``;
* ``v' > c_b``: ``x = v' - c_b < y = v' - c_a``; ``fl(x) = fl(y)`` would put both in one rounding
  interval, of width at most ``ulp(fl(y)) <= 2**-52 * F`` (``fl(y) <= F``), yet ``y - x = c_b -
  c_a > fl(c_b - c_a) / 2 > 2**-51 * F``; so ``d_b < d_a``: ``P(v')``.

Then ``nearest`` is non-decreasing: ``v < v'`` with ``nearest(v) = j > j' = nearest(v')`` means
``d_j(v) < d_j'(v)`` (``j'`` is a lower index), so ``P`` for ``(j', j)`` holds at ``v`` and at
``v'``, and ``j`` is strictly closer than ``j'`` at ``v'``: a contradiction. So on sorted values
``nearest(values[i]) >= j`` is false then true along ``i``, and a binary search with the same
running minimum finds where it turns. Otherwise (NaN, an infinite ``F``, equal or unsorted
centroids, a gap too small) the caller takes the full search; ``tests/test_fast_gobo.py`` pins
both to the ``argmin`` (ties at exact midpoints, duplicate centroids, +-0, extremes).

:func:`sorted_round` does, one pass each, the sums numpy would do on the group slices (their
means) and on the L1 error array, without the array: numpy's pairwise summation (``add.reduce``
of a contiguous float64 array, ``numpy/_core/src/umath/loops_utils.h.src``: blocks of at most 128
summed in eight interleaved accumulators, longer runs halved at a multiple of 8, the whole added
to the identity +0), the same additions in the same tree, so the same bits (tests/test_fast_gobo.py
checks :func:`pairwise_sum` against ``np.sum`` on every length to 1100, long arrays and -0 sums).
:func:`outlier_mask` is ``np.abs(w - mean) > limit`` in one pass.

numba without ``fastmath`` (IEEE: no reassociation, no FMA contraction), single-threaded (the
accuracy run's workers already use every core, see :mod:`models.fast_seq`).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

#: numpy's pairwise summation: a run of at most this many values is one block of eight
#: interleaved accumulators (``PW_BLOCKSIZE`` in numpy's loops_utils.h.src)
PW_BLOCKSIZE = 128
#: the unrolling of that block (its accumulators)
PW_UNROLL = 8
#: values per chunk of :func:`nearest_centroid`'s loop (their distances stay in L1)
CHUNK = 512
#: depth of :func:`_pairwise`'s stack (a run of ``2**60`` values needs 54 halvings)
STACK = 64
#: the smallest centroid gap, relative to ``F`` (module docstring), for the binary search
GAP_RELATIVE = 2.0 ** -50
#: and absolute (keeps ``GAP_RELATIVE * F`` away from subnormal rounding)
GAP_ABSOLUTE = 2.0 ** -1000


def _nearest_one(v, centroids):
    best = abs(v - centroids[0])
    at = 0
    for j in range(1, len(centroids)):
        d = abs(v - centroids[j])
        if d < best:                            # strictly closer: ties keep the lower index
            best = d
            at = j
    return at


def _nearest(values, centroids, index):
    # chunk by chunk, centroid by centroid: per value the same running minimum as
    # _nearest_one (first |v - c_0|, then each c_j in order, moving on a strictly smaller one),
    # as a loop over the chunk's values that the compiler vectorises (selects, no branches)
    best = np.empty(CHUNK)
    for lo in range(0, len(values), CHUNK):
        chunk = values[lo:lo + CHUNK]
        at = index[lo:lo + CHUNK]
        c = centroids[0]
        for i in range(len(chunk)):
            best[i] = abs(chunk[i] - c)
            at[i] = 0
        for j in range(1, len(centroids)):
            c = centroids[j]
            for i in range(len(chunk)):
                d = abs(chunk[i] - c)
                closer = d < best[i]            # strictly closer: ties keep the lower index
                best[i] = d if closer else best[i]
                at[i] = j if closer else at[i]


def nearest_centroid(values, centroids):
    """Index of the nearest centroid per value (ties: the lower index): per value the float64
    distances ``|v - c_j|`` and a running minimum that moves only on a strictly smaller one,
    exactly ``np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)`` for finite inputs;
    int64 (intp), ``values``' shape."""
    values = np.asarray(values, dtype=np.float64)
    centroids = _centroids(centroids)
    index = np.empty(values.size, dtype=np.intp)
    _compiled().nearest(np.ascontiguousarray(values).ravel(), centroids, index)
    return index.reshape(values.shape)


def _centroids(centroids):
    centroids = np.ascontiguousarray(centroids, dtype=np.float64)
    if centroids.ndim != 1 or len(centroids) == 0:
        raise ValueError(f"centroids must be a non-empty 1-D array, not shape {centroids.shape}")
    return centroids


def _abs_errors(values, centroids, index, out):
    for i in range(len(values)):
        out[i] = abs(values[i] - centroids[index[i]])


def abs_errors(values, centroids, index):
    """``np.abs(values - centroids[index])`` (1-D float64 ``values``), exactly: the same float64
    subtraction and ``abs`` per value, without the gathered and subtracted temporaries."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty_like(values)
    _compiled().abs_errors(values, np.ascontiguousarray(centroids, dtype=np.float64),
                           np.ascontiguousarray(index), out)
    return out


def _index_counts(index, counts):
    ordered = True
    for i in range(len(index)):
        counts[index[i]] += 1
        if i > 0 and index[i] < index[i - 1]:
            ordered = False
    return ordered


def index_counts(index, count):
    """(how many of each index ``0 .. count - 1``, as ``np.bincount``; whether ``index`` is
    non-decreasing) in one pass over a 1-D index array (values in range)."""
    counts = np.zeros(count, dtype=np.int64)
    ordered = _compiled().index_counts(np.ascontiguousarray(index), counts)
    return counts, bool(ordered)


def _cluster_ends(values, centroids, ends):
    n, c = len(values), len(centroids)
    if n == 0:
        return False
    limit = values[n - 1] - centroids[0]        # F of the module docstring (NaN fails below)
    for j in range(1, c):
        gap = centroids[j] - centroids[j - 1]
        if not (gap > GAP_RELATIVE * limit and gap > GAP_ABSOLUTE):
            return False
    lo = 0
    for j in range(1, c):
        hi = n                                  # first i with nearest(values[i]) >= j, in [lo, n]
        while lo < hi:
            mid = (lo + hi) // 2
            if _nearest_one(values[mid], centroids) >= j:
                hi = mid
            else:
                lo = mid + 1
        ends[j - 1] = lo
    ends[c - 1] = n
    return True


def cluster_ends(values, centroids):
    """For sorted float64 ``values`` (1-D, contiguous): ``ends`` (int64, one per centroid) with
    ``nearest_centroid(values)[i] == j`` exactly for ``ends[j-1] <= i < ends[j]`` (from 0 for
    ``j = 0``), or ``None`` when the module docstring's conditions do not hold (then use
    :func:`nearest_centroid`). ``values`` unsorted give wrong ends: the caller sorts."""
    centroids = _centroids(centroids)
    ends = np.empty(len(centroids), dtype=np.int64)
    ok = _compiled().cluster_ends(np.ascontiguousarray(values, dtype=np.float64), centroids, ends)
    return ends if ok else None


def _outliers(values, mean, limit, out):
    for i in range(len(values)):
        out[i] = abs(values[i] - mean) > limit


def outlier_mask(values, mean, limit):
    """``np.abs(values - mean) > limit`` (float64 ``values``, any shape; ``mean`` and ``limit``
    floats) exactly: the same float64 subtraction, ``abs`` and comparison per value, in one pass
    without the two temporaries."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty(values.shape, dtype=np.bool_)
    _compiled().outliers(values.ravel(), float(mean), float(limit), out.ravel())
    return out


def _pairwise(values, lo, n, centroids, ends, errors, buf, acc):
    """numpy's pairwise sum (module docstring) of ``n`` terms from ``lo``: ``values[i]``, or with
    ``errors`` ``|values[i] - centroids[j]|`` for ``ends[j-1] <= i < ends[j]``; ``buf`` (128) holds
    a block's terms, ``acc`` (8) its accumulators. numpy's recursion (a run longer than a block
    is its left half's sum + its right half's, split at a multiple of the unrolling) walked
    without recursion (numba's cache does not reload a recursive function): down to the leftmost
    block, each right half kept on a stack; a sum that completes a right half is added to its
    left sibling's (left + right, numpy's order), one that completes a left half waits for it."""
    right_start = np.empty(STACK, dtype=np.int64)
    right_length = np.empty(STACK, dtype=np.int64)
    left_sum = np.empty(STACK)
    left_done = np.zeros(STACK, dtype=np.bool_)
    top = 0
    start, length = lo, n
    while True:
        while True:
            if length <= PW_BLOCKSIZE:
                total = _block(values, start, length, centroids, ends, errors, buf, acc)
                break
            half = _half(length)
            if length - half <= PW_BLOCKSIZE:   # both halves blocks (the left is the shorter):
                total = (_block(values, start, half, centroids, ends, errors, buf, acc)  # summed
                         + _block(values, start + half, length - half, centroids, ends, errors, buf, acc))
                break                           # here, half the walk
            right_start[top], right_length[top], left_done[top] = start + half, length - half, False
            top += 1
            length = half
        while top > 0 and left_done[top - 1]:
            top -= 1
            total = left_sum[top] + total
        if top == 0:
            return total
        left_sum[top - 1], left_done[top - 1] = total, True
        start, length = right_start[top - 1], right_length[top - 1]


def _half(length):
    half = length // 2
    return half - half % PW_UNROLL              # halves at a multiple of the unrolling, as numpy


def _block(values, lo, n, centroids, ends, errors, buf, acc):
    """One block of :func:`_pairwise`, its terms summed by :func:`_leaf`: with ``errors`` from
    the values and their group's centroid, or (a block across groups) from ``buf``, the terms
    written one loop per group."""
    if not errors:
        return _leaf(values, lo, n, 0.0, False, acc)
    j = 0
    while ends[j] <= lo:
        j += 1
    if ends[j] >= lo + n:
        return _leaf(values, lo, n, centroids[j], True, acc)
    t = 0
    while t < n:
        stop = min(n, ends[j] - lo)
        c = centroids[j]
        for u in range(t, stop):
            buf[u] = abs(values[lo + u] - c)
        t = stop
        j += 1
    return _leaf(buf, 0, n, 0.0, False, acc)


def _leaf(values, lo, n, c, errors, acc):
    """numpy's sum of a block of ``n <= 128`` terms ``values[lo + t]`` (with ``errors``
    ``|values[lo + t] - c|``): below 8 terms one by one from -0, else the eight accumulators
    ``acc`` over the multiple-of-8 part, combined as a balanced tree, then the rest one by one."""
    if n < PW_UNROLL:
        res = -0.0                              # numpy's start: a sum of only -0 stays -0
        for t in range(n):
            res += abs(values[lo + t] - c) if errors else values[lo + t]
        return res
    first = values[lo:lo + PW_UNROLL]
    for u in range(PW_UNROLL):
        acc[u] = abs(first[u] - c) if errors else first[u]
    t = PW_UNROLL
    while t < n - n % PW_UNROLL:
        step = values[lo + t:lo + t + PW_UNROLL]
        if errors:
            for u in range(PW_UNROLL):
                acc[u] += abs(step[u] - c)
        else:
            for u in range(PW_UNROLL):
                acc[u] += step[u]
        t += PW_UNROLL
    res = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while t < n:
        res += abs(values[lo + t] - c) if errors else values[lo + t]
        t += 1
    return res


def _reduce(values, lo, n, centroids, ends, errors, buf, acc):
    # np.add.reduce starts from its identity, +0 (so an empty sum, or one of only -0, is +0)
    return 0.0 + _pairwise(values, lo, n, centroids, ends, errors, buf, acc)


def _sum(values, buf):
    return _reduce(values, 0, len(values), values[:1], np.zeros(1, dtype=np.int64), False, buf, np.empty(PW_UNROLL))


def pairwise_sum(values):
    """``np.sum`` of a 1-D float64 array by the kernel's summation (what the tests pin to numpy)."""
    return float(_compiled().sum(np.ascontiguousarray(values, dtype=np.float64), np.empty(PW_BLOCKSIZE)))


def _sorted_round(values, centroids, ends, fallback, means, buf):
    acc = np.empty(PW_UNROLL)
    start = 0
    for j in range(len(ends)):
        count = ends[j] - start
        means[j] = (_reduce(values, start, count, centroids, ends, False, buf, acc) / count if count > 0
                    else fallback[j])
        start = ends[j]
    return _reduce(values, 0, len(values), centroids, ends, True, buf, acc)


def sorted_round(values, centroids, ends, fallback):
    """For sorted ``values`` and their groups ``ends`` (:func:`cluster_ends` of ``centroids``):
    ``(L1, means)``, exactly ``np.abs(values - centroids[index]).sum()`` and per group ``j``
    ``values[index == j].mean()`` (``fallback[j]`` for an empty group), ``index`` the groups as
    indices, without the error array: numpy's summation trees, one pass each."""
    means = np.empty(len(ends))
    l1 = _compiled().sorted_round(np.ascontiguousarray(values, dtype=np.float64), _centroids(centroids),
                                  np.ascontiguousarray(ends, dtype=np.int64),
                                  np.ascontiguousarray(fallback, dtype=np.float64), means, np.empty(PW_BLOCKSIZE))
    return float(l1), means


@functools.cache
def _compiled():
    """The kernels compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred: numba takes about 0.5 s to import, and every CLI command imports
    this module through the registry's GOBO quantiser; only a call needs it."""
    import numba
    global _nearest_one, _leaf, _block, _half, _pairwise, _reduce
    jit = numba.njit(cache=True, nogil=True)
    # the kernels call the per-value search by its module name: compiled first, in its place
    _nearest_one = jit(_nearest_one)
    # the per-block functions inlined into the walk (a call per block costs as much as its sum)
    inline = numba.njit(cache=True, nogil=True, inline="always")
    _leaf = inline(_leaf)
    _block = inline(_block)
    _half = inline(_half)
    _pairwise = jit(_pairwise)
    _reduce = jit(_reduce)
    return SimpleNamespace(outliers=jit(_outliers), sum=jit(_sum), sorted_round=jit(_sorted_round), nearest=jit(_nearest), cluster_ends=jit(_cluster_ends),
                           abs_errors=jit(_abs_errors), index_counts=jit(_index_counts))
