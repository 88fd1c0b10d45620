"""Compiled kernel for the L-Mul golden GEMM's exact sums: each product one integer addition.

Why: the L-Mul product of two FP8 codes is ``(2**M | r) << ((T >> M) + M - 2)`` with
``T = X_a + X_w + 1`` (:mod:`models.lmul_gemm`, ``X`` a code's 7 exponent-mantissa bits, ``r``
the low M bits of T). Its mantissa factor has full rank 2**M over the pairs of mantissa fields,
so BLAS needs 2**M K-stacked float64 GEMMs (:func:`models.fast_golden._lmul_stacks`: e4m3 8
times a plain GEMM's work). But that value, as a float64, *is* an integer addition of bit
patterns: its exponent is ``(T >> M) + 2M - 2`` and its significand's top M bits are ``r``, so
its IEEE binary64 pattern is ``T << (52 - M)`` plus the exponent bias ``(2M - 2 + 1023) << 52``,
and the sign bit is the sum of the operands' sign bits modulo 2 (bit 63, where the addition
wraps). :func:`lmul_sums` adds, per (m, k, n), the activation's pattern part
``s_a << 63 | X_a << (52 - M)`` to the weight's ``s_w << 63 | X_w << (52 - M)`` plus
``1 << (52 - M)`` and the bias (unsigned 64-bit: the sign bits wrap by definition), reads the sum
as a float64 and adds it to the output's float64 accumulator, k ascending.

Why it is exact (bit for bit the golden's integers, as float64):

* **Products.** For nonzero operands the pattern is the product's value exactly (no field
  overflows: ``T < 2**8``, so the exponent-mantissa bits stay below bit 63 after the bias).
  A zero or subnormal operand (ef = 0: the L-Mul product is 0) is encoded with its exponent
  bias lowered by :data:`ZERO_SHIFT` binades instead, so every product with one has a float64
  magnitude below ``2**-300`` (a normal number: both operands lowered still leave a positive
  exponent field), while every true product is at least 1 (raw units).
* **Sums.** The caller runs the kernel only where every partial sum of the true products is
  an integer float64 holds (e4m3: below ``2**47``; e5m2: the rows of
  :func:`models.fast_golden.lmul_exact_rows`), so those additions are exact in any order. A
  tiny value added to an accumulator that holds a nonzero integer rounds away (it is below half
  its ulp); added to an accumulator that is 0 (or tiny) it stays tiny, and the next true
  product (at least 1) absorbs it exactly. So at the end the accumulator is the exact sum when
  that is nonzero, and 0 or tiny when it is 0: values below 0.5 in magnitude are set to +0.0
  (the integer 0's float; also a -0.0 never survives).
* **Same roundings.** numba compiles without ``fastmath`` (no reassociation, no flush of
  subnormals, no contraction; here there is no multiplication at all).

Single-threaded on purpose, as :mod:`models.fast_seq` (``pearray accuracy`` runs one design per
process on every core). ``tests/test_fast_lmul_mx.py`` pins :func:`lmul_sums` to the golden GEMM
bit for bit (every code pair, extremes with zeros, subnormals and sign mixes, random, real
MiniLM operands).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from .fp8_gemm import get_format

#: output columns per tile: four rows' accumulators and patterns (4 x 2 KiB each) stay in L1
TILE_N = 256
#: rows updated per weight load (the kernel names its four rows: change both together)
ROWS = 4
#: k steps per pass over a tile's accumulators (the kernel names its four: change both together)
STEPS = 4
#: :func:`models.numba_bits.as_float64`, bound by :func:`_compiled` (numba is imported only there)
as_float64 = None
#: binades by which a zero / subnormal operand's pattern lowers the product's exponent field
#: (two such operands: 2 * 400 below the smallest bias, 1021 + 2 * 2 - 800 > 0: still normal)
ZERO_SHIFT = 400


@functools.lru_cache(maxsize=None)
def patterns(fmt):
    """Per code 0..255 the activation's and the weight's uint64 pattern parts (module
    docstring); a code that is not an operand gets the zero encoding (the caller checks codes)."""
    f = get_format(fmt)
    codes = np.arange(256, dtype=np.uint64)
    m = np.uint64(52 - f.mbits)
    sign = (codes >> np.uint64(7)) << np.uint64(63)
    x = (codes & np.uint64(0x7F)) << m
    ef = (codes.astype(np.int64) >> f.mbits) & ((1 << f.ebits) - 1)
    live = (ef != 0) & f.valid(np.arange(256))
    bias = np.uint64((2 * f.mbits - 2 + 1023) << 52)
    zero = np.uint64(ZERO_SHIFT << 52)
    acts = np.where(live, sign + x, sign - zero)                   # wraps modulo 2**64
    weights = np.where(live, sign + x + (np.uint64(1) << m) + bias, sign + bias - zero)
    return acts.astype(np.uint64), weights.astype(np.uint64)


def _sums(ia, iw, out):
    """``out[m, n] = sum_k float64(ia[m, k] + iw[k, n])`` (uint64 patterns read as float64), k
    ascending from +0, then ``|out| < 0.5`` set to +0.0; ``ia`` rows a multiple of :data:`ROWS`.
    Compiled by :func:`_compiled`. Each pattern sum is read as a float64 in a register
    (:func:`models.numba_bits.as_float64`), not stored and reloaded through a float64 view of a
    uint64 buffer: about half the CPU time on a 512 x 576 x 1536 call (bench/bench_lmul_sums.py).
    :data:`STEPS` k at a time: each accumulator is loaded and stored once per four additions,
    which are still one IEEE addition each, in k order (the store, not the addition, bounded the
    one-step loop: about a third less CPU time on that call)."""
    m_total, k_total = ia.shape
    n_total = iw.shape[1]
    acc = np.empty((ROWS, TILE_N), dtype=np.float64)
    for n0 in range(0, n_total, TILE_N):
        n1 = min(n_total, n0 + TILE_N)
        width = n1 - n0
        for m in range(0, m_total, ROWS):
            acc[:] = 0.0
            acc0, acc1, acc2, acc3 = acc[0], acc[1], acc[2], acc[3]
            k = 0
            while k + STEPS <= k_total:
                a0, a1, a2, a3 = ia[m:m + ROWS, k]
                b0, b1, b2, b3 = ia[m:m + ROWS, k + 1]
                c0, c1, c2, c3 = ia[m:m + ROWS, k + 2]
                d0, d1, d2, d3 = ia[m:m + ROWS, k + 3]
                wa, wb, wc, wd = iw[k, n0:n1], iw[k + 1, n0:n1], iw[k + 2, n0:n1], iw[k + 3, n0:n1]
                for j in range(width):
                    va, vb, vc, vd = wa[j], wb[j], wc[j], wd[j]      # uint64 additions wrap by design
                    acc0[j] = (((acc0[j] + as_float64(va + a0)) + as_float64(vb + b0))
                               + as_float64(vc + c0)) + as_float64(vd + d0)
                    acc1[j] = (((acc1[j] + as_float64(va + a1)) + as_float64(vb + b1))
                               + as_float64(vc + c1)) + as_float64(vd + d1)
                    acc2[j] = (((acc2[j] + as_float64(va + a2)) + as_float64(vb + b2))
                               + as_float64(vc + c2)) + as_float64(vd + d2)
                    acc3[j] = (((acc3[j] + as_float64(va + a3)) + as_float64(vb + b3))
                               + as_float64(vc + c3)) + as_float64(vd + d3)
                k += STEPS
            while k < k_total:                                # the last K % STEPS steps
                a0, a1, a2, a3 = ia[m:m + ROWS, k]
                wk = iw[k, n0:n1]
                for j in range(width):
                    v = wk[j]
                    acc0[j] += as_float64(v + a0)
                    acc1[j] += as_float64(v + a1)
                    acc2[j] += as_float64(v + a2)
                    acc3[j] += as_float64(v + a3)
                k += 1
            for r in range(ROWS):
                row = out[m + r, n0:n1]
                for j in range(width):
                    v = acc[r, j]
                    row[j] = v if abs(v) >= 0.5 else 0.0


def lmul_sums(acts, weights, fmt):
    """The L-Mul golden's exact sums as float64 for checked codes ``acts`` (M x K) and
    ``weights`` (K x N) whose every partial sum is an integer float64 holds (module docstring:
    the caller's condition)."""
    a_pat = patterns(fmt)[0]
    m = acts.shape[0]
    rows = -(-m // ROWS) * ROWS
    ia = np.empty((rows, acts.shape[1]), dtype=np.uint64)
    ia[:m] = a_pat[acts]
    ia[m:] = a_pat[0]                                  # padding rows: zero codes, outputs dropped
    return pattern_sums(ia, weights, fmt)[:m]


def pattern_sums(ia, weights, fmt):
    """:func:`lmul_sums` of activation pattern rows ``ia`` (uint64, :func:`patterns`' activation
    parts, rows a multiple of :data:`ROWS`: the callers' padding rows hold code 0's) and
    checked weight codes, every row's partial sums integers a float64 holds."""
    out = np.empty((ia.shape[0], weights.shape[1]))
    _compiled().sums(ia, np.ascontiguousarray(patterns(fmt)[1][weights]), out)
    return out


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``). Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to
    import and only a call needs it."""
    import numba
    global as_float64                  # the name _sums calls, bound here with numba's import
    from .numba_bits import as_float64
    return SimpleNamespace(sums=numba.njit(cache=True, nogil=True)(_sums))
