"""Exact fast paths for the registered golden GEMMs: the same integers, through float BLAS.

A whole-model accuracy run computes hundreds of large GEMMs per design; the golden models build
their integers in numpy int64 (no BLAS) term plane by term plane, which is far too slow for that.
Each function here computes *exactly* what its kind's ``golden_gemm`` returns, bit for bit, from
the same codes and extra operand:

* The integer core is :func:`exact_matmul`: integer matrices multiplied in float32 or float64
  BLAS. It is exact because every product and every partial sum it can form is an integer of
  magnitude below ``2**24`` (float32) / ``2**53`` (float64), which the format represents
  exactly, whatever the summation order or FMA use: K is cut into blocks of at most
  ``floor((2**p - 1) / (max|a| * max|w|))`` elements and the blocks' results are added in int64.
  Operands whose values do not fit the float split the activations once into sign-magnitude
  halves where float64 blocks hold those (two GEMMs), else fall back to int64.
* Per kind, the golden model's arithmetic is rewritten as integer GEMMs of effective values plus
  the same post-array steps (wrap to the accumulator width, grouped zero point and dyadic scale,
  group scale codes), using the kind's own decoders: ``int8`` and ``bitfusion`` ``A @ W``; ``lut`` ``A @ (2Q -
  (2**B - 1))``; ``ovp`` ``A_val @ W_val`` with ``val = i << e`` of the decoded pairs; ``shiftadd``
  one GEMM per K group of the weights' integer values; ``bitserial`` one GEMM of the weights'
  integer values times their group's scale code (its wraps are all reductions modulo
  ``2**acc_width``, so one reduction of the exact sum equals them); ``ant`` ``A_val @ W_val``
  of the types' code -> value tables; ``fp8`` the aligned operands ``(-1)**s * (m << (e - 1))``
  (e5m2's reach 2**32: their 16-bit sign-magnitude halves, looked up per code (the weights
  kept as their codes, :class:`Fp8WideWeights`), go through three float64 GEMMs (Karatsuba,
  :func:`split_matmul`) that give exact limbs, and the exact sums, up to 81 bits, are assembled
  as Python ints only where they leave int64; the accuracy path :func:`fp8_float` takes one
  float64 GEMM of the aligned operands in the rows whose exponent spans keep every partial sum
  exact, :func:`fp8_exact_rows`; for e4m3 in every row, its sums being integers below ``2**53``,
  with the weights prepared as float64, :class:`Fp8Weights`); ``lmul`` one GEMM per activation
  mantissa field ``fa`` (the L-Mul product is ``2**(ef_a + ef_w + M - 2) * g(fa, fw)`` with
  ``g = 2**M + c`` or ``2c`` on a carry, ``c = fa + fw + 1``: separable once ``fa`` is fixed;
  ``g`` as a matrix has full rank 2**M, so no fewer GEMMs do), stacked along K into one float64
  GEMM (e5m2: :func:`split_matmul` of the stacks' halves); both stacks are looked up per code
  (:func:`_lmul_tables`). The accuracy path (:func:`lmul_float`) sums instead in the compiled
  kernel :mod:`models.fast_lmul` (an L-Mul product as a float64 is one integer addition of the
  operands' IEEE bit patterns) wherever every partial sum is an integer below ``2**53`` (e4m3:
  always; e5m2: the rows of :func:`lmul_exact_rows`, which real operands nearly all are), the
  other e5m2 rows as two such kernel sums of the row's operands split by exponent
  (:func:`lmul_split_rows`) added once, or, where a part would not be exact, through Karatsuba on
  the stacks' halves.
* ``fp16``'s golden *is* float32 arithmetic step by step: exact products (an FP16 x FP16 product
  has at most 22 significand bits and lies in the float32 normal range), one IEEE binary32
  round-to-nearest-even addition per step in K order from +0. :func:`fp16_fast` does exactly
  those float32 operations in a compiled loop (:mod:`models.fast_seq`: K in order, no fastmath).
  ``gobo``'s array is the same steps with each weight its centroid's FP16 value and an
  outlier-flagged weight 0 (adding a product ``+-0`` leaves an accumulator that is never ``-0``
  unchanged, as the golden's skipped step does); the outliers are then added as the golden's
  step 5 adds them (:func:`models.fast_seq.add_outlier_values`: per column in increasing k, one
  float32 addition per outlier and row); the accuracy path (:func:`gobo_float`) keeps the
  float32 accumulators as values instead of int64 words.
* ``wfp16``'s exact fixed-point sums (60 / 64 / 65 bits): when ``max|a| * max|w| * K`` is below
  ``2**62`` (real activations), one :func:`exact_matmul` (int64, then wrapped as the golden
  wraps); otherwise two float64 GEMMs of the FP16 activations' sign-magnitude 20-bit halves (``a = hi * 2**20 + lo``, products below ``2**36``):
  assembled modulo ``2**64`` in uint64 for the 60- and 64-bit accumulators (the golden's wraps
  are reductions modulo ``2**acc_width``, which divides ``2**64``), as Python ints from the limbs
  for ovp4's 65 bits. The grouped design's per-group code products fold into the weights
  (``sum_g S_g * c_g`` modulo ``2**acc_width`` is ``A @ (W * c)``).
* ``mx``: each block's exact sum is one float64 GEMM per tile of output rows (exact below
  ``2**53``, and for MXFP8 E5M2 in every block row whose integers' bit span plus the weights'
  largest plus ``log2(block)`` is at most 53 (:func:`mx_exact_rows`: exact whatever their
  magnitude, as every partial sum is a multiple of the rows' lowest bits); the other E5M2
  rows' sums, up to 71 bits, are Karatsuba limbs of 16-bit halves in float64
  (:func:`_mx_wide_sums`), added in float64 rounded to odd, which a later float32 rounding
  turns into the correctly rounded value, as the golden's 53-bit round-to-odd integers do),
  scaled by its blocks' scales in float64 (powers of two, or NVFP4's ``m * 2**q`` on small
  sums: exact; folded into the operands where the sums are exact), clipped and cast to
  float32 as the golden does, then added to the float32 accumulator block by block in K order.

:func:`fast_output` is the golden's *dequantised* output (what an accuracy run uses): for FP8 and
L-Mul it rounds the exact wide sums (E5M2: up to 81 bits) to float64 from their int64 limbs in
one IEEE addition (:func:`_fp8_float`) instead of building Python ints, then dequantises as the
kind does; every other kind is ``dequantize_output`` of :func:`fast_golden`.

:func:`fast_golden` uses a fast path only when the kind's ``golden_gemm`` *is* the registered
function it was proven against (tests/test_fast_golden.py pins each to the golden on random,
extreme and real operands); any other golden function (a new kind, a test's deliberately broken
copy) is called as it is. ``bitserial_fp16``'s float-like accumulator truncates (to its own
format, not an IEEE one) after every step, so the result depends on the order of additions and
no BLAS or float type reproduces it: its fast path is the golden's own integer steps in the
compiled kernel :mod:`models.fast_bsfp16` (weight terms decoded once per linear).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hw.group_dequant import DequantParams
from hw.pe_mx import scale_terms
from .ant_gemm import ant_values, ant_values_f32
from .bitserial_fp16 import check_fp16_codes
from .bitserial_gemm import decode_weight_codes, default_scale_codes, groups_of, scale_codes_of
from .fp16_gemm import decode_fp16
from .fp8_gemm import GROWTH_BITS, aligned_operand, check_fp8_codes, get_format, wrap_wide
from . import fast_bsfp16, fast_fp16, fast_fp8, fast_outliers, fast_shiftadd
from .fast_acc_output import acc_words_f32
from .fast_dequant import scaled_f32
from .fast_lmul import ROWS as LMUL_ROWS, pattern_sums as lmul_pattern_sums, patterns as lmul_patterns
from .fast_mx import lane_extremes as fast_lane_extremes
from .fast_mx_operands import act_operand, weight_operand
from .fast_mx_blocks import accumulate_blocks
from .fast_seq import add_outlier_values, fp32_steps, fp32_sums
from .gobo_gemm import (DEFAULT_DICTIONARY, check_outlier_mask as check_gobo_outlier_mask, weight_fields as gobo_weight_fields)
from .golden import wrap_signed
from .lmul_gemm import lmul_fields
from .mx_gemm import FP32_MAX as MX_FP32_MAX, _element_table, block_ends, decoded_lanes, mx_gemm, \
    scale_parts as mx_scale_parts, weight_rows
from .registry import PE_KINDS
from .ovp_gemm import pair_values as ovp_pair_values
from .shiftadd_gemm import INT8_MAX, INT8_MIN, default_params
from .wfp16_gemm import ACC_FRAC as WFP16_ACC_FRAC, SPLIT_BITS as WFP16_SPLIT, \
    activation_operand as wfp16_activation_operand, \
    default_scale_codes as wfp16_default_scale_codes, weight_operand as wfp16_weight_operand

F32_EXACT = 1 << 24
F64_EXACT = 1 << 53


def _block(k, bound, limit):
    """Largest K block whose partial sums stay below ``limit`` (0 if a single product may not)."""
    return min(k, (limit - 1) // bound) if bound < limit else 0


@dataclass(frozen=True, eq=False)
class IntMatrix:
    """An integer weight matrix prepared once for :func:`exact_matmul` (a linear's weights meet
    every activation of a run): its int64 ``values`` and their largest magnitude ``absmax``, and
    their float32 / float64 copies made on first use and kept (``None`` when a value is not exact
    in that float), so that no call repeats the ``abs``, ``max`` and cast passes over the whole
    matrix. Which float a GEMM takes depends on the activations too, so a copy no call needs
    (float64 for INT8, float32 for OVP W8A8's wide values) is never made."""
    values: np.ndarray
    absmax: int

    @functools.cached_property
    def f32(self):
        return self.values.astype(np.float32) if self.absmax < F32_EXACT else None

    @functools.cached_property
    def f64(self):
        return self.values.astype(np.float64) if self.absmax < F64_EXACT else None

    def as_float(self, dtype):
        """The copy of ``values`` in ``dtype`` (np.float32 or np.float64), or None."""
        return self.f32 if dtype is np.float32 else self.f64

    @functools.cached_property
    def split(self):
        """The values as a dense normal part and sparse outliers (:func:`outlier_sums`):
        ``(normal, k, n, outlier)`` with ``normal`` the values of magnitude at most
        :data:`SPLIT_NORMAL` (the others 0) in float32, and the other values' row and column
        indices and values (float64), ordered by column; None when more than one value in
        :data:`SPLIT_SPARSE` is an outlier (then the dense float64 GEMM is cheaper)."""
        if self.values.ndim != 2:
            return None
        # the kernel reads its input in C order: a column-major matrix (OVP's) as its transpose
        flip = not self.values.flags.c_contiguous and self.values.T.flags.c_contiguous
        normal, count = fast_outliers.normal_part(self.values.T if flip else self.values, SPLIT_NORMAL)
        if count * SPLIT_SPARSE > self.values.size:
            return None
        return (normal.T if flip else normal, *fast_outliers.column_outliers(self.values, SPLIT_NORMAL, count))


def int_matrix(values):
    """:class:`IntMatrix` of an integer array."""
    values = np.asarray(values, dtype=np.int64)
    absmax = max(int(values.max()), -int(values.min())) if values.size else 0   # no |values| temporary
    return IntMatrix(values, absmax)


#: :func:`outlier_sums`: values of magnitude at most this are normal: products of two normal values
#: stay below 2**14, so float32 blocks of 1,040 elements hold their partial sums exactly
SPLIT_NORMAL = 127
#: :func:`outlier_sums` only when at most one value in this many is an outlier (on each side)
SPLIT_SPARSE = 64


def _float_type(k, amax, wmax):
    """``(dtype, kb)``: the float type and K block in which every partial sum of an integer
    GEMM of magnitudes at most ``amax`` and ``wmax`` is exact; None when neither float fits."""
    bound = amax * wmax
    for dtype, limit in ((np.float32, F32_EXACT), (np.float64, F64_EXACT)):
        kb = _block(k, bound, limit)
        # float32 only for big enough blocks: many tiny float32 GEMMs cost more than float64 ones
        if max(amax, wmax) < limit and kb >= min(k, 256):
            return dtype, kb
    return None


def _float_blocks(a, w, amax):
    """``(dtype, kb, af, wf)``: :func:`_float_type` with both operands in it; None when
    neither float fits."""
    prepared = w if isinstance(w, IntMatrix) else None
    w = prepared.values if prepared else w
    wmax = prepared.absmax if prepared else (int(np.abs(w).max()) if w.size else 0)
    found = _float_type(a.shape[-1], amax, wmax)
    if found is None:
        return None
    dtype, kb = found
    wf = prepared.as_float(dtype) if prepared else None
    return dtype, kb, a.astype(dtype), w.astype(dtype) if wf is None else wf


def exact_matmul(a, w):
    """``a @ w`` for integer arrays (..., M, K) @ (..., K, N), exact, as int64 (see the module
    docstring for why float BLAS gives the exact integers); ``w`` may be an :class:`IntMatrix`."""
    a = np.asarray(a, dtype=np.int64)
    w = w if isinstance(w, IntMatrix) else np.asarray(w, dtype=np.int64)
    values = w.values if isinstance(w, IntMatrix) else w
    k = a.shape[-1]
    out_shape = np.broadcast_shapes(a.shape[:-2], values.shape[:-2]) + (a.shape[-2], values.shape[-1])
    amax = int(np.abs(a).max()) if a.size else 0
    wmax = w.absmax if isinstance(w, IntMatrix) else (int(np.abs(w).max()) if w.size else 0)
    if k == 0 or amax == 0 or wmax == 0:
        return np.zeros(out_shape, dtype=np.int64)
    bound = amax * wmax
    blocks = _float_blocks(a, w, amax)
    if blocks is not None:
        _, kb, af, wf = blocks
        total = None
        for start in range(0, k, kb):
            part = np.matmul(af[..., start:start + kb], wf[..., start:start + kb, :])
            part = part.astype(np.int64)
            total = part if total is None else total + part
        return total
    if bound * k >= 1 << 63:
        raise OverflowError(f"exact_matmul: sums may reach {bound} * {k}, beyond int64; use wide_matmul")
    s = (amax.bit_length() + 1) // 2
    if amax > 1 and _block(k, max(amax >> s, (1 << s) - 1) * wmax, F64_EXACT) >= min(k, 256):
        # a = hi * 2**s + lo (sign-magnitude halves): two GEMMs of half-width operands, which
        # float64 blocks hold where the whole did not (numpy's int64 matmul has no BLAS: many
        # times slower; one split only, so never more than two GEMMs); |hi @ w| * 2**s and
        # |lo @ w| are at most amax * wmax * k < 2**63, and so is the exact sum, so the int64
        # shift and addition do not overflow
        sign = np.where(a < 0, -1, 1)
        mag = np.abs(a)
        return (exact_matmul(sign * (mag >> s), w) << s) + exact_matmul(sign * (mag & ((1 << s) - 1)), w)
    return np.matmul(a, values)


def exact_sums(a, w, acc_width):
    """``wrap_signed(exact_matmul(a, w), acc_width)`` as float64 (the same integers: each below
    ``2**53``), or None when a wrap may change a sum or no float holds the partial sums exactly.
    The blocks' float results are added in float64 (integers below ``2**53``: exact) and never
    pass through int64: what a float-reading ``dequantize_output`` needs, two passes fewer.
    Where only float64 blocks would hold the sums and the wide values are rare outliers (OVP
    W8A8), :func:`outlier_sums` gives them from float32 blocks and sparse corrections."""
    a = np.asarray(a, dtype=np.int64)
    amax = int(np.abs(a).max()) if a.size else 0
    wmax = w.absmax if isinstance(w, IntMatrix) else int(np.abs(np.asarray(w)).max(initial=0))
    k = a.shape[-1]
    # every sum within +-amax * wmax * k: below 2**(acc_width - 1), wrap_signed changes none
    if amax == 0 or wmax == 0 or amax * wmax * k >= 1 << min(acc_width - 1, 53):
        return None
    found = _float_type(k, amax, wmax)
    if (found is None or found[0] is np.float64) and isinstance(w, IntMatrix):
        total = outlier_sums(a, w)
        if total is not None:
            return total
    blocks = _float_blocks(a, w if isinstance(w, IntMatrix) else np.asarray(w, dtype=np.int64), amax)
    if blocks is None:
        return None
    _, kb, af, wf = blocks
    return _block_sums(af, wf, kb)


def _block_sums(af, wf, kb):
    """``af @ wf`` as float64, K in blocks of ``kb``, each block's GEMM widened and added."""
    k = af.shape[-1]
    total = np.matmul(af[..., :kb], wf[..., :kb, :]).astype(np.float64)
    for start in range(kb, k, kb):
        total += np.matmul(af[..., start:start + kb], wf[..., start:start + kb, :])
    return total


def outlier_sums(a, w):
    """Exact ``a @ w`` as float64 for an int64 (M, K) ``a`` and an :class:`IntMatrix` ``w``
    whose every sum of ``|a_k| |w_k|`` is below ``2**53`` (the caller's bound), from float32
    GEMMs: None unless both sides' values beyond :data:`SPLIT_NORMAL` are sparse
    (:data:`SPLIT_SPARSE`).

    With ``a = an + ao`` and ``w = wn + wo`` (the normal parts and the outliers), ``a @ w = an @ wn
    + ao @ w + an @ wo``: the three parts split the products ``a_k w_k`` into disjoint sets, so
    every partial sum of any part or of the parts together is at most ``sum |a_k| |w_k| <
    2**53`` in magnitude, an integer float64 holds exactly in any order. ``an @ wn`` is float32
    GEMMs of K blocks of 1,040 (each partial sum below ``1040 * 127**2 < 2**24``: exact integers
    in float32), widened and added; then each activation outlier's products with its weight row
    are added to its output row, and each weight outlier's products with its activation column
    (normal part) to its output column (:mod:`models.fast_outliers`: compiled loops)."""
    split = w.split
    if split is None or a.ndim != 2:
        return None
    an, count = fast_outliers.normal_part(a, SPLIT_NORMAL)
    if count * SPLIT_SPARSE > a.size:
        return None
    wn, wk, wcol, wv = split
    total = _block_sums(an, wn, _block(a.shape[1], SPLIT_NORMAL ** 2, F32_EXACT))
    if count:
        fast_outliers.add_row_outliers(a, SPLIT_NORMAL, count, w.values, total)
    if len(wk):
        fast_outliers.add_column_outliers(an, wk, wcol, wv, total)
    return total


def wide_matmul(a, w):
    """Exact ``a @ w`` of int64 matrices whose sums may leave int64, as limbs ``(hi, lo, s)``
    with ``a @ w = hi * 2**s + lo`` (int64 arrays): each operand splits into sign-magnitude
    halves of ``s / 2`` bits, the four half GEMMs are :func:`exact_matmul` s, the middle one's
    carry moves to ``hi``. Entries must be below ``2**62`` in magnitude."""
    a, w = np.asarray(a, dtype=np.int64), np.asarray(w, dtype=np.int64)
    bits = max(int(np.abs(a).max(initial=0)), int(np.abs(w).max(initial=0))).bit_length()
    half = (bits + 1) // 2
    mask = (1 << half) - 1

    def halves(x):
        sign = np.where(x < 0, -1, 1)
        mag = np.abs(x)
        return sign * (mag >> half), sign * (mag & mask)
    ah, al = halves(a)
    wh, wl = halves(w)
    mid = exact_matmul(ah, wl) + exact_matmul(al, wh)
    # mid = (mid >> half) * 2**half + (mid & mask) also for negative mid (arithmetic shift)
    lo = exact_matmul(al, wl) + ((mid & mask) << half)
    hi = exact_matmul(ah, wh) + (mid >> half)
    return hi, lo, 2 * half


def split_halves(x, shift):
    """Integer array ``x`` (int64, or float64 holding integers below ``2**53``) -> float64
    sign-magnitude halves ``(hi, lo)`` with ``x = hi * 2**shift + lo``, both exact integers."""
    x = np.asarray(x)
    if x.dtype == np.float64:
        # floor(|x| / 2**shift) and the remainder: exact (a power-of-two scaling, a floor and an
        # integer subtraction below 2**53)
        mag = np.abs(x)
        hi = np.floor(np.ldexp(mag, -shift))
        lo = mag - np.ldexp(hi, shift)
    else:
        x = np.asarray(x, dtype=np.int64)
        mag = np.abs(x)
        hi = (mag >> shift).astype(np.float64)
        lo = (mag & ((1 << shift) - 1)).astype(np.float64)
    neg = x < 0
    np.negative(hi, out=hi, where=neg)
    np.negative(lo, out=lo, where=neg)
    return hi, lo


def _fmax(x):
    return float(np.abs(x).max(initial=0.0))


def _imax(x):
    """The largest ``|x|`` of an int64 array (entries above ``-2**63``) as a Python int; 0 if empty."""
    return int(np.abs(x).max(initial=0))


def _half_bound(x, shift):
    """An upper bound of ``|hi| + |lo|`` (so of ``|hi|``, ``|lo|`` and ``|hi + lo|``) for the
    :func:`split_halves` of any integer of magnitude at most ``x``."""
    return (int(x) >> shift) + min(int(x), (1 << shift) - 1)


def split_matmul(a_halves, w_halves, shift, k, half_bounds=None):
    """Exact ``a @ w`` from :func:`split_halves` of both sides (``k``: at most this many nonzero
    products per sum), as limbs ``(hi, lo, 2 * shift)`` like :func:`wide_matmul`'s, in three
    float64 GEMMs (Karatsuba): ``hh = ah @ wh``, ``ll = al @ wl`` and ``ff = (ah + al) @ (wh + wl)``,
    whose middle term ``ff - hh - ll = ah @ wl + al @ wh``. Each GEMM is exact when its largest
    product times ``k`` is below ``2**53`` (every partial sum is then an integer float64
    represents, in any summation order); None when a bound fails (the caller takes another path).
    The halves need only be integers with ``a = ah * 2**shift + al`` (likewise ``w``);
    ``half_bounds``: upper bounds of ``|ah| + |al|`` and ``|wh| + |wl|`` the caller knows (then
    the halves' maxima are not searched for). ``shift`` <= 30 keeps ``lo`` inside int64 (for
    halves below ``2**(62 - shift - log2 k)``)."""
    (ah, al), (wh, wl) = a_halves, w_halves
    af, wf = ah + al, wh + wl
    if half_bounds is None:
        largest = max(_fmax(ah) * _fmax(wh), _fmax(al) * _fmax(wl), _fmax(af) * _fmax(wf))
    else:
        largest = half_bounds[0] * half_bounds[1]
    if largest * max(k, 1) >= F64_EXACT or shift > 30:
        return None
    hh = np.matmul(ah, wh).astype(np.int64)
    ll = np.matmul(al, wl).astype(np.int64)
    mid = np.matmul(af, wf).astype(np.int64) - hh - ll
    # mid = (mid >> shift) * 2**shift + (mid & mask), also for negative mid (arithmetic shift)
    return hh + (mid >> shift), ll + ((mid & ((1 << shift) - 1)) << shift), 2 * shift


def limbs_to_int(hi, lo, s):
    """``hi * 2**s + lo`` exactly, as a Python-int object array (int64 arithmetic where the
    value provably fits: ``|hi| < 2**(62 - s)`` and ``|lo| < 2**62``)."""
    out = np.empty(hi.shape, dtype=object)
    small = np.abs(hi) < (1 << max(0, 61 - s))
    out[small] = ((hi[small] << s) + lo[small]).astype(object)
    big = ~small
    if big.any():
        out[big] = (hi[big].astype(object) << s) + lo[big].astype(object)
    return out


def _grouped(a, w, group_size):
    """(M, K) and (K, N) -> (groups, M, G) and (groups, G, N), K zero-padded to whole groups."""
    (m, k), n = a.shape, w.shape[1]
    ng = groups_of(k, group_size)
    kp = ng * group_size
    ap = np.zeros((m, kp), dtype=np.int64)
    wp = np.zeros((kp, n), dtype=np.int64)
    ap[:, :k], wp[:k] = a, w
    return ap.reshape(m, ng, group_size).transpose(1, 0, 2), wp.reshape(ng, group_size, n)


# ---------------------------------------------------------------------------------------------
# per kind: weight codes -> the integer values the GEMM multiplies by (once per weight matrix),
# then (acts codes, those values, pe, extra) -> the golden's integers


def _codes(weights, pe):
    return int_matrix(weights)


def _int64(weights, pe):
    return np.asarray(weights, dtype=np.int64)


def lut_values(weights, pe):
    """LUT weights as the array multiplies them: ``2Q - (2**B - 1)`` (the offline flip)."""
    return int_matrix(2 * np.asarray(weights, dtype=np.int64) - ((1 << pe.weight_bits) - 1))


def ovp_values(weights, pe):
    """OVP weight codes (K x N) -> :class:`IntMatrix` of ``i << e`` of the decoded pairs (K
    even-padded x N; a transposed view, column-major: :func:`exact_matmul`'s sums are exact
    integers whatever the layout, and its float copy keeps the column order, so a row-major copy
    here would only cost a strided pass)."""
    return int_matrix(ovp_pair_values(np.asarray(weights).T, pe.mode).T)


def bitserial_values(weights, pe):
    """Bit-serial weight codes -> (integer values in code units (= the sum of the term planes),
    int8 where they fit: every format's levels do; a memo of :func:`_bitserial_weights`). The
    memo holds one entry, the last scale codes and the GEMM's weight operand made with them
    (an :class:`IntMatrix`): a linear's calls all share its quantiser's codes, so each call
    would rebuild the same (K x N) product and its bound and cast passes."""
    values = decode_weight_codes(weights, pe.weight_format)
    if values.size and -128 <= values.min() and values.max() <= 127:
        values = values.astype(np.int8)
    return values, {}


def int8_fast(acts, values, pe, extra=None):
    return wrap_signed(exact_matmul(acts, values), pe.acc_width)


def int8_float(acts, values, pe, extra=None):
    """:func:`int8_fast` as float64 (:func:`exact_sums`), or None."""
    return exact_sums(acts, values, pe.acc_width)


lut_fast = int8_fast


def ovp_fast(acts, values, pe, extra=None):
    return wrap_signed(exact_matmul(ovp_pair_values(acts, pe.mode), values), pe.acc_width)


def ovp_float(acts, values, pe, extra=None):
    """:func:`ovp_fast` as float64 (:func:`exact_sums`), or None."""
    return exact_sums(ovp_pair_values(acts, pe.mode), values, pe.acc_width)


def shiftadd_fast(acts, weights, pe, extra=None):
    acc = pe.acc_width
    if pe.group_size is None:
        return wrap_signed(exact_matmul(acts, weights), acc)
    params = default_params(np.shape(weights)[0], np.shape(weights)[1], pe) if extra is None else extra
    if not isinstance(params, DequantParams):
        raise ValueError(f"params must be DequantParams, not {type(params).__name__}")
    ag, wg = _grouped(acts, weights, params.group_size)
    if (params.groups, params.n) != (ag.shape[0], wg.shape[2]):
        raise ValueError(f"parameters are for {params.groups} groups x {params.n} columns, the GEMM "
                         f"has {ag.shape[0]} groups x {wg.shape[2]} columns")
    # the golden's wraps, each skipped where a bound of its operand (Python ints) shows it is the
    # identity (|v| < 2**(acc - 1)); every other step is the golden's int64 arithmetic
    half = 1 << (acc - 1)
    bound = _imax(ag) * _imax(wg) * ag.shape[2]                        # |A_g @ W_g|
    asum = wrap_signed(ag.sum(axis=2), acc)                            # (groups, M)
    total = _shiftadd_fused(ag, wg, asum, params, bound, half)
    if total is None:
        total = _shiftadd_steps(ag, wg, asum, params, bound, acc)
    if not params.requant:
        return total
    b = np.asarray(params.out_mult, dtype=np.int64)[None, :]
    c = np.asarray(params.out_shift, dtype=np.int64)[None, :]
    return np.clip((total * b + (np.int64(1) << (c - 1))) >> c, INT8_MIN, INT8_MAX)


def _shiftadd_fused(ag, wg, asum, params, bound, half):
    """:func:`_shiftadd_steps`' total from one float32 GEMM per group and the compiled
    post-array pass (:func:`models.fast_shiftadd.grouped_total`), or None unless the group sums
    (at most ``bound``) are exact in float32 and a bound shows that no wrap of the golden acts
    (the conditions under which :func:`_shiftadd_steps` skips every wrap) and every shift is at
    least 1."""
    zp = np.asarray(params.zero_point, np.int64)
    b, c = np.asarray(params.mult, dtype=np.int64), np.asarray(params.shift, dtype=np.int64)
    x_bound = bound + _imax(zp) * _imax(asum)                          # |raw - zp * asum|
    if bound >= F32_EXACT or x_bound >= half or c.size == 0 or int(c.min()) < 1 \
            or ag.shape[0] * ((x_bound * _imax(b) >> int(c.min())) + 2) >= half:
        return None
    raw = np.matmul(ag.astype(np.float32), wg.astype(np.float32))     # exact: sums below 2**24
    return fast_shiftadd.grouped_total(raw, asum, zp, b, c)


def _shiftadd_steps(ag, wg, asum, params, bound, acc):
    """The grouped shift-add total (before requantisation) in int64 numpy steps."""
    half = 1 << (acc - 1)
    raw = exact_matmul(ag, wg)                                         # (groups, M, N)
    if bound >= half:
        raw, bound = wrap_signed(raw, acc), half
    zp = np.asarray(params.zero_point, np.int64)
    x = raw - zp[:, None, :] * asum[:, :, None]
    bound += _imax(zp) * _imax(asum)                                   # |x|
    if bound >= half:
        x, bound = wrap_signed(x, acc), half
    b = np.asarray(params.mult, dtype=np.int64)[:, None, :]
    c = np.asarray(params.shift, dtype=np.int64)[:, None, :]
    x *= b                                                             # x is ours: in place
    x += np.int64(1) << (c - 1)
    x >>= c
    terms = x
    # |term| <= |x| b / 2**c + 1; while g of them stay below 2**(acc - 1), no running wrap acts
    if terms.shape[0] * ((bound * _imax(b) >> int(c.min(initial=1))) + 2) < half:
        return terms.sum(axis=0)
    total = np.zeros(raw.shape[1:], dtype=np.int64)
    for term in terms:                                                 # the golden wraps per group
        total = wrap_signed(total + term, acc)
    return total


def bitserial_fast(acts, values, pe, extra=None):
    return wrap_signed(exact_matmul(acts, _bitserial_weights(values, pe, extra)), pe.acc_width)


def bitserial_float(acts, values, pe, extra=None):
    """:func:`bitserial_fast` as float64 (:func:`exact_sums`), or None."""
    return exact_sums(acts, _bitserial_weights(values, pe, extra), pe.acc_width)


def _bitserial_weights(prepared, pe, extra):
    """The weight operand of :func:`bitserial_fast`'s one GEMM (:class:`IntMatrix`): the integer
    values, times their group's scale code on a grouped design; memoised in ``prepared``
    (:func:`bitserial_values`) for equal scale codes."""
    values, memo = prepared
    codes = None
    if pe.group_size is not None:
        k, n = np.shape(values)
        codes = default_scale_codes(k, n, pe) if extra is None else scale_codes_of(extra)
        groups = groups_of(k, pe.group_size)
        if np.shape(codes) != (groups, n):
            raise ValueError(f"scale codes are {np.shape(codes)}, the GEMM has {groups} groups "
                             f"of {pe.group_size} (K = {k}) x {n} columns")
        codes = np.array(codes, dtype=np.int64)
    entry = memo.get("entry")
    if entry is None or not (entry[0] is None if codes is None else
                             entry[0] is not None and np.array_equal(entry[0], codes)):
        memo.clear()
        entry = memo["entry"] = (codes, int_matrix(_scaled_values(values, codes, pe)))
    return entry[1]


def _scaled_values(values, codes, pe):
    """The integer values (int64), times their group's scale code when ``codes`` are given."""
    values = np.asarray(values, dtype=np.int64)
    if codes is None:
        return values
    # every wrap of the golden (each group's sum, its scaled value, each running total) is a
    # reduction modulo 2**acc_width, a ring homomorphism: the result is the exact
    # sum_g (A_g @ W_g) * c_g reduced once, and that sum is one GEMM of A with the weights scaled
    # by their group's codes (exact_matmul: float BLAS blocks while the sums fit, else int64; it
    # raises beyond int64, which 8-bit codes, scales and activations reach only past K = 2**41)
    return values * np.repeat(codes, pe.group_size, axis=0)[:values.shape[0]]


def ant_weight_values(weights, pe):
    """ANT weight codes -> the values of the PE's weight type (LSB units)."""
    return int_matrix(ant_values(weights, pe.weight_type))


def ant_fast(acts, values, pe, extra=None):
    return wrap_signed(exact_matmul(ant_values(acts, pe.act_type), values), pe.acc_width)


def ant_float(acts, values, pe, extra=None):
    """:func:`ant_fast` as float64 (:func:`exact_sums`), or None. Where float32 blocks hold the
    sums (every ANT design on real data), the codes are decoded straight to float32
    (:func:`ant_values_f32`) and their largest magnitude read from those: the operands, block
    and GEMMs :func:`exact_sums` takes, without its int64 values, ``abs`` and cast passes."""
    if isinstance(values, IntMatrix) and np.ndim(acts) == 2:
        af = ant_values_f32(acts, pe.act_type)
        amax = int(max(-af.min(), af.max())) if af.size else 0
        k = af.shape[1]
        if amax == 0 or values.absmax == 0 or amax * values.absmax * k >= 1 << min(pe.acc_width - 1, 53):
            return None                                     # as exact_sums
        found = _float_type(k, amax, values.absmax)
        if found is not None and found[0] is np.float32:
            return _block_sums(af, values.f32, found[1])
    return exact_sums(ant_values(acts, pe.act_type), values, pe.acc_width)


def _fp8_raw(hi, lo, s, k, fmt):
    """The FP8 golden's raw output from the exact sum ``hi * 2**s + lo`` (``hi`` None: ``lo``)
    of ``k`` products: int64 for accumulators of up to 64 bits, else Python ints. Below ``2**GROWTH_BITS`` products no
    sum reaches the accumulator's sign bit (each is below ``2**PRODUCT_BITS``), so the wrap is
    the identity there and is skipped."""
    width = get_format(fmt).acc_width
    if hi is None:                                      # the sum is int64 ``lo``
        if width <= 64:
            return wrap_signed(lo, width)
        exact = lo.astype(object)
    else:
        exact = limbs_to_int(hi, lo, s)
        if width <= 64:
            return wrap_signed(exact.astype(np.int64), width)
    return exact if k <= 1 << GROWTH_BITS else wrap_wide(exact, width)


#: the low limb's width in :func:`_fp8_float`: below ``2**32`` it is an exact float64
FLOAT_LIMB = 32


def _fp8_float(hi, lo, s, k, fmt):
    """The FP8 golden's raw output rounded to float64 (to nearest, ties to even: what
    :func:`models.fp8_gemm.raw_to_float` makes of the Python ints) from the exact sum
    ``hi * 2**s + lo`` of ``k`` products, without Python ints; None where that is not shown
    exact here (the caller takes :func:`_fp8_raw`). Up to ``2**GROWTH_BITS`` products the raw
    output is the exact sum (no wrap). It is regrouped as ``H * 2**32 + L`` with ``0 <= L < 2**32``
    (an arithmetic shift and a mask of ``lo``); with ``|H| < 2**53`` both terms are float64
    values, so the one IEEE addition ``fl(H * 2**32 + L)`` is the correctly rounded sum."""
    if hi is None or k > 1 << GROWTH_BITS or s != FLOAT_LIMB:
        return None if hi is not None or k > 1 << GROWTH_BITS else lo.astype(np.float64)
    big = hi + (lo >> FLOAT_LIMB)
    if big.size and int(np.abs(big).max()) >= F64_EXACT:
        return None
    out = np.ldexp(big.astype(np.float64), FLOAT_LIMB)
    out += (lo & ((1 << FLOAT_LIMB) - 1)).astype(np.float64)
    return out


#: :func:`split_halves` shift of the FP8 paths' wide sums: e5m2's aligned operands are below
#: ``2**32`` (``7 << 29``), L-Mul's weight stacks below ``2**34``: halves below ``2**18``,
#: products below ``2**36``, exact in float64 for K below ``2**17``
WIDE_SHIFT = 16


def _fp8_limbs(a, w):
    """Exact ``a @ w`` of aligned-operand-like integers: ``(None, int64 sum, 0)`` when every sum
    fits int64, else limbs ``(hi, lo, s)``."""
    k = a.shape[1]
    amax, wmax = int(np.abs(a).max(initial=0)), int(np.abs(w).max(initial=0))
    if amax * wmax * max(k, 1) < 1 << 62:
        return None, exact_matmul(a, w), 0
    limbs = split_matmul(split_halves(a, WIDE_SHIFT), split_halves(w, WIDE_SHIFT), WIDE_SHIFT, k,
                         half_bounds=(_half_bound(amax, WIDE_SHIFT), _half_bound(wmax, WIDE_SHIFT)))
    return wide_matmul(a, w) if limbs is None else limbs


def _wide(fmt):
    """True for the formats whose accumulator is wider than int64 (e5m2)."""
    return get_format(fmt).acc_width > 64


@functools.lru_cache(maxsize=None)
def _fp8_tables(fmt):
    """Per code 0..255: the aligned operand's :func:`_halves3` (float64: 16-bit halves and their
    sum), its magnitude, the aligned operand itself (float64: exact, below ``2**32``) and its
    exponent ``e`` (:func:`models.fp8_gemm.decode_fp8`'s, at least 1) twice: as the top of a
    span (0 for a zero operand) and as its bottom (255 for a zero operand); 0 for the codes that
    are not operands (:func:`check_fp8_codes` refuses them before any lookup)."""
    f = get_format(fmt)
    codes = np.arange(256)
    ok = f.valid(codes)
    aligned = np.zeros(256, dtype=np.int64)
    aligned[ok] = aligned_operand(codes[ok], fmt)
    e = np.maximum((codes >> f.mbits) & ((1 << f.ebits) - 1), 1).astype(np.uint8)
    nonzero = aligned != 0
    return (_halves3(aligned), np.abs(aligned), aligned.astype(np.float64),
            np.where(nonzero, e, 0).astype(np.uint8), np.where(nonzero, e, 255).astype(np.uint8))


@functools.lru_cache(maxsize=None)
def _fp8_aligned_table(fmt):
    """Per code 0..255: its aligned operand (0 for a code that is not an operand) and whether
    it is one."""
    codes = np.arange(256)
    ok = get_format(fmt).valid(codes)
    aligned = np.zeros(256, dtype=np.int64)
    aligned[ok] = aligned_operand(codes[ok], fmt)
    return aligned, ok


def aligned_codes(codes, fmt):
    """Exactly :func:`models.fp8_gemm.aligned_operand` (its values, dtype and errors): one
    lookup in the table it makes of the 256 codes; codes it refuses go through it to raise
    its error (tests/test_fast_paths2.py pins the two)."""
    codes = np.asarray(codes, dtype=np.int64)
    aligned, ok = _fp8_aligned_table(fmt)
    if codes.size and (codes.min() < 0 or codes.max() > 0xFF or not ok[codes].all()):
        return aligned_operand(codes, fmt)
    return aligned[codes]


@dataclass(frozen=True, eq=False)
class Fp8WideWeights:
    """e5m2 weight codes prepared once (sums past int64): the checked ``codes`` (K x N, uint8:
    every operand is looked up per code, :func:`_fp8_tables`), the largest aligned magnitude
    ``wmax`` and the largest exponent span of a column ``span`` (:func:`exponent_spans`)."""
    codes: np.ndarray
    wmax: int
    span: int


def exponent_spans(codes, fmt, axis):
    """Checked FP8 codes -> per row (``axis`` 1) or column (0): the largest minus the smallest
    exponent ``e`` of its nonzero operands (0 where every one is 0). Every nonzero aligned
    operand ``m << (e - 1)`` (``1 <= m < 2**(M + 1)``) is then a multiple of ``2**(lo - 1)``
    below ``2**(lo - 1 + span + M + 1)``, ``lo`` the smallest e."""
    top, bottom = _fp8_tables(fmt)[3:]
    return np.maximum(top[codes].max(axis=axis, initial=0).astype(np.int64)
                      - bottom[codes].min(axis=axis, initial=255), 0)


@dataclass(frozen=True, eq=False)
class Fp8Weights:
    """e4m3 weight codes prepared once (sums within int64): the aligned operands as float64
    ``values`` (exact integers: below ``2**18``) and their largest magnitude ``wmax``: the float
    path's GEMM operand as it is, the integer path's after an int64 cast."""
    values: np.ndarray
    wmax: int


def fp8_weight_values(weights, pe):
    """FP8 weight codes -> aligned operands ``(-1)**s * (m << (e - 1))`` (:class:`Fp8Weights`);
    for e5m2 (sums past int64) :class:`Fp8WideWeights`."""
    if not _wide(pe.format):
        aligned = aligned_codes(weights, pe.format)
        return Fp8Weights(aligned.astype(np.float64), int(np.abs(aligned).max(initial=0)))
    codes = check_fp8_codes("weight", weights, pe.format)
    mag = _fp8_tables(pe.format)[1]
    span = fast_fp8.column_span(codes, _fp8_tables(pe.format)[3]) if codes.size else 0   # exponent_spans' (axis 0)
    return Fp8WideWeights(codes.astype(np.uint8), int(mag[codes].max(initial=0)), span)


def _fp8_wide_operands(codes, values, fmt):
    """e5m2: the checked activation codes' and the weights' :func:`_halves3` (float64) and
    magnitude bounds."""
    (hi, lo, both), mag = _fp8_tables(fmt)[:2]
    w = values.codes
    return (hi[codes], lo[codes], both[codes]), (hi[w], lo[w], both[w]), int(mag[codes].max(initial=0)), values.wmax


def fp8_fast(acts, values, pe, extra=None):
    k = np.shape(acts)[1]
    if not _wide(pe.format):
        return _fp8_raw(*_fp8_limbs(aligned_codes(acts, pe.format), values.values.astype(np.int64)), k, pe.format)
    a3, w3, amax, wmax = _fp8_wide_operands(check_fp8_codes("activation", acts, pe.format), values, pe.format)
    limbs = split_matmul(a3[:2], w3[:2], WIDE_SHIFT, k,
                         half_bounds=(_half_bound(amax, WIDE_SHIFT), _half_bound(wmax, WIDE_SHIFT)))
    if limbs is None:                                   # not reached for K below 2**17
        w = w3[0].astype(np.int64) * (1 << WIDE_SHIFT) + w3[1].astype(np.int64)
        limbs = _fp8_limbs(aligned_operand(acts, pe.format), w)
    return _fp8_raw(*limbs, k, pe.format)


def fp8_exact_rows(codes, values, fmt):
    """(M,) bool: the rows of checked e5m2 activation codes whose sums one float64 GEMM of the
    aligned operands gives exactly (in any summation order, with or without FMA), against
    :class:`Fp8WideWeights` ``values``. With the row's exponent span ``ra`` and a column's ``rw``
    (:func:`exponent_spans`) every product is a multiple of ``2**(lo_m + lo_n - 2)`` below
    ``2**(lo_m + lo_n - 2 + ra + rw + 2 (M + 1))``, so every partial sum of the K products is
    such a multiple of magnitude below ``K * 2**(ra + rw + 2 (M + 1))`` times it: a float64 value
    when that factor is at most ``2**53``. A row is marked when this holds with the largest
    column span (real operands span far fewer exponents than the format's 30)."""
    return exponent_spans(codes, fmt, 1) <= _fp8_room(np.shape(codes)[1], values, fmt)


def _fp8_room(k, values, fmt):
    """The largest activation row span :func:`fp8_exact_rows` accepts against
    :class:`Fp8WideWeights` ``values`` for ``k`` products per sum: ``t - rw``, ``t`` the largest
    with ``K * 2**(t + 2 (M + 1)) <= 2**53`` (negative when no row is accepted)."""
    t = (F64_EXACT // max(k, 1)).bit_length() - 1 - 2 * (get_format(fmt).mbits + 1)
    return t - values.span


def _exponent_split(codes, e, room):
    """Checked codes (R x K) and their exponents ``e`` (0 for an operand whose every product is
    0) -> ``(low, high)``: each row's operands whose exponent is within ``room`` of the row's
    smallest nonzero one (and its zero operands), and the others, each with code 0 elsewhere
    (an operand whose every product is 0, in both formats): the two rows' sums add up to the
    row's own (:func:`fp8_split_rows`, :func:`lmul_split_rows`)."""
    e = np.asarray(e, dtype=np.int64)              # a uint8 table's exponents: 1 << 30 would wrap
    bottom = np.where(e != 0, e, 1 << 30).min(axis=1, keepdims=True)
    low = e <= bottom + max(room, 0)
    return np.where(low, codes, 0), np.where(low, 0, codes)


def fp8_split_rows(codes, values, fmt, room):
    """Checked e5m2 activation codes (R x K) -> ``(low, high, ok)``: :func:`_exponent_split`
    of each row at ``room`` (:func:`_fp8_room`), ``ok`` (R,) marking the rows whose both parts
    are :func:`fp8_exact_rows`. There each part's sum is an exact float64 value from one float64
    GEMM, so one IEEE addition of the two is the correctly rounded sum, as Karatsuba's ``h + l``
    is (a row spanning up to about twice the room: nearly all of MiniLM's FFN down projection
    rows, whose GELU outputs span up to 29 exponents)."""
    parts = _exponent_split(codes, _fp8_tables(fmt)[3][codes], room)
    return (*parts, (exponent_spans(parts[0], fmt, 1) <= room) & (exponent_spans(parts[1], fmt, 1) <= room))


def _fp8_narrow_float(acts, values, k, fmt):
    """e4m3's exact sums as float64: one float64 GEMM of the aligned operands (activation codes
    ``acts``, :class:`Fp8Weights`) when every partial sum is an integer below ``2**53`` (always:
    products below ``2**36``, at most ``2**GROWTH_BITS`` of them), so exact in any order, with or
    without FMA; + 0.0 turns a ``-0.0`` sum of zero products into the ``+0.0`` of the integer 0.
    Otherwise the int64 sums converted (:func:`_fp8_float`). The bound is tested with the
    format's largest aligned magnitude (no pass over the activations), and the code check and the
    float64 operands are one compiled pass (:func:`models.fast_fp8.checked_values`; the codes it
    refuses go through :func:`aligned_codes` for its error)."""
    table, ok = _fp8_aligned_table(fmt)
    if int(np.abs(table).max()) * values.wmax * max(k, 1) < F64_EXACT:
        a = fast_fp8.checked_values(acts, ok, table.astype(np.float64))
        if a is None:
            aligned_codes(acts, fmt)                                   # raises its error
        out = np.matmul(a, values.values)
        out += 0.0
        return out
    a = aligned_codes(acts, fmt)
    return _fp8_float(*_fp8_limbs(a, values.values.astype(np.int64)), k, fmt)


def fp8_float(acts, values, pe, extra=None):
    """:func:`fp8_fast`'s raw output as float64 (rounded to nearest, ties to even), or None:
    e4m3's exact sums from one float64 GEMM of the aligned operands (:func:`_fp8_narrow_float`);
    e5m2's from one such GEMM in the rows of :func:`fp8_exact_rows` (real operands nearly all are), in the other rows
    the exact sums of the two parts of :func:`fp8_split_rows` from the same GEMM added (real
    rows), else ``h + l`` from :func:`karatsuba_f64`: each one IEEE addition of two float64
    values, the correctly rounded sum; + 0.0 turns a ``-0.0`` sum of zero products into the
    ``+0.0`` of the integer 0."""
    k = np.shape(acts)[1]
    if k > 1 << GROWTH_BITS:
        return None
    if not _wide(pe.format):
        return _fp8_narrow_float(acts, values, k, pe.format)
    aligned, e = _fp8_tables(pe.format)[2:4]
    room = _fp8_room(k, values, pe.format)
    # fp8_exact_rows (kind 0) and fp8_split_rows (kind 1) with the code check in one pass
    parts = fast_fp8.row_parts(acts, _fp8_aligned_table(pe.format)[1], e, room)
    if parts is None:
        check_fp8_codes("activation", acts, pe.format)              # raises its error
    kinds, cuts = parts
    rest = np.flatnonzero(kinds == 2)
    if len(rest):
        a3, w3, amax, wmax = _fp8_wide_operands(np.asarray(acts, dtype=np.int64)[rest], values, pe.format)
        if not _karatsuba_fits(amax, wmax, k):
            return None
    # one GEMM (one pass over the weights, no row gathers or scatters of the exact rows): every
    # row in place, a split row as its low part, then the split rows' high parts below them
    m = kinds.shape[0]
    sums = np.matmul(fast_fp8.fill_parts(acts, e, aligned, kinds, cuts), aligned[values.codes])
    out = sums[:m]                                       # C-contiguous: the first m rows
    if m < len(sums):
        out[kinds == 1] += sums[m:]
    if len(rest):
        h, l = karatsuba_f64(a3, w3)
        h += l
        out[rest] = h
    out += 0.0
    return out


def _lmul_g(mbits):
    """``g[fa, fw]``: the L-Mul mantissa factor (see the module docstring), int64 table."""
    fa, fw = np.meshgrid(np.arange(1 << mbits), np.arange(1 << mbits), indexing="ij")
    c = fa + fw + 1
    return np.where(c < (1 << mbits), (1 << mbits) + c, 2 * c)


def lmul_weight_fields(weights, pe):
    """L-Mul weight codes -> (``(-1)**s * 2**ef`` with 0 for ef = 0, as float64 (exact: powers of
    two up to ``2**30``), mantissa field ``fw``): the two factors of a weight in the product."""
    f = get_format(pe.format)
    s, x, ef = lmul_fields(weights, pe.format)
    return np.where(s == 1, -1.0, 1.0) * (ef != 0) * np.ldexp(1.0, ef), x & ((1 << f.mbits) - 1)


def lmul_weight_values(weights, pe):
    """L-Mul weight codes, checked (the FP8 kind's code check: ValueError), as a C-ordered index
    array: :func:`_lmul_stacks` looks every stacked value up per code (:func:`_lmul_tables`)."""
    return np.ascontiguousarray(check_fp8_codes("weight", weights, pe.format), dtype=np.intp)


#: the stacks' parts, per table row: the value, and (for the "halves" stacks) its
#: :func:`split_halves` at :data:`WIDE_SHIFT`, and their sum (Karatsuba's third operand)
_LMUL_PARTS = ("value", "hi", "lo", "sum")


@functools.lru_cache(maxsize=None)
def _lmul_tables(fmt):
    """Per part of :data:`_LMUL_PARTS`, per field value ``c`` and code 0..255 (float64, 0 for a
    code that is not an operand): the activations' stack entry ``(-1)**s * 2**ef`` (0 for ef = 0)
    where the code's mantissa field is ``c``, else 0 (``(parts, count, 256)``), and the weights'
    ``(-1)**s * 2**ef * g[c][fw] * 2**(M - 2)`` (halves: the base's halves times that factor),
    with the largest magnitude of a base per code (``(256,)``) and g's largest factor. Every entry
    is an integer below ``2**53``: float64 holds it exactly."""
    f = get_format(fmt)
    count = 1 << f.mbits
    codes = np.arange(256)
    ok = f.valid(codes)
    s, x, ef = (codes >> 7) & 1, codes & 0x7F, (codes >> f.mbits) & ((1 << f.ebits) - 1)
    base = np.where(s == 1, -1.0, 1.0) * ((ef != 0) & ok) * np.ldexp(1.0, ef)
    hi, lo = split_halves(base, WIDE_SHIFT)
    field = x & (count - 1)
    g = (_lmul_g(f.mbits) << (f.mbits - 2)).astype(np.float64)     # (count, count), M >= 2
    parts = np.stack([base, hi, lo, hi + lo])                        # (4, 256)
    c = np.arange(count)[:, None]
    acts = np.where(field[None, None, :] == c[None], parts[:, None, :], 0.0)
    weights = parts[:, None, :] * g[:, field][None]
    return acts, weights, np.abs(base), float(g.max())


def _lmul_stack(table, codes, count, axis):
    """(count, 256) table, (R, K) codes -> the K-stack: along ``axis`` 1 (activations) an
    (R, count * K) array whose column block c is ``table[c][codes]``, along 0 (weights) a
    (count * R, K) array whose row block c is. One lookup per block, written in place."""
    r, k = codes.shape
    if axis == 1:
        out = np.empty((r, count, k))
        for c in range(count):
            np.take(table[c], codes, out=out[:, c, :], mode="wrap")   # codes are 0..255
        return out.reshape(r, count * k)
    out = np.empty((count, r, k))
    for c in range(count):
        np.take(table[c], codes, out=out[c], mode="wrap")
    return out.reshape(count * r, k)


def _lmul_shapes(acts, prepared):
    """``acts`` as an array; ValueError for shapes that do not chain."""
    codes = np.asarray(acts)
    if codes.ndim != 2 or prepared.ndim != 2 or codes.shape[1] != prepared.shape[0]:
        raise ValueError(f"shapes do not chain: acts {codes.shape} @ weights {prepared.shape}")
    return codes


def _lmul_checked(acts, prepared, pe):
    """(activation codes checked as int64, the largest activation base, the largest weight
    base, g's largest factor); ValueError for codes that are not operands or shapes that do not
    chain."""
    mag, gmax = _lmul_tables(pe.format)[2:]
    codes = check_fp8_codes("activation", _lmul_shapes(acts, prepared), pe.format)
    # the magnitude grows with the 7-bit field x = code & 0x7F (a valid code's exponent-mantissa
    # bits): the largest field present has the largest base
    amax = float(mag[int((codes & 0x7F).max(initial=0))])
    wmax = float(mag[int((prepared & 0x7F).max(initial=0))])
    return codes, amax, wmax, gmax


def _lmul_stacks(acts, prepared, pe):
    """The L-Mul GEMM's K-stacked operands (module docstring): ``("one", a, w)`` when every
    product times K is below ``2**53`` (e4m3: products below ``2**36``; one float64 GEMM is
    exact), else (e5m2: products up to ``2**64``) ``("halves", a_parts, w_parts, half_bounds,
    bound)``: both sides split at 16 bits before stacking, each as (hi, lo, hi + lo) (the
    activations' stack only places their halves; the weights' halves are the bases' (powers of
    two up to ``2**30``: halves below ``2**16``) times g, integers with ``w = wh * 2**16 + wl``
    (not the stack's own bit halves, which neither Karatsuba needs) whose ``|wh| + |wl|`` is at
    most g's largest times the bases' half bound), ``bound`` a bound of ``max|a| * max|w|``.
    Column block c of the activations' stack holds the activations whose mantissa field is c
    (else 0), row block c of the weights' ``g[c][fw]`` times theirs: each original k lands in
    exactly one block, so a sum has at most K nonzero products. Every value is looked up per
    code in :func:`_lmul_tables` (the same float64 values as the field-by-field products)."""
    count = 1 << get_format(pe.format).mbits
    codes, amax, wmax, gmax = _lmul_checked(acts, prepared, pe)
    a_tables, w_tables = _lmul_tables(pe.format)[:2]
    if amax * wmax * gmax * max(codes.shape[1], 1) < F64_EXACT:
        return "one", _lmul_stack(a_tables[0], codes, count, 1), _lmul_stack(w_tables[0], prepared, count, 0)
    a_parts = tuple(_lmul_stack(a_tables[p], codes, count, 1) for p in (1, 2, 3))
    w_parts = tuple(_lmul_stack(w_tables[p], prepared, count, 0) for p in (1, 2, 3))
    half_bounds = (_half_bound(amax, WIDE_SHIFT), gmax * _half_bound(wmax, WIDE_SHIFT))
    return "halves", a_parts, w_parts, half_bounds, int(amax) * int(wmax) * int(gmax)


def _lmul_limbs(acts, prepared, pe):
    """The L-Mul golden's exact sums from :func:`_lmul_stacks`: ``(None, int64 sums, 0)`` of the
    one GEMM, else the limbs of :func:`split_matmul` of the halves (three GEMMs)."""
    how, a, w, *bounds = _lmul_stacks(acts, prepared, pe)
    if how == "one":
        return None, np.matmul(a, w).astype(np.int64), 0
    limbs = split_matmul(a[:2], w[:2], WIDE_SHIFT, np.shape(acts)[1], half_bounds=bounds[0])
    if limbs is None:
        whole = lambda halves: (halves[0] * 2.0 ** WIDE_SHIFT + halves[1]).astype(np.int64)
        limbs = wide_matmul(whole(a), whole(w))
    return limbs


def lmul_fast(acts, prepared, pe, extra=None):
    """The L-Mul golden's raw output (:func:`_lmul_limbs`)."""
    return _fp8_raw(*_lmul_limbs(acts, prepared, pe), np.shape(acts)[1], pe.format)


def _exponent_span(ef, axis):
    """Largest minus smallest nonzero exponent field along ``axis`` (0 where every one is 0)."""
    nonzero = ef != 0
    top = np.where(nonzero, ef, 0).max(axis=axis, initial=0)
    bottom = np.where(nonzero, ef, 1 << 30).min(axis=axis, initial=1 << 30)
    return np.where(top > 0, top - bottom, 0)


def lmul_exact_rows(acts, prepared, pe):
    """(M,) bool: the rows whose L-Mul sums one float64 GEMM of the value stacks gives exactly
    (in any summation order, with or without FMA), for checked codes ``acts`` (M x K) and
    :func:`lmul_weight_values` ``prepared``. A product of row m and column n is
    ``(-1)**s * 2**(ef_a + ef_w) * g * 2**(M - 2)`` (0 where an ef is 0), g an integer up to g's
    largest ``gmax``: an integer multiple of ``2**(lo_m + lo_n)`` (the row's and the column's
    smallest nonzero ef; ``M >= 2``) below ``2**(lo_m + lo_n + ra_m + rw_n) * gmax`` (``ra``,
    ``rw``: the row's and the column's ef spans), so every partial sum of the K products is such
    a multiple, of magnitude at most ``K * gmax * 2**(ra_m + rw_n)`` times ``2**(lo_m + lo_n)``:
    a float64 value when that factor is at most ``2**53``. A row is marked when this holds with
    the largest column span (real operands span far fewer exponents than the formats' 29 / 14)."""
    return _lmul_spans(acts, pe) <= _lmul_room(np.shape(acts)[1], prepared, pe)


def _lmul_spans(acts, pe):
    f = get_format(pe.format)
    return _exponent_span((np.asarray(acts) >> f.mbits) & ((1 << f.ebits) - 1), 1)


@functools.lru_cache(maxsize=None)
def _lmul_ef(fmt):
    """Per code 0..255 its exponent field ``ef`` (0: every L-Mul product with it is 0)."""
    f = get_format(fmt)
    return (np.arange(256) >> f.mbits) & ((1 << f.ebits) - 1)


def _lmul_room(k, prepared, pe):
    """The largest activation row span :func:`lmul_exact_rows` accepts against these weights for
    ``k`` products per sum: ``t - rw``, ``t`` the largest with ``K * gmax * 2**t <= 2**53``
    (negative when no row is accepted)."""
    rw = fast_fp8.column_span(prepared, _lmul_ef(pe.format)) if np.size(prepared) else 0
    t = (F64_EXACT // (max(k, 1) * int(_lmul_tables(pe.format)[3]))).bit_length() - 1
    return t - rw


def lmul_split_rows(codes, prepared, pe, room=None):
    """Checked activation codes (R x K) -> ``(low, high, ok)``: each row split into two rows of
    codes whose L-Mul sums add up to its own, ``low`` its operands whose exponent field is within
    :func:`_lmul_room` of the row's smallest nonzero one (and its zero / subnormal operands),
    ``high`` the others, each with code 0 elsewhere (an ef = 0 operand: every product with it is
    0); ``ok`` (R,) marks the rows whose both parts are :func:`lmul_exact_rows`. There the two
    parts' sums are exact float64 values, so one IEEE addition of them is the correctly rounded
    sum (a row spanning up to about twice the room: real rows that one part would not hold).
    ``room``: :func:`_lmul_room` when the caller has it."""
    f = get_format(pe.format)
    room = _lmul_room(codes.shape[1], prepared, pe) if room is None else room
    parts = _exponent_split(codes, (codes >> f.mbits) & ((1 << f.ebits) - 1), room)
    return (*parts, (_lmul_spans(parts[0], pe) <= room) & (_lmul_spans(parts[1], pe) <= room))


def lmul_float(acts, prepared, pe, extra=None):
    """:func:`lmul_fast`'s raw output as float64 (rounded to nearest, ties to even), or None.
    Where every partial sum is an integer below ``2**53`` (e4m3: all rows, its sums are below
    ``2**47``; e5m2: the rows of :func:`lmul_exact_rows`) the exact sums from the compiled kernel
    :func:`models.fast_lmul.lmul_sums` (each product one integer addition of IEEE patterns; about
    half the time of e4m3's 8 stacked float64 GEMMs and of e5m2's 4); the other e5m2 rows' exact
    sums: the kernel's exact sums of the two parts of :func:`lmul_split_rows` added (real rows),
    else ``h + l`` from :func:`karatsuba_f64` of the stacked halves; each one IEEE addition of two
    float64 values (the correctly rounded sum; + 0.0 turns a ``-0.0`` sum of zero products into
    the ``+0.0`` of the integer 0). The kernel runs once per call, on rows written by
    :mod:`models.fast_fp8`'s compiled passes (the code check with the pattern lookup; e5m2 the
    row spans and splits too, :func:`models.fast_fp8.row_parts`); e4m3's bound holds for any
    codes (the format's largest bases), so no pass over the operands tests it."""
    codes = _lmul_shapes(acts, prepared)
    k, fmt = codes.shape[1], pe.format
    if k > 1 << GROWTH_BITS:
        _lmul_checked(acts, prepared, pe)                  # its errors first
        return None
    mag, gmax = _lmul_tables(fmt)[2:]
    a_pat, ok, ef = lmul_patterns(fmt)[0], _fp8_aligned_table(fmt)[1], _lmul_ef(fmt)
    if float(mag.max()) ** 2 * gmax * max(k, 1) < F64_EXACT:
        # every row exact whatever its codes (e4m3: the format's largest bases; the amax * wmax
        # test of lmul_exact_rows passes): the code check and the patterns in one pass
        ia = fast_fp8.checked_values(codes, ok, a_pat, LMUL_ROWS)
        if ia is None:
            check_fp8_codes("activation", codes, fmt)                 # raises its error
        return lmul_pattern_sums(ia, prepared, fmt)[:codes.shape[0]]
    room = _lmul_room(k, prepared, pe)
    # lmul_exact_rows (kind 0) and lmul_split_rows (kind 1) with the code check in one pass (a
    # row within amax * wmax's bound is within the span bound: kind 0)
    parts = fast_fp8.row_parts(codes, ok, ef, room)
    if parts is None:
        check_fp8_codes("activation", codes, fmt)                     # raises its error
    kinds, cuts = parts
    codes = np.asarray(codes, dtype=np.int64)
    rest = np.flatnonzero(kinds == 2)
    if len(rest):
        how, a, w, (ba, bw), bound = _lmul_stacks(codes[rest], prepared, pe)
        if ba * bw * max(k, 1) >= F64_EXACT or bound * max(k, 1) >= 1 << 84:
            return None
    # one kernel call (one lookup of the weights' patterns): every row in place, a split row as
    # its low part, then the split rows' high parts (each part's sums exact), then padding
    m = codes.shape[0]
    sums = lmul_pattern_sums(fast_fp8.fill_parts(codes, ef, a_pat, kinds, cuts, LMUL_ROWS), prepared, fmt)
    out = sums[:m]                                       # C-contiguous: the first m rows
    split = kinds == 1
    if split.any():
        out[split] += sums[m:m + int(split.sum())]
    if len(rest):
        h, l = karatsuba_f64(a, w)
        h += l
        h += 0.0
        out[rest] = h
    return out


def fp16_values_f32(codes, name):
    """``decode_fp16(codes, name).astype(np.float32)``: for large arrays one compiled lookup
    (:func:`models.fast_fp16.values_f32`), else (or for codes it refuses: the decode's error) the
    decode."""
    values = fast_fp16.values_f32(codes)
    return decode_fp16(codes, name).astype(np.float32) if values is None else values


def fp16_weight_values(weights, pe):
    """FP16 weight codes -> float32 values (exact: every FP16 value is a float32)."""
    return fp16_values_f32(weights, "weight")


def fp16_fast(acts, values, pe, extra=None):
    """The FP16 golden's float32 steps: ``acc = fl32(acc + a[:, k] * w[k])``, k in order from +0
    (the float32 product of FP16 values is exact, as the golden's float64 one), in the compiled
    loop :func:`models.fast_seq.fp32_steps`."""
    return fp32_steps(fp16_values_f32(acts, "activation"), values)


def gobo_weight_codes(weights, pe):
    """GOBO weight codes -> (centroid index, outlier flag, a memo of :func:`gobo_fast`'s per-table
    operands). The memo holds one entry, the last table (a :class:`GoboDictionary`) and what the
    call made of it with these weights: a linear's calls all share one table (its quantiser's), so
    each call would rebuild the same float32 weights and outlier arrays."""
    index, outlier = gobo_weight_fields(weights)
    return index.astype(np.uint8), outlier, {}              # 3-bit indices: one byte each


def _gobo_table_operands(index, outlier, table):
    """(float32 weights: each its centroid's value, an outlier-flagged one 0; the outliers'
    ``k``, ``n`` in the golden's order (per column, increasing k) and float32 values, or None
    without outliers)."""
    # the centroids as float32 (FP16 values: exact), looked up, outlier-flagged weights +0: the
    # values of np.where(outlier, 0.0, values[index]).astype(np.float32) in two passes
    w = table.values.astype(np.float32)[index]
    np.putmask(w, outlier, np.float32(0.0))
    if not table.outliers:
        return w, None
    o = table.outlier_lists                                 # sorted by (n, k): the golden's order
    return w, (np.asarray(o["k"], dtype=np.int64), np.asarray(o["n"], dtype=np.int64),
               decode_fp16(o["value"], "outlier").astype(np.float32))


def gobo_fast(acts, prepared, pe, extra=None):
    """The GOBO golden's FP32 words (:func:`_gobo_sums`) as int64."""
    return _gobo_sums(acts, prepared, extra).view(np.int32).astype(np.int64)


def gobo_float(acts, prepared, pe, extra=None):
    """:func:`gobo_fast`'s words as the float64 values they stand for (what
    :func:`models.fp16_gemm.decode_fp32` makes of them: every float32 is a float64), without the
    int64 words."""
    return _gobo_sums(acts, prepared, extra).astype(np.float64)


def _gobo_sums(acts, prepared, extra):
    """The GOBO array's float32 steps: :func:`fp32_steps` with each weight its centroid's value and
    an outlier-flagged weight 0, then step 5's outliers, as float32 accumulators. The golden
    leaves the accumulator unchanged on an outlier step; adding the product ``+-0`` does the same, because the accumulator is never ``-0`` (it starts
    at +0, and an RNE sum is ``-0`` only when both terms are) and never infinite or NaN (every
    product is below ``2**32``), and ``x + (+-0) = x`` for every other float32 ``x``. The weights
    and outlier arrays made of a table are memoised in ``prepared`` (:func:`gobo_weight_codes`),
    for an equal table (the same centroids and outliers) only, and so is the outlier check once
    it has passed; the errors and their order are the unmemoised ones."""
    index, outlier, memo = prepared
    table = DEFAULT_DICTIONARY if extra is None else extra
    entry = memo.get("entry")
    if entry is None or entry[0] != table:
        memo.clear()
        entry = memo["entry"] = (table, *_gobo_table_operands(index, outlier, table))
    _, w, listed = entry
    a = decode_fp16(acts, "activation").astype(np.float32)
    acc = fp32_sums(a, w)
    if listed is None:
        return acc
    # step 5: the golden's additions (per column, increasing k), compiled (models.fast_seq)
    if not memo.get("checked"):
        # the listed positions as arrays (nonnegative: the dictionary's check): all inside and
        # flagged is what check_gobo_outlier_mask passes; only otherwise does it run, for its
        # error (its own test builds index arrays from the table's Python tuples: about 10 ms a
        # linear, 1 to 2 CPU s of a SmolLM2 --quick run)
        ks, ns, _ = listed
        if not (ks.max() < outlier.shape[0] and ns.max() < outlier.shape[1] and outlier[ks, ns].all()):
            check_gobo_outlier_mask(outlier, table)
        memo["checked"] = True
    return add_outlier_values(acc, a, *listed)


def wfp16_weight_values(weights, pe):
    """wfp16 weight codes -> ``i << e_w`` in code units (the golden's weight operand)."""
    return wfp16_weight_operand(weights, pe.weight_format)


def _split_sums(a, w):
    """``a @ w = hi * 2**WFP16_SPLIT + lo`` for |a| < 2**(2 * WFP16_SPLIT): ``hi`` and ``lo`` the
    exact GEMMs of ``a``'s sign-magnitude halves (:func:`split_halves`), int64 (each below 2**20
    times |w| < 2**16: float64 BLAS blocks, :func:`exact_matmul`)."""
    hi, lo = split_halves(a, WFP16_SPLIT)
    return exact_matmul(hi, w), exact_matmul(lo, w)


@functools.cache
def _wfp16_activation_table():
    """``wfp16_activation_operand`` of every FP16 code 0..65535 (int64; 0 at the infinity / NaN
    codes, which it refuses)."""
    codes = np.arange(1 << 16, dtype=np.int64)
    return wfp16_activation_operand(np.where((codes & 0x7C00) == 0x7C00, 0, codes))


def wfp16_activations(acts):
    """``wfp16_activation_operand(acts)``, the same int64 values, looked up per code in its own
    table (one gather instead of the decode's passes: it is an element-wise function of a 16-bit
    code), after the decode's own check (:func:`models.bitserial_fp16.check_fp16_codes`: its
    errors, in its order)."""
    return _wfp16_activation_table()[check_fp16_codes(acts)]


def _wfp16_operands(acts, values, pe, extra):
    """(activation operand, weight operand with the group codes folded in, bound of ``|a @ w|``)
    for :func:`wfp16_fast` and :func:`wfp16_float`."""
    a = wfp16_activations(acts)
    w = np.asarray(values, dtype=np.int64)
    k, n = w.shape
    if a.ndim != 2 or a.shape[1] != k:
        raise ValueError(f"shapes do not chain: acts {a.shape} @ weights {w.shape}")
    if pe.group_size is None:
        if extra is not None:
            raise ValueError("the per-channel wfp16 design (group_size None) takes no parameters")
    else:
        codes = (wfp16_default_scale_codes(k, n, pe) if extra is None else
                 np.asarray(scale_codes_of(extra), dtype=np.int64))
        if codes.shape != (groups_of(k, pe.group_size), n):
            raise ValueError(f"scale codes are {codes.shape}, the GEMM has {groups_of(k, pe.group_size)} "
                             f"groups of {pe.group_size} (K = {k}) x {n} columns")
        w = w * np.repeat(codes, pe.group_size, axis=0)[:k]
    return a, w, int(np.abs(a).max(initial=0)) * int(np.abs(w).max(initial=0)) * k


def wfp16_fast(acts, values, pe, extra=None):
    """The wfp16 golden's raw output. With groups (int4 / int8 weights only: ``acc_width`` 60 / 64), ``sum_g wrap(wrap(S_g) * c_g)`` (all wraps to
    ``acc_width`` <= 64) is ``sum_g S_g * c_g`` modulo ``2**acc_width`` (wrapping is a ring
    homomorphism): one GEMM of the activations with each weight times its group's code. Up to
    64 bits the exact sum is needed only modulo ``2**64`` (uint64 arithmetic wraps by
    definition), then wrapped as the golden wraps; wider (ovp4: 65 bits) the exact limbs are
    assembled as Python ints, as the golden returns them."""
    a, w, bound = _wfp16_operands(acts, values, pe, extra)
    acc = pe.acc_width
    if bound < 1 << 62:
        # real activations are far below FP16's range: the exact sum fits int64, one (K-blocked)
        # exact_matmul instead of two for the halves; below 2**62 <= 2**(acc - 1) no wrap for
        # acc > 64 (Python ints, as the golden returns them)
        exact = exact_matmul(a, w)
        return wrap_signed(exact, acc) if acc <= 64 else exact.astype(object)
    hi, lo = _split_sums(a, w)
    if acc <= 64:
        v = (hi.view(np.uint64) << np.uint64(WFP16_SPLIT)) + lo.view(np.uint64)
        return wrap_signed(v.view(np.int64), acc)
    exact = limbs_to_int(hi, lo, WFP16_SPLIT)
    # below 2**(acc - 1) in magnitude the wrap is the identity
    return exact if bound < 1 << (acc - 1) else wrap_wide(exact, acc)


def wfp16_float(acts, values, pe, extra=None):
    """:func:`wfp16_fast`'s raw output as float64 (rounded to nearest, ties to even, as
    ``wfp16_dequantise`` rounds the golden's Python ints): for the 65-bit (ovp4) accumulator
    when the exact sums fit int64 (below ``2**62``: no wrap); up to 64 bits :func:`exact_sums`
    (its float blocks' sums added in float64, never through int64: the same integers where every
    sum is below ``2**53`` and no wrap acts, which it checks), else None (the int64 output)."""
    a, w, bound = _wfp16_operands(acts, values, pe, extra)
    if pe.acc_width <= 64:
        return exact_sums(a, w, pe.acc_width)
    return exact_matmul(a, w).astype(np.float64) if bound < 1 << 62 else None


def mx_weight_lanes(weights, pe):
    """MX weight lane codes (K' x N) -> (the codes, element integers (N, steps, sub_block) or None,
    slot codes (N, steps), their :func:`lane_extremes`, a memo of :func:`mx_fast`'s weight operand).
    The memo holds one entry, the last (block layout, scale shift) and the block GEMMs' weight
    operand made for it: a linear's calls all share one layout (the quantisers') and shift (the
    weights' largest scale exponent), so each call would rebuild the same (K x N) array.
    The slot codes and extremes come from one row-wise pass over the codes
    (:func:`models.mx_gemm.weight_rows`, kept: the operand check made it) where it decodes them,
    and then the integers are None: :func:`mx_fast` builds its operand from the codes
    (:func:`_mx_weight_integers` when it needs the integers themselves)."""
    fast = weight_rows(weights, pe)
    if fast is not None:
        return weights, None, fast[0], fast[1], {}
    w_int, w_sl = decoded_lanes(weights, pe, "weight", transpose=True)
    return weights, w_int, w_sl, fast_lane_extremes(w_int), {}


def _mx_weight_integers(weights, w_int, pe):
    """The prepared weights' element integers (N, steps, sub_block): kept, or decoded now."""
    return w_int if w_int is not None else decoded_lanes(weights, pe, "weight", transpose=True)[0]


def _mx_weight_operand(weights, w_int, pe, end_lanes, mult, dtype):
    """:func:`mx_fast`'s weight operand, (blocks, block, N) of ``dtype``: the blocks of the
    weights' integers times ``mult`` (blocks, N) in float64, cast; from the codes in one compiled
    pass (:func:`models.fast_mx_operands.weight_operand`) when the integers were not kept."""
    if w_int is None:
        values = _element_table(pe.mx_format)[0].astype(np.float64)     # exact: below 2**53
        return weight_operand(weights, values, pe, end_lanes, mult, dtype)
    w_blk = _blocks(w_int, end_lanes, pe).transpose(0, 2, 1)
    return (w_blk * mult[:, None, :]).astype(dtype, copy=False)


def _blocks(x_int, end_lanes, pe):
    """(R, steps, sub_block) element integers -> (blocks, R, block) float64, each block's lanes
    (up to and including its ending lane) in order, zero-padded to the full block; the lanes
    after the last end (an open block, left out of the golden's output) dropped."""
    rows = x_int.shape[0]
    starts = np.r_[0, end_lanes[:-1] + 1]
    lengths = end_lanes - starts + 1
    used = int(end_lanes[-1]) + 1
    if np.all(lengths == pe.steps_per_block):
        # every block whole (the quantisers' layout): its lanes are consecutive, so the blocks
        # are a reshape of the lanes, converted in one pass (the same values as the padding)
        return x_int[:, :used].reshape(rows, len(end_lanes), -1).astype(np.float64).transpose(1, 0, 2)
    which = np.repeat(np.arange(len(end_lanes)), lengths)
    pos = np.arange(used) - np.repeat(starts, lengths)
    padded = np.zeros((rows, len(end_lanes), pe.steps_per_block, pe.sub_block), dtype=np.float64)
    padded[:, which, pos] = x_int[:, :used]
    return padded.reshape(rows, len(end_lanes), -1).transpose(1, 0, 2)


def round_to_odd_sum(h, l):
    """Float64 ``h + l`` rounded to odd (exactly, if representable; else the neighbour whose last
    significand bit is 1): TwoSum's error term tells whether and which way RNE rounded. A later
    rounding of the result to float32 is then the correctly rounded (RNE) ``h + l``, as the MX
    golden's 53-bit round-to-odd integers give (53 >= 2 * 24 + 2)."""
    s = h + l
    bb = s - h
    err = (h - (s - bb)) + (l - bb)
    bits = s.view(np.int64)
    # an inexact even s moves one step to its odd neighbour on the exact sum's side: on the
    # IEEE bit pattern of a finite nonzero float (s is not 0 when err is not) +1 is the next
    # larger magnitude (for an even pattern: setting bit 0), -1 the next smaller, also across
    # a power of two
    nudge = err != 0
    nudge &= (bits & 1) == 0
    up = (err > 0) == (s > 0)
    bits |= nudge & up
    bits -= nudge & ~up
    return s


#: rows x columns of the output handled at once by :func:`mx_fast`: its float64 temporaries
#: (a tile each) stay in cache through the block's elementwise steps
MX_TILE_ELEMENTS = 1 << 16


def karatsuba_f64(a_halves, w_halves):
    """Exact ``a @ w`` as two float64 arrays ``(h, l)`` with ``a @ w = h + l`` (``h`` a multiple
    of ``2**32``), from :func:`_halves3` of both sides (16-bit halves ``hi``, ``lo`` and their
    sum), when the caller has checked that ``k`` times the product of the two sides' half bounds
    (:func:`_half_bound`) is below ``2**53`` and ``k * max|a| * max|w| < 2**84``. All in float64,
    every value below an integer float64 holds exactly: Karatsuba's three GEMMs ``hh``, ``ll``,
    ``ff`` (each sum below ``2**53``, as in :func:`split_matmul`; so is ``ff - hh``, which is
    ``sum (ah wl + al wh + al wl)``, bounded by the same product of half bounds); the middle
    term ``mid = ff - hh - ll`` splits at 16 bits (floor), its high part joins ``hh``:
    ``S = H * 2**32 + L`` with ``H = hh + floor(mid / 2**16)`` (``|H| <= |S| / 2**32 + 1 < 2**53``)
    and ``L = (mid mod 2**16) * 2**16 + ll`` (below ``2**53``); ``h = H * 2**32``, ``l = L``."""
    (ah, al, af), (wh, wl, wf) = a_halves, w_halves
    hh = np.matmul(ah, wh)
    ll = np.matmul(al, wl)
    mid = np.matmul(af, wf)
    mid -= hh
    mid -= ll
    # products by powers of two (exact; faster than ldexp)
    carry = np.floor(mid * 2.0 ** -WIDE_SHIFT)
    mid -= carry * 2.0 ** WIDE_SHIFT                    # 0 <= mid < 2**16
    hh += carry
    mid *= 2.0 ** WIDE_SHIFT
    ll += mid
    hh *= 2.0 ** (2 * WIDE_SHIFT)
    return hh, ll


def _karatsuba_fits(abound, wbound, k):
    """:func:`karatsuba_f64`'s bounds for ``|a| <= abound``, ``|w| <= wbound`` and ``k`` products
    per sum."""
    return (_half_bound(abound, WIDE_SHIFT) * _half_bound(wbound, WIDE_SHIFT) * max(k, 1) < F64_EXACT
            and int(abound) * int(wbound) * max(k, 1) < 1 << 84)


def _mx_wide_sums(a_halves, w_halves):
    """E5M2 blocks' exact sums ``S`` (up to 71 bits) rounded to odd in float64, from
    :func:`_halves3` of one block's elements, ``(R, block)`` and ``(block, N)``:
    :func:`round_to_odd_sum` of :func:`karatsuba_f64`'s exact parts."""
    return round_to_odd_sum(*karatsuba_f64(a_halves, w_halves))


def _halves3(x):
    """:func:`split_halves` at 16 bits and their sum (Karatsuba's third operand)."""
    hi, lo = split_halves(x, WIDE_SHIFT)
    return hi, lo, hi + lo


def span_bits(x_blk):
    """(blocks, R, block) float64 integers -> (blocks, R) int64: the bits of each block row's
    integers once their common trailing zeros are dropped, ``bitlen(max |x|) - log2(lowest set
    bit of any nonzero |x|)`` (0 for an all-zero row). Every element of the row is then an integer
    multiple of ``2**q`` (``q`` the lowest set bit's position) below ``2**(q + span)`` in magnitude.
    The definition; :func:`lane_span_bits` computes the same from the lanes."""
    mag = np.abs(x_blk).astype(np.int64)                 # exact: the elements are integers below 2**53
    top = mag.max(axis=2)
    low = np.where(mag != 0, mag & -mag, np.int64(1) << 62).min(axis=2)
    return _span(top, low)


def _span(top, low):
    span = np.frexp(top.astype(np.float64))[1] - (np.frexp(low.astype(np.float64))[1] - 1)
    return np.where(top != 0, span, 0)


def lane_extremes(x_int):
    """(R, steps, sub_block) element integers -> per lane (R, steps): the largest magnitude and
    the lowest set bit of any nonzero magnitude (``2**62`` for none). The definition;
    :func:`models.fast_mx.lane_extremes` computes the same in one compiled pass."""
    mag = np.abs(x_int)
    low = np.where(mag != 0, mag & -mag, np.int64(1) << 62)
    return mag.max(axis=2), low.min(axis=2)


def lane_span_bits(extremes, end_lanes):
    """:func:`span_bits` of the blocks :func:`_blocks` makes (each block the lanes up to and
    including its ending lane; lanes after the last end dropped), from :func:`lane_extremes`:
    (blocks, R)."""
    top, low = (x[:, :int(end_lanes[-1]) + 1] for x in extremes)
    starts = np.r_[0, end_lanes[:-1] + 1]
    return _span(np.maximum.reduceat(top, starts, axis=1), np.minimum.reduceat(low, starts, axis=1)).T


def mx_exact_rows(ra, rw, block):
    """(blocks, M) bool: the block rows, of activation spans ``ra`` ((blocks, M), :func:`span_bits`),
    whose float64 GEMM with every weight column, of spans ``rw`` ((blocks, N)), is exact (in any
    summation order, with or without FMA). In row m and column n every product ``a_k w_k`` is an
    integer multiple of ``2**(q_m + q_n)`` below ``2**(q_m + q_n + ra_m + rw_n)``, so every
    partial sum of the block's at most ``block`` products is a multiple of that power of two
    below ``2**(q_m + q_n + ra_m + rw_n + ceil(log2 block))``: a float64 value when the span part
    ``ra_m + max_n rw_n + ceil(log2 block)`` is at most 53. Multiplying the operands by powers of
    two (the folded scales) moves every value by the same factor."""
    return ra + rw.max(axis=1, initial=0)[:, None] + (block - 1).bit_length() <= 53


#: exponent of float32's smallest subnormal, and the largest exponent e with (2**24 - 1) * 2**e
#: below float32's maximum
F32_MIN_EXP, F32_MAX_EXP = -149, 127 - 24


def mx_f32_shift(bound, a_top, w_top, a_exp, w_exp):
    """The power of two ``2**c`` moved from the weights' scales to the activations' under which
    :func:`mx_fast`'s block GEMMs on the scale-folded operands are exact in float32, or None.

    ``bound``: a bound on the magnitude of every block sum's integer ``sum (a_int a_fac)(w_int
    w_fac)`` (so of every partial sum, in any order); ``a_top``, ``w_top``: bounds on each side's
    integers ``|x_int x_fac|``; ``a_exp``, ``w_exp``: the scales' power-of-two exponents (``pa =
    a_fac * 2**a_exp``, ``pw`` alike). With the operands ``a_int pa 2**c`` and ``w_int pw 2**-c``
    (the products unchanged) every operand and every partial sum is an integer below ``2**24``
    times ``2**e``, ``e`` the operand's exponent or the two's sum: a float32 value exactly when
    ``-149 <= e <= 127 - 24``. Then a float32 GEMM gives the float64 GEMM's (exact) values, whose
    cast to float32 (the golden's) is the identity. ``c`` puts the weights' largest exponent at 0."""
    if not (bound < F32_EXACT and a_top < F32_EXACT and w_top < F32_EXACT):
        return None
    lo_a, hi_a, lo_w, hi_w = int(a_exp.min()), int(a_exp.max()), int(w_exp.min()), int(w_exp.max())
    c = hi_w
    lows, highs = (lo_a + c, lo_w - c, lo_a + lo_w), (hi_a + c, hi_w - c, hi_a + hi_w)
    return c if min(lows) >= F32_MIN_EXP and max(highs) <= F32_MAX_EXP else None


def mx_fast(acts, prepared, pe, extra=None):
    """The MX golden's FP32 words (:func:`_mx_sums`) as int64."""
    return _mx_sums(acts, prepared, pe).view(np.int32).astype(np.int64)


def mx_float(acts, prepared, pe, extra=None):
    """:func:`mx_fast`'s words as the float64 values they stand for (what
    :func:`models.mx_gemm.decode_fp32` makes of them: every float32 is a float64), without the
    int64 words (:func:`models.mx_gemm.mx_dequantise` reads a float array as those values)."""
    return _mx_sums(acts, prepared, pe).astype(np.float64)


def _mx_sums(acts, prepared, pe):
    """The MX golden's FP32 accumulators (float32 values; their bit patterns are the words): every block's exact sum ``S`` (a float64 GEMM, exact while
    ``|S| * m_a * m_w < 2**53``, or, for E8M0 scales, in every block row whose integers' bit
    spans fit (:func:`mx_exact_rows`: E5M2's elements reach ``2**32`` but a real block's
    elements span far fewer bits); the other rows' E5M2 sums, up to 71 bits, are
    :func:`_mx_wide_sums`: limbs rounded to odd in float64), times the power-of-two (E8M0) or
    ``m * 2**q`` (E4M3) scales in float64 (folded into the GEMM's operands on the exact path;
    exact either way: no float64 overflow or underflow in reach; a float32 GEMM where every
    operand and partial sum is a float32 value, :func:`mx_f32_shift`), clipped and cast to float32
    as the golden does, then added to the float32 accumulator one block at a time in K order.
    The output is done in tiles of rows (:data:`MX_TILE_ELEMENTS`), each through all blocks in
    order: every element still gets its blocks' values added in K order."""
    fmt = pe.mx_format
    weights, w_int, w_sl, w_extremes, memo = prepared
    a_int, a_sl = decoded_lanes(acts, pe, "activation")
    if a_sl.shape[1] != w_sl.shape[1]:
        raise ValueError(f"acts have {a_sl.shape[1]} lanes, weights {w_sl.shape[1]}")
    ends = block_ends(a_sl, w_sl, pe)
    m, n = a_int.shape[0], w_sl.shape[0]
    end_lanes = np.flatnonzero(ends)
    if len(end_lanes) == 0 or m == 0 or n == 0:
        return np.zeros((m, n), dtype=np.float32)
    a_fac, a_exp = mx_scale_parts(a_sl[:, end_lanes], fmt, "activation")
    w_fac, w_exp = mx_scale_parts(w_sl[:, end_lanes], fmt, "weight")
    _, x0 = scale_terms(fmt)
    pa = np.ldexp(a_fac.astype(np.float64), a_exp - x0).T            # (blocks, M)
    pw = np.ldexp(w_fac.astype(np.float64), w_exp).T                  # (blocks, N)
    # the float64 blocks of the activations: only for wide rows (the GEMM operand is made in
    # one compiled pass, models.fast_mx_operands.act_operand)
    a_blk = functools.cache(lambda: _blocks(a_int, end_lanes, pe))
    # the largest magnitudes from the lanes' extremes (one compiled pass; the weights' prepared)
    a_extremes = fast_lane_extremes(a_int)
    amax, wmax = int(a_extremes[0].max()), int(w_extremes[0].max())
    bound = amax * wmax * pe.block * int(a_fac.max()) * int(w_fac.max())
    if bound < F64_EXACT:
        exact = np.ones((len(end_lanes), m), dtype=bool)
    elif fmt.scale != "e8m0" or not _karatsuba_fits(amax, wmax, pe.block):
        # E4M3 block scales only come with NVFP4's small sums (below 2**20): not reached
        return mx_gemm(acts, weights, pe).astype(np.int32).view(np.float32)
    else:
        exact = mx_exact_rows(lane_span_bits(a_extremes, end_lanes),
                              lane_span_bits(w_extremes, end_lanes), pe.block)
    # the scales folded into the operands: within a block row m and column n share one factor,
    # so on an exact row every partial sum is an exact float64 times it (no float64 overflow or
    # underflow in reach): the GEMM gives S * pa * pw exactly
    shift = mx_f32_shift(bound, amax * int(a_fac.max()), wmax * int(w_fac.max()), a_exp - x0, w_exp)
    key = (end_lanes.tobytes(), shift)
    if key not in memo:
        # the weight operand depends on the weights, the block layout and the shift only
        memo.clear()
        memo[key] = (_mx_weight_operand(weights, w_int, pe, end_lanes, pw, np.float64) if shift is None
                     else _mx_weight_operand(weights, w_int, pe, end_lanes, pw * 2.0 ** -shift, np.float32))
    w_op = memo[key]
    if shift is None:
        a_op = act_operand(a_int, pe, end_lanes, pa, np.float64)
    else:
        # sums below 2**24 (MXFP6, MXFP4, MXINT8, NVFP4 on real data): the same exact values
        # from a float32 GEMM, about twice as fast (every row exact: no wide sums below); the
        # power-of-two moves are exact in float64
        a_op = act_operand(a_int, pe, end_lanes, pa * 2.0 ** shift, np.float32)
    acc = np.zeros((m, n), dtype=np.float32)
    # the golden's clip to +-max finite FP32 is the identity when no block value can reach it:
    # |S * pa * pw| <= block * max|a| * max|w| * max(pa) * max(pw) (the rounded-to-odd wide
    # sums exceed |S| by less than one float64 ulp: the factor 2 is the margin)
    clip = float(amax * wmax * pe.block) * float(pa.max()) * float(pw.max()) * 2 >= MX_FP32_MAX
    if exact.all():
        # every block sum exact in the operands' type: the compiled loop, the same values
        # (models.fast_mx_blocks; a sum reaching inf is IEEE's, as the loop's below)
        return accumulate_blocks(a_op, w_op, acc, clip, MX_FP32_MAX)
    # some block sum may not be exact: the weights' Karatsuba limbs for those rows below
    w_halves = _halves3(_blocks(_mx_weight_integers(weights, w_int, pe), end_lanes, pe).transpose(0, 2, 1))
    rows = max(1, MX_TILE_ELEMENTS // n)
    with np.errstate(over="ignore"):                                  # the sum may reach inf
        for r0 in range(0, m, rows):
            r = slice(r0, r0 + rows)
            tile = acc[r]
            for b in range(len(end_lanes)):
                value = np.matmul(a_op[b, r], w_op[b])
                wide = np.flatnonzero(~exact[b, r]) + r0
                if len(wide):
                    # the rows whose sums may not be exact in float64: Karatsuba limbs rounded to odd
                    v = _mx_wide_sums(_halves3(a_blk()[b, wide]), [h[b] for h in w_halves])
                    v *= pa[b, wide, None]
                    v *= pw[b, None, :]
                    value[wide - r0] = v
                if clip:
                    np.clip(value, -MX_FP32_MAX, MX_FP32_MAX, out=value)
                # float32 addition of the value cast to float32 (nearest even, as astype),
                # without the cast's temporary array
                np.add(tile, value, out=tile, dtype=np.float32, casting="unsafe")
    return acc


#: kind name -> (weight preparation, GEMM on prepared weights)
#: kinds without an exact fast path, each with the reason (``pearray accuracy`` prints it in the
#: table instead of a score)
NO_FAST_PATH = {}

FAST_PATHS = {"int8": (_codes, int8_fast), "lut": (lut_values, lut_fast), "ovp": (ovp_values, ovp_fast),
              "shiftadd": (_int64, shiftadd_fast), "bitserial": (bitserial_values, bitserial_fast),
              "ant": (ant_weight_values, ant_fast), "fp8": (fp8_weight_values, fp8_fast),
              "lmul": (lmul_weight_values, lmul_fast), "fp16": (fp16_weight_values, fp16_fast),
              "gobo": (gobo_weight_codes, gobo_fast), "wfp16": (wfp16_weight_values, wfp16_fast),
              "mx": (mx_weight_lanes, mx_fast),
              "bitserial_fp16": (fast_bsfp16.prepare, fast_bsfp16.bsfp16_words),
              # BitFusion's golden is int8's: the codes are the integers, A @ W wrapped
              "bitfusion": (_codes, int8_fast)}


def has_fast_path(kind):
    """True when ``kind``'s golden GEMM is the registered one a fast path is proven equal to."""
    registered = PE_KINDS.get(kind.name)
    return kind.name in FAST_PATHS and registered is not None and kind.golden_gemm is registered.golden_gemm


#: kind name -> (acts, prepared weights, pe, extra) -> the golden's raw output as float64 (what
#: the kind's ``dequantize_output`` makes of the exact raw values first), or None where not
#: shown exact (then the raw output is computed)
FAST_FLOATS = {"fp8": fp8_float, "lmul": lmul_float, "wfp16": wfp16_float, "gobo": gobo_float,
               # the integer kinds' exact sums, unwrapped where no wrap can change one
               "int8": int8_float, "bitfusion": int8_float, "ant": ant_float, "bitserial": bitserial_float,
               "ovp": ovp_float,
               "mx": mx_float}


def fast_output(kind, operands, pe, prepared=None):
    """Exactly ``kind.dequantize_output(kind.golden(operands, pe), operands.acts, operands.acts_meta,
    operands.weights_meta, pe)``, with the raw output from :func:`fast_raw`."""
    return kind.dequantize_output(fast_raw(kind, operands, pe, prepared), operands.acts,
                                  operands.acts_meta, operands.weights_meta, pe)


#: kinds whose registered ``dequantize_output`` is :func:`models.intcodes.dequantize_scaled_output`
#: of the metadata's ``scale`` entries (INT8's only for symmetric weights: it refuses a zero point)
SCALED_OUTPUTS = frozenset({"int8", "bitfusion", "ant", "ovp"})


def fast_output_f32(kind, raw, operands, pe):
    """``np.asarray(kind.dequantize_output(raw, operands.acts, operands.acts_meta,
    operands.weights_meta, pe), dtype=np.float32)``: what a linear layer of an accuracy run
    returns, from :func:`fast_raw`'s ``raw``; in one compiled pass
    (:func:`models.fast_dequant.scaled_f32`) for the :data:`SCALED_OUTPUTS` kinds' registered
    dequantisation of float64 sums, and for ``bitserial_fp16``'s registered one of its
    accumulator words (:func:`models.fast_acc_output.acc_words_f32`)."""
    a_meta, w_meta = operands.acts_meta, operands.weights_meta
    registered = PE_KINDS.get(kind.name)
    if kind.name in SCALED_OUTPUTS and registered is not None \
            and kind.dequantize_output is registered.dequantize_output \
            and a_meta is not None and w_meta is not None and "zero_point" not in w_meta:
        out = scaled_f32(raw, a_meta["scale"], w_meta["scale"])
        if out is not None:
            return out
    if kind.name in POW2_OUTPUTS and registered is not None and kind.dequantize_output is registered.dequantize_output:
        out = pow2_output_f32(kind.name, raw, a_meta, w_meta, pe)
        if out is not None:
            return out
    if kind.name == "bitserial_fp16" and registered is not None \
            and kind.dequantize_output is registered.dequantize_output and w_meta is not None:
        out = acc_words_f32(raw, w_meta)            # the accumulator words in one compiled pass
        if out is not None:
            return out
    return np.asarray(kind.dequantize_output(raw, operands.acts, a_meta, w_meta, pe), dtype=np.float32)


def _fp8_output_scales(a_meta, w_meta, pe):
    """:func:`models.fp8_gemm.fp8_dequantise`'s ``raw * 2**-FRAC * s_a * s_w[n]``: (``s_a``, FRAC, ``s_w``)."""
    return float(a_meta["scale"][0]), get_format(pe.format).frac, w_meta["scale"]


def _wfp16_output_scales(a_meta, w_meta, pe):
    """:func:`models.wfp16_gemm.wfp16_dequantise`'s ``raw * 2**-24 * s_w[n]``: (1, 24, ``s_w``)."""
    return 1.0, WFP16_ACC_FRAC, w_meta["scale" if pe.group_size is None else "second_level_scale"]


#: kind name -> its registered ``dequantize_output`` as ``raw * 2**-FRAC * s_a * s_w[n]``: the
#: function giving (``s_a``, FRAC, ``s_w``) from the metadata and the PE
POW2_OUTPUTS = {"fp8": _fp8_output_scales, "lmul": _fp8_output_scales, "wfp16": _wfp16_output_scales}


def pow2_output_f32(kind_name, raw, a_meta, w_meta, pe):
    """``np.asarray(kind.dequantize_output(raw, ...), dtype=np.float32)`` for a
    :data:`POW2_OUTPUTS` kind and the float64 ``raw`` of :data:`FAST_FLOATS` (integers as
    float64), in one compiled pass (:func:`models.fast_dequant.scaled_f32` with the activation
    scale ``s = s_a * 2**-FRAC``); None (the caller runs the definition) unless ``s`` is a normal
    float64. Why equal: the definition's ``((raw * 2**-FRAC) * s_a) * s_w[n]`` scales an integer
    ``raw`` by a power of two first, which is exact (the result is 0 or at least ``2**-FRAC``: no
    underflow), so its second product is the correctly rounded ``raw * 2**-FRAC * s_a``; so is
    ``raw * s`` for the exact ``s`` (a normal number's power-of-two scaling), and the last
    product and the float32 cast are the same operations (for ``s_a`` 1 the second product is
    the identity on both sides)."""
    if not isinstance(raw, np.ndarray) or raw.dtype != np.float64:
        return None
    s_a, frac, s_w = POW2_OUTPUTS[kind_name](a_meta, w_meta, pe)
    s = s_a * 2.0 ** -frac
    if not np.isfinite(s) or abs(s) < np.finfo(np.float64).tiny:
        return None
    return scaled_f32(raw, [s], s_w)


def fast_raw(kind, operands, pe, prepared=None):
    """What ``kind.dequantize_output`` makes of ``kind.golden(operands, pe)`` exactly: through
    :func:`fast_golden`, and for the kinds in :data:`FAST_FLOATS` whose ``dequantize_output`` is the
    registered one (it reads a float64 raw array as the rounded raw values) the raw output rounded
    to float64 without building the wide accumulators' Python ints."""
    registered = PE_KINDS.get(kind.name)
    if kind.name in FAST_FLOATS and has_fast_path(kind) \
            and kind.dequantize_output is registered.dequantize_output:
        if prepared is None:
            prepared = prepare_weights(kind, operands.weights, pe)
        raw = FAST_FLOATS[kind.name](operands.acts, prepared, pe, operands.extra)
        if raw is not None:
            return raw
    return fast_golden(kind, operands, pe, prepared)


def prepare_weights(kind, weights, pe):
    """What :func:`fast_golden` needs of a weight code matrix, computed once (a linear layer's
    weights are reused for every call); None when the kind has no fast path."""
    return FAST_PATHS[kind.name][0](weights, pe) if has_fast_path(kind) else None


def fast_golden(kind, operands, pe, prepared=None):
    """Exactly ``kind.golden(operands, pe)``: through the fast path when :func:`has_fast_path`,
    otherwise the kind's own golden. ``prepared``: :func:`prepare_weights` of
    ``operands.weights`` (computed here when None)."""
    if not has_fast_path(kind):
        return kind.golden(operands, pe)
    prepare, gemm = FAST_PATHS[kind.name]
    if prepared is None:
        prepared = prepare(operands.weights, pe)
    return gemm(operands.acts, prepared, pe, operands.extra)
