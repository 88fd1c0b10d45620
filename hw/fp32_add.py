"""An IEEE binary32 adder for finite operands, rounding once to nearest even: the accumulator
stage of the floating-point PEs (:mod:`hw.pe_fp16`, :mod:`hw.pe_mx`).

:func:`fp32_add_rne` adds two FP32 words combinationally: order the two by magnitude (finite FP32
codes without the sign compare as their magnitudes), align the smaller in a 27-bit frame (24-bit
significand, guard, round, sticky), add or subtract, normalise (one right shift on a carry, the
dropped bit joining the sticky; otherwise a leading-zero left shift bounded by the exponent, which
makes subnormal results), round to nearest even by incrementing the 31-bit word (a full mantissa
carries into the exponent), overflow to +-inf, and an exact zero is ``+0`` unless both addends are
``-0``. Subnormal operands are exact (exponent 1, no hidden bit). Infinities and NaNs are not
operands (the PEs never produce NaN; a PE that may see an infinite accumulator passes it through
itself).
"""

from amaranth.hdl import Cat, Const, Mux, Signal

FP32_EXP_BITS, FP32_FRAC_BITS = 8, 23
SIG32_BITS = FP32_FRAC_BITS + 1                  # 24
FP32_WIDTH = 1 + FP32_EXP_BITS + FP32_FRAC_BITS  # 32
FP32_MAX_EXP = (1 << FP32_EXP_BITS) - 1          # 255: infinity's exponent field
GRS = 3                                          # guard, round and sticky bits
ADD_FRAME = SIG32_BITS + GRS                     # 27: aligned significands, hidden bit at 26
FRAME_SHIFT_BITS = 5                             # shift amounts 0..27
EXP_DIFF_BITS = FP32_EXP_BITS + 1                # exponent difference, 0..253
WIDE_EXP_BITS = FP32_EXP_BITS + 2                # exponents before the range checks


def _lz_tree(value, width):
    """Leading zeros of a power-of-two ``width``-bit value: a binary tree of selects (log depth;
    a chain of 70 selects nests too deep for Amaranth's Python simulator)."""
    if width == 1:
        return ~value[0]
    half = width // 2
    high, low = value[half:], value[:half]
    return Mux(high != 0, _lz_tree(high, half), half + _lz_tree(low, half))


def leading_zeros(m, value, width, name):
    """Leading zeros of ``value`` in a ``width``-bit frame (``width`` when it is zero; a
    narrower value is zero-extended): a priority encoder."""
    lz = Signal(range(width + 1), name=name)
    size = 1 << (width - 1).bit_length()
    framed = Cat(value[:width], Const(0, size - min(width, len(value))))
    m.d.comb += lz.eq(_lz_tree(framed, size) - (size - width))
    return lz


def fp32_add_rne(m, a_word, b_word, prefix="add"):
    """``a_word + b_word`` (finite FP32 words), rounded to nearest even: a 32-bit Signal."""
    a_sign, a_code = a_word[FP32_WIDTH - 1], a_word[:FP32_WIDTH - 1]
    b_sign, b_code = b_word[FP32_WIDTH - 1], b_word[:FP32_WIDTH - 1]
    swap = Signal(name=f"{prefix}_swap")
    m.d.comb += swap.eq(b_code > a_code)
    big, small = Signal(FP32_WIDTH - 1, name=f"{prefix}_big"), Signal(FP32_WIDTH - 1, name=f"{prefix}_small")
    big_s, small_s = Signal(name=f"{prefix}_big_s"), Signal(name=f"{prefix}_small_s")
    m.d.comb += [big.eq(Mux(swap, b_code, a_code)), small.eq(Mux(swap, a_code, b_code)),
                 big_s.eq(Mux(swap, b_sign, a_sign)), small_s.eq(Mux(swap, a_sign, b_sign))]

    def fields(code):
        ef = code[FP32_FRAC_BITS:]
        return Mux(ef == 0, 1, ef), Cat(code[:FP32_FRAC_BITS], ef != 0)

    e_big, m_big = fields(big)
    e_small, m_small = fields(small)
    diff = Signal(EXP_DIFF_BITS, name=f"{prefix}_diff")
    m.d.comb += diff.eq(e_big - e_small)
    dsat = Signal(FRAME_SHIFT_BITS, name=f"{prefix}_dsat")
    m.d.comb += dsat.eq(Mux(diff > ADD_FRAME, ADD_FRAME, diff))
    framed = Signal(ADD_FRAME, name=f"{prefix}_framed")
    m.d.comb += framed.eq(m_small << GRS)
    aligned = Signal(ADD_FRAME, name=f"{prefix}_aligned")
    m.d.comb += aligned.eq(framed >> dsat)
    sticky = Signal(name=f"{prefix}_sticky")
    m.d.comb += sticky.eq((aligned << dsat)[:ADD_FRAME] != framed)
    total = Signal(ADD_FRAME + 1, name=f"{prefix}_total")
    a_frame = Cat(Const(0, GRS), m_big)
    b_frame = aligned | sticky
    m.d.comb += total.eq(Mux(big_s == small_s, a_frame + b_frame, a_frame - b_frame))

    # normalise: a carry shifts right once (the dropped bit joins the sticky), otherwise shift
    # left to the hidden position, but not below exponent 1 (a subnormal result)
    lz = leading_zeros(m, total, ADD_FRAME, f"{prefix}_lz")
    left = Signal(FRAME_SHIFT_BITS, name=f"{prefix}_left")
    m.d.comb += left.eq(Mux(lz < e_big, lz, e_big - 1))
    frame = Signal(ADD_FRAME, name=f"{prefix}_frame")
    exp = Signal(WIDE_EXP_BITS, name=f"{prefix}_exp")
    with m.If(total[ADD_FRAME]):
        m.d.comb += [frame.eq(Cat(total[1] | total[0], total[2:ADD_FRAME + 1])), exp.eq(e_big + 1)]
    with m.Else():
        m.d.comb += [frame.eq((total << left)[:ADD_FRAME]), exp.eq(e_big - left)]
    hidden = frame[ADD_FRAME - 1]
    kept = frame[GRS:]
    guard, rest = frame[GRS - 1], frame[:GRS - 1] != 0
    round_up = guard & (rest | kept[0])
    # exponent field 0 for a subnormal result; the RNE increment of the whole word carries a full
    # mantissa into the exponent (and the largest finite number into infinity)
    word = Signal(FP32_WIDTH - 1, name=f"{prefix}_word")
    m.d.comb += word.eq(Cat(kept[:FP32_FRAC_BITS], Mux(hidden, exp[:FP32_EXP_BITS], 0)) + round_up)
    magnitude = Signal(FP32_WIDTH - 1, name=f"{prefix}_magnitude")
    m.d.comb += magnitude.eq(Mux(exp >= FP32_MAX_EXP, FP32_MAX_EXP << FP32_FRAC_BITS, word))
    zero = total == 0
    result = Signal(FP32_WIDTH, name=f"{prefix}_result")
    m.d.comb += result.eq(Cat(Mux(zero, 0, magnitude), Mux(zero, big_s & small_s, big_s)))
    return result
