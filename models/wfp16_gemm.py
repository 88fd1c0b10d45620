"""Golden twin of the weight-only FP16-activation PE (``hw/pe_wfp16.py``): FP16 activations x
INT4 / INT8 / OliVe-OVP4 weights with one scale per output channel, products summed exactly.

The weight-only baselines BitMoD re-modelled ANT and OliVe as (weights quantised, activations
kept in FP16; spec ``pe-designs.md`` section 2). Operands, one ``weight_format`` per design:

==========  =================================================  =========================
format      weight element code                                operand ``<e_w, i>``
==========  =================================================  =========================
int4        signed two's complement, -8..7 (quantiser: -7..7)  ``<0, code>``
int8        signed two's complement, -128..127 (-127..127)     ``<0, code>``
ovp4        OliVe int4 OVP nibble (unsigned), pairs along K    OVP decode of the pair
==========  =================================================  =========================

OVP pairs decode as in :mod:`models.ovp_gemm` (normal ``<0, v>``, v in -7..7; victim ``<0, 0>``;
outlier ``<e + 2, +-(2 + m)>``, e_w <= 5).

The arithmetic, step by step (the RTL computes exactly this; ``tests/test_pe_wfp16.py`` restates
it per scalar with exact rationals):

1. **Decode the activation** (FP16 bits ``x``, finite): ``s = x[15]``, ``ef = x[14:10]``,
   ``f = x[9:0]``; ``e_a = max(ef, 1)``, ``m = f | (ef != 0) << 10`` (subnormals kept, no flush
   to zero). Value ``(-1)**s * m * 2**(e_a - 25)``. Infinity / NaN codes (``ef = 31``) are not
   operands: the quantiser refuses NaN/inf input and values beyond 65504 (ValueError), and
   :func:`wfp16_gemm` refuses such codes.
2. **Product: exact.** ``m * i`` (11-bit unsigned x I-bit signed), negated when ``s``, shifted left
   by ``e_a - 1 + e_w``: ``p = (-1)**s * (m * i) << (e_a - 1 + e_w)``, an integer in units of
   ``2**-24`` (:data:`ACC_FRAC`; one unit is the smallest FP16 subnormal). ``|p|`` is below
   ``2**product_bits`` (43 / 47 / 48 bits for int4 / int8 / ovp4). No rounding.
3. **Accumulate: exact.** A two's-complement fixed-point (Kulisch-style) accumulator of
   ``acc_width = product_bits + 1 + 16`` bits (60 / 64 / 65): ``acc += p``, from 0 (or a given
   ``acc_in``), wrapped modulo ``2**acc_width``. No wrap happens for K <= 2**16, so up to there
   the raw output is the exact dot product ``sum_k a_k * (i_k << e_k)``; order-independent, so
   partial sums of different PEs add as integers and both dataflows are bit-exact.
4. **Scale.** Without groups (``group_size`` None): per output channel, on the host, once per
   output after the exact sum: ``out[m, n] = raw[m, n] * 2**-24 * s_w[n]`` in float64 (the only
   rounding: float64 holds 53 of the raw's up to 64 bits, then one product with the scale).
   With groups (``group_size`` G, int4 / int8, weight-stationary): BitMoD's two-level scale,
   ``s[g, n] = code[g, n] * s2[n]`` with an unsigned 8-bit ``code`` (1..255) per group of G K
   elements and column and a float ``s2`` per column. The accelerator's post-array unit
   multiplies each group's exact partial sum by its code after the group (integer, exact) and
   sums the groups (:func:`wfp16_grouped`):
   ``total = wrap(total + wrap(raw_g * code_g))``, all wraps to ``acc_width`` (60 / 64 bits; no
   wrap while ``|total| < 2**(acc_width - 1)``: a group of 128 largest products times 255 is
   below 2**58 / 2**62). The float output is ``total * 2**-24 * s2[n]`` (host, float64).

Where this differs from an IEEE dot product: an IEEE (or tensor-core) FP16 x INT -> FP16/FP32
MAC rounds after every addition (K order-dependent roundings, as :mod:`models.fp16_gemm` does);
this design never rounds inside the dot product (a fused, exact dot product: the result is the
correctly rounded value of the exact sum, up to the final float64 conversion). BitMoD's own
ANT/OliVe baseline ("FP16 x INT8 -> FP16 MAC") accumulates in FP16; the exact accumulator costs
a wider adder and register instead of an FP adder's align / normalise / round.

Quantisers: activations are FP16 (RNE, no scale; :func:`models.fp16_gemm.encode_fp16`);
int4 / int8 weights symmetric per output channel (:func:`models.intcodes.quantize_weights`);
ovp4 weights with OliVe's per-channel alpha search (:func:`models.ovp_gemm.quantize_ovp_weights`);
grouped int4 / int8 weights by BitMoD's quantiser with second-level INT8 group scales
(:func:`models.quant.bitmod.quantize_bitmod`, ``scale_format="int8"``; K zero-padded to whole
groups for the quantiser only).
"""

import numpy as np

from hw.pe_wfp16 import ACC_FRAC, FP16_EXP_BITS, SIG_BITS, WEIGHT_FORMATS, lookup_weight_format
from hw.scale_dequant import SCALE_CODE_MAX

from . import fp16_gemm, inventory
from .bitserial_fp16 import check_fp16_codes, decode_fp16
from .bitserial_gemm import grouped_scale_operand, groups_of, scale_codes_of
from .fp8_gemm import wrap_wide
from .golden import wrap_signed
from .intcodes import quantize_weights as quantize_int_weights
from .ovp_gemm import pair_values as ovp_pair_values, quantize_ovp_weights
from .quant.bitmod import quantize_bitmod

#: bits of the activation operand's low half in :func:`_exact_matmul` (|a| < 2**40 splits into
#: two parts below 2**20, so each partial matmul stays far inside int64)
SPLIT_BITS = 20


def activation_operand(acts):
    """FP16 codes (M x K) -> ``(-1)**s * (m << (e_a - 1))`` (int64, |.| < 2**40): the activation
    in units of 2**-24 (steps 1-2). ValueError for infinity / NaN codes."""
    s, e, m = decode_fp16(acts)
    return np.where(s == 1, -1, 1) * (m << (e - 1))


def weight_operand(weights, weight_format):
    """Weight codes (K x N) -> ``i << e_w`` (int64): the weight in code units (step 2)."""
    fmt = lookup_weight_format(weight_format)
    weights = np.asarray(weights, dtype=np.int64)
    if fmt.ovp_mode is None:
        return weights
    # i << e of the decoded pairs, one table lookup per stored pair (ovp_gemm.pair_values: the
    # element-wise decode_pairs' values, tests/test_exact_speedups.py)
    return ovp_pair_values(weights.T, fmt.ovp_mode)[:, :weights.shape[0]].T   # (N, K even) -> K x N


def _exact_matmul(a, w):
    """Exact ``a @ w`` (a: |a| < 2**40, w: |w| <= 224) as a Python-int object array."""
    sign = np.where(a < 0, -1, 1)
    mag = np.abs(a)
    hi, lo = sign * (mag >> SPLIT_BITS), sign * (mag & ((1 << SPLIT_BITS) - 1))
    return ((hi @ w).astype(object) << SPLIT_BITS) + (lo @ w).astype(object)


def wfp16_gemm(acts, weights, *, weight_format, acc_width):
    """acts (M x K) FP16 codes and weights (K x N) codes -> M x N raw accumulator values (steps
    1-3): int64 for ``acc_width`` <= 64, else Python ints (object array)."""
    a = activation_operand(acts)
    w = weight_operand(weights, weight_format)
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"shapes do not chain: acts {a.shape} @ weights {w.shape}")
    return wrap_wide(_exact_matmul(a, w), acc_width)


def wfp16_grouped(acts, weights, scale_codes, *, group_size, weight_format, acc_width):
    """The grouped design's output (step 4): per group of ``group_size`` K elements the exact
    partial sums (steps 1-3) times the group's scale codes ((groups, N) integers 1..255), summed
    over the groups, every sum and product wrapped to ``acc_width`` (<= 64) bits; int64."""
    k, n = np.shape(weights)
    ng = groups_of(k, group_size)
    scale_codes = np.asarray(scale_codes, dtype=np.int64)
    if scale_codes.shape != (ng, n):
        raise ValueError(f"scale codes are {scale_codes.shape}, the GEMM has {ng} groups of "
                         f"{group_size} (K = {k}) x {n} columns")
    total = np.zeros((np.shape(acts)[0], n), dtype=object)
    for g in range(ng):
        sl = slice(g * group_size, min(k, (g + 1) * group_size))
        raw = wfp16_gemm(np.asarray(acts)[:, sl], np.asarray(weights)[sl], weight_format=weight_format,
                         acc_width=acc_width).astype(object)
        total = wrap_signed(total + wrap_signed(raw * scale_codes[g].astype(object)[None, :], acc_width),
                            acc_width)
    return np.asarray(total, dtype=np.int64)


def raw_to_float(raw):
    """Raw accumulator values -> float64 (``raw * 2**-24``: activation units x weight code units).
    Python ints (the 65-bit accumulator) and int64 values both round to nearest, ties to even,
    so int64 arrays skip the object detour (and so do float raw values: already rounded, the
    accuracy runs' :func:`models.fast_golden.wfp16_float`)."""
    raw = np.asarray(raw)
    values = raw.astype(np.float64) if raw.dtype.kind in "iuf" else raw.astype(object).astype(np.float64)
    return np.ldexp(values, -ACC_FRAC)


# ---------------------------------------------------------------------------------------------
# registry functions


def default_scale_codes(k, n, pe):
    """Reproducible pseudo-random group scale codes for a GEMM given as codes (seeded by the
    shape and the format), the extremes 1 and 255 present when there are at least two entries."""
    ng = groups_of(k, pe.group_size)
    rng = np.random.default_rng([k, n, pe.group_size, tuple(WEIGHT_FORMATS).index(pe.weight_format)])
    codes = rng.integers(1, SCALE_CODE_MAX + 1, size=(ng, n))
    if codes.size >= 2:
        codes.flat[0], codes.flat[-1] = 1, SCALE_CODE_MAX
    return codes


def wfp16_golden(acts, weights, pe, extra=None):
    """``golden_gemm`` of the kind: the raw exact GEMM, or the grouped output for ``extra``
    (ScaleCodes; None = :func:`default_scale_codes`)."""
    kw = dict(weight_format=pe.weight_format, acc_width=pe.acc_width)
    if pe.group_size is None:
        if extra is not None:
            raise ValueError("the per-channel wfp16 design (group_size None) takes no parameters")
        return wfp16_gemm(acts, weights, **kw)
    k, n = np.shape(weights)
    codes = default_scale_codes(k, n, pe) if extra is None else scale_codes_of(extra)
    return wfp16_grouped(acts, weights, codes, group_size=pe.group_size, **kw)


def quantize_wfp16_acts(x, pe):
    """M x K floats -> FP16 codes (RNE, no scale; NaN / inf / beyond 65504 refused)."""
    return fp16_gemm.quantize_fp16_acts(x, pe)


def quantize_wfp16_weights(w, pe):
    """K x N floats -> weight codes of ``pe.weight_format``, one scale per output channel."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or infinity: weight operands must be finite")
    fmt = lookup_weight_format(pe.weight_format)
    if fmt.ovp_mode is not None:
        return quantize_ovp_weights(w, mode=fmt.ovp_mode)
    if pe.group_size is None:
        return quantize_int_weights(w, bits=fmt.code_bits)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    k, n = w.shape
    G = pe.group_size
    padded = np.zeros((groups_of(k, G) * G, n))
    padded[:k] = w
    qt = quantize_bitmod(padded.T, fmt.name, group_size=G, scale_format="int8")
    codes = np.rint(qt.codes.T[:k]).astype(np.int64)                   # K x N code units
    return codes, {
        "format": fmt.name, "group_size": G,
        "granularity": f"group of {G} along K per output column, INT8 scale codes x a per-column scale",
        "scale_codes": qt.meta["scale_codes"].T.astype(int).tolist(),     # (groups, N)
        "second_level_scale": qt.meta["second_level_scale"][:, 0].tolist(),   # (N,)
        "dequantise": "value = code * scale_code[group, n] * second_level_scale[n]"}


def wfp16_extra_operand(acts, weights, pe, a_meta=None, w_meta=None):
    """Refuse FP16 infinity / NaN activation codes (ValueError) when a run's operands are built,
    before any work (:meth:`PEKind.operands` checks only bits and signedness); the grouped design's
    scale codes (:class:`hw.scale_dequant.ScaleCodes`) from the weights' metadata, or
    :func:`default_scale_codes` for weights given as codes; None without groups."""
    check_fp16_codes(acts)
    return grouped_scale_operand(weights, pe, w_meta, default_scale_codes)


def wfp16_dequantise(raw, acts, a_meta, w_meta, pe):
    """Raw accumulator -> floats (step 4; FP16 activations carry no scale): ``raw * 2**-24 *
    s_w[n]``, or for the grouped design ``total * 2**-24 * s2[n]``."""
    key = "scale" if pe.group_size is None else "second_level_scale"
    s_w = np.ravel(np.asarray(w_meta[key], dtype=np.float64))
    return raw_to_float(raw) * s_w[None, :]


def special_weight_codes(pe):
    """The weight codes every random draw includes: int formats their extremes, 0, +-1; ovp4 the
    victim, the largest outlier magnitudes (both signs) and the normal extremes."""
    fmt = lookup_weight_format(pe.weight_format)
    if fmt.ovp_mode is None:
        lo, hi = -(1 << (fmt.code_bits - 1)), (1 << (fmt.code_bits - 1)) - 1
        return np.array([lo, hi, 0, 1, -1, lo + 1])
    return np.array([8, 0x3, 0xB, 0x7, 0x9, 0x0, 0xF])     # victim, +-outlier/normal extremes


def _draw(rng, shape, pool, specials):
    """Uniform codes from ``pool``, each a random special code with probability 1/4; an operand
    with room for them all holds every special code at least once."""
    codes = rng.choice(pool, size=shape)
    codes = np.where(rng.random(shape) < 0.25, rng.choice(specials, size=shape), codes)
    if codes.size >= 2 * len(specials):
        codes.flat[rng.choice(codes.size, size=len(specials), replace=False)] = specials
    return codes.astype(np.int64)


def random_wfp16_operands(rng, m, k, n, pe):
    """FP16 activation codes over every finite exponent and both signs, with the special codes
    (+-0, smallest / largest subnormal, smallest normal, 1.0, +-max normal); weight codes uniform
    over the format's whole code range with its special codes (:func:`special_weight_codes`)."""
    finite = np.arange(1 << 16)
    finite = finite[((finite >> 10) & 31) != 31]
    act_specials = np.concatenate([fp16_gemm.SPECIAL_CODES, fp16_gemm.SPECIAL_CODES | 0x8000])
    fmt = lookup_weight_format(pe.weight_format)
    lo = -(1 << (fmt.code_bits - 1)) if pe.weight_signed else 0
    pool = np.arange(lo, lo + (1 << fmt.code_bits))
    return _draw(rng, (m, k), finite, act_specials), _draw(rng, (k, n), pool, special_weight_codes(pe))


def wfp16_pe_items(pe, acc_in_bits=None):
    """Cost inventory of :class:`hw.pe_wfp16.Wfp16PE`, following its ``elaborate``: per element
    (``k_per_step``) the FP16 exponent field's decode (``normal = ef != 0``, ``e_a = max(ef, 1)``:
    a constant function of the field, which synthesis folds to a small table,
    :func:`models.inventory.table_items`), the significand multiplier (the 12-bit signed
    significand's sign bit is the constant 0: an 11-bit unsigned x I-bit signed ``usmult``,
    not a 12-bit signed one), the activation sign's conditional negation of the product
    (``cneg``: one XOR-and-increment, not a negation and a select), the shift-amount add
    (``e_a - 1 + e_w``) and the left shift of the signed product into ``product_bits + 1``; the
    element terms' add (ovp4), the accumulate adder and the enabled ``acc_out`` register (the
    PE's only flops), :func:`wfp16_acc_out_bits` wide (``acc_in_bits`` as in
    :func:`models.inventory.int8_pe_items`: in a weight-stationary column row 0's ``acc_in`` is
    the constant 0 and the add folds)."""
    fmt = lookup_weight_format(pe.weight_format)
    n, P, B = pe.k_per_step, pe.product_bits, pe.mult_bits
    shift_bits = pe.shift_max.bit_length()
    driven = inventory.driven
    # what feeds what, per element: act's exponent decode; the significand (act's fraction)
    # times the weight's integer, negated by act's sign; the decoded exponent plus the weight's
    # shifts it; the terms' add, then acc_in's
    decode = [driven(t, "act") for t in inventory.exponent_decode_items(FP16_EXP_BITS, n, "step")]
    product = driven(("usmult", (SIG_BITS, fmt.int_width), n, "step"), "act", "weight")
    signed_ = driven(("cneg", (B, B + 1), n, "step"), x=product, s="act")
    shift = driven(("add", (shift_bits,), n, "step"),
                   *inventory.exponent_decode_sources(decode, FP16_EXP_BITS, "act"), "weight")
    term = driven(("shiftn", (B + 1, shift_bits, P + 1), n, "step"), signed_, sh=shift)
    items = decode + [product, signed_, shift, term]
    if n > 1:
        items.append(driven(("add", (P + 2,), n - 1, "step"), term))
    out = wfp16_acc_out_bits(pe, acc_in_bits)
    add = [] if acc_in_bits == 0 else [driven(("add", (out,), 1, "step"), items[-1], "acc_in")]
    return items + add + [("reg_en", (out,), 1, "step")]


def wfp16_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of :class:`hw.pe_wfp16.Wfp16PE`'s ``acc_out``: ``acc_in`` + the step's
    sum of ``k_per_step`` terms (``product_bits + k_per_step`` signed bits, as ``elaborate``
    declares it)."""
    return inventory.sum_bits(pe.acc_width, pe.product_bits + pe.k_per_step, acc_in_bits)


inventory.register_chain(wfp16_pe_items, wfp16_acc_out_bits)
