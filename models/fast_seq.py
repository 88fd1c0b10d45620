"""Compiled kernels for the sequential FP32 accumulations of the FP16 and GOBO golden GEMMs.

Why compiled: the FP16 (FP32 accumulation) and GOBO golden models round after every step,
``acc = fl32(acc + a[m, k] * w[k, n])`` for ``k = 0, 1, ..., K - 1`` from ``+0``
(:mod:`models.fp16_gemm` step 3, :mod:`models.gobo_gemm` steps 4-5). The result depends on
that order, so no BLAS (which splits and reorders K) reproduces it, and numpy can only loop over
K in Python, one (M, N) array operation per step: a SmolLM2 window's 210 linears spend most of
an FP16 / GOBO accuracy run there. These kernels do the same float32 operations in a compiled
loop (numba, ``cache=True``: compiled once per machine, loaded from the cache after).

Why they are exact (bit for bit the golden's words):

* **Same operations.** Each output's accumulator starts at ``+0`` and gets one IEEE binary32
  addition per step, ``k`` ascending, exactly the golden's sequence. The loops are reordered
  only over outputs (an output-column tile, then rows, then ``k`` four steps at a time, then the
  tile's columns, each output's four additions one left-to-right expression): outputs are
  independent, and every output still sees its own additions one by one in ``k`` order. K is
  never split, regrouped or reordered.
* **Same roundings.** numba compiles without ``fastmath``: no reassociation, no flush of
  subnormals to zero, no assumption that values are finite (inf and NaN propagate as IEEE says),
  no FMA contraction (LLVM fuses ``a * b + c`` only under the ``contract`` flag, which numba
  sets only with ``fastmath``). Contraction would not change a result here anyway: the float32
  product of two FP16 values is exact (at most 22 significand bits, magnitude in
  ``[2**-48, 2**32)``, inside float32's normal range), so rounding it first is the identity, as
  the golden's float64 product cast to float32 is.
* **Same types.** Operands and accumulator are float32 arrays; numba keeps float32 x float32 and
  float32 + float32 in float32 (it does not widen to float64 and round once, which would differ
  from the golden on a double rounding).

:func:`fp32_steps` is the array's accumulation (:func:`fp32_sums` the same as float32 values:
FP16's whole GEMM; GOBO's dictionary weights,
an outlier-flagged weight passed as 0 by :func:`models.fast_golden.gobo_fast`, which explains
why that is the golden's skipped step). :func:`add_outliers` (:func:`add_outlier_values` on
float32 values, in place) is GOBO's step 5: per column, its
outliers in increasing ``k``, one RNE addition of each exact product per row, after the array.

GOBO's weight quantiser has its own kernels (:mod:`models.fast_gobo`).

Single-threaded on purpose: ``pearray accuracy`` already runs one design per process on every
core (forked workers, :func:`sim.accuracy.run`), so threads here would only contend (and a
threading layer in forked workers is a hazard). Splitting the row loop over threads would be
exact (outputs are independent) if that ever changes.

The golden functions stay the reference: ``tests/test_fast_seq.py`` pins these kernels to
:func:`models.fp16_gemm.fp16_gemm` / :func:`models.gobo_gemm.gobo_golden` bit for bit (random,
extreme and real operands) and to a numpy step-by-step float32 loop on inputs the golden refuses
(overflow to inf, NaN), and fails for a kernel that reorders K.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

#: output columns per tile: a tile of a row group's accumulators (4 x 4 KiB) stays in L1 while the
#: K steps stream the weights' tile rows; wide enough that SmolLM2's and MiniLM's linears (N up
#: to 1536) are one or two equal tiles (a narrow tail tile runs the inner loop at a fraction of
#: its speed: 256 made N = 576 two full tiles and a 64-column one)
TILE_N = 1024
#: rows updated per weight load: each loaded weight element is used for this many outputs (the
#: kernel names its four rows r0..r3: change both together)
ROWS = 4
#: K steps per pass over a tile's accumulators: each accumulator is loaded and stored once per
#: this many additions (the stores, one per addition, bounded the plain loop); the kernel names
#: its four steps k + 0 .. k + 3: change both together
KSTEPS = 4
#: :func:`models.numba_bits.rows4x4`, bound by :func:`_compiled` (numba is imported only there)
rows4x4 = None


def _steps(a, w, acc):
    """``acc[m, n] = fl32(acc[m, n] + a[m, k] * w[k, n])`` for k ascending, per output, in place
    (float32, C-contiguous; ``acc`` holds the start values). Compiled by :func:`_compiled`.

    :data:`KSTEPS` steps per pass are written as one expression per output,
    ``(((acc + p0) + p1) + p2) + p3``: Python's (and numba's, without fastmath) left-to-right
    evaluation, so the same four float32 additions in k order, each rounded, with the
    accumulator kept in a register between them instead of stored and reloaded."""
    m_total, k_total = a.shape
    n_total = w.shape[1]
    k_whole = k_total - k_total % KSTEPS
    # the innermost loops run over a 0-based slice (range(len(...))): the form LLVM vectorises
    # across columns (independent outputs; numba's wraparound test on a range(n0, n1) index
    # keeps it scalar)
    for n0 in range(0, n_total, TILE_N):
        n1 = min(n_total, n0 + TILE_N)
        m = 0
        # ROWS rows at a time share each weight load; every output still sums in k order
        while m + ROWS <= m_total:
            r0, r1, r2, r3 = acc[m, n0:n1], acc[m + 1, n0:n1], acc[m + 2, n0:n1], acc[m + 3, n0:n1]
            for k in range(0, k_whole, KSTEPS):
                (x00, x01, x02, x03), (x10, x11, x12, x13), (x20, x21, x22, x23), (x30, x31, x32, x33) = \
                    rows4x4(a, m, k)
                w0, w1, w2, w3 = w[k, n0:n1], w[k + 1, n0:n1], w[k + 2, n0:n1], w[k + 3, n0:n1]
                for j in range(len(w0)):
                    v0, v1, v2, v3 = w0[j], w1[j], w2[j], w3[j]
                    r0[j] = (((r0[j] + x00 * v0) + x01 * v1) + x02 * v2) + x03 * v3
                    r1[j] = (((r1[j] + x10 * v0) + x11 * v1) + x12 * v2) + x13 * v3
                    r2[j] = (((r2[j] + x20 * v0) + x21 * v1) + x22 * v2) + x23 * v3
                    r3[j] = (((r3[j] + x30 * v0) + x31 * v1) + x32 * v2) + x33 * v3
            for k in range(k_whole, k_total):
                x0, x1, x2, x3 = a[m, k], a[m + 1, k], a[m + 2, k], a[m + 3, k]
                wk = w[k, n0:n1]
                for j in range(len(wk)):
                    v = wk[j]
                    r0[j] += x0 * v
                    r1[j] += x1 * v
                    r2[j] += x2 * v
                    r3[j] += x3 * v
            m += ROWS
        while m < m_total:
            r = acc[m, n0:n1]
            for k in range(k_total):
                x = a[m, k]
                wk = w[k, n0:n1]
                for j in range(len(wk)):
                    r[j] += x * wk[j]
            m += 1


def _outlier_steps(acc, a, ks, ns, values):
    """``acc[m, ns[i]] = fl32(acc[m, ns[i]] + a[m, ks[i]] * values[i])`` for i in order, every row
    (float32 ``acc``, ``a`` and ``values``; the caller orders i by (n, k)). :data:`ROWS` rows at a
    time (their accumulators and activations stay in cache): each outlier's position and value
    is loaded once for the four rows, whose four additions are independent (one output each), and
    each output still gets its outliers one by one in i order."""
    m_total = acc.shape[0]
    m = 0
    while m + ROWS <= m_total:
        r0, r1, r2, r3 = acc[m], acc[m + 1], acc[m + 2], acc[m + 3]
        x0, x1, x2, x3 = a[m], a[m + 1], a[m + 2], a[m + 3]
        for i in range(len(ks)):
            k, n, v = ks[i], ns[i], values[i]
            r0[n] += x0[k] * v
            r1[n] += x1[k] * v
            r2[n] += x2[k] * v
            r3[n] += x3[k] * v
        m += ROWS
    while m < m_total:
        row, x = acc[m], a[m]
        for i in range(len(ks)):
            row[ns[i]] += x[ks[i]] * values[i]
        m += 1


def _float32(x, name):
    x = np.ascontiguousarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"{name} must be float32 (their values exactly), not {x.dtype}")
    return x


def fp32_steps(a, w):
    """``acc = fl32(acc + a[:, k] * w[k])`` for k in order from +0, float32 operands (M x K,
    K x N) whose float32 products are exact; the FP32 words as int64 (signed, as the golden's)."""
    return fp32_sums(a, w).view(np.int32).astype(np.int64)


def fp32_sums(a, w):
    """:func:`fp32_steps`' accumulators as a float32 array (the values its words stand for)."""
    a, w = _float32(a, "activations"), _float32(w, "weights")
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"shapes do not chain: {a.shape} @ {w.shape}")
    acc = np.zeros((a.shape[0], w.shape[1]), dtype=np.float32)
    _compiled().steps(a, w, acc)
    return acc


def add_outliers(raw, a, ks, ns, values):
    """GOBO's step 5 on the array's FP32 words ``raw`` (M x N, int64 bit patterns): per column,
    its outliers in increasing k, ``acc = fl32(acc + a[:, k] * value)``; ``a`` the activations
    and ``values`` the outliers' values, float32 (exact: FP16 values), ``ks`` / ``ns`` their
    positions. The FP32 words as int64."""
    acc = np.ascontiguousarray(np.asarray(raw, dtype=np.int64).astype(np.uint32).view(np.float32))
    return add_outlier_values(acc, a, ks, ns, values).view(np.int32).astype(np.int64)


def add_outlier_values(acc, a, ks, ns, values):
    """:func:`add_outliers` on the accumulators as float32 values ``acc`` (M x N, C-contiguous),
    in place; returns ``acc``."""
    if not (isinstance(acc, np.ndarray) and acc.dtype == np.float32 and acc.flags.c_contiguous):
        raise TypeError("the accumulators are updated in place: a C-contiguous float32 array")
    ks, ns = np.asarray(ks, dtype=np.int64), np.asarray(ns, dtype=np.int64)
    order = np.lexsort((ks, ns))                    # per column, increasing k (the golden's order)
    _compiled().outlier_steps(acc, _float32(a, "activations"), ks[order], ns[order],
                              _float32(np.asarray(values)[order], "outlier values"))
    return acc


@functools.cache
def _compiled():
    """The kernels compiled by numba (no ``fastmath``: IEEE semantics, see the module docstring),
    or loaded from numba's on-disk cache (``cache=True``). Deferred on purpose: numba takes about
    0.5 s to import, and every CLI command imports this module (through the registry's GOBO
    quantiser and the report); only a call needs it."""
    import numba
    global rows4x4                     # the name _steps calls, bound here with numba's import
    from .numba_bits import rows4x4
    jit = numba.njit(cache=True, nogil=True)
    return SimpleNamespace(steps=jit(_steps), outlier_steps=jit(_outlier_steps))
