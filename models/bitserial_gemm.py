"""Golden twin of the BitMoD bit-serial design (INT8 activations): codes, terms, raw and grouped GEMM.

Independent of the RTL: the code tables below are the spec's (section 2), the terms come from
:mod:`models.quant.bitmod` (``booth_terms`` for INT8 / INT6, ``fp_terms`` for FP4 / FP3 incl. the
special values), and the GEMM is the sum over term planes ``A @ (sign_t * 2**shift_t)``: exactly
the partial products the PE adds, one per cycle.

Weight element codes (the contract with :mod:`hw.bitserial_terms`): ``int8``/``int6`` two's
complement; ``fp4``/``fp3`` sign bit on top of a magnitude index into ``FP4_MAGNITUDES`` /
``FP3_MAGNITUDES`` (code units: FP4 values x 2), ``-0`` = 0; ``mixed4``/``mixed3`` add the group's
2-bit special-value selector above the fp code, and ``-0`` means the selected special value
(order er_pos, er_neg, ea_pos, ea_neg = :data:`models.quant.bitmod.MIXED`).

Grouped design (``group_size`` G): K is zero-padded to whole groups; per group g and column n

    raw_g = wrap(sum_{k in g} a[m, k] * w[k, n])            (the array, wrapped to acc_width)
    out   = wrap(sum_g wrap(raw_g * scale_code[g, n]))     (the dequantiser and the running total)

with ``scale_code`` the 8-bit unsigned group scale of BitMoD's second-level INT8 scale option
(:func:`models.quant.bitmod.quantize_bitmod` with ``scale_format="int8"``: every group scale is
``scale_code * s2[n]`` per *code unit*: the quantiser scales by ``max|level|`` in code units), so
the float output is ``out * s_a * s2[n]``. The accelerator applies the codes with its digit-serial scale unit
(:mod:`hw.scale_dequant`); the extra operand is :class:`hw.scale_dequant.ScaleCodes`.
"""

import functools

import numpy as np

from hw.scale_dequant import SCALE_CODE_MAX, ScaleCodes
from .fast_bitmod import encode_lookup, encode_rows_lookup
from .golden import wrap_signed
from .intcodes import quantize_acts as _quantize_int8_acts
from .quant.bitmod import MIXED, UNIT, booth_terms, fp_terms, quantize_bitmod

FP4_MAGNITUDES = (0, 1, 2, 3, 4, 6, 8, 12)
FP3_MAGNITUDES = (0, 1, 2, 4)
SPECIAL_VALUES = {"mixed4": (10, -10, 16, -16), "mixed3": (3, -3, 6, -6)}
BOOTH_BITS = {"int8": 8, "int6": 6}
FORMAT_NAMES = ("int8", "int6", "fp4", "fp3", "mixed4", "mixed3")
# the BitMoD quantiser's dtype for each format
QUANT_DTYPE = {"int8": "int8", "int6": "int6", "fp4": "fp4", "fp3": "fp3",
               "mixed4": "mixed4", "mixed3": "mixed3"}


def _check_format(fmt):
    if fmt not in FORMAT_NAMES:
        raise ValueError(f"unknown bit-serial weight format {fmt!r}; known: {', '.join(FORMAT_NAMES)}")


def _fp_magnitudes(fmt):
    return FP4_MAGNITUDES if fmt in ("fp4", "mixed4") else FP3_MAGNITUDES


def _fp_value_bits(fmt):
    return 4 if fmt in ("fp4", "mixed4") else 3


def decode_weight_codes(codes, fmt):
    """Element codes -> integer values in code units (int64), per the module docstring.

    The FP-like formats are one lookup in :func:`_decode_table`: :func:`decode_field_by_field`
    reads only a code's low ``value bits + 2`` (mixed) or ``value bits`` bits, so the table of
    those bits' values gives its value for every int64 code (tests/test_exact_speedups.py)."""
    _check_format(fmt)
    codes = np.asarray(codes, dtype=np.int64)
    if fmt in BOOTH_BITS:
        return codes
    table = _decode_table(fmt)
    return table[codes & (table.size - 1)]


@functools.lru_cache(maxsize=None)
def _decode_table(fmt):
    """:func:`decode_field_by_field` of every code of the bits it reads (read-only)."""
    bits = _fp_value_bits(fmt) + (2 if fmt in SPECIAL_VALUES else 0)
    table = decode_field_by_field(np.arange(1 << bits), fmt)
    table.setflags(write=False)
    return table


def decode_field_by_field(codes, fmt):
    """:func:`decode_weight_codes` of the FP-like formats field by field (the definition)."""
    _check_format(fmt)
    codes = np.asarray(codes, dtype=np.int64)
    vb = _fp_value_bits(fmt)
    mags = np.asarray(_fp_magnitudes(fmt), dtype=np.int64)
    sign = (codes >> (vb - 1)) & 1
    index = codes & ((1 << (vb - 1)) - 1)
    values = np.where(sign == 1, -mags[index], mags[index])
    if fmt in SPECIAL_VALUES:
        sv = np.asarray(SPECIAL_VALUES[fmt], dtype=np.int64)
        selector = (codes >> vb) & 3
        values = np.where((sign == 1) & (index == 0), sv[selector], values)
    return values


def encode_weight_values(values, fmt, selector=None):
    """Integer values in code units (and, for mixed formats, each element's 2-bit selector) ->
    element codes. Raises ValueError for a value the format (or the element's SV) cannot hold.

    The FP-like formats are one lookup in the table :func:`_encode_table` makes with
    :func:`encode_field_by_field` of every (value, selector) pair (the encoding is per element);
    an input holding a pair it refuses goes through that function, raising its error
    (tests/test_fast_paths2.py pins the two)."""
    _check_format(fmt)
    if fmt in BOOTH_BITS or (fmt in SPECIAL_VALUES and selector is None):
        return encode_field_by_field(values, fmt, selector)
    table, reach = _encode_table(fmt)
    # table[(values + reach) * 4 + sel], compiled, or None for a value, selector or pair the table
    # does not hold (models.fast_bitmod)
    codes = encode_lookup(values, selector if fmt in SPECIAL_VALUES else 0, table, reach)
    return encode_field_by_field(values, fmt, selector) if codes is None else codes


def encode_quantised(q, selector, group, k, fmt):
    """Element codes (K x N) of the BitMoD quantiser's levels ``q`` (N, K' code units, integers)
    and its per-group ``selector`` (N, K' / group), the first ``k`` of each row: exactly
    ``encode_weight_values(rint(q.T[:k]), fmt, selector repeated per element)`` (the selector
    for the formats with special values only). The FP-like formats' codes are one compiled
    lookup per element in the quantiser's layout (:func:`models.fast_bitmod.encode_rows_lookup`);
    Booth formats, or a pair the table refuses, go through :func:`encode_weight_values`."""
    if fmt not in BOOTH_BITS:
        table, reach = _encode_table(fmt)
        codes = encode_rows_lookup(q, selector if fmt in SPECIAL_VALUES else np.zeros_like(selector),
                                   group, k, table, reach)
        if codes is not None:
            return codes
    values = np.rint(q.T[:k]).astype(np.int64)                         # K x N code units
    per_element = np.repeat(selector.T, group, axis=0)[:k]
    return encode_weight_values(values, fmt, per_element if fmt in SPECIAL_VALUES else None)


@functools.lru_cache(maxsize=None)
def _encode_table(fmt):
    """:func:`encode_field_by_field` of every value in ``-reach .. reach`` (``reach`` the largest
    magnitude a level or special value has) with every selector 0..3, at ``(value + reach) * 4 +
    selector``; -1 for a pair it refuses."""
    reach = max(max(_fp_magnitudes(fmt)), *(abs(v) for v in SPECIAL_VALUES.get(fmt, (0,))))
    table = np.full((2 * reach + 1) * 4, -1, dtype=np.int64)
    for v in range(-reach, reach + 1):
        for sel in range(4):
            try:
                code = encode_field_by_field(np.array([v]), fmt, np.array([sel]) if fmt in SPECIAL_VALUES else None)
            except ValueError:
                continue
            table[(v + reach) * 4 + sel] = int(code[0])
    return table, reach


def encode_field_by_field(values, fmt, selector=None):
    """:func:`encode_weight_values` field by field (the definition)."""
    _check_format(fmt)
    values = np.asarray(values, dtype=np.int64)
    if fmt in BOOTH_BITS:
        bits = BOOTH_BITS[fmt]
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if values.size and (values.min() < lo or values.max() > hi):
            raise ValueError(f"{fmt} weights must lie in {lo}..{hi}")
        return values
    vb = _fp_value_bits(fmt)
    mags = np.asarray(_fp_magnitudes(fmt), dtype=np.int64)
    lookup = {int(v): i for i, v in enumerate(mags)}          # magnitude -> its (last) index
    # magnitude -> index as a table over 0 .. the largest magnitude (-1: not a level), one gather
    # instead of a binary search per element (a few small integers: the table is tiny)
    table = np.full(max(lookup) + 1, -1, dtype=np.int64)
    table[list(lookup)] = list(lookup.values())
    mag = np.abs(values)                                      # (int64 min stays negative: not found)
    index = table[np.clip(mag, 0, len(table) - 1)]
    index[(mag < 0) | (mag >= len(table))] = -1
    codes = np.where(values < 0, 1 << (vb - 1), 0) | np.maximum(index, 0)
    if fmt in SPECIAL_VALUES:
        if selector is None:
            raise ValueError(f"{fmt} codes need the per-element special-value selector")
        selector = np.broadcast_to(np.asarray(selector, dtype=np.int64), values.shape)
        sv = np.asarray(SPECIAL_VALUES[fmt], dtype=np.int64)[selector & 3]
        is_sv = (index < 0) & (values == sv)
        codes = np.where(is_sv, 1 << (vb - 1), codes) | (selector << vb)
        index = np.where(is_sv, 0, index)
    if np.any(index < 0):
        bad = np.unique(values[index < 0])[:8]
        raise ValueError(f"values {bad.tolist()} are not {fmt} levels (code units)")
    return codes


def term_planes(values, fmt):
    """Integer weight values -> the list of term planes ``sign_t * 2**shift_t`` (one per PE cycle;
    ``sum(planes) == values``), from the quantiser module's Booth / fp term decompositions."""
    _check_format(fmt)
    values = np.asarray(values, dtype=np.int64)
    if fmt in BOOTH_BITS:
        exp, sign, _ = booth_terms(values, BOOTH_BITS[fmt])
    else:
        unit = UNIT["fp4" if fmt in ("fp4", "mixed4") else "fp3"]
        exp, sign, _ = fp_terms(values * unit)              # spec units in, 2**exp spec units out
        exp = exp.astype(np.int64) + int(round(-np.log2(unit)))   # back to code units
    exp, sign = exp.astype(np.int64), sign.astype(np.int64)
    return [sign[..., t] << exp[..., t] for t in range(exp.shape[-1])]


def bitserial_gemm_int(acts, codes, *, weight_format, acc_width=32):
    """acts M x K INT8, weight codes K x N -> M x N raw integers: the sum over the PE's term
    planes, wrapped to ``acc_width`` bits."""
    acts = np.asarray(acts, dtype=np.int64)
    planes = term_planes(decode_weight_codes(codes, weight_format), weight_format)
    total = np.zeros((acts.shape[0], np.shape(codes)[1]), dtype=np.int64)
    for plane in planes:
        total += acts @ plane
    return wrap_signed(total, acc_width)


def groups_of(k, group_size):
    return -(-k // group_size)


def bitserial_grouped_int(acts, codes, scale_codes, *, group_size, weight_format, acc_width=32):
    """The grouped design's integer output: see the module docstring. ``scale_codes``: (groups, N)
    integers in 1..255."""
    acts, codes = np.asarray(acts, dtype=np.int64), np.asarray(codes, dtype=np.int64)
    (m, k), n = acts.shape, codes.shape[1]
    ng = groups_of(k, group_size)
    scale_codes = np.asarray(scale_codes, dtype=np.int64)
    if scale_codes.shape != (ng, n):
        raise ValueError(f"scale codes are {scale_codes.shape}, the GEMM has {ng} groups of "
                         f"{group_size} (K = {k}) x {n} columns")
    total = np.zeros((m, n), dtype=np.int64)
    for g in range(ng):
        sl = slice(g * group_size, min(k, (g + 1) * group_size))
        raw = bitserial_gemm_int(acts[:, sl], codes[sl], weight_format=weight_format,
                                 acc_width=acc_width)
        total = wrap_signed(total + wrap_signed(raw * scale_codes[g][None, :], acc_width), acc_width)
    return total


# ---------------------------------------------------------------------------------------------
# the extra operand: per-group scale codes as the accelerator's dequantisation parameters


def scale_code_params(scale_codes, group_size):
    """(groups, N) scale codes 1..255 -> the design's extra operand (:class:`hw.scale_dequant.ScaleCodes`)."""
    return ScaleCodes(group_size, np.asarray(scale_codes))


def scale_codes_of(extra):
    """The (groups, N) scale codes of an extra operand."""
    if not isinstance(extra, ScaleCodes):
        raise ValueError(f"the grouped bit-serial design takes ScaleCodes, not {type(extra).__name__}")
    return extra.codes


def default_scale_codes(k, n, pe):
    """Reproducible pseudo-random scale codes (seeded by the shape and the format), with the
    extremes 1 and 255 always present when there are at least two entries."""
    ng = groups_of(k, pe.group_size)
    rng = np.random.default_rng([k, n, pe.group_size, FORMAT_NAMES.index(pe.weight_format)])
    codes = rng.integers(1, SCALE_CODE_MAX + 1, size=(ng, n))
    if codes.size >= 2:
        codes.flat[0], codes.flat[-1] = 1, SCALE_CODE_MAX
    return codes


# ---------------------------------------------------------------------------------------------
# registry functions


def bitserial_golden(acts, weights, pe, extra=None):
    """``golden_gemm`` of the kind: raw GEMM, or the grouped output for ``extra`` (ScaleCodes
    from :func:`scale_code_params`; None = :func:`default_scale_codes`)."""
    kw = dict(weight_format=pe.weight_format, acc_width=pe.acc_width)
    if pe.group_size is None:
        if extra is not None:
            raise ValueError("the raw bit-serial design (group_size None) takes no parameters")
        return bitserial_gemm_int(acts, weights, **kw)
    k, n = np.shape(weights)
    codes = default_scale_codes(k, n, pe) if extra is None else scale_codes_of(extra)
    return bitserial_grouped_int(acts, weights, codes, group_size=pe.group_size, **kw)


def bitserial_extra_operand(acts, weights, pe, a_meta=None, w_meta=None):
    return grouped_scale_operand(weights, pe, w_meta, default_scale_codes)


def grouped_scale_operand(weights, pe, w_meta, default_codes):
    """A grouped design's scale codes (:class:`hw.scale_dequant.ScaleCodes`) from the weights'
    metadata, or ``default_codes(k, n, pe)`` for weights given as codes; None without groups."""
    if pe.group_size is None:
        return None
    k, n = np.shape(weights)
    if w_meta is None:
        return scale_code_params(default_codes(k, n, pe), pe.group_size)
    if w_meta.get("group_size") != pe.group_size:
        raise ValueError(f"weights were quantised with group size {w_meta.get('group_size')}, "
                         f"the design uses {pe.group_size}")
    return scale_code_params(np.asarray(w_meta["scale_codes"], dtype=np.int64), pe.group_size)


def quantize_bitserial_acts(x, pe):
    return _quantize_int8_acts(x, bits=8)


def quantize_bitserial_weights(w, pe):
    """K x N floats -> element codes (BitMoD per-group quantisation along K per output column, the
    paper's second-level INT8 group scales; mixed formats pick the min-MSE special value per
    group), with the metadata to dequantise. Without groups one group spans the whole K."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or infinity")
    k, n = w.shape
    G = pe.group_size
    fmt = pe.weight_format
    kp = k if G is None else groups_of(k, G) * G
    padded = np.zeros((kp, n))
    padded[:k] = w
    qt = quantize_bitmod(padded.T, QUANT_DTYPE[fmt], group_size=kp if G is None else G,
                         scale_format="int8")
    codes = encode_quantised(qt.codes, qt.meta["selector"], qt.group_size, k, fmt)
    types = MIXED.get(QUANT_DTYPE[fmt], (QUANT_DTYPE[fmt],))
    return codes, {
        "format": f"bitmod-{fmt}", "group_size": G,
        "granularity": ("output channel" if G is None else f"group of {G} along K per output "
                        f"column (K zero-padded to {kp})"),
        "scale_codes": qt.meta["scale_codes"].T.astype(int).tolist(),     # (groups, N)
        "second_level_scale": qt.meta["second_level_scale"][:, 0].tolist(),   # (N,)
        "unit": float(UNIT[types[0]]),     # spec value of one code unit (information only)
        "selector": qt.meta["selector"].T.astype(int).tolist(),           # (groups, N)
        "special_value_types": list(types),
        "dequantise": "value = code_value * scale_code[group, n] * second_level_scale[n] (code units)"}


def bitserial_dequantise(raw, acts, a_meta, w_meta, pe):
    """Float output: grouped ``out * s_a * s2[n]``; raw design additionally times the
    column's single scale code."""
    raw = np.asarray(raw, dtype=np.float64)
    s2 = np.asarray(w_meta["second_level_scale"], dtype=np.float64)
    scale = float(a_meta["scale"][0]) * s2
    if pe.group_size is None:
        scale = scale * np.asarray(w_meta["scale_codes"], dtype=np.float64)[0]
    return raw * scale[None, :]
