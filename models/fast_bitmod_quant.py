"""Compiled BitMoD weight quantiser with the paper's INT8 second-level scales
(:func:`models.quant.bitmod._bitmod_rows`, ``scale_format="int8"``): every row's groups, every
candidate type, the type choice, in one pass per row.

Why compiled: the numpy path makes about twenty passes over a (rows, groups, G) block per
candidate type (the division by the scale, the lattice lookup's floor / compare / clip / index /
take, the product, the error's difference, square and mean, the keep-best selects): about 30 %
of a BitMoD design's SmolLM2 ``--quick`` run, four types for the mixed formats.

Why it is the same, bit for bit (``tests/test_fast_bitmod_quant.py`` pins it to the numpy path
on random, tie-heavy, zero and real weights): per row and group, in float64 from the float32
weights, the same IEEE operations in the same order, numba without ``fastmath`` (no
reassociation, no FMA contraction):

* ``absmax`` of the group; ``first_t = absmax / max|level_t|``; the row's second-level scale
  ``s2 = max_{t, g} first_t / 255`` (1 when that is 0); the group scale
  ``s = min(max(rint(first_t / s2), 1), 255) * s2`` (``rint``: half to even, as ``np.rint``);
* the element's level: :class:`models.quant.common.LatticeTable`'s lookup step by step
  (``u = (w / s) * inv_h``, ``floor``, the lattice-point flag ``u == floor(u)``, the clip of
  ``floor(u)`` to ``[-L, L - 1]``, the index ``2 (floor + L) + flag`` into the same table);
* the error ``mean((q s - w)**2)`` over the group: ``np.mean`` along the contiguous last axis
  is ``(+0 + S) / G`` with ``S`` numpy's pairwise sum (``numpy/_core/src/umath/loops_utils.h.src``):
  for ``n <= 128`` one block of eight interleaved accumulators combined as a balanced tree, then
  the rest one by one; for a larger ``n`` the sums of the first ``n2 = n // 2 - (n // 2) % 8``
  and of the rest, each the same way (a whole-K group: the FP16-activation design's one group
  per column). This takes one call of numpy's inner loop over the whole group, which the tests
  confirm up to :data:`MAX_GROUP` (numpy's buffer size, past which a buffered reduction could
  split it); a larger group is not taken here (the caller keeps the numpy path);
* the choice: the first type, then a later one only on a strictly smaller error (one type: no
  error computed, as it decides nothing and the caller keeps no per-group error then).

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

#: the largest group taken here: numpy's default buffer size (``NPY_BUFSIZE``, module docstring)
MAX_GROUP = 8192
#: the elements numpy's pairwise summation adds as one block (``PW_BLOCKSIZE``)
BLOCK = 128
#: the block's interleaved accumulators (``PW_UNROLL``)
UNROLL = 8
#: levels of the pairwise sum's stack: each halves the length, ``MAX_GROUP`` takes seven
FRAMES = 16


def _leaf(x, start, n, acc):
    """numpy's pairwise sum of ``x[start:start + n]``, ``n <= BLOCK``: one block (module docstring)."""
    if n < UNROLL:
        res = -0.0
        for t in range(n):
            res += x[start + t]
        return res
    for u in range(UNROLL):
        acc[u] = x[start + u]
    t = UNROLL
    while t < n - n % UNROLL:
        for u in range(UNROLL):
            acc[u] += x[start + t + u]
        t += UNROLL
    res = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while t < n:
        res += x[start + t]
        t += 1
    return res


def _half(n):
    """The length of the first half numpy's pairwise sum splits ``n > BLOCK`` into."""
    n2 = n // 2
    return n2 - n2 % UNROLL


def _pairwise(x, n, acc, frames):
    """numpy's pairwise sum of ``x[:n]`` (module docstring): its recursion ``sum(first n2) +
    sum(rest)`` on an explicit stack (``frames``, one row per level: start, length, 1 once the
    first half's sum is known, that sum), as numba's on-disk cache of a recursive function
    crashes on loading."""
    d = 0
    frames[0, 0], frames[0, 1] = 0.0, n
    while True:
        start, m = int(frames[d, 0]), int(frames[d, 1])
        if m > BLOCK:                                   # descend into the first half
            frames[d, 2] = 0.0
            d += 1
            frames[d, 0], frames[d, 1] = start, _half(m)
            continue
        res = _leaf(x, start, m, acc)
        while True:                                     # hand the sum up the finished levels
            d -= 1
            if d < 0:
                return res
            if frames[d, 2] == 0.0:                     # the first half done: the second next
                frames[d, 2], frames[d, 3] = 1.0, res
                h = _half(int(frames[d, 1]))
                frames[d + 1, 0], frames[d + 1, 1] = frames[d, 0] + h, frames[d, 1] - h
                d += 1
                break
            res = frames[d, 3] + res


def _block_sum(x, n, acc, frames):
    """numpy's reduction of ``x[:n]``: the reduction's identity +0 plus the pairwise sum."""
    return 0.0 + _pairwise(x, n, acc, frames)


def _rows(w, g, luts, inv_h, half, top, shared, q_out, wq_out, s_out, sel_out, err_out, s2_out):
    """Quantise each row of ``w`` (rows, K) float32, groups of ``g`` along K, with the candidate
    types' lattice tables ``luts[t]`` (``inv_h[t]``, ``half[t]`` = L) and largest levels ``top[t]``
    (module docstring; ``shared[t]``: type ``t`` has type ``t - 1``'s largest level and lattice,
    so the same scale ``s`` and lattice indices, only its table differs); writes the kept type's levels, values, scale, index and error (error only
    with several types) and the row's second-level scale."""
    rows, k = w.shape
    ng = k // g
    types = len(top)
    amax = np.empty(ng)
    x = np.empty(g)
    q = np.empty(g)
    sq = np.empty(g)
    index = np.empty(g, dtype=np.int64)
    acc = np.empty(UNROLL)
    frames = np.empty((FRAMES, 4))
    for r in range(rows):
        for j in range(ng):
            m = abs(np.float64(w[r, j * g]))
            for e in range(1, g):
                m = max(m, abs(np.float64(w[r, j * g + e])))
            amax[j] = m
        top_first = -np.inf
        for t in range(types):
            for j in range(ng):
                top_first = max(top_first, amax[j] / top[t])
        s2 = top_first / 255.0
        if not s2 > 0:
            s2 = 1.0
        s2_out[r] = s2
        for j in range(ng):
            for e in range(g):
                x[e] = np.float64(w[r, j * g + e])
            best = np.inf
            s = 0.0
            for t in range(types):
                if not shared[t]:                   # else the previous type's s and indices
                    s = min(max(np.rint(amax[j] / top[t] / s2), 1.0), 255.0) * s2
                    lim = half[t]
                    for e in range(g):
                        u = (x[e] / s) * inv_h[t]
                        fl = np.floor(u)
                        point = 1 if u == fl else 0
                        fl = min(max(fl, -lim), lim - 1)
                        index[e] = (int(fl) + lim) * 2 + point
                for e in range(g):
                    level = np.float64(luts[t, index[e]])
                    q[e] = level
                    d = level * s - x[e]
                    sq[e] = d * d
                err = _block_sum(sq, g, acc, frames) / g if types > 1 else 0.0
                if t == 0 or err < best:            # a later type only if strictly better
                    best = err
                    sel_out[r, j] = t
                    s_out[r, j] = s
                    err_out[r, j] = err
                    for e in range(g):
                        q_out[r, j * g + e] = np.int16(q[e])
                        wq_out[r, j * g + e] = q[e] * s


def quantise_rows(w, g, tables, tops):
    """The INT8-scale BitMoD quantisation of float32 ``w`` (rows, K), groups of ``g`` along K
    (``g <= MAX_GROUP``, dividing K): ``(wq (rows, K) float64, q (rows, K) int16, scale (rows,
    K / g) float64, selector (rows, K / g) int8, group error (rows, K / g) float64, only with
    several types, else 0; second-level scale (rows, 1))``. ``tables``: the candidate types'
    :class:`models.quant.common.LatticeTable`, ``tops`` their largest ``|level|``, in order."""
    if g > MAX_GROUP:
        raise ValueError(f"groups of at most {MAX_GROUP} elements, not {g}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    rows, k = w.shape
    ng = k // g
    half = np.array([t.L for t in tables], dtype=np.int64)
    luts = np.zeros((len(tables), 4 * int(half.max())), dtype=np.float32)
    for i, t in enumerate(tables):
        luts[i, :t.lut.size] = t.lut
    inv_h = np.array([float(t.inv_h) for t in tables])
    tops = np.asarray(tops, dtype=np.float64)
    # a type with the previous one's largest level and lattice has its scale and lattice indices
    shared = np.array([i > 0 and tops[i] == tops[i - 1] and inv_h[i] == inv_h[i - 1] and half[i] == half[i - 1]
                       for i in range(len(tables))], dtype=np.bool_)
    q = np.empty((rows, k), dtype=np.int16)
    wq = np.empty((rows, k))
    s, err, s2 = np.empty((rows, ng)), np.empty((rows, ng)), np.empty(rows)
    sel = np.empty((rows, ng), dtype=np.int8)
    _compiled().rows(w, g, luts, inv_h, half, tops, shared, q, wq, s, sel, err, s2)
    return wq, q, s, sel, err, s2[:, None]


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to
    import and only a call needs it."""
    import numba
    global _leaf, _half, _pairwise, _block_sum
    _leaf = numba.njit(cache=True, nogil=True, inline="always")(_leaf)
    _half = numba.njit(cache=True, nogil=True, inline="always")(_half)
    _pairwise = numba.njit(cache=True, nogil=True, inline="always")(_pairwise)
    _block_sum = numba.njit(cache=True, nogil=True, inline="always")(_block_sum)
    return SimpleNamespace(rows=numba.njit(cache=True, nogil=True, error_model="numpy")(_rows))
