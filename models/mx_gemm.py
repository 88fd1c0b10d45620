"""Golden twin of the MX / NVFP4 PE (``hw/pe_mx.py``): block-scaled dot products along K.

**Operand layout.** A GEMM's K axis, as the hardware sees it, is the tensor's K in blocks of
``block`` elements, each followed by its 8-bit scale code split over ``scale_slots`` element
positions (low bits first): ``K' = blocks * (block + scale_slots)`` code positions, one block per
PE step (``k_per_step``). Activations are M x K' (blocks along each row), weights K' x N (blocks
down each column); every position is an unsigned ``bits``-bit code. :func:`interleave` builds it
from element codes and scale codes, :func:`split_lanes` takes it apart. A K' that is not a whole
number of blocks is zero-padded (the array's layout pads the same way): the padded positions are
zero elements with scale code 0.

**Element codes** (OCP MX v1.0, ``models/quant/mx.py``'s encodings): FP8 E4M3 / E5M2, FP6 E2M3 /
E3M2, FP4 E2M1 bit patterns, value ``(-1)**s * m * 2**q * 2**-L`` with significand ``m`` (hidden
bit for normals), ``q = max(ef, 1) - 1`` and ``L = bias + mbits - 1`` (the smallest subnormal is
``2**-L``); MXINT8: the two's complement byte ``k``, value ``k * 2**-6``. E4M3's NaN codes
(0x7F, 0xFF) and E5M2's infinities / NaNs (exponent field 31) are refused (ValueError).
**Scale codes**: E8M0 ``c`` (0..254; 255 is NaN, refused): ``2**(c - 127)``; NVFP4's E4M3 block
scales (positive, not NaN): ``m * 2**(q - 9)``; NVFP4's per-tensor FP32 scales are applied on the
host (dequantisation), not in the PE.

**One step** (one block ``b`` of output ``(i, j)``), in order:

1. ``S = sum_t A[i, t] * W[t, j]`` over the block's elements, in units of ``2**-2L``: exact
   (integers, no rounding, so the order inside the block does not matter).
2. Block scale, once: ``T = S`` and ``x = c_a + c_w`` (E8M0), or ``T = S * m_a * m_w`` and
   ``x = q_a + q_w`` (E4M3); the block's value is ``T * 2**(x - X0)``
   (``X0 = 254 + 2L`` or ``18 + 2L``, :func:`hw.pe_mx.scale_terms`).
3. Round the block's value to FP32: nearest, ties to even, subnormals kept; a value beyond the
   largest finite FP32 saturates to +-max finite (E8M0 scales reach ``2**254``); ``T = 0`` is
   ``+0``.
4. ``acc <- fp32_add_rne(acc, block value)`` (IEEE binary32 addition, nearest even, overflow to
   +-inf; an infinite accumulator stays infinite), blocks in K order from ``+0``.

Output: the FP32 bit pattern as a signed 32-bit integer. Two roundings per block (3 and 4), so the
result depends on the block order: the PE is output-stationary only. Compared with an exact MX
dot product (the OCP spec leaves the accumulation implementation-defined), the block sums are
exact and only the FP32 conversion and accumulation round.

Why not an exact fixed-point accumulator (both dataflows): a block's value spans
``2**-(254 + 2L)`` to ``2**254 * 2**sum_bits`` with E8M0 scales, so an exact Kulisch accumulator
needs about 530 (MXFP4) to 580 (MXFP8 E5M2) bits; the array's output words are at most 64 bits
(``hw.layout.unpack_words`` returns int64 lanes), and even MXFP8 E5M2's block sum alone has 71.
"""

import numpy as np

from hw.fp32_add import FP32_EXP_BITS, FP32_WIDTH
from hw.pe_mx import (CONVERT_EXP_BITS, CONVERT_MIN_FRAME, E4M3_SCALE_MAN_BITS, E8M0_BIAS,
                      SCALE_BITS, scale_terms)
from .fp16_gemm import fp32_adder_items
from .quant.mx import quantize_mx, quantize_nvfp4

FP32_MAX = float(np.finfo(np.float32).max)
E8M0_NAN = (1 << SCALE_BITS) - 1
E4M3_NAN_MAGNITUDE = 0x7F
SIGNIFICAND_BITS_F64 = 53
#: MX element formats of models.quant.mx by PE format name
QUANT_ELEMENT = {"mxfp8-e4m3": "fp8_e4m3", "mxfp8-e5m2": "fp8_e5m2", "mxfp6-e2m3": "fp6_e2m3",
                 "mxfp6-e3m2": "fp6_e3m2", "mxfp4": "fp4_e2m1", "mxint8": "int8"}


def _k_steps(kp, fmt):
    return -(-kp // (fmt.block + fmt.scale_slots))


def split_lanes(codes, fmt, name):
    """(R, K') interleaved codes -> (element codes (R, blocks, block), scale codes (R, blocks)),
    zero-padding K' to whole blocks; ValueError naming ``name`` for a scale code wider than 8
    bits."""
    codes = np.asarray(codes, dtype=np.int64)
    per = fmt.block + fmt.scale_slots
    steps = _k_steps(codes.shape[1], fmt)
    padded = np.zeros((codes.shape[0], steps * per), dtype=np.int64)
    padded[:, :codes.shape[1]] = codes
    lanes = padded.reshape(codes.shape[0], steps, per)
    scales = np.zeros(lanes.shape[:2], dtype=np.int64)
    for i in range(fmt.scale_slots):
        scales |= lanes[..., fmt.block + i] << (i * fmt.bits)
    if scales.size and scales.max() >= 1 << SCALE_BITS:
        raise ValueError(f"{name} scale codes must be {SCALE_BITS}-bit: a block's scale slots hold "
                         f"{int(scales.max())}")
    return lanes[..., :fmt.block], scales


def interleave(elements, scales, fmt):
    """Element codes (R, K), K a multiple of the block, and scale codes (R, K / block) -> the
    (R, K') lane layout of the module docstring."""
    elements = np.asarray(elements, dtype=np.int64)
    rows, k = elements.shape
    blocks = k // fmt.block
    out = np.zeros((rows, blocks, fmt.block + fmt.scale_slots), dtype=np.int64)
    out[..., :fmt.block] = elements.reshape(rows, blocks, fmt.block)
    mask = (1 << fmt.bits) - 1
    for i in range(fmt.scale_slots):
        out[..., fmt.block + i] = (np.asarray(scales, dtype=np.int64) >> (i * fmt.bits)) & mask
    return out.reshape(rows, -1)


def element_integers(codes, fmt, name):
    """Element codes -> exact integers ``value * 2**L`` (int64); ValueError naming ``name`` for
    NaN / infinity codes."""
    codes = np.asarray(codes, dtype=np.int64)
    if fmt.ebits == 0:
        return np.where(codes >= 1 << (fmt.bits - 1), codes - (1 << fmt.bits), codes)
    ef = (codes >> fmt.mbits) & ((1 << fmt.ebits) - 1)
    frac = codes & ((1 << fmt.mbits) - 1)
    if fmt.ebits == 4 and np.any((ef == 15) & (frac == 7)):
        raise ValueError(f"{name} element codes contain E4M3 NaN patterns (0x7F / 0xFF)")
    if fmt.ebits == 5 and np.any(ef == 31):
        raise ValueError(f"{name} element codes contain E5M2 infinity or NaN patterns")
    magnitude = np.where(ef == 0, frac, frac | (1 << fmt.mbits)) << np.maximum(ef - 1, 0)
    return np.where((codes >> (fmt.bits - 1)) & 1, -magnitude, magnitude)


def _scale_parts(scales, fmt, name):
    """Scale codes -> (integer factor, exponent) with value ``factor * 2**(exponent - ...)``."""
    if fmt.scale == "e8m0":
        if np.any(scales == E8M0_NAN):
            raise ValueError(f"{name} scale codes contain the E8M0 NaN code 255")
        return np.ones_like(scales), scales
    if np.any(scales >> (SCALE_BITS - 1)):
        raise ValueError(f"{name} NVFP4 block scales must be positive E4M3 codes (sign bit 0)")
    if np.any(scales == E4M3_NAN_MAGNITUDE):
        raise ValueError(f"{name} NVFP4 block scales contain the E4M3 NaN code 0x7F")
    ef = scales >> E4M3_SCALE_MAN_BITS
    frac = scales & ((1 << E4M3_SCALE_MAN_BITS) - 1)
    return np.where(ef == 0, frac, frac | (1 << E4M3_SCALE_MAN_BITS)), np.maximum(ef - 1, 0)


def _round_to_odd_53(t, x):
    """Python int ``t`` with exponent ``x`` -> (t', x') with |t'| < 2**53, rounded to odd (the
    bits dropped ORed into the last bit): a later single rounding to 24 bits is then exact RNE."""
    drop = abs(t).bit_length() - SIGNIFICAND_BITS_F64
    if drop <= 0:
        return t, x
    mag = abs(t)
    kept = (mag >> drop) | int(mag & ((1 << drop) - 1) != 0)
    return (-kept if t < 0 else kept), x + drop


def block_to_fp32(t, x, x0):
    """Step 3: ``t * 2**(x - x0)`` (integer arrays, t may be Python ints) -> float32, nearest
    even, subnormals kept, saturating at +-max finite."""
    t = np.asarray(t, dtype=object)
    x = np.asarray(x, dtype=np.int64)
    parts = np.frompyfunc(_round_to_odd_53, 2, 2)(t, x.astype(object))
    tt = np.asarray(parts[0], dtype=np.float64)        # exact: |t'| < 2**53
    xx = np.asarray(parts[1], dtype=np.int64)
    value = np.ldexp(tt, xx - x0)                      # exact: far inside the float64 range
    return np.clip(value, -FP32_MAX, FP32_MAX).astype(np.float32)


def mx_gemm(acts, weights, fmt):
    """Interleaved codes M x K' and K' x N -> M x N FP32 accumulator words (signed int64), by the
    steps of the module docstring."""
    a_el, a_sc = split_lanes(acts, fmt, "activation")
    w_el, w_sc = split_lanes(np.asarray(weights).T, fmt, "weight")
    a_int, w_int = element_integers(a_el, fmt, "activation"), element_integers(w_el, fmt, "weight")
    a_fac, a_exp = _scale_parts(a_sc, fmt, "activation")
    w_fac, w_exp = _scale_parts(w_sc, fmt, "weight")
    _, x0 = scale_terms(fmt)
    wide = fmt.sum_bits > 62
    acc = np.zeros((a_int.shape[0], w_int.shape[0]), dtype=np.float32)
    for b in range(a_int.shape[1]):
        a, w = a_int[:, b, :], w_int[:, b, :].T
        if wide:     # E5M2 block sums need 71 bits: Python integers
            a, w = a.astype(object), w.astype(object)
        s = a @ w                                                      # step 1: exact
        t = s * (a_fac[:, b, None] * w_fac[None, :, b]).astype(object if wide else np.int64)
        x = a_exp[:, b, None] + w_exp[None, :, b]                      # step 2
        block = block_to_fp32(t, x, x0)                                # step 3
        with np.errstate(over="ignore"):                               # step 4: may reach inf
            acc = acc + block
    return acc.view(np.int32).astype(np.int64)


def decode_fp32(words):
    words = np.asarray(words, dtype=np.int64) & ((1 << FP32_WIDTH) - 1)
    return words.astype(np.uint32).view(np.float32).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# quantisers and registry functions


def _quantise(x, pe, name):
    """(R, K) floats, blocks along K -> interleaved codes (R, K') and metadata."""
    fmt = pe.mx_format
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contain NaN or infinity")
    k = x.shape[1]
    pad = -k % fmt.block
    xp = np.pad(x, ((0, 0), (0, pad)))      # zeros do not change a dot product
    if fmt.scale == "e4m3":
        qt = quantize_nvfp4(xp, block=fmt.block)
        scales = np.asarray(qt.meta["block_scale"]).view(np.uint8).astype(np.int64)
        meta = {"format": fmt.name, "tensor_scale": float(qt.meta["tensor_scale"]),
                "granularity": f"block {fmt.block} E4M3 + per-tensor FP32",
                "dequantise": "value = e2m1(code) * e4m3(block scale) * tensor_scale"}
    else:
        qt = quantize_mx(xp, QUANT_ELEMENT[fmt.name], block=fmt.block)
        scales = np.asarray(qt.meta["shared_exp"], dtype=np.int64) + E8M0_BIAS
        meta = {"format": fmt.name, "tensor_scale": 1.0, "granularity": f"block {fmt.block} E8M0",
                "dequantise": "value = element(code) * 2**(scale code - 127)"}
    elements = np.asarray(qt.codes).astype(np.int64) & ((1 << fmt.bits) - 1)
    meta["scale"] = [meta["tensor_scale"]]
    return interleave(elements, scales, fmt), meta


def quantize_mx_acts(x, pe):
    """M x K floats -> M x K' interleaved codes (blocks along K), with metadata."""
    return _quantise(x, pe, "activations")


def quantize_mx_weights(w, pe):
    """K x N floats -> K' x N interleaved codes (blocks down each column), with metadata."""
    codes, meta = _quantise(np.asarray(w).T, pe, "weights")
    return codes.T.copy(), meta


def mx_golden(acts, weights, pe):
    return mx_gemm(acts, weights, pe.mx_format)


def mx_dequantise(raw, acts, a_meta, w_meta, pe):
    """Accumulator words -> floats: the FP32 values times the per-tensor scales (NVFP4; 1 for MX)."""
    return decode_fp32(raw) * a_meta["tensor_scale"] * w_meta["tensor_scale"]


def _special_elements(fmt):
    """Both zeros, the smallest and largest subnormal, the smallest and largest normal (both
    signs); MXINT8: 0, +-1, 127, -127, -128."""
    if fmt.ebits == 0:
        return np.array([0, 1, 0xFF, 0x7F, 0x81, 0x80])
    sign = 1 << (fmt.bits - 1)
    top = (1 << fmt.mbits) - 1
    max_ef = (1 << fmt.ebits) - 1 - (fmt.ebits == 5)
    max_normal = (max_ef << fmt.mbits) | (top - (fmt.ebits == 4))
    mags = [0, 1, top, 1 << fmt.mbits, max_normal]
    return np.array(mags + [v | sign for v in mags])


def _valid_elements(fmt):
    codes = np.arange(1 << fmt.bits)
    if fmt.ebits == 4:
        codes = codes[(codes & 0x7F) != 0x7F]
    if fmt.ebits == 5:
        codes = codes[((codes >> 2) & 31) != 31]
    return codes


def _random_scales(rng, shape, fmt):
    """E8M0: mostly near 2**0 (codes 127 +- 12) so sums stay in the FP32 range, a fifth at the
    extremes (0, 1, 253, 254: underflow to zero / subnormals, saturation); E4M3 (NVFP4): any
    positive non-NaN code, extremes (0, the smallest subnormal, 448) a fifth of the time."""
    if fmt.scale == "e8m0":
        common = np.clip(np.rint(rng.normal(E8M0_BIAS, 12, size=shape)), 0, 254)
        extremes = rng.choice([0, 1, 253, 254], size=shape)
    else:
        common = rng.integers(0, E4M3_NAN_MAGNITUDE, size=shape)
        extremes = rng.choice([0, 1, E4M3_NAN_MAGNITUDE - 1], size=shape)
    return np.where(rng.random(shape) < 0.2, extremes, common).astype(np.int64)


def random_lanes(rng, rows, kp, fmt):
    """(rows, K') interleaved codes: valid element codes (a quarter of them special values) and
    block scales as :func:`_random_scales`; a trailing partial block keeps its elements."""
    blocks = _k_steps(kp, fmt)
    shape = (rows, blocks * fmt.block)
    elements = np.where(rng.random(shape) < 0.25, rng.choice(_special_elements(fmt), size=shape),
                        rng.choice(_valid_elements(fmt), size=shape))
    codes = interleave(elements, _random_scales(rng, (rows, blocks), fmt), fmt)
    return codes[:, :kp]


def random_mx_operands(rng, m, k, n, pe):
    fmt = pe.mx_format
    return random_lanes(rng, m, k, fmt), random_lanes(rng, n, k, fmt).T.copy()


def mx_pe_items(pe):
    """Cost inventory of :class:`hw.pe_mx.MxPE`, following its ``elaborate`` (B = block):
    per element pair the two decodes (subnormal tests, exponent shifts), the significand
    multiplier, the shift-exponent add, the product's left shift and its conditional negation
    (MXINT8: one 8 x 8 signed multiplier); the balanced adder tree (B - 1 adders, widths growing
    by one bit a level); NVFP4: the scale significand multiplier and the block sum times it; the
    scale exponent add; the FP32 conversion (magnitude negation, leading-zero count, normalising
    and denormalising shifts, the sticky compare, the exponent arithmetic, the RNE increment,
    the saturation select); the FP32 adder (:func:`models.fp16_gemm.fp32_adder_items`); the
    infinity pass-through select and the enabled 32-bit ``acc_out`` register (the only flops)."""
    f = pe.mx_format
    B, A = f.block, pe.acc_width
    extra_bits, _ = scale_terms(f)
    if f.ebits == 0:
        lane = [("mult", (f.bits, f.bits), B, "step")]
    else:
        shift_bits = (2 * f.max_q).bit_length()
        lane = [("eq", (f.ebits,), 2 * B, "step"), ("add", (f.ebits,), 2 * B, "step"),
                ("mux", (2, f.ebits), 2 * B, "step"),
                ("mult", (f.sig_bits, f.sig_bits), B, "step"), ("add", (shift_bits,), B, "step"),
                ("shift", (2 * f.magnitude_bits, shift_bits), B, "step"),
                ("add", (2 * f.magnitude_bits + 1,), B, "step"),
                ("mux", (2, 2 * f.magnitude_bits + 1), B, "step")]
    tree, width, count = [], 2 * f.magnitude_bits + 1, B
    while count > 1:
        tree.append(("add", (width + 1,), count // 2, "step"))
        count, width = count - count // 2, width + 1
    t_bits = f.sum_bits + extra_bits
    frame = max(t_bits - 1, CONVERT_MIN_FRAME)
    frame_shift = frame.bit_length()
    scale = [("add", (SCALE_BITS + 1,), 1, "step")]
    if f.scale == "e4m3":
        scale += [("mult", (E4M3_SCALE_MAN_BITS + 1, E4M3_SCALE_MAN_BITS + 1), 1, "step"),
                  ("mult", (f.sum_bits, extra_bits), 1, "step"),
                  ("eq", (E4M3_SCALE_MAN_BITS + 1,), 2, "step"),
                  ("mux", (2, E4M3_SCALE_MAN_BITS + 1), 2, "step")]
    convert = [("add", (t_bits,), 1, "step"), ("mux", (2, frame), 1, "step"),
               ("mux", (frame, frame_shift), 1, "step"), ("shift", (frame, frame_shift), 3, "step"),
               ("eq", (frame,), 1, "step"), ("add", (CONVERT_EXP_BITS,), 2, "step"),
               ("mux", (2, frame_shift), 2, "step"), ("add", (A - 1,), 1, "step"),
               ("mux", (2, A), 2, "step")]
    return (lane + tree + scale + convert + fp32_adder_items("step")
            + [("eq", (FP32_EXP_BITS,), 1, "step"), ("mux", (2, A), 1, "step"),
               ("reg_en", (A,), 1, "step")])
