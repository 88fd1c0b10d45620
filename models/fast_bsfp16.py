"""Compiled exact fast path for the BitMoD FP16-activation golden GEMM (``bitserial_fp16``).

Why: :func:`models.bitserial_fp16.fp16_bitserial_gemm` truncates its float-like accumulator
``(X, F)`` to its own format after every cycle, so its result depends on the order of additions
and no BLAS or IEEE float type reproduces it; its numpy loop over K steps is far too slow for a
whole-model accuracy run. :func:`bsfp16_words` does the same integer operations in the same order
(per output: K steps ascending, within a step the weight terms in the PE's order), compiled by
numba (no ``fastmath``: integers only, nothing to reassociate).

How (session 37; docs/accuracy.md): per output column only its *live pairs*, the (K step, term)
cycles whose term is nonzero in some lane, each with only its nonzero lanes (:func:`prepare`,
once per linear: about 13 % of a real mixed4 linear's pairs are dead, most of them the second
term, and that term has 1 or 2 live lanes in most live pairs); the rows are the vector
dimension (AVX2: 8 int32 lanes), the weights scalars broadcast over them, with one loop per
count of live lanes (1 to 4). The rows are cut into tiles of at most :data:`TILE_M`: each pair's
loop over a tile pays a fixed cost (offsets, LLVM's runtime alias checks), which long tiles share.
numba types every int32 operation as int64, and AVX2 has no 64-bit arithmetic shift by a vector:
the shifts are the int32 intrinsic :func:`models.numba_bits.ashr_i32` and the clamps int32
constants, so the loops stay in int32.

Why it is exact (the golden's rules, module docstring of :mod:`models.bitserial_fp16`):

* **Dead pairs.** A (step, term) whose 4 lanes all have a zero term (``nz`` false: the padding
  past K too) is left out: no lane is present, so the golden's ``E = 0`` and ``dot = 0``,
  ``M = max(X, 0) = X``, ``S = F + 0 = F`` (in range: every ``F`` the rule makes fits 16 bits, the
  start 0 too), ``k = 0``: ``(X, F)`` unchanged. A lane with a zero term is left out of its pair:
  the golden counts it in neither ``E`` nor the dot.
* **Operands.** Activations are decoded once per call (sign, ``e``, ``m`` as the golden's
  :func:`models.bitserial_fp16.decode_fp16`, in one compiled pass with its check, :func:`_layout`)
  into ``e`` (:data:`E_ZERO` where ``m == 0``) and the word ``(m << 3) ^ g`` with ``g = -sign``
  (int16: ``m << 3 < 2**14``, so the word is negative iff ``g = -1`` and ``g`` is the word's
  ``>> 31``); weight terms once per linear (from the golden's own :func:`_terms`). The padding
  (zero codes) is never read into an output: lanes past K are in no pair, padding rows are dropped.
* **E.** ``v = e + shift`` per live lane, ``E = max v``. A present lane (``m != 0``) has
  ``v >= 1``, a lane with ``m == 0`` ``v <= -50 + 7 < 1``: with a present lane ``E`` is the
  golden's; without one ``E < 0 <= X``, so ``M = X`` as the golden's ``max(X, 0)``, and the dot
  is 0 in both (below), so ``S = F``: the same step.
* **Aligned mantissas and signs.** ``(word >> min(E - v, 31)) - g`` is the golden's
  ``(-1)**s * ((m << 3) >> (E - v))``: an arithmetic shift commutes with XOR by a sign mask
  (``~x >> d == ~(x >> d)``), so the shift gives ``((m << 3) >> d) ^ g`` and ``- g`` completes
  the negation; 0 for ``m == 0`` (the word is ``g``); ``m << 3 < 2**14`` makes the clamps 31 and
  the golden's 62 equal. The weight's sign mask ``neg`` is applied as ``(x ^ neg) - neg`` with the
  ``- neg`` of the pair's lanes summed once (``qsum``). One live lane: ``E = v``, no shift.
* **Accumulator.** ``M = max(X, E)``, ``S = (F >> min(M - X, 16)) + (dot >> min(M - E, 17))``
  (arithmetic shifts; ``F`` fits 16 signed bits and ``dot`` 17, so the clamps are the golden's),
  and the golden's ``k``: 2 when ``S >> 1`` is outside ``[-2**15, 2**15)``, else 1 when ``S`` is,
  else 0. With ``t = S ^ (S >> 31)`` (``S`` for ``S >= 0``, ``-S - 1`` otherwise, so ``t >= 0``),
  ``S`` is inside ``[-2**15, 2**15)`` iff ``t < 2**15`` and ``S >> 1`` is iff ``t < 2**16``: ``k``
  is ``t >> 15``, which is at most 2 with no clamp: ``|dot| <= 4 * 2047 * 8 = 65504`` and
  ``F >= -2**15``, so ``t <= 2**15 + 65504 - 1 < 3 * 2**15``.
* **Order.** A column's pairs are in the golden's order (steps ascending, then terms); rows and
  columns are independent outputs. Padding rows (zeros) are computed and dropped.
* **Overflow.** ``X`` never decreases (``M >= X``, ``k >= 0``), so the golden's one check after
  the last step (``X >= 2**7`` anywhere: ValueError) is the same check here.

Single-threaded on purpose, as :mod:`models.fast_seq` (``pearray accuracy`` runs one design per
process on every core). ``tests/test_fast_golden.py`` pins :func:`bsfp16_words` to the golden
(random, extreme and real MiniLM / SmolLM2 operands, every pattern of live lanes, several row
tiles).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .bitserial_fp16 import ACC_EXP_BITS, ACC_MAN_BITS, GUARD, MAN_FRAC, VEC, _terms, check_fp16_codes

#: the exponent of an activation with ``m == 0``: ``v = e + shift`` in -50..-43, below every present lane's
E_ZERO = -50
#: the shift of a zero term in :func:`prepare`'s tables (the lane slots a pair does not use)
W_NONE = -100
#: :func:`models.numba_bits.ashr_i32`, :func:`_accumulate` and :func:`_aligned` compiled, bound by
#: :func:`_compiled` (numba is imported only there)
ashr_i32 = accumulate = aligned = None
#: rows per tile at most: every pair's loop over a tile's rows pays a fixed cost (offsets, alias
#: checks), so tiles are long (real SmolLM2 FFN linear, 512 rows: 32-row tiles 2x slower)
TILE_M = 512
#: rows per AVX2 vector (int32): a tile's height is a multiple
ROW_VEC = 8


@dataclass(frozen=True)
class Bsfp16Weights:
    """A linear's live weight terms, decoded once: per output column ``n`` the pairs
    ``ptr[n]:ptr[n + 1]`` in the golden's order (K step ascending, then term), only those with a
    nonzero term in some lane. Per pair: its K ``step``, its ``count`` of nonzero lanes, and per
    lane slot (the nonzero lanes first, then :data:`W_NONE` slots) the K ``lane`` in the step, the
    term's ``shift`` and sign mask ``neg`` (-1 negative, 0 not); ``qsum`` the sum of ``neg``.
    ``k`` the weights' K (before padding to whole steps)."""
    ptr: np.ndarray            # (N + 1,) int64
    step: np.ndarray           # (P,) int32
    count: np.ndarray          # (P,) int8
    lane: np.ndarray           # (P, VEC) int8
    shift: np.ndarray          # (P, VEC) int8
    neg: np.ndarray            # (P, VEC) int8
    qsum: np.ndarray           # (P,) int8
    k: int


def prepare(weights, pe):
    """Weight codes K x N -> :class:`Bsfp16Weights`: the golden's :func:`_terms` (in its order) of
    each distinct code, looked up per element (the terms are a function of the code alone; only
    codes that occur are decoded, so a code needing more terms than the PE has raises as in the
    golden), then per column the live (step, term) pairs with their nonzero lanes first."""
    codes = np.asarray(weights, dtype=np.int64)
    k, n = codes.shape
    steps = -(-k // VEC)
    lo = int(codes.min()) if codes.size else 0
    seen = np.zeros(int(codes.max()) - lo + 1 if codes.size else 1, dtype=bool)
    seen[codes - lo] = True
    present = np.flatnonzero(seen) + lo
    nz, neg, shift = (a[:, 0] for a in _terms(present[:, None], pe.weight_format, pe.terms))
    # one more row, the padding past K: no term
    shift_of = np.full((len(seen) + 1, pe.terms), W_NONE, dtype=np.int8)
    negmask_of = np.zeros((len(seen) + 1, pe.terms), dtype=np.int8)
    shift_of[present - lo] = np.where(nz, shift, W_NONE)
    negmask_of[present - lo] = -(neg & nz).astype(np.int8)

    # codes as table rows, one column's K contiguous, padded to whole steps (the loop over a
    # step's lanes then has a fixed count)
    index = np.full((n, steps * VEC), len(seen), dtype=np.int32)
    index[:, :k] = (codes - lo).T
    most = n * steps * pe.terms
    ptr = np.empty(n + 1, dtype=np.int64)
    step, count, qsum = np.empty(most, np.int32), np.empty(most, np.int8), np.empty(most, np.int8)
    lane, shifts = np.zeros((most, VEC), np.int8), np.full((most, VEC), W_NONE, np.int8)
    negs = np.zeros((most, VEC), np.int8)
    live = _compiled().pairs(index, shift_of, negmask_of, ptr, step, count, lane, shifts, negs, qsum)
    return Bsfp16Weights(ptr, step[:live].copy(), count[:live].copy(), lane[:live].copy(), shifts[:live].copy(),
                         negs[:live].copy(), qsum[:live].copy(), k)


def _pairs(index, shift_of, negmask_of, ptr, step, count, lane, shift, neg, qsum):
    """Fills the pair tables of :class:`Bsfp16Weights` from the weights' table rows ``index``
    (N x K padded to whole steps with a row of zero terms: the golden pads with zero weights) and
    the per-code term tables (codes x terms); returns the number of pairs. Compiled by :func:`_compiled`."""
    n_total, k = index.shape
    terms = shift_of.shape[1]
    p = 0
    for n in range(n_total):
        ptr[n] = p
        for s in range(k // VEC):
            for t in range(terms):
                # branch-free (whether a term is zero is data, unpredictable): every lane is
                # written to the next free slot, a zero term as the slot's initial (0, W_NONE, 0),
                # which the next live lane overwrites; a dead pair's row likewise stays free
                c = 0
                for j in range(VEC):
                    code = index[n, s * VEC + j]
                    live = shift_of[code, t] != W_NONE
                    lane[p, c], shift[p, c], neg[p, c] = j * live, shift_of[code, t], negmask_of[code, t]
                    c += live
                step[p], count[p], qsum[p] = s, c, neg[p, 0] + neg[p, 1] + neg[p, 2] + neg[p, 3]
                p += c != 0
    ptr[n_total] = p
    return p


def _activations(acts, k):
    """FP16 codes M x K -> per row tile, K step and lane, over the tile's rows, flat (shape
    (tiles, steps, VEC, height) raveled): ``e`` (:data:`E_ZERO` where ``m == 0``) int8, the word
    ``(m << 3) ^ g`` (``g = -sign``) int16, and ``height``: the rows split into equal tiles of at
    most :data:`TILE_M` rows, each a whole number of vectors; rows and K padded with zero codes
    (``e`` :data:`E_ZERO`, word 0). One compiled pass (:func:`_layout`) instead of numpy's decode,
    pads and transposes (about ten passes); ValueError as :func:`models.bitserial_fp16.check_fp16_codes`
    (the same messages, a code outside 0..65535 before infinity / NaN)."""
    codes = np.asarray(acts, dtype=np.int64)
    rows = codes.shape[0]
    steps, tiles = -(-k // VEC), max(1, -(-rows // TILE_M))
    height = max(1, -(-rows // (tiles * ROW_VEC))) * ROW_VEC          # one vector for no rows
    exp = np.empty(tiles * steps * VEC * height, dtype=np.int8)
    man = np.empty(tiles * steps * VEC * height, dtype=np.int16)
    bad = _compiled().layout(codes, height, steps, exp, man)
    if bad:
        check_fp16_codes(codes)                     # raises the check's own error, in its order
        raise AssertionError("a code _layout refuses passed check_fp16_codes")
    return exp, man, height


def _layout(codes, height, steps, exp, man):
    """Fills :func:`_activations`' ``exp`` and ``man`` from the FP16 codes (M x K int64), as
    :func:`models.bitserial_fp16.decode_fp16` decodes each code (``e = max(ef, 1)``, ``m = f`` or
    ``f | 1024`` by ``ef == 0``, sign bit 15) and zero codes past M and K; returns True (the
    arrays then unfinished) for a code outside 0..65535 or with exponent field 31, which the
    caller refuses. Compiled by :func:`_compiled`."""
    rows, k = codes.shape
    tiles = exp.size // (steps * VEC * height)
    for tile in range(tiles):
        for h in range(height):
            r = tile * height + h
            for col in range(steps * VEC):
                at = ((tile * steps + col // VEC) * VEC + col % VEC) * height + h
                c = codes[r, col] if r < rows and col < k else 0
                if c < 0 or c > 0xFFFF or (c & 0x7C00) == 0x7C00:
                    return True
                ef = (c >> MAN_FRAC) & 31
                m = (c & 1023) | (1024 if ef else 0)
                exp[at] = max(ef, 1) if m else E_ZERO
                man[at] = (m << GUARD) ^ -(c >> 15)
    return False


def _accumulate(x, f, e, dot):
    """The golden's accumulator step: ``(X, F)`` plus a cycle's ``(E, dot)`` -> ``(X', F')``, int32
    (module docstring). Compiled by :func:`_compiled` and inlined into :func:`_words`."""
    c15, c16, c17, c31 = np.int32(ACC_MAN_BITS - 1), np.int32(16), np.int32(17), np.int32(31)
    mx = np.int32(max(x, e))
    s = np.int32(ashr_i32(f, min(np.int32(mx - x), c16)) + ashr_i32(dot, min(np.int32(mx - e), c17)))
    k = ashr_i32(np.int32(s ^ ashr_i32(s, c31)), c15)
    return np.int32(mx + k), ashr_i32(s, k)


def _aligned(man, e, v, neg):
    """A lane's signed aligned mantissa before the weight sign's ``- neg`` (summed once per pair as
    ``qsum``): ``((man >> min(e - v, 31)) - g) ^ neg`` with ``g = man >> 31``, int32 (module
    docstring). Compiled by :func:`_compiled` and inlined into :func:`_words`."""
    m = np.int32(man)
    return np.int32(ashr_i32(m, min(np.int32(e - v), np.int32(31))) - ashr_i32(m, np.int32(31))) ^ neg


def _words(exp, man, height, k, ptr, step, count, lane, shift, neg, qsum, out):
    """The accumulator words ``F & 0xFFFF | X << 16`` of every output into ``out`` (M x N int64);
    returns the largest ``X``. ``exp``, ``man``, ``height``: :func:`_activations` of K ``k``; the
    pair tables: :class:`Bsfp16Weights`. Compiled by :func:`_compiled` (module docstring: the
    golden's operations per output, its live pairs in order, the rows of a tile vectorised)."""
    rows, n_total = out.shape
    tiles = -(-rows // height)
    steps = -(-k // VEC)
    X = np.zeros(height, dtype=np.int32)
    F = np.zeros(height, dtype=np.int32)
    top = np.int32(0)
    for tile in range(tiles):
        r0 = tile * height
        for n in range(n_total):
            X[:] = 0
            F[:] = 0
            for p in range(ptr[n], ptr[n + 1]):
                at = (tile * steps + step[p]) * VEC
                c = count[p]
                # lane j's operands over the tile's rows (views: a range index needs no wraparound)
                b = (at + lane[p, 0]) * height
                e0, m0 = exp[b:b + height], man[b:b + height]
                w0, q0 = np.int32(shift[p, 0]), np.int32(neg[p, 0])
                if c == 1:
                    # one lane: E = v, no alignment shift
                    for r in range(height):
                        m = np.int32(m0[r])
                        dot = np.int32(np.int32(np.int32(m - ashr_i32(m, np.int32(31))) ^ q0) - q0)
                        X[r], F[r] = accumulate(X[r], F[r], np.int32(e0[r] + w0), dot)
                    continue
                b = (at + lane[p, 1]) * height
                e1, m1 = exp[b:b + height], man[b:b + height]
                w1, q1 = np.int32(shift[p, 1]), np.int32(neg[p, 1])
                qs = np.int32(qsum[p])
                if c == 2:
                    for r in range(height):
                        v0, v1 = np.int32(e0[r] + w0), np.int32(e1[r] + w1)
                        E = np.int32(max(v0, v1))
                        dot = np.int32(aligned(m0[r], E, v0, q0) + aligned(m1[r], E, v1, q1) - qs)
                        X[r], F[r] = accumulate(X[r], F[r], E, dot)
                    continue
                b = (at + lane[p, 2]) * height
                e2, m2 = exp[b:b + height], man[b:b + height]
                w2, q2 = np.int32(shift[p, 2]), np.int32(neg[p, 2])
                if c == 3:
                    for r in range(height):
                        v0, v1, v2 = np.int32(e0[r] + w0), np.int32(e1[r] + w1), np.int32(e2[r] + w2)
                        E = np.int32(max(max(v0, v1), v2))
                        dot = np.int32(aligned(m0[r], E, v0, q0) + aligned(m1[r], E, v1, q1)
                                       + aligned(m2[r], E, v2, q2) - qs)
                        X[r], F[r] = accumulate(X[r], F[r], E, dot)
                    continue
                b = (at + lane[p, 3]) * height
                e3, m3 = exp[b:b + height], man[b:b + height]
                w3, q3 = np.int32(shift[p, 3]), np.int32(neg[p, 3])
                for r in range(height):
                    v0, v1 = np.int32(e0[r] + w0), np.int32(e1[r] + w1)
                    v2, v3 = np.int32(e2[r] + w2), np.int32(e3[r] + w3)
                    E = np.int32(max(max(v0, v1), max(v2, v3)))
                    dot = np.int32(aligned(m0[r], E, v0, q0) + aligned(m1[r], E, v1, q1)
                                   + aligned(m2[r], E, v2, q2) + aligned(m3[r], E, v3, q3) - qs)
                    X[r], F[r] = accumulate(X[r], F[r], E, dot)
            for r in range(min(height, rows - r0)):
                top = max(top, X[r])
                out[r0 + r, n] = (F[r] & 0xFFFF) | (np.int64(X[r]) << ACC_MAN_BITS)
    return top


def bsfp16_words(acts, prepared, pe=None, extra=None):
    """Exactly :func:`models.bitserial_fp16.fp16_bitserial_gemm` of FP16 codes ``acts`` (M x K)
    and the weights ``prepared`` by :func:`prepare`: M x N int64 accumulator words. ValueError for
    infinity / NaN activation codes or an accumulator exponent overflow, as the golden."""
    acts = np.asarray(acts)
    if acts.shape[1] != prepared.k:
        raise ValueError(f"activations have K {acts.shape[1]}, weights {prepared.k}")
    exp, man, height = _activations(acts, prepared.k)
    w = prepared
    out = np.empty((acts.shape[0], len(w.ptr) - 1), dtype=np.int64)
    top = _compiled().words(exp, man, height, w.k, w.ptr, w.step, w.count, w.lane, w.shift, w.neg, w.qsum, out)
    if top >= 1 << ACC_EXP_BITS:
        raise ValueError("accumulator exponent overflow")
    return out


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to
    import and only a call needs it."""
    import numba
    global ashr_i32, accumulate, aligned   # the names _words calls, bound here with numba's import
    from .numba_bits import ashr_i32
    accumulate = numba.njit(inline="always")(_accumulate)
    aligned = numba.njit(inline="always")(_aligned)
    return SimpleNamespace(words=numba.njit(cache=True, nogil=True)(_words),
                           layout=numba.njit(cache=True, nogil=True)(_layout),
                           pairs=numba.njit(cache=True, nogil=True)(_pairs))
