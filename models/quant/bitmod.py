"""BitMoD: bit-serial mixture of datatypes (spec section 2).

Data types (``LEVELS``, in *code units*, i.e. the integer grids the reference code uses):

* FP3 basic ``{0, +-1, +-2, +-4}``; special values (SV): ER ``+3`` / ``-3``, EA ``+6`` / ``-6``.
* FP4 (E2M1 with subnormal) basic ``{0, +-1, +-2, +-3, +-4, +-6, +-8, +-12}`` = 2 x the spec's
  ``{0, 0.5, ..., 6}``; SVs ER ``+-10`` (= spec +-5) and EA ``+-16`` (= spec +-8).
  ``UNIT[name]`` converts code units to the spec's value units (0.5 for FP4, 1 for FP3).
* INT weights for the bit-serial PE's Booth modes: ``int6`` (+-31) and ``int8`` (+-127).
* Also present in the reference vectors: ``int4`` (+-7), ``flint4`` (``{0,1,2,3,4,6,8,16}``) and
  ``fp6_e2m3`` (x8 integer grid up to 60).  Scaling a grid by a power of two changes nothing (the fp16
  roundings below are scale invariant for normal numbers), so the unit choice is only a convention.

Quantiser (per group of ``group_size`` = 128 along K, absmax), reproducing the reference bit-exactly
by emulating its fp16 arithmetic (every operation computed in float32 and rounded to fp16, as
PyTorch's CPU half kernels do):

    w16 = fp16(w);  scale = fp16(max|w16| / max|level|) clamped to [fp16(1e-5), 1e4]
    t = fp16(w16 / scale);  q = nearest level, a midpoint tie goes to the LOWER level
    wq = fp16(q * scale)

Mixed types (``mixed4`` / ``mixed3``): per group, each of the four SV types (order er_pos, er_neg,
ea_pos, ea_neg) is tried, its error is ``mean((wq - w)**2)`` over the group computed in fp16 like
the reference (which, judging by the vectors, was fed fp16 weights: see ``_fp16_group_mse``), and a
later type replaces the current one only if its error is strictly smaller (ties keep the earlier
type).  The 2-bit selector is returned in ``meta["selector"]``.

Scale formats: ``"fp16"`` (reference) or ``"int8"``: the second-level INT8 option of the paper.
There each row (output channel) gets one float scale ``s2 = max_{g, type}(s_g,type) / 255`` (the
largest first-level scale ``absmax_g / max|level_type|`` over the row's groups and the candidate
types) and each group scale becomes ``s_g' = clip(round_half_even(s_g / s2), 1, 255) * s2``
(unsigned 8 bits, scales are positive), so every stored scale is an 8-bit multiple of the row's
``s2``; the elements are quantised with ``s_g'`` (same nearest/tie-low rule) and the type error is
the group MSE, all in float64 (no fp16 emulation).

Bit-serial terms: ``booth_radix4`` (INT8: 4 digits, INT6: 3 digits, digits in {-2..2} x 4**i)
and ``fp_terms`` (FP3/FP4 values, incl. SVs, as <= 2 signed powers of two in 5-bit fixed point
``I3 I2 I1 I0 . F0``).
"""
from __future__ import annotations

import numpy as np

from ..fast_bitmod_quant import MAX_GROUP, quantise_rows
from .common import LatticeTable, QuantizedTensor, as_float_2d, check_bits, check_group, round_f16

__all__ = [
    "LEVELS",
    "UNIT",
    "MIXED",
    "quantize_bitmod",
    "fake_quant_bitmod",
    "booth_radix4",
    "booth_terms",
    "fp_terms",
    "fp_levels_spec_units",
    "bitmod_bits_per_element",
]


def _sym(pos):
    pos = sorted(set(float(p) for p in pos))
    return tuple(sorted(set([-p for p in pos] + pos)))


_FP3 = _sym([0, 1, 2, 4])
_FP4 = _sym([0, 1, 2, 3, 4, 6, 8, 12])
LEVELS: dict[str, tuple[float, ...]] = {
    "int3": _sym(range(0, 4)),
    "fp3": _FP3,
    "fp3_er_pos": tuple(sorted(_FP3 + (3.0,))),
    "fp3_er_neg": tuple(sorted(_FP3 + (-3.0,))),
    "fp3_ea_pos": tuple(sorted(_FP3 + (6.0,))),
    "fp3_ea_neg": tuple(sorted(_FP3 + (-6.0,))),
    "int4": _sym(range(0, 8)),
    "flint4": _sym([0, 1, 2, 3, 4, 6, 8, 16]),
    "fp4": _FP4,
    "fp4_er_pos": tuple(sorted(_FP4 + (10.0,))),
    "fp4_er_neg": tuple(sorted(_FP4 + (-10.0,))),
    "fp4_ea_pos": tuple(sorted(_FP4 + (16.0,))),
    "fp4_ea_neg": tuple(sorted(_FP4 + (-16.0,))),
    "int6": _sym(range(0, 32)),
    "int8": _sym(range(0, 128)),
    "fp6_e2m3": _sym(list(range(0, 17)) + list(range(18, 33, 2)) + list(range(36, 61, 4))),
}
UNIT: dict[str, float] = {k: (0.5 if k.startswith("fp4") else 1.0) for k in LEVELS}
UNIT["fp6_e2m3"] = 0.125
MIXED: dict[str, tuple[str, ...]] = {
    "mixed4": ("fp4_er_pos", "fp4_er_neg", "fp4_ea_pos", "fp4_ea_neg"),
    "mixed3": ("fp3_er_pos", "fp3_er_neg", "fp3_ea_pos", "fp3_ea_neg"),
}
_STORAGE_BITS = {"int3": 3, "fp3": 3, "int4": 4, "flint4": 4, "fp4": 4, "int6": 6, "int8": 8, "fp6_e2m3": 6}

_F16_SCALE_MIN = np.float16(1e-5)
_F16_SCALE_MAX = np.float16(1e4)


def _storage_bits(dtype: str) -> int:
    if dtype in MIXED:
        return 4 if dtype == "mixed4" else 3
    return _STORAGE_BITS.get(dtype, 4 if dtype.startswith("fp4") else 3)


def _nearest_tie_low(t: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Nearest level to ``t``; a value exactly on a midpoint goes to the LOWER level."""
    mids = (levels[:-1] + levels[1:]) / 2.0
    return levels[np.searchsorted(mids, t, side="left")]


_TABLES: dict[tuple[float, ...], LatticeTable] = {}


def _level_table(levels: tuple[float, ...]) -> LatticeTable:
    """Nearest level with ties to the LOWER level, as a lattice lookup table (exact, see LatticeTable)."""
    if levels not in _TABLES:
        lv = np.asarray(levels, dtype=np.float64)
        _TABLES[levels] = LatticeTable((lv[:-1] + lv[1:]) / 2.0, lambda t: _nearest_tie_low(t, lv))
    return _TABLES[levels]


def _fp16_scale(absmax16: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """``fp16(max|w16| / max|level|)`` clamped like the reference, as float32 (exact fp16 values)."""
    f32 = np.float32
    s = (absmax16.astype(f32) / f32(max(abs(v) for v in levels))).astype(np.float16)
    return np.clip(s, _F16_SCALE_MIN, _F16_SCALE_MAX).astype(f32)


def _quant_group_fp16(w32h: np.ndarray, scale32: np.ndarray, levels: tuple[float, ...]):
    """Reference-exact fp16 quantisation: ``t = fp16(w16 / s)``, nearest level, ``wq = fp16(q * s)``.

    ``w32h``: the fp16 weights held in float32 (..., G); ``scale32``: (..., 1).  All fp16 values are
    held in float32 (``round_f16`` = the float32 -> fp16 rounding of PyTorch's half kernels).
    Returns (wq, q) as float32.
    """
    t = round_f16(w32h / scale32)
    q = _level_table(levels)(t)
    wq = round_f16(q * scale32)
    return wq, q


def _fp16_group_mse(wq: np.ndarray, w32h: np.ndarray) -> np.ndarray:
    """The reference's ``(w_tmp - w).pow(2).mean(-1)`` on fp16 tensors: each op rounded to fp16.

    (The reference vectors were produced with fp16 weights; emulating the fp16 error is what makes
    the per-group type choice reproduce them: with float32/float64 errors one group of the
    Gaussian input picks a different type, because fp16 errors tie more often and ties keep the
    earlier type.)
    """
    d = round_f16(wq - w32h)
    sq = round_f16(d * d)
    return np.mean(sq, axis=-1, dtype=np.float32).astype(np.float16).astype(np.float64)


def _quant_group_with_scale(wg: np.ndarray, levels: tuple[float, ...], scale: np.ndarray):
    q = _level_table(levels)(wg / scale).astype(np.float64)
    return q * scale, q


_F16_EXP_MIN = np.uint32(113 << 23)  # float32 exponent field of 2**-14 (fp16's smallest normal)
_F16_EXP_SHIFT = np.uint32(13 << 23)  # C = 2**(e + 13): float32 ulp of C = fp16 quantum 2**(e - 10)
_F32_EXP = np.uint32(0x7F800000)
_F32_SIGN = np.uint32(0x80000000)


def _rf16(v: np.ndarray, nonneg: bool = False) -> np.ndarray:
    """``round_f16(v)`` (float32 -> nearest fp16, ties to even, held in float32) without a select.

    The fp16 quantum of ``|v|`` is ``2**(e - 10)`` with ``e = max(exponent(|v|), -14)`` (normal and
    subnormal range alike), and adding ``C = 2**(e + 13)`` in float32 rounds ``|v|`` to a multiple of
    exactly that quantum, ties to even (``C`` has a zero mantissa); ``(|v| + C) - C`` is exact.  The
    sign bit is put back afterwards (so -0.0 and tiny negatives give -0.0, as ``round_f16``).  Equal to
    ``round_f16`` for finite ``|v| < 2**100`` (tested); every value rounded here is below ``2**40``.
    ``nonneg``: ``v`` is known to be >= +0 (a square), which saves the sign handling.
    """
    v = np.ascontiguousarray(v, dtype=np.float32)
    u = v.view(np.uint32)
    e = u & _F32_EXP
    np.maximum(e, _F16_EXP_MIN, out=e)
    e += _F16_EXP_SHIFT
    c = e.view(np.float32)
    if nonneg:
        r = v + c
    else:
        r = np.abs(v)
        r += c
    r -= c
    if not nonneg:
        np.bitwise_and(u, _F32_SIGN, out=e)  # e is free again: the sign bits of v
        rb = r.view(np.uint32)
        rb |= e
    return r


class _SharedLattice:
    """Lookups in a group of :class:`LatticeTable` with the same lattice (``h``, ``L``): the index is
    computed once for all of them.  ``floor(u) + ceil(u)`` (``u = t / h``) is ``2 n + 1`` inside the
    cell ``(n, n + 1)`` and ``2 n`` on the lattice point ``n``, i.e. the table's (interior, point)
    pair in the other order; ``take(mode="clip")`` clamps beyond the last cell exactly as the table
    clips ``floor(u)`` (every value out there is the extreme level).  Same values as ``table(t)``.
    """

    def __init__(self, tables):
        t0 = tables[0]
        assert all(t.h == t0.h and t.L == t0.L for t in tables)
        self.inv_h = t0.inv_h
        self.L = t0.L
        self.luts = []
        for tab in tables:
            pairs = tab.lut.reshape(-1, 2)  # [interior, point] of each cell n = -L .. L-1
            self.luts.append(np.ascontiguousarray(pairs[:, ::-1]).reshape(-1))  # [point, interior]

    def index(self, t: np.ndarray) -> np.ndarray:
        u = t * np.float32(self.inv_h) if self.inv_h != 1 else t  # power of two: exact
        j = np.floor(u)
        j += np.ceil(u)
        j += np.float32(2 * self.L)  # small integers: exact
        return j.astype(np.intp)

    def take(self, which: int, idx: np.ndarray) -> np.ndarray:
        return np.take(self.luts[which], idx, mode="clip")


_CHUNK_ELEMS = 1 << 16


_SHARED: dict[tuple[str, ...], list] = {}


def _type_groups(types: tuple[str, ...]):
    """The candidate types grouped by their scale (types with the same max |level| share
    ``s = fp16(absmax / max|level|)``, hence ``t = fp16(w / s)``) and, within a group, by lattice (one
    index computation for their level tables): list of (levels of the group's first type,
    [(type index, table), ...] per shared lattice)."""
    if types not in _SHARED:
        groups: dict[float, list] = {}
        for i, name in enumerate(types):
            groups.setdefault(max(abs(v) for v in LEVELS[name]), []).append(i)
        out = []
        for idxs in groups.values():
            lat: dict[tuple, list] = {}
            for i in idxs:
                tab = _level_table(LEVELS[types[i]])
                lat.setdefault((tab.h, tab.L), []).append((i, tab))
            shared = [(_SharedLattice([tb for _, tb in v]), v) for v in lat.values()]
            out.append((LEVELS[types[idxs[0]]], shared))
        _SHARED[types] = out
    return _SHARED[types]


def _bitmod_rows_fp16(wg: np.ndarray, types: tuple[str, ...]):
    """:func:`_bitmod_rows` with fp16 scales: the same roundings (``_rf16`` = ``round_f16``), with
    ``t`` and the lattice index computed once per group of types that share them.  Two types of a
    group differ only in their special value, so their levels (hence ``wq``, ``d``, ``sq``) differ
    only where the level differs: the second type's arrays are the first's with those few
    elements recomputed.  Types are still compared in their order (a later type wins only with a
    strictly smaller error)."""
    r, ng, g = wg.shape
    multi = len(types) > 1
    w32h = _rf16(wg)
    absmax16 = np.max(np.abs(w32h), axis=-1, keepdims=True)
    per_type = [None] * len(types)
    for lv, lattices in _type_groups(types):
        s = _fp16_scale(absmax16, lv)
        t = _rf16(w32h / s)
        for shared, members in lattices:
            idx = shared.index(t)
            first = None
            for which, (i, _) in enumerate(members):
                q = shared.take(which, idx)
                if first is None:
                    wq = _rf16(q * s)
                    if multi:
                        d = _rf16(wq - w32h)
                        sq = _rf16(d * d, nonneg=True)
                    first = (q, wq, sq) if multi else (q, wq, None)
                else:
                    q0, wq0, sq0 = first
                    diff = np.flatnonzero(q.view(np.uint32) != q0.view(np.uint32))  # bits: -0.0 too
                    wq = wq0.copy()
                    sd = s.reshape(-1)[diff // g]
                    wqd = _rf16(q.reshape(-1)[diff] * sd)
                    wq.reshape(-1)[diff] = wqd
                    if multi:
                        sq = sq0.copy()
                        dd = _rf16(wqd - w32h.reshape(-1)[diff])
                        sq.reshape(-1)[diff] = _rf16(dd * dd, nonneg=True)
                if multi:
                    err = np.mean(sq, axis=-1, dtype=np.float32).astype(np.float16).astype(np.float64)
                else:
                    err = np.zeros((r, ng))
                per_type[i] = (s, q, wq, err)
    return (*_keep_best(wg.shape, (per_type[i] for i in range(len(types))), np.float32),
            np.ones((r, 1)))


def _keep_best(shape, candidates, wq_dtype):
    """Per group, the best of the candidate types ``(scale, q, wq, err)`` taken in order: a later
    type replaces the current one only if its error is strictly smaller (ties keep the earlier).
    Returns (wq, q, scale, selector, group error)."""
    r, ng, _ = shape
    best_err = np.full((r, ng), np.inf)
    sel = np.zeros((r, ng), dtype=np.int8)
    s_best = np.zeros((r, ng, 1), dtype=np.float64)
    wq_best = np.zeros(shape, dtype=wq_dtype)
    q_best = np.zeros(shape, dtype=np.int16)
    for i, (s, q, wq, err) in enumerate(candidates):
        upd = err < best_err
        if i == 0:
            upd[...] = True
        best_err[upd] = err[upd]
        sel[upd] = i
        m3 = np.broadcast_to(upd[..., None], shape)
        np.copyto(wq_best, wq, where=m3)
        np.copyto(q_best, q, where=m3, casting="unsafe")
        s_best[upd] = s[upd]
    return wq_best, q_best, s_best[..., 0], sel, best_err


def _bitmod_rows(wg: np.ndarray, types: tuple[str, ...], scale_format: str):
    """Quantise a block of rows ``wg`` (rows, groups, G) with every candidate type; keep the best.

    Returns (wq, q, scale, selector, group error, second-level scale (rows, 1) or ones).
    """
    if scale_format == "fp16":
        return _bitmod_rows_fp16(wg, types)
    # INT8 scales: one second-level scale per row, shared by every type's group scales
    wg64 = wg.astype(np.float64)
    absmax = np.max(np.abs(wg64), axis=-1)
    first = [absmax / np.max(np.abs(LEVELS[t])) for t in types]
    s2 = np.max(np.stack(first), axis=(0, 2))[:, None] / 255.0
    s2 = np.where(s2 > 0, s2, 1.0)

    def candidates():
        for i, name in enumerate(types):
            s = (np.clip(np.rint(first[i] / s2), 1, 255) * s2)[..., None]
            wq, q = _quant_group_with_scale(wg64, LEVELS[name], s)
            yield s, q, wq, np.mean((wq - wg64) ** 2, axis=-1)

    return (*_keep_best(wg.shape, candidates(), np.float64), s2)


def _bitmod_core(x, dtype: str, group_size: int, scale_format: str):
    if dtype not in LEVELS and dtype not in MIXED:
        raise ValueError(f"unsupported BitMoD dtype {dtype!r}: known {sorted(LEVELS) + sorted(MIXED)}")
    if scale_format not in ("fp16", "int8"):
        raise ValueError(f"unsupported scale_format {scale_format!r}: use 'fp16' or 'int8'")
    w = np.ascontiguousarray(as_float_2d(x, dtype=np.float32))  # in-place flat writes assume C order
    if scale_format == "fp16" and np.max(np.abs(w)) > 65504.0:
        raise ValueError("input exceeds the fp16 range (65504) of the BitMoD reference arithmetic")
    r, k = w.shape
    g = check_group(k, group_size)
    wg = w.reshape(r, k // g, g)
    types = MIXED.get(dtype, (dtype,))
    meta = {"dtype": dtype, "types": types, "scale_format": scale_format}
    ng = k // g
    if scale_format == "int8" and g <= MAX_GROUP:
        # the same operations, row by row in one compiled pass (models.fast_bitmod_quant)
        wq_best, q_best, s_best, sel, best_err, s2 = quantise_rows(
            w, g, [_level_table(LEVELS[t]) for t in types], [np.max(np.abs(LEVELS[t])) for t in types])
    else:
        wq_best = np.empty(wg.shape, dtype=np.float64 if scale_format == "int8" else np.float32)
        q_best = np.empty(wg.shape, dtype=np.int16)
        s_best = np.empty((r, ng), dtype=np.float64)
        sel = np.empty((r, ng), dtype=np.int8)
        best_err = np.empty((r, ng), dtype=np.float64)
        s2 = np.empty((r, 1), dtype=np.float64)
        step = max(1, _CHUNK_ELEMS // k)  # row chunks keep the temporaries small and cache-resident
        for r0 in range(0, r, step):
            sl = slice(r0, r0 + step)
            (wq_best[sl], q_best[sl], s_best[sl], sel[sl], best_err[sl], s2[sl]) = _bitmod_rows(
                wg[sl], types, scale_format)
    if scale_format == "int8":
        meta["second_level_scale"] = s2
    if scale_format == "int8":
        meta["scale_codes"] = np.rint(s_best / s2).astype(np.uint8)  # exact: s = code * s2
    meta["selector"] = sel
    if len(types) > 1:
        meta["group_mse"] = best_err
    meta["unit"] = UNIT[types[0]]
    return wq_best.reshape(r, k), q_best.reshape(r, k), s_best, g, meta


def quantize_bitmod(x, dtype: str = "mixed4", group_size: int = 128,
                    scale_format: str = "fp16") -> QuantizedTensor:
    """BitMoD per-group quantisation of a 2-D weight (out, in) with groups along the last axis.

    ``dtype``: a key of ``LEVELS`` or ``"mixed4"`` / ``"mixed3"`` (per-group min-MSE SV type).
    Returns codes = level values in code units (int16), scale per group (rows, K/G), and for
    mixed types ``meta["selector"]`` (rows, K/G) in 0..3 (order of ``MIXED[dtype]``).
    :meth:`~QuantizedTensor.dequantize` gives ``fp16(code * scale)`` (fp16 scales) or
    ``code * scale`` (INT8 scales).
    """
    _, q, s, g, meta = _bitmod_core(x, dtype, group_size, scale_format)

    def _dec(qt: QuantizedTensor) -> np.ndarray:
        sc = qt.expand(qt.scale)
        if scale_format == "fp16":
            return (qt.codes.astype(np.float32) * sc.astype(np.float32)).astype(np.float16).astype(np.float64)
        return qt.codes.astype(np.float64) * sc

    return QuantizedTensor(codes=q, scale=s, group_size=g, kind=f"bitmod-{dtype}", meta=meta, decoder=_dec)


def fake_quant_bitmod(x, dtype: str = "mixed4", group_size: int = 128, scale_format: str = "fp16") -> np.ndarray:
    """Dequantised weights (float32 for fp16 scales: the values are fp16; float64 for INT8 scales)."""
    return _bitmod_core(x, dtype, group_size, scale_format)[0]


def bitmod_bits_per_element(dtype: str, group_size: int = 128, scale_bits: int = 16) -> float:
    """Element bits + per-group scale (16 for fp16, 8 for the INT8 option) + 2-bit SV selector for mixed."""
    extra = scale_bits + (2 if dtype in MIXED else 0)
    return _storage_bits(dtype) + extra / group_size


# ---------------------------------------------------------------------------------------------
# Bit-serial term decomposition
# ---------------------------------------------------------------------------------------------
def booth_radix4(v, bits: int = 8) -> np.ndarray:
    """Radix-4 Booth digits of ``bits``-bit two's complement integers ``v`` (bits 8 or 6).

    Digit i (i = 0 .. bits/2 - 1) is ``d_i = -2 b_{2i+1} + b_{2i} + b_{2i-1}`` (b_{-1} = 0), in
    {-2, -1, 0, 1, 2}, and ``v = sum_i d_i 4**i``.  Returns int8 array of shape v.shape + (bits/2,).
    """
    bits = check_bits(bits, (6, 8), "Booth bits")
    v = np.asarray(v)
    if not np.issubdtype(v.dtype, np.integer):
        raise ValueError(f"Booth recoding needs integer input, got dtype {v.dtype}")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"values out of INT{bits} range [{lo}, {hi}]")
    u = v.astype(np.int64) & ((1 << bits) - 1)
    n = bits // 2
    i = np.arange(n)
    b_hi = (u[..., None] >> (2 * i + 1)) & 1
    b_mid = (u[..., None] >> (2 * i)) & 1
    b_lo = np.where(i > 0, (u[..., None] >> np.maximum(2 * i - 1, 0)) & 1, 0)
    return (-2 * b_hi + b_mid + b_lo).astype(np.int8)


def booth_terms(v, bits: int = 8):
    """Booth digits as signed power-of-two terms: returns (exponent, sign, count).

    ``exponent`` (..., bits/2) = 2i + (|d_i| == 2), ``sign`` in {-1, 0, +1} (0 = no term for d_i = 0),
    so ``v = sum sign * 2**exponent``; ``count`` = number of non-zero digits (the bit-serial
    hardware spends bits/2 cycles regardless).
    """
    d = booth_radix4(v, bits).astype(np.int64)
    i = np.arange(d.shape[-1])
    exp = 2 * i + (np.abs(d) == 2)
    sign = np.sign(d)
    return exp.astype(np.int8), sign.astype(np.int8), np.count_nonzero(d, axis=-1)


def fp_levels_spec_units(dtype: str) -> np.ndarray:
    """The levels of a BitMoD FP3/FP4 type (incl. its SV) in the spec's value units."""
    if dtype not in LEVELS or not dtype.startswith(("fp3", "fp4")):
        raise ValueError(f"not a BitMoD FP3/FP4 type: {dtype!r}")
    return np.asarray(LEVELS[dtype], dtype=np.float64) * UNIT[dtype]


def fp_terms(values):
    """Decompose FP3/FP4 values (spec units, incl. SVs 3, 5, 6, 8) into <= 2 signed power-of-two terms.

    The magnitude is written in 5-bit fixed point ``I3 I2 I1 I0 . F0`` (n = 2|v| in 0..31); each
    one-bit at position p is a term ``2**(p - 1)``.  Returns ``(exponent, sign, count)`` with
    exponent/sign of shape (..., 2) (unused slots: exponent 0, sign 0) and count in {0, 1, 2}.
    Raises ValueError for values that need more than two terms or do not fit the format.
    """
    v = np.asarray(values, dtype=np.float64)
    n2 = v * 2.0
    n = np.rint(np.abs(n2))
    if np.any(n != np.abs(n2)) or np.any(n > 31):
        raise ValueError("fp_terms: values must be multiples of 0.5 with |v| <= 15.5 (5-bit fixed point)")
    n = n.astype(np.int64)
    p = np.arange(5)
    ones = (n[..., None] >> p) & 1
    count = ones.sum(axis=-1)
    if np.any(count > 2):
        bad = np.unique(v[count > 2])
        raise ValueError(f"fp_terms: values {bad.tolist()} need more than two power-of-two terms")
    # highest one-bit first, then the next one
    hi = np.where(n > 0, np.floor(np.log2(np.maximum(n, 1))).astype(np.int64), 0)
    rest = n - np.where(n > 0, 1 << hi, 0)
    lo = np.where(rest > 0, np.floor(np.log2(np.maximum(rest, 1))).astype(np.int64), 0)
    s = np.sign(v).astype(np.int8)
    exp = np.stack([np.where(n > 0, hi - 1, 0), np.where(rest > 0, lo - 1, 0)], axis=-1).astype(np.int8)
    sign = np.stack([np.where(n > 0, s, 0), np.where(rest > 0, s, 0)], axis=-1).astype(np.int8)
    return exp, sign, count
