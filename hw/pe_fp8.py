"""OCP FP8 x FP8 PE: exact products summed in a wide two's-complement fixed-point accumulator."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed

from .pe import ProcessingElement

#: OCP FP8 formats: (exponent bits, mantissa bits, only S.1..1.1..1 is NaN ("fn": no infinities)).
FORMATS = {"e4m3": (4, 3, True), "e5m2": (5, 2, False)}

#: Accumulator bits above the largest product: sums of up to 2**16 products cannot wrap.
GROWTH_BITS = 16


def fp8_format(name):
    """(ebits, mbits, nan_only) of an FP8 format; TypeError quoting a bad name."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise TypeError(f"format must be one of {', '.join(FORMATS)}, not {name!r}") from None


class Fp8PE(ProcessingElement):
    """FP8 x FP8 multiply (exact) accumulated exactly in a fixed-point (Kulisch-style) register.

    The arithmetic is defined step by step in :mod:`models.fp8_gemm`, which the tests compare bit
    for bit. Per step, for FP8 codes ``a`` and ``w`` of the ``format`` (E exponent, M mantissa bits):

    * decode each: sign ``s``, exponent ``e = max(ef, 1)``, mantissa ``m = f | (ef != 0) << M``
      (subnormals have no hidden bit);
    * one (M+1) x (M+1)-bit unsigned mantissa multiply ``m_a * m_w`` (4 x 4 for e4m3, 3 x 3 for
      e5m2), an exponent add ``e_a + e_w - 2`` (0..28 / 0..58), a left shift of the mantissa
      product by it (``product_bits`` = 36 / 64 bits: the product in units of the smallest product
      ``2**-frac``), negation when ``s_a ^ s_w``;
    * ``acc_out = acc_in + product`` wrapped to ``acc_width`` = product_bits + 1 + 16 (53 / 81).

    Nothing is rounded: the accumulator holds the exact dot product (for K <= 2**16; beyond, the
    modulo-``2**acc_width`` sum), so partial sums of different PEs add as integers and both
    dataflows are bit-exact. The value of ``acc_out`` is ``acc_out * 2**-frac`` (frac 18 / 32).

    Ports: ``act`` and ``weight`` are unsigned 8-bit FP8 bit patterns (NaN codes and, for e5m2,
    infinity codes are not valid inputs: the golden model and the operand checks refuse them);
    ``acc_in``/``acc_out`` are signed ``acc_width``-bit two's complement.

    Timing contract: initiation interval 1, latency 1 (``acc_out`` registered), ``k_per_step`` 1,
    one MAC per step. Synchronous reset clears ``acc_out``.

    Parameters
    ----------
    format : str, keyword-only
        "e4m3" (default) or "e5m2" (OCP OFP8 v1.0).
    """

    def __init__(self, *, format="e4m3"):
        self._format = format
        self._ebits, self._mbits, self._nan_only = fp8_format(format)
        super().__init__()

    format = property(lambda self: self._format)
    act_width = property(lambda self: 8)
    weight_width = property(lambda self: 8)
    act_signed = property(lambda self: False)       # FP8 bit patterns
    weight_signed = property(lambda self: False)
    k_per_step = property(lambda self: 1)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: 1)

    @property
    def max_efield(self):
        """Largest exponent field of a finite operand (e5m2's all-ones field is inf/NaN)."""
        return (1 << self._ebits) - (1 if self._nan_only else 2)

    @property
    def shift_max(self):
        return 2 * self.max_efield - 2

    @property
    def product_bits(self):
        """Magnitude bits of the largest aligned product."""
        return 2 * (self._mbits + 1) + self.shift_max

    @property
    def frac(self):
        """Fraction bits of the accumulator: one unit is subnormal_min ** 2."""
        bias = (1 << (self._ebits - 1)) - 1
        return 2 * (bias + self._mbits - 1)

    @property
    def acc_width(self):
        return self.product_bits + 1 + GROWTH_BITS

    def _decode(self, m, code, name):
        E, M = self._ebits, self._mbits
        ef, f = code[M:M + E], code[:M]
        normal = Signal(name=f"{name}_normal")
        e = Signal(E, name=f"{name}_e")
        man = Signal(M + 1, name=f"{name}_man")
        m.d.comb += [normal.eq(ef != 0),
                     e.eq(Mux(normal, ef, 1)),
                     man.eq(Cat(f, normal))]
        return e, man

    def _aligned_product(self, m):
        """The product's magnitude in accumulator units (``product_bits`` wide): the mantissa
        product shifted by the exponent sum. Subclasses replace only this (the multiplier)."""
        e_a, man_a = self._decode(m, self.act, "a")
        e_w, man_w = self._decode(m, self.weight, "w")
        man_p = Signal(2 * (self._mbits + 1))
        m.d.comb += man_p.eq(man_a * man_w)                  # the one mantissa multiplier
        shift = Signal(range(self.shift_max + 1))
        m.d.comb += shift.eq(e_a + e_w - 2)                  # e >= 1 on both sides: never negative
        aligned = Signal(self.product_bits)
        m.d.comb += aligned.eq(man_p << shift)
        return aligned

    def elaborate(self, platform):
        m = Module()
        aligned = self._aligned_product(m)
        product = Signal(signed(self.product_bits + 1))
        m.d.comb += product.eq(Mux(self.act[7] ^ self.weight[7], -aligned, aligned))

        with m.If(self.valid):
            # Assigning the wider sum to acc_out truncates: the documented modulo-2**acc_width wrap.
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + product)
        return m
