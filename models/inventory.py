"""What a design is made of: the word-level primitives of every hardware unit, counted from the RTL.

Each PE class, border-unit class and post-array-unit class of :mod:`hw` has one inventory function
here, registered by class in :data:`INVENTORIES`, that follows the class's ``elaborate`` and reads
every width from the instance's properties or its hardware module's constants (never a retyped
number); :func:`unit_items` looks the class up (exactly: a subclass may elaborate differently)
and a class without one is an :class:`~models.tech.UnknownComponentError` naming it. The array's
slot and edge contents are counted by one function per dataflow (:func:`array_items_ws`,
:func:`array_items_os`) following :mod:`hw.array` line by line, and :func:`accelerator_items`
adds what :mod:`hw.accelerator` puts around the array (buffers are SRAM, costed in
:mod:`models.cost`).

A unit inventory is a list of ``(primitive, widths, count, event)`` tuples: ``count`` instances of
a :func:`models.cost_primitives.primitive` in one unit, acting on ``event``: for a PE ``"step"``
(once per step) or ``"step_cycle"`` (every cycle of a step); for a border unit ``"eval"`` (each
evaluation); for a post-array unit ``"word"`` (once per array word through it: every fold's,
a part that follows the unit's live inputs), ``"group"`` (once per dequantised word: a part
behind ``in_valid``'s registers or fed by the once-a-group ``total``) or ``"group_cycle"`` (every
one of the ``latency`` cycles a dequantised word spends in a unit that is not pipelined). A design's inventory is a list of :class:`Item` (grouped, with events the GEMM
counts: see :mod:`models.cost`).

A PE part may name what drives it (:func:`driven`: a :class:`Part`, still a 4-tuple): PE input
ports, and other parts of the same inventory whose outputs feed it. The energy model takes its
activity from those alone (:meth:`models.part_activity.PartActivity.item_activity`), e.g. a
shifter after a multiplier sees the operands' switching, not ``acc_in``'s, and a part fed by
another part sees that part's output toggles (its inputs' times the driver primitive's measured
output gain, :mod:`models.primitive_outputs`). Without it a combinational part is taken to see
every data port.

The rule, the same for every PE kind (read from the hardware file's ``elaborate``, never chosen
by its effect on an energy figure): every combinational part names the PE input ports whose bits
enter it and the parts whose outputs enter it; a shifter's amount (``sh=``), a mux's select
(``sel=``) and a conditional negation's sign (``s=``) are named singly when another signal drives
them; a one-gate signal the inventory does not count (two signs' XOR, a hidden bit's zero test
inside a significand) is named by the ports it reads, or not at all when the bits it joins
already are; a multiplier fed by ports alone names them; a lookup's output bits that are its
code's bits wired through (no cell) enter the next part as the port's bits, so a part fed by a
decoded exponent names the port as well as the decode's table (:func:`exponent_decode_sources`). Registers name nothing: their D is
measured at ``acc_out`` itself (:mod:`models.part_activity`). The bit-serial PEs
(:func:`bitserial_pe_items`, :func:`_term_step_items`) do not follow it yet.
"""

from typing import NamedTuple

from hw.bitserial_terms import SHIFT_BITS, TERM_WIDTH, TermEncoder, fp_terms_word
from hw.fp32_add import FP32_WIDTH
from hw.gobo_outlier import FP16_WIDTH
from hw.gobo_outlier_pass import FLAGS as OUTLIER_FLAGS
from hw.group_dequant import MULT_BITS, SHIFT_USED_BITS, ZP_BITS
from hw.lut_precompute import ACT_BITS, ENTRIES, ENTRY_WIDTH, GROUP, LutTablePrecompute
from hw.ovp_decoder import FLINT4_DECODE, get_mode
from hw.pe import facts_only
from hw.pe_bitserial import SHIFTED_BITS
from hw.pe_bitserial_fp16 import (ACC_EXP_BITS, ACC_MAN_BITS, ALIGNED_BITS, DOT_BITS, FP16_EXP_BITS,
                                  NORM_SHIFT_BITS, PRODUCT_EXP_BITS, SAT_SHIFT_BITS, VEC)
from .buffer_tree import tree_buffers
from .port_field import element_fields
from .tech import UnknownComponentError


class Item(NamedTuple):
    """``count`` instances of a primitive in the design (area, flops); ``per_event`` of them act
    on each ``event`` (energy); ``drivers``: the PE input ports and PE parts that drive a PE
    part (a post-array unit's part: the unit input ports that feed it, :attr:`UnitPart.ports`),
    ``inputs``: the primitive input ports among them named singly (empty: not stated,
    :func:`driven`)."""
    group: str
    prim: str
    widths: tuple
    count: float
    event: str
    per_event: float
    drivers: tuple = ()
    inputs: tuple = ()


#: the PE input ports a part can be driven by (:func:`driven`); ``table``: GOBO's broadcast
#: centroid table, constant for a run (not measured: no toggles)
DRIVER_PORTS = ("act", "weight", "acc_in", "table")


class Part(tuple):
    """A unit inventory tuple ``(primitive, widths, count, event)`` that also names what drives
    it (``drivers``: PE input port names and driving parts; ``inputs``: ((primitive input port,
    its one driver), ...) for the inputs named singly); unpacks and compares as the plain
    4-tuple. ``word``: the PE-internal word its outputs carry, when that word's toggles are
    measured on the operand stream (:func:`reads_word`)."""
    drivers = ()
    inputs = ()
    word = None


def driven(part, *sources, **inputs):
    """``part`` (a unit inventory 4-tuple) as a :class:`Part` driven by ``sources`` only: PE input
    ports (names in :data:`DRIVER_PORTS`) and parts of the same inventory (4-tuples, themselves
    possibly :class:`Part`) whose outputs reach its inputs (structural: what feeds the part).
    ``inputs`` names the one driver of a primitive input port (its name in
    :func:`models.characterise.verilog`, e.g. ``sel=`` a mux's select); ``sources`` drive the
    rest. A "step" part fed by a "step_cycle" part becomes "step_cycle": its inputs change every
    cycle of the step, so it switches every cycle (the LUT PE's final adds after its per-plane
    partial sum)."""
    def ok(s):
        return s in DRIVER_PORTS if isinstance(s, str) else isinstance(s, tuple) and len(s) == 4
    every = sources + tuple(inputs.values())
    if not every or not all(ok(s) for s in every):
        raise ValueError(f"drivers must be some of {DRIVER_PORTS} or inventory parts, not {every}")
    # a combinational part fed by a part that switches every cycle of a step switches every
    # cycle too (no enable stands between them)
    if part[3] == "step" and any(not isinstance(s, str) and s[3] == "step_cycle" for s in every):
        part = (*part[:3], "step_cycle")
    out = Part(part)
    out.drivers = every
    out.inputs = tuple(sorted(inputs.items(), key=lambda kv: kv[0]))
    return out


def reads_word(part, word):
    """``part`` (a :class:`Part`) as the driver of the PE-internal word ``word``: the parts it
    feeds read that word, whose per-bit toggles per step :mod:`models.internal_activity`
    computes from the golden model's lane arithmetic on the measured operand stream (the sim
    basis hands them on instead of the ports' rates: an alignment word is sparser than the
    ports that make it). Set last: :func:`driven` makes a new part without it."""
    out = Part(part)
    out.drivers, out.inputs, out.word = part.drivers, part.inputs, word
    return out


def _bits_for(n):
    """Bits of an Amaranth ``range(n)`` signal."""
    return max(1, (n - 1).bit_length())


def _sum_bits(acc_width, term_bits, acc_in_bits):
    """Significant bits of ``acc_in + term`` as synthesis builds it: ``acc_width`` when ``acc_in``
    is all significant (None), the term's bits when ``acc_in`` is the constant 0 (the add folds),
    else the wider operand's bits + 1 (``wreduce``); never more than ``acc_width`` (it wraps)."""
    if acc_in_bits is None:
        return acc_width
    if acc_in_bits == 0:
        return min(acc_width, term_bits)
    return min(acc_width, max(term_bits, acc_in_bits) + 1)


#: public name for the kinds' inventories kept next to their golden models
sum_bits = _sum_bits


def _table_columns(words, width):
    """(kept, wired) output columns of a constant lookup as synthesis builds it (see
    :func:`table_items`): ``kept`` the columns a table computes, ``wired`` those that equal one
    code bit or its complement (wiring, an inverter); constant and repeated columns are in neither."""
    n = len(words)
    k = _bits_for(max(n, 2))
    if n != 1 << k:
        raise ValueError(f"a lookup lists every code of its input: {n} words")
    kept, wired, seen = [], [], set()
    for b in range(width):
        column = tuple((w >> b) & 1 for w in words)
        flipped = tuple(1 - x for x in column)
        if len(set(column)) == 1 or column in seen or flipped in seen:
            continue
        seen.add(column)
        if any(all(column[c] == ((c >> i) & 1) ^ inv for c in range(n))
               for i in range(k) for inv in (0, 1)):
            wired.append(column)    # a code bit or its inverse
        else:
            kept.append(column)
    return kept, wired


def table_items(words, width, count, event):
    """A constant lookup (``words[code]`` for every code of its input, ``width``-bit words, a
    ``Switch`` over the code) as synthesis builds it: output bits that are constant, equal one
    code bit or its complement (wiring, an inverter) or repeat another bit (or its complement)
    are dropped; the rest is one ``table`` primitive, characterised at exactly those contents
    (structured decode tables are far smaller than random ones)."""
    kept, _ = _table_columns(words, width)
    if not kept:
        return []
    k = _bits_for(max(len(words), 2))
    content = sum(bit << (c * len(kept) + j) for j, col in enumerate(kept) for c, bit in enumerate(col))
    return [("table", (k, len(kept), content), count, event)]


def _exponent_words(ebits, offset):
    return [(ef != 0) | (max(ef, 1) + offset) << 1 for ef in range(1 << ebits)]


def exponent_decode_items(ebits, count, event, offset=0):
    """A float code's exponent-field decode as synthesis builds it: the hidden bit
    ``normal = ef != 0`` and the exponent ``max(ef, 1) + offset`` are a constant function of the
    ``ebits``-bit field, which Yosys folds to a small table (:func:`table_items`: the exponent's
    bits that equal field bits are wiring), not a compare, an add and a select."""
    return table_items(_exponent_words(ebits, offset), ebits + 1, count, event)


def exponent_decode_sources(decode, ebits, *ports, offset=0):
    """What drives a part fed by a decoded exponent (``decode``: the parts
    :func:`exponent_decode_items` gave for the same ``ebits`` and ``offset``, already
    :func:`driven`): the decode's table and, when some of the exponent's bits are the field's own
    bits wired through (no gate: synthesis keeps none for them, e.g. ``max(ef, 1)``'s upper bits),
    the ``ports`` that carry the field, whose bits then enter the part directly; only the ports
    when there is no table."""
    _, wired = _table_columns(_exponent_words(ebits, offset), ebits + 1)
    return (*decode, *ports) if wired or not decode else tuple(decode)


# --------------------------------------------------------------------------------------------
# PEs


def int8_pe_items(pe, acc_in_bits=None):
    """:class:`hw.pe_int8.Int8PE`: ``acc_out <= acc_in + act * weight`` when valid: one fused
    signed multiply-accumulate (Yosys's ``alumacc`` makes one ``$macc`` of the product and the
    add) and the enabled result register.

    ``acc_in_bits``: how many significant bits ``acc_in`` carries (None: all ``acc_width``; in a
    weight-stationary array row r's ``acc_in`` is row r-1's sign-extended sum, row 0's the constant
    0). Synthesis keeps only the significant bits (``wreduce`` narrows the add, the duplicated
    sign flops merge), so the MAC and register are :func:`int8_acc_out_bits` wide; with 0 the add
    folds away and a signed multiply remains."""
    out = int8_acc_out_bits(pe, acc_in_bits)
    if acc_in_bits == 0:
        return [driven(("smult", (pe.act_width, pe.weight_width), 1, "step"), "act", "weight"),
                ("reg_en", (out,), 1, "step")]
    return [driven(("mac", (pe.act_width, pe.weight_width, out), 1, "step"), "act", "weight", "acc_in"),
            ("reg_en", (out,), 1, "step")]


def int8_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of :class:`hw.pe_int8.Int8PE`'s ``acc_out`` given ``acc_in``'s: the
    signed product's act_width + weight_width bits, one more for the add of a nonzero
    ``acc_in`` (the wider operand's width + 1), at most ``acc_width`` (it wraps there)."""
    return _sum_bits(pe.acc_width, pe.act_width + pe.weight_width, acc_in_bits)


def lut_pe_items(pe, acc_in_bits=None):
    """:class:`hw.pe_lut.LutPE` (B = weight_bits bit-planes, E = table entry width):
    per cycle of a step an 8:1 entry mux (E bits), a B:1 plane select (GROUP bits: one bit of each
    weight), the conditional negation (``scneg``: E into E+1 bits) and, for B > 1, the Horner update
    ``partial = 2*partial + term`` (E+B bits) with its register and the plane counter; per step
    the final ``acc_hold + 2*partial + term`` (one $macc: an E+B+2-bit add of the narrow
    operands and the acc_width add of acc_hold; with ``acc_in`` 0 only the narrow add's bits
    above the Horner sum's, which it shares), the acc_hold / acc_out
    registers and the ``active`` flag (B = 1: one adder, acc_out and the plane register).
    ``acc_in_bits`` as in :func:`int8_pe_items`: the acc_hold register keeps ``acc_in``'s
    significant bits (none for the constant 0) and the adds and acc_out narrow to
    :func:`lut_acc_out_bits`."""
    entries = pe.act_width // ENTRY_WIDTH
    B, E, A = pe.weight_bits, ENTRY_WIDTH, pe.acc_width
    counter = _bits_for(max(B, 2))
    out = lut_acc_out_bits(pe, acc_in_bits)
    # what feeds what (driven): the plane select picks weight bits by the plane counter, its
    # nibble selects the entry and its sign, the term feeds the Horner add and the final adds
    plane = ("reg_en", (counter,), 1, "step_cycle")
    select = driven(("mux", (B, GROUP), 1, "step_cycle"), "weight", sel=plane) if B > 1 else "weight"
    entry = driven(("mux", (entries, E), 1, "step_cycle"), "act", sel=select)
    term = driven(("scneg", (E, E + 1), 1, "step_cycle"), entry, s=select)
    items = [entry, term]
    if B == 1:   # the plane register is still there (loaded with 0 on valid)
        add = [] if acc_in_bits == 0 else [driven(("add", (out,), 1, "step"), term, "acc_in")]
        return items + add + [("reg_en", (out,), 1, "step"), ("reg_en", (counter,), 1, "step")]
    hold = A if acc_in_bits is None else acc_in_bits
    partial = ("reg_en", (E + B,), 1, "step_cycle")
    held = [("reg_en", (hold,), 1, "step")] if hold else []
    # Yosys's alumacc makes the two adds one three-operand $macc: the narrow operands
    # (partial << 1, E+B+1 bits; term, E+1) meet in an E+B+2-bit add, acc_hold joins in one
    # full-width add. When acc_in is the constant 0 only the narrow add is left, and it is the
    # Horner update's sum: ABC merges their equal low E+B bits, so only the bits above remain
    if acc_in_bits == 0:
        adds = [driven(("add", (out - (E + B),), 1, "step"), partial, term)] if out > E + B else []
    else:
        narrow = driven(("add", (min(A, E + B + 2),), 1, "step"), partial, term)
        adds = [narrow, driven(("add", (out,), 1, "step"), narrow, *held)]
    return items + [
        select,
        driven(("add", (E + B,), 1, "step_cycle"), partial, term),
        partial,
        plane,
        driven(("add", (counter,), 1, "step_cycle"), plane),
        ("reg_en", (1,), 1, "step"),
        ("reg_en", (out,), 1, "step"),
    ] + held + adds


def lut_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of :class:`hw.pe_lut.LutPE`'s ``acc_out``: B = 1 adds the E+1-bit term
    to ``acc_in``; B > 1 adds ``partial << 1`` (E+B+1 bits) to acc_hold, then the E+1-bit term."""
    B, E, A = pe.weight_bits, ENTRY_WIDTH, pe.acc_width
    if B == 1:
        return _sum_bits(A, E + 1, acc_in_bits)
    return _sum_bits(A, E + 1, _sum_bits(A, E + B + 1, acc_in_bits))


def ovp_pe_items(pe, acc_in_bits=None):
    """:class:`hw.pe_ovp.OvpPE` (mode fields E, I from :mod:`hw.ovp_decoder`): per pair element
    a signed I x I multiplier, the exponent add (``shift_width`` bits) and the 2I-bit product's
    left shift into ``term_width`` bits (``shift_width`` amount bits); the two terms' add, the accumulate add and the
    enabled acc_out register, :func:`ovp_acc_out_bits` wide (``acc_in_bits`` as in
    :func:`int8_pe_items`; the accumulate add folds when ``acc_in`` is 0)."""
    fmt = get_mode(pe.mode)
    I, term, shift = fmt.int_width, pe.term_width, pe.shift_width
    out = ovp_acc_out_bits(pe, acc_in_bits)
    # per pair element: the product of the integer fields, the sum of the exponent fields, the
    # product shifted by that sum; the two terms' add, then acc_in's
    # each reads only its fields' bits of the two elements (models.port_field)
    act_exp, act_int = element_fields("act", (0, 1), fmt.element_width, fmt.exp_width)
    weight_exp, weight_int = element_fields("weight", (0, 1), fmt.element_width, fmt.exp_width)
    product = driven(("smult", (I, I), 2, "step"), act_int, weight_int)
    exp = driven(("add", (shift,), 2, "step"), act_exp, weight_exp)
    term_ = driven(("shiftn", (2 * I, shift, term), 2, "step"), product, sh=exp)
    step = driven(("add", (term + 1,), 1, "step"), term_)
    accumulate = [] if acc_in_bits == 0 else [driven(("add", (out,), 1, "step"), step, "acc_in")]
    return [product, exp, term_, step, *accumulate, ("reg_en", (out,), 1, "step")]


def ovp_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of :class:`hw.pe_ovp.OvpPE`'s ``acc_out``: ``acc_in`` + the two terms'
    sum (``term_width`` + 1 bits)."""
    return _sum_bits(pe.acc_width, pe.term_width + 1, acc_in_bits)


def shiftadd_pe_items(pe, acc_in_bits=None):
    """:class:`hw.pe_shiftadd.ShiftAddPE` (B = weight_bits): per weight bit a gated copy of the
    shifted activation (act_width + b bits of AND gates), B-1 adders growing one bit per term,
    the accumulate adder and the enabled acc_out register, :func:`shiftadd_acc_out_bits` wide
    (``acc_in_bits`` as in :func:`int8_pe_items`); no multiplier."""
    B, W = pe.weight_bits, pe.act_width
    out = shiftadd_acc_out_bits(pe, acc_in_bits)
    # ``act << b`` gated: W ANDs (its low b bits are the constant 0); adding it to the sum so
    # far leaves that sum's low b bits as they are: a W + 1-bit adder (the carry out)
    # (what feeds what: each weight bit gates the activation; the gated terms feed the term
    # adders, whose sum (or the one term) meets acc_in)
    # the gated rows' toggles are measured on the stream (models.internal_activity): a held
    # weight passes only the activation bits its 1s gate
    gated = reads_word(driven(("and", (W,), B, "step"), "act", "weight"), "rows")
    items = [gated]
    items += [driven(("add", (W + 1,), B - 1, "step"), gated)] if B > 1 else []
    accumulate = [] if acc_in_bits == 0 else [driven(("add", (out,), 1, "step"), items[-1], "acc_in")]
    return items + accumulate + [("reg_en", (out,), 1, "step")]


def shiftadd_acc_out_bits(pe, acc_in_bits=None):
    """Significant bits of :class:`hw.pe_shiftadd.ShiftAddPE`'s ``acc_out``: ``acc_in`` + the
    product, whose significant bits are those of the last term adder (act_width + B; the
    ``product`` signal's extra bit is a sign extension)."""
    return _sum_bits(pe.acc_width, pe.act_width + pe.weight_bits, acc_in_bits)


def _shifter(w, s):
    """A w-bit shifter by an s-bit amount as synthesis builds it: only the amount bits that can
    move a bit within w are stages (ceil(log2 w)); a larger amount clears the word (w ANDs with
    the OR of the high amount bits)."""
    stages = min(s, _bits_for(w))
    return [("shift", (w, stages))] + ([("and", (w,))] if stages < s else [])


class TermIndex(Part):
    """The term index register of :class:`hw.bitserial_terms.TermSteps` (:func:`_term_step_items`):
    a plain register part (it names no drivers), marked so that a part it selects is known to
    be sequenced by it (:func:`names_sequencing`)."""


def _term_step_items(T):
    """:class:`hw.bitserial_terms.TermSteps` for T > 1 terms: the term index register with its
    increment and the ``active`` flag."""
    if T == 1:
        return []
    counter = _bits_for(max(T, 2))
    index = TermIndex(("reg_en", (counter,), 1, "step_cycle"))
    return [index, driven(("add", (counter,), 1, "step_cycle"), index), ("reg_en", (1,), 1, "step")]


def names_sequencing(items):
    """Whether a PE inventory names its step's sequencing: a part acting every cycle of a step
    selects by the term index (:class:`TermIndex`, the bit-serial PEs' term select), so its
    per-cycle parts' activity can follow what they read each cycle
    (:meth:`models.part_activity.PartActivity.for_event`). The LUT PE's plane counter is not
    marked: its per-cycle parts keep the per-step rule (docs/cost-model.md "Pricing a PE step")."""
    return any(isinstance(d, TermIndex) for part in items if part[3] == "step_cycle"
               for _, d in getattr(part, "inputs", ()))


def bitserial_pe_items(pe, acc_in_bits=None, bordered=False, os_slot=False):
    """:class:`hw.pe_bitserial.BitSerialPE` (T = terms per weight): per cycle of a step the T:1
    term select (TERM_WIDTH bits), the barrel shift of the act_width-bit activation into
    SHIFTED_BITS (SHIFT_BITS amount bits), the presence gate, and the accumulator itself: the
    ``acc_in`` / ``acc_out`` select, the signed accumulate of the (conditionally negated) shifted
    activation (``scnegadd``: synthesis merges the negation into the acc_width add) and the
    enabled acc_out register (it adds a term every cycle); the term sequencing. No multiplier.
    ``acc_in_bits`` 0 (the top row of a weight-stationary column): the select is a gate; the
    accumulator stays acc_width wide (it feeds back to itself: synthesis does not narrow it,
    :func:`bitserial_acc_out_bits`).

    In an array (``bordered``) the terms come from the column's
    :class:`hw.bitserial_terms.TermEncoder`, whose constant term bits synthesis folds into the
    PE (:func:`term_fields`): the select keeps the term bits that vary, the shifter the amount
    bits of the format's largest shift, and the shifted activation (presence gate, accumulate
    operand) act_width + that shift bits (mixed3 shifts by at most 2, not 7). In an
    output-stationary slot (``os_slot``) the select is the slot's ``first`` gate
    (:func:`register_os_gated`)."""
    T, A = pe.terms, pe.acc_width
    if bordered:
        select_bits, top = term_fields(facts_only(pe.weight_border()).format)
        shift_bits, shifted = top.bit_length(), pe.act_width + top
    else:
        select_bits, shift_bits, shifted = TERM_WIDTH, SHIFT_BITS, SHIFTED_BITS
    steps = _term_step_items(T)
    acc = ("reg_en", (A,), 1, "step_cycle")
    # what feeds what (driven): the term index selects the weight's term, whose shift field
    # shifts the activation, whose presence bit gates it, and whose sign the accumulate applies;
    # the accumulate's base is acc_in or the register (an os slot's first gate: the register)
    term = (driven(("mux", (max(T, 2), select_bits), 1, "step_cycle"), "weight",
                   sel=steps[0] if steps else "weight") if select_bits else "weight")
    moved = (driven(("shiftn", (pe.act_width, shift_bits, shifted), 1, "step_cycle"), "act", sh=term)
             if shift_bits else "act")
    gated = driven(("and", (shifted,), 1, "step_cycle"), moved, term)
    # with acc_in the constant 0 (a weight-stationary column's top row) the select is a gate
    base = (acc if os_slot else driven(("and", (A,), 1, "step_cycle"), acc) if acc_in_bits == 0
            else driven(("mux", (2, A), 1, "step_cycle"), "acc_in", acc))
    return ([term] if select_bits else []) + ([moved] if shift_bits else []) + [gated] + (
        [] if os_slot else [base]) + [
            driven(("scnegadd", (shifted, A), 1, "step_cycle"), gated, base, s=term),
            acc] + steps


def bitserial_acc_out_bits(pe, acc_in_bits=None, bordered=False):
    """:class:`hw.pe_bitserial.BitSerialPE`'s ``acc_out`` keeps acc_width bits in every row."""
    return pe.acc_width


def bitserial_fp16_pe_items(pe, os_slot=False):
    """:class:`hw.pe_bitserial_fp16.BitSerialFp16PE` (T terms, VEC lanes): per cycle of a step,
    per lane the term select (T:1, TERM_WIDTH bits), the FP16 decode (subnormal test and exponent
    mux, FP16_EXP_BITS), the product exponent add and presence gate (PRODUCT_EXP_BITS), the
    alignment (exponent difference, ALIGNED_BITS shifter by a PRODUCT_EXP_BITS amount
    (:func:`_shifter`), presence gate) and the conditional negation (into ALIGNED_BITS + 1: ``cneg``, one
    carry chain, not a negation and a select);
    the exponent-max tree (VEC - 1 compares and selects), the adder tree (DOT_BITS - 1,
    DOT_BITS - 1, DOT_BITS); the accumulator: the acc_in / acc_out select (acc_width), the
    exponent max (a compare) and two differences (ACC_EXP_BITS), the two saturating arithmetic
    shifters (ACC_MAN_BITS and DOT_BITS, SAT_SHIFT_BITS amount bits, :func:`_shifter`), the
    DOT_BITS + 1 add and two range checks (compares), the normalising shift
    (NORM_SHIFT_BITS amount bits), the exponent increment and the enabled acc_width register;
    the term sequencing. In an output-stationary slot (``os_slot``) the acc_in / acc_out
    select is the slot's ``first`` gate (:func:`register_os_gated`)."""
    T, A = pe.terms, pe.acc_width
    P, N = PRODUCT_EXP_BITS, ALIGNED_BITS + 1
    steps = _term_step_items(T)
    cyc = "step_cycle"

    def part(prim, widths, n, *sources, **inputs):
        return driven((prim, widths, n, cyc), *sources, **inputs)
    # what feeds what (driven), per lane: the term select by the term index, the exponent
    # decode of act, the product exponent and its presence select, the alignment by the
    # distance to the exponent max, the presence gate, the negation and its select
    index = steps[0] if steps else "weight"
    decode = [driven(t, "act") for t in exponent_decode_items(FP16_EXP_BITS, VEC, cyc)]
    term = part("mux", (max(T, 2), TERM_WIDTH), VEC, "weight", sel=index)
    exp = part("add", (P,), VEC, *exponent_decode_sources(decode, FP16_EXP_BITS, "act"), term)
    v = part("mux", (2, P), VEC, exp, sel=term)
    compare = part("lt", (P,), VEC - 1, v)
    top = part("mux", (2, P), VEC - 1, v, sel=compare)
    delta = part("add", (P,), VEC, top, v)
    shifter = _shifter(ALIGNED_BITS, P)
    align = [part(*shifter[0], VEC, "act", sh=delta)]
    if len(shifter) > 1:
        align.append(part(*shifter[1], VEC, align[0], delta))
    gated = part("and", (ALIGNED_BITS,), VEC, align[-1], term)
    signed = part("cneg", (ALIGNED_BITS, N), VEC, gated, s=term)
    items = decode + [term, exp, v, delta, *align, gated, signed]
    # the adder tree and the accumulator: its base (acc_in or the register), the exponent max
    # and differences, the two saturating alignments, the add, the range checks, the
    # normalising shift and the exponent increment
    pairs = part("add", (DOT_BITS - 1,), 2, signed)
    dot = part("add", (DOT_BITS,), 1, pairs)
    acc = ("reg_en", (A,), 1, cyc)
    # in an output-stationary slot the acc_in / acc_out select is the slot's first gate
    base = acc if os_slot else part("mux", (2, A), 1, "acc_in", acc)
    bigger = part("lt", (ACC_EXP_BITS,), 1, base, top)
    shifts = part("add", (ACC_EXP_BITS,), 2, base, top)
    big = part("mux", (2, ACC_EXP_BITS), 1, base, top, sel=bigger)
    f_al = [part(*w, 1, base, sh=shifts) if w[0] == "shift" else part(*w, 1, base, shifts)
            for w in _shifter(ACC_MAN_BITS, SAT_SHIFT_BITS)]
    d_al = [part(*w, 1, dot, sh=shifts) if w[0] == "shift" else part(*w, 1, dot, shifts)
            for w in _shifter(DOT_BITS, SAT_SHIFT_BITS)]
    total = part("add", (DOT_BITS + 1,), 1, f_al[-1], d_al[-1])
    fits = part("lt", (DOT_BITS + 1,), 2, total)
    items += [compare, top, pairs, dot, *([] if os_slot else [base]), bigger, shifts, big, *f_al, *d_al, total, fits,
              part("shift", (DOT_BITS + 1, NORM_SHIFT_BITS), 1, total, sh=fits),
              part("add", (ACC_EXP_BITS,), 1, big, fits),
              acc]
    return items + steps


# --------------------------------------------------------------------------------------------
# border units


def lut_table_items(border):
    """:class:`hw.lut_precompute.LutTablePrecompute`: entry j = -a0 +- a1 +- a2 +- a3, built as
    a prefix tree because equal partial sums are one expression (Yosys merges them): the
    negation of a0 (ACT_BITS into ACT_BITS + 1 bits), then 2, 4 and 8 add/subtracts of one
    ACT_BITS activation into a partial sum one bit wider each, up to ENTRY_WIDTH; no registers.
    One ``signtree`` primitive: the partial sums of a level share their low bits (all entries
    have the same parity), which ABC merges across the levels, so the tree is 10 % smaller than
    its add/subtract pairs measured one by one."""
    return [("signtree", (GROUP, ACT_BITS, ENTRY_WIDTH), 1, "eval")]


def _ovp_element_words(fmt):
    """One element's operand word of :class:`hw.ovp_decoder.OvpPairDecoder` for every (code,
    partner-is-victim) input (the partner flag is the top input bit), following its
    ``elaborate``: a victim is <0, 0>; an outlier (the partner is the victim) <ef + bias,
    +-(2**M + m)>; a normal int <0, code> or flint <k, +-base> (``FLINT4_DECODE``)."""
    N, M, E, I = fmt.bits, fmt.mant_bits, fmt.exp_width, fmt.int_width
    words = []
    for flag in (0, 1):
        for c in range(1 << N):
            sign = (c >> (N - 1)) & 1
            if c == fmt.victim_code:
                e, v = 0, 0
            elif flag:
                mag = (1 << M) | (c & ((1 << M) - 1))
                e, v = ((c >> M) & 3) + fmt.bias, -mag if sign else mag
            elif fmt.normal == "int":
                e, v = 0, c - (1 << N) if sign else c
            else:
                e, base = FLINT4_DECODE[c & ((1 << (N - 1)) - 1)]
                v = -base if sign else base
            words.append(e % (1 << E) | (v % (1 << I)) << E)
    return words


def ovp_negation_chain(fmt):
    """Whether negating an outlier magnitude ``2**M + m`` of :class:`hw.ovp_decoder.OvpMode`
    ``fmt`` is a carry chain: bit i of ``-x`` depends on every bit below it, except that above
    the constant leading one only the M mantissa bits vary, so with M = 1 (the 4-bit modes) each
    bit is a function of ``m`` and the sign alone (two-level logic) and with M >= 2 (int8: M = 5)
    it is a chain."""
    return fmt.mant_bits >= 2


def ovp_decoder_items(decoder):
    """:class:`hw.ovp_decoder.OvpPairDecoder`: per element of the pair its operand, a function of
    its own code and its partner's victim flag alone (victim zeroing, outlier exponent bias and
    sign-magnitude mantissa, the normal int or flint decode: all constants per input), which
    synthesis builds as one constant lookup (:func:`table_items` of :func:`_ovp_element_words`).

    The compares with the fixed victim code: the lookup already contains its own code's compare
    (the victim code decodes to <0, 0>, unlike its normal and outlier words), and synthesis
    builds each code's compare once, read by both elements. With a two-level outlier negation
    (:func:`ovp_negation_chain` False: the 4-bit modes) the partner's flag is that shared
    product term and no compare is left to count (the int4 netlist: two lookups' cells and the
    two port buffers); where the negation is a carry chain (int8) the compare stays a separate
    node gating the chain, one ``eqc`` per element (the int8 netlist: the 8-bit compares built
    once each next to the gated XOR chains)."""
    fmt = decoder.mode
    compares = [("eqc", (fmt.bits,), 2, "eval")] if ovp_negation_chain(fmt) else []
    return compares + table_items(_ovp_element_words(fmt), fmt.element_width, 2, "eval")


def _fp_term_words(fmt):
    """Every code's terms word of an fp :class:`hw.bitserial_terms.WeightFormat`: the encoder's
    own lookup (:func:`hw.bitserial_terms.fp_terms_word`)."""
    return [fp_terms_word(fmt, code) for code in range(1 << fmt.code_bits)]


def _booth_term_words(fmt):
    """Every code's terms word of a Booth :class:`hw.bitserial_terms.WeightFormat`, following
    ``TermEncoder._booth``: digit i of ``b = code << 1`` (bits 2i, 2i+1, 2i+2: lo, mid, hi) is
    present unless all three are equal, negative = hi, shift = 2i + (lo == mid != hi)."""
    words = []
    for code in range(1 << fmt.code_bits):
        b = (code & ((1 << fmt.value_bits) - 1)) << 1
        word = 0
        for i in range(fmt.terms):
            lo, mid, hi = ((b >> (2 * i + k)) & 1 for k in range(3))
            present = int(not (lo == mid == hi))
            two = int(lo == mid != hi)
            term = present | hi << 1 | ((2 * i + two) % (1 << SHIFT_BITS)) << 2
            word |= term << (TERM_WIDTH * i)
        words.append(word)
    return words


def term_words(fmt):
    """Every code's terms word of a :class:`hw.bitserial_terms.WeightFormat` (Booth or fp)."""
    return _booth_term_words(fmt) if fmt.kind == "booth" else _fp_term_words(fmt)


def kept_columns(words, width):
    """Flops a reset-to-0 register keeps of a constant function's output (``words[code]``,
    ``width`` bits): a column that is always 0 folds (the flop never leaves its reset value); the
    columns that are always 1 stay (0 until the first load) but share one flop (synthesis merges
    flops whose input is the same constant); every other column keeps its flop, except that
    equal columns share one: the encoders build them as one net (a lookup's equal output bits
    are one ROM column, Booth's digits share none), so their flops have the same input."""
    columns = [tuple((w >> b) & 1 for w in words) for b in range(width)]
    varying = len({column for column in columns if len(set(column)) > 1})
    return varying + any(all(column) for column in columns)


def term_operand_bits(border):
    """Bits of :class:`hw.bitserial_terms.TermEncoder`'s ``operand`` the weight banks and lanes
    keep (:func:`kept_columns` of :func:`term_words`, per element)."""
    fmt = border.format
    return border.elements * kept_columns(term_words(fmt), fmt.terms * TERM_WIDTH)


def term_fields(fmt):
    """(how many of a term's TERM_WIDTH bits vary over the codes and terms of ``fmt``, the
    largest shift any term has): what is left of a term word once synthesis folds the
    :class:`hw.bitserial_terms.TermEncoder`'s constant bits into the logic that reads it."""
    mask = (1 << TERM_WIDTH) - 1
    terms = [(w >> (TERM_WIDTH * t)) & mask for w in term_words(fmt) for t in range(fmt.terms)]
    varying = sum(1 for b in range(TERM_WIDTH) if len({(x >> b) & 1 for x in terms}) > 1)
    return varying, max(x >> 2 for x in terms)


def term_encoder_items(border):
    """:class:`hw.bitserial_terms.TermEncoder`, per element: Booth formats per digit two 1-bit
    compares and the presence / magnitude-two gates (the shift ``2i + two`` is wiring: 2i is
    even); fp formats are, per element, the encoder's lookup over the element's code (its
    ``Switch``: one :func:`table_items` of :func:`_fp_term_words`)."""
    fmt, n = border.format, border.elements
    if fmt.kind == "booth":
        return [("eq", (1,), 2 * fmt.terms * n, "eval"), ("and", (2,), fmt.terms * n, "eval")]
    return table_items(_fp_term_words(fmt), fmt.terms * TERM_WIDTH, n, "eval")


# --------------------------------------------------------------------------------------------
# post-array units


class UnitPart(tuple):
    """A post-array unit inventory tuple ``(primitive, widths, count, event)`` that also names
    the unit input ports whose values reach its inputs: ``ports`` ((port, bits), ...), each
    port's bits entering the part (:func:`fed_by`); unpacks and compares as the plain 4-tuple.
    Its activity is those ports' measured toggles, bit-weighted
    (:meth:`models.post_array_rates.PostArrayRates.rate`)."""
    ports = ()


def fed_by(part, *ports):
    """``part`` (a 4-tuple) as a :class:`UnitPart` fed by ``ports`` ((unit input port or
    internal word, bits), ...): the port whose value the part's operand carries, or past a
    pipeline stage the unit's internal word (a stage-2 multiply's ``x = raw - z * asum``,
    :data:`models.post_array_activity.INTERNAL_WORDS`)."""
    out = UnitPart(part)
    out.ports = tuple(ports)
    return out


def group_dequant_items(unit):
    """:class:`hw.group_dequant.GroupDequant` (C = cols, A = acc_width), per column: the
    dequantisation pipeline ``z * asum`` (ZP_BITS x A multiply) and its subtract, ``x * b``
    (A x MULT_BITS, ``product_width`` bits, of which the register keeps the A + MULT_BITS
    significant ones) with its rounding add (``rounded_width``) and
    arithmetic shift (SHIFT_USED_BITS amount bits); the requantisation pipeline's multiply,
    rounding add and shift of the same widths; every pipeline register (x, b, c; p, c; y and
    t, b, c; t, p, c; out); plus the two valid pipelines (``latency`` + ``requant_latency``
    flops). Not counted: the ``2**(c-1)`` one-hot decoders and the requantisation's INT8 clamp
    and pass-through selects.

    Events: the dequantisation pipeline's registers have no enable (``elaborate`` loads them
    every cycle), so every stage follows ``raw`` / ``asum``, which change with every array word
    (the group's sum so far): ``"word"``. The requantisation pipeline's input ``total`` changes
    once per dequantised word (the writer adds each ``y`` into it) and ``rq_params`` once per n
    tile: ``"group"``, as are the valid flops (``in_valid`` / ``rq_valid`` pulse once per
    dequantised word). Each part names the ports its operands come from (:func:`fed_by`)."""
    C, A, R = unit.cols, unit.acc_width, unit.rounded_width
    # a signed A-bit value times an unsigned MULT_BITS-bit one has A + MULT_BITS significant
    # bits: the top bit of the declared ``product_width`` only repeats the sign (the unsigned
    # operand's sign extension is 0), and synthesis keeps one flop for the two
    P = A + MULT_BITS
    raw, asum, total = ("raw", A), ("asum", A), ("total", A)
    b, c, z = ("params", MULT_BITS), ("params", SHIFT_USED_BITS), ("params", ZP_BITS)
    rb, rc = ("rq_params", MULT_BITS), ("rq_params", SHIFT_USED_BITS)
    # stage registers: x (raw - z*asum), b, c; p (x*b), c; y (rounded, shifted p)
    # past stage 1 the operands are the unit's internal words (x, p, y), whose toggles are
    # measured on the golden arithmetic (models.post_array_activity.INTERNAL_WORDS)
    x, p = ("x", A), ("p", P)
    dequant_regs = ((A, x), (MULT_BITS, b), (SHIFT_USED_BITS, c), (P, p), (SHIFT_USED_BITS, c), (A, ("y", A)))
    requant_regs = ((A, total), (MULT_BITS, rb), (SHIFT_USED_BITS, rc), (A, total), (P, total),
                    (SHIFT_USED_BITS, rc), (A, total))
    return [
        fed_by(("mult", (ZP_BITS, A), C, "word"), z, asum),
        fed_by(("add", (A,), C, "word"), raw, asum),
        fed_by(("mult", (A, MULT_BITS), C, "word"), x, b),
        fed_by(("add", (R,), C, "word"), p),
        fed_by(("shift", (R, SHIFT_USED_BITS), C, "word"), p, c),
        fed_by(("mult", (A, MULT_BITS), C, "group"), total, rb),
        fed_by(("add", (R,), C, "group"), ("total", R)),
        fed_by(("shift", (R, SHIFT_USED_BITS), C, "group"), ("total", R), rc),
    ] + [fed_by(("reg", (w,), C, "word"), (port, w)) for w, (port, _) in dequant_regs] + [
        fed_by(("reg", (w,), C, "group"), (port, w)) for w, (port, _) in requant_regs] + [
        ("reg", (1,), unit.latency + unit.requant_latency, "group")]


def scale_dequant_items(unit):
    """:class:`hw.scale_dequant.BitSerialScaleDequant` (C = cols, A = acc_width, d = digit_bits,
    P = cycles per word), per column two digit products (the top digit from the live inputs on
    ``in_valid``, the next ones from the registered raw sum in the Horner step): d gated copies
    of ``value << i`` summed into A bits, which Yosys's ``alumacc`` makes one ``$macc`` (a
    carry-save tree and one adder, with the AND gates inside it): a truncated multiply
    (``tmult``), and for the Horner step the same sum with ``partial << d`` as one more addend
    (``horner``); the two selects in front of the partial (A bits) and code ((P - 1) * d bits:
    its low digit is always 0) registers; the raw / partial registers and the code register; the
    shared digit counter and busy flag.

    Events: the top digit's product and the select in front of the partial register are fed by
    the live ``raw`` and ``params`` ports, which change with every array word (the group's sum so
    far) whether or not ``in_valid`` is high: ``"word"``. Everything behind the registers
    ``in_valid`` loads (raw, code, partial: enabled, they hold between dequantised words) acts
    in the P cycles of a dequantised word: ``"group_cycle"`` (the partial register, the Horner
    step, the code register and select, the counter), the raw register once: ``"group"``. Each
    part names the ports its operands come from (:func:`fed_by`; the counter none: its own
    sequencing)."""
    C, A, d, P = unit.cols, unit.acc_width, unit.digit_bits, unit.cycles
    # the code register is loaded shifted by a digit and shifts a digit a cycle: its low d bits
    # are always 0 (constant flops fold), so it holds the (P - 1) * d bits of the digits to come.
    # With one digit (P = 1) it is all constant 0: the Horner step's digit product is 0, its
    # add is the wiring of ``partial << d`` and the raw register (read only there) goes too.
    code = (P - 1) * d
    raw = ("raw", A)
    # one $macc each: alumacc fuses the gated copies, their adds and the Horner add
    items = [fed_by(("tmult", (A, d, A), C, "word"), raw, ("params", d)),
             fed_by(("mux", (2, A), C, "word"), raw),
             fed_by(("reg_en", (A,), C, "group_cycle"), raw),
             ("reg_en", (_bits_for(P + 1) + 1,), 1, "group_cycle")]
    if code:
        items += [fed_by(("horner", (A, d, A), C, "group_cycle"), raw, ("params", d)),
                  fed_by(("reg_en", (A,), C, "group"), raw),
                  fed_by(("mux", (2, code), C, "group_cycle"), ("params", code)),
                  fed_by(("reg_en", (code,), C, "group_cycle"), ("params", code))]
    return items


#: Inventory function per hardware class (PE, border unit, post-array unit). The registry fills it
#: from each kind's ``inventories`` entry (:func:`register`), so a new kind brings its own.
INVENTORIES = {}


def register(hw_class, items):
    """Make ``items(unit)`` the inventory of ``hw_class`` (one function per class)."""
    if INVENTORIES.setdefault(hw_class, items) is not items:
        raise ValueError(f"hardware class {hw_class.__name__} has two cost inventories")


def unit_items(unit):
    """Inventory of one PE, border unit or post-array unit instance (see the module docstring)."""
    inventory = INVENTORIES.get(type(unit))
    if inventory is None:
        raise UnknownComponentError(
            f"no cost inventory for hardware class {type(unit).__name__!r}; give its PE kind's "
            f"registry entry an `inventories` pair (`pearray synth --unit pe` shows a PE's "
            f"word-level cells)")
    return inventory(unit)


# --------------------------------------------------------------------------------------------
# the array (one function per dataflow, following hw/array.py)


def border_units(pe):
    """The PE prototype's (act border, weight border) instances, either None, never elaborated."""
    return tuple(None if b is None else facts_only(b) for b in (pe.act_border(), pe.weight_border()))


def _operand_widths(pe):
    """Widths of the row / column operand lanes as the array routes them: the border unit's
    ``operand`` if the PE has one, else the code lane (``SystolicArray._border_operands``)."""
    act_border, weight_border = border_units(pe)
    a = _operand_bits(act_border) if act_border is not None else pe.act_code_width
    w = _operand_bits(weight_border) if weight_border is not None else pe.weight_code_width
    return a, w, act_border, weight_border


#: border-unit class -> function giving how many of its ``operand`` bits are not constant (the
#: registers that carry the operand through the array keep only those: constant flops fold)
OPERAND_BITS = {}


def register_operand_bits(hw_class, bits):
    """Make ``bits(border)`` the non-constant operand bits of ``hw_class`` (see :data:`OPERAND_BITS`)."""
    if OPERAND_BITS.setdefault(hw_class, bits) is not bits:
        raise ValueError(f"hardware class {hw_class.__name__} has two operand-bit functions")


register_operand_bits(TermEncoder, term_operand_bits)


def lut_operand_bits(border):
    """Bits of :class:`hw.lut_precompute.LutTablePrecompute`'s ``operand`` the activation lanes
    keep: entries ``j`` and ``j ^ 2**(GROUP-2)`` are one partial sum plus and minus the last
    activation, and ``x + a`` and ``x - a`` have the same low bit (``x0 ^ a0``, one net), so
    synthesis merges the two flops that hold it: ENTRIES / 2 flops fewer per lane stage. (All
    entries have the same parity, but the earlier pairs' low bits are different nets and stay.)
    Not counted: row 0's pass registers (between column tiles), which the border feeds with no
    skew stage between, keep all ENTRIES * ENTRY_WIDTH bits in the 4 x 4 netlist, ENTRIES / 2
    flops more each than this (4 x 4: 12 of 4,664 flops)."""
    return len(border.operand) - ENTRIES // 2


register_operand_bits(LutTablePrecompute, lut_operand_bits)


def _operand_bits(border):
    """Operand bits the array's lanes and weight banks register for ``border`` (all of them
    unless its kind says which are constant)."""
    bits = OPERAND_BITS.get(type(border))
    return len(border.operand) if bits is None else bits(border)


#: PE inventory function -> its ``acc_out`` significant-bits function (for the ones that take
#: ``acc_in_bits``: the weight-stationary accumulation chain, see :func:`_pe_items`).
ACC_OUT_BITS = {int8_pe_items: int8_acc_out_bits, lut_pe_items: lut_acc_out_bits,
                ovp_pe_items: ovp_acc_out_bits, shiftadd_pe_items: shiftadd_acc_out_bits,
                bitserial_pe_items: bitserial_acc_out_bits}


#: PE inventories that take ``bordered=True`` in an array: their operands come from the kind's
#: border units there, whose constant output bits synthesis folds into the PE (ANT's decoders).
BORDERED = set()


def register_bordered(items):
    """Declare that ``items(pe, acc_in_bits=None, bordered=False)`` (and its chain function)
    count the PE as fed by its border units when ``bordered`` (see :data:`BORDERED`)."""
    BORDERED.add(items)


register_bordered(bitserial_pe_items)


#: PE inventories that take ``os_slot=True`` in an output-stationary array (see
#: :func:`register_os_gated`)
OS_GATED = set()


def register_os_gated(items):
    """Declare that ``items(pe, os_slot=False)`` drops its ``acc_in`` / ``acc_out`` select
    (:meth:`hw.bitserial_terms.TermSteps.base`: ``valid ? acc_in : acc_out``) when ``os_slot``:
    an output-stationary slot drives ``acc_in`` with ``first ? 0 : acc_out``
    (``SystolicArray._elaborate_os``), so the select is ``valid & first ? 0 : acc_out``, the
    slot's ``first`` gate (counted by :func:`array_items_os`) with no mux left."""
    OS_GATED.add(items)


register_os_gated(bitserial_pe_items)
register_os_gated(bitserial_fp16_pe_items)


def register_chain(items, acc_out_bits):
    """Declare that the PE inventory ``items(pe, acc_in_bits=None)`` follows the
    weight-stationary accumulation chain, ``acc_out_bits(pe, acc_in_bits)`` giving its sum's
    significant bits (for inventories kept next to their kind's golden model)."""
    if ACC_OUT_BITS.setdefault(items, acc_out_bits) is not acc_out_bits:
        raise ValueError(f"inventory {items.__name__} has two acc_out bit functions")


def _ws_chain_bits(pe, R):
    """Significant ``acc_in`` bits of each row of a weight-stationary column (row 0: the constant
    0), or None when the PE's inventory does not follow them (every row full width)."""
    out_bits = ACC_OUT_BITS.get(INVENTORIES.get(type(pe)))
    if out_bits is None:
        return None
    extra = _bordered(pe)
    bits = [0]
    for _ in range(R):
        bits.append(out_bits(pe, bits[-1], **extra))
    return bits


def _bordered(pe):
    """Keyword arguments of the PE's inventory (and chain function) inside an array."""
    return {"bordered": True} if INVENTORIES.get(type(pe)) in BORDERED else {}


def _slot_options(pe, dataflow):
    """Keyword arguments of the PE's inventory inside an array of ``dataflow`` (:func:`_bordered`
    and, output-stationary, ``os_slot``: :func:`register_os_gated`)."""
    extra = _bordered(pe)
    if dataflow == "os" and INVENTORIES.get(type(pe)) in OS_GATED:
        extra["os_slot"] = True
    return extra


def _pe_items(pe, R, C, dataflow):
    """The array's PEs. In weight-stationary, row r's ``acc_in`` is row r-1's sum: the top row's
    is the constant 0 and each row below carries only the bits the sums so far can have
    (sign-extended to acc_width). Synthesis keeps only those (the adds narrow, duplicated sign
    flops merge), which the PE's inventory counts when it takes ``acc_in_bits``."""
    def pes(rows, listed):
        return [Item("pes", prim, widths, rows * C * n, "step" if ev == "step" else "step_cycle", n * rows / R,
                     getattr(part, "drivers", ()), getattr(part, "inputs", ()))
                for part in listed for prim, widths, n, ev in (part,)]
    chain = _ws_chain_bits(pe, R) if dataflow == "ws" else None
    extra = _slot_options(pe, dataflow)
    if chain is None:
        return pes(R, INVENTORIES[type(pe)](pe, **extra) if extra else unit_items(pe))
    inventory = INVENTORIES[type(pe)]
    return [item for r in range(R) for item in pes(1, inventory(pe, acc_in_bits=chain[r], **extra))]


#: PE inventories whose ``acc_out`` register keeps its declared ``acc_width`` flops in an array
#: although the chain's adds narrow (see :func:`register_declared_out`)
DECLARED_OUT = {}


def register_declared_out(items, when=lambda pe: True):
    """Declare that the chained PE inventory ``items`` keeps ``acc_width`` ``acc_out`` flops in
    every row (it counts them itself), so the output deskew registers are that wide too: its sum
    is wider than ``acc_out`` and truncated into it, with operands Yosys's single ``wreduce``
    pass cannot prove sign-extended (a variable shifter's output), so the register is not
    narrowed, while the value-range adds stand for the carry-save columns that synthesis keeps.
    ``when(pe)``: whether it does for this PE (default: always)."""
    DECLARED_OUT[items] = when


def _out_bits(pe, R, dataflow):
    """Significant bits of the array's output lanes (the bottom row's sums in weight-stationary
    when the PE's inventory follows the chain and does not keep its declared width, else
    acc_width)."""
    chain = _ws_chain_bits(pe, R) if dataflow == "ws" else None
    if chain is None or DECLARED_OUT.get(INVENTORIES.get(type(pe)), lambda _: False)(pe):
        return pe.acc_width
    return chain[R]


def _common_items(pe, R, C, dataflow):
    """PEs and border units, the same in both dataflows (``SystolicArray._make_pes`` and
    ``_border_operands``: one act border per row, one weight border per column)."""
    items = _pe_items(pe, R, C, dataflow)
    _, _, act_border, weight_border = _operand_widths(pe)
    if act_border is not None:
        items += [Item("act_borders", prim, widths, R * n, "row_token", n)
                  for prim, widths, n, _ in unit_items(act_border)]
    if weight_border is not None:
        items += [Item("weight_borders", prim, widths, C * n, "col_weight", n)
                  for prim, widths, n, _ in unit_items(weight_border)]
    return items


def _bank_bits(pe):
    """Bits of a weight-stationary slot's weight banks: the PE's weight, or the non-constant bits
    of its weight border's operand (:data:`OPERAND_BITS`) when it has one."""
    weight_border = border_units(pe)[1]
    if weight_border is None or type(weight_border) not in OPERAND_BITS:
        return pe.weight_width
    return _operand_bits(weight_border)


def _tile_stages(side, tile):
    """Skew (or deskew) stages over one side of the array with broadcast tiles of ``tile`` along
    it: lane i is delayed ``i // tile`` flops, ``tile * T(T-1)/2`` in all (T = side / tile;
    ``side(side-1)/2`` untiled)."""
    tiles = side // tile
    return tile * tiles * (tiles - 1) // 2


# Broadcast tiles (``SystolicArray(tile=...)``): inside a tile an operand is one wire driving every
# PE of the tile, so only the registers at tile boundaries are counted, plus the wire's buffer
# trees (:func:`broadcast_items`: Yosys inserts none, layout would). Other wires between PEs are
# left out everywhere (models.cost), and so are the control nets (valids, enables), whose fan-out
# is the same tiled or not.


def broadcast_items(operand_bits, trees, fan):
    """The buffer trees of ``trees`` broadcast operands of ``operand_bits`` bits, each driving
    ``fan`` PEs (:mod:`models.buffer_tree`, :mod:`models.fanout`), in group ``slot_regs``: every tree carries each token
    once. None below a fan-out the source flop drives itself."""
    if tree_buffers(fan) == 0:
        return []
    return [Item("slot_regs", "buftree", (operand_bits, fan), trees, "token", trees)]


def array_items_ws(pe, R, C, tile=(1, 1)):
    """Weight-stationary slot and edge contents, counted from ``SystolicArray._elaborate_ws``
    (``tile`` = (1, tile_cols), Tc = C / tile_cols column tiles; Tc = C untiled):

    * weight write bus: control (we, row, bank) delayed one flop per column tile after the first
      (``wbus_c{c}``), lane c delayed c // tile_cols flops (``wlane_c{c}``);
    * row r's input skew: r * L token stages (``skew_r{r}``, data with load enable + valid), then
      a pass register between column tiles (``pass_{r}_{c}``, Tc - 1 per row). Every token
      stage's valid and bank bits are ``act_valid`` / ``act_bank`` delayed by the stage's depth
      (r * L + t + 1 after column tile t), so synthesis merges equal depths into one chain of
      (R-1) * L + Tc-1 stages; the operand bits differ per row and stay;
    * per slot: two weight banks (``w{b}_{r}_{c}``, enabled), the row-address compare and the
      bank-select mux in front of the PE;
    * the bottom row's valid delay (L flops, ``outv_c{C-1}``; the other columns' copies are unused
      and removed by synthesis) and the output deskew (``deskew_c{c}``: Tc-1-c//tile_cols stages
      of the bottom row's significant bits, :func:`_out_bits`);
    * tiled: each row's token broadcast to a tile's tile_cols PEs (R * Tc buffer trees,
      :func:`broadcast_items`).
    """
    L = pe.latency
    a_op, w_op, _, _ = _operand_widths(pe)
    rw = _bits_for(max(R, 2))
    Tc = C // tile[1]
    tri_c, tri_r = _tile_stages(C, tile[1]), R * (R - 1) // 2
    shared = (R - 1) * L + Tc - 1         # distinct depths of the valid / bank chain
    return _common_items(pe, R, C, "ws") + [
        Item("edge_regs", "reg", (rw + 2,), Tc - 1, "weight_word", Tc - 1),
        Item("edge_regs", "reg", (w_op,), tri_c, "weight_word", tri_c),
        Item("edge_regs", "reg_en", (a_op,), L * tri_r, "token", L * tri_r),
        Item("slot_regs", "reg_en", (a_op,), R * (Tc - 1), "token", R * (Tc - 1)),
        Item("edge_regs", "reg_en", (1,), shared, "token", shared),
        Item("edge_regs", "reg", (1,), shared, "token", shared),
        Item("slot_regs", "reg_en", (_bank_bits(pe),), 2 * R * C, "weight_word", C),
        Item("slot_regs", "eq", (rw,), R * C, "weight_word", R * C),
        Item("slot_regs", "mux", (2, _bank_bits(pe)), R * C, "step", 1),
        Item("edge_regs", "reg", (1,), L, "token", L),
        Item("edge_regs", "reg", (_out_bits(pe, R, "ws"),), tri_c, "out_word", tri_c),
    ] + broadcast_items(a_op, R * Tc, tile[1])


def array_items_os(pe, R, C, tile=(1, 1)):
    """Output-stationary slot and edge contents, counted from ``SystolicArray._elaborate_os``
    (``tile`` = (tile_rows, tile_cols); Tr = R / tile_rows row tiles, Tc = C / tile_cols column
    tiles; Tr = R, Tc = C untiled):

    * column c's weight skew: c // tile_cols token stages (``wskew_c{c}``, data with load enable +
      valid), then a pass register down each row-tile boundary (``wpass_{r}_{c}``, Tr - 1 per
      column; its valid is unused and removed);
    * row r's activation skew: r // tile_rows stages of (operand, first, last) + valid
      (``skew_r{r}``), then a pass register between column tiles (``pass_{r}_{c}``, Tc - 1 per
      row). The valid, first and last bits of every stage are ``act_valid`` / ``act_first`` /
      ``act_last`` delayed by the stage's depth (row tile + column tile), so synthesis merges
      equal depths into one chain of Tr-1 + Tc-1 stages (the weight skew's valids are the same
      chain);
    * per slot: the ``first`` gate on ``acc_in`` (acc_width ANDs), the output register
      (``out_{r}_{c}``, enabled) with its capture/shift mux (rows below the first); the capture
      delay (L flops, ``cap_{r}_{c}``) of ``valid & last``, which depends only on the slot's
      tile depth r // tile_rows + c // tile_cols: Tr + Tc - 1 distinct delays;
    * the drain counter (``drain_left``, range(R+1), decremented R times a fold), the shift
      enables of column tiles 1.. (``shift_c{c}``) and the output deskew (``deskew_c{c}``);
    * tiled: activation lanes broadcast to tile_cols PEs (R * Tc buffer trees), weight lanes to
      tile_rows PEs (C * Tr trees) (:func:`broadcast_items`).
    """
    L, A = pe.latency, pe.acc_width
    a_op, w_op, _, _ = _operand_widths(pe)
    tr, tc = tile
    Tr, Tc = R // tr, C // tc
    tri_c, tri_r = _tile_stages(C, tc), _tile_stages(R, tr)
    drain = _bits_for(R + 1)
    out_writes = R * C + R * (R - 1) * C   # per fold: one capture each, R shift cycles below row 0
    shared = Tr + Tc - 2                  # distinct depths of the valid / first / last chain
    captures = (Tr + Tc - 1) * L
    return _common_items(pe, R, C, "os") + [
        Item("edge_regs", "reg_en", (w_op,), tri_c, "token", tri_c),
        Item("slot_regs", "reg_en", (w_op,), (Tr - 1) * C, "token", (Tr - 1) * C),
        Item("edge_regs", "reg_en", (a_op,), tri_r, "token", tri_r),
        Item("slot_regs", "reg_en", (a_op,), R * (Tc - 1), "token", R * (Tc - 1)),
        Item("edge_regs", "reg_en", (2,), shared, "token", shared),
        Item("edge_regs", "reg", (1,), shared, "token", shared),
        Item("slot_regs", "and", (A,), R * C, "step", 1),
        Item("slot_regs", "reg", (1,), captures, "fold", 2 * captures),
        Item("slot_regs", "reg_en", (A,), R * C, "fold", out_writes),
        Item("slot_regs", "mux", (2, A), (R - 1) * C, "fold", R * (R - 1) * C),
        Item("edge_regs", "reg_en", (drain,), 1, "fold", R),
        Item("edge_regs", "add", (drain,), 1, "fold", R),
        Item("edge_regs", "reg", (1,), Tc - 1, "fold", 2 * (Tc - 1)),
        Item("edge_regs", "reg", (A,), tri_c, "out_word", tri_c),
    ] + broadcast_items(a_op, R * Tc, tc) + broadcast_items(w_op, C * Tr, tr)


ARRAY_INVENTORIES = {"ws": array_items_ws, "os": array_items_os}


# --------------------------------------------------------------------------------------------
# around the array (hw/accelerator.py)


def accelerator_items(acc):
    """Outside the array (:mod:`hw.accelerator`): the weight-stationary output writer
    (``_writer_ws``) adds each array output word into the output buffer: C acc_width adders, the
    stage-1 data register and the overwrite/accumulate choice; a design with groups has the
    grouped writer instead (``_writer_ws_groups``, :func:`group_items`). The stage-1 register
    holds the array's output lanes, whose bits above the bottom row's significant ones
    (:func:`_out_bits`) are copies of its sign bit: synthesis merges those flops into the sign's,
    so C x significant bits are counted (the L-Mul E4M3 4x4 top: 156 flops built, not 212). The
    overwrite/accumulate choice ``acc ? word + d : d`` is ``d + (acc ? word : 0)``: synthesis
    gates the buffer word with ANDs instead of muxing the sums (a 4-lane 53-bit writer: the choice
    adds 401 um^2 to the always-accumulating writer; an AND per bit is 357, a 2:1 mux per bit
    701). The output-stationary writer only addresses. Buffers are counted separately (SRAM). A
    design with an outlier unit (GOBO) adds its outlier pass (:func:`outlier_items`)."""
    outliers = outlier_items(acc)
    if acc.dataflow != "ws":
        return outliers
    if acc.group_size is not None:
        # the grouped writer replaces the plain one (``_writer_ws_groups``, not ``_writer_ws``)
        return outliers + group_items(acc)
    C, A = acc.cols, acc.pe.acc_width
    return outliers + [Item("out_accumulate", "add", (A,), C, "out_word", C),
                       Item("out_accumulate", "reg", (C * _out_bits(acc.pe, acc.rows, "ws"),), 1, "out_word", 1),
                       Item("out_accumulate", "and", (C * A,), 1, "out_word", 1)]


def outlier_items(acc):
    """GOBO's outlier pass (:mod:`hw.gobo_outlier_pass`), in group ``out_accumulate``, following
    ``elaborate_outlier_pass``. Per outlier-buffer entry the pass issues (event
    ``"outlier_entry"``, counted by :mod:`models.cost` from the GEMM's outlier list): the
    accelerator's R-lane :class:`hw.gobo_outlier.GoboOutlierUnit` (its inventory: one op per lane;
    one ``out_valid`` flop for all lanes, which share their control),
    each tile row's lane select (R x C:1 of 32 bits), the write-back of one 32-bit lane per row
    (R / C of a row write; its R x C lane selects and C column compares), the stage-2 / stage-3
    registers. Per fold (event ``"fold"``): the tile register (R words of C x 32 flops), each row
    loaded once, and the store select (R:1 of C x 32, R stores). The sequencer's counters are
    not counted (as the other sequencers': models.cost); its buffer is SRAM (models.cost)."""
    unit = getattr(acc, "outlier_unit", None)
    if unit is None:
        return []
    R, C, W, E = acc.rows, acc.cols, FP32_WIDTH, FP16_WIDTH
    col_bits = max(1, (C - 1).bit_length())
    # s2: valid, value, col and the flags but tile_last (only the sequencer reads it, from the
    # entry word at stage 1: its stage-2 copy is removed); s3: col
    stage_regs = 1 + E + col_bits + len(OUTLIER_FLAGS) - 1 + col_bits
    # every lane's in_valid and last are the same stage-2 flag (replicated), so the lanes'
    # out_valid flops (the unit inventory's 1-bit registers) are equal: synthesis keeps one
    items = [Item("out_accumulate", prim, widths, 1 if (prim, widths) == ("reg", (1,)) else n,
                  "outlier_entry", 1 if (prim, widths) == ("reg", (1,)) else n)
             for prim, widths, n, _ in unit_items(unit)]
    return items + [
        Item("out_accumulate", "mux", (C, W), R, "outlier_entry", R),
        Item("out_accumulate", "mux", (2, W), R * C, "outlier_entry", R),
        Item("out_accumulate", "eq", (col_bits,), C, "outlier_entry", C),
        Item("out_accumulate", "reg", (stage_regs,), 1, "outlier_entry", 1),
        Item("out_accumulate", "reg_en", (C * W,), R, "fold", R),
        Item("out_accumulate", "reg_en", (C * W,), 0, "outlier_entry", R / C),
        Item("out_accumulate", "mux", (R, C * W), 1, "fold", R),
    ]


def row_sum_adds(acc):
    """The row-sum lane's adders (``SystolicArray._row_sum_cell``) as per-row lists of their
    significant bits: row 0 adds its token's ``k_per_step`` activation elements to the constant
    0 (the first add folds away), each row below adds them to the row above's sum; synthesis
    keeps only the bits the sum can have (each add one bit wider than its wider operand,
    ``wreduce``; at most acc_width, where it wraps), as for the PEs' chain (:func:`_sum_bits`).
    A row's register is as wide as its last sum (row 0 with one element: the element)."""
    pe = acc.pe
    bits, rows = 0, []
    for _ in range(acc.rows):
        adds = []
        for _ in range(pe.k_per_step):
            folded = bits == 0
            bits = _sum_bits(pe.acc_width, pe.act_element_bits, bits)
            if not folded:
                adds.append(bits)
        rows.append((adds, bits))
    return rows


def group_items(acc):
    """The grouped writer's datapath (``Accelerator._writer_ws_groups`` with ``group_size``), in
    group ``out_accumulate``:

    * for a unit that ``uses_asum``, the row-sum lane through the array
      (``SystolicArray(row_sum=True)``): per row its adders and register (:func:`row_sum_adds`,
      delayed to the PE latency; row 0's register of one element is the row's pass register); the
      bottom row's sum deskewed like column 0 (``col_tiles - 1`` stages);
    * the stage-1 word register (``s1_data``: the C output lanes' significant bits, as the plain
      writer's, and the row-sum lane's; with more than one fold per group it holds the group sum,
      ``acc_width`` bits a lane);
    * with more than one fold per group, the group accumulator's read-modify-write adders (C lanes,
      + the asum lane; acc_width, where the accumulator wraps, with the stage-1 lane's significant
      bits sign-extended: ``addn``) and the first-fold overwrite mux;
    * the running total's C adders and its first-group overwrite mux;
    * the post-array unit's own inventory (:func:`post_array_parts`): its ``"word"`` parts on
      every array word through it (``post_word``: every fold's), its ``"group"`` parts on every
      dequantised word (``post_group``: one per group, token and n tile).

    The group accumulator and total buffers are buffers (SRAM in :mod:`models.cost`; one-word
    registers in the synthesised top, :mod:`models.top_inventory`)."""
    R, C, A = acc.rows, acc.cols, acc.pe.acc_width
    unit = acc.post_array_unit
    items = []
    lanes = C + (1 if unit.uses_asum else 0)
    out_bits = _out_bits(acc.pe, R, "ws")
    word_bits = C * out_bits
    # the group accumulator's add: its A-bit word plus a stage-1 lane of only so many significant
    # bits (the rest repeat its sign): a narrow operand sign-extended into an A-bit add (addn)
    narrow = [out_bits] * C
    if unit.uses_asum:
        rows = row_sum_adds(acc)
        deskew = acc.array.col_tiles - 1     # deskewed like column 0
        delay = acc.pe.latency - 1           # the register, then latency - 1 delay stages
        # row 0's register of a single element holds the token under the token's valid: with
        # more than one column tile so does the row's first pass register, and synthesis merges
        # the two (the array inventory counts the pass register)
        merged = acc.pe.k_per_step == 1 and acc.array.col_tiles > 1
        for r, (adds, bits) in enumerate(rows):
            items += [Item("out_accumulate", "add", (b,), 1, "token", 1) for b in adds]
            if r or not merged:
                items.append(Item("out_accumulate", "reg_en", (bits,), 1, "token", 1))
            if delay:
                items.append(Item("out_accumulate", "reg", (bits,), delay, "token", delay))
        if deskew:
            items.append(Item("out_accumulate", "reg", (rows[-1][1],), deskew, "token", deskew))
        word_bits += rows[-1][1]
        narrow.append(rows[-1][1])
    # s1_data: the word itself, or with several folds per group the group's sum so far (the
    # accumulator's A-bit lanes, registered before the unit so no add sits in front of it)
    s1_bits = lanes * A if acc.group_folds > 1 else word_bits
    items.append(Item("out_accumulate", "reg", (s1_bits,), 1, "out_word", 1))
    if acc.group_folds > 1:
        items += [Item("out_accumulate", *(("addn", (A, b)) if b < A else ("add", (A,))), 1, "out_word", 1)
                  for b in narrow]
        items.append(Item("out_accumulate", "mux", (2, lanes * A), 1, "out_word", 1))
    items += [Item("out_accumulate", "add", (A,), C, "out_word", C),
              Item("out_accumulate", "mux", (2, C * A), 1, "out_word", 1)]
    return items + [Item("out_accumulate", prim, widths, n, POST_ARRAY_EVENTS[event], uses, ports)
                    for prim, widths, n, event, uses, ports in post_array_parts(unit)]


#: a post-array part's event (:func:`post_array_parts`) -> the GEMM event :mod:`models.cost`
#: counts it on: every array word through the unit, or every dequantised word
POST_ARRAY_EVENTS = {"word": "post_word", "group": "post_group"}


def post_array_parts(unit):
    """(primitive, widths, count, event, uses per event, ports) of a post-array unit's
    inventory (:func:`unit_items`): ``event`` "word" (once per array word through the unit) or
    "group" (per dequantised word; a ``group_cycle`` part is a "group" one used in every one of
    the unit's ``latency`` cycles), ``count`` times; ``ports``: the :attr:`UnitPart.ports` that
    feed it (empty: none named)."""
    uses = {"word": 1, "group": 1, "group_cycle": unit.latency}
    return [(prim, widths, n, "word" if event == "word" else "group", n * uses[event],
             getattr(part, "ports", ()))
            for part in unit_items(unit) for prim, widths, n, event in (part,)]


def design_items(acc):
    """The full inventory (:class:`Item` list) of an accelerator (facts only), at 45 nm, unscaled."""
    return (list(ARRAY_INVENTORIES[acc.dataflow](acc.pe, acc.rows, acc.cols, acc.array.tile))
            + accelerator_items(acc))
