"""Characterised primitive library: every word-level primitive the cost model counts, synthesised
alone with the flow of ``pearray synth`` and fitted as a function of its widths.

One technology: the OSU 0.18 um liberty (Debian ``qflow-tech-osu018``, 180 nm, 1.8 V, typical)
through :func:`models.synth.synthesize_verilog` (Yosys ``synth -flatten``, ``dfflibmap``, ABC onto
the liberty). Each primitive is a tiny plain-Verilog module generated here (:data:`FAMILIES`):

========  ===============  ==============================================================
family    widths           module
========  ===============  ==============================================================
add       (w,)             ``y = a + b`` (w-bit operands and result; also sub / negate)
sub       (w,)             ``y = a - b``
mult      (a, b)           unsigned ``y = a * b`` (a + b bits)
smult     (a, b)           signed ``y = a * b``
          (a, b, w, n)     ``y`` = the sum of n signed a x b products in w bits (one ``$macc`` of
                           n multiply ports: :func:`_product_sum`)
bmult     (a, b)           signed a-bit times signed b-bit built from BitFusion's 2-bit BitBricks
                           (:mod:`hw.pe_bitfusion`): the sum of the (a/2)(b/2) signed 3b x 3b
                           products of the operands' slices, shifted (lower slices
                           zero-extended, the top one sign-extended)
usmult    (a, b)           an unsigned a-bit times a signed b-bit ``y = a * b`` (a signed multiply
                           whose first operand's sign bit is the constant 0)
mac       (a, b, c)        fused ``y = c + a * b`` (signed a x b product, c-bit accumulate)
          (a, b, c, n)     ``y = c`` + the sum of n signed a x b products, c bits (the same
                           ``$macc`` with the addend)
tmult     (a, b, w)        ``y = a * b`` truncated to its low w bits (unsigned b-bit digit; one
                           ``$macc`` of b gated shifted copies of a, as a digit-serial multiply's)
horner    (a, b, w)        ``y = (c << b) + a * b`` in w bits (a w-bit ``c``: one Horner step of a
                           digit-serial multiply, the same ``$macc`` with the shifted partial)
reg       (w,)             w flops with a synchronous reset (every Amaranth ``sync`` signal)
reg_en    (w,)             w flops with synchronous reset and a load enable
mux       (n, w)           n:1 multiplexer of w-bit words (ceil(log2 n)-bit select)
shift     (w, s)           barrel shifter, w-bit result, s-bit amount
shiftn    (a, s, w)        ``y = a <<< s``: a signed a-bit value shifted into w bits (w >= a)
addsubn   (w, b)           ``a + b`` and ``a - b`` of the same operands (as addn; synthesis shares
                           their logic)
addn      (w, b)           ``y = a + b``: a w-bit and a sign-extended b-bit operand (b <= w), w bits
inc       (w,)             ``y = a + c``: a w-bit value plus a 1-bit carry (a rounding increment:
                           a half-adder chain, about half an ``add``)
signtree  (g, b, w)        every ``-x0 +- x1 ... +- x(g-1)`` of g signed b-bit operands (2**(g-1)
                           sums), as a prefix tree: ``-x0``, then each partial sum plus and minus
                           the next operand, one bit wider per level up to w (the partial sums
                           share their low bits, which ABC merges across levels: no two-operand
                           primitive shows it)
neg       (a, w)           ``y = -a``: a signed a-bit value negated into w bits (w >= a)
cneg      (a, w)           ``y = s ? -x : x``: an a-bit magnitude and a sign into w bits (w > a)
cnegadd   (a, w)           ``y = c + (s ? -x : x)``: the same added to a w-bit ``c`` (one
                           sign-magnitude accumulate: synthesis merges the negation into the add)
scnegadd  (a, w)           the same with a signed a-bit ``x``
scneg     (a, w)           ``y = s ? -x : x`` with a signed a-bit ``x`` (w > a)
csa       (b, w)           multi-operand sum: b input bits as ceil(b / w) unsigned addends of w
                           bits (the last narrower) summed into w bits (one ``$macc``: Yosys's
                           ``maccmap`` carry-save tree plus one carry-propagate adder)
eq        (w,)             ``y = a == b``
eqc       (w,)             ``y = a == K`` (a fixed pseudo-random code K)
lt        (w,)             ``y = a < b`` (unsigned)
and       (w,)             ``y = a & b``
rom       (n, w)           constant lookup: n entries of w bits (fixed pseudo-random codes)
table     (k, w, content)  constant lookup of a k-bit code with given contents (a design's own
                           decode table, :func:`table_content`: measured at exactly those words)
lead1     (w,)             leading-one position (priority encoder) of a w-bit word
========  ===============  ==============================================================

For each (family, widths) measured: mapped area (um^2 at 180 nm, the liberty's ``area``), flop
count, cell count, leakage (the cells' ``cell_leakage_power``, nW) and the energy of one operation
if every mapped cell output toggles once (pJ, 180 nm 1.8 V): per cell its output pin's internal
energy (mean of rise and fall at the first table entry, averaged over related pins; flops: D + Q)
plus 0.5 C V^2 of one DFFPOSX1 D-pin load (:func:`cell_toggle_energy`; a liberty-only cross-check),
and OpenSTA's energy per cycle with the data inputs toggling :data:`STA_ACTIVITY` times per cycle
and with them constant (:func:`sta_energies`): the figures the cost model uses
(:func:`models.cost_primitives.primitive`: dynamic = active - idle, scaled by the activity; idle =
flop clocks + leakage, paid every cycle). Delay is not characterised here: timing comes from
OpenSTA (:mod:`models.sta`).

The widths measured are every (family, widths) the registered designs' inventories use (all
option settings, arrays 1..8 x 1..8 in every dataflow; :func:`design_primitives`) plus a grid per
family; :func:`models.cost_primitives.primitive` uses the measured point when there is one and
the family's least-squares fit (features :data:`FIT_FEATURES`) otherwise. The table, with its
provenance (Yosys version, liberty SHA-256, flow, date), is ``models/data/primitives_osu018.json``;
``pearray characterise`` regenerates it (skipped when the stored table has the same Yosys version,
liberty hash and generator version, unless forced; each synthesis is cached as ``pearray synth``'s).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hw.pe_bitfusion import BRICK_BITS, BRICK_PRODUCT_BITS
from . import sta, synth
from .inventory import ARRAY_INVENTORIES, unit_items
from .registry import PE_KINDS

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitives_osu018.json"
GENERATOR_VERSION = 3
#: the operating point of the OpenSTA energies (``energy_sta_pj``): input toggles per cycle, clock
STA_ACTIVITY = 0.5
STA_CLOCK_MHZ = 100.0
ACTIVITY_NOTE = ("energy_pj is per operation with every mapped cell output toggling once "
                 "(activity 1); the cost model multiplies by its activity")


def _sel_bits(n):
    return max(1, (n - 1).bit_length())


def _codes(n, w, seed):
    """n fixed pseudo-random w-bit constants (a 64-bit LCG, so the Verilog never changes)."""
    state, out = seed, []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append((state >> 20) % (1 << w))
    return out


def _comb(name, ports, body):
    return f"module {name}({', '.join(p.split()[-1] for p in ports)});\n" + \
        "".join(f"  {p};\n" for p in ports) + body + "endmodule\n"


def _binary(name, w, op, out_w=None):
    return _comb(name, [f"input [{w - 1}:0] a", f"input [{w - 1}:0] b", f"output [{(out_w or w) - 1}:0] y"],
                 f"  assign y = {op};\n")


def table_content(words, width):
    """The ``table`` family's content integer: word i at bits [i * width, (i + 1) * width)."""
    return sum(w << (i * width) for i, w in enumerate(words))


def _brick_multiplier(name, a, b):
    """``bmult``: the signed product of an a-bit and a b-bit operand as BitFusion's bricks make it."""
    if a % BRICK_BITS or b % BRICK_BITS:
        raise ValueError(f"bmult widths must be multiples of {BRICK_BITS}: {a}, {b}")

    def slices(port, bits):
        n = bits // BRICK_BITS
        out = []
        for i in range(n):
            lo, hi = i * BRICK_BITS, (i + 1) * BRICK_BITS - 1
            top = f"{port}[{hi}]" if i == n - 1 else "1'b0"      # the sign only in the top slice
            out.append((i, f"$signed({{{top}, {port}[{hi}:{lo}]}})"))
        return out

    body, terms = "", []
    for i, x in slices("a", a):
        for j, y in slices("b", b):
            body += f"  wire signed [{BRICK_PRODUCT_BITS - 1}:0] p{i}_{j} = {x} * {y};\n"
            terms.append(f"($signed(p{i}_{j}) <<< {BRICK_BITS * (i + j)})")
    return _comb(name, [f"input [{a - 1}:0] a", f"input [{b - 1}:0] b", f"output signed [{a + b - 1}:0] y"],
                 body + f"  assign y = {' + '.join(terms)};\n")


def _product_sum(name, a, b, w, n, addend):
    """``n`` signed a x b products (each its own a + b-bit wire, as a PE writes them) summed into
    w bits, plus a w-bit ``c`` if ``addend``: Yosys's ``alumacc`` merges them into one ``$macc``
    of n multiply ports (and the addend), which ``maccmap`` lays into one carry-save tree, each
    product's rows its operand sign-extended to w bits, and one carry-propagate adder. Product i
    reads bits [i*a, (i+1)*a) of port ``a`` and [i*b, (i+1)*b) of ``b``: the ports (and input
    groups) are ``a``, ``b`` and ``c``, as the single product's."""
    ports = [f"input [{n * a - 1}:0] a", f"input [{n * b - 1}:0] b"]
    ports += [f"input signed [{w - 1}:0] c"] if addend else []
    body = "".join(f"  wire signed [{a + b - 1}:0] p{i} = $signed(a[{(i + 1) * a - 1}:{i * a}]) * "
                   f"$signed(b[{(i + 1) * b - 1}:{i * b}]);\n" for i in range(n))
    terms = (["c"] if addend else []) + [f"p{i}" for i in range(n)]
    return _comb(name, ports + [f"output signed [{w - 1}:0] y"], body + f"  assign y = {' + '.join(terms)};\n")


def verilog(family, widths):
    """(Verilog text, top name) of one primitive (see the module docstring)."""
    name = f"prim_{family}_{'_'.join(map(str, widths))}"
    if family == "table" and len(widths) == 3:
        k, w, content = widths
        if content >> (w << k):
            raise ValueError(f"table content wider than 2**{k} words of {w} bits")
        name = f"prim_table_{k}_{w}_{hashlib.sha256(str(content).encode()).hexdigest()[:16]}"
        mask = (1 << w) - 1
        cases = "".join(f"      {k}'d{i}: y = {w}'d{(content >> (i * w)) & mask};\n"
                        for i in range((1 << k) - 1))
        last = (content >> (((1 << k) - 1) * w)) & mask
        return _comb(name, [f"input [{k - 1}:0] sel", f"output reg [{w - 1}:0] y"],
                     f"  always @* begin\n    case (sel)\n{cases}      default: y = {w}'d{last};\n"
                     f"    endcase\n  end\n"), name
    if family in ("add", "sub", "and") and len(widths) == 1:
        return _binary(name, widths[0], {"add": "a + b", "sub": "a - b", "and": "a & b"}[family]), name
    if family == "csa" and len(widths) == 2:
        b, w = widths
        if b <= w:
            raise ValueError(f"csa needs more input bits than its sum's width: {widths}")
        sizes = [w] * (b // w) + ([b % w] if b % w else [])
        return _comb(name, [f"input [{n - 1}:0] x{i}" for i, n in enumerate(sizes)] + [f"output [{w - 1}:0] y"],
                     f"  assign y = {' + '.join(f'x{i}' for i in range(len(sizes)))};\n"), name
    if family in ("eq", "lt") and len(widths) == 1:
        return _binary(name, widths[0], "a == b" if family == "eq" else "a < b", 1), name
    if family == "eqc" and len(widths) == 1:
        (w,) = widths
        return _comb(name, [f"input [{w - 1}:0] a", "output y"],
                     f"  assign y = a == {w}'d{_codes(1, w, seed=w)[0]};\n"), name
    if family == "smult" and len(widths) == 4:
        return _product_sum(name, *widths, addend=False), name
    if family == "mac" and len(widths) == 4:
        return _product_sum(name, *widths, addend=True), name
    if family in ("mult", "smult") and len(widths) == 2:
        a, b = widths
        s = "signed " if family == "smult" else ""
        return _comb(name, [f"input {s}[{a - 1}:0] a", f"input {s}[{b - 1}:0] b",
                            f"output {s}[{a + b - 1}:0] y"], "  assign y = a * b;\n"), name
    if family == "bmult" and len(widths) == 2:
        return _brick_multiplier(name, *widths), name
    if family == "usmult" and len(widths) == 2:
        a, b = widths
        return _comb(name, [f"input [{a - 1}:0] a", f"input signed [{b - 1}:0] b",
                            f"output signed [{a + b - 1}:0] y"], "  assign y = $signed({1'b0, a}) * b;\n"), name
    if family == "mac" and len(widths) == 3:
        a, b, c = widths
        return _comb(name, [f"input signed [{a - 1}:0] a", f"input signed [{b - 1}:0] b",
                            f"input signed [{c - 1}:0] c", f"output signed [{c - 1}:0] y"],
                     f"  wire signed [{a + b - 1}:0] p = a * b;\n  assign y = c + p;\n"), name
    if family in ("tmult", "horner") and len(widths) == 3:
        a, b, w = widths
        ports = [f"input [{a - 1}:0] a", f"input [{b - 1}:0] b", f"output [{w - 1}:0] y"]
        if family == "horner":
            ports.insert(2, f"input [{w - 1}:0] c")
            return _comb(name, ports, f"  assign y = (c << {b}) + a * b;\n"), name
        return _comb(name, ports, "  assign y = a * b;\n"), name
    if family in ("reg", "reg_en") and len(widths) == 1:
        (w,) = widths
        ports = ["input clk", "input rst", f"input [{w - 1}:0] d", f"output reg [{w - 1}:0] q"]
        if family == "reg_en":
            ports.insert(2, "input en")
        load = "if (en) q <= d;" if family == "reg_en" else "q <= d;"
        return _comb(name, ports, f"  always @(posedge clk) begin\n    {load}\n"
                                  f"    if (rst) q <= {w}'d0;\n  end\n"), name
    if family == "mux" and len(widths) == 2:
        n, w = widths
        s = _sel_bits(n)
        cases = "".join(f"      {s}'d{i}: y = d[{(i + 1) * w - 1}:{i * w}];\n" for i in range(n - 1))
        return _comb(name, [f"input [{s - 1}:0] sel", f"input [{n * w - 1}:0] d", f"output reg [{w - 1}:0] y"],
                     f"  always @* begin\n    case (sel)\n{cases}      default: y = d[{n * w - 1}:{(n - 1) * w}];\n"
                     f"    endcase\n  end\n"), name
    if family == "shiftn" and len(widths) == 3:
        a, s, w = widths
        if w < a:
            raise ValueError(f"shiftn result narrower than its input: {widths}")
        return _comb(name, [f"input signed [{a - 1}:0] a", f"input [{s - 1}:0] sh",
                            f"output signed [{w - 1}:0] y"], "  assign y = a <<< sh;\n"), name
    if family == "addsubn" and len(widths) == 2:
        w, b = widths
        if b > w:
            raise ValueError(f"addsubn narrow operand wider than the result: {widths}")
        return _comb(name, [f"input signed [{w - 1}:0] a", f"input signed [{b - 1}:0] b",
                            f"output signed [{w - 1}:0] y", f"output signed [{w - 1}:0] z"],
                     "  assign y = a + b;\n  assign z = a - b;\n"), name
    if family == "signtree" and len(widths) == 3:
        g, b, w = widths
        lines, level, width = [f"  wire signed [{b}:0] p = -x0;\n"], ["p"], b + 1
        for i in range(1, g):
            width, nxt = min(width + 1, w), []
            for q in level:
                for op, tag in (("+", "p"), ("-", "m")):
                    lines.append(f"  wire signed [{width - 1}:0] {q}{tag} = {q} {op} x{i};\n")
                    nxt.append(q + tag)
            level = nxt
        ports = ([f"input signed [{b - 1}:0] x{i}" for i in range(g)]
                 + [f"output signed [{w - 1}:0] y{j}" for j in range(len(level))])
        return _comb(name, ports, "".join(lines) + "".join(
            f"  assign y{j} = {q};\n" for j, q in enumerate(level))), name
    if family == "addn" and len(widths) == 2:
        w, b = widths
        if b > w:
            raise ValueError(f"addn narrow operand wider than the result: {widths}")
        return _comb(name, [f"input signed [{w - 1}:0] a", f"input signed [{b - 1}:0] b",
                            f"output signed [{w - 1}:0] y"], "  assign y = a + b;\n"), name
    if family in ("cneg", "scneg", "cnegadd", "scnegadd") and len(widths) == 2:
        a, w = widths
        if w <= a:
            raise ValueError(f"{family} result not wider than its magnitude: {widths}")
        ports = [f"input [{a - 1}:0] x", "input s", f"output signed [{w - 1}:0] y"]
        x = "$signed(x)" if family in ("scneg", "scnegadd") else "$signed({1'b0, x})"
        signed = f"  wire signed [{w - 1}:0] v = s ? -{x} : {x};\n"
        if family in ("cnegadd", "scnegadd"):
            ports.insert(2, f"input signed [{w - 1}:0] c")
            return _comb(name, ports, signed + "  assign y = c + v;\n"), name
        return _comb(name, ports, signed + "  assign y = v;\n"), name
    if family == "inc" and len(widths) == 1:
        (w,) = widths
        return _comb(name, [f"input [{w - 1}:0] a", "input c", f"output [{w - 1}:0] y"],
                     "  assign y = a + c;\n"), name
    if family == "neg" and len(widths) == 2:
        a, w = widths
        if w < a:
            raise ValueError(f"neg result narrower than its input: {widths}")
        return _comb(name, [f"input signed [{a - 1}:0] a", f"output signed [{w - 1}:0] y"],
                     "  assign y = -a;\n"), name
    if family == "shift" and len(widths) == 2:
        w, s = widths
        return _comb(name, [f"input [{w - 1}:0] a", f"input [{s - 1}:0] sh", f"output [{w - 1}:0] y"],
                     "  assign y = a << sh;\n"), name
    if family == "rom" and len(widths) == 2:
        n, w = widths
        s = _sel_bits(n)
        codes = _codes(n, w, seed=n * 1000 + w)
        cases = "".join(f"      {s}'d{i}: y = {w}'d{c};\n" for i, c in enumerate(codes[:-1]))
        return _comb(name, [f"input [{s - 1}:0] sel", f"output reg [{w - 1}:0] y"],
                     f"  always @* begin\n    case (sel)\n{cases}      default: y = {w}'d{codes[-1]};\n"
                     f"    endcase\n  end\n"), name
    if family == "lead1" and len(widths) == 1:
        (w,) = widths
        s = _sel_bits(w)
        return _comb(name, [f"input [{w - 1}:0] a", f"output reg [{s - 1}:0] y"],
                     f"  integer i;\n  always @* begin\n    y = {s}'d0;\n"
                     f"    for (i = 0; i < {w}; i = i + 1) if (a[i]) y = i;\n  end\n"), name
    raise ValueError(f"unknown primitive family {family!r} with widths {widths}")


#: Fit features per family: the area (and energy) is a least-squares combination of these.
FIT_FEATURES = {
    "add": lambda w: (w, 1.0), "sub": lambda w: (w, 1.0), "and": lambda w: (w,),
    "eq": lambda w: (w, 1.0), "lt": lambda w: (w, 1.0), "eqc": lambda w: (w, 1.0),
    "mult": lambda a, b: (a * b, a + b, 1.0),
    # the sum of n products in w bits (4 widths): n times the partial products, w for the sum
    "smult": lambda a, b, w=None, n=1: (n * a * b, a + b if w is None else w, 1.0),
    "usmult": lambda a, b: (a * b, a + b, 1.0), "bmult": lambda a, b: (a * b, a + b, 1.0),
    "mac": lambda a, b, c, n=1: (n * a * b, c, 1.0),
    "tmult": lambda a, b, w: (b * w, w, 1.0), "horner": lambda a, b, w: (b * w, w, 1.0),
    "csa": lambda b, w: (b, w, 1.0),
    "reg": lambda w: (w,), "reg_en": lambda w: (w,),
    "mux": lambda n, w: ((n - 1) * w, w),
    "shift": lambda w, s: (w * s, w, 1.0),
    "shiftn": lambda a, s, w: (a * s, w, 1.0),
    "neg": lambda a, w: (a, w, 1.0),
    "cneg": lambda a, w: (a, w, 1.0), "cnegadd": lambda a, w: (a, w, 1.0),
    "scnegadd": lambda a, w: (a, w, 1.0), "scneg": lambda a, w: (a, w, 1.0),
    "signtree": lambda g, b, w: ((1 << g) * w, w, 1.0),
    "inc": lambda w: (w, 1.0),
    "addn": lambda w, b: (b, w, 1.0), "addsubn": lambda w, b: (b, w, 1.0),
    "rom": lambda n, w: (n * w, w, 1.0),
    "table": lambda k, w, content: (w << k, w, 1.0),
    "lead1": lambda w: (w * _sel_bits(w), w, 1.0),
}

#: Grid per family (besides the designs' own widths): what the fits are made from.
GRID = {
    "add": [(w,) for w in (2, 4, 8, 12, 16, 24, 32)],
    "sub": [(w,) for w in (4, 8, 16, 32)],
    "and": [(w,) for w in (1, 8, 32)],
    "eq": [(w,) for w in (1, 2, 4, 8, 16)],
    "lt": [(w,) for w in (2, 4, 8, 16)],
    "eqc": [(w,) for w in (1, 2, 3, 4, 8)],
    "mult": [(a, b) for a in (2, 4, 8, 16) for b in (2, 4, 8, 16)],
    "smult": [(a, b) for a in (2, 4, 8, 16) for b in (2, 4, 8, 16)],
    "usmult": [(a, b) for a in (4, 8, 16) for b in (2, 4, 8)],
    "bmult": [(a, b) for a in (2, 4, 8) for b in (2, 4, 8)],
    "mac": [(a, b, c) for a, b in ((4, 4), (8, 8), (8, 4)) for c in (16, 32)],
    "csa": [(n * w, w) for w in (8, 16, 32) for n in (3, 4, 6)],
    "tmult": [(w, b, w) for w in (16, 32) for b in (1, 2, 4, 8)],
    "horner": [(w, b, w) for w in (16, 32) for b in (1, 2, 4)],
    "reg": [(w,) for w in (1, 8, 32)],
    "reg_en": [(w,) for w in (1, 8, 32)],
    "mux": [(n, w) for n in (2, 3, 4, 8) for w in (1, 4, 8, 16)],
    "shift": [(w, s) for w in (8, 16, 32) for s in (2, 3, 4, 5)],
    "shiftn": [(a, s, a + (1 << s) - 1) for a in (4, 8, 16) for s in (2, 3, 4)],
    "neg": [(a, w) for a in (4, 8, 16, 32) for w in (a, a + 2)],
    "scneg": [(a, a + 1) for a in (4, 8, 16)],
    "signtree": [(2, 8, 10), (3, 8, 11), (3, 4, 7), (4, 4, 8), (5, 8, 12)],
    "addn": [(w, b) for w in (8, 12, 16, 24, 32) for b in (4, 8, 16) if b <= w],
    "inc": [(w,) for w in (4, 8, 16, 32)],
    "rom": [(n, w) for n in (4, 8, 16) for w in (4, 8)],
    "lead1": [(w,) for w in (4, 8, 16)],
}


# --------------------------------------------------------------------------------------------
# liberty energies


def _pin_energy(pin):
    """Mean internal energy (pJ) of one transition of ``pin``: rise and fall (or the single
    ``power`` table) at the first table entry, averaged over the related pins."""
    per_pin = []
    for group in pin.find("internal_power"):
        tables = group.find("rise_power") + group.find("fall_power") or group.find("power")
        if tables:
            per_pin.append(sum(synth._first(t) for t in tables) / len(tables))
    return sum(per_pin) / len(per_pin) if per_pin else 0.0


def cell_toggle_energy(lib=None):
    """{cell: pJ per output toggle} at 180 nm 1.8 V: the output pin's internal energy (mean of
    rise and fall at the first table entry, averaged over related pins; flops add their D pin's)
    plus 0.5 C V^2 of one DFFPOSX1 D-pin load (the rule of :func:`models.synth.derive_osu018_constants`)."""
    lib = lib or synth.load_liberty(str(synth.liberty_path()))
    cells = {g.args[0]: g for g in lib.find("cell")}
    volts = float(lib.attrs["nom_voltage"])
    load = 0.5 * float(synth._pin(cells["DFFPOSX1"], "D").attrs["capacitance"]) * volts ** 2
    out = {}
    for name, cell in cells.items():
        outputs = [p for p in cell.find("pin") if p.attrs.get("direction") == "output"
                   and p.find("internal_power")]
        if not outputs:
            continue
        energy = sum(_pin_energy(p) for p in outputs) / len(outputs)
        data = [p for p in cell.find("pin") if p.args[0] == "D" and p.find("internal_power")]
        if data:
            energy += _pin_energy(data[0])
        out[name] = energy + load
    return out


def cell_leakage(lib=None):
    """{cell: leakage in nW} (``cell_leakage_power``)."""
    lib = lib or synth.load_liberty(str(synth.liberty_path()))
    return {g.args[0]: float(g.attrs["cell_leakage_power"]) for g in lib.find("cell")
            if "cell_leakage_power" in g.attrs}


# --------------------------------------------------------------------------------------------
# what to measure


def design_primitives(max_side=8):
    """Every (family, widths) the registered designs' inventories use: each kind's option
    settings (PE, border units, post-array unit) and arrays 1..max_side in each dataflow."""
    found = set()
    for kind in PE_KINDS.values():
        for setting in synth.option_settings(kind):
            proto = kind.prototype(**dict(setting))
            units = [proto, *(synth.border_unit(proto, u) for u in ("act_border", "weight_border"))]
            post = proto.post_array_unit(2) if hasattr(proto, "post_array_unit") else None
            units.append(post)
            for unit in units:
                if unit is None:
                    continue
                found.update((prim, tuple(widths)) for prim, widths, _, _ in unit_items(unit))
            for dataflow in kind.dataflows:
                for rows in range(1, max_side + 1):
                    for cols in range(1, max_side + 1):
                        found.update((i.prim, tuple(i.widths)) for i in
                                     ARRAY_INVENTORIES[dataflow](proto, rows, cols))
    return found


def points_to_measure():
    grid = {(family, tuple(w)) for family, ws in GRID.items() for w in ws}
    return sorted(grid | design_primitives(), key=lambda p: (p[0], p[1]))


# --------------------------------------------------------------------------------------------
# measuring and fitting


def sta_energies(netlist, top):
    """(active, idle) OpenSTA energy per clock cycle (pJ, 180 nm 1.8 V) of a mapped primitive at
    :data:`STA_CLOCK_MHZ`: every data input bit toggling :data:`STA_ACTIVITY` times per cycle
    with duty 0.5, and every input constant (flops still clocked: their clock energy, plus
    leakage). OpenSTA propagates the input activity through the cells (transition densities), so
    deep arithmetic nodes toggle more than their inputs: the figure the PE-level STA power sums."""
    bits = data_input_bits(netlist)
    return tuple(sta_energy_pj(netlist, top, {b: (act, 0.5 if act else 0.0) for b in bits})
                 for act in (STA_ACTIVITY, 0.0))


def data_input_bits(netlist):
    """The mapped primitive's input port bits other than the clock and reset."""
    return [b for b in sta.input_bits(netlist) if b not in ("clk", "rst")]


def sta_energy_pj(netlist, top, activity):
    """OpenSTA's energy per clock cycle (pJ, 180 nm 1.8 V) of a mapped primitive at
    :data:`STA_CLOCK_MHZ` with ``activity`` ({input bit: (toggles per cycle, duty)})."""
    rep = sta.run_sta(netlist, top, synth.liberty_path(), clock_mhz=STA_CLOCK_MHZ,
                      activity=activity, cache_dir=synth.cache_root())
    mw = rep.sequential.total + rep.combinational.total
    return mw * 1e-3 / (STA_CLOCK_MHZ * 1e6) * 1e12


def _measure(point, tool, toggle, leak):
    family, widths = point
    text, top = verilog(family, widths)
    r = synth.synthesize_verilog(text, top, tool=tool)
    active, idle = sta_energies(r.netlist(), top) if r.mapped_cells else (0.0, 0.0)
    return {"family": family, "widths": list(widths), "area_um2": r.area_um2,
            "energy_sta_pj": active, "energy_sta_idle_pj": idle,
            "energy_pj": sum(n * toggle[c] for c, n in r.mapped_cells.items()),
            "leakage_nw": sum(n * leak.get(c, 0.0) for c, n in r.mapped_cells.items()),
            "flops": r.flop_bits, "cells": sum(r.mapped_cells.values()), "cached": r.cached}


FIT_KEYS = ("area_um2", "energy_pj", "energy_sta_pj", "energy_sta_idle_pj")
#: families fitted on one form only: the sums of n products (4 widths) are measured points,
#: left out of the plain multiply's / MAC's fit so that its coefficients stay the plain ones
FIT_ARITY = {"smult": 2, "mac": 3}


def fit_family(family, points, keys=FIT_KEYS):
    """Least-squares coefficients of each of ``keys`` (default area and energies) over
    :data:`FIT_FEATURES` and the largest relative error of the fit on its own points."""
    X = np.array([FIT_FEATURES[family](*p["widths"]) for p in points], dtype=float)
    out = {"features": FIT_FEATURES_TEXT[family], "points": len(points)}
    for key in keys:
        y = np.array([p[key] for p in points])
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        pred = X @ coef
        nonzero = y > 0
        out[key] = [float(c) for c in coef]
        out[f"{key}_max_fit_error"] = float(np.max(np.abs(pred[nonzero] / y[nonzero] - 1))) if nonzero.any() else 0.0
    return out


FIT_FEATURES_TEXT = {
    "add": "w, 1", "sub": "w, 1", "and": "w", "eq": "w, 1", "lt": "w, 1", "eqc": "w, 1",
    "mult": "a*b, a+b, 1", "smult": "n*a*b, w, 1 (fitted on two widths: n = 1, w = a+b)", "usmult": "a*b, a+b, 1", "bmult": "a*b, a+b, 1", "mac": "n*a*b, c, 1 (fitted on three widths: n = 1)", "tmult": "b*w, w, 1", "horner": "b*w, w, 1", "csa": "b, w, 1", "reg": "w", "reg_en": "w",
    "mux": "(n-1)*w, w", "shift": "w*s, w, 1",
    "shiftn": "a*s, w, 1", "neg": "a, w, 1", "cneg": "a, w, 1", "cnegadd": "a, w, 1", "scnegadd": "a, w, 1", "scneg": "a, w, 1", "signtree": "w*2**g, w, 1", "addn": "b, w, 1", "inc": "w, 1", "addsubn": "b, w, 1", "rom": "n*w, w, 1", "table": "w*2**k, w, 1", "lead1": "w*ceil(log2 w), w, 1",
}


def provenance(tool=None):
    tool = tool or synth.find_yosys()
    lib = synth.liberty_path()
    return {"yosys": tool.version, "yosys_tool": tool.kind, "liberty": lib.name,
            "liberty_sha256": hashlib.sha256(lib.read_bytes()).hexdigest(),
            "generator_version": GENERATOR_VERSION, "recipe_version": synth.RECIPE_VERSION,
            "flow": "per primitive: read_verilog; synth -flatten -top P; dfflibmap -liberty L; "
                    "abc -liberty L -script models.synth.ABC_SCRIPT (SAT sweep bounded); opt_clean; "
                    "stat -liberty L (models.synth)",
            "node_nm": 180, "voltage_v": 1.8, "corner": "typical", "energy_note": ACTIVITY_NOTE}


def is_current(table, prov):
    keys = ("yosys", "liberty_sha256", "generator_version", "recipe_version")
    return table is not None and all(table.get("provenance", {}).get(k) == prov[k] for k in keys)


def load_table(path=TABLE_PATH):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def characterise(path=TABLE_PATH, *, jobs=2, force=False, tool=None, progress=None):
    """Measure every point, fit every family and write the table to ``path``; returns (table,
    regenerated). Skipped (regenerated False) when ``path`` already holds a table from the same
    Yosys version, liberty and generator with every point the designs use, unless ``force``."""
    tool = tool or synth.find_yosys()
    prov = provenance(tool)
    old = load_table(path)
    todo = points_to_measure()
    if not force and is_current(old, prov):
        have = {(p["family"], tuple(p["widths"])) for p in old["points"]}
        if set(todo) <= have:
            return old, False
    toggle, leak = cell_toggle_energy(), cell_leakage()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        measured = []
        for i, m in enumerate(pool.map(lambda p: _measure(p, tool, toggle, leak), todo)):
            measured.append(m)
            if progress:
                progress(i + 1, len(todo), m)
    families = {}
    for family in FIT_FEATURES:
        pts = [m for m in measured if m["family"] == family
               and len(m["widths"]) == FIT_ARITY.get(family, len(m["widths"]))]
        if pts:
            families[family] = fit_family(family, pts)
    table = {"provenance": {**prov, "date": datetime.date.today().isoformat()},
             "families": families,
             "points": [{k: v for k, v in m.items() if k != "cached"} for m in measured]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1) + "\n")
    return table, True


def fitted(table, family, widths, key):
    """A family's fitted ``key`` (area_um2 / energy_pj) at ``widths`` (never below 0)."""
    fam = table["families"].get(family)
    if fam is None:
        return None
    x = FIT_FEATURES[family](*widths)
    return max(0.0, float(sum(c * f for c, f in zip(fam[key], x))))

