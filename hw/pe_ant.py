"""ANT PE: exponent-integer MAC on decoded int / flint / PoT operands, four 4-bit products per
step, fused 2 x 2 into one 8b x 8b product in the 8-bit mode."""

from amaranth.hdl import Module, Signal, signed

from .ant_decoder import (EXP_WIDTH, ELEMENT_WIDTH, FUSED, INT_WIDTH, LANES, AntDecoder, check_type,
                          code_bits)
from .pe import OptionError, ProcessingElement, check_positive_int

SHIFT_WIDTH = EXP_WIDTH + 1                     # the sum of two exponents, 0..28
PRODUCT_WIDTH = 2 * INT_WIDTH                   # signed INT_WIDTH x INT_WIDTH
MAX_SHIFT = 2 * ((1 << EXP_WIDTH) - 2)          # 28: upot4 x upot4 (e <= 14 each)
TERM_WIDTH = PRODUCT_WIDTH + MAX_SHIFT          # one shifted product, signed


class AntPE(ProcessingElement):
    """``acc_out = acc_in + sum_p (i_a * i_w) << (e_a + e_w)`` over four multiplier pairs p.

    4-bit mode (``act_type`` and ``weight_type`` 4-bit types): ``k_per_step`` 4; pair p
    multiplies activation element p with weight element p (four K elements per step, one output
    per PE: the array's contract; ANT's artifact instead maps a fused unit's four 4-bit products
    to 2 x 2 outputs -- the same MACs per cycle). 8-bit mode (both types int8 / uint8,
    ``k_per_step`` 1): the decoders split each byte into a low <0, nibble> and a high
    <4, nibble> element and pair p = 2j + l multiplies activation element j with weight element
    l: the four products of one 8b x 8b multiply (BitFusion-style fusion of the same four
    5b x 5b signed multipliers). The mode is fixed at build time (the pairing is wiring).

    Operands (``act``, ``weight``: LANES * ELEMENT_WIDTH bits, see :mod:`hw.ant_decoder`) are
    the border decoders' outputs; the buffers hold the element codes (unsigned nibbles or bytes,
    ``act_signed`` / ``weight_signed`` False): a code lane is the ``k_per_step`` codes
    concatenated. The types are the decoders' configuration: ANT picks one per tensor
    (:func:`models.ant_gemm.select_ant_types`).

    Arithmetic: four signed 5b x 5b multiplies, each shifted left by the exponent sum (<= 28),
    summed with ``acc_in``, wrapped to ``acc_width`` bits (two's complement), registered. Timing
    contract: initiation interval 1, latency 1, ``k_per_step`` MACs per step (4 or 1). Synchronous
    reset clears ``acc_out``. Integer part only: :mod:`models.ant_gemm` applies the scales.

    Parameters
    ----------
    act_type, weight_type : str, keyword-only
        One of :data:`hw.ant_decoder.TYPE_NAMES`; both 4-bit types or both 8-bit. Default "int4".
    acc_width : int, keyword-only
        Accumulator width, 24..64; default 32 (the artifact's 32-bit psums).
    """

    def __init__(self, *, act_type="int4", weight_type="int4", acc_width=32):
        self._act_type = check_type("act_type", act_type)
        self._weight_type = check_type("weight_type", weight_type)
        if (act_type in FUSED) != (weight_type in FUSED):
            raise OptionError(f"act_type and weight_type must both be 4-bit or both 8-bit "
                              f"(int8, uint8), not {act_type!r} and {weight_type!r}")
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=24, maximum=64)
        super().__init__()

    act_type = property(lambda self: self._act_type)
    weight_type = property(lambda self: self._weight_type)
    fused = property(lambda self: self._act_type in FUSED)
    act_width = property(lambda self: LANES * ELEMENT_WIDTH)
    weight_width = property(lambda self: LANES * ELEMENT_WIDTH)
    act_code_width = property(lambda self: self.k_per_step * code_bits(self._act_type))
    weight_code_width = property(lambda self: self.k_per_step * code_bits(self._weight_type))
    act_signed = property(lambda self: False)       # nibble / byte codes, not integers
    weight_signed = property(lambda self: False)
    acc_width = property(lambda self: self._acc_width)
    k_per_step = property(lambda self: 1 if self.fused else LANES)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: self.k_per_step)

    def act_border(self):
        return AntDecoder(ant_type=self._act_type)

    def weight_border(self):
        return AntDecoder(ant_type=self._weight_type)

    def pairs(self):
        """(activation element, weight element) of each multiplier."""
        if self.fused:
            return tuple((j, l) for j in (0, 1) for l in (0, 1))
        return tuple((p, p) for p in range(LANES))

    def elaborate(self, platform):
        m = Module()
        E, W = EXP_WIDTH, ELEMENT_WIDTH

        def element(operand, j):
            return operand[j * W:j * W + E], operand[j * W + E:(j + 1) * W].as_signed()

        terms = []
        for p, (j, l) in enumerate(self.pairs()):
            (a, b), (c, d) = element(self.act, j), element(self.weight, l)
            product = Signal(signed(PRODUCT_WIDTH), name=f"product{p}")
            shift = Signal(SHIFT_WIDTH, name=f"shift{p}")
            term = Signal(signed(TERM_WIDTH), name=f"term{p}")
            m.d.comb += [product.eq(b * d), shift.eq(a + c), term.eq(product << shift)]
            terms.append(term)
        step = Signal(signed(TERM_WIDTH + 2))       # four terms' sum: two more bits
        m.d.comb += step.eq(sum(terms))
        with m.If(self.valid):
            # Assigning the wider sum to acc_out truncates: the documented modulo-2**acc_width wrap.
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + step)
        return m
