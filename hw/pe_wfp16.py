"""Weight-only PE with FP16 activations (W4A16 / W8A16 / OVP4A16): FP16 activation x integer or
OliVe outlier-victim-pair weight, the exact product summed in a fixed-point accumulator."""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed

from .ovp_decoder import MODES as OVP_MODES, OvpPairDecoder
from .pe import OptionError, ProcessingElement, check_positive_int
from .scale_dequant import BitSerialScaleDequant, digit_bits_for

FP16_EXP_BITS, FP16_FRAC_BITS = 5, 10
SIG_BITS = FP16_FRAC_BITS + 1                  # 11-bit significand, hidden bit included
FP16_MAX_EXP_FIELD = (1 << FP16_EXP_BITS) - 2  # 30: the largest finite exponent field
#: one accumulator unit is 2**-ACC_FRAC: the FP16 value m * 2**(e - 25) is (m << (e - 1)) units
ACC_FRAC = 15 + FP16_FRAC_BITS - 1             # 24
#: accumulator bits above the largest product: sums of up to 2**16 products cannot wrap
GROWTH_BITS = 16


@dataclass(frozen=True)
class WeightFormat:
    """A weight format as the PE sees it: each element is an operand ``<e, i>`` of value
    ``i << e`` (code units), ``i`` signed ``int_width`` bits, ``e`` unsigned ``exp_width`` bits
    (no field for plain integers: e = 0)."""
    name: str
    code_bits: int          # element code bits in the buffer
    int_width: int          # I
    exp_width: int          # E (0: plain two's-complement integers)
    max_exponent: int       # largest e
    max_int: int            # largest |i|
    ovp_mode: str = None    # the OliVe decoder mode on the column border, or None (codes are operands)

    @property
    def elements(self):
        """K elements per step: OVP codes come in pairs (one stored byte), integers one by one."""
        return 2 if self.ovp_mode else 1

    @property
    def element_width(self):
        return self.exp_width + self.int_width


def _ovp_format(name, mode):
    fmt = OVP_MODES[mode]
    return WeightFormat(name, fmt.bits, fmt.int_width, fmt.exp_width, fmt.max_exponent, fmt.max_int, mode)


WEIGHT_FORMATS = {
    "int4": WeightFormat("int4", 4, 4, 0, 0, 8),
    "int8": WeightFormat("int8", 8, 8, 0, 0, 128),
    "ovp4": _ovp_format("ovp4", "int4"),
}


def lookup_weight_format(name):
    try:
        return WEIGHT_FORMATS[name]
    except (KeyError, TypeError):
        raise OptionError(f"weight_format must be one of {', '.join(WEIGHT_FORMATS)}, "
                          f"not {name!r}") from None


class Wfp16PE(ProcessingElement):
    """FP16 activations x weight operands ``<e, i>``, products exact, summed exactly in a
    two's-complement fixed-point (Kulisch-style) accumulator; the arithmetic is defined step by
    step in :mod:`models.wfp16_gemm`, which the tests compare bit for bit. Per element ``j`` of
    a step:

    * decode the FP16 activation: sign ``s``, ``e_a = max(ef, 1)``, significand
      ``m = f | (ef != 0) << 10`` (subnormals: no hidden bit);
    * one 11-bit unsigned x ``I``-bit signed multiply ``m * i`` (exact), negated when ``s``;
    * shift left by ``e_a - 1 + e_w`` (``0..29 + max_exponent``): the product in units of
      ``2**-24`` (``ACC_FRAC``), below ``2**product_bits`` in magnitude;
    * ``acc_out = acc_in + sum_j term_j`` wrapped to ``acc_width`` = product_bits + 1 + 16.

    Nothing is rounded: the accumulator is the exact dot product (for K <= 2**16), so partial sums
    of different PEs add as integers and both dataflows are bit-exact. The weight scale is applied
    after the array: per output channel on the host, or per group by the accelerator's post-array
    unit (``group_size``; ``models.wfp16_gemm``).

    Codes and operands: ``act`` is ``k_per_step`` FP16 bit patterns (element j at bits
    [16j, 16j+16); infinity / NaN codes are not valid operands: the quantiser and the golden
    model refuse them). Weights by ``weight_format``: "int4" / "int8" codes are the operand itself
    (signed two's complement, one element per step, no border unit); "ovp4" stores OliVe int4
    outlier-victim pairs (unsigned nibbles, two elements per step, one byte per pair) and each
    column's :class:`~hw.ovp_decoder.OvpPairDecoder` turns a pair into two ``<e, i>`` operands
    (``e`` 3 bits at [0, 3), ``i`` 4 bits signed at [3, 7) of each 7-bit element).
    ``acc_in`` / ``acc_out`` signed two's complement, ``acc_width`` bits, value ``acc * 2**-24``.

    Timing contract: initiation interval 1, latency 1 (``acc_out`` registered), ``k_per_step`` 1
    (int4, int8) or 2 (ovp4), one MAC per element. Synchronous reset clears ``acc_out``.

    Parameters
    ----------
    weight_format : str, keyword-only
        "int4" (default), "int8" or "ovp4".
    group_size : int >= 1 or None, keyword-only
        None (default): one weight scale per output channel, applied on the host. An integer (int4
        / int8 only): the K elements one per-group scale covers, read by
        :class:`hw.accelerator.Accelerator`, which then adds the per-group dequantisation after
        the array (weight-stationary only): each group's exact partial sums times the group's
        8-bit scale code (BitMoD's second-level INT8 group scale), summed over the groups, by
        :class:`hw.scale_dequant.BitSerialScaleDequant` (a whole code per cycle: II 1). A
        multiple of the K elements one fold maps.
    """

    def __init__(self, *, weight_format="int4", group_size=None):
        self._format = lookup_weight_format(weight_format)
        self._group_size = None if group_size is None else check_positive_int("group_size", group_size)
        if self._group_size is not None and self._format.ovp_mode is not None:
            raise OptionError(f"group_size {group_size!r} needs an int4 or int8 weight_format: OliVe's "
                              f"OVP weights carry one scale per output channel (group_size None)")
        super().__init__()

    weight_format = property(lambda self: self._format.name)
    group_size = property(lambda self: self._group_size)
    format = property(lambda self: self._format)
    act_width = property(lambda self: 16 * self._format.elements)
    weight_width = property(lambda self: self._format.elements * self._format.element_width)
    act_code_width = property(lambda self: 16 * self._format.elements)
    weight_code_width = property(lambda self: self._format.elements * self._format.code_bits)
    act_signed = property(lambda self: False)       # FP16 bit patterns
    weight_signed = property(lambda self: self._format.ovp_mode is None)
    k_per_step = property(lambda self: self._format.elements)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: self._format.elements)

    @property
    def shift_max(self):
        """Largest product shift: ``e_a - 1`` up to 29, plus the weight exponent."""
        return FP16_MAX_EXP_FIELD - 1 + self._format.max_exponent

    @property
    def mult_bits(self):
        """Bits of the signed significand product ``m * i`` (its magnitude, plus a sign)."""
        return (((1 << SIG_BITS) - 1) * self._format.max_int).bit_length() + 1

    @property
    def product_bits(self):
        """Magnitude bits of the largest aligned product (``|m * i| << shift_max``)."""
        return self.mult_bits - 1 + self.shift_max

    @property
    def acc_width(self):
        return self.product_bits + 1 + GROWTH_BITS

    def post_array_unit(self, cols):
        """The per-group scale unit after a ``cols``-column array (None without groups)."""
        if self._group_size is None:
            return None
        # a whole 8-bit code per cycle: the array may deliver a group's words every cycle (II 1)
        return BitSerialScaleDequant(cols=cols, acc_width=self.acc_width,
                                     digit_bits=digit_bits_for(self.initiation_interval))

    def weight_border(self):
        if self._format.ovp_mode is None:
            return None
        return OvpPairDecoder(mode=self._format.ovp_mode)

    def elaborate(self, platform):
        m = Module()
        fmt = self._format
        E, W = fmt.exp_width, fmt.element_width
        shift_bits = self.shift_max.bit_length()
        terms = []
        for j in range(fmt.elements):
            x = self.act[16 * j:16 * (j + 1)]
            ef = x[FP16_FRAC_BITS:FP16_FRAC_BITS + FP16_EXP_BITS]
            normal = Signal(name=f"normal{j}")
            e_a = Signal(FP16_EXP_BITS, name=f"e_a{j}")
            m.d.comb += [normal.eq(ef != 0), e_a.eq(Mux(normal, ef, 1))]
            man = Cat(x[:FP16_FRAC_BITS], normal, Const(0, 1)).as_signed()   # 12-bit, >= 0
            w = self.weight[j * W:(j + 1) * W]
            e_w = w[:E] if E else Const(0, 1)
            i = w[E:].as_signed()
            product = Signal(signed(self.mult_bits), name=f"product{j}")
            m.d.comb += product.eq(man * i)                  # exact: the one multiplier per element
            signed_product = Signal(signed(self.mult_bits + 1), name=f"signed_product{j}")
            m.d.comb += signed_product.eq(Mux(x[15], -product, product))
            shift = Signal(shift_bits, name=f"shift{j}")
            m.d.comb += shift.eq(e_a - 1 + e_w)               # e_a >= 1: never negative
            term = Signal(signed(self.product_bits + 1), name=f"term{j}")
            m.d.comb += term.eq(signed_product << shift)
            terms.append(term)
        step = Signal(signed(self.product_bits + len(terms)))
        m.d.comb += step.eq(sum(terms[1:], terms[0]))
        with m.If(self.valid):
            # Assigning the wider sum to acc_out truncates: the documented modulo-2**acc_width wrap.
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + step)
        return m
