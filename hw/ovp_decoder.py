"""OliVe outlier-victim-pair (OVP) decoder: one stored pair -> two exponent-integer operands.

Placed on the array border (one per row input, one per column input; the spec's n + m decoders for
an n x m array), combinational, shared by every PE of its row or column.

Stored pair (``code``, In(2N), N = element bits, 4 or 8): left element (K index 2k) in bits
[0, N), right element (2k + 1) in bits [N, 2N) -- the byte (4-bit) or 16-bit word (8-bit) of
:func:`models.quant.ovp_format.encode_pairs`. Per element, with ``victim = 1 << (N - 1)`` (``1000``):

* the element equals ``victim``                     -> victim  <0, 0>
* else its PARTNER equals ``victim``                -> outlier (abfloat ``s e1 e0 m``)
  <e + bias, +-(2**M + m)> (M = 1 mantissa bit for 4-bit, 5 for 8-bit; bias 2 (int), 3 (flint4))
* else                                              -> normal:
  int4 / int8: <0, v>, v = the two's complement code (-7..7 / -127..127);
  flint4: the code is sign + 3-bit magnitude index into {0, 1, 2, 3, 4, 6, 8, 16}; every such
  magnitude is {0, 1, 3} << k, so the decoder emits <k, +-{0, 1, 3}> (ANT's exponent-integer
  form of flint) instead of <0, +-16>: same value ``i << e``, but the integer stays 3 bits wide,
  so the PE's multiplier is 3b x 3b in flint4 mode instead of 6b x 6b.

Operand layout (``operand``, Out(2 * (E + I))): element j (0 = left) at bits
[j*(E+I), (j+1)*(E+I)); inside an element the exponent ``e`` (unsigned, E = 3 bits) is the low
field [0, E) and the integer ``i`` (signed two's complement, I bits) the high field [E, E+I).
Widths per mode (:data:`MODES`): int4 E=3, I=4 (e in {0, 2..5}, i in -7..7); flint4 E=3, I=3
(e in 0..6, i in -3..3); int8 E=3, I=8 (e in {0, 2..5}, i in -127..127). The element's value in
integer units is ``i << e``.
"""

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pe import OptionError


@dataclass(frozen=True)
class OvpMode:
    """Hardware view of one OVP format (the RTL's own constants; tests check them against
    :data:`models.quant.ovp_format.CONFIGS`)."""
    name: str
    bits: int           # element code bits N
    normal: str         # "int" or "flint"
    mant_bits: int      # outlier mantissa bits M
    bias: int           # outlier exponent bias
    exp_width: int      # E: operand exponent field
    int_width: int      # I: operand integer field (signed)

    @property
    def victim_code(self):
        return 1 << (self.bits - 1)

    @property
    def element_width(self):
        return self.exp_width + self.int_width

    @property
    def max_exponent(self):
        flint = 4 if self.normal == "flint" else 0   # flint normal 16 = 1 << 4
        return max(3 + self.bias, flint)

    @property
    def max_int(self):
        """Largest |i| the decoder emits."""
        normal = 3 if self.normal == "flint" else (1 << (self.bits - 1)) - 1
        return max(normal, (2 << self.mant_bits) - 1)


MODES = {
    "int4": OvpMode("int4", 4, "int", 1, 2, 3, 4),
    "flint4": OvpMode("flint4", 4, "flint", 1, 3, 3, 3),
    "int8": OvpMode("int8", 8, "int", 5, 2, 3, 8),
}

# flint4 magnitude index -> (exponent k, integer base) with magnitude = base << k
FLINT4_DECODE = ((0, 0), (0, 1), (1, 1), (0, 3), (2, 1), (1, 3), (3, 1), (4, 1))
FLINT_BASE_BITS = 2       # the integer bases 0, 1, 3


def get_mode(mode):
    try:
        return MODES[mode]
    except (KeyError, TypeError):
        raise OptionError(f"mode must be one of {', '.join(MODES)}, not {mode!r}") from None


class OvpPairDecoder(wiring.Component):
    """Combinational OVP pair decoder (see the module docstring for the code and operand layout).

    Ports: ``code`` In(2N) one stored pair; ``operand`` Out(2 * (E + I)) two <e, i> operands.

    Parameters: ``mode`` (keyword-only) one of :data:`MODES`: "int4" (default), "flint4", "int8".
    """

    def __init__(self, *, mode="int4"):
        self._mode = get_mode(mode)
        fmt = self._mode
        super().__init__({"code": In(2 * fmt.bits), "operand": Out(2 * fmt.element_width)})

    mode = property(lambda self: self._mode)

    def elaborate(self, platform):
        m = Module()
        fmt = self._mode
        N, M, E, I = fmt.bits, fmt.mant_bits, fmt.exp_width, fmt.int_width
        codes = [self.code[:N], self.code[N:]]
        is_victim = [Signal(name=f"victim{j}") for j in (0, 1)]
        for j in (0, 1):
            m.d.comb += is_victim[j].eq(codes[j] == fmt.victim_code)
        for j in (0, 1):
            c = codes[j]
            sign = c[N - 1]
            exp = Signal(E, name=f"exp{j}")
            val = Signal(signed(I), name=f"int{j}")
            is_outlier = Signal(name=f"outlier{j}")
            m.d.comb += is_outlier.eq(is_victim[1 - j] & ~is_victim[j])

            # outlier: <e + bias, +-(2**M + m)>
            out_mag = Signal(M + 2, name=f"out_mag{j}")
            m.d.comb += out_mag.eq((1 << M) | c[:M])
            # normal: int -> <0, v>; flint -> <k, +-base> via the magnitude index
            norm_exp = Signal(E, name=f"norm_exp{j}")
            norm_val = Signal(signed(I), name=f"norm_int{j}")
            if fmt.normal == "int":
                m.d.comb += [norm_exp.eq(0), norm_val.eq(c.as_signed())]
            else:
                base = Signal(FLINT_BASE_BITS, name=f"flint_base{j}")
                with m.Switch(c[:N - 1]):
                    for idx, (k, b) in enumerate(FLINT4_DECODE):
                        with m.Case(idx):
                            m.d.comb += [norm_exp.eq(k), base.eq(b)]
                m.d.comb += norm_val.eq(Mux(sign, -base, base))

            with m.If(is_victim[j]):
                m.d.comb += [exp.eq(0), val.eq(0)]
            with m.Elif(is_outlier):
                m.d.comb += [exp.eq(c[M:M + 2] + fmt.bias),
                             val.eq(Mux(sign, -out_mag, out_mag))]
            with m.Else():
                m.d.comb += [exp.eq(norm_exp), val.eq(norm_val)]
            w = fmt.element_width
            m.d.comb += [self.operand[j * w:j * w + E].eq(exp),
                         self.operand[j * w + E:(j + 1) * w].eq(val)]
        return m
