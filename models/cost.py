"""Analytical cost model: area, energy and throughput of a design point on a GEMM workload.

``evaluate(config, workload)`` is a pure function of a frozen :class:`CostConfig` (PE kind and
options, array shape, dataflow, clock, node, buffer sizes, DRAM type) and a workload (one
:class:`models.workloads.Gemm`, an ``(m, k, n)`` tuple, a list of Gemms, or a workload name).

Where the numbers come from
---------------------------
* Technology constants: :mod:`models.tech` (each with its source). Arithmetic (adders,
  multipliers) from Horowitz 45 nm; flip-flops, multiplexers and gates from the OSU 0.18 um
  liberty scaled to 45 nm with Stillmaker & Baas; SRAM access energy from Horowitz by array size;
  DRAM pJ/bit and bandwidth by DRAM type. Everything on chip is computed at 45 nm, then scaled to
  the node (x area / energy factors of :func:`models.tech.area_scale` / ``energy_scale``); DRAM
  energy is off chip and not scaled.
* Inventories are derived, not typed: widths and timing are read from the hardware classes'
  properties (``DesignConfig(...).facts``: the PE prototype, the array, the accelerator), and the
  array slot contents are counted by one function per dataflow (:func:`array_items_ws`,
  :func:`array_items_os`) that follows :mod:`hw.array` line by line. Each PE class and border-unit
  class has one inventory function (:data:`PE_INVENTORIES`, :data:`BORDER_INVENTORIES`) that
  follows its ``elaborate``; a class without one is an :class:`~models.tech.UnknownComponentError`
  naming it.
* Cycles: :func:`models.cycles.gemm_cycles`, the exact model the RTL tests check.

Derived primitive costs (45 nm; see :func:`primitive`)
------------------------------------------------------
* ``add`` w bits: linear in w through Horowitz's int8 and int32 adds (area and energy).
* ``mult`` a x b bits: power law in the product a*b through Horowitz's int8 and int32 multiplies.
* ``reg`` / ``reg_en`` w bits: DFFPOSX1 + AND2X1 (the synchronous reset every Amaranth ``sync``
  signal has) [+ MUX2X1 hold mux for a load enable]; every flop pays the clock energy every cycle
  (the RTL has no clock gating) and ``activity`` x toggle energy per bit when loaded.
* ``shift`` w x s: a w-bit barrel shifter with an s-bit amount, s levels of w MUX2X1.
* ``mux`` n:1 x w: (n-1) MUX2X1 per bit; an evaluation toggles ceil(log2 n) levels per bit x
  ``activity``. ``eq`` w: w XOR2X1 + (w-1) AND2X1. ``and`` w: w AND2X1.
* SRAM: area = bits x the 45 nm 6T cell (bit cells only, periphery not modelled: a lower bound);
  access energy per 64 bits by capacity, log-log interpolated between Horowitz's 8 KB / 32 KB /
  1 MB points, the 8 KB figure below 8 KB and the 32 KB-1 MB slope above 1 MB.

Energy model: per GEMM, each inventory item's energy per event times the event count:
``step`` (one PE processes one token: tokens x R x C; every PE of the array steps on every
token, padded lanes included), ``step_cycle`` (steps x II), ``token`` (array input tokens),
``row_token`` (tokens x R: act border evaluations), ``weight_word`` (weight buffer words read),
``col_weight`` (weight words x C: weight border evaluations), ``out_word`` (array output words),
``fold``. Plus the clock energy of every flop for every cycle, SRAM accesses and DRAM bits. No
leakage (Horowitz's figures are dynamic energy).

SRAM and DRAM traffic (from :class:`hw.layout.GemmLayout`, as the sequencer reads the buffers)
--------------------------------------------------------------------------------------------
* ws: act words read = folds x M (each n tile re-reads its k tiles), weight words = folds x R,
  output: one read-modify-write per array output word (folds x M reads and writes).
* os: act and weight words read = folds x K-steps, output words written = folds x R.
* DRAM: each operand is fetched once as a dense tensor (elements x element bits, no padding),
  except: ws re-fetches A once per n tile when A's layout does not fit the act buffer, and spills
  partial sums (write every k tile, read back all but the first) when one n tile's M output
  words do not fit the output buffer; os re-fetches A once per n tile when one m tile's K-steps do
  not fit the act buffer, and W once per m tile when W's layout does not fit the weight buffer.
  The output goes out once at ``acc_width`` bits per element. DRAM fills are SRAM writes and
  output drains SRAM reads. Roofline: a layer is memory-bound when its DRAM bytes / bandwidth
  exceed its compute time (RTL cycles / clock); ``latency_s`` assumes transfers overlap compute.
  The RTL has no DRAM port: this is the model's assumption about the system around it.
* Not modelled: the sequencer's counters (O(log depth) bits, independent of R and C), leakage,
  wires between PEs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

from . import tech
from .tech import UnknownComponentError, value as tv

EVENTS = ("step", "step_cycle", "token", "row_token", "weight_word", "col_weight", "out_word", "fold")
AREA_GROUPS = ("pes", "slot_regs", "edge_regs", "act_borders", "weight_borders", "out_accumulate",
               "buffer_act", "buffer_weight", "buffer_out")
ENERGY_GROUPS = ("pes", "slot_regs", "edge_regs", "act_borders", "weight_borders", "out_accumulate",
                 "clock", "sram_act", "sram_weight", "sram_out", "dram_act", "dram_weight", "dram_out")
ARRAY_GROUPS = ("pes", "slot_regs", "edge_regs", "act_borders", "weight_borders")
BUFFERS = ("act", "weight", "out")


# --------------------------------------------------------------------------------------------
# primitives


class Prim(NamedTuple):
    area_um2: float       # 45 nm
    energy_pj: float      # 45 nm, per operation / evaluation / register load
    flop_bits: int        # flops (each pays the clock energy every cycle)


def _osu_area(cell):
    return tv(f"osu018.{cell}.area") * tv("scale.area.180_to_45")


def _osu_toggle(cell):
    return tv(f"osu018.{cell}.toggle_energy") * tv("scale.energy.180_1v8_to_45_0v9")


def clock_energy_per_bit():
    """45 nm energy one flop pays per clock cycle (OSU DFFPOSX1 CLK energy, Stillmaker-scaled)."""
    return tv("osu018.DFFPOSX1.clock_energy") * tv("scale.energy.180_1v8_to_45_0v9")


def _horowitz_linear(width, what):
    lo, hi = tv(f"horowitz.int8_add.{what}"), tv(f"horowitz.int32_add.{what}")
    return lo + (hi - lo) * (width - 8) / 24


def _horowitz_power(product_bits, what):
    lo, hi = tv(f"horowitz.int8_mult.{what}"), tv(f"horowitz.int32_mult.{what}")
    exponent = math.log(hi / lo) / math.log(1024 / 64)
    return lo * (product_bits / 64) ** exponent


@functools.lru_cache(maxsize=4096)
def primitive(name, *widths, activity=0.5):
    """45 nm area, energy per use and flop count of one primitive (see the module docstring)."""
    if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"primitive {name!r} widths must be positive integers, not {widths}")
    if name == "add" and len(widths) == 1:
        (w,) = widths
        return Prim(_horowitz_linear(w, "area"), _horowitz_linear(w, "energy"), 0)
    if name == "mult" and len(widths) == 2:
        p = widths[0] * widths[1]
        return Prim(_horowitz_power(p, "area"), _horowitz_power(p, "energy"), 0)
    if name == "reg" and len(widths) == 1:
        (w,) = widths
        return Prim(w * (_osu_area("DFFPOSX1") + _osu_area("AND2X1")),
                    w * activity * _osu_toggle("DFFPOSX1"), w)
    if name == "reg_en" and len(widths) == 1:
        (w,) = widths
        return Prim(w * (_osu_area("DFFPOSX1") + _osu_area("MUX2X1") + _osu_area("AND2X1")),
                    w * activity * (_osu_toggle("DFFPOSX1") + _osu_toggle("MUX2X1")), w)
    if name == "mux" and len(widths) == 2:
        n, w = widths
        levels = max(1, math.ceil(math.log2(n))) if n > 1 else 0
        return Prim(w * (n - 1) * _osu_area("MUX2X1"), w * levels * activity * _osu_toggle("MUX2X1"), 0)
    if name == "eq" and len(widths) == 1:
        (w,) = widths
        return Prim(w * _osu_area("XOR2X1") + (w - 1) * _osu_area("AND2X1"),
                    activity * (w * _osu_toggle("XOR2X1") + (w - 1) * _osu_toggle("AND2X1")), 0)
    if name == "shift" and len(widths) == 2:
        out, amount = widths    # barrel shifter: one 2:1 mux level per shift-amount bit
        return Prim(out * amount * _osu_area("MUX2X1"), out * amount * activity * _osu_toggle("MUX2X1"), 0)
    if name == "and" and len(widths) == 1:
        (w,) = widths
        return Prim(w * _osu_area("AND2X1"), w * activity * _osu_toggle("AND2X1"), 0)
    raise UnknownComponentError(f"unknown cost primitive {name!r} with widths {widths}")


class Item(NamedTuple):
    """``count`` instances of a primitive in the design (area, flops); ``per_event`` of them act
    on each ``event`` (energy)."""
    group: str
    prim: str
    widths: tuple
    count: float
    event: str
    per_event: float


def _bits_for(n):
    """Bits of an Amaranth ``range(n)`` signal."""
    return max(1, (n - 1).bit_length())


# --------------------------------------------------------------------------------------------
# PE and border-unit inventories (one function per hardware class, following its elaborate())


def int8_pe_items(pe):
    """:class:`hw.pe_int8.Int8PE`: ``acc_out <= acc_in + act * weight`` when valid: one
    act_width x weight_width multiplier, one acc_width adder, the acc_width enabled register."""
    return [("mult", (pe.act_width, pe.weight_width), 1, "step"),
            ("add", (pe.acc_width,), 1, "step"),
            ("reg_en", (pe.acc_width,), 1, "step")]


def lut_pe_items(pe):
    """:class:`hw.pe_lut.LutPE` (B = weight_bits bit-planes, E = table entry width):
    per cycle of a step an 8:1 entry mux (E bits), a B:1 nibble select (4 bits), the negation
    (E+1-bit subtract and mux) and, for B > 1, the Horner update ``partial = 2*partial + term``
    (E+B bits) with its register and the plane counter; per step the final adds
    ``acc_hold + 2*partial + term`` (two acc_width adders), the acc_hold / acc_out registers and
    the ``active`` flag (B = 1: one adder, acc_out and the plane register)."""
    from hw.lut_precompute import ENTRY_WIDTH
    entries = pe.act_width // ENTRY_WIDTH
    B, E, A = pe.weight_bits, ENTRY_WIDTH, pe.acc_width
    items = [("mux", (entries, E), 1, "step_cycle"),
             ("add", (E + 1,), 1, "step_cycle"),
             ("mux", (2, E + 1), 1, "step_cycle")]
    counter = _bits_for(max(B, 2))
    if B == 1:   # the plane register is still there (loaded with 0 on valid)
        return items + [("add", (A,), 1, "step"), ("reg_en", (A,), 1, "step"),
                        ("reg_en", (counter,), 1, "step")]
    return items + [
        ("mux", (B, 4), 1, "step_cycle"),
        ("add", (E + B,), 1, "step_cycle"),
        ("reg_en", (E + B,), 1, "step_cycle"),
        ("reg_en", (counter,), 1, "step_cycle"),
        ("add", (counter,), 1, "step_cycle"),
        ("reg_en", (1,), 1, "step"),
        ("reg_en", (A,), 2, "step"),
        ("add", (A,), 2, "step"),
    ]


def lut_table_items(border):
    """:class:`hw.lut_precompute.LutTablePrecompute`: entry j = -a0 +- a1 +- a2 +- a3, built as
    a prefix tree because equal partial sums are one expression (Yosys merges them): one
    negation (9 bits), then 2, 4 and 8 add/subtracts of 10, 11 and 11 bits; no registers."""
    from hw.lut_precompute import ENTRY_WIDTH, GROUP
    items, width = [("add", (9,), 1, "eval")], 9
    for level in range(1, GROUP):
        width = min(width + 1, ENTRY_WIDTH)
        items.append(("add", (width,), 2 ** level, "eval"))
    return items


def ovp_pe_items(pe):
    """:class:`hw.pe_ovp.OvpPE` (mode fields E, I from :mod:`hw.ovp_decoder`): per pair element
    an I x I multiplier, the exponent add (E+1 bits) and the product's left shift (term width,
    E+1 amount bits); the two terms' add, the accumulate add and the enabled acc_out register."""
    from hw.ovp_decoder import get_mode
    fmt = get_mode(pe.mode)
    E, I, A = fmt.exp_width, fmt.int_width, pe.acc_width
    term = 2 * I - 1 + 2 * fmt.max_exponent + 1
    return [("mult", (I, I), 2, "step"), ("add", (E + 1,), 2, "step"),
            ("shift", (term, E + 1), 2, "step"), ("add", (term + 1,), 1, "step"),
            ("add", (A,), 1, "step"), ("reg_en", (A,), 1, "step")]


def ovp_decoder_items(decoder):
    """:class:`hw.ovp_decoder.OvpPairDecoder`: per element of the pair a victim compare (N bits)
    and the outlier flag, the exponent bias add (E bits), the outlier magnitude negation and sign
    mux (I bits) and the victim / outlier / normal selects (3:1, E and I bits); flint normals
    add the 8-entry magnitude decode (E+2 bits) with its own negation and sign mux."""
    fmt = decoder.mode
    N, E, I = fmt.bits, fmt.exp_width, fmt.int_width
    items = [("eq", (N,), 2, "eval"), ("and", (1,), 2, "eval"), ("add", (E,), 2, "eval"),
             ("add", (I,), 2, "eval"), ("mux", (2, I), 2, "eval"), ("mux", (3, E), 2, "eval"),
             ("mux", (3, I), 2, "eval")]
    if fmt.normal == "flint":
        items += [("mux", (8, E + 2), 2, "eval"), ("add", (I,), 2, "eval"), ("mux", (2, I), 2, "eval")]
    return items


def shiftadd_pe_items(pe):
    """:class:`hw.pe_shiftadd.ShiftAddPE` (B = weight_bits): per weight bit a gated copy of the
    shifted activation (act_width + b bits of AND gates), B-1 adders growing one bit per term,
    the accumulate adder and the enabled acc_out register; no multiplier."""
    B, W, A = pe.weight_bits, pe.act_width, pe.acc_width
    items = [("and", (W + b,), 1, "step") for b in range(B)]
    items += [("add", (W + b + 1,), 1, "step") for b in range(1, B)]
    return items + [("add", (A,), 1, "step"), ("reg_en", (A,), 1, "step")]


def bitserial_pe_items(pe):
    """:class:`hw.pe_bitserial.BitSerialPE` (T = terms per weight): per cycle of a step the T:1
    term select (5 bits), the barrel shift of the activation (16 bits, 3 amount bits), its
    negation (17-bit subtract), the sign and presence selects, and the accumulator itself:
    ``acc_in`` / ``acc_out`` select, one acc_width adder and the enabled acc_out register (it adds
    a term every cycle); for T > 1 the term index register with its increment and the ``active``
    flag. No multiplier."""
    from hw.bitserial_terms import SHIFT_BITS, TERM_WIDTH
    T, A = pe.terms, pe.acc_width
    items = [("mux", (max(T, 2), TERM_WIDTH), 1, "step_cycle"),
             ("shift", (16, SHIFT_BITS), 1, "step_cycle"),
             ("add", (17,), 1, "step_cycle"),
             ("mux", (2, 17), 1, "step_cycle"),
             ("and", (17,), 1, "step_cycle"),
             ("mux", (2, A), 1, "step_cycle"),
             ("add", (A,), 1, "step_cycle"),
             ("reg_en", (A,), 1, "step_cycle")]
    if T == 1:
        return items
    counter = _bits_for(max(T, 2))
    return items + [("reg_en", (counter,), 1, "step_cycle"), ("add", (counter,), 1, "step_cycle"),
                    ("reg_en", (1,), 1, "step")]


def term_encoder_items(border):
    """:class:`hw.bitserial_terms.TermEncoder`: Booth formats per digit two 1-bit compares, the
    presence / magnitude-two gates and the 3-bit shift add; fp formats the magnitude table
    (2**(bits-1):1, 5 bits), the ``-0`` compare, for mixed formats the 4-entry special-value
    select, and two 5-bit leading-one searches (5:1 selects of 3 bits) with the mask between."""
    fmt, n = border.format, border.elements
    if fmt.kind == "booth":
        return [("eq", (1,), 2 * fmt.terms * n, "eval"), ("and", (2,), fmt.terms * n, "eval"),
                ("add", (3,), fmt.terms * n, "eval")]
    vb = fmt.value_bits
    items = [("mux", (1 << (vb - 1), 5), n, "eval"), ("eq", (vb,), n, "eval"),
             ("mux", (5, 3), 2 * n, "eval"), ("and", (5,), n, "eval"), ("eq", (5,), 2 * n, "eval")]
    if fmt.special_values:
        items.append(("mux", (4, 5), n, "eval"))
    return items


def bitserial_fp16_pe_items(pe):
    """:class:`hw.pe_bitserial_fp16.BitSerialFp16PE` (T terms, 4 lanes): per cycle of a step,
    per lane the term select (T:1, 5 bits), the FP16 decode (subnormal test and exponent mux,
    5 bits), the product exponent add and presence gate (6 bits), the alignment (6-bit subtract,
    14-bit shifter with 6 amount bits, presence gate) and the conditional negation (15 bits);
    the exponent-max tree (3 compares and selects of 6 bits), the adder tree (16, 16, 17 bits);
    the accumulator: the acc_in / acc_out select (23 bits), the exponent max and two differences
    (7 bits), the two saturating arithmetic shifters (16 and 17 bits, 5 amount bits), the 18-bit
    add, the two range checks, the normalising shift (2 amount bits), the exponent increment and
    the enabled 23-bit register; for T > 1 the term counter and ``active``."""
    from hw.bitserial_terms import TERM_WIDTH
    T = pe.terms
    lane = [("mux", (max(T, 2), TERM_WIDTH)), ("eq", (5,)), ("mux", (2, 5)), ("add", (6,)),
            ("mux", (2, 6)), ("add", (6,)), ("shift", (14, 6)), ("and", (14,)), ("add", (15,)),
            ("mux", (2, 15))]
    items = [(prim, widths, 4, "step_cycle") for prim, widths in lane]
    items += [("add", (6,), 3, "step_cycle"), ("mux", (2, 6), 3, "step_cycle"),
              ("add", (16,), 2, "step_cycle"), ("add", (17,), 1, "step_cycle"),
              ("mux", (2, 23), 1, "step_cycle"), ("add", (7,), 3, "step_cycle"),
              ("mux", (2, 7), 1, "step_cycle"), ("shift", (16, 5), 1, "step_cycle"),
              ("shift", (17, 5), 1, "step_cycle"), ("add", (18,), 3, "step_cycle"),
              ("shift", (18, 2), 1, "step_cycle"), ("add", (7,), 1, "step_cycle"),
              ("reg_en", (23,), 1, "step_cycle")]
    if T > 1:
        counter = _bits_for(max(T, 2))
        items += [("reg_en", (counter,), 1, "step_cycle"), ("add", (counter,), 1, "step_cycle"),
                  ("reg_en", (1,), 1, "step")]
    return items


PE_INVENTORIES = {"Int8PE": int8_pe_items, "LutPE": lut_pe_items, "OvpPE": ovp_pe_items,
                  "ShiftAddPE": shiftadd_pe_items, "BitSerialPE": bitserial_pe_items,
                  "BitSerialFp16PE": bitserial_fp16_pe_items}
BORDER_INVENTORIES = {"LutTablePrecompute": lut_table_items, "OvpPairDecoder": ovp_decoder_items,
                      "TermEncoder": term_encoder_items}


def pe_items(pe):
    """Inventory of one PE (tuples: prim, widths, count, event)."""
    name = type(pe).__name__
    if name not in PE_INVENTORIES:
        raise UnknownComponentError(
            f"no cost inventory for PE class {name!r}; add one to models.cost.PE_INVENTORIES "
            f"(`pearray synth --unit pe` shows its word-level cells)")
    return PE_INVENTORIES[name](pe)


def border_items(border):
    name = type(border).__name__
    if name not in BORDER_INVENTORIES:
        raise UnknownComponentError(
            f"no cost inventory for border unit {name!r}; add one to models.cost.BORDER_INVENTORIES")
    return BORDER_INVENTORIES[name](border)


# --------------------------------------------------------------------------------------------
# array inventories (one function per dataflow, following hw/array.py)


def _operand_widths(pe):
    """Widths of the row / column operand lanes as the array routes them: the border unit's
    ``operand`` if the PE has one, else the code lane (``SystolicArray._border_operands``)."""
    from models.synth import border_unit
    act_border, weight_border = border_unit(pe, "act_border"), border_unit(pe, "weight_border")
    a = len(act_border.operand) if act_border is not None else pe.act_code_width
    w = len(weight_border.operand) if weight_border is not None else pe.weight_code_width
    return a, w, act_border, weight_border


def _common_items(pe, R, C):
    """PEs and border units, the same in both dataflows (``SystolicArray._make_pes`` and
    ``_border_operands``: one act border per row, one weight border per column)."""
    items = [Item("pes", prim, widths, R * C * n, "step" if ev == "step" else "step_cycle", n)
             for prim, widths, n, ev in pe_items(pe)]
    _, _, act_border, weight_border = _operand_widths(pe)
    if act_border is not None:
        items += [Item("act_borders", prim, widths, R * n, "row_token", n)
                  for prim, widths, n, _ in border_items(act_border)]
    if weight_border is not None:
        items += [Item("weight_borders", prim, widths, C * n, "col_weight", n)
                  for prim, widths, n, _ in border_items(weight_border)]
    return items


def array_items_ws(pe, R, C):
    """Weight-stationary slot and edge contents, counted from ``SystolicArray._elaborate_ws``:

    * weight write bus: control (we, row, bank) delayed one flop per column after the first
      (``wbus_c{c}``), lane c delayed c flops (``wlane_c{c}``): C(C-1)/2 lane stages;
    * row r's input skew: r * L token stages (``skew_r{r}``, data with load enable + valid), then
      a pass register between columns (``pass_{r}_{c}``, c < C-1);
    * per slot: two weight banks (``w{b}_{r}_{c}``, enabled), the row-address compare and the
      bank-select mux in front of the PE;
    * the bottom row's valid delay (L flops, ``outv_c{C-1}``; the other columns' copies are unused
      and removed by synthesis) and the output deskew (``deskew_c{c}``: C-1-c stages of acc_width).
    """
    L, A = pe.latency, pe.acc_width
    a_op, w_op, _, _ = _operand_widths(pe)
    rw = _bits_for(max(R, 2))
    tri_c, tri_r = C * (C - 1) // 2, R * (R - 1) // 2
    return _common_items(pe, R, C) + [
        Item("edge_regs", "reg", (rw + 2,), C - 1, "weight_word", C - 1),
        Item("edge_regs", "reg", (w_op,), tri_c, "weight_word", tri_c),
        Item("edge_regs", "reg_en", (a_op + 1,), L * tri_r, "token", L * tri_r),
        Item("edge_regs", "reg", (1,), L * tri_r, "token", L * tri_r),
        Item("slot_regs", "reg_en", (a_op + 1,), R * (C - 1), "token", R * (C - 1)),
        Item("slot_regs", "reg", (1,), R * (C - 1), "token", R * (C - 1)),
        Item("slot_regs", "reg_en", (pe.weight_width,), 2 * R * C, "weight_word", C),
        Item("slot_regs", "eq", (rw,), R * C, "weight_word", R * C),
        Item("slot_regs", "mux", (2, pe.weight_width), R * C, "step", 1),
        Item("edge_regs", "reg", (1,), L, "token", L),
        Item("edge_regs", "reg", (A,), tri_c, "out_word", tri_c),
    ]


def array_items_os(pe, R, C):
    """Output-stationary slot and edge contents, counted from ``SystolicArray._elaborate_os``:

    * column c's weight skew: c token stages (``wskew_c{c}``, data with load enable + valid), then
      a pass register down each row boundary (``wpass_{r}_{c}``, r < R-1);
    * row r's activation skew: r stages of (operand, first, last) + valid (``skew_r{r}``), then a
      pass register between columns (``pass_{r}_{c}``, c < C-1);
    * per slot: the ``first`` gate on ``acc_in`` (acc_width ANDs), the capture delay (L flops,
      ``cap_{r}_{c}``), the output register (``out_{r}_{c}``, enabled) with its capture/shift mux
      (rows below the first);
    * the drain counter (``drain_left``, range(R+1), decremented R times a fold), the shift
      enables of columns 1.. (``shift_c{c}``) and the output deskew (``deskew_c{c}``).
    """
    L, A = pe.latency, pe.acc_width
    a_op, w_op, _, _ = _operand_widths(pe)
    tri_c, tri_r = C * (C - 1) // 2, R * (R - 1) // 2
    drain = _bits_for(R + 1)
    out_writes = R * C + R * (R - 1) * C   # per fold: one capture each, R shift cycles below row 0
    return _common_items(pe, R, C) + [
        Item("edge_regs", "reg_en", (w_op,), tri_c, "token", tri_c),
        Item("edge_regs", "reg", (1,), tri_c, "token", tri_c),
        Item("slot_regs", "reg_en", (w_op,), (R - 1) * C, "token", (R - 1) * C),
        Item("slot_regs", "reg", (1,), (R - 1) * C, "token", (R - 1) * C),
        Item("edge_regs", "reg_en", (a_op + 2,), tri_r, "token", tri_r),
        Item("edge_regs", "reg", (1,), tri_r, "token", tri_r),
        Item("slot_regs", "reg_en", (a_op + 2,), R * (C - 1), "token", R * (C - 1)),
        Item("slot_regs", "reg", (1,), R * (C - 1), "token", R * (C - 1)),
        Item("slot_regs", "and", (A,), R * C, "step", 1),
        Item("slot_regs", "reg", (1,), R * C * L, "fold", 2 * R * C * L),
        Item("slot_regs", "reg_en", (A,), R * C, "fold", out_writes),
        Item("slot_regs", "mux", (2, A), (R - 1) * C, "fold", R * (R - 1) * C),
        Item("edge_regs", "reg_en", (drain,), 1, "fold", R),
        Item("edge_regs", "add", (drain,), 1, "fold", R),
        Item("edge_regs", "reg", (1,), C - 1, "fold", 2 * (C - 1)),
        Item("edge_regs", "reg", (A,), tri_c, "out_word", tri_c),
    ]


ARRAY_INVENTORIES = {"ws": array_items_ws, "os": array_items_os}


def accelerator_items(acc):
    """Outside the array (:mod:`hw.accelerator`): the weight-stationary output writer
    (``_writer_ws``) adds each array output word into the output buffer: C acc_width adders, the
    stage-1 data register and the overwrite/accumulate mux. The output-stationary writer only
    addresses. Buffers are counted separately (SRAM)."""
    if acc.dataflow != "ws":
        return []
    C, A = acc.cols, acc.pe.acc_width
    items = [Item("out_accumulate", "add", (A,), C, "out_word", C),
             Item("out_accumulate", "reg", (C * A,), 1, "out_word", 1),
             Item("out_accumulate", "mux", (2, C * A), 1, "out_word", 1)]
    if acc.group_size is not None:
        items += group_dequant_items(acc)
    return items


def group_dequant_items(acc):
    """Group dequantisation (``Accelerator(group_size=...)``, :mod:`hw.group_dequant`), in group
    ``out_accumulate``: the row-sum lane through the array (``SystolicArray(row_sum=True)``: one
    acc_width adder and register per row, C-1 deskew stages), the group accumulator's and the
    running total's read-modify-write adders (C+1 and C lanes), and per column the
    ``GroupDequant`` pipelines: z * asum (8 x acc_width multiply) and its subtract, the dyadic
    multiply (acc_width x acc_width) with its 66-bit rounding add and arithmetic shift, the same
    again for the INT8 requantisation, and about 15 pipeline registers of acc_width bits.
    Evaluated per output word (each word passes the unit once per group)."""
    R, C, A = acc.rows, acc.cols, acc.pe.acc_width
    unit = acc.post_array_unit
    if not unit.uses_asum:
        return scale_dequant_items(acc, unit)
    return [
        Item("out_accumulate", "add", (A,), R, "token", R),
        Item("out_accumulate", "reg", (A,), R + C - 1, "token", R + C - 1),
        Item("out_accumulate", "add", (A,), 2 * C + 1, "out_word", 2 * C + 1),
        Item("out_accumulate", "mult", (8, A), C, "out_word", C),
        Item("out_accumulate", "add", (A,), C, "out_word", C),
        Item("out_accumulate", "mult", (A, A), 2 * C, "out_word", 2 * C),
        Item("out_accumulate", "add", (66,), 2 * C, "out_word", 2 * C),
        Item("out_accumulate", "shift", (66, 7), 2 * C, "out_word", 2 * C),
        Item("out_accumulate", "reg", (A,), 15 * C, "out_word", 15 * C),
    ]


def scale_dequant_items(acc, unit):
    """BitMoD's group scaling (:class:`hw.scale_dequant.BitSerialScaleDequant`), in group
    ``out_accumulate``: the group accumulator's and running total's read-modify-write adders (C
    lanes each; no row-sum lane), and per column ``digit_bits`` gated adds (acc_width) with the
    Horner add, the partial / raw / code registers, the shared digit counter; every cycle of a
    word (``cycles`` per word) uses the digit adders."""
    C, A, d, P = acc.cols, acc.pe.acc_width, unit.digit_bits, unit.cycles
    return [
        Item("out_accumulate", "add", (A,), 2 * C, "out_word", 2 * C),
        Item("out_accumulate", "and", (A,), d * C, "out_word", d * C * P),
        Item("out_accumulate", "add", (A,), d * C, "out_word", d * C * P),
        Item("out_accumulate", "reg_en", (A,), 2 * C, "out_word", 2 * C * P),
        Item("out_accumulate", "reg_en", (P * d,), C, "out_word", C * P),
        Item("out_accumulate", "reg_en", (_bits_for(P + 1) + 1,), 1, "out_word", P),
    ]


# --------------------------------------------------------------------------------------------
# SRAM


def sram_energy_64b(nbytes):
    """45 nm pJ per 64-bit access of an SRAM of ``nbytes`` (Horowitz points, log-log)."""
    points = [(8 * 1024, tv("horowitz.sram_8kb.read_64b")), (32 * 1024, tv("horowitz.sram_32kb.read_64b")),
              (1024 * 1024, tv("horowitz.sram_1mb.read_64b"))]
    if nbytes <= points[0][0]:
        return points[0][1]
    for (s0, e0), (s1, e1) in zip(points, points[1:]):
        if nbytes <= s1:
            break
    slope = math.log(e1 / e0) / math.log(s1 / s0)
    return e0 * (nbytes / s0) ** slope


# --------------------------------------------------------------------------------------------
# configuration and results


@dataclass(frozen=True)
class CostConfig:
    """A design point. ``pe_options``: (name, value) pairs passed to the PE class, e.g.
    ``(("weight_bits", 2),)``. Buffer sizes in KiB; ``dram_gbps`` None = the DRAM type's peak
    bandwidth from :mod:`models.tech`; ``activity``: probability that a data bit toggles when
    a register loads (0.5 = random data)."""
    pe: str
    rows: int
    cols: int
    dataflow: str = "ws"
    clock_mhz: float = 500.0
    node: int = 45
    act_kib: float = 64.0
    weight_kib: float = 64.0
    out_kib: float = 64.0
    dram: str = "lpddr4"
    dram_gbps: float | None = None
    pe_options: tuple = ()
    activity: float = 0.5

    def __post_init__(self):
        from hw.array import DATAFLOWS
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, not {self.dataflow!r}")
        tech.check_node(self.node)
        tech.check_dram(self.dram)
        for name in ("clock_mhz", "act_kib", "weight_kib", "out_kib"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, not {getattr(self, name)!r}")
        if self.dram_gbps is not None and not self.dram_gbps > 0:
            raise ValueError(f"dram_gbps must be > 0, not {self.dram_gbps!r}")
        if not 0 <= self.activity <= 1:
            raise ValueError(f"activity must be in 0..1, not {self.activity!r}")
        object.__setattr__(self, "pe_options", tuple(sorted(dict(self.pe_options).items())))

    @property
    def bandwidth_gbps(self):
        return self.dram_gbps if self.dram_gbps is not None else tv(f"dram.{self.dram}.bandwidth")

    def design(self):
        """The :class:`models.design.DesignConfig` whose hardware this point describes (buffer depths
        = the buffer sizes divided by the accelerator's word widths)."""
        return _design_config(self.pe, self.rows, self.cols, self.dataflow, self.pe_options,
                              self.act_kib, self.weight_kib, self.out_kib)


@functools.lru_cache(maxsize=256)
def _design_config(pe, rows, cols, dataflow, pe_options, act_kib, weight_kib, out_kib):
    from models.design import DesignConfig
    probe = DesignConfig(pe, rows, cols, dataflow, 1, 1, 1, pe_options)
    widths = probe.facts.word_widths
    depths = {b: max(1, int(kib * 8192) // widths[b])
              for b, kib in (("act", act_kib), ("weight", weight_kib), ("out", out_kib))}
    return DesignConfig(pe, rows, cols, dataflow, depths["act"], depths["weight"], depths["out"], pe_options)


@dataclass(frozen=True)
class LayerCost:
    name: str
    m: int
    k: int
    n: int
    count: int
    cycles: int
    folds: int
    macs: int
    utilisation: float
    macs_per_cycle: float
    energy_pj: dict            # per instance, by ENERGY_GROUPS
    energy_total_pj: float
    sram_words: dict           # per instance: {"act_read": ..., "act_write": ..., ...}
    sram_bytes: dict
    dram_bytes: dict           # per instance: act / weight / out
    compute_s: float
    dram_s: float
    memory_bound: bool
    tops: float                # compute-bound (RTL cycles at the clock)
    tops_per_w: float


@dataclass(frozen=True)
class CostResult:
    config: CostConfig
    area_um2: dict             # by AREA_GROUPS, at the node
    area_total_um2: float
    energy_per_action_pj: dict
    layers: tuple
    cycles: int                # sum over layers x count
    macs: int
    energy_pj: dict            # sum over layers x count, by ENERGY_GROUPS
    energy_total_pj: float
    utilisation: float
    macs_per_cycle: float
    tops: float
    tops_per_w: float
    tops_per_mm2: float
    latency_s: float           # roofline: sum of max(compute, DRAM) per layer
    tops_roofline: float
    memory_bound_layers: tuple

    @property
    def area_total_mm2(self):
        return self.area_total_um2 * 1e-6

    def to_dict(self, layers=True):
        out = {k: v for k, v in self.__dict__.items() if k not in ("config", "layers")}
        out["config"] = dict(self.config.__dict__, pe_options=dict(self.config.pe_options))
        out["memory_bound_layers"] = list(self.memory_bound_layers)
        if layers:
            out["layers"] = [dict(layer.__dict__) for layer in self.layers]
        return out

    def layers_frame(self):
        import pandas as pd
        rows = []
        for layer in self.layers:
            row = {k: v for k, v in layer.__dict__.items() if not isinstance(v, dict)}
            row.update({f"e_{k}": v for k, v in layer.energy_pj.items()})
            row.update({f"dram_{k}": v for k, v in layer.dram_bytes.items()})
            rows.append(row)
        return pd.DataFrame(rows)


class _Model(NamedTuple):
    """Everything about a design point that does not depend on the GEMM (cached)."""
    timing: object
    k_per_step: int
    ii: int
    area: dict
    area_total: float
    coef: dict            # event -> tuple of (group, pJ per event) at the node
    clock_pj_per_cycle: float
    sram_pj: dict         # buffer -> pJ per word access at the node
    word_bits: dict
    depths: dict
    act_elem_bits: int
    weight_elem_bits: int
    acc_width: int
    dram_pj_per_bit: float
    bandwidth_bps: float
    per_action: dict
    macs_per_step: int


def design_items(config):
    """The full inventory (:class:`Item` list) of a design point, at 45 nm, unscaled."""
    acc = config.design().facts
    items = list(ARRAY_INVENTORIES[acc.dataflow](acc.pe, acc.rows, acc.cols))
    return items + accelerator_items(acc)


@functools.lru_cache(maxsize=512)
def _model(config):
    design = config.design()
    acc = design.facts
    pe = acc.pe
    items = design_items(config)
    a_scale, e_scale = tech.area_scale(config.node), tech.energy_scale(config.node)

    area = dict.fromkeys(AREA_GROUPS, 0.0)
    coef = {}
    flop_bits = 0
    for item in items:
        prim = primitive(item.prim, *item.widths, activity=config.activity)
        area[item.group] += item.count * prim.area_um2 * a_scale
        flop_bits += item.count * prim.flop_bits
        key = (item.event, item.group)
        coef[key] = coef.get(key, 0.0) + item.per_event * prim.energy_pj * e_scale
    word_bits = acc.word_widths
    depths = {"act": acc.act_depth, "weight": acc.weight_depth, "out": acc.out_depth}
    # A grouped design's extra buffers (dequantisation parameters, group accumulator, running
    # total: hw.accelerator) are counted as output-side SRAM bit cells.
    extra_bits = acc.param_depth * word_bits.get("param", 0)
    if acc.group_size is not None:
        lanes = acc.cols + (acc.cols + 1 if acc.group_folds > 1 else 0)   # total (+ gacc)
        extra_bits += acc.group_buffer_depth * lanes * acc.pe.acc_width
    sram_pj = {}
    for b in BUFFERS:
        bits = depths[b] * word_bits[b]
        area[f"buffer_{b}"] = (bits + (extra_bits if b == "out" else 0)) * tv("sram.bitcell.area") * a_scale
        kib = getattr(config, f"{b}_kib")
        sram_pj[b] = math.ceil(word_bits[b] / 64) * sram_energy_64b(kib * 1024) * e_scale
    by_event = {}
    for (event, group), pj in coef.items():
        by_event.setdefault(event, []).append((group, pj))
    clock = flop_bits * clock_energy_per_bit() * e_scale
    pe_step = sum(pj for (event, group), pj in coef.items() if group == "pes" and event == "step")
    pe_step += pe.initiation_interval * sum(pj for (event, group), pj in coef.items()
                                            if group == "pes" and event == "step_cycle")
    dram_bit = tv(f"dram.{config.dram}.energy")
    per_action = {
        "pe_step": pe_step,
        "mac": pe_step / pe.macs_per_step,
        "flop_clock_bit": clock_energy_per_bit() * e_scale,
        "array_clock_cycle": clock,
        **{f"sram_{b}_word": sram_pj[b] for b in BUFFERS},
        "dram_bit": dram_bit,
    }
    for event, group in (("row_token", "act_borders"), ("col_weight", "weight_borders")):
        total = sum(pj for g, pj in by_event.get(event, ()) if g == group)
        if total:
            per_action[f"{group[:-1]}_eval"] = total   # per_event counts one unit's contents
    return _Model(
        timing=design.timing(), k_per_step=pe.k_per_step, ii=pe.initiation_interval,
        area=area, area_total=sum(area.values()),
        coef={e: tuple(v) for e, v in by_event.items()}, clock_pj_per_cycle=clock,
        sram_pj=sram_pj, word_bits=dict(word_bits), depths=depths,
        act_elem_bits=pe.act_element_bits, weight_elem_bits=pe.weight_element_bits,
        acc_width=pe.acc_width, dram_pj_per_bit=dram_bit,
        bandwidth_bps=config.bandwidth_gbps * 1e9, per_action=per_action,
        macs_per_step=pe.macs_per_step)


# --------------------------------------------------------------------------------------------
# evaluation


def _as_gemms(workload):
    from models.workloads import Gemm, get_workload
    if isinstance(workload, str):
        return get_workload(workload)
    if isinstance(workload, Gemm):
        return (workload,)
    if isinstance(workload, tuple) and len(workload) == 3 and all(isinstance(v, int) for v in workload):
        m, k, n = workload
        return (Gemm(f"{m}x{k}x{n}", m, k, n),)
    gemms = tuple(workload)
    if not gemms or not all(isinstance(g, Gemm) for g in gemms):
        raise ValueError("workload must be a Gemm, an (m, k, n) tuple, a list of Gemm or a workload name")
    return gemms


def _traffic(model, layout):
    """SRAM word accesses and DRAM bytes of one GEMM (see the module docstring)."""
    R = layout.rows
    m, k, n = layout.m, layout.k, layout.n
    S, F = layout.stream_len, layout.folds
    tokens = F * S
    wb = model.word_bits
    depth = model.depths
    a_bytes = m * k * model.act_elem_bits / 8
    w_bytes = k * n * model.weight_elem_bits / 8
    o_bytes = m * n * model.acc_width / 8
    out_spill_read = 0.0
    if layout.dataflow == "ws":
        act_reads, weight_reads, out_rmw = tokens, F * R, tokens
        out_writes = tokens
        act_fetches = 1 if layout.act_depth <= depth["act"] else layout.n_tiles
        weight_fetches = 1
        if m <= depth["out"]:
            out_dram = o_bytes
        else:   # partial sums spill: every k tile writes, all but the first read back
            out_dram = o_bytes * layout.k_tiles
            out_spill_read = o_bytes * (layout.k_tiles - 1)
        out_reads = out_rmw
    else:
        act_reads, weight_reads, out_writes, out_reads = tokens, tokens, F * R, 0
        act_fetches = 1 if layout.k_steps <= depth["act"] else layout.n_tiles
        weight_fetches = 1 if layout.weight_depth <= depth["weight"] else layout.m_tiles
        out_dram = o_bytes
    dram = {"act": a_bytes * act_fetches, "weight": w_bytes * weight_fetches,
            "out": out_dram + out_spill_read}
    # DRAM fills are buffer writes, the output drain and spill reads are buffer reads
    words = {
        "act_read": act_reads, "act_write": dram["act"] * 8 / wb["act"],
        "weight_read": weight_reads, "weight_write": dram["weight"] * 8 / wb["weight"],
        "out_read": out_reads + out_dram * 8 / wb["out"],
        "out_write": out_writes + out_spill_read * 8 / wb["out"],
    }
    return tokens, words, dram


def evaluate_gemm(config, gemm, model=None):
    """:class:`LayerCost` of one :class:`~models.workloads.Gemm` instance on ``config``."""
    from hw.layout import GemmLayout
    from models.cycles import gemm_cycles
    model = model or _model(config)
    t = model.timing
    est = gemm_cycles(t, gemm.m, gemm.k, gemm.n)
    layout = GemmLayout(t.rows, t.cols, t.dataflow, t.k_per_step, gemm.m, gemm.k, gemm.n)
    tokens, words, dram = _traffic(model, layout)
    R, C = t.rows, t.cols
    steps = tokens * R * C
    weight_words = words["weight_read"]
    out_words = tokens if t.dataflow == "ws" else layout.folds * R
    events = {"step": steps, "step_cycle": steps * model.ii, "token": tokens, "row_token": tokens * R,
              "weight_word": weight_words, "col_weight": weight_words * C, "out_word": out_words,
              "fold": layout.folds}
    energy = dict.fromkeys(ENERGY_GROUPS, 0.0)
    for event, terms in model.coef.items():
        count = events[event]
        for group, pj in terms:
            energy[group] += pj * count
    energy["clock"] = model.clock_pj_per_cycle * est.cycles
    for b in BUFFERS:
        energy[f"sram_{b}"] = (words[f"{b}_read"] + words[f"{b}_write"]) * model.sram_pj[b]
        energy[f"dram_{b}"] = dram[b] * 8 * model.dram_pj_per_bit
    total = sum(energy.values())
    clock_hz = config.clock_mhz * 1e6
    compute_s = est.cycles / clock_hz
    dram_s = sum(dram.values()) / model.bandwidth_bps
    ops = 2 * est.macs
    return LayerCost(
        name=gemm.name, m=gemm.m, k=gemm.k, n=gemm.n, count=gemm.count, cycles=est.cycles,
        folds=est.folds, macs=est.macs, utilisation=est.utilisation, macs_per_cycle=est.macs_per_cycle,
        energy_pj=energy, energy_total_pj=total,
        sram_words=words, sram_bytes={key: v * model.word_bits[key.split("_")[0]] / 8 for key, v in words.items()},
        dram_bytes=dram, compute_s=compute_s, dram_s=dram_s, memory_bound=dram_s > compute_s,
        tops=ops / compute_s / 1e12, tops_per_w=ops / total)


def evaluate(config, workload):
    """:class:`CostResult` of ``workload`` (Gemm, (m, k, n), list of Gemm, or a workload name) on
    the design point ``config``; layer totals are weighted by each Gemm's ``count``."""
    model = _model(config)
    layers = tuple(evaluate_gemm(config, g, model) for g in _as_gemms(workload))
    cycles = sum(layer.cycles * layer.count for layer in layers)
    macs = sum(layer.macs * layer.count for layer in layers)
    energy = dict.fromkeys(ENERGY_GROUPS, 0.0)
    for layer in layers:
        for key, v in layer.energy_pj.items():
            energy[key] += v * layer.count
    total = sum(energy.values())
    t = model.timing
    peak = t.rows * t.cols * t.macs_per_step / t.initiation_interval
    seconds = cycles / (config.clock_mhz * 1e6)
    latency = sum(max(layer.compute_s, layer.dram_s) * layer.count for layer in layers)
    tops = 2 * macs / seconds / 1e12
    return CostResult(
        config=config, area_um2=dict(model.area), area_total_um2=model.area_total,
        energy_per_action_pj=dict(model.per_action), layers=layers, cycles=cycles, macs=macs,
        energy_pj=energy, energy_total_pj=total, utilisation=macs / (peak * cycles),
        macs_per_cycle=macs / cycles, tops=tops, tops_per_w=2 * macs / total,
        tops_per_mm2=tops / (model.area_total * 1e-6), latency_s=latency,
        tops_roofline=2 * macs / latency / 1e12,
        memory_bound_layers=tuple(layer.name for layer in layers if layer.memory_bound))


# --------------------------------------------------------------------------------------------
# model vs synthesis


def unit_area_um2(pe, unit="pe", pe_options=(), rows=None, cols=None, dataflow="ws", node=45):
    """Model area of what :func:`models.synth.synthesize` builds: one PE, one border unit, or a
    ``rows`` x ``cols`` array (PEs, slot and edge registers, border units; no buffers)."""
    from models.registry import get_kind
    scale = tech.area_scale(node)
    proto = get_kind(pe).prototype(**dict(pe_options))
    if rows is not None:
        config = CostConfig(pe, rows, cols, dataflow, node=node, pe_options=tuple(pe_options))
        area = _model(config).area
        return sum(area[g] for g in ARRAY_GROUPS)
    if unit == "pe":
        listed = pe_items(proto)
    else:
        from models.synth import border_unit
        border = border_unit(proto, unit) if unit in ("act_border", "weight_border") else None
        if border is None:
            raise ValueError(f"PE kind {pe!r} has no {unit.replace('_', ' ')} unit")
        listed = border_items(border)
    return scale * sum(n * primitive(prim, *widths).area_um2 for prim, widths, n, _ in listed)


def synthesis_comparison(kinds=None, arrays=((2, 2, "ws"),), node=45, tool=None):
    """pandas DataFrame: model area vs Yosys/osu018 area for every registered kind and option
    setting (each unit it has) and the ``arrays`` (rows, cols, dataflow) at the default options.

    The synthesised area is brought to ``node`` with the cited factors (Stillmaker 180 -> 45 nm,
    then 45 -> node): ``synth_scaled_um2``; ``raw_error`` = model / scaled - 1. One calibration
    factor for the osu018 technology, fitted on the INT8 baseline PE (``int8``, unit ``pe``), maps
    scaled synthesis to the model's scale (``calibrated_um2``); ``error`` = model / calibrated - 1
    is then 0 for the INT8 PE by construction and as it comes out for everything else. The
    factor is in ``df.attrs["calibration_factor"]``. A kind without a cost inventory gets its
    synthesis numbers, a NaN model area and the error message in ``note``."""
    import pandas as pd
    from models import synth
    from models.registry import PE_KINDS, get_kind
    kinds = list(kinds or PE_KINDS)
    to_node = tech.value("scale.area.180_to_45") * tech.area_scale(node)
    rows = []

    def add(pe, setting, unit, result, model):
        try:
            model_um2, note = model(), ""
        except UnknownComponentError as e:      # a kind without an inventory: synthesis only
            model_um2, note = float("nan"), str(e)
        rows.append({"pe": pe, "options": ",".join(f"{k}={v}" for k, v in setting) or "-",
                     "unit": unit, "model_um2": model_um2, "synth_osu018_um2": result.area_um2,
                     "synth_scaled_um2": result.area_um2 * to_node, "mul": result.multipliers,
                     "flop_bits": result.flop_bits, "note": note})

    for name in kinds:
        kind = get_kind(name)
        for setting in synth.option_settings(kind):
            proto = kind.prototype(**dict(setting))
            for unit in synth.UNITS:
                if unit != "pe" and synth.border_unit(proto, unit) is None:
                    continue
                r = synth.synthesize(name, unit=unit, pe_options=setting, tool=tool)
                add(name, setting, unit, r,
                    lambda: unit_area_um2(name, unit, setting, node=node))
        for R, C, dataflow in arrays:
            if dataflow not in kind.dataflows:
                dataflow = kind.dataflows[0]
            r = synth.synthesize(name, rows=R, cols=C, dataflow=dataflow, tool=tool)
            add(name, (), f"array {R}x{C} {dataflow}", r,
                lambda: unit_area_um2(name, rows=R, cols=C, dataflow=dataflow, node=node))
    df = pd.DataFrame(rows)
    base = df[(df.pe == "int8") & (df.unit == "pe")]
    if base.empty:
        raise ValueError("the calibration needs the int8 PE in kinds")
    factor = float(base.model_um2.iloc[0] / base.synth_scaled_um2.iloc[0])
    df["raw_error"] = df.model_um2 / df.synth_scaled_um2 - 1
    df["calibrated_um2"] = df.synth_scaled_um2 * factor
    df["error"] = df.model_um2 / df.calibrated_um2 - 1
    df.attrs["calibration_factor"] = factor
    df.attrs["node"] = node
    return df
