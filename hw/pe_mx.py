"""Microscaling (OCP MX v1.0) and NVFP4 PE: one declared sub-block of element pairs per step, a
block's dot product summed exactly in fixed point over its sub-blocks, scaled once by the two block
scales, converted to FP32 and added to an FP32 accumulator."""

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed

from .fp32_add import (FP32_EXP_BITS, FP32_FRAC_BITS, FP32_MAX_EXP, FP32_WIDTH, SIG32_BITS,
                       fp32_add_rne, leading_zeros)
from .pe import OptionError, ProcessingElement, check_positive_int

SCALE_BITS = 8                  # E8M0 (MX) and E4M3 (NVFP4) scale codes
E8M0_BIAS = 127
E4M3_SCALE_EXP_BITS, E4M3_SCALE_MAN_BITS, E4M3_SCALE_L = 4, 3, 9   # scale = m * 2**(q - 9)
FP32_BIAS = 127
FP32_MAX_FINITE = (FP32_MAX_EXP << FP32_FRAC_BITS) - 1   # 0x7F7FFFFF without the sign
CONVERT_MIN_FRAME = SIG32_BITS + 2                        # significand, guard, one sticky bit
CONVERT_EXP_BITS = 12                                     # signed biased exponents before the checks
#: The scale slots' code of a step that does not end its block: 0xFF is no valid block scale
#: (E8M0's NaN; an E4M3 block scale with the sign bit set), so it cannot be mistaken for one.
CONTINUE_CODE = (1 << SCALE_BITS) - 1
#: Element pairs per step unless the build says otherwise. Yosys (osu018, measured on this
#: project's machine) synthesises one PE of every format in 5-10 s with 8 (MXFP8 E5M2, the widest,
#: 10 s); with 16 MXFP8 takes 10-20 s but MXINT8 more than 9 minutes (Yosys merges the 16 signed
#: products into one multiply-accumulate), and a whole 32-element block took 22 minutes and
#: 8 GB (issue 15). Larger sub-blocks share the per-step FP32 conversion and adder among more
#: MACs (MXFP8 E4M3 osu018 area per MAC: 32 500 um^2 with 8, 25 100 with 16): ``sub_block`` is
#: a build option for that trade.
DEFAULT_SUB_BLOCK = 8


@dataclass(frozen=True)
class MxFormat:
    """One element format with its block: ``bits`` per element code (sign, ``ebits`` exponent,
    ``mbits`` mantissa; ``ebits`` 0 is MXINT8's two's complement integer with ``mbits`` fraction
    bits), exponent ``bias``, ``block`` elements per scale, ``scale`` "e8m0" or "e4m3", and
    ``scale_slots`` element positions of a lane that carry the 8-bit scale code."""
    name: str
    bits: int
    ebits: int
    mbits: int
    bias: int
    block: int
    scale: str

    @property
    def scale_slots(self):
        return -(-SCALE_BITS // self.bits)

    @property
    def frac_bits(self):
        """L: an element is ``integer * 2**-L`` (the smallest subnormal is ``2**-L``)."""
        return self.mbits if self.ebits == 0 else self.bias + self.mbits - 1

    @property
    def sig_bits(self):
        return self.mbits + 1

    @property
    def max_q(self):
        """The largest exponent shift ``q = max(ef, 1) - 1`` any code has (0 for integers)."""
        return 0 if self.ebits == 0 else (1 << self.ebits) - 2

    @property
    def magnitude_bits(self):
        """Bits of ``|element| * 2**L`` over every code of the field (MXINT8: -128 has 8)."""
        return self.bits if self.ebits == 0 else self.sig_bits + self.max_q

    @property
    def sum_bits(self):
        """Signed bits of an exact block dot product ``sum a_j w_j * 2**(2L)``."""
        return self.dot_bits(self.block)

    def dot_bits(self, n):
        """Signed bits of an exact dot product of ``n`` element pairs, in units of ``2**-2L``."""
        return 2 * self.magnitude_bits + (n - 1).bit_length() + 1


FORMATS = {f.name: f for f in (
    MxFormat("mxfp8-e4m3", 8, 4, 3, 7, 32, "e8m0"),
    MxFormat("mxfp8-e5m2", 8, 5, 2, 15, 32, "e8m0"),
    MxFormat("mxfp6-e2m3", 6, 2, 3, 1, 32, "e8m0"),
    MxFormat("mxfp6-e3m2", 6, 3, 2, 3, 32, "e8m0"),
    MxFormat("mxfp4", 4, 2, 1, 1, 32, "e8m0"),
    MxFormat("mxint8", 8, 0, 6, 0, 32, "e8m0"),
    MxFormat("nvfp4", 4, 2, 1, 1, 16, "e4m3"),
)}


def get_format(name):
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise OptionError(f"format must be one of {', '.join(FORMATS)}, not {name!r}") from None


def scale_terms(fmt):
    """(bits of the block's extra integer factor, the constant X0) of a format's block scaling:
    a block's value is ``T * 2**(x - X0)`` with ``T = S`` (E8M0: ``x = c_a + c_w``) or
    ``T = S * m_a * m_w`` (E4M3 scales: ``x = q_a + q_w``), S the exact dot product."""
    if fmt.scale == "e8m0":
        return 0, 2 * E8M0_BIAS + 2 * fmt.frac_bits
    return 2 * (E4M3_SCALE_MAN_BITS + 1), 2 * E4M3_SCALE_L + 2 * fmt.frac_bits


class MxPE(ProcessingElement):
    """A block-scaled dot product, one sub-block of ``sub_block`` element pairs per step (the
    arithmetic is defined step by step in :mod:`models.mx_gemm`, which the tests compare bit for
    bit). A block of ``block`` elements takes ``steps_per_block`` steps:

    * the lane holds ``sub_block`` element codes and, in the next ``scale_slots`` element
      positions, an 8-bit code (low bits first): the block's scale code in the step that ends the
      block, :data:`CONTINUE_CODE` (0xFF) in the steps before it. The activation lane's code
      decides (the weight lane carries the same pattern; the golden model refuses operands where
      they differ), so the array needs nothing besides the lanes;
    * per element pair: decode (floats: significand with the hidden bit, exponent shift
      ``q = max(ef, 1) - 1``, subnormals included; MXINT8: the two's complement integer), the
      significand product (a multiplier) shifted left by ``q_a + q_w``, negated by the signs:
      the exact product in units of ``2**-2L``; the sub-block's exact sum (a balanced adder tree);
    * the exact running block sum ``S``: the sub-block sum plus the ``partial`` register
      (``sum_bits`` signed bits, the width of a whole block's sum: no rounding, any order). A
      continuing step stores it in ``partial`` and passes ``acc_in`` to ``acc_out`` unchanged;
    * a block-ending step clears ``partial`` and applies the block scale once: E8M0 codes add
      their exponents (``x = c_a + c_w``); NVFP4's E4M3 scales multiply their significands into
      ``T = S * m_a * m_w`` and add their exponents; the block's value ``T * 2**(x - X0)`` is
      rounded to FP32 (nearest even, subnormals, values beyond FP32 saturate to +-max finite, an
      exact zero is +0); then the FP32 addition of :func:`hw.fp32_add.fp32_add_rne` (one more
      rounding); an infinite ``acc_in`` (only an FP32 overflow of the sum can make one) passes
      through unchanged.

    A block may end after fewer than ``steps_per_block`` steps (never more: ``partial`` holds one
    block's sum). A dot product must end its last block (the golden model's operand check refuses
    it otherwise), or ``partial`` would carry into the PE's next output.

    Codes: every lane position is an unsigned ``bits``-bit code (element bit patterns, MXINT8's
    two's complement bits, the 8-bit scale code's pieces). ``acc_in`` / ``acc_out`` are FP32
    words; the accumulator is not an integer, so the PE runs output-stationary only
    (``integer_accumulator`` False).

    Timing contract: ``k_per_step`` = ``sub_block + scale_slots`` lane positions,
    ``macs_per_step`` = ``sub_block``, initiation interval 1, latency 1 (``acc_out`` and
    ``partial`` registered, the step is one combinational path). Synchronous reset clears
    ``acc_out`` (``+0``) and ``partial``.

    Parameters
    ----------
    format : str, keyword-only
        One of :data:`FORMATS`: mxfp8-e4m3 (default), mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4,
        mxint8 (block 32, E8M0 scales) or nvfp4 (block 16, E4M3 scales; the per-tensor FP32
        scale is applied on the host).
    sub_block : int, keyword-only
        Element pairs per step, a power of two dividing the block (default
        :data:`DEFAULT_SUB_BLOCK`): the multipliers and adder tree scale with it, the scaling,
        FP32 conversion and adder do not.
    """

    integer_accumulator = False

    def __init__(self, *, format="mxfp8-e4m3", sub_block=DEFAULT_SUB_BLOCK):
        self._fmt = get_format(format)
        check_positive_int("sub_block", sub_block, maximum=self._fmt.block)
        if self._fmt.block % sub_block:
            raise OptionError(f"sub_block must divide the {self._fmt.name} block of "
                              f"{self._fmt.block}, not {sub_block!r}")
        self._sub_block = sub_block
        super().__init__()

    format = property(lambda self: self._fmt.name)
    mx_format = property(lambda self: self._fmt)
    block = property(lambda self: self._fmt.block)
    sub_block = property(lambda self: self._sub_block)
    steps_per_block = property(lambda self: self._fmt.block // self._sub_block)
    scale_slots = property(lambda self: self._fmt.scale_slots)
    #: signed bits of one step's exact sub-block sum
    sub_sum_bits = property(lambda self: self._fmt.dot_bits(self._sub_block))

    @property
    def partial_bits(self):
        """Signed bits of the ``partial`` register: the sum of a block's sub-blocks but its last
        (0: a one-step block needs no register)."""
        spb = self.steps_per_block
        return self._fmt.dot_bits(self._fmt.block - self._sub_block) if spb > 1 else 0
    act_width = property(lambda self: self.k_per_step * self._fmt.bits)
    weight_width = property(lambda self: self.k_per_step * self._fmt.bits)
    act_signed = property(lambda self: False)
    weight_signed = property(lambda self: False)
    acc_width = property(lambda self: FP32_WIDTH)
    k_per_step = property(lambda self: self._sub_block + self._fmt.scale_slots)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: self._sub_block)

    def _element(self, m, code, name):
        """(sign, significand or signed integer, exponent shift q) of one element code."""
        f = self._fmt
        if f.ebits == 0:
            return None, code.as_signed(), None
        ef = code[f.mbits:f.mbits + f.ebits]
        normal = Signal(name=f"{name}_normal")
        q = Signal(f.ebits, name=f"{name}_q")
        m.d.comb += [normal.eq(ef != 0), q.eq(Mux(normal, ef - 1, 0))]
        return code[f.bits - 1], Cat(code[:f.mbits], normal), q

    def _sub_block_sum(self, m):
        f = self._fmt
        terms = []
        for j in range(self._sub_block):
            a = self.act[j * f.bits:(j + 1) * f.bits]
            w = self.weight[j * f.bits:(j + 1) * f.bits]
            sa, ma, qa = self._element(m, a, f"a{j}")
            sw, mw, qw = self._element(m, w, f"w{j}")
            term = Signal(signed(2 * f.magnitude_bits + 1), name=f"term{j}")
            if f.ebits == 0:
                m.d.comb += term.eq(ma * mw)
            else:
                product = Signal(2 * f.sig_bits, name=f"prod{j}")
                magnitude = Signal(2 * f.magnitude_bits, name=f"mag{j}")
                m.d.comb += [product.eq(ma * mw), magnitude.eq(product << (qa + qw))]
                m.d.comb += term.eq(Mux(sa ^ sw, -magnitude, magnitude))
            terms.append(term)
        while len(terms) > 1:      # a balanced adder tree
            terms = [a + b for a, b in zip(terms[0::2], terms[1::2])] + terms[len(terms) & ~1:]
        total = Signal(signed(self.sub_sum_bits), name="sub_block_sum")
        m.d.comb += total.eq(terms[0])
        return total

    def _scale(self, m, lane, name):
        """The step's 8-bit scale-slot code from the lane."""
        base = self._sub_block * self._fmt.bits
        code = Signal(SCALE_BITS, name=name)
        m.d.comb += code.eq(lane[base:base + SCALE_BITS])
        return code
    def _to_fp32(self, m, t, x, x0):
        """``t * 2**(x - x0)`` (t signed, x unsigned) -> FP32 word, nearest even, saturating."""
        mag_bits = len(t) - 1
        wf = max(mag_bits, CONVERT_MIN_FRAME)
        magnitude = Signal(wf, name="conv_magnitude")
        m.d.comb += magnitude.eq(Mux(t < 0, -t, t))
        lz = leading_zeros(m, magnitude, wf, "conv_lz")
        norm = Signal(wf, name="conv_norm")
        m.d.comb += norm.eq((magnitude << lz)[:wf])
        # the top bit of norm weighs 2**(wf - 1 + x - x0 - lz): biased exponent E
        exp = Signal(signed(CONVERT_EXP_BITS), name="conv_exp")
        m.d.comb += exp.eq(x + (wf - 1 - x0 + FP32_BIAS) - lz)
        # below the normal range: shift right to exponent 1 (a subnormal), the bits out sticky
        shift = Signal(range(wf + 1), name="conv_shift")
        m.d.comb += shift.eq(Mux(exp >= 1, 0, Mux(exp < 1 - wf, wf, 1 - exp)))
        denorm = Signal(wf, name="conv_denorm")
        m.d.comb += denorm.eq(norm >> shift)
        lost = Signal(name="conv_lost")
        m.d.comb += lost.eq((denorm << shift)[:wf] != norm)
        kept = denorm[wf - SIG32_BITS:]
        guard = denorm[wf - SIG32_BITS - 1]
        sticky = (denorm[:wf - SIG32_BITS - 1] != 0) | lost
        round_up = guard & (sticky | kept[0])
        word = Signal(FP32_WIDTH - 1, name="conv_word")
        m.d.comb += word.eq(Cat(kept[:FP32_FRAC_BITS], Mux(exp >= 1, exp[:FP32_EXP_BITS], 0)) + round_up)
        over = (exp >= FP32_MAX_EXP) | (word[FP32_FRAC_BITS:] == FP32_MAX_EXP)
        result = Signal(FP32_WIDTH, name="block_fp32")
        m.d.comb += result.eq(Mux(t == 0, 0, Cat(Mux(over, FP32_MAX_FINITE, word), t < 0)))
        return result

    def elaborate(self, platform):
        m = Module()
        f = self._fmt
        # the running block sum: exact, as wide as a whole block's sum
        total = Signal(signed(f.sum_bits), name="block_sum")
        if self.partial_bits:
            partial = Signal(signed(self.partial_bits), name="partial")
            m.d.comb += total.eq(partial + self._sub_block_sum(m))
        else:
            m.d.comb += total.eq(self._sub_block_sum(m))
        ca, cw = self._scale(m, self.act, "scale_a"), self._scale(m, self.weight, "scale_w")
        ends = Signal(name="block_ends")
        m.d.comb += ends.eq(ca != CONTINUE_CODE)
        extra_bits, x0 = scale_terms(f)
        if f.scale == "e8m0":
            t, x = total, ca + cw
        else:
            ma = Cat(ca[:E4M3_SCALE_MAN_BITS], ca[E4M3_SCALE_MAN_BITS:SCALE_BITS - 1] != 0)
            mw = Cat(cw[:E4M3_SCALE_MAN_BITS], cw[E4M3_SCALE_MAN_BITS:SCALE_BITS - 1] != 0)
            ea, ew = ca[E4M3_SCALE_MAN_BITS:SCALE_BITS - 1], cw[E4M3_SCALE_MAN_BITS:SCALE_BITS - 1]
            qa = Mux(ea != 0, ea - 1, 0)
            qw = Mux(ew != 0, ew - 1, 0)
            scale_product = Signal(extra_bits, name="scale_product")
            m.d.comb += scale_product.eq(ma * mw)
            t = Signal(signed(f.sum_bits + extra_bits), name="scaled_sum")
            m.d.comb += t.eq(total * scale_product)
            x = qa + qw
        xs = Signal(SCALE_BITS + 1, name="scale_exp")
        m.d.comb += xs.eq(x)
        block_word = self._to_fp32(m, t, xs, x0)
        added = fp32_add_rne(m, self.acc_in, block_word, "acc")
        infinite = self.acc_in[FP32_FRAC_BITS:FP32_WIDTH - 1] == FP32_MAX_EXP
        with m.If(self.valid & ends):
            m.d.sync += self.acc_out.eq(Mux(infinite, self.acc_in, added))
            if self.partial_bits:
                m.d.sync += partial.eq(0)
        with m.Elif(self.valid):
            m.d.sync += self.acc_out.eq(self.acc_in)
            if self.partial_bits:
                m.d.sync += partial.eq(total)
        return m
