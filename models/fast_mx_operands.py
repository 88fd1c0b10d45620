"""Compiled MX operand kernels: a weight lane-code matrix read the way it is stored, row by row,
and the block GEMMs' float operands made in one pass each.

MX weights are K' x N lane codes with the lanes down each column (:mod:`models.mx_gemm`), stored
C-ordered: one row of codes is one lane position of every column. The general decoder
(:func:`models.fast_mx_lanes.decode_lanes` of the transpose) walks each column down K', a stride
of N codes per read, and writes int64 element integers (N, steps, sub_block) that
:func:`models.fast_golden.mx_fast` then turns into its block GEMM's float operand in three more
numpy passes (float64 blocks, times the column scales, cast); an accuracy run does that for every
weight matrix of every MX design (each used once in a ``--quick`` window). Here:

* :func:`weight_lanes`: in one row-wise pass, the slot codes and the per-lane extremes
  (largest element magnitude, lowest set bit of a nonzero one) that
  :func:`models.fast_mx_lanes.decode_lanes` and :func:`models.fast_mx.lane_extremes` give, without
  the element integers.
* :func:`weight_operand`: the block GEMMs' weight operand ``(blocks, block, N)``, each element
  ``float64(integer) * mult[b, n]`` cast to the output type, in one row-wise pass from the codes:
  what ``models.fast_golden._blocks`` of the integers (transposed), times ``mult``, cast, gives.
* :func:`act_operand`: the activation operand ``(blocks, M, block)`` alike from the decoded
  activation integers (M, steps, sub_block), without ``_blocks``' float64 copy.

Why the same values (``tests/test_fast_mx_operands.py`` pins both to those functions): the same
positions (lane ``s`` is code rows ``s * k_per_step`` on; rows past K' read as the pad's code 0),
the same table (:func:`models.mx_gemm._element_table`: an integer per code, exact as a float64
below ``2**53``), the same slot OR (``code << i * bits``), the same integer extremes (per code
its magnitude and lowest set bit, looked up: :func:`_code_tables`); the operand
is one IEEE float64 multiplication of the same two values and one RNE cast (numba, no
``fastmath``), block positions beyond a short block's lanes +0 as the padding's. Whenever the
definition would not simply look up and OR (a code outside ``0 .. 2**bits - 1``, a refused code,
a slot code over 8 bits) :func:`weight_lanes` returns None and the caller runs the definition,
which raises its error or decodes field by field.

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from hw.pe_mx import SCALE_BITS
from .fast_mx import NO_BIT


def _lanes(codes, mag, lowbit, sub_block, scale_slots, bits, slots, top, low):
    """``slots[s, n]``, ``top[s, n]``, ``low[s, n]`` of lane ``s`` of column ``n`` of ``codes``
    (K' x N), ``mag`` / ``lowbit`` the per-code tables of :func:`_code_tables`; returns 0, or 1
    when the definition must run (the outputs incomplete). Branch-free inner loops (the
    problems are ORed into ``bad`` and looked at once per lane): a code's bits above ``bits``
    (negative, or past the code range), a refused code (its ``lowbit`` -1, the sign bit), a slot
    code past 8 bits. Compiled by :func:`_compiled`."""
    rows, width = codes.shape
    steps = slots.shape[0]
    per = sub_block + scale_slots
    mask = (1 << bits) - 1
    if lowbit[0] < 0:
        return 1                                    # the pad's code must decode (it always does)
    bad = 0
    for s in range(steps):
        t, lo, sl = top[s], low[s], slots[s]
        for n in range(width):
            t[n] = 0
            lo[n] = NO_BIT
            sl[n] = 0
        for j in range(sub_block):
            p = s * per + j
            if p >= rows:
                continue                            # the pad's 0: changes no extreme
            row = codes[p]
            for n in range(width):
                c = row[n]
                bad |= c >> bits
                i = c & mask                        # the code itself wherever bad stays 0
                t[n] = max(t[n], mag[i])
                lo[n] = min(lo[n], lowbit[i])
        for i in range(scale_slots):
            p = s * per + sub_block + i
            if p >= rows:
                continue
            row = codes[p]
            for n in range(width):
                c = row[n]
                bad |= c >> bits
                sl[n] |= (c & mask) << (i * bits)
        for n in range(width):
            bad |= sl[n] >> SCALE_BITS
            bad |= lo[n] >> 63
        if bad != 0:
            return 1
    return 0


def _code_tables(values, refused):
    """Per element code: its integer's magnitude, and the lowest set bit of that magnitude
    (:data:`NO_BIT` for 0, -1 for a refused code), int64."""
    mag = np.abs(np.asarray(values, dtype=np.int64))
    lowbit = np.where(mag != 0, mag & -mag, NO_BIT)
    return mag, np.where(refused, -1, lowbit).astype(np.int64)


def weight_lanes(codes, values, refused, pe):
    """(K', N) int64 weight lane codes (lanes down each column) -> (slot codes, (top, low)), each
    (N, steps) int64: :func:`models.fast_mx_lanes.decode_lanes` of ``codes.T``'s slot codes and
    :func:`models.fast_mx.lane_extremes` of its integers; ``values`` / ``refused`` the element
    format's table; None where the definition must run (module docstring)."""
    codes = np.asarray(codes)
    if codes.dtype != np.int64 or codes.ndim != 2:
        return None
    steps = -(-codes.shape[0] // pe.k_per_step)
    out = [np.empty((steps, codes.shape[1]), dtype=np.int64) for _ in range(3)]
    if _compiled().lanes(codes, *_code_tables(values, refused), pe.sub_block, pe.mx_format.scale_slots,
                         pe.mx_format.bits, *out):
        return None
    slots, top, low = (np.ascontiguousarray(x.T) for x in out)
    return slots, (top, low)


def _operand(codes, values, per, sub_block, starts, end_lanes, mult, out):
    """``out[b, (s - starts[b]) * sub_block + j, n] = values[codes[s * per + j, n]] * mult[b, n]``
    for the lanes ``s`` of block ``b`` (``starts[b] .. end_lanes[b]``), cast to ``out``'s type;
    ``out`` zeroed by the caller (a short block's other positions). Compiled by :func:`_compiled`."""
    rows, width = codes.shape
    for b in range(len(end_lanes)):
        m = mult[b]
        pos = 0
        for s in range(starts[b], end_lanes[b] + 1):
            for j in range(sub_block):
                p = s * per + j
                o = out[b, pos]
                if p < rows:
                    row = codes[p]
                    for n in range(width):
                        o[n] = values[row[n]] * m[n]
                else:
                    for n in range(width):
                        o[n] = values[0] * m[n]
                pos += 1


def weight_operand(codes, values, pe, end_lanes, mult, dtype):
    """The block GEMMs' weight operand of ``codes`` (K' x N, codes :func:`weight_lanes` accepted)
    for blocks ending at ``end_lanes``: (blocks, block, N) of ``dtype`` (float32 or float64), block
    ``b``'s lanes in order then zeros, each element its float64 integer (``values``: the element
    table as float64) times ``mult[b, n]`` (float64 (blocks, N)), cast to ``dtype``."""
    end_lanes = np.ascontiguousarray(end_lanes, dtype=np.int64)
    starts = np.r_[0, end_lanes[:-1] + 1].astype(np.int64)
    out = np.zeros((len(end_lanes), pe.block, codes.shape[1]), dtype=dtype)
    _compiled().operand(codes, values, pe.k_per_step, pe.sub_block, starts, end_lanes,
                        np.ascontiguousarray(mult, dtype=np.float64), out)
    return out


def _act_operand(x, sub_block, starts, end_lanes, mult, out):
    """``out[b, r, (s - starts[b]) * sub_block + j] = x[r, s, j] * mult[b, r]`` (the integer as
    a float64) for the lanes ``s`` of block ``b``, cast to ``out``'s type, and +0 after them (a
    short block's padding). ``x`` C-contiguous: a block's lanes are one run of each row, copied
    by a loop over unsigned indices (numba then adds no negative-index wraparound, whose select
    kept LLVM from vectorising the old per-lane loops: 512 x 1536 integers 1.0 -> 0.65 ms to
    float64, 1.0 -> 0.25 ms to float32). Compiled by :func:`_compiled`."""
    rows = x.shape[0]
    flat = x.reshape(rows, -1)
    block = np.uint64(out.shape[2])
    for b in range(len(end_lanes)):
        m = mult[b]
        first = np.uint64(starts[b] * sub_block)
        used = np.uint64((end_lanes[b] + 1 - starts[b]) * sub_block)
        for r in range(rows):
            o = out[b, r]
            xr = flat[r]
            f = m[r]
            for i in range(used):
                o[i] = np.float64(xr[first + i]) * f
            for i in range(used, block):
                o[i] = 0.0


def act_operand(x_int, pe, end_lanes, mult, dtype):
    """The block GEMMs' activation operand: (blocks, M, block) of ``dtype`` from the element
    integers ``x_int`` (M, steps, sub_block; below ``2**53``), block ``b``'s lanes in order then
    zeros, each its float64 value times ``mult[b, m]`` (float64 (blocks, M)), cast to ``dtype``:
    ``models.fast_golden._blocks(x_int) * mult[:, :, None]``, cast."""
    end_lanes = np.ascontiguousarray(end_lanes, dtype=np.int64)
    starts = np.r_[0, end_lanes[:-1] + 1].astype(np.int64)
    out = np.empty((len(end_lanes), x_int.shape[0], pe.block), dtype=dtype)      # every element written
    _compiled().act_operand(np.ascontiguousarray(x_int, dtype=np.int64), pe.sub_block, starts, end_lanes,
                            np.ascontiguousarray(mult, dtype=np.float64), out)
    return out


@functools.cache
def _compiled():
    """The kernels compiled by numba, or loaded from numba's on-disk cache (``cache=True``).
    Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to import."""
    import numba
    jit = numba.njit(cache=True, nogil=True)
    return SimpleNamespace(lanes=jit(_lanes), operand=jit(_operand), act_operand=jit(_act_operand))
