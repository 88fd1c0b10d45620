"""Golden twin of the FP16 x FP16 -> FP32 multiply-accumulate PE (``hw/pe_fp16.py``).

The tensor-core-style baseline: FP16 operands, FP32 accumulation. Every step, in order:

1. **Operands.** IEEE binary16 bit patterns. Normals, subnormals and both zeros are operands;
   infinities and NaNs are not (the quantisers refuse NaN/inf input and values beyond the FP16
   range, 65504, with a ValueError; :func:`decode_fp16` refuses infinity / NaN codes). A finite
   code is ``(-1)**s * m * 2**(e - 25)`` with ``m = f | 1024, e = ef`` (normals) or
   ``m = f, e = 1`` (subnormals, ``ef = 0``).
2. **Product: exact.** ``m_a * m_w`` has at most 22 bits and the exponent lies in
   ``[2**-48, 2**32)``, so every product of two finite FP16 values is exactly an FP32 normal
   number (or a zero, signed ``s_a ^ s_w``). No rounding.
3. **Accumulate: one IEEE binary32 addition per step, round to nearest, ties to even.**
   ``acc <- fp32_add_rne(acc, product)``, K steps in order ``k = 0, 1, ..., K - 1`` from ``+0``.
   Subnormal accumulator values are kept (no flush to zero) -- they cannot arise in a GEMM (every
   partial sum is a multiple of ``2**-48``) but the PE handles them as ``acc_in``. An exact zero
   sum is ``+0`` unless both addends are ``-0`` (IEEE). A sum beyond the FP32 range rounds to
   ``+-inf`` (IEEE RNE overflow); it needs more than ``2**95`` steps of the largest FP16
   products, so it does not occur.

Output: the FP32 bit pattern of ``acc``, as a signed 32-bit integer (the array's words are two's
complement ``acc_width``-bit lanes); :func:`decode_fp32` turns it into floats.

Where this differs from an IEEE fused dot product: an exact dot product (``sum_k a_k * w_k``
computed exactly and rounded once, as a Kulisch accumulator would) rounds once per output; this
PE rounds after every product (K roundings, order-dependent: a different summation order gives
a different, equally valid result). That order dependence is why the design is
output-stationary only (``integer_accumulator`` False): one PE sums a whole output in K order.
Per step it *is* a fused multiply-add (the product is not rounded before the addition), which is
the same as an unfused one here because the FP16 product is exact in FP32.

The arithmetic is evaluated with numpy's IEEE binary32 addition (correctly rounded, RNE,
subnormals kept); ``tests/test_pe_fp16.py`` restates it with exact rationals.
"""

import numpy as np

from hw.fp32_add import (ADD_FRAME, EXP_DIFF_BITS, FP32_WIDTH, FRAME_SHIFT_BITS, SIG32_BITS,
                         WIDE_EXP_BITS)
from hw.pe_fp16 import ACC_WIDTH, FP16_EXP_BITS, FP16_MAX_CODE_EXP, FP16_MAX_NORMAL, SIG_BITS
from . import fast_fp16
from .inventory import driven, exponent_decode_items, exponent_decode_sources

FP16_INF_EXPONENT = FP16_MAX_CODE_EXP + 1     # exponent field 31: infinities and NaNs


def decode_fp16(codes, name="FP16 operand"):
    """FP16 bit patterns (integers 0..65535) -> float64 values; ValueError naming ``name`` for
    infinity / NaN codes or codes outside 16 bits."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 0xFFFF):
        raise ValueError(f"{name} codes must be 16-bit FP16 patterns (0..65535)")
    if np.any(((codes >> 10) & 31) == FP16_INF_EXPONENT):
        raise ValueError(f"{name} codes contain FP16 infinity or NaN patterns (exponent field 31)")
    return codes.astype(np.uint16).view(np.float16).astype(np.float64)


def encode_fp16(x, name):
    """Finite floats -> FP16 bit patterns (IEEE RNE, subnormals kept); ValueError naming ``name``
    for NaN / infinity or magnitudes beyond the FP16 range (65504)."""
    codes = fast_fp16.encode(x)            # large float arrays: one compiled pass (same codes)
    if codes is not None:
        return codes
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contain NaN or infinity: FP16 operands must be finite")
    if x.size and np.max(np.abs(x)) > FP16_MAX_NORMAL:
        raise ValueError(f"{name} exceed the FP16 range: max |x| {np.max(np.abs(x)):.6g} > "
                         f"{FP16_MAX_NORMAL:g}")
    return x.astype(np.float16).view(np.uint16).astype(np.int64)


def fp16_gemm(acts, weights):
    """acts M x K and weights K x N FP16 codes -> M x N FP32 accumulator words (signed int64),
    by the steps of the module docstring."""
    a = decode_fp16(acts, "activation")
    w = decode_fp16(weights, "weight")
    acc = np.zeros((a.shape[0], w.shape[1]), dtype=np.float32)
    for k in range(a.shape[1]):
        # step 2: the float64 product is exact (22-bit significand) and so is its float32 cast
        product = (a[:, k, None] * w[None, k, :]).astype(np.float32)
        # step 3: one correctly rounded binary32 addition (numpy: IEEE RNE, no flush to zero)
        acc = acc + product
    return acc.view(np.int32).astype(np.int64)


def decode_fp32(words):
    """Accumulator words (``ACC_WIDTH``-bit, signed or unsigned) -> float64 values."""
    words = np.asarray(words, dtype=np.int64) & ((1 << ACC_WIDTH) - 1)
    return words.astype(np.uint32).view(np.float32).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# registry functions


def fp16_golden(acts, weights, pe):
    return fp16_gemm(acts, weights)


def quantize_fp16_acts(x, pe):
    """M x K floats -> FP16 codes (RNE, no scale: FP16 is the baseline's storage format)."""
    return encode_fp16(x, "activations"), {"format": "fp16", "granularity": "none", "scale": [1.0],
                                           "dequantise": "value = fp16(code)"}


def quantize_fp16_weights(w, pe):
    """K x N floats -> FP16 codes (RNE, no scale)."""
    return encode_fp16(w, "weights"), {"format": "fp16", "granularity": "none", "scale": [1.0],
                                       "dequantise": "value = fp16(code)"}


def fp16_dequantise(raw, acts, a_meta, w_meta, pe):
    """Accumulator words -> floats (the FP32 values themselves: no scales)."""
    return decode_fp32(raw)


#: special FP16 codes every random operand set includes: +-0, the smallest and largest
#: subnormal, the smallest normal, 1.0, and the largest normal (each with both signs)
SPECIAL_CODES = np.array([0x0000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF])


def _random_fp16(rng, shape):
    sign = rng.integers(0, 2, size=shape)
    exponent = rng.integers(0, FP16_INF_EXPONENT, size=shape)
    fraction = rng.integers(0, 1024, size=shape)
    codes = (exponent << 10) | fraction
    special = rng.random(shape) < 0.25
    codes = np.where(special, rng.choice(SPECIAL_CODES, size=shape), codes)
    return (sign << 15) | codes


def random_fp16_operands(rng, m, k, n, pe):
    """FP16 codes over every finite exponent, a quarter of them special (zeros of both signs,
    smallest / largest subnormal, smallest normal, 1.0, max normal), both signs."""
    return _random_fp16(rng, (m, k)), _random_fp16(rng, (k, n))


def fp32_adder_items(event="step", operands=()):
    """Cost inventory of :func:`hw.fp32_add.fp32_add_rne` (combinational, no flops): the
    magnitude compare and swap of the two operands (a 31-bit compare, muxes), the exponent
    difference and its saturation, the alignment right shift and the sticky test (a left shift
    back and compare), the effective add / subtract, the result's leading-zero count (``lead1``),
    normalising left shift and exponent adjusts, the RNE increment of the 31-bit word,
    the overflow and zero selects. ``operands``: what drives the two FP32 words (PE ports or
    parts, :func:`models.inventory.driven`; empty: not stated); each part names the parts
    before it that feed it."""
    W = FP32_WIDTH

    def fed(part, *sources, **inputs):
        return driven(part, *sources, **inputs) if sources or inputs else part
    compare = fed(("add", (W - 1,), 1, event), *operands)
    swap = fed(("mux", (2, W), 2, event), *operands, sel=compare)
    diff = driven(("add", (EXP_DIFF_BITS,), 1, event), swap)
    dsat = driven(("mux", (2, FRAME_SHIFT_BITS), 1, event), diff, sel=diff)
    align = driven(("shift", (ADD_FRAME, FRAME_SHIFT_BITS), 2, event), swap, sh=dsat)
    sticky = driven(("eq", (ADD_FRAME,), 1, event), align, swap)
    total = driven(("add", (ADD_FRAME + 1,), 1, event), swap, align)
    signed = driven(("mux", (2, ADD_FRAME + 1), 1, event), total, sel=swap)
    lz = driven(("lead1", (ADD_FRAME,), 1, event), signed)
    left = driven(("mux", (2, FRAME_SHIFT_BITS), 1, event), lz, swap)
    normalise = driven(("shift", (ADD_FRAME, FRAME_SHIFT_BITS), 1, event), signed, sh=left)
    exp = driven(("add", (WIDE_EXP_BITS,), 2, event), swap, left)
    rne = driven(("add", (W - 1,), 1, event), normalise, exp)
    return [compare, swap, diff, dsat, align, sticky, total, signed, lz, normalise, exp, left, rne,
            driven(("mux", (2, W), 2, event), rne, exp, sel=signed)]


def fp16_pe_items(pe, weight="weight"):
    """Cost inventory of :class:`hw.pe_fp16.Fp16PE`, following its ``elaborate``: per operand the
    FP16 decode (subnormal test, exponent select); the 11 x 11 significand multiplier, the
    product exponent add, its 24-bit normalising leading-zero count (``lead1``: Yosys's if-chain
    of constant selects is a priority encoder) and left shift, the exponent adjust; the FP32
    adder (:func:`fp32_adder_items`); the enabled 32-bit ``acc_out`` register (the PE's only flops).
    ``weight``: what drives the FP16 weight word (the ``weight`` port, or the part that looks it
    up: GOBO's centroid select)."""
    decode = [driven(t, "act", weight) for t in exponent_decode_items(FP16_EXP_BITS, 2, "step")]
    product = driven(("mult", (SIG_BITS, SIG_BITS), 1, "step"), "act", weight)
    esum = driven(("add", (FP16_EXP_BITS + 1,), 1, "step"),
                  *exponent_decode_sources(decode, FP16_EXP_BITS, "act", weight))
    lz = driven(("lead1", (SIG32_BITS,), 1, "step"), product)
    norm = driven(("shift", (SIG32_BITS, FRAME_SHIFT_BITS), 1, "step"), product, sh=lz)
    exp = driven(("add", (WIDE_EXP_BITS,), 1, "step"), esum, lz)
    return [*decode, product, esum, lz, norm, exp,
            *fp32_adder_items("step", (norm, exp, "acc_in")),
            ("reg_en", (pe.acc_width,), 1, "step")]
