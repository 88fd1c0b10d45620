"""Golden twin of the ANT PE array: the exact integer output from the codes, the quantisers
(float tensor -> codes of one ANT type, ANT's per-tensor type selection by MSE), the
dequantisation and the cost inventories of :class:`hw.pe_ant.AntPE` and :class:`hw.ant_decoder.AntDecoder`.

Codes (host side): an M x K activation matrix and a K x N weight matrix hold one unsigned element
code per element (a nibble, or a byte for int8 / uint8) of the PE's ``act_type`` /
``weight_type`` (:mod:`models.quant.ant_format`). Integer result (:func:`ant_gemm_int`): the codes'
values (the types' code -> value tables, not the decoders' exponent-integer split) multiplied and
summed exactly, wrapped to the accumulator width. Nothing here reads the RTL (the inventories read
its widths, as :mod:`models.inventory` does).

Quantisers: weights per output channel (column n of K x N), activations per tensor, each with the
min-MSE clip of ANT's search (:func:`models.quant.ant_format.search_alpha`) for the PE's type.
ANT picks the type per tensor (:func:`select_ant_types`); here the type configures the border
decoders at build time, so the flow is: select the types, build the design with them, quantise.
Dequantisation: ``Out_float[m, n] = raw[m, n] * s_a * s_w[n]``.
"""

import functools

import numpy as np

from hw.ant_decoder import (AntDecoder, DECODE, ELEMENT_WIDTH, EXP_WIDTH, FUSED, INT_WIDTH, LANES, WIRED,
                            element_values)
from .golden import wrap_signed
from .intcodes import dequantize_scaled_output
from .inventory import (driven, register_bordered, register_chain, register_declared_out,
                        register_operand_bits, sum_bits, table_items)
from .port_field import element_fields
from .quant import ant_format


def ant_values(codes, ant_type):
    """Element codes -> int64 values in LSB units."""
    return ant_format.get_type(ant_type).decode(codes)


def ant_values_f32(codes, ant_type):
    """:func:`ant_values` as float32, in one gather from a float32 table instead of an int64
    array and a cast (the same numbers: every ANT value is an integer of magnitude at most
    ``2**14``, exact in float32)."""
    return _f32_values(ant_type).take(np.asarray(codes))


@functools.lru_cache(maxsize=None)
def _f32_values(ant_type):
    return np.asarray(ant_format.get_type(ant_type).values, dtype=np.float32)


def ant_gemm_exact(acts, weights, *, act_type="int4", weight_type="int4"):
    """acts M x K codes, weights K x N codes -> exact M x N integers (int64, no wrap)."""
    acts, weights = np.asarray(acts), np.asarray(weights)
    if acts.ndim != 2 or weights.ndim != 2 or acts.shape[1] != weights.shape[0]:
        raise ValueError(f"shapes do not chain: acts {acts.shape} @ weights {weights.shape}")
    # int64 matmul is exact: |product| <= 2**28 (upot4 x upot4), so K < 2**34 cannot overflow
    return ant_values(acts, act_type) @ ant_values(weights, weight_type)


def ant_gemm_int(acts, weights, *, act_type="int4", weight_type="int4", acc_width=32):
    """The integers the ANT array produces: :func:`ant_gemm_exact` wrapped to ``acc_width``."""
    return wrap_signed(ant_gemm_exact(acts, weights, act_type=act_type, weight_type=weight_type),
                       acc_width)


# Float output from the raw integers: raw[m, n] * s_a * s_w[n] (scales in LSB units).
ant_dequantise = dequantize_scaled_output


def quantize_ant(x, ant_type, *, per_row):
    """(rows, K) floats -> (codes (rows, K), scale (rows, 1) or (1, 1) float32, alpha)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"ANT operand must be 2-D, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("tensor holds NaN or inf values")
    t = ant_format.get_type(ant_type)
    alpha, _ = ant_format.search_alpha(x, t, per_row=per_row)
    return *ant_format.quantize_codes(x, alpha, t), alpha


def _meta(ant_type, scale, alpha, granularity):
    t = ant_format.get_type(ant_type)
    return {"format": f"ant-{ant_type}", "granularity": granularity,
            "scale": np.ravel(scale).tolist(), "alpha": np.ravel(alpha).tolist(),
            "codes": f"unsigned {t.bits}-bit {ant_type} element codes (models.quant.ant_format)",
            "dequantise": "value = table[code] * scale; GEMM: raw * s_a * s_w[n]"}


def quantize_ant_acts(x, *, ant_type="int4"):
    """M x K floats -> codes of ``ant_type`` (M x K), one min-MSE clip per tensor, and the meta."""
    codes, scale, alpha = quantize_ant(x, ant_type, per_row=False)
    return codes, _meta(ant_type, scale, alpha, "tensor")


def quantize_ant_weights(w, *, ant_type="int4"):
    """K x N floats -> codes of ``ant_type`` (K x N), one min-MSE clip per output channel."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    codes, scale, alpha = quantize_ant(w.T, ant_type, per_row=True)
    return _owner(codes.T), _meta(ant_type, scale, alpha, "output channel (column of K x N)")


def _owner(a):
    """``a`` itself, or the array ``a`` views when that is the same elements in the same
    layout (the code kernel writes in the weights' layout and returns its transpose): an array
    that owns its data, which the accuracy run keeps frozen without a copy."""
    base = a.base
    if (isinstance(base, np.ndarray) and base.shape == a.shape and base.strides == a.strides
            and base.dtype == a.dtype and base.ctypes.data == a.ctypes.data):
        return base
    return a


def select_ant_types(acts, weights, *, bits=4):
    """ANT's per-tensor type selection for a GEMM (acts M x K, weights K x N floats): the
    min-MSE candidate of each tensor, as the PE options ``{"act_type", "weight_type"}``."""
    act_type, _ = ant_format.select_type(np.asarray(acts), weights=False, bits=bits)
    weight_type, _ = ant_format.select_type(np.asarray(weights).T, weights=True, bits=bits)
    return {"act_type": act_type, "weight_type": weight_type}


# --------------------------------------------------------------------------------------------
# Cost inventories (models.inventory's format; widths from hw.pe_ant / hw.ant_decoder)


def _signed_bits(lo, hi):
    """Two's-complement bits of a signed value in lo..hi (0 for the constant 0)."""
    if lo == hi == 0:
        return 0
    return max((-lo - 1).bit_length() + 1 if lo < 0 else 1, hi.bit_length() + 1 if hi > 0 else 1)


def _free_element():
    """What an element port can carry when nothing drives it but the port: every field value."""
    return (set(range(1 << EXP_WIDTH)), set(range(-(1 << (INT_WIDTH - 1)), 1 << (INT_WIDTH - 1))))


def _ant_terms(pe, bordered):
    """Per multiplier pair: (int bits of act, of weight, product value range, exponent sums)."""
    if bordered:
        acts, weights = element_values(pe.act_type), element_values(pe.weight_type)
    else:
        acts = weights = [_free_element()] * LANES
    terms = []
    for j, l in pe.pairs():
        (ea, ia), (ew, iw) = acts[j], weights[l]
        products = [x * y for x in ia for y in iw]
        sums = {x + y for x in ea for y in ew}
        terms.append((_signed_bits(min(ia), max(ia)), _signed_bits(min(iw), max(iw)),
                      (min(products), max(products)), sums))
    return terms


def _ant_step_range(pe, bordered):
    """Value range of the four terms' sum."""
    lo = hi = 0
    for _, _, (plo, phi), sums in _ant_terms(pe, bordered):
        lo += min(plo << s for s in sums)
        hi += max(phi << s for s in sums)
    return lo, hi


def _unsigned_bits(values):
    """Bits of a value set as Yosys's ``wreduce`` sees it: unsigned when no value is negative
    (the sign bit is then a constant 0 in the Verilog), else two's complement."""
    lo, hi = min(values), max(values)
    return hi.bit_length() if lo >= 0 else _signed_bits(lo, hi)


def _multiply(pe, j, l, bordered, a_bits, w_bits):
    """(primitive, widths) of pair (j, l)'s multiply: signed ``a_bits`` x ``w_bits`` (the elements'
    ranges), but in an array an element with no negative value is unsigned, one bit narrower
    (its sign bit is a constant 0 in the Verilog, :mod:`hw.array`): fused 2 x 2, the low nibbles'
    products are a 4 x 4 ``mult`` and two 4 x 4 ``usmult``, as Yosys's ``$mul`` cells are."""
    if not bordered:
        return "smult", (a_bits, w_bits)
    ia, iw = element_values(pe.act_type)[j][1], element_values(pe.weight_type)[l][1]
    ua, uw = min(ia) >= 0, min(iw) >= 0
    if ua and uw:
        return "mult", (_unsigned_bits(ia), _unsigned_bits(iw))
    if ua or uw:
        return "usmult", ((_unsigned_bits(ia), w_bits) if ua else (_unsigned_bits(iw), a_bits))
    return "smult", (a_bits, w_bits)


def _wired_step_bits(pe, bordered):
    """The four terms' sum width as Yosys builds it when every shift is a constant (in an array,
    the decoders' exponents re-attached as wiring, :mod:`hw.array`: int4, uint4, the fused mode),
    else None. Each ``$mul`` is as wide as its operands (``wreduce``: an unsigned operand one bit
    narrower, a signed times an unsigned one bit wider), a term its product shifted by the constant,
    and each add of the chain one bit wider than its wider operand (not the value range: 2 x 2
    int4 keeps 11 and 12 acc_out flops, fused 17 and 18)."""
    chain = _wired_chain(pe, bordered)
    return None if chain is None else min(pe.acc_width, chain[-1])


def _wired_terms(pe, bordered):
    """With constant shifts (in an array: int4, uint4, the fused mode), per pair that does not
    vanish (a zero element) its term's (lowest bit, top bit + 1, signed) as Yosys builds it: the
    ``$mul`` as wide as its operands (``wreduce``: an unsigned operand one bit narrower, a signed
    times an unsigned one bit wider) shifted by the constant; else None (a variable shift)."""
    if not bordered:
        return None
    acts, weights = element_values(pe.act_type), element_values(pe.weight_type)
    terms = []
    for j, l in pe.pairs():
        (ea, ia), (ew, iw) = acts[j], weights[l]
        if ia == {0} or iw == {0}:
            continue                        # a zero element: the pair vanishes
        if len(ea) > 1 or len(ew) > 1:
            return None                     # a variable shift: a shifter's acc_width-wide output
        unsigned = (min(ia) >= 0) + (min(iw) >= 0)
        shift = min(ea) + min(ew)
        terms.append((shift, _unsigned_bits(ia) + _unsigned_bits(iw) + (unsigned == 1) + shift, unsigned < 2))
    return terms


def _wired_chain(pe, bordered):
    """With constant shifts (:func:`_wired_step_bits`), the widths of the terms' add chain: the
    first term's, then each ``$add``'s (2 x 2 int4: 8, 9, 10, 11); else None."""
    terms = _wired_terms(pe, bordered)
    if terms is None:
        return None
    chain = []
    for _, top, _ in terms:
        chain.append(top if not chain else max(chain[-1], top) + 1)
    return chain


def _merges(pe, j, l, bordered):
    """Whether pair (j, l)'s multiply is a port of the step's ``$macc`` rather than a ``$mul`` of
    its own: in an array (``bordered``), a signed times a signed element (both ranges reach below
    0) whose shift is the constant 0 (int4: every pair). Its product then reaches the sum
    unshifted and sign-extended, which Yosys's ``alumacc`` merges (the ``$mul`` cannot overflow
    its a + b bits); a shifted product (the fused mode's) is another signal, an unsigned one
    another signedness, and both stay multipliers of their own."""
    if not bordered:
        return False
    (ea, ia), (ew, iw) = element_values(pe.act_type)[j], element_values(pe.weight_type)[l]
    return ea == ew == {0} and min(ia) < 0 and min(iw) < 0


def _wired_sum(ends, spans, merged, width, accumulate):
    """The step's ``$macc`` when every shift is a constant, ``width`` bits (the acc_out bits):
    ``merged`` signed product ports ((a_bits, w_bits), act element, weight element; :func:`_merges`)
    and plain addends (``ends``: the other products, shifted by wiring; ``acc_in`` if
    ``accumulate``). ``maccmap`` lays every row into one carry-save tree with one carry-propagate
    adder, a product port's rows its operand sign-extended to ``width`` bits, not a multiplier at
    its own a + b bits (issue 14, ``models/data/primitives_osu018.json``, 180 nm: int4's 12-bit
    step, ``mac`` (4, 4, 12, 4), maps to 23,590 um^2; four ``smult`` (4, 4) and four ``add`` (12)
    are 17,068). Counted as
    that ``$macc``: the n ports ``smult`` (a, b, width, n), with the first plain addend ``mac``
    (a, b, width, n) (:mod:`models.characterise` measures both), each further plain addend an
    ``add`` of ``width`` bits; with no port, three or more plain addends are one ``csa`` (the
    sign-extended addends of :func:`models.bitfusion_gemm.bitfusion_pe_items`), two one ``add``."""
    addends = [*ends, *(("acc_in",) if accumulate else ())]
    if not merged and len(addends) >= 3:
        # the bits maccmap gets: a term from its shift up (sign-extended to width when signed,
        # its own bits when unsigned: zeros are no input), acc_in sign-extended to width
        bits = sum(width - low if signed else top - low for low, top, signed in spans)
        bits += width if accumulate else 0
        return [driven(("csa", (bits, width), 1, "step"), *addends)]
    if merged:
        (widths,) = {w for w, _, _ in merged}      # int4 x int4: the four pairs alike
        # its ports a, b: the merged pairs' integer fields of act and of weight (models.port_field)
        fields = (element_fields("act", tuple(j for _, j, _ in merged), ELEMENT_WIDTH, EXP_WIDTH)[1],
                  element_fields("weight", tuple(l for _, _, l in merged), ELEMENT_WIDTH, EXP_WIDTH)[1])
        n = len(merged)
        first = (driven(("mac", (*widths, width, n), 1, "step"), *fields, addends[0]) if addends else
                 driven(("smult", (*widths, width, n), 1, "step"), *fields))
        return [first] + [driven(("add", (width,), 1, "step"), first, a) for a in addends[1:]]
    return [driven(("add", (width,), 1, "step"), *addends)] if len(addends) == 2 else []


def ant_declared_out(pe):
    """Whether the PE in an array keeps ``acc_width`` acc_out flops in every row
    (:func:`models.inventory.register_declared_out`): when a shift is variable."""
    return _wired_step_bits(pe, True) is None


def ant_pe_items(pe, acc_in_bits=None, bordered=False):
    """:class:`hw.pe_ant.AntPE`: per multiplier pair a signed multiply of the elements' integers,
    the exponent add and the product's left shift (``shiftn``: the narrow product shifted into at
    most ``acc_width`` bits, since only those reach ``acc_out``); the adds of the four terms and
    ``acc_in`` (Yosys makes them one ``$macc``: an add per operand after the first, at most
    ``acc_width`` bits each) and the enabled acc_out register, ``acc_width`` wide.

    Alone (``bordered`` False) every element field is free (INT_WIDTH-bit integers, EXP_WIDTH-bit
    exponents). In an array (``bordered``) the operands are the border decoders' outputs, whose
    values (:data:`hw.ant_decoder.DECODE`) synthesis folds: the integers need only their range's
    bits, a pair whose exponents are constant shifts by wiring (no add, no shifter), and a pair
    with a zero element (the fused mode's elements 2, 3) vanishes. ``acc_in_bits`` as in
    :func:`models.inventory.int8_pe_items`; the adds narrow to the sums' value range
    (:func:`ant_acc_out_bits`), but the four terms are shifter outputs truncated into
    ``acc_out``, which Yosys's single ``wreduce`` pass cannot narrow: the register keeps
    ``acc_width`` flops in every row (:func:`models.inventory.register_declared_out`; row 0
    merges a few sign copies later: 23-31 of 32) and the ``$macc`` its width, counted as one
    add of the bits above the value range.

    Issue 14 (``bench/bench_pe_cones.py --before-abc``): while the decoders' constant exponent
    bits reached the PE through registers and the slot's bank-select mux, Yosys folded them only
    after ``maccmap`` had laid the step's five acc_width-bit operands into full adders in an order
    that is an accident of elaboration, so PEs of the same word-level logic reached ABC as
    different gate netlists (2 x 2 int4 row 1: 980 and 1,226 gates) and no count could follow
    them. :mod:`hw.array` now carries only the bits counted here (:func:`ant_operand_bits`) and
    re-attaches the decoders' constant and copied bits as wiring in front of each PE: the same
    PEs are 779 and 781 gates (26,900 and 27,100 um^2 mapped, 180 nm). With every shift constant
    (int4, uint4, the fused mode) the step is one ``$macc`` as wide as acc_out
    (:func:`_wired_sum`): int4's four signed products are ports of it, whose rows ``maccmap``
    sign-extends to the sum's width (``smult`` / ``mac`` with n products: about 27 % above four
    ``smult`` and the adds, the int4 arrays' -12 to -15 % of session 29), the fused mode's
    shifted nibble products are multipliers of their own (:func:`_multiply`) and plain addends
    of it, counted by the bits they bring (a full-width addend each was +17 to +20 %)."""
    A = pe.acc_width
    wired_terms = iter(_wired_terms(pe, bordered) or ())
    items, ends, merged, spans = [], [], [], []
    for (j, l), (a_bits, w_bits, (plo, phi), sums) in zip(pe.pairs(), _ant_terms(pe, bordered)):
        if a_bits == 0 or w_bits == 0:
            continue
        span = next(wired_terms, None)          # the same pairs vanish in both
        p_bits = _signed_bits(plo, phi)
        # what feeds what: the integer fields' product, shifted by the exponent fields' sum
        # (a constant shift is wiring: the product is the term); each reads only its fields'
        # bits of element j of act and l of weight (models.port_field)
        act_exp, act_int = element_fields("act", (j,), ELEMENT_WIDTH, EXP_WIDTH)
        weight_exp, weight_int = element_fields("weight", (l,), ELEMENT_WIDTH, EXP_WIDTH)
        product = driven((*_multiply(pe, j, l, bordered, a_bits, w_bits), 1, "step"), act_int, weight_int)
        if _merges(pe, j, l, bordered):
            # a port of the step's $macc, not a multiplier of its own (_wired_sum)
            merged.append(((a_bits, w_bits), j, l))
            continue
        items.append(product)
        ends.append(product)
        spans.append(span)
        if len(sums) > 1:
            s_bits = max(sums).bit_length()
            shift = driven(("add", (s_bits,), 1, "step"), act_exp, weight_exp)
            ends[-1] = driven(("shiftn", (p_bits, s_bits, min(A, p_bits + max(sums))), 1, "step"),
                              product, sh=shift)
            items += [shift, ends[-1]]
    if _wired_step_bits(pe, bordered) is not None:
        # every shift constant: one $macc as wide as acc_out, which narrows to the chain
        out = ant_acc_out_bits(pe, acc_in_bits, bordered)
        return items + _wired_sum(ends, spans, merged, out, acc_in_bits != 0) + [("reg_en", (out,), 1, "step")]
    lo, hi = _ant_step_range(pe, bordered)
    step = min(A, _signed_bits(lo, hi))
    terms = len(ends)
    width = max(step, ant_acc_out_bits(pe, acc_in_bits, bordered))
    # the terms' adds, then acc_in's add of their sum
    adds = [driven(("add", (width,), terms - 1, "step"), *ends)] if terms > 1 else []
    summed = list(adds or ends)
    if acc_in_bits != 0 and terms:
        adds.append(driven(("add", (width,), 1, "step"), *summed, "acc_in"))
    if bordered and A > width:
        # the step's $macc stays acc_width wide (models.inventory.register_declared_out): above
        # the value range its columns hold the terms' sign copies (equal carry-save cells, merged)
        # and acc_in's bits, one carry chain of the remaining bits
        high = (*summed, *(("acc_in",) if acc_in_bits != 0 else ()))
        adds.append(driven(("add", (A - width,), 1, "step"), *high) if high else ("add", (A - width,), 1, "step"))
    return items + adds + [("reg_en", (A,), 1, "step")]


def ant_acc_out_bits(pe, acc_in_bits=None, bordered=False):
    """Significant bits of :class:`hw.pe_ant.AntPE`'s ``acc_out``: ``acc_in`` + the four terms'
    sum (its value range's bits, or with constant shifts the width Yosys builds,
    :func:`_wired_step_bits`; at most ``acc_width``)."""
    wired = _wired_step_bits(pe, bordered)
    if wired is None:
        lo, hi = _ant_step_range(pe, bordered)
        wired = min(pe.acc_width, _signed_bits(lo, hi))
    return sum_bits(pe.acc_width, wired, acc_in_bits)


def ant_operand_bits(decoder):
    """Bits of :class:`hw.ant_decoder.AntDecoder`'s operand that the array's lanes, weight banks
    and bank selects carry (:mod:`hw.array` leaves out the decoder's constant and copied bits and
    re-attaches them in front of each PE): per element field (exponent, INT_WIDTH-bit integer)
    its bits that are not constant over the type's values, counting bits that are equal for every
    value once (an integer's sign-extension copies: int4 carries 4 of its 5 integer bits)."""
    def distinct(values, width):
        values = sorted(values)
        columns = {tuple((v % (1 << width)) >> b & 1 for v in values) for b in range(width)}
        return sum(1 for column in columns if len(set(column)) > 1)
    return sum(distinct(exps, EXP_WIDTH) + distinct(ints, INT_WIDTH)
               for exps, ints in element_values(decoder.ant_type))


register_chain(ant_pe_items, ant_acc_out_bits)
register_operand_bits(AntDecoder, ant_operand_bits)
register_bordered(ant_pe_items)
register_declared_out(ant_pe_items, ant_declared_out)


def ant_decoder_items(decoder):
    """:class:`hw.ant_decoder.AntDecoder`: int4 / uint4 and the 8-bit types are wiring (no
    primitive); flint4, uflint4, pot4, upot4 a 16-entry table of (e, i) per element, costed by
    what synthesis keeps of it (:func:`models.inventory.table_items`)."""
    if decoder.ant_type in WIRED or decoder.ant_type in FUSED:
        return []
    words = [e | (i % (1 << INT_WIDTH)) << EXP_WIDTH for e, i in DECODE[decoder.ant_type]]
    return table_items(words, ELEMENT_WIDTH, LANES, "eval")
