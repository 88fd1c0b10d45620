"""FP16 x FP16 -> FP32 multiply-accumulate PE: the tensor-core-style floating-point baseline."""

from amaranth.hdl import Cat, Module, Mux, Signal

from .fp32_add import (FP32_EXP_BITS, FP32_FRAC_BITS, FP32_WIDTH, SIG32_BITS, WIDE_EXP_BITS,
                       fp32_add_rne, leading_zeros)
from .pe import ProcessingElement

FP16_EXP_BITS, FP16_FRAC_BITS = 5, 10
FP16_MAX_CODE_EXP = (1 << FP16_EXP_BITS) - 2     # 30: the largest finite exponent field
FP16_MAX_NORMAL = 65504.0
SIG_BITS = FP16_FRAC_BITS + 1                    # 11-bit significand, hidden bit included
PRODUCT_BITS = 2 * SIG_BITS                      # 22: the exact significand product
ACC_WIDTH = FP32_WIDTH
# biased FP32 exponent of a normalised product: value = P * 2**(ea + ew - 50) with P normalised
# to 24 bits by a left shift of lz is (P << lz) * 2**(E - 150), so E = ea + ew + 100 - lz
PRODUCT_EXP_OFFSET = (127 + FP32_FRAC_BITS) - 2 * (15 + FP16_FRAC_BITS)


class Fp16PE(ProcessingElement):
    """FP16 x FP16 products, exact, added to an FP32 accumulator with one round-to-nearest-even
    per step (a fused multiply-add; the arithmetic is defined step by step in
    :mod:`models.fp16_gemm`, which the tests compare bit for bit).

    * decode both FP16 codes (subnormals: exponent 1, no hidden bit), multiply the 11-bit
      significands (22 bits, exact), normalise the product to a 24-bit FP32 significand (it is
      always an FP32 normal number);
    * add it to ``acc_in`` (any finite FP32 value, subnormals included) with
      :func:`hw.fp32_add.fp32_add_rne`: one IEEE round to nearest even, subnormal results,
      overflow to +-inf, an exact zero ``+0`` unless both addends are ``-0``.

    Codes: ``act`` and ``weight`` FP16 bit patterns (unsigned 16 bits; infinity / NaN codes are
    not valid operands). ``acc_in`` / ``acc_out`` FP32 bit patterns (32 bits); the words are not
    integers, so the PE runs output-stationary only (``integer_accumulator`` False).

    Timing contract: ``k_per_step`` 1, initiation interval 1, latency 1 (``acc_out`` registered,
    the whole multiply-add is one combinational step). Synchronous reset clears ``acc_out``
    (``+0``).

    Parameters
    ----------
    None: the formats are fixed (FP16 operands, FP32 accumulator).
    """

    integer_accumulator = False

    act_width = property(lambda self: 16)
    weight_width = property(lambda self: 16)
    act_signed = property(lambda self: False)       # FP16 bit patterns
    weight_signed = property(lambda self: False)
    acc_width = property(lambda self: ACC_WIDTH)
    k_per_step = property(lambda self: 1)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: 1)

    def _decode(self, m, x, name):
        ef = x[FP16_FRAC_BITS:FP16_FRAC_BITS + FP16_EXP_BITS]
        normal = Signal(name=f"{name}_normal")
        e = Signal(FP16_EXP_BITS, name=f"{name}_e")
        m.d.comb += [normal.eq(ef != 0), e.eq(Mux(normal, ef, 1))]
        return x[15], e, Cat(x[:FP16_FRAC_BITS], normal)

    def _product(self, m, weight):
        """The exact product of ``act`` and the FP16 ``weight`` as FP32 fields: (sign, 31-bit
        magnitude code)."""
        sa, ea, ma = self._decode(m, self.act, "a")
        sw, ew, mw = self._decode(m, weight, "w")
        prod = Signal(PRODUCT_BITS)
        esum = Signal(FP16_EXP_BITS + 1)
        m.d.comb += [prod.eq(ma * mw), esum.eq(ea + ew)]
        # 24-bit frame: value = P * 2**(esum - 50) = (P << lz) * 2**(E - 150)
        lz = leading_zeros(m, prod, SIG32_BITS, "prod_lz")
        norm = Signal(SIG32_BITS)
        m.d.comb += norm.eq((prod << lz)[:SIG32_BITS])
        exp = Signal(WIDE_EXP_BITS)
        m.d.comb += exp.eq(esum + PRODUCT_EXP_OFFSET - lz)
        code = Signal(ACC_WIDTH - 1)
        # a zero product (P == 0) is the zero code; otherwise a normal number (77 <= E <= 160)
        m.d.comb += code.eq(Mux(prod != 0, Cat(norm[:FP32_FRAC_BITS], exp[:FP32_EXP_BITS]), 0))
        return sa ^ sw, code

    def elaborate(self, platform):
        m = Module()
        result = self._fma(m, self.weight)
        with m.If(self.valid):
            m.d.sync += self.acc_out.eq(result)
        return m

    def _fma(self, m, weight):
        """The FP32 word ``acc_in + act * weight`` (``weight`` an FP16 pattern), rounded once,
        combinational (the whole datapath of the module docstring); kinds that derive the FP16
        weight from a code (:class:`hw.pe_gobo.GoboPE`) call it with their own weight."""
        p_sign, p_code = self._product(m, weight)
        return fp32_add_rne(m, self.acc_in, Cat(p_code, p_sign), "acc")
