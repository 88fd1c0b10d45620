"""ANT type decoder: one lane of 4-bit (or one 8-bit) element codes -> exponent-integer operands.

Placed on the array border (one per row input, one per column input), combinational, shared by
every PE of its row or column. ANT's decoder is configured per tensor with the tensor's type; here
the type is a build option (``ant_type``), since a GEMM run is one tensor pair (see
:mod:`hw.pe_ant`).

Code lane (``code``, In(LANES * 4) for 4-bit types, In(8) for 8-bit): element j at bits
[4j, 4j + 4). Operand (``operand``, Out(LANES * ELEMENT_WIDTH)): element j at bits
[j * ELEMENT_WIDTH, (j + 1) * ELEMENT_WIDTH); inside it the exponent ``e`` (unsigned, EXP_WIDTH
bits) is the low field and the integer ``i`` (signed, INT_WIDTH bits) the high one; the value is
``i << e``. Per type (``DECODE``: code -> (e, i)):

* int4 <0, -8..7>, uint4 <0, 0..15> (wiring);
* flint4: sign + magnitude index, magnitude = base << k (OliVe's ``FLINT4_DECODE``), <k, +-{0,1,3}>;
* uflint4: m << e with m <= 7: 0..7 -> <0, m>; 8..14 -> <1, 4..7>; 16, 24 -> <2, 4 / 6>;
  32 -> <3, 4>; 64 -> <4, 4>;
* pot4: <j - 1, +-1> (index j = 0: <0, 0>); upot4: <c - 1, 1> (code 0: <0, 0>);
* int8 / uint8 (the fused 8-bit mode): the byte splits into two elements, low nibble <0, 0..15>
  (element 0) and high nibble <4, -8..7> (int8) or <4, 0..15> (uint8) (element 1); elements 2, 3
  are <0, 0>. The PE multiplies every act element with every weight element (2 x 2).

One operand format for every type: the PE is the same hardware whatever the types. The operand
bits that are the same for every code of the type (an int4 element's exponent, the fused mode's
elements 2, 3, ...) are the decoder's ``constant_bits``, and the bits equal to a lower bit for
every code (an integer's sign-extension copies) its ``copied_bits``: the array carries only the
others through its registers and bank selects and re-attaches these in front of each PE (see
:mod:`hw.array`).
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ovp_decoder import FLINT4_DECODE
from .pe import OptionError

LANES = 4               # elements per operand: four 4-bit products per PE step (or 2 x 2 fused)
EXP_WIDTH = 4           # e in 0..14 (upot4)
INT_WIDTH = 5           # i in -8..15: int4, uint4 and the 8-bit nibbles
ELEMENT_WIDTH = EXP_WIDTH + INT_WIDTH
NIBBLE_SHIFT = 4        # the high nibble's exponent in the fused 8-bit mode


def _sign_magnitude(table):
    return tuple(table) + tuple((e, -i) for e, i in table)


DECODE = {
    "int4": tuple((0, c - 16 if c >= 8 else c) for c in range(16)),
    "uint4": tuple((0, c) for c in range(16)),
    "flint4": _sign_magnitude(FLINT4_DECODE),
    "uflint4": tuple((0, c) for c in range(8)) + ((1, 4), (1, 5), (1, 6), (1, 7), (2, 4), (2, 6),
                                                  (3, 4), (4, 4)),
    "pot4": _sign_magnitude(((0, 0),) + tuple((j, 1) for j in range(7))),
    "upot4": ((0, 0),) + tuple((j, 1) for j in range(15)),
}
FUSED = ("int8", "uint8")       # 8-bit types: two nibbles through the 2 x 2 fused multipliers
TYPE_NAMES = tuple(DECODE) + FUSED
WIRED = ("int4", "uint4")       # decoded by wiring, no table


def check_type(name, value):
    if value not in TYPE_NAMES:
        raise OptionError(f"{name} must be one of {', '.join(TYPE_NAMES)}, not {value!r}")
    return value


def code_bits(ant_type):
    return 8 if ant_type in FUSED else 4


def element_values(ant_type):
    """Per operand element j the (exponents, integers) the decoder can output for ``ant_type``
    (:meth:`AntDecoder.elaborate`: the 8-bit types' low nibble <0, 0..15>, high nibble
    <NIBBLE_SHIFT, int or uint nibble>, elements 2, 3 <0, 0>; a 4-bit type's :data:`DECODE`)."""
    if ant_type in FUSED:
        high = range(-8, 8) if ant_type == "int8" else range(16)
        return ([({0}, set(range(16))), ({NIBBLE_SHIFT}, set(high))]
                + [({0}, {0})] * (LANES - 2))
    return [({e for e, _ in DECODE[ant_type]}, {i for _, i in DECODE[ant_type]})] * LANES


def _columns(ant_type):
    """{operand bit: its value for each of a field's values, a tuple} (from :func:`element_values`;
    a field's value in two's complement over its width)."""
    columns = {}
    for j, (exps, ints) in enumerate(element_values(ant_type)):
        for base, values, width in ((j * ELEMENT_WIDTH, exps, EXP_WIDTH),
                                    (j * ELEMENT_WIDTH + EXP_WIDTH, ints, INT_WIDTH)):
            for b in range(width):
                columns[base + b] = tuple((v % (1 << width)) >> b & 1 for v in sorted(values))
    return columns


def constant_bits(ant_type):
    """{operand bit: value} of the operand bits that are the same for every code of ``ant_type``."""
    return {b: column[0] for b, column in _columns(ant_type).items() if len(set(column)) == 1}


def copied_bits(ant_type):
    """{operand bit: lower bit of its field} of the non-constant operand bits that equal a lower
    bit of the same field for every code of ``ant_type`` (the lowest such bit: an integer's
    sign-extension copies name its sign bit)."""
    columns, constants, copies = _columns(ant_type), constant_bits(ant_type), {}
    for b, column in columns.items():
        field = range(b - b % ELEMENT_WIDTH + (EXP_WIDTH if b % ELEMENT_WIDTH >= EXP_WIDTH else 0), b)
        if b not in constants:
            same = [s for s in field if s not in constants and columns[s] == column]
            if same:
                copies[b] = same[0]
    return copies


class AntDecoder(wiring.Component):
    """Combinational ANT decoder (see the module docstring for the code and operand layout).

    Ports: ``code`` In(LANES * 4) (8 for int8 / uint8) element codes; ``operand``
    Out(LANES * ELEMENT_WIDTH) exponent-integer elements.

    Parameters: ``ant_type`` (keyword-only) one of :data:`TYPE_NAMES`.
    """

    def __init__(self, *, ant_type="int4"):
        self._type = check_type("ant_type", ant_type)
        width = 8 if ant_type in FUSED else LANES * 4
        super().__init__({"code": In(width), "operand": Out(LANES * ELEMENT_WIDTH)})

    ant_type = property(lambda self: self._type)
    elements = property(lambda self: 1 if self._type in FUSED else LANES)
    #: {operand bit: value} of the bits no code changes (:func:`constant_bits`; the border-unit
    #: convention of :mod:`hw.pe`)
    constant_bits = property(lambda self: constant_bits(self._type))
    #: {operand bit: the lower bit it always equals} (:func:`copied_bits`; :mod:`hw.pe`)
    copied_bits = property(lambda self: copied_bits(self._type))

    def elaborate(self, platform):
        m = Module()
        E, W = EXP_WIDTH, ELEMENT_WIDTH
        exps = [Signal(E, name=f"exp{j}") for j in range(LANES)]
        ints = [Signal(signed(INT_WIDTH), name=f"int{j}") for j in range(LANES)]
        if self._type in FUSED:
            high = self.code[4:8].as_signed() if self._type == "int8" else self.code[4:8]
            m.d.comb += [ints[0].eq(self.code[0:4]), ints[1].eq(high), exps[1].eq(NIBBLE_SHIFT)]
        else:
            for j in range(LANES):
                c = self.code[4 * j:4 * j + 4]
                if self._type == "int4":
                    m.d.comb += ints[j].eq(c.as_signed())
                elif self._type == "uint4":
                    m.d.comb += ints[j].eq(c)
                else:
                    with m.Switch(c):
                        for code, (e, i) in enumerate(DECODE[self._type]):
                            with m.Case(code):
                                m.d.comb += [exps[j].eq(e), ints[j].eq(i)]
        for j in range(LANES):
            m.d.comb += [self.operand[j * W:j * W + E].eq(exps[j]),
                         self.operand[j * W + E:(j + 1) * W].eq(ints[j])]
        return m
