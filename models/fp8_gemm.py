"""Golden twin of the FP8 PE (``hw/pe_fp8.py``): OCP FP8 products summed exactly in fixed point.

Operands are OCP FP8 bit patterns (OFP8 v1.0), one format per design (the ``format`` option):

=======  ======  ======  ====  ==========================  ==============================
format   E bits  M bits  bias  codes that are not operands  largest normal (code)
=======  ======  ======  ====  ==========================  ==============================
e4m3     4       3       7     S.1111.111 (NaN)            448 = 1.75 * 2**8 (0x7E)
e5m2     5       2       15    S.11111.xx (inf, NaN)       57344 = 1.75 * 2**15 (0x7B)
=======  ======  ======  ====  ==========================  ==============================

Every other code is a finite operand: zeros of both signs, subnormals, normals up to max normal.
Infinities and NaNs never reach the array: the quantisers refuse non-finite tensors and
:func:`decode_fp8` refuses such codes (ValueError), so they are not valid operand codes.

The arithmetic, step by step (the RTL computes exactly this; the tests restate it per scalar):

1. **Decode** (code ``x``): ``s = x[7]``, ``ef = x[6:M]``, ``f = x[M-1:0]``; ``e = max(ef, 1)``,
   ``m = f | (ef != 0) << M`` (hidden bit, 0 for subnormals). Value ``(-1)**s * m * 2**(e - bias - M)``.
2. **Product** (exact): ``s_p = s_a ^ s_w``, ``m_p = m_a * m_w`` (an (M+1) x (M+1)-bit unsigned
   multiply: 4 x 4 bits for e4m3, 3 x 3 for e5m2), exponent ``e_a + e_w``.
3. **Alignment** (exact): ``p = (-1)**s_p * (m_p << (e_a + e_w - 2))``, an integer in units of
   ``2**-FRAC`` with ``FRAC = 2 * (bias + M - 1)`` (the smallest product, subnormal x subnormal
   ``2**(2 * (1 - bias - M))``, is one unit): FRAC 18 for e4m3, 32 for e5m2. ``|p|`` is below
   ``2**PRODUCT_BITS``: the shift reaches ``2 * (2**E - 1) - 2`` (28 / 58 bits; e5m2's all-ones
   exponent is not an operand), so PRODUCT_BITS = 2(M+1) + that = 36 for e4m3, 64 for e5m2.
4. **Accumulate** (exact): a two's-complement fixed-point (Kulisch-style) accumulator of
   ``ACC_WIDTH = PRODUCT_BITS + 1 (sign) + GROWTH_BITS`` bits with GROWTH_BITS = 16: 53 bits for
   e4m3, 81 for e5m2. ``acc += p``.
5. **Wrap**: the sum is taken modulo ``2**ACC_WIDTH`` (signed). No wrap can happen for
   K <= 2**GROWTH_BITS = 65536 (each ``|p| < 2**PRODUCT_BITS``), so up to there the raw output is
   the exact dot product; beyond, it wraps like any integer accumulator, order-independently.

Because every step is exact integer arithmetic (or a modular sum), the result does not depend on
the order of the additions: partial sums of different PEs add as integers, so the kind runs both
dataflows bit-exactly (``integer_accumulator``). Unlike an IEEE fused dot product there is no
rounding at all: the result is the exact sum (an FP32-accumulating tensor core rounds after each
add or after each block).

The raw output is that fixed-point integer; ``float = raw * 2**-FRAC * s_a * s_w[n]`` with the
quantisers' scales (activations: one per tensor, ``amax / max_normal``; weights: one per output
channel, the same rule per column of K x N), each element rounded to nearest even after clipping
to +-max_normal (:func:`models.quant.mx.quantize_fp8`).

For e5m2 the 81-bit accumulator exceeds int64: :func:`fp8_gemm` then returns a Python-int object
array (int64 for e4m3).
"""

import functools
from dataclasses import dataclass

import numpy as np

from hw.pe_fp8 import fp8_format

from . import inventory
from .fast_fp8 import all_in_table, fp8_codes
from .quant.common import as_float_2d
from .quant.mx import FP8_DTYPES, quantize_fp8

GROWTH_BITS = 16


@dataclass(frozen=True)
class Fp8Format:
    """One OCP FP8 format's arithmetic facts (see the module docstring's table)."""
    name: str
    ebits: int
    mbits: int
    nan_only: bool          # e4m3 ("fn"): only S.1111.111 is NaN, no infinities

    @property
    def bias(self):
        return (1 << (self.ebits - 1)) - 1

    @property
    def max_efield(self):
        """Largest exponent field of a finite code."""
        return (1 << self.ebits) - 1 if self.nan_only else (1 << self.ebits) - 2

    @property
    def max_normal_code(self):
        top_f = (1 << self.mbits) - (2 if self.nan_only else 1)
        return (self.max_efield << self.mbits) | top_f

    @property
    def frac(self):
        """Fraction bits of the accumulator: one unit is the smallest product."""
        return 2 * (self.bias + self.mbits - 1)

    @property
    def product_bits(self):
        """Bits of the largest product magnitude (mantissa product shifted by the top exponent)."""
        return 2 * (self.mbits + 1) + 2 * self.max_efield - 2

    @property
    def acc_width(self):
        return self.product_bits + 1 + GROWTH_BITS

    def valid(self, codes):
        """Boolean mask of the codes that are finite operands."""
        codes = np.asarray(codes, dtype=np.int64)
        ef = (codes >> self.mbits) & ((1 << self.ebits) - 1)
        if self.nan_only:
            return (codes & 0x7F) != 0x7F
        return ef != (1 << self.ebits) - 1


FORMATS = {"e4m3": Fp8Format("e4m3", 4, 3, True), "e5m2": Fp8Format("e5m2", 5, 2, False)}


def get_format(name):
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(f"FP8 format must be one of {', '.join(FORMATS)}, not {name!r}") from None


@functools.lru_cache(maxsize=None)
def _operand_table(fmt):
    """(256,) bool, read-only: :meth:`Fp8Format.valid` of every 8-bit code."""
    table = get_format(fmt).valid(np.arange(256))
    table.flags.writeable = False
    return table


def check_fp8_codes(name, codes, fmt):
    """``codes`` as int64 if all are 8-bit patterns of finite ``fmt`` values; ValueError naming
    ``name`` and the first bad code otherwise (NaN / infinity codes are not operands)."""
    f = get_format(fmt)
    codes = np.asarray(codes, dtype=np.int64)
    if all_in_table(codes, _operand_table(fmt)):        # large arrays: one compiled pass
        return codes
    if codes.size and (codes.min() < 0 or codes.max() > 0xFF):
        raise ValueError(f"{name} FP8 codes must be 8-bit patterns (0..255)")
    bad = ~f.valid(codes)
    if np.any(bad):
        raise ValueError(f"{name} codes hold FP8 {fmt} NaN/infinity patterns (e.g. "
                         f"0x{int(codes[bad].flat[0]):02X}), which are not operands")
    return codes


def decode_fp8(codes, fmt):
    """Step 1: FP8 codes -> (sign, exponent e, mantissa m incl. the hidden bit) int64 arrays."""
    f = get_format(fmt)
    codes = check_fp8_codes("operand", codes, fmt)
    ef = (codes >> f.mbits) & ((1 << f.ebits) - 1)
    frac = codes & ((1 << f.mbits) - 1)
    return (codes >> 7) & 1, np.maximum(ef, 1), frac | ((ef != 0).astype(np.int64) << f.mbits)


def aligned_operand(codes, fmt):
    """``(-1)**s * (m << (e - 1))`` per element: each product of step 3 is the product of two of
    these, ``(m_a << (e_a - 1)) * (m_w << (e_w - 1)) = m_a * m_w << (e_a + e_w - 2)``."""
    s, e, m = decode_fp8(codes, fmt)
    return np.where(s == 1, -1, 1) * (m << (e - 1))


def _exact_matmul(a, b):
    """Exact integer ``a @ b`` of int64 matrices with entries below 2**32 in magnitude, as a
    Python-int object array: each side splits into 16-bit halves so every partial matmul stays
    far inside int64 (K < 2**31)."""
    def halves(x):
        sign = np.where(x < 0, -1, 1)
        mag = np.abs(x)
        return sign * (mag >> 16), sign * (mag & 0xFFFF)
    ah, al = halves(a)
    bh, bl = halves(b)
    obj = lambda x: x.astype(object)
    return ((obj(ah @ bh) << 32) + (obj(ah @ bl + al @ bh) << 16)) + obj(al @ bl)


def wrap_wide(values, width):
    """Python-int (object) or int64 array -> wrapped to signed ``width`` bits: int64 if
    ``width`` <= 64, else a Python-int object array."""
    values = np.asarray(values, dtype=object)
    half = 1 << (width - 1)
    wrapped = (values + half) % (1 << width) - half
    return wrapped.astype(np.int64) if width <= 64 else wrapped


def fp8_gemm(acts, weights, fmt):
    """acts (M x K) and weights (K x N) FP8 codes -> M x N raw accumulator values (steps 1-5)."""
    f = get_format(fmt)
    a = aligned_operand(acts, fmt)
    w = aligned_operand(weights, fmt)
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"shapes do not chain: acts {a.shape} @ weights {w.shape}")
    return wrap_wide(_exact_matmul(a, w), f.acc_width)


def fp8_to_float(codes, fmt):
    """FP8 codes -> float64 values (from the format's definition, step 1)."""
    f = get_format(fmt)
    s, e, m = decode_fp8(codes, fmt)
    return np.where(s == 1, -1.0, 1.0) * np.ldexp(m.astype(np.float64), e - f.bias - f.mbits)


def raw_to_float(raw, fmt):
    """Raw accumulator values -> float64 (``raw * 2**-FRAC``). Python ints (wide accumulators)
    and int64 values both round to nearest, ties to even, so int64 arrays skip the object detour;
    a float64 array is taken as the raw values already so rounded (the accuracy runs' fast path,
    :func:`models.fast_golden.fast_output`, rounds its exact wide sums without Python ints)."""
    raw = np.asarray(raw)
    if raw.dtype == np.float64:
        values = raw
    else:
        values = raw.astype(np.float64) if raw.dtype.kind in "iu" else raw.astype(object).astype(np.float64)
    return np.ldexp(values, -get_format(fmt).frac)


# ---------------------------------------------------------------------------------------------
# registry functions


def _check_finite(x, name):
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contain NaN or infinity: FP8 operands must be finite")
    return x


def quantize_fp8_acts(x, pe):
    """M x K floats -> FP8 codes with one per-tensor scale ``amax / max_normal`` (RNE)."""
    q = quantize_fp8(_check_finite(x, "activations"), pe.format)
    return q.codes.astype(np.int64), {"format": f"fp8-{pe.format}", "granularity": "tensor",
                                      "scale": [float(q.scale)],
                                      "dequantise": "value = fp8(code) * scale"}


def quantize_fp8_weights(w, pe):
    """K x N floats -> FP8 codes with one scale per output channel (column): ``amax_n / max_normal``."""
    w = as_float_2d(_check_finite(w, "weights"), "weights")
    # quantize_fp8 of every column at once: the same float64 amax, scale, division and RNE cast
    _, fmax = FP8_DTYPES[get_format(pe.format).name]
    amax = np.max(np.abs(w), axis=0)
    scale = np.where(amax > 0, amax / fmax, 1.0)
    codes = fp8_codes(w, scale, pe.format).astype(np.int64)   # the ml_dtypes cast, compiled
    return codes, {"format": f"fp8-{pe.format}", "granularity": "channel", "scale": scale.tolist(),
                   "dequantise": "value = fp8(code) * scale[n]"}


def fp8_golden(acts, weights, pe):
    return fp8_gemm(acts, weights, pe.format)


def fp8_dequantise(raw, acts, a_meta, w_meta, pe):
    """Raw accumulator -> floats: ``raw * 2**-FRAC * s_a * s_w[n]``."""
    s_w = np.asarray(w_meta["scale"], dtype=np.float64)
    return raw_to_float(raw, pe.format) * a_meta["scale"][0] * s_w[None, :]


def fp8_check_operands(acts, weights, pe, a_meta=None, w_meta=None):
    """Refuse NaN / infinity codes (ValueError naming the operand) when a run's operands are built.

    Registered as the kind's ``extra_operand`` hook because :meth:`PEKind.operands` has no
    per-kind code check (its range check only knows bits and signedness); it always returns None:
    the kind takes no extra operand."""
    check_fp8_codes("activation", acts, pe.format)
    check_fp8_codes("weight", weights, pe.format)
    return None


def special_codes(fmt):
    """Every special finite code of ``fmt``: +-0, the smallest and largest subnormal, the smallest
    normal and +-max normal (and the next codes below)."""
    f = get_format(fmt)
    top_sub = (1 << f.mbits) - 1
    min_normal = 1 << f.mbits
    mx = f.max_normal_code
    pos = [0, 1, top_sub, min_normal, mx, mx - 1]
    return pos + [0x80 | c for c in pos]


def random_fp8_operands(rng, m, k, n, pe):
    """Uniform draws over the valid codes of the PE's format, with every special value of
    :func:`special_codes` placed at random positions of each operand that has room for them all;
    in a smaller operand each element is a random special value with probability 1/4 (so a
    1 x 1 draw is not always the same code)."""
    f = get_format(pe.format)
    valid = np.flatnonzero(f.valid(np.arange(256)))
    specials = np.array(special_codes(pe.format))

    def draw(shape):
        codes = rng.choice(valid, size=shape)
        if codes.size >= len(specials):
            codes.flat[rng.choice(codes.size, size=len(specials), replace=False)] = specials
        else:
            codes = np.where(rng.random(shape) < 0.25, rng.choice(specials, size=shape), codes)
        return codes.astype(np.int64)
    return draw((m, k)), draw((k, n))


def fp8_pe_items(pe, acc_in_bits=None):
    """Cost inventory of :class:`hw.pe_fp8.Fp8PE`, following its ``elaborate``: per operand the
    exponent-field zero test and the exponent select (``max(ef, 1)``); the one (M+1) x (M+1)
    mantissa multiplier; the exponent sum (the shift amount); the left shift of the 2(M+1)-bit
    mantissa product into ``product_bits`` (``shiftn``: Yosys's ``$shl`` of the narrow product);
    the sign-magnitude accumulate (:func:`signed_accumulate_items`) and the enabled ``acc_out``
    register (the PE's only flops), :func:`fp8_acc_out_bits` wide (``acc_in_bits`` as in
    :func:`models.inventory.int8_pe_items`: the add folds when ``acc_in`` is the constant 0)."""
    E, M, _ = fp8_format(pe.format)
    P = pe.product_bits
    shift_bits = pe.shift_max.bit_length()
    out = fp8_acc_out_bits(pe, acc_in_bits)
    driven = inventory.driven
    # what feeds what: each operand's exponent decode; the significands' product (their
    # fraction bits are the ports'); the sum of the decoded exponents shifts the product;
    # the shifted product meets acc_in, negated by the signs
    decode = [driven(t, "act", "weight") for t in inventory.exponent_decode_items(E, 2, "step")]
    product = driven(("mult", (M + 1, M + 1), 1, "step"), "act", "weight")
    shift = driven(("add", (E + 1,), 1, "step"),
                   *inventory.exponent_decode_sources(decode, E, "act", "weight"))
    # the aligned product carries its toggles measured on the stream (models.internal_activity)
    aligned = inventory.reads_word(driven(("shiftn", (2 * (M + 1), shift_bits, P), 1, "step"), product, sh=shift),
                                   "aligned")
    return [*decode, product, shift, aligned,
            *signed_accumulate_items(P, out, acc_in_bits, aligned), ("reg_en", (out,), 1, "step")]


def signed_accumulate_items(P, out, acc_in_bits, aligned):
    """``acc_in + Mux(sign, -aligned, aligned)`` (a ``P``-bit magnitude): one sign-magnitude
    accumulate (``cnegadd``: synthesis merges the negation into the add) into ``out`` bits, or
    the conditional negation alone (``cneg``) when ``acc_in`` is the constant 0. ``aligned``:
    the part driving the magnitude; the sign is the XOR of act's and weight's sign bits."""
    if acc_in_bits == 0:
        return [inventory.driven(("cneg", (P, P + 1), 1, "step"), "act", "weight", x=aligned)]
    return [inventory.driven(("cnegadd", (P, out), 1, "step"), "act", "weight", x=aligned, c="acc_in")]


def fp8_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of :class:`hw.pe_fp8.Fp8PE`'s (and the L-Mul PE's) ``acc_out``:
    ``acc_in`` + the signed product (``product_bits`` + 1 bits)."""
    return inventory.sum_bits(pe.acc_width, pe.product_bits + 1, acc_in_bits)


inventory.register_chain(fp8_pe_items, fp8_acc_out_bits)