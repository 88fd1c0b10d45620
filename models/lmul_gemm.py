"""Golden twin of the L-Mul PE (``hw/pe_lmul.py``): L-Mul products of OCP FP8 codes, summed
exactly in the FP8 PE's fixed-point accumulator.

Operands, quantisers, code checks, accumulator and dequantisation are the FP8 kind's
(:mod:`models.fp8_gemm`: the two kinds differ only in the multiplier). The product is the
integer-add form of :mod:`models.quant.lmul` (spec section 5), step by step:

1. **Fields** (code ``x``, format with M mantissa bits, bias ``b``): ``s = x[7]``,
   ``X = x[6:0]`` (exponent field << M | mantissa field), ``ef = X >> M``.
2. **L-Mul add**: ``T = X_a + X_w + 1``. ``l(M) = M`` for M = 3 and 2, so the offset
   ``1 << (M - l(M))`` is 1. ``T`` is ``R + (b << M)`` for lmul's ``R = X + Y - (b << M) + 1``:
   the bias only moves the fixed point. A mantissa sum of 2 or more carries into the exponent
   (the integer-add form; the paper's formula would not renormalise).
3. **Magnitude** in accumulator units ``2**-FRAC`` (FRAC = 2 (b + M - 1), as the FP8 kind):
   ``(2**M | (T & (2**M - 1))) << ((T >> M) + M - 2)``, i.e. the value
   ``(1 + (T mod 2**M) / 2**M) * 2**((T >> M) - 2 b)``. It is below ``2**PRODUCT_BITS`` (36 / 64).
4. **Zero / subnormal**: if either ``ef`` is 0 (a zero or a subnormal operand) the product is 0
   (flush to zero, as lmul's rounding flushes values below the smallest normal).
5. **Sign** ``s_a ^ s_w``; **accumulate** exactly and **wrap** to ``ACC_WIDTH`` as the FP8 kind.

No saturation: products keep their full range (lmul.lmul instead returns an element of the
operand format, flushing a result whose exponent field ``(T >> M) - b`` is <= 0 and saturating one
above ``2**E - 2``; inside that range the values agree, which the tests check).
"""

import numpy as np

from hw.pe_fp8 import fp8_format

from . import inventory
from .fp8_gemm import signed_accumulate_items, decode_fp8, get_format, wrap_wide

# K elements per block of the vectorised sum: bounds the (M, block, N) temporaries.
_BLOCK_ELEMENTS = 1 << 22


def lmul_fields(codes, fmt):
    """Steps 1: (sign, 7-bit field X, exponent field ef) int64 arrays; NaN/inf codes refused."""
    f = get_format(fmt)
    decode_fp8(codes, fmt)                      # the FP8 kind's code check (ValueError)
    codes = np.asarray(codes, dtype=np.int64)
    return (codes >> 7) & 1, codes & 0x7F, (codes >> f.mbits) & ((1 << f.ebits) - 1)


def lmul_product_parts(sa, xa, efa, sw, xw, efw, fmt):
    """Steps 2-5 per element pair (broadcast): the signed product as (hi, lo) int64 halves,
    product = hi * 2**32 + lo, each half below 2**32 in magnitude."""
    M = get_format(fmt).mbits
    t = xa + xw + 1
    mant = (1 << M) | (t & ((1 << M) - 1))
    shift = (t >> M) + M - 2
    sign = np.where((sa ^ sw) == 1, -1, 1) * ((efa != 0) & (efw != 0))
    low = mant << np.minimum(shift, 32)                 # < 2**(M+1+32): fits int64
    hi = np.where(shift >= 32, mant << np.maximum(shift - 32, 0), low >> 32)
    lo = np.where(shift >= 32, 0, low & 0xFFFFFFFF)
    return sign * hi, sign * lo


def lmul_product(a, w, fmt):
    """Exact signed L-Mul products of code arrays ``a`` and ``w`` (broadcast) as Python ints."""
    hi, lo = lmul_product_parts(*lmul_fields(a, fmt), *lmul_fields(w, fmt), fmt)
    return (hi.astype(object) << 32) + lo.astype(object)


def lmul_gemm(acts, weights, fmt):
    """acts (M x K) and weights (K x N) FP8 codes -> M x N raw accumulator values."""
    f = get_format(fmt)
    sa, xa, ea = lmul_fields(acts, fmt)
    sw, xw, ew = lmul_fields(weights, fmt)
    if sa.ndim != 2 or sw.ndim != 2 or sa.shape[1] != sw.shape[0]:
        raise ValueError(f"shapes do not chain: acts {sa.shape} @ weights {sw.shape}")
    (m, k), n = sa.shape, sw.shape[1]
    hi = np.zeros((m, n), dtype=np.int64)
    lo = np.zeros((m, n), dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // max(1, m * n))
    for k0 in range(0, k, block):
        ks = slice(k0, k0 + block)
        h, l = lmul_product_parts(sa[:, ks, None], xa[:, ks, None], ea[:, ks, None],
                                  sw[None, ks, :], xw[None, ks, :], ew[None, ks, :], fmt)
        hi += h.sum(axis=1)             # each half < 2**32: K < 2**31 terms stay inside int64
        lo += l.sum(axis=1)
    return wrap_wide((hi.astype(object) << 32) + lo.astype(object), f.acc_width)


def lmul_golden(acts, weights, pe):
    return lmul_gemm(acts, weights, pe.format)


def lmul_zero_bits(pe):
    """Low bits of the L-Mul PE's aligned product that are always 0: the (M+1)-bit significand is
    moved up by the constant M - 2 before the shift (e4m3: 1, e5m2: 0)."""
    _, M, _ = fp8_format(pe.format)
    return max(0, M - 2)


def lmul_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of :class:`hw.pe_lmul.LmulPE`'s ``acc_out`` (:func:`lmul_pe_items`):
    :func:`models.fp8_gemm.fp8_acc_out_bits` less the product's :func:`lmul_zero_bits` once
    ``acc_in``'s low bits are 0 too (row 0 adds to the constant 0 and every row below adds to
    the row above, so in a weight-stationary column those ``acc_out`` bits are constant 0 and
    synthesis removes their flops); a free ``acc_in`` (None) keeps all ``acc_width``."""
    if acc_in_bits is None:
        return pe.acc_width
    z = lmul_zero_bits(pe)
    return inventory.sum_bits(pe.acc_width - z, pe.product_bits + 1 - z, acc_in_bits)


def lmul_pe_items(pe, acc_in_bits=None):
    """Cost inventory of :class:`hw.pe_lmul.LmulPE`: the FP8 PE's (:func:`models.fp8_gemm.fp8_pe_items`)
    with the decode and mantissa multiplier replaced by the L-Mul adder (the two 7-bit
    exponent-mantissa fields plus one: one 8-bit add, the + 1 its carry-in, which synthesis
    folds although Yosys lists a second ``$add``) and the two
    exponent-field zero tests; the shift of the (M+1)-bit mantissa by the sum's 8 - M exponent
    bits into ``product_bits`` (``shiftn``; the mantissa's constant move by M - 2 leaves
    :func:`lmul_zero_bits` low bits 0: wiring, so neither the shifter, the accumulate nor a
    register carries them), the zero gate (``and`` of the M + 1 significand bits: ABC
    folds a flag gating a shifter's output into its input, so the gate costs as wide as the
    shifted value, not the ``product_bits`` result), the sign-magnitude accumulate
    adder and the enabled ``acc_out`` register, :func:`lmul_acc_out_bits` wide
    (``acc_in_bits`` as in :func:`models.inventory.int8_pe_items`). No multiplier."""
    E, M, _ = fp8_format(pe.format)
    z = lmul_zero_bits(pe)
    P = pe.product_bits - z
    out = lmul_acc_out_bits(pe, acc_in_bits)
    # a free acc_in's low bits pass to acc_out as wiring: the add is z bits narrower than it
    added = out if acc_in_bits is not None else out - z
    # what feeds what: the L-Mul add of the two fields; its mantissa bits, gated by the zero
    # tests (ABC folds the gate into the shifter's input), shifted by its exponent bits; the
    # shifted value meets acc_in, negated by the signs
    fields = inventory.driven(("add", (8,), 1, "step"), "act", "weight")
    zero = inventory.driven(("eqc", (E,), 2, "step"), "act", "weight")     # ef != 0: a constant
    gate = inventory.driven(("and", (M + 1,), 1, "step"), fields, zero)
    aligned = inventory.driven(("shiftn", (M + 1, 8 - M, P), 1, "step"), gate, sh=fields)
    return [fields, zero, aligned, gate,
            *signed_accumulate_items(P, added, acc_in_bits, aligned), ("reg_en", (out,), 1, "step")]


inventory.register_chain(lmul_pe_items, lmul_acc_out_bits)