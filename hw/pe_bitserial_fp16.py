"""BitMoD bit-serial PE, FP16-activation mode: 4 FP16 activations x one weight term each per cycle,
exponent match, 3 guard bits with truncation, an adder tree and a float-like accumulator."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed

from .bitserial_terms import SHIFT_BITS, TERM_WIDTH, TermEncoder, TermSteps, weight_format as lookup_format
from .pe import ProcessingElement

VEC = 4
FP16_MAN_BITS, FP16_EXP_BITS = 10, 5
GUARD = 3
ACC_MAN_BITS = 16
ACC_EXP_BITS = 7
PRODUCT_EXP_BITS = 6        # e (1..30) + shift (0..7)
ALIGNED_BITS = 11 + GUARD   # 14-bit magnitudes after alignment
DOT_BITS = ALIGNED_BITS + 3  # signed sum of 4
SAT_SHIFT_BITS = 5          # accumulator alignment shifts saturate at 16 / 17 < 2**5
NORM_SHIFT_BITS = 2         # the normalising right shift, 0..2


class BitSerialFp16PE(ProcessingElement):
    """A 4-way dot product of FP16 activations with one term of each of 4 weights per cycle
    (spec section 2, the FP16-activation mode of the BitMoD RTL); the arithmetic is defined step
    by step in :mod:`models.bitserial_fp16`, which the tests compare bit for bit:

    * per lane: decode the FP16 activation (subnormals included), exponent ``e + shift`` of its
      product with the weight term, the lane's maximum ``E`` over the present terms, the 11-bit
      mantissa with 3 guard bits shifted right by ``E - v`` (bits shifted out are dropped), negated
      by ``sign ^ neg``; an adder tree sums the 4 lanes (17 bits);
    * the accumulator ``acc_out = F | X << 16`` (value ``F * 2**(X - 28)``, F signed 16 bits, X 7
      bits): align both to ``max(X, E)`` by arithmetic right shifts (floor), add, and shift right
      by 0..2 so F fits 16 bits. No multiplier: shifts, compares and adds only.

    Codes: ``act`` 4 FP16 bit patterns (element j at bits [16j, 16j+16); infinities / NaNs are not
    valid inputs); weights as :mod:`hw.bitserial_terms` (``weight_format``), 4 elements per lane,
    encoded into terms by the column's :class:`~hw.bitserial_terms.TermEncoder` (the border unit).

    Timing contract: ``k_per_step`` 4, initiation interval = latency = ``terms`` of the format;
    ``acc_out`` accumulates in place (partial values between ``valid`` and ``valid + latency``, as
    :class:`hw.pe_bitserial.BitSerialPE`). ``acc_width`` is 23 (the accumulator word). The
    accumulator is not an integer: an output must be summed in one PE, so the PE runs
    output-stationary only (``integer_accumulator`` False; the accelerator rejects ``ws``).
    Synchronous reset clears ``acc_out``.

    Parameters
    ----------
    weight_format : str, keyword-only
        A BitMoD weight format of :mod:`hw.bitserial_terms` (default "mixed4").
    """

    integer_accumulator = False

    def __init__(self, *, weight_format="mixed4"):
        self._format = lookup_format(weight_format)
        super().__init__()

    weight_format = property(lambda self: self._format.name)
    terms = property(lambda self: self._format.terms)
    group_size = property(lambda self: None)
    act_width = property(lambda self: VEC * 16)
    weight_width = property(lambda self: VEC * self._format.terms * TERM_WIDTH)
    weight_code_width = property(lambda self: VEC * self._format.code_bits)
    act_signed = property(lambda self: False)       # FP16 bit patterns
    weight_signed = property(lambda self: self._format.signed_codes)
    acc_width = property(lambda self: ACC_MAN_BITS + ACC_EXP_BITS)
    k_per_step = property(lambda self: VEC)
    initiation_interval = property(lambda self: self._format.terms)
    latency = property(lambda self: self._format.terms)
    macs_per_step = property(lambda self: VEC)
    multiplier_free = True

    def weight_border(self):
        return TermEncoder(weight_format=self._format.name, elements=VEC)

    def elaborate(self, platform):
        m = Module()
        T = self._format.terms
        steps = TermSteps(m, self.valid, T)

        lanes = []
        for i in range(VEC):
            x = self.act[16 * i:16 * (i + 1)]
            ef, f, s = x[FP16_MAN_BITS:FP16_MAN_BITS + FP16_EXP_BITS], x[:FP16_MAN_BITS], x[15]
            e = Mux(ef == 0, 1, ef)
            man = Cat(f, ef != 0)                    # hidden bit 0 for subnormals
            term = steps.select(self.weight[i * T * TERM_WIDTH:(i + 1) * T * TERM_WIDTH], f"term_{i}")
            present = Signal(name=f"present_{i}")
            v = Signal(PRODUCT_EXP_BITS, name=f"v_{i}")
            m.d.comb += [present.eq(term[0] & (man != 0)),
                         v.eq(Mux(present, e + term[2:2 + SHIFT_BITS], 0))]
            lanes.append((present, v, man, s ^ term[1]))

        # exponent match: the largest product exponent (a tree of compares, as the RTL's)
        def larger(a, b):
            return Mux(a > b, a, b)
        top = Signal(PRODUCT_EXP_BITS)
        m.d.comb += top.eq(larger(larger(lanes[0][1], lanes[1][1]), larger(lanes[2][1], lanes[3][1])))

        dot = 0
        for i, (present, v, man, negative) in enumerate(lanes):
            delta = Signal(PRODUCT_EXP_BITS, name=f"delta_{i}")
            m.d.comb += delta.eq(top - v)
            aligned = Signal(ALIGNED_BITS, name=f"aligned_{i}")
            # 3 guard bits; a right shift drops what falls off (truncation)
            m.d.comb += aligned.eq(Mux(present, (man << GUARD) >> delta, 0))
            dot = dot + Mux(negative, -aligned, aligned)
        dot_s = Signal(signed(DOT_BITS))
        m.d.comb += dot_s.eq(dot)

        # float-like accumulator: the step's first cycle starts from acc_in, later ones from acc_out
        base = steps.base(self.acc_in, self.acc_out)
        f_in = base[:ACC_MAN_BITS].as_signed()
        x_in = base[ACC_MAN_BITS:ACC_MAN_BITS + ACC_EXP_BITS]
        big = Signal(ACC_EXP_BITS)
        m.d.comb += big.eq(larger(x_in, top))
        sh_acc, sh_dot = Signal(ACC_EXP_BITS), Signal(ACC_EXP_BITS)
        m.d.comb += [sh_acc.eq(big - x_in), sh_dot.eq(big - top)]
        # arithmetic shifts by up to 127: saturate the amount at the operand width (floor)
        f_al = Signal(signed(ACC_MAN_BITS))
        d_al = Signal(signed(DOT_BITS))
        m.d.comb += [f_al.eq(f_in >> Mux(sh_acc > ACC_MAN_BITS, ACC_MAN_BITS, sh_acc[:SAT_SHIFT_BITS])),
                     d_al.eq(dot_s >> Mux(sh_dot > DOT_BITS, DOT_BITS, sh_dot[:SAT_SHIFT_BITS]))]
        total = Signal(signed(DOT_BITS + 1))
        m.d.comb += total.eq(f_al + d_al)
        lim = 1 << (ACC_MAN_BITS - 1)
        fits0 = (total >= -lim) & (total < lim)
        fits1 = ((total >> 1) >= -lim) & ((total >> 1) < lim)
        norm = Signal(NORM_SHIFT_BITS)
        m.d.comb += norm.eq(Mux(fits0, 0, Mux(fits1, 1, 2)))
        new_f = Signal(signed(ACC_MAN_BITS))
        new_x = Signal(ACC_EXP_BITS)
        m.d.comb += [new_f.eq(total >> norm), new_x.eq(big + norm)]
        summed = Cat(new_f, new_x)

        steps.accumulate(self.acc_out, summed)
        return m
