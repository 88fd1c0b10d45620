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

import numpy as np

from hw.ant_decoder import AntDecoder, DECODE, ELEMENT_WIDTH, EXP_WIDTH, FUSED, INT_WIDTH, LANES, NIBBLE_SHIFT, WIRED
from .golden import wrap_signed
from .intcodes import dequantize_scaled_output
from .inventory import (driven, register_bordered, register_chain, register_declared_out,
                        register_operand_bits, sum_bits, table_items)
from .port_field import element_fields
from .quant import ant_format


def ant_values(codes, ant_type):
    """Element codes -> int64 values in LSB units."""
    return ant_format.get_type(ant_type).decode(codes)


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
    values, scale = ant_format.quantize(x, alpha, t)
    return t.encode(values), scale, alpha


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
    return codes.T, _meta(ant_type, scale, alpha, "output channel (column of K x N)")


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


def _element_values(ant_type):
    """Per operand element j the (exponents, integers) its decoder can output for ``ant_type``
    (:class:`hw.ant_decoder.AntDecoder`'s ``elaborate``: the 8-bit types' low nibble <0, 0..15>,
    high nibble <NIBBLE_SHIFT, int or uint nibble>, elements 2, 3 <0, 0>)."""
    if ant_type in FUSED:
        high = range(-8, 8) if ant_type == "int8" else range(16)
        return ([({0}, set(range(16))), ({NIBBLE_SHIFT}, set(high))]
                + [({0}, {0})] * (LANES - 2))
    return [({e for e, _ in DECODE[ant_type]}, {i for _, i in DECODE[ant_type]})] * LANES


def _free_element():
    """What an element port can carry when nothing drives it but the port: every field value."""
    return (set(range(1 << EXP_WIDTH)), set(range(-(1 << (INT_WIDTH - 1)), 1 << (INT_WIDTH - 1))))


def _ant_terms(pe, bordered):
    """Per multiplier pair: (int bits of act, of weight, product value range, exponent sums)."""
    if bordered:
        acts, weights = _element_values(pe.act_type), _element_values(pe.weight_type)
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

    Not counted (issue 14, ``bench/bench_pe_cones.py --before-abc``): below row 0 the step's
    ``$macc`` has five acc_width-bit operands for Yosys: ``acc_in`` and four shifter outputs whose
    shift amounts are the exponent fields, which reach the PE through the slot's bank-select mux
    as constant bits that Yosys folds only after bit-blasting (int4, the fused mode), or are
    variable (flint4, PoT). ``maccmap`` lays each column's bits into full adders in the order of
    their signals (a set of SigBits, ordered by name index: an accident of elaboration), before
    the shifts fold: where the terms' sign copies share a full adder, that adder is the same in
    every column above the value range and merges; where ``acc_in``'s bit sits among them, it
    does not (read from maccmap's source, not isolated: reordering the Verilog's instances or
    modules, the same logic, moves a PE's gate count by up to 4 % but did not swap the two forms). So PEs that are the same word-level logic (same cells, widths and operand order)
    reach ABC as different gate netlists: 4 x 4 int4, the PEs below row 0 map to about 30,500 or
    40,000 um^2 (osu018, with the acc_out flops and the bank select; 7 of 12 the larger) against
    26,200-27,600 counted; the 2 x 2's two row-1 PEs are 980 and 1,226 gates before ABC (with the
    shifts written as the constant 0: 1,020 and 1,027), and ABC keeps the split (with its delay
    target relaxed, ``&nf -R 1000``, or without ``&dch``, likewise). flint4's PEs below row 0 are
    all about 40,000-45,000 (counted: 31,600). Which PEs get which netlist follows no property of
    the hardware, so no count here follows it: counting the full five-operand carry-save step
    (the ``csa`` (5 * 32, 32) fit: 22,700 for the sum) puts the 4 x 4 int4 array at +5 % but the
    2 x 2 at +13 % and the fused mode at +18-20 %."""
    A = pe.acc_width
    items, ends = [], []
    for (j, l), (a_bits, w_bits, (plo, phi), sums) in zip(pe.pairs(), _ant_terms(pe, bordered)):
        if a_bits == 0 or w_bits == 0:
            continue
        p_bits = _signed_bits(plo, phi)
        # what feeds what: the integer fields' product, shifted by the exponent fields' sum
        # (a constant shift is wiring: the product is the term); each reads only its fields'
        # bits of element j of act and l of weight (models.port_field)
        act_exp, act_int = element_fields("act", (j,), ELEMENT_WIDTH, EXP_WIDTH)
        weight_exp, weight_int = element_fields("weight", (l,), ELEMENT_WIDTH, EXP_WIDTH)
        product = driven(("smult", (a_bits, w_bits), 1, "step"), act_int, weight_int)
        items.append(product)
        ends.append(product)
        if len(sums) > 1:
            s_bits = max(sums).bit_length()
            shift = driven(("add", (s_bits,), 1, "step"), act_exp, weight_exp)
            ends[-1] = driven(("shiftn", (p_bits, s_bits, min(A, p_bits + max(sums))), 1, "step"),
                              product, sh=shift)
            items += [shift, ends[-1]]
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
    sum (its value range's bits, at most ``acc_width``)."""
    lo, hi = _ant_step_range(pe, bordered)
    return sum_bits(pe.acc_width, min(pe.acc_width, _signed_bits(lo, hi)), acc_in_bits)


def ant_operand_bits(decoder):
    """Flops a register of :class:`hw.ant_decoder.AntDecoder`'s operand keeps: per element field
    (exponent, INT_WIDTH-bit integer) its bits that are not constant over the type's values,
    counting bits that are equal for every value once (an integer's sign-extension copies: the
    flops have the same input and synthesis merges them; int4 keeps 4 of its 5 integer bits)."""
    def distinct(values, width):
        values = sorted(values)
        columns = {tuple((v % (1 << width)) >> b & 1 for v in values) for b in range(width)}
        return sum(1 for column in columns if len(set(column)) > 1)
    return sum(distinct(exps, EXP_WIDTH) + distinct(ints, INT_WIDTH)
               for exps, ints in _element_values(decoder.ant_type))


register_chain(ant_pe_items, ant_acc_out_bits)
register_operand_bits(AntDecoder, ant_operand_bits)
register_bordered(ant_pe_items)
register_declared_out(ant_pe_items)


def ant_decoder_items(decoder):
    """:class:`hw.ant_decoder.AntDecoder`: int4 / uint4 and the 8-bit types are wiring (no
    primitive); flint4, uflint4, pot4, upot4 a 16-entry table of (e, i) per element, costed by
    what synthesis keeps of it (:func:`models.inventory.table_items`)."""
    if decoder.ant_type in WIRED or decoder.ant_type in FUSED:
        return []
    words = [e | (i % (1 << INT_WIDTH)) << EXP_WIDTH for e, i in DECODE[decoder.ant_type]]
    return table_items(words, ELEMENT_WIDTH, LANES, "eval")
