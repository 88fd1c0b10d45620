"""Golden twin of the MX / NVFP4 PE (``hw/pe_mx.py``): block-scaled dot products along K, one
sub-block per PE step.

**Operand layout.** A GEMM's K axis, as the hardware sees it, is a sequence of *lanes* of
``k_per_step = sub_block + scale_slots`` code positions: ``sub_block`` element codes, then an 8-bit
code split over ``scale_slots`` element positions (low bits first). That code is the block's scale
code in the lane that ends a block and :data:`hw.pe_mx.CONTINUE_CODE` (0xFF, no valid scale) in
the lanes before it: a block of ``block`` elements is ``steps_per_block = block / sub_block``
lanes, ``K' = blocks * steps_per_block * k_per_step`` code positions. Activations are M x K' (lanes
along each row), weights K' x N (lanes down each column); every position is an unsigned
``bits``-bit code. :func:`interleave` builds it from element codes and scale codes,
:func:`split_lanes` takes it apart. A K' that is not a whole number of lanes is zero-padded (the
array's layout pads the same way): the padded positions are zero elements, and a cut lane's
scale code is what its slots hold after padding (so it ends a block).

Blocks are delimited by the codes, not by position: a block is the run of lanes up to and including
the next lane whose code is not 0xFF, at most ``steps_per_block`` lanes (the PE's ``partial``
register holds one block's sum: longer runs are refused, ValueError). The quantisers always make
``steps_per_block`` lanes per block; random test codes also make shorter ones. Every activation
row and weight column must end blocks at the same lanes (the PE reads the activation's code; a
difference is refused). A run not ended by the last lane is held in the PE's ``partial`` register,
not in the output: the golden output leaves it out, and :func:`mx_check_operands` refuses such
operands for a GEMM run (the register would carry into the PE's next output).

**Element codes** (OCP MX v1.0, ``models/quant/mx.py``'s encodings): FP8 E4M3 / E5M2, FP6 E2M3 /
E3M2, FP4 E2M1 bit patterns, value ``(-1)**s * m * 2**q * 2**-L`` with significand ``m`` (hidden
bit for normals), ``q = max(ef, 1) - 1`` and ``L = bias + mbits - 1`` (the smallest subnormal is
``2**-L``); MXINT8: the two's complement byte ``k``, value ``k * 2**-6``. E4M3's NaN codes
(0x7F, 0xFF) and E5M2's infinities / NaNs (exponent field 31) are refused (ValueError).
**Scale codes**: E8M0 ``c`` (0..254; 255 is NaN, and the continue code): ``2**(c - 127)``;
NVFP4's E4M3 block scales (positive, not NaN): ``m * 2**(q - 9)``; NVFP4's per-tensor FP32
scales are applied on the host (dequantisation), not in the PE.

**One step** (one lane ``s`` of output ``(i, j)``), in order:

1. ``S <- S + sum_t A[i, t] * W[t, j]`` over the lane's ``sub_block`` elements, in units of
   ``2**-2L``: exact (integers, no rounding, so neither the order inside a sub-block nor the
   split of a block into sub-blocks matters: the block's ``S`` is its exact dot product).
   A lane that does not end its block stops here (the accumulator is unchanged).
2. Block scale, once, with the ending lane's scale codes: ``T = S`` and ``x = c_a + c_w``
   (E8M0), or ``T = S * m_a * m_w`` and ``x = q_a + q_w`` (E4M3); the block's value is
   ``T * 2**(x - X0)`` (``X0 = 254 + 2L`` or ``18 + 2L``, :func:`hw.pe_mx.scale_terms`).
3. Round the block's value to FP32: nearest, ties to even, subnormals kept; a value beyond the
   largest finite FP32 saturates to +-max finite (E8M0 scales reach ``2**254``); ``T = 0`` is
   ``+0``.
4. ``acc <- fp32_add_rne(acc, block value)`` (IEEE binary32 addition, nearest even, overflow to
   +-inf; an infinite accumulator stays infinite), blocks in K order from ``+0``; ``S <- 0``.

Output: the FP32 bit pattern as a signed 32-bit integer. The result does not depend on the
sub-block size (the same blocks give the same words for any ``sub_block``; a test checks it), only
on the blocks. Two roundings per block (3 and 4), so the result depends on the block order: the
PE is output-stationary only. Compared with an exact MX dot product (the OCP spec leaves the
accumulation implementation-defined), the block sums are exact and only the FP32 conversion and
accumulation round.

Why not an exact fixed-point accumulator (both dataflows): a block's value spans
``2**-(254 + 2L)`` to ``2**254 * 2**sum_bits`` with E8M0 scales, so an exact Kulisch accumulator
needs about 530 (MXFP4) to 580 (MXFP8 E5M2) bits; the array's output words are at most 64 bits
(``hw.layout.unpack_words`` returns int64 lanes), and even MXFP8 E5M2's block sum alone has 71.
"""

import collections
import functools
import weakref
from typing import NamedTuple

import numpy as np

from hw.fp32_add import FP32_EXP_BITS, FP32_MAX_EXP, FP32_WIDTH, SIG32_BITS
from hw.pe_mx import (CONTINUE_CODE, CONVERT_EXP_BITS, CONVERT_MIN_FRAME, E4M3_SCALE_EXP_BITS,
                      E4M3_SCALE_MAN_BITS, E8M0_BIAS, FP32_BIAS, SCALE_BITS, scale_terms)
from .fp16_gemm import fp32_adder_items
from .inventory import driven, exponent_decode_items, exponent_decode_sources, reads_word
from .fast_mx_lanes import decode_lanes
from .fast_mx_operands import weight_lanes
from .fast_mx_quant import mx_lane_codes
from .quant.mx import E2M1_MAX, E4M3_MAX, ELEM_FORMATS, quantize_mx, quantize_nvfp4

FP32_MAX = float(np.finfo(np.float32).max)
E8M0_NAN = (1 << SCALE_BITS) - 1
E4M3_NAN_MAGNITUDE = 0x7F
SIGNIFICAND_BITS_F64 = 53
#: MX element formats of models.quant.mx by PE format name
QUANT_ELEMENT = {"mxfp8-e4m3": "fp8_e4m3", "mxfp8-e5m2": "fp8_e5m2", "mxfp6-e2m3": "fp6_e2m3",
                 "mxfp6-e3m2": "fp6_e3m2", "mxfp4": "fp4_e2m1", "mxint8": "int8"}


def split_lanes(codes, pe, name):
    """(R, K') codes -> (element codes (R, steps, sub_block), scale-slot codes (R, steps)),
    zero-padding K' to whole lanes; ValueError naming ``name`` for a slot code wider than 8 bits."""
    fmt = pe.mx_format
    codes = np.asarray(codes, dtype=np.int64)
    per = pe.k_per_step
    steps = -(-codes.shape[1] // per)
    padded = np.zeros((codes.shape[0], steps * per), dtype=np.int64)
    padded[:, :codes.shape[1]] = codes
    lanes = padded.reshape(codes.shape[0], steps, per)
    slots = np.zeros(lanes.shape[:2], dtype=np.int64)
    for i in range(fmt.scale_slots):
        slots |= lanes[..., pe.sub_block + i] << (i * fmt.bits)
    if slots.size and slots.max() >= 1 << SCALE_BITS:
        raise ValueError(f"{name} scale codes must be {SCALE_BITS}-bit: a lane's scale slots hold "
                         f"{int(slots.max())}")
    return lanes[..., :pe.sub_block], slots


def _lane_codes(elements, slots, pe):
    """Element codes (R, steps, sub_block) and slot codes (R, steps) -> (R, K') codes."""
    fmt = pe.mx_format
    rows, steps = slots.shape
    out = np.zeros((rows, steps, pe.k_per_step), dtype=np.int64)
    out[..., :pe.sub_block] = elements
    mask = (1 << fmt.bits) - 1
    for i in range(fmt.scale_slots):
        out[..., pe.sub_block + i] = (slots >> (i * fmt.bits)) & mask
    return out.reshape(rows, -1)


def interleave(elements, scales, pe):
    """Element codes (R, K), K a multiple of the block, and scale codes (R, K / block) -> the
    (R, K') lane layout of the module docstring: ``steps_per_block`` lanes per block, the last
    with the block's scale code, the others with the continue code."""
    elements = np.asarray(elements, dtype=np.int64)
    rows, k = elements.shape
    steps = k // pe.sub_block
    slots = np.full((rows, steps), CONTINUE_CODE, dtype=np.int64)
    slots[:, pe.steps_per_block - 1::pe.steps_per_block] = scales
    return _lane_codes(elements.reshape(rows, steps, pe.sub_block), slots, pe)


def block_ends(a_slots, w_slots, pe):
    """(steps,) booleans, True where a lane ends its block: the activations' slot codes (the PE
    reads them) must equal the weights' end pattern in every row and column, and no block may
    span more than ``steps_per_block`` lanes; ValueError otherwise."""
    a_ends, w_ends = a_slots != CONTINUE_CODE, w_slots != CONTINUE_CODE
    ends = a_ends[0] if len(a_ends) else (w_ends[0] if len(w_ends) else np.zeros(0, dtype=bool))
    if not (np.all(a_ends == ends) and np.all(w_ends == ends)):
        raise ValueError("activation and weight lanes must end blocks at the same steps (scale "
                         f"slot code {CONTINUE_CODE:#x}: the block continues) in every row and column")
    run = 0
    for end in ends:
        run = 0 if end else run + 1
        if run >= pe.steps_per_block:
            raise ValueError(f"a block spans more than {pe.steps_per_block} lanes of {pe.sub_block} "
                             f"elements (the {pe.block}-element block; scale slot code "
                             f"{CONTINUE_CODE:#x} continues a block)")
    return ends


#: the last few :func:`decoded_lanes` results of frozen arrays, by array identity
_DECODED = collections.OrderedDict()
_DECODED_KEEP = 8


def frozen(a):
    """True for an ndarray whose values cannot change: read-only and owning its data (no
    writeable base array to change them through)."""
    return isinstance(a, np.ndarray) and not a.flags.writeable and a.base is None


def _kept(codes, pe, name, transpose, stage, make):
    """``make()``, kept for a :func:`frozen` ``codes`` under (its identity, the PE's lane
    layout, ``stage``) while the array lives."""
    key = (id(codes), transpose, name, pe.mx_format, pe.sub_block, pe.k_per_step, stage)
    hit = _DECODED.get(key)
    if hit is not None and hit[0]() is codes and frozen(codes):
        return hit[1]
    value = make()
    if frozen(codes):
        _DECODED[key] = (weakref.ref(codes), value)
        while len(_DECODED) > _DECODED_KEEP:
            _DECODED.popitem(last=False)
    return value


def lanes_of(codes, pe, name, transpose=False):
    """:func:`split_lanes` of ``codes`` (``codes.T`` when ``transpose``: weights, lanes down each
    column), kept for a :func:`frozen` array (:func:`decoded_lanes`)."""
    return _kept(codes, pe, name, transpose, "lanes",
                 lambda: split_lanes(np.asarray(codes).T if transpose else codes, pe, name))


def decoded_lanes(codes, pe, name, transpose=False):
    """:func:`lanes_of` with the elements as :func:`element_integers`: (integers (R, steps,
    sub_block), slot codes (R, steps)); ValueError as those raise. For a :func:`frozen` array
    the results are kept (by identity, while the array lives) and returned again: an accuracy
    run checks a linear's operands (:func:`mx_check_operands`) and then multiplies them
    (``models.fast_golden.mx_fast``), and MiniLM's sentences are checked one by one against the
    same weights."""
    fast = _fast_decoded(codes, pe, name, transpose)
    if fast is not None:
        return fast

    def make():
        el, sl = lanes_of(codes, pe, name, transpose)
        return element_integers(el, pe.mx_format, name), sl
    return _kept(codes, pe, name, transpose, "integers", make)


def _fast_decoded(codes, pe, name, transpose=False):
    """:func:`decoded_lanes` from the compiled decoder :func:`models.fast_mx_lanes.decode_lanes`
    (the same values, pinned by tests/test_fast_mx_lanes.py), kept as :func:`decoded_lanes`
    keeps its results; None where the definition must run (it raises, or decodes field by
    field)."""
    def make():
        x = np.asarray(codes, dtype=np.int64)
        return decode_lanes(x.T if transpose else x, *_element_table(pe.mx_format), pe)
    return _kept(codes, pe, name, transpose, "fast", make)


def weight_rows(weights, pe):
    """Weight lane codes (K' x N, lanes down each column) -> (slot codes (N, steps), their
    :func:`models.fast_mx.lane_extremes` (top, low)) from one row-wise compiled pass
    (:func:`models.fast_mx_operands.weight_lanes`: the values :func:`decoded_lanes` with
    ``transpose`` gives, without the integers), kept as :func:`decoded_lanes` keeps its results;
    None where that pass does not decode them (then :func:`decoded_lanes` runs: it raises or
    decodes field by field)."""
    def make():
        w = np.asarray(weights)
        return weight_lanes(w, *_element_table(pe.mx_format), pe) if w.dtype == np.int64 and w.ndim == 2 else None
    return _kept(weights, pe, "weight", True, "rows", make)


def lane_slots(codes, pe, name, transpose=False):
    """The slot codes of :func:`lanes_of` (ValueError as it raises), from the compiled decoder
    where it decodes ``codes``."""
    fast = _fast_decoded(codes, pe, name, transpose)
    return fast[1] if fast is not None else lanes_of(codes, pe, name, transpose)[1]


def element_integers(codes, fmt, name):
    """Element codes -> exact integers ``value * 2**L`` (int64); ValueError naming ``name`` for
    NaN / infinity codes. Codes of ``fmt.bits`` bits (every code a lane holds) are one lookup
    in the table :func:`decode_element_codes` makes of all of them (tests/test_fast_paths2.py
    pins the two); others are decoded field by field."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and 0 <= codes.min() and codes.max() < 1 << fmt.bits:
        values, refused = _element_table(fmt)
        if refused[codes].any():
            decode_element_codes(codes, fmt, name)          # raises the field decoder's error
        return values[codes]
    return decode_element_codes(codes, fmt, name)


@functools.lru_cache(maxsize=None)
def _element_table(fmt):
    """Per code 0 .. 2**bits - 1: its integer (0 where refused) and whether it is refused."""
    codes = np.arange(1 << fmt.bits)
    refused = np.array([_refused(c, fmt) for c in codes])
    values = decode_element_codes(np.where(refused, 0, codes), fmt, "table")
    return values, refused


def _refused(code, fmt):
    try:
        decode_element_codes(np.array([code]), fmt, "table")
    except ValueError:
        return True
    return False


def decode_element_codes(codes, fmt, name):
    """:func:`element_integers` field by field (the definition)."""
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


def scale_parts(scales, fmt, name):
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


def mx_gemm(acts, weights, pe):
    """Lane codes M x K' and K' x N of ``pe``'s format and sub-block -> M x N FP32 accumulator
    words (signed int64), by the steps of the module docstring."""
    fmt = pe.mx_format
    a_el, a_sl = split_lanes(acts, pe, "activation")
    w_el, w_sl = split_lanes(np.asarray(weights).T, pe, "weight")
    ends = block_ends(a_sl, w_sl, pe)
    a_int, w_int = element_integers(a_el, fmt, "activation"), element_integers(w_el, fmt, "weight")
    _, x0 = scale_terms(fmt)
    wide = fmt.sum_bits > 62          # E5M2 block sums need 71 bits: Python integers
    dtype = object if wide else np.int64
    acc = np.zeros((a_int.shape[0], w_int.shape[0]), dtype=np.float32)
    s = np.zeros(acc.shape, dtype=dtype)
    for step, end in enumerate(ends):
        a, w = a_int[:, step, :].astype(dtype), w_int[:, step, :].T.astype(dtype)
        s = s + a @ w                                                   # step 1: exact
        if not end:
            continue
        a_fac, a_exp = scale_parts(a_sl[:, step], fmt, "activation")
        w_fac, w_exp = scale_parts(w_sl[:, step], fmt, "weight")
        t = s * (a_fac[:, None] * w_fac[None, :]).astype(dtype)
        x = a_exp[:, None] + w_exp[None, :]                             # step 2
        block = block_to_fp32(t, x, x0)                                 # step 3
        with np.errstate(over="ignore"):                                # step 4: may reach inf
            acc = acc + block
        s = np.zeros(acc.shape, dtype=dtype)
    return acc.view(np.int32).astype(np.int64)


def mx_check_operands(acts, weights, pe, a_meta=None, w_meta=None):
    """Refuse, before any work, operands the golden model refuses (NaN / infinity element codes,
    NaN or negative scales, mismatched or too long blocks) and operands whose last lane does not
    end its block (the PE would carry the partial sum into its next output); ValueError.

    Registered as the kind's ``extra_operand`` hook (as the FP8 kind's check); returns None: the
    kind takes no extra operand."""
    fmt = pe.mx_format
    a_sl = lane_slots(acts, pe, "activation")
    # the weights' slot codes from one row-wise pass where it decodes every code (then their
    # element codes have no NaN / infinity pattern: the checks below pass for them)
    rows = weight_rows(weights, pe)
    w_sl = rows[0] if rows is not None else lane_slots(weights, pe, "weight", transpose=True)
    ends = block_ends(a_sl, w_sl, pe)
    if len(ends) and not ends[-1]:
        raise ValueError(f"the last lane of K' must end its block (a scale code, not "
                         f"{CONTINUE_CODE:#x}): the PE would carry the open block into its next output")
    decoded_lanes(acts, pe, "activation")               # the element codes' NaN / infinity checks
    if rows is None:
        decoded_lanes(weights, pe, "weight", transpose=True)
    scale_parts(a_sl[:, ends], fmt, "activation")
    scale_parts(w_sl[:, ends], fmt, "weight")
    return None


def decode_fp32(words):
    words = np.asarray(words, dtype=np.int64) & ((1 << FP32_WIDTH) - 1)
    return words.astype(np.uint32).view(np.float32).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# quantisers and registry functions


def _quantise(x, pe, name, transpose=False):
    """(R, K) floats, blocks along K -> interleaved codes (R, K') and metadata (the codes'
    transpose (K', R), C-ordered, when ``transpose``). :func:`_quantise_numpy`'s, for the float
    element formats (E8M0 scales and NVFP4) and MXINT8 from the compiled kernel
    :func:`models.fast_mx_quant.mx_lane_codes` (the same codes, pinned by
    tests/test_fast_mx_quant.py)."""
    fmt = pe.mx_format
    nvfp4 = fmt.scale == "e4m3"
    elem = ELEM_FORMATS.get("fp4_e2m1" if nvfp4 else QUANT_ELEMENT.get(fmt.name))
    x = np.asarray(x)
    if (elem is not None and (elem.ml_dtype is not None or elem.ebits == 0) and x.ndim == 2 and x.size
            and x.dtype in (np.float32, np.float64)):
        g = 0.0
        if nvfp4:               # quantize_nvfp4's per-tensor scale (0 when it underflows: not taken)
            amax = float(np.max(np.abs(x)))
            g = float(np.float32(amax / (E2M1_MAX * E4M3_MAX))) if amax > 0 else 1.0
        k_lanes = -(-x.shape[1] // fmt.block) * pe.steps_per_block * pe.k_per_step
        out = np.empty((k_lanes, x.shape[0]) if transpose else (x.shape[0], k_lanes), dtype=np.int64)
        if (not nvfp4 or 0 < g < np.inf) and mx_lane_codes(x, fmt, elem, pe, out.T if transpose else out, g):
            return out, _meta(fmt, pe, g if nvfp4 else 1.0)
    codes, meta = _quantise_numpy(x, pe, name)
    return (codes.T.copy() if transpose else codes), meta


def _meta(fmt, pe, tensor_scale):
    """The metadata of a quantised tensor of ``fmt`` (``tensor_scale``: NVFP4's, 1 for MX)."""
    if fmt.scale == "e4m3":
        meta = {"format": fmt.name, "tensor_scale": tensor_scale,
                "granularity": f"block {fmt.block} E4M3 + per-tensor FP32",
                "dequantise": "value = e2m1(code) * e4m3(block scale) * tensor_scale"}
    else:
        meta = {"format": fmt.name, "tensor_scale": 1.0, "granularity": f"block {fmt.block} E8M0",
                "dequantise": "value = element(code) * 2**(scale code - 127)"}
    meta["scale"] = [meta["tensor_scale"]]
    meta["layout"] = (f"lanes of {pe.sub_block} element codes + {fmt.scale_slots} slot(s) of the 8-bit "
                      f"scale code (low bits first) in a block's last lane, {CONTINUE_CODE:#x} (the "
                      f"block continues) in its other {pe.steps_per_block - 1}")
    return meta


def _quantise_numpy(x, pe, name):
    """(R, K) floats, blocks along K -> interleaved codes (R, K') and metadata: the definition."""
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
        meta = _meta(fmt, pe, float(qt.meta["tensor_scale"]))
    else:
        qt = quantize_mx(xp, QUANT_ELEMENT[fmt.name], block=fmt.block)
        scales = np.asarray(qt.meta["shared_exp"], dtype=np.int64) + E8M0_BIAS
        meta = _meta(fmt, pe, 1.0)
    elements = np.asarray(qt.codes).astype(np.int64) & ((1 << fmt.bits) - 1)
    return interleave(elements, scales, pe), meta


def quantize_mx_acts(x, pe):
    """M x K floats -> M x K' interleaved codes (blocks along K), with metadata."""
    return _quantise(x, pe, "activations")


def quantize_mx_weights(w, pe):
    """K x N floats -> K' x N interleaved codes (blocks down each column), with metadata."""
    return _quantise(np.asarray(w).T, pe, "weights", transpose=True)


def mx_golden(acts, weights, pe):
    return mx_gemm(acts, weights, pe)


def mx_dequantise(raw, acts, a_meta, w_meta, pe):
    """Accumulator words -> floats: the FP32 values times the per-tensor scales (NVFP4; 1 for MX);
    a float array is taken as the words' values already (:func:`models.fast_golden.mx_float`'s
    output)."""
    raw = np.asarray(raw)
    values = raw.astype(np.float64, copy=False) if raw.dtype.kind == "f" else decode_fp32(raw)
    return values * a_meta["tensor_scale"] * w_meta["tensor_scale"]


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
    """E8M0: mostly near 2**0 (codes 127 +- 12) so sums stay in the FP32 range, 30 % at the
    extremes (0, 1, 253, 254: underflow to zero / subnormals, saturation); E4M3 (NVFP4): any
    positive non-NaN code, extremes (0, the smallest subnormal, 448) 30 % of the time."""
    if fmt.scale == "e8m0":
        common = np.clip(np.rint(rng.normal(E8M0_BIAS, 12, size=shape)), 0, 254)
        extremes = rng.choice([0, 1, 253, 254], size=shape)
    else:
        common = rng.integers(0, E4M3_NAN_MAGNITUDE, size=shape)
        extremes = rng.choice([0, 1, E4M3_NAN_MAGNITUDE - 1], size=shape)
    return np.where(rng.random(shape) < 0.3, extremes, common).astype(np.int64)


def random_block_ends(rng, steps, pe):
    """(steps,) booleans: where random test blocks end. Mostly whole blocks (``steps_per_block``
    lanes), a third of them shorter (1 lane up), the last lane always ends one."""
    ends = np.zeros(steps, dtype=bool)
    at = 0
    while at < steps:
        run = pe.steps_per_block if rng.random() < 0.67 else int(rng.integers(1, pe.steps_per_block + 1))
        at += run
        ends[min(at, steps) - 1] = True
    return ends


def random_lanes(rng, rows, kp, pe, ends=None):
    """(rows, K') lane codes: valid element codes (a quarter of them special values), block ends
    ``ends`` (one per lane; :func:`random_block_ends` when None) with block scales as
    :func:`_random_scales` in the lanes that end a block; a cut last lane keeps what fits."""
    fmt = pe.mx_format
    steps = -(-kp // pe.k_per_step)
    ends = random_block_ends(rng, steps, pe) if ends is None else ends
    shape = (rows, steps, pe.sub_block)
    elements = np.where(rng.random(shape) < 0.25, rng.choice(_special_elements(fmt), size=shape),
                        rng.choice(_valid_elements(fmt), size=shape))
    slots = np.where(ends, _random_scales(rng, (rows, steps), fmt), CONTINUE_CODE)
    return _lane_codes(elements, slots, pe)[:, :kp]


def random_mx_operands(rng, m, k, n, pe):
    """Random lane codes M x K' and K' x N sharing one random block-end pattern."""
    ends = random_block_ends(rng, -(-k // pe.k_per_step), pe)
    return random_lanes(rng, m, k, pe, ends), random_lanes(rng, n, k, pe, ends).T.copy()


class ConversionPaths(NamedTuple):
    """Which parts of :meth:`hw.pe_mx.MxPE._to_fp32` a format's operand ranges can reach (the
    others are constant logic that synthesis removes): ``subnormal`` (the denormalising shift,
    its sticky test and the shift-amount selects), ``rounds`` (the RNE increment: a nonzero guard
    or sticky bit), ``saturates`` (the select of the largest finite word)."""
    magnitude_bits: int
    frame: int
    subnormal: bool
    rounds: bool
    saturates: bool


def conversion_paths(fmt):
    """:class:`ConversionPaths` of ``fmt`` (an :class:`hw.pe_mx.MxFormat`) from the ranges of
    the converter's inputs: ``|T|`` has ``magnitude_bits`` significant bits in a ``frame``-bit
    frame (the leading-zero count ``lz`` is at least ``frame - magnitude_bits``, at most
    ``frame`` for T = 0); the scale exponent ``x`` is 0 .. 2 * 255 (two 8-bit E8M0 codes: the
    hardware cannot know 0xFF never ends a block) or 0 .. 2 * 14 (two E4M3 exponent shifts).
    The biased exponent is ``x + frame - 1 - X0 + 127 - lz``: below 1 a subnormal, at least
    255 (254 with a rounding carry) saturates. Nothing rounds when no value is subnormal and the
    magnitude fits the 24-bit significand (NVFP4's 20 bits: the guard and sticky bits are 0)."""
    extra_bits, x0 = scale_terms(fmt)
    mag = fmt.sum_bits + extra_bits - 1
    frame = max(mag, CONVERT_MIN_FRAME)
    x_max = 2 * ((1 << SCALE_BITS) - 1 if fmt.scale == "e8m0" else (1 << E4M3_SCALE_EXP_BITS) - 2)
    bias = frame - 1 - x0 + FP32_BIAS
    subnormal = bias - frame < 1
    rounds = subnormal or mag > SIG32_BITS
    saturates = x_max + bias - (frame - mag) >= FP32_MAX_EXP - rounds
    return ConversionPaths(mag, frame, subnormal, rounds, saturates)


def conversion_items(fmt, t=None, x=None):
    """Cost inventory of :meth:`hw.pe_mx.MxPE._to_fp32` for ``fmt`` as synthesis builds it
    (:func:`conversion_paths` says which parts exist): ``|T|`` is a conditional negation by T's
    sign (``cneg``); its leading-zero count a priority encoder over the magnitude's bits
    (``lead1``: the frame's constant top bits fold); the normalising shift moves only those
    bits (the frame's bottom bits below them stay 0: a ``shift`` of the magnitude's width);
    the biased exponent ``x + constant - lz`` is one add of the narrow ``-lz`` (``addn``); the
    T = 0 select of the word. With subnormals: the denormalising right shift of the
    magnitude's bits into the frame and the sticky test's shift back (``shiftn`` each when the
    magnitude is narrower than the frame), the compare of the magnitude's bits and the two
    shift-amount selects. When it rounds: the 31-bit RNE increment (``inc``: a 1-bit carry
    added, half an adder). When it can saturate: the select of the largest finite word.
    ``t``, ``x``: the parts driving the block sum T and the scale exponent x (None: not stated,
    :func:`models.inventory.driven`); each part names the parts before it that feed it."""
    p = conversion_paths(fmt)
    A, mag, frame = FP32_WIDTH, p.magnitude_bits, p.frame
    frame_shift = frame.bit_length()
    narrow = (("shiftn", (mag, frame_shift, frame)) if mag < frame else ("shift", (frame, frame_shift)))

    def fed(part, *sources, **inputs):
        sources = tuple(s for s in sources if s is not None)
        inputs = {k: v for k, v in inputs.items() if v is not None}
        return driven(part, *sources, **inputs) if sources or inputs else part
    # what feeds what: |T| by T's sign, its leading zeros, the normalising shift by them, the
    # exponent from x and them; below the normal range the amount selects (from the exponent),
    # the denormalising shift and the sticky test; the rounding increment of the word; the
    # saturation and T = 0 selects of it
    magnitude = fed(("cneg", (mag, mag + 1), 1, "step"), t)
    lz = fed(("lead1", (mag,), 1, "step"), magnitude)
    norm = fed(("shift", (mag, frame_shift), 1, "step"), magnitude, sh=lz)
    exp = fed(("addn", (CONVERT_EXP_BITS, frame_shift + 1), 1, "step"), x, lz)
    extra, kept = [], norm
    if p.subnormal:
        amount = fed(("mux", (2, frame_shift), 2, "step"), exp)
        kept = fed((*narrow, 2, "step"), norm, sh=amount)
        extra += [kept, fed(("eq", (mag,), 1, "step"), kept, norm), amount]
    word = (kept, exp)
    if p.rounds:
        extra.append(fed(("inc", (A - 1,), 1, "step"), *word))
        word = (extra[-1],)
    if p.saturates:
        extra.append(fed(("mux", (2, A), 1, "step"), *dict.fromkeys((*word, exp))))
        word = (extra[-1],)
    return [magnitude, lz, norm, exp, fed(("mux", (2, A), 1, "step"), *word, sel=t)] + extra


def mx_pe_items(pe):
    """Cost inventory of :class:`hw.pe_mx.MxPE`, following its ``elaborate`` (B = sub_block):
    per element pair the two decodes (subnormal tests, exponent shifts), the significand
    multiplier, the shift-exponent add, the product's left shift and its conditional negation
    (MXINT8: one 8 x 8 signed multiplier); the balanced adder tree (B - 1 adders, widths growing
    by one bit a level); with more than one step per block the running-sum adder, the enabled
    ``partial`` register and its clear (a gate: it merges with the reset); the block-end compare of the scale-slot
    code; NVFP4: the scale significand multiplier and the block sum times it; the
    scale exponent add; the FP32 conversion (:func:`conversion_items`: only the paths the
    format's ranges reach); the FP32 adder (:func:`models.fp16_gemm.fp32_adder_items`); the
    infinity pass-through and continue select (one: both pick ``acc_in``) and the enabled 32-bit
    ``acc_out`` register."""
    f = pe.mx_format
    B, A = pe.sub_block, pe.acc_width
    extra_bits, _ = scale_terms(f)
    # what feeds what: per element pair the decodes, the significands' product (their
    # fraction bits are the ports'), shifted by the decoded exponents' sum and negated by the
    # signs' XOR; the adder tree of the lanes' terms, level by level; the running sum of the
    # tree and partial; the scales' exponents (and NVFP4's significands) from the scale slots;
    # the conversion of the block sum; the FP32 add of it and acc_in; the final select
    if f.ebits == 0:      # code.as_signed(): a signed multiply
        lane = [driven(("smult", (f.bits, f.bits), B, "step"), "act", "weight")]
    else:
        shift_bits = (2 * f.max_q).bit_length()
        # the decode (normal = ef != 0, q = normal ? ef - 1 : 0) is a constant function of the
        # exponent field: synthesis folds it into a small table, not a compare, add and mux;
        # the product (2 sig_bits bits) is shifted into 2 magnitude_bits (the zeros shifted in
        # are constant: shiftn, not a full-width barrel shifter) and negated by the signs (cneg)
        decode = [driven(t, "act", "weight") for t in exponent_decode_items(f.ebits, 2 * B, "step", offset=-1)]
        product = driven(("mult", (f.sig_bits, f.sig_bits), B, "step"), "act", "weight")
        shift = driven(("add", (shift_bits,), B, "step"),
                       *exponent_decode_sources(decode, f.ebits, "act", "weight", offset=-1))
        # the alignment words (aligned product, signed term, tree sums) carry their toggles
        # measured on the stream (models.internal_activity): far sparser than the ports'
        aligned = reads_word(driven(("shiftn", (2 * f.sig_bits, shift_bits, 2 * f.magnitude_bits), B, "step"),
                                    product, sh=shift), "aligned")
        lane = decode + [product, shift, aligned,
                         reads_word(driven(("cneg", (2 * f.magnitude_bits, 2 * f.magnitude_bits + 1), B, "step"),
                                           "act", "weight", x=aligned), "term")]
    tree, width, count = [], 2 * f.magnitude_bits + 1, B
    while count > 1:
        tree.append(reads_word(driven(("add", (width + 1,), count // 2, "step"), (tree or lane)[-1]),
                               f"tree{len(tree)}"))
        count, width = count - count // 2, width + 1
    sub_sum = (tree or lane)[-1]
    ends = driven(("eqc", (SCALE_BITS,), 1, "step"), "act")       # the code against CONTINUE_CODE
    running, total = [ends], sub_sum
    if pe.partial_bits:
        # the block end's clear of partial merges with its synchronous reset (Yosys's $sdffe):
        # a gate per bit of D, not a select
        partial = ("reg_en", (pe.partial_bits,), 1, "step")
        total = reads_word(driven(("add", (f.sum_bits,), 1, "step"), sub_sum, partial), "block_sum")
        running += [total, driven(("and", (pe.partial_bits,), 1, "step"), total, ends), partial]
    if f.scale == "e4m3":
        # each scale's decode (hidden bit = e != 0, q = e != 0 ? e - 1 : 0) is a constant
        # function of its exponent field: a table, as the elements' decode
        decode = [driven(t, "act", "weight") for t in
                  exponent_decode_items(SCALE_BITS - 1 - E4M3_SCALE_MAN_BITS, 2, "step", offset=-1)]
        x = driven(("add", (SCALE_BITS + 1,), 1, "step"),
                   *exponent_decode_sources(decode, SCALE_BITS - 1 - E4M3_SCALE_MAN_BITS, "act", "weight",
                                            offset=-1))
        scale_product = driven(("mult", (E4M3_SCALE_MAN_BITS + 1, E4M3_SCALE_MAN_BITS + 1), 1, "step"),
                               "act", "weight")
        # total is signed and scale_product unsigned: Amaranth writes $signed(total) *
        # $signed({1'b0, scale_product}), a signed multiply whose one operand's sign bit is the
        # constant 0: the characterised usmult (unsigned a-bit x signed b-bit), not the unsigned mult
        t = driven(("usmult", (extra_bits, f.sum_bits), 1, "step"), scale_product, total)
        scale = [x, scale_product, t, *decode]
    else:
        x = driven(("add", (SCALE_BITS + 1,), 1, "step"), "act", "weight")
        t, scale = total, [x]
    conversion = conversion_items(f, t, x)
    adder = fp32_adder_items("step", (conversion[4], "acc_in"))     # [4]: the T = 0 select
    infinite = driven(("eqc", (FP32_EXP_BITS,), 1, "step"), "acc_in")
    return (lane + tree + running + scale + conversion + adder
            # acc_out loads acc_in unless the step ends a block and acc_in is finite: the
            # infinity pass-through and the continue step select the same word, one select
            + [infinite, driven(("mux", (2, A), 1, "step"), adder[-1], "acc_in", sel=infinite),
               ("reg_en", (A,), 1, "step")])
