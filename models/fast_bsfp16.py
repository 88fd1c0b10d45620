"""Compiled exact fast path for the BitMoD FP16-activation golden GEMM (``bitserial_fp16``).

Why: :func:`models.bitserial_fp16.fp16_bitserial_gemm` truncates its float-like accumulator
``(X, F)`` to its own format after every cycle, so its result depends on the order of additions
and no BLAS or IEEE float type reproduces it; its numpy loop over K steps is far too slow for a
whole-model accuracy run. :func:`bsfp16_words` does the same integer operations in the same order
(per output: K steps ascending, within a step the weight terms in the PE's order), compiled by
numba (no ``fastmath``: integers only, nothing to reassociate), branch-free over the output
columns so that LLVM vectorises the column loop (AVX2: 8 int32 lanes). numba types every int32
operation as int64, and AVX2 has no 64-bit arithmetic shift by a vector: the shifts are the int32
intrinsic :func:`models.numba_bits.ashr_i32` and the clamps int32 constants, so the loop stays in
int32 (1.27 -> 0.64 ns per MAC, docs/accuracy.md).

Why it is exact (the golden's rules, module docstring of :mod:`models.bitserial_fp16`):

* **Operands.** Activations are decoded once per call (sign, ``e``, ``m``: :func:`decode_fp16`),
  weight terms once per linear (:func:`prepare`, from the golden's own :func:`_terms`). A lane
  that is absent (``nz == 0`` or ``m == 0``) gets ``v = e + shift`` far below 0 (the weight's
  shift is :data:`ABSENT` for ``nz == 0``, the activation's ``e`` for ``m == 0``); a present lane
  has ``v >= 1`` (``e >= 1``). So ``E = max(0, v_0..v_3)`` is the golden's ``E`` (0 when no lane
  is present), and ``(m << 3) >> min(E - v, 31)`` is the golden's aligned mantissa: an absent
  lane's ``E - v`` exceeds 31 (shifted to 0, as the golden's 0), and ``m << 3 < 2**14`` makes the
  clamps 31 and 62 equal.
* **Signs.** ``(-1)**(s ^ neg) * a`` as ``(a ^ mask) - mask`` with ``mask = -(s ^ neg)``
  (two's complement negation when the mask is -1).
* **Accumulator.** ``M = max(X, E)``, ``S = (F >> min(M - X, 16)) + (dot >> min(M - E, 17))``
  (arithmetic shifts; ``F`` fits 16 signed bits and ``dot`` 17, so the clamps are the golden's),
  and the golden's ``k``: 2 when ``S >> 1`` is outside ``[-2**15, 2**15)``, else 1 when ``S`` is,
  else 0. With ``t = S ^ (S >> 31)`` (``S`` for ``S >= 0``, ``-S - 1`` otherwise, so ``t >= 0``),
  ``S`` is inside ``[-2**15, 2**15)`` iff ``t < 2**15`` and ``S >> 1`` is iff ``t < 2**16``: ``k``
  is ``min(t >> 15, 2)``. All in int32: ``|S| < 2**17``.
* **Skipped steps.** A K step whose four activations all have ``m == 0`` is skipped for a row:
  every lane is absent in every term, so ``E = 0`` and ``dot = 0``, ``M = max(X, 0) = X``,
  ``S = F + 0 = F`` (in range: every ``F`` the rule makes fits 16 bits, the start ``0`` too), so
  ``k = 0`` and ``(X, F)`` is unchanged: the golden's step is a no-op.
* **Overflow.** ``X`` never decreases (``M >= X``, ``k >= 0``), so the golden's one check after
  the last step (``X >= 2**7`` anywhere: ValueError) is the same check here.

Single-threaded on purpose, as :mod:`models.fast_seq` (``pearray accuracy`` runs one design per
process on every core). ``tests/test_fast_golden.py`` pins :func:`bsfp16_words` to the golden
(random, extreme and real MiniLM / SmolLM2 operands).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .bitserial_fp16 import ACC_EXP_BITS, ACC_MAN_BITS, GUARD, VEC, _terms, decode_fp16

#: an absent lane's shift (or exponent): ``v <= 30 - 100``, so ``E - v > 31`` for any ``E >= 0`` (fits int8)
ABSENT = -100
#: :func:`models.numba_bits.ashr_i32`, bound by :func:`_compiled` (numba is imported only there)
ashr_i32 = None
#: output columns per tile: a tile's weight terms for the whole K (K x terms x TILE_N x 2 bytes)
#: stay in L2 while every row passes over them
TILE_N = 128


@dataclass(frozen=True)
class Bsfp16Weights:
    """A linear's weight terms, decoded once: per K step, term and lane an int8 row over N of the
    shift (:data:`ABSENT` where the term is zero) and of the sign mask (-1 negative, 0 not);
    ``k`` the weights' K (before padding to whole steps)."""
    shift: np.ndarray          # (steps, terms, VEC, N) int8
    negmask: np.ndarray        # (steps, terms, VEC, N) int8
    k: int


def prepare(weights, pe):
    """Weight codes K x N -> :class:`Bsfp16Weights`: the golden's :func:`_terms` (in its order) of
    each distinct code, looked up per element (the terms are a function of the code alone; only
    codes that occur are decoded, so a code needing more terms than the PE has raises as in the
    golden)."""
    codes = np.asarray(weights, dtype=np.int64)
    k, n = codes.shape
    steps = -(-k // VEC)
    lo = int(codes.min()) if codes.size else 0
    seen = np.zeros(int(codes.max()) - lo + 1 if codes.size else 1, dtype=bool)
    seen[codes - lo] = True
    present = np.flatnonzero(seen) + lo
    nz, neg, shift = (a[:, 0] for a in _terms(present[:, None], pe.weight_format, pe.terms))
    shift_of = np.full((len(seen), pe.terms), ABSENT, dtype=np.int8)
    negmask_of = np.zeros((len(seen), pe.terms), dtype=np.int8)
    shift_of[present - lo] = np.where(nz, shift, ABSENT)
    negmask_of[present - lo] = -neg.astype(np.int8)

    def lay(table, fill):
        # K padded to whole steps with absent terms (the golden pads with zero weights)
        out = np.full((steps * VEC, n, pe.terms), fill, dtype=np.int8)
        out[:k] = table[codes - lo]
        # (steps, VEC, N, terms) -> (steps, terms, VEC, N)
        return np.ascontiguousarray(out.reshape(steps, VEC, n, pe.terms).transpose(0, 3, 1, 2))
    return Bsfp16Weights(lay(shift_of, ABSENT), lay(negmask_of, 0), k)


def _activations(acts, k):
    """FP16 codes M x K -> (aligned mantissas ``m << 3``, ``e`` (:data:`ABSENT` where ``m == 0``),
    sign masks) int32 of shape (M, steps, VEC), and per row the live steps (some ``m != 0``):
    (M, steps) int32 indices, the first ``count[r]`` of row r used."""
    sign, e, m = decode_fp16(acts)
    rows = sign.shape[0]
    steps = -(-k // VEC)
    pad = ((0, 0), (0, steps * VEC - k))
    sign, e, m = (np.pad(a, pad).reshape(rows, steps, VEC) for a in (sign, e, m))
    man = (m << GUARD).astype(np.int32)
    exp = np.where(m != 0, e, ABSENT).astype(np.int32)
    smask = (-sign).astype(np.int32)
    live = (m != 0).any(axis=-1)
    count = live.sum(axis=1).astype(np.int64)
    order = np.argsort(~live, axis=1, kind="stable").astype(np.int32)     # live steps first, in order
    return man, exp, smask, order, count


def _words(man, exp, smask, order, count, shift, negmask, out):
    """The accumulator words ``F & 0xFFFF | X << 16`` of every output into ``out`` (M x N int64);
    returns the largest ``X``. Compiled by :func:`_compiled` (module docstring: the golden's
    operations per output, K steps in order, terms in order)."""
    rows = man.shape[0]
    terms = shift.shape[1]
    n_total = shift.shape[3]
    X = np.empty(TILE_N, dtype=np.int32)
    F = np.empty(TILE_N, dtype=np.int32)
    top = np.int32(0)
    zero, two = np.int32(0), np.int32(2)
    # int32 constants: an int64 one would promote the comparison and the vector loop to 64 bits
    c15, c16, c17, c31 = np.int32(ACC_MAN_BITS - 1), np.int32(16), np.int32(17), np.int32(31)
    for n0 in range(0, n_total, TILE_N):
        width = min(n_total, n0 + TILE_N) - n0
        for r in range(rows):
            X[:] = 0
            F[:] = 0
            for i in range(count[r]):
                s = order[r, i]
                m0, m1, m2, m3 = man[r, s, 0], man[r, s, 1], man[r, s, 2], man[r, s, 3]
                e0, e1, e2, e3 = exp[r, s, 0], exp[r, s, 1], exp[r, s, 2], exp[r, s, 3]
                g0, g1, g2, g3 = smask[r, s, 0], smask[r, s, 1], smask[r, s, 2], smask[r, s, 3]
                for t in range(terms):
                    w0, w1, w2, w3 = (shift[s, t, 0, n0:n0 + width], shift[s, t, 1, n0:n0 + width],
                                      shift[s, t, 2, n0:n0 + width], shift[s, t, 3, n0:n0 + width])
                    q0, q1, q2, q3 = (negmask[s, t, 0, n0:n0 + width], negmask[s, t, 1, n0:n0 + width],
                                      negmask[s, t, 2, n0:n0 + width], negmask[s, t, 3, n0:n0 + width])
                    for j in range(width):
                        v0 = np.int32(e0 + w0[j])
                        v1 = np.int32(e1 + w1[j])
                        v2 = np.int32(e2 + w2[j])
                        v3 = np.int32(e3 + w3[j])
                        E = np.int32(max(max(max(v0, v1), max(v2, v3)), zero))
                        a0 = ashr_i32(m0, min(np.int32(E - v0), c31))
                        a1 = ashr_i32(m1, min(np.int32(E - v1), c31))
                        a2 = ashr_i32(m2, min(np.int32(E - v2), c31))
                        a3 = ashr_i32(m3, min(np.int32(E - v3), c31))
                        k0 = np.int32(g0 ^ q0[j])
                        k1 = np.int32(g1 ^ q1[j])
                        k2 = np.int32(g2 ^ q2[j])
                        k3 = np.int32(g3 ^ q3[j])
                        dot = np.int32(((a0 ^ k0) - k0) + ((a1 ^ k1) - k1) + ((a2 ^ k2) - k2) + ((a3 ^ k3) - k3))
                        x = X[j]
                        mx = np.int32(max(x, E))
                        S = np.int32(ashr_i32(F[j], min(np.int32(mx - x), c16))
                                     + ashr_i32(dot, min(np.int32(mx - E), c17)))
                        k = min(np.int32(ashr_i32(np.int32(S ^ ashr_i32(S, c31)), c15)), two)
                        F[j] = ashr_i32(S, k)
                        X[j] = mx + k
            row = out[r, n0:n0 + width]
            for j in range(width):
                top = max(top, X[j])
                row[j] = (F[j] & 0xFFFF) | (np.int64(X[j]) << ACC_MAN_BITS)
    return top


def bsfp16_words(acts, prepared, pe=None, extra=None):
    """Exactly :func:`models.bitserial_fp16.fp16_bitserial_gemm` of FP16 codes ``acts`` (M x K)
    and the weights ``prepared`` by :func:`prepare`: M x N int64 accumulator words. ValueError for
    infinity / NaN activation codes or an accumulator exponent overflow, as the golden."""
    acts = np.asarray(acts)
    if acts.shape[1] != prepared.k:
        raise ValueError(f"activations have K {acts.shape[1]}, weights {prepared.k}")
    man, exp, smask, order, count = _activations(acts, prepared.k)
    out = np.empty((acts.shape[0], prepared.shift.shape[3]), dtype=np.int64)
    top = _compiled().words(man, exp, smask, order, count, prepared.shift, prepared.negmask, out)
    if top >= 1 << ACC_EXP_BITS:
        raise ValueError("accumulator exponent overflow")
    return out


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to
    import and only a call needs it."""
    import numba
    global ashr_i32                    # the name _words calls, bound here with numba's import
    from .numba_bits import ashr_i32
    return SimpleNamespace(words=numba.njit(cache=True, nogil=True)(_words))
