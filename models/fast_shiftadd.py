"""Compiled post-array steps of the grouped MixPE shift-add golden (:mod:`models.shiftadd_gemm`):
per output, each group's raw sum minus its zero-point term, dyadic-scaled, summed over groups,
in one pass over the groups' raw sums.

Why compiled: :func:`models.fast_golden.shiftadd_fast` did these steps as numpy int64 array
operations on the (groups, M, N) sums: the int64 copy of the float GEMM's output, the zero-point
product, ``x * b``, ``+ 2**(c - 1)``, ``>> c`` and the sum over groups, each a full pass writing a
(groups, M, N) array (about a third of the W4A8 g128 design's SmolLM2 ``--quick`` CPU time).
Here each output's terms are made and added in registers, reading the float32 sums once.

Why it is exact (bit for bit the golden's integers): the caller takes this path only where a
bound shows every wrap of the golden to be the identity (the same bounds
:func:`~models.fast_golden.shiftadd_fast` checks) and where the float32 block GEMM's sums are
exact integers (below ``2**24``); then each term is the same int64 arithmetic
``((raw - zp * asum) * b + 2**(c - 1)) >> c`` (``>>`` arithmetic on int64, as numpy's), and the
groups' terms are added in int64 without overflow (integer addition: the order does not matter).
``tests/test_fast_shiftadd.py`` pins it to the golden on random, extreme and real operands.

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools

import numpy as np


def _grouped_total(raw, asum, zp, b, c, out):
    """``out[m, n] = sum_g ((int64(raw[g, m, n]) - zp[g, n] * asum[g, m]) * b[g, n] + 2**(c[g, n]
    - 1)) >> c[g, n]``; ``raw`` float32 (integers), the others int64. Compiled by :func:`_compiled`."""
    groups, rows, cols = raw.shape
    for m in range(rows):
        row = out[m]
        row[:] = 0
        for g in range(groups):
            r, s, z, bg, cg = raw[g, m], asum[g, m], zp[g], b[g], c[g]
            for n in range(cols):
                x = np.int64(r[n]) - z[n] * s
                row[n] += (x * bg[n] + (np.int64(1) << (cg[n] - 1))) >> cg[n]


@functools.cache
def _compiled():
    """The kernel compiled by numba, or loaded from numba's on-disk cache (``cache=True``);
    deferred as :func:`models.fast_seq._compiled` is (numba takes about 0.5 s to import)."""
    import numba
    return numba.njit(cache=True, nogil=True)(_grouped_total)


def grouped_total(raw, asum, zp, b, c):
    """The (M, N) int64 sums over groups of the dyadic-scaled, zero-point-corrected group sums:
    ``raw`` (groups, M, N) float32 exact integer sums, ``asum`` (groups, M) the activations' group
    sums, ``zp``, ``b``, ``c`` (groups, N) int64 zero points, multipliers and shifts (every
    ``c >= 1``). The caller guarantees that no int64 step overflows (module docstring)."""
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    groups, rows, cols = raw.shape
    as64 = lambda x, shape: np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.int64), shape))
    out = np.empty((rows, cols), dtype=np.int64)
    _compiled()(raw, as64(asum, (groups, rows)), as64(zp, (groups, cols)), as64(b, (groups, cols)),
                as64(c, (groups, cols)), out)
    return out
