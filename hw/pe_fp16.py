"""FP16 x FP16 -> FP32 multiply-accumulate PE: the tensor-core-style floating-point baseline."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal

from .pe import ProcessingElement

FP16_EXP_BITS, FP16_FRAC_BITS = 5, 10
FP16_MAX_CODE_EXP = (1 << FP16_EXP_BITS) - 2     # 30: the largest finite exponent field
FP16_MAX_NORMAL = 65504.0
SIG_BITS = FP16_FRAC_BITS + 1                    # 11-bit significand, hidden bit included
PRODUCT_BITS = 2 * SIG_BITS                      # 22: the exact significand product
FP32_EXP_BITS, FP32_FRAC_BITS = 8, 23
SIG32_BITS = FP32_FRAC_BITS + 1                  # 24
ACC_WIDTH = 1 + FP32_EXP_BITS + FP32_FRAC_BITS   # 32: the FP32 word
FP32_MAX_EXP = (1 << FP32_EXP_BITS) - 1          # 255: infinity's exponent field
GRS = 3                                          # guard, round and sticky bits of the adder
ADD_FRAME = SIG32_BITS + GRS                     # 27: aligned significands, hidden bit at 26
FRAME_SHIFT_BITS = 5                             # shift amounts 0..27
EXP_DIFF_BITS = FP32_EXP_BITS + 1                # exponent difference, 0..253
WIDE_EXP_BITS = FP32_EXP_BITS + 2                # exponents before range checks
# biased FP32 exponent of a normalised product: value = P * 2**(ea + ew - 50) with P normalised
# to 24 bits by a left shift of lz is (P << lz) * 2**(E - 150), so E = ea + ew + 100 - lz
PRODUCT_EXP_OFFSET = (127 + FP32_FRAC_BITS) - 2 * (15 + FP16_FRAC_BITS)


def _leading_zeros(m, value, width, name):
    """Leading zeros of ``value`` in a ``width``-bit frame (``width`` when it is zero; a
    narrower value is zero-extended), as a priority select: the highest set bit wins."""
    lz = Signal(range(width + 1), name=name)
    expr = Const(width, lz.shape())
    for i in range(min(width, len(value))):          # later (higher) bits override: the highest set bit decides
        expr = Mux(value[i], width - 1 - i, expr)
    m.d.comb += lz.eq(expr)
    return lz


class Fp16PE(ProcessingElement):
    """FP16 x FP16 products, exact, added to an FP32 accumulator with one round-to-nearest-even
    per step (a fused multiply-add; the arithmetic is defined step by step in
    :mod:`models.fp16_gemm`, which the tests compare bit for bit).

    * decode both FP16 codes (subnormals: exponent 1, no hidden bit), multiply the 11-bit
      significands (22 bits, exact), normalise the product to a 24-bit FP32 significand (it is
      always an FP32 normal number);
    * add it to ``acc_in`` (any finite FP32 value, subnormals included): order the two by
      magnitude (the 31-bit codes compare as magnitudes), align the smaller in a 27-bit frame
      (guard, round, sticky), add or subtract, normalise (one right shift on carry, a
      leading-zero left shift bounded by the exponent: subnormal results), round to nearest even
      by incrementing the 31-bit word (a mantissa carry moves into the exponent), overflow to
      +-inf, an exact zero is ``+0`` unless both addends are ``-0``.

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
        lz = _leading_zeros(m, prod, SIG32_BITS, "prod_lz")
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
        a_sign, a_code = self.acc_in[ACC_WIDTH - 1], self.acc_in[:ACC_WIDTH - 1]

        # order by magnitude: finite FP32 codes without the sign compare as their magnitudes
        swap = Signal()
        m.d.comb += swap.eq(p_code > a_code)
        big, small = Signal(ACC_WIDTH - 1), Signal(ACC_WIDTH - 1)
        big_s, small_s = Signal(), Signal()
        m.d.comb += [big.eq(Mux(swap, p_code, a_code)), small.eq(Mux(swap, a_code, p_code)),
                     big_s.eq(Mux(swap, p_sign, a_sign)), small_s.eq(Mux(swap, a_sign, p_sign))]

        def fields(code):
            ef = code[FP32_FRAC_BITS:]
            return Mux(ef == 0, 1, ef), Cat(code[:FP32_FRAC_BITS], ef != 0)

        e_big, m_big = fields(big)
        e_small, m_small = fields(small)
        diff = Signal(EXP_DIFF_BITS)
        m.d.comb += diff.eq(e_big - e_small)
        dsat = Signal(FRAME_SHIFT_BITS)
        m.d.comb += dsat.eq(Mux(diff > ADD_FRAME, ADD_FRAME, diff))
        framed = Signal(ADD_FRAME)
        m.d.comb += framed.eq(m_small << GRS)
        aligned = Signal(ADD_FRAME)
        m.d.comb += aligned.eq(framed >> dsat)
        sticky = Signal()
        m.d.comb += sticky.eq((aligned << dsat)[:ADD_FRAME] != framed)
        total = Signal(ADD_FRAME + 1)
        a_frame = Cat(Const(0, GRS), m_big)
        b_frame = aligned | sticky
        m.d.comb += total.eq(Mux(big_s == small_s, a_frame + b_frame, a_frame - b_frame))

        # normalise: a carry shifts right once (the dropped bit joins the sticky), otherwise
        # shift left to the hidden position, but not below exponent 1 (a subnormal result)
        lz = _leading_zeros(m, total, ADD_FRAME, "sum_lz")
        left = Signal(FRAME_SHIFT_BITS)
        m.d.comb += left.eq(Mux(lz < e_big, lz, e_big - 1))
        frame = Signal(ADD_FRAME)
        exp = Signal(WIDE_EXP_BITS)
        with m.If(total[ADD_FRAME]):
            m.d.comb += [frame.eq(Cat(total[1] | total[0], total[2:ADD_FRAME + 1])),
                         exp.eq(e_big + 1)]
        with m.Else():
            m.d.comb += [frame.eq((total << left)[:ADD_FRAME]), exp.eq(e_big - left)]
        hidden = frame[ADD_FRAME - 1]
        kept = frame[GRS:]
        guard, rest = frame[GRS - 1], frame[:GRS - 1] != 0
        round_up = guard & (rest | kept[0])
        # exponent field 0 for a subnormal result; the RNE increment of the whole word carries a
        # full mantissa into the exponent (and the largest finite number into infinity)
        word = Signal(ACC_WIDTH - 1)
        m.d.comb += word.eq(Cat(kept[:FP32_FRAC_BITS], Mux(hidden, exp[:FP32_EXP_BITS], 0)) + round_up)
        magnitude = Signal(ACC_WIDTH - 1)
        m.d.comb += magnitude.eq(Mux(exp >= FP32_MAX_EXP, FP32_MAX_EXP << FP32_FRAC_BITS, word))
        zero = total == 0
        sign = Mux(zero, big_s & small_s, big_s)
        result = Signal(ACC_WIDTH)
        m.d.comb += result.eq(Cat(Mux(zero, 0, magnitude), sign))
        return result
