"""Every PE kind's inventory names what drives each combinational part (models.inventory.driven),
by one rule read from the hardware file: one test per kind pins its chain against the RTL's
structure (which signal feeds which), and one checks the rule holds for every registered variant.
Widths come from the PEs' properties and hardware constants, never retyped."""

import re

import pytest

from hw.accelerator import IncompatibleOptions
from hw.fp32_add import ADD_FRAME, FP32_WIDTH
from hw.lut_precompute import ENTRY_WIDTH
from hw.ovp_decoder import get_mode
from hw.pe_fp16 import SIG_BITS
from hw.pe_gobo import CENTROIDS
from hw.pe_mx import SCALE_BITS
from models import part_activity, synth
from models.ant_gemm import ant_pe_items
from models.bitfusion_gemm import bitfusion_pe_items
from models.design import DesignConfig
from models.fp8_gemm import fp8_pe_items
from models.inventory import (bitserial_pe_items, design_items, driven, exponent_decode_items,
                              exponent_decode_sources, int8_pe_items, ovp_pe_items, shiftadd_pe_items,
                              unit_items)
from models.lmul_gemm import lmul_pe_items
from models.mx_gemm import conversion_paths
from models.registry import PE_KINDS, get_kind
from models.wfp16_gemm import wfp16_pe_items
from tools import require_synthesis

#: kinds whose inventories do not name their chains yet
PENDING = ()
REGISTERS = ("reg", "reg_en")


def _label(d):
    """A driver as the test names it: a port name, or a part's (primitive, widths)."""
    return d if isinstance(d, str) else (d[0], d[1][:2] if d[0] == "table" else d[1])


def _fed(part):
    """(the unnamed drivers' labels as a set, {primitive input: its driver's label})."""
    named = dict(getattr(part, "inputs", ()))
    drivers = getattr(part, "drivers", ())
    return ({_label(d) for d in drivers[:len(drivers) - len(named)]},
            {p: _label(d) for p, d in named.items()})


def _one(parts, prim, widths):
    found = [p for p in parts if p[0] == prim and p[1] == widths]
    assert len(found) == 1, (prim, widths, found)
    return found[0]


def _at(parts, part):
    """Where ``part`` itself (not an equal tuple) is in ``parts``."""
    return next(i for i, p in enumerate(parts) if p is part)


def _variants():
    return [(name, opts) for name in PE_KINDS if name not in PENDING
            for _, opts in PE_KINDS[name].variants]


@pytest.mark.parametrize("name,options", _variants())
def test_every_combinational_part_names_its_drivers(name, options):
    """The rule is uniform: every combinational part of every variant's PE names its drivers,
    each a PE port or a part of the same inventory (the object itself), and registers name none."""
    parts = unit_items(get_kind(name).prototype(**dict(options)))
    ids = {id(p) for p in parts}
    for p in parts:
        drivers = getattr(p, "drivers", ())
        if p[0] in REGISTERS:
            assert drivers == (), p
            continue
        assert drivers, (name, p)
        assert all(isinstance(d, str) or id(d) in ids for d in drivers), (name, p)


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_every_array_pe_part_names_its_drivers(dataflow):
    """In a 2 x 2 array too (row 0's acc_in the constant 0, narrowed accumulators), every
    combinational PE part of every variant names its drivers."""
    checked = 0
    for name, options in _variants():
        try:
            acc = DesignConfig(name, 2, 2, dataflow, 1, 1, 1, pe_options=tuple(options)).facts
        except IncompatibleOptions:      # e.g. group dequantisation is weight-stationary only
            continue
        checked += 1
        for i in design_items(acc):
            if i.group == "pes" and i.prim not in REGISTERS:
                assert i.drivers, (name, options, dataflow, i)
    assert checked >= len(_variants()) // 2


def test_int8_chain():
    """acc_out <= acc_in + act * weight: the MAC sees the three ports; row 0's multiply two."""
    pe = get_kind("int8").prototype()
    assert _fed(int8_pe_items(pe)[0]) == ({"act", "weight", "acc_in"}, {})
    assert _fed(int8_pe_items(pe, 0)[0]) == ({"act", "weight"}, {})


def test_ovp_chain():
    """product = b * d, shift = a + c, term = product << shift; step = term0 + term1;
    acc_in + step."""
    pe = get_kind("ovp").prototype()
    I, term, shift = get_mode(pe.mode).int_width, pe.term_width, pe.shift_width
    parts = ovp_pe_items(pe)
    assert _fed(_one(parts, "smult", (I, I))) == ({"act", "weight"}, {})
    assert _fed(_one(parts, "add", (shift,))) == ({"act", "weight"}, {})
    assert _fed(_one(parts, "shiftn", (2 * I, shift, term))) == ({("smult", (I, I))}, {"sh": ("add", (shift,))})
    assert _fed(_one(parts, "add", (term + 1,))) == ({("shiftn", (2 * I, shift, term))}, {})
    out = parts[-1][1]
    assert _fed(_one(parts, "add", out)) == ({("add", (term + 1,)), "acc_in"}, {})


@pytest.mark.parametrize("weight_bits", [2, 4])
def test_shiftadd_chain(weight_bits):
    """term_i = weight[i] ? act << i : 0; their sum; acc_in + it."""
    pe = get_kind("shiftadd").prototype(weight_bits=weight_bits)
    W = pe.act_width
    parts = shiftadd_pe_items(pe)
    assert _fed(_one(parts, "and", (W,))) == ({"act", "weight"}, {})
    last = ("and", (W,))
    if weight_bits > 1:
        assert _fed(_one(parts, "add", (W + 1,))) == ({("and", (W,))}, {})
        last = ("add", (W + 1,))
    assert _fed(_one(parts, "add", parts[-1][1])) == ({last, "acc_in"}, {})


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_fp8_chain(fmt):
    """man_p = man_a * man_w; shift = e_a + e_w - 2 (from the decodes: their tables and the
    exponent fields' bits that ``max(e, 1)`` passes through as wires); man_p << shift; acc_in
    +- it by the signs (row 0: the negation alone)."""
    pe = get_kind("fp8").prototype(format=fmt)
    parts = fp8_pe_items(pe)
    tables = {_label(p) for p in parts if p[0] == "table"}
    assert tables and all(_fed(p) == ({"act", "weight"}, {}) for p in parts if p[0] == "table")
    mult = next(p for p in parts if p[0] == "mult")
    assert _fed(mult) == ({"act", "weight"}, {})
    add = next(p for p in parts if p[0] == "add")
    assert _fed(add) == (tables | {"act", "weight"}, {})
    shift = next(p for p in parts if p[0] == "shiftn")
    assert _fed(shift) == ({_label(mult)}, {"sh": _label(add)})
    assert _fed(next(p for p in parts if p[0] == "cnegadd")) == ({"act", "weight"}, {"x": _label(shift), "c": "acc_in"})
    assert _fed(next(p for p in fp8_pe_items(pe, 0) if p[0] == "cneg")) == ({"act", "weight"}, {"x": _label(shift)})


def test_lmul_chain():
    """fields = act[:7] + weight[:7] + 1; the zero tests; Mux(normal, sig << fields[M:], 0)
    (the gate at the shifter's input, as ABC builds it); acc_in +- it."""
    pe = get_kind("lmul").prototype()
    parts = lmul_pe_items(pe)
    fields, zero, shift, gate = parts[:4]
    assert (fields[0], zero[0], shift[0], gate[0]) == ("add", "eqc", "shiftn", "and")
    assert _fed(fields) == ({"act", "weight"}, {}) and _fed(zero) == ({"act", "weight"}, {})
    assert _fed(gate) == ({_label(fields), _label(zero)}, {})
    assert _fed(shift) == ({_label(gate)}, {"sh": _label(fields)})
    assert _fed(parts[4]) == ({"act", "weight"}, {"x": _label(shift), "c": "acc_in"})


def test_ant_chain():
    """Per pair product = b * d, shift = a + c, term = product << shift; the terms' sum;
    acc_in + it."""
    pe = get_kind("ant").prototype()
    parts = ant_pe_items(pe)
    shifts = [p for p in parts if p[0] == "shiftn"]
    assert len(shifts) == 4
    for s in shifts:
        data, named = _fed(s)
        assert {d[0] for d in data} == {"smult"} and named["sh"][0] == "add"
        assert any(d is parts[_at(parts, s) - 2] for d in s.drivers)     # its own pair's product
    adds = [p for p in parts if p[0] == "add" and p[1] == (pe.acc_width,)]
    assert [d for d in adds[0].drivers] == shifts and adds[1].drivers == (adds[0], "acc_in")


def test_fp16_chain():
    """The product's normalisation (leading zeros, the shift by them) feeds the FP32 adder with
    acc_in; inside the adder the swap by the compare, the alignment by the saturated
    difference, the normalising shift by the selected left amount, the result select by the
    sign select."""
    pe = get_kind("fp16").prototype()
    parts = unit_items(pe)
    mult = _one(parts, "mult", (SIG_BITS, SIG_BITS))
    assert _fed(mult) == ({"act", "weight"}, {})
    norm = next(p for p in parts if p[0] == "shift" and mult in p.drivers)
    assert _label(dict(norm.inputs)["sh"])[0] == "lead1"
    compare = parts[_at(parts, norm) + 2]       # after the exponent adjust: the adder's first
    assert compare[:2] == ("add", (FP32_WIDTH - 1,)) and norm in compare.drivers and "acc_in" in compare.drivers
    swap = parts[_at(parts, compare) + 1]
    assert dict(swap.inputs)["sel"] is compare
    aligns = [p for p in parts if p[0] == "shift" and p[1][0] == ADD_FRAME]
    assert dict(aligns[0].inputs)["sh"][0] == "mux" and dict(aligns[1].inputs)["sh"][0] == "mux"
    assert dict(aligns[1].inputs)["sh"].drivers[0][0] == "lead1"
    final = parts[-2]
    assert final[:2] == ("mux", (2, FP32_WIDTH)) and final.drivers[0][:2] == ("add", (FP32_WIDTH - 1,))
    assert dict(final.inputs)["sel"][:2] == ("mux", (2, ADD_FRAME + 1))


def test_gobo_chain():
    """centroid = table[weight index]: the FP16 multiply-add's weight; acc_out selects acc_in
    or its sum by the weight's flag. The table is constant for a run: the select's data do
    not switch."""
    pe = get_kind("gobo").prototype()
    parts = unit_items(pe)
    centroid = _one(parts, "mux", (CENTROIDS, pe.table_entry_bits))
    assert _fed(centroid) == ({"table"}, {"sel": "weight"})
    mult = _one(parts, "mult", (SIG_BITS, SIG_BITS))
    assert mult.drivers == ("act", centroid)
    assert all(centroid in p.drivers for p in parts if p[0] == "table")
    out = parts[-1]
    assert out[:2] == ("mux", (2, pe.acc_width)) and out.drivers[:2] == (parts[-4], "acc_in")
    assert parts[-4][:2] == ("mux", (2, FP32_WIDTH)) and parts[-3][0] == "reg_en" and dict(out.inputs)["sel"] == "weight"
    pa = part_activity.part_activity("gobo", (), "minilm")
    assert pa.shared_toggles(("table",)) == 0.0


@pytest.mark.parametrize("weight_format", ["int4", "ovp4"])
def test_wfp16_chain(weight_format):
    """Per element: product = man * i (act's significand, weight's integer), negated by act's
    sign; shift = e_a - 1 + e_w (act's decode: its table and the exponent field's bits that
    ``max(e, 1)`` passes through as wires; weight's field); term = signed << shift; the terms'
    sum; acc_in + it."""
    pe = get_kind("wfp16").prototype(weight_format=weight_format)
    parts = wfp16_pe_items(pe)
    product = next(p for p in parts if p[0] == "usmult")
    neg = next(p for p in parts if p[0] == "cneg")
    shift = next(p for p in parts if p[0] == "add")
    term = next(p for p in parts if p[0] == "shiftn")
    assert _fed(product) == ({"act", "weight"}, {})
    assert _fed(neg) == (set(), {"x": _label(product), "s": "act"})
    assert _fed(shift) == ({*(_label(p) for p in parts if p[0] == "table"), "act", "weight"}, {})
    assert _fed(term) == ({_label(neg)}, {"sh": _label(shift)})
    total = parts[-2]
    assert total.drivers[-1] == "acc_in"
    assert total.drivers[0] is (term if pe.k_per_step == 1 else parts[_at(parts, term) + 1])


@pytest.mark.parametrize("act_bits,weight_bits", [(8, 8), (2, 2)])
def test_bitfusion_chain(act_bits, weight_bits):
    """The fused products of act's and weight's slices; their sum with acc_in."""
    pe = get_kind("bitfusion").prototype(act_bits=act_bits, weight_bits=weight_bits)
    parts = bitfusion_pe_items(pe)
    assert _fed(parts[0]) == ({"act", "weight"}, {})
    assert parts[-2].drivers[-1] == "acc_in"
    assert all(d is parts[-3] or d is parts[0] for d in parts[-2].drivers[:-1])
    assert parts[1].drivers[0] is parts[0]


@pytest.mark.parametrize("fmt", ["mxfp8-e4m3", "mxint8", "nvfp4"])
def test_mx_chain(fmt):
    """The lanes' terms feed the adder tree level by level; its sum (with partial) is T, the
    scales' add x; the conversion of T: |T|, its leading zeros, the normalising shift by them,
    the exponent from x and them, the T = 0 select by T; the FP32 adder of the block word and
    acc_in; the final select by acc_in's infinity test."""
    pe = get_kind("mx").prototype(format=fmt)
    parts = unit_items(pe)
    f = pe.mx_format
    mag = conversion_paths(f).magnitude_bits
    magnitude = _one(parts, "cneg", (mag, mag + 1))
    t = magnitude.drivers[0]
    # NVFP4's block sum times the E4M3 scale product: the signed x unsigned multiply Yosys builds
    assert t[0] == ("usmult" if f.scale == "e4m3" else "add")
    lz = _one(parts, "lead1", (mag,))
    assert lz.drivers == (magnitude,)
    norm = next(p for p in parts if p[0] == "shift" and p.drivers[0] is magnitude)
    assert dict(norm.inputs)["sh"] is lz
    exp = next(p for p in parts if p[0] == "addn")
    x = exp.drivers[0]
    assert exp.drivers == (x, lz) and x[:2] == ("add", (SCALE_BITS + 1,))
    assert all(d in ("act", "weight") or d[0] == "table" for d in x.drivers)
    zero = parts[_at(parts, exp) + 1]
    assert zero[:2] == ("mux", (2, FP32_WIDTH)) and dict(zero.inputs)["sel"] is t
    compare = next(p for p in parts if p[:2] == ("add", (FP32_WIDTH - 1,)) and zero in p.drivers)
    assert "acc_in" in compare.drivers
    final = parts[-2]
    assert dict(final.inputs)["sel"][:2] == ("eqc", (parts[-3][1][0],)) and final.drivers[1] == "acc_in"
    # the tree: each level's adds fed by the level below (the first by the lanes' terms)
    lane = parts[0] if f.ebits == 0 else _one(parts, "cneg", (2 * f.magnitude_bits, 2 * f.magnitude_bits + 1))
    levels = (pe.sub_block - 1).bit_length()       # a balanced tree of sub_block terms
    tree = [next(p for p in parts if p[:2] == ("add", (2 * f.magnitude_bits + 2 + i,))) for i in range(levels)]
    assert tree and tree[0].drivers == (lane,)
    assert all(b.drivers == (a,) for a, b in zip(tree, tree[1:]))


def test_lut_chain_unchanged_by_the_rule():
    """The LUT PE (named first) follows the same rule: the entry mux by the plane select."""
    pe = get_kind("lut").prototype()
    entry = unit_items(pe)[0]
    assert entry[:2] == ("mux", (pe.act_width // ENTRY_WIDTH, ENTRY_WIDTH))
    assert _fed(entry)[0] == {"act"}


@pytest.mark.parametrize("acc_in_bits", [None, 0])
def test_bitserial_chain(acc_in_bits):
    """Per cycle: the term index selects the weight's term; its shift field shifts act, its
    presence bit gates the shifted word, its sign the accumulate applies (scnegadd) to the gated
    word and the base: acc_in or the register (row 0: the register, gated)."""
    pe = get_kind("bitserial").prototype()
    parts = bitserial_pe_items(pe, acc_in_bits)
    index, step, _ = parts[-3:]
    term, moved, gated, base, accumulate, acc = parts[:6]
    assert term[0] == "mux" and _fed(term) == ({"weight"}, {"sel": index[:2]})
    assert step[0] == "add" and step.drivers == (index,)
    assert moved[0] == "shiftn" and moved.drivers[0] == "act" and dict(moved.inputs)["sh"] is term
    assert gated[0] == "and" and gated.drivers == (moved, term)
    assert accumulate[0] == "scnegadd" and accumulate.drivers[:2] == (gated, base)
    assert dict(accumulate.inputs)["s"] is term and acc[0] == "reg_en"
    if acc_in_bits == 0:
        assert base[0] == "and" and base.drivers == (acc,)
    else:
        assert base[0] == "mux" and base.drivers == ("acc_in", acc)
    os_parts = bitserial_pe_items(pe, os_slot=True)
    assert os_parts[3][0] == "scnegadd" and os_parts[3].drivers[1] is os_parts[4]


@pytest.mark.parametrize("ebits, offset", [(5, 0), (4, 0), (5, -1), (2, -1)])
def test_decoded_exponent_names_the_field_bits_it_wires(ebits, offset):
    """``normal = e != 0`` and ``max(e, 1) + offset`` as synthesis maps them: with offset 0 the
    upper exponent bits are the field's own bits (wires in the netlist, no cell), so a part fed
    by the decoded exponent is fed by the field's port as well as by the table; with offset -1
    every exponent bit is computed (the table alone). Checked against the mapped netlist."""
    require_synthesis()
    width = ebits + 1
    words = [(e != 0) | (max(e, 1) + offset) << 1 for e in range(1 << ebits)]
    cases = "".join(f"      {ebits}'d{e}: y = {width}'d{w % (1 << width)};\n" for e, w in enumerate(words))
    text = (f"module dec(input [{ebits - 1}:0] e, output reg [{width - 1}:0] y);\n  always @* begin\n"
            f"    case (e)\n{cases}      default: y = 0;\n    endcase\n  end\nendmodule\n")
    netlist = synth.synthesize_verilog(text, "dec").netlist()
    wired = set()     # output bits the netlist assigns straight from field bits
    for hi, lo in re.findall(r"assign\s+y\[(\d+)(?::(\d+))?\]\s*=\s*e\[[\d:]+\]\s*;", netlist):
        wired |= set(range(int(lo or hi), int(hi) + 1))
    decode = [driven(t, "act") for t in exponent_decode_items(ebits, 1, "step", offset=offset)]
    sources = exponent_decode_sources(decode, ebits, "act", offset=offset)
    assert ("act" in sources) == bool(wired)
    assert (len(wired) == ebits - 1) if offset == 0 else not wired
    assert all(any(s is d for s in sources) for d in decode)
