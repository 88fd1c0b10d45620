"""Compiled MX block accumulation: every block's exact sum, cast to float32 and added to the
float32 accumulator block by block in K order, in one pass (:func:`accumulate_blocks`), what
:func:`models.fast_golden.mx_fast`'s loop of small GEMMs (one per tile of rows and block, K =
the block's 32 or 16 elements) and float32 additions gives where every block sum is exact.

Why compiled: that loop is most of an MX design's GEMM time, a BLAS call of K = 32 per tile and
block (packing the block's weights again for every tile of rows) plus two elementwise passes
over a value array per block. Here a block's sums for four rows and a tile of columns stay in
L1 and are added to the accumulator straight away; a group of rows reuses each block's weight
tile while it is in cache. SmolLM2's layer 0 (its seven linears, 512 rows), GEMM CPU s, best of
8 on a loaded machine: MXFP8 E4M3 (float64 operands) 0.199 -> 0.164, MXFP4 (float32) 0.117 ->
0.108; whole-run figures in docs/accuracy.md (Session 37).

Why it gives the loop's values, bit for bit (``tests/test_fast_mx_blocks.py`` pins it to the
loop on random, extreme and real operands, and to :func:`models.mx_gemm.mx_gemm` through the
fast path):

* **Block sums.** The caller passes only operands whose block sums are exact in their type
  (float64: :func:`models.fast_golden.mx_exact_rows`; float32: :func:`models.fast_golden.mx_f32_shift`)
  in any summation order, with or without FMA (every product and every partial sum an integer
  below ``2**53`` / ``2**24`` times a power of two the type holds, the scales folded into the
  operands as there). Then this kernel's sum, in its order and with contracted multiply-adds
  (numba's ``fastmath={"contract"}``, the only fast-math flag: no reassociation, no flush of
  subnormals, no assumption of finite values), is that exact value, as BLAS's is.
* **Clip, cast, addition.** The same operations as the loop's ``np.clip`` (only when the caller
  asks; NaN never occurs: finite operands), ``float32`` cast (round to nearest even; the
  identity on float32 sums) and one IEEE binary32 addition per block, blocks in order, each
  output on its own (the loops are reordered over outputs only). A sum of zero products may be
  ``-0.0`` here where BLAS gave ``+0.0`` (or the reverse); that never matters: the accumulator
  starts at ``+0`` and an RNE sum is ``-0`` only when both terms are, so it is never ``-0``,
  and ``x + (+-0) = x`` for every other ``x``.

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

#: output columns per tile, at most (N is cut into equal tiles), float64 operands: four rows'
#: block sums (4 x 2 KiB) stay in L1, a block's weight tile (32 x 256 float64, 64 KiB) in L2 while
#: a group of rows uses it
TILE_N = 256
#: the same for float32 operands: wider (4 x 3 KiB of sums, a 96 KiB weight tile), since the
#: vector loop over a 256-column tile is only 16 iterations of 16 lanes, and its per-tile work
#: (loop set-up, the activations' reloads) then weighs on it: SmolLM2's 512 x 576 x 1536,
#: 512 x 1536 x 576 and 512 x 576 x 576 block passes 19.3, 17.9, 8.6 -> 16.3, 12.4, 5.4 ms (best
#: of 15, loaded machine; 512 and 1536 columns were slower; float64 showed no gain within noise)
TILE_N_F32 = 768
#: rows per group: each block's weight tile is loaded once per this many rows
GROUP = 64
#: rows per pass over a weight row (the kernel names its four rows: change both together)
ROWS = 4
#: k steps per pass over the block sums (the kernel names its four: change both together)
KSTEPS = 4
#: :func:`models.numba_bits.rows4x4`, bound by :func:`_compiled` (numba is imported only there)
rows4x4 = None


def _accumulate(a_op, w_op, acc, clip, fmax, tile_n):
    """``acc[m, n] = fl32(acc[m, n] + fl32(clip(sum_k a_op[b, m, k] * w_op[b, k, n])))`` for
    every block ``b`` in order (operands (blocks, M, block) and (blocks, block, N) of one float
    type, C-contiguous, the sums in that type; ``acc`` (M, N) float32 in place), on tiles of at
    most ``tile_n`` columns. Compiled by :func:`_compiled`."""
    blocks, m_total, block = a_op.shape
    n_total = w_op.shape[2]
    v = np.empty((ROWS, tile_n), dtype=a_op.dtype)
    k_whole = block - block % KSTEPS
    m_whole = m_total - m_total % ROWS
    # equal tiles of at most tile_n columns (a narrow tail tile would run at a fraction of the speed)
    tiles = -(-n_total // tile_n)
    step = -(-n_total // max(tiles, 1))
    for n0 in range(0, n_total, step):
        n1 = min(n_total, n0 + step)
        width = n1 - n0
        v0, v1, v2, v3 = v[0, :width], v[1, :width], v[2, :width], v[3, :width]
        for g0 in range(0, m_whole, GROUP):
            g1 = min(m_whole, g0 + GROUP)
            for b in range(blocks):
                a = a_op[b]
                w = w_op[b]
                for m in range(g0, g1, ROWS):
                    v0[:] = 0.0
                    v1[:] = 0.0
                    v2[:] = 0.0
                    v3[:] = 0.0
                    for k in range(0, k_whole, KSTEPS):
                        (x00, x01, x02, x03), (x10, x11, x12, x13), (x20, x21, x22, x23), (x30, x31, x32, x33) = \
                            rows4x4(a, m, k)
                        w0, w1, w2, w3 = w[k, n0:n1], w[k + 1, n0:n1], w[k + 2, n0:n1], w[k + 3, n0:n1]
                        for j in range(width):
                            p0, p1, p2, p3 = w0[j], w1[j], w2[j], w3[j]
                            v0[j] += x00 * p0 + x01 * p1 + x02 * p2 + x03 * p3
                            v1[j] += x10 * p0 + x11 * p1 + x12 * p2 + x13 * p3
                            v2[j] += x20 * p0 + x21 * p1 + x22 * p2 + x23 * p3
                            v3[j] += x30 * p0 + x31 * p1 + x32 * p2 + x33 * p3
                    for k in range(k_whole, block):
                        x0, x1, x2, x3 = a[m, k], a[m + 1, k], a[m + 2, k], a[m + 3, k]
                        wk = w[k, n0:n1]
                        for j in range(width):
                            p = wk[j]
                            v0[j] += x0 * p
                            v1[j] += x1 * p
                            v2[j] += x2 * p
                            v3[j] += x3 * p
                    for r in range(ROWS):
                        _add_block(acc[m + r, n0:n1], v[r, :width], clip, fmax)
        for m in range(m_whole, m_total):              # the last M % ROWS rows, one at a time
            for b in range(blocks):
                v0[:] = 0.0
                for k in range(block):
                    x = a_op[b, m, k]
                    wk = w_op[b, k, n0:n1]
                    for j in range(width):
                        v0[j] += x * wk[j]
                _add_block(acc[m, n0:n1], v0, clip, fmax)


def _add_block(row, values, clip, fmax):
    """``row = fl32(row + fl32(values))``, ``values`` clipped to ``[-fmax, fmax]`` first when
    ``clip`` (``np.clip``'s value for non-NaN input)."""
    for j in range(len(row)):
        x = values[j]
        if clip:
            x = min(max(x, -fmax), fmax)
        row[j] = row[j] + np.float32(x)


def accumulate_blocks(a_op, w_op, acc, clip, fmax):
    """Add every block's sum ``a_op[b] @ w_op[b]`` ((blocks, M, block) and (blocks, block, N),
    both float32 (summed in float32) or else float64: sums the caller has checked are exact in
    that type, module docstring), clipped to
    ``[-fmax, fmax]`` when ``clip``, cast to float32, to the float32 accumulator ``acc`` (M, N,
    C-contiguous, in place) one block at a time in order; returns ``acc``."""
    if not (isinstance(acc, np.ndarray) and acc.dtype == np.float32 and acc.flags.c_contiguous):
        raise TypeError("the accumulators are updated in place: a C-contiguous float32 array")
    dtype = np.float32 if a_op.dtype == w_op.dtype == np.float32 else np.float64
    a_op = np.ascontiguousarray(a_op, dtype=dtype)
    w_op = np.ascontiguousarray(w_op, dtype=dtype)
    if a_op.ndim != 3 or w_op.ndim != 3 or a_op.shape[0] != w_op.shape[0] or a_op.shape[2] != w_op.shape[1] \
            or acc.shape != (a_op.shape[1], w_op.shape[2]):
        raise ValueError(f"shapes do not chain: {a_op.shape} @ {w_op.shape} into {acc.shape}")
    tile_n = TILE_N_F32 if dtype == np.float32 else TILE_N
    _compiled().accumulate(a_op, w_op, acc, bool(clip), float(fmax), tile_n)
    return acc


@functools.cache
def _compiled():
    """The kernel compiled by numba with multiply-add contraction only (module docstring), or
    loaded from numba's on-disk cache (``cache=True``). Deferred on purpose, as
    :mod:`models.fast_seq`: numba takes about 0.5 s to import."""
    import numba
    global _add_block, rows4x4         # the names _accumulate calls, bound here with numba's import
    from .numba_bits import rows4x4
    _add_block = numba.njit(cache=True, nogil=True)(_add_block)
    return SimpleNamespace(accumulate=numba.njit(cache=True, nogil=True, fastmath={"contract"})(_accumulate))
