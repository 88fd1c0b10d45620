"""OliVe OVP PE: exponent-integer MAC on decoded outlier-victim pairs (W4A4, both operands OVP)."""

from amaranth.hdl import Module, Signal, signed

from .ovp_decoder import OvpPairDecoder, get_mode
from .pe import ProcessingElement, check_positive_int


class OvpPE(ProcessingElement):
    """One outlier-victim pair of each operand per step (``k_per_step`` 2):
    ``acc_out = acc_in + sum_j (b_j * d_j) << (a_j + c_j)`` for activation operands <a_j, b_j>
    and weight operands <c_j, d_j> (``<a, b> x <c, d> = <a + c, b * d>``).

    Codes and operands: the buffers hold the stored pairs -- one byte per pair (4-bit modes: low
    nibble = element 2k, high nibble = element 2k + 1) or one 16-bit word (int8 mode). The host
    element codes are the unsigned nibbles (bytes for int8), so the default ``act_lanes`` /
    ``weight_lanes`` concatenation rebuilds exactly the stored pair. Both operands pass an
    :class:`~hw.ovp_decoder.OvpPairDecoder` on the array border (``act_border`` per row,
    ``weight_border`` per column) before they reach the PE; ``act``/``weight`` are the decoded
    operands (two <e, i> elements, see :mod:`hw.ovp_decoder` for the bit layout).

    Arithmetic: two signed I x I multiplies (4b x 4b for int4, 3b x 3b for flint4, 8b x 8b for
    int8), each shifted left by the summed exponents (at most 10, 12 and 10), summed with
    ``acc_in``, wrapped to ``acc_width`` bits (two's complement), registered.

    Timing contract: initiation interval 1, latency 1, 2 MACs per step. Synchronous reset clears
    ``acc_out``. Integer part only: :mod:`models.ovp_gemm` applies the scales.

    Parameters
    ----------
    mode : str, keyword-only
        "int4" (default), "flint4" or "int8" (the 8-bit mode, built as its own PE with an 8b x 8b
        multiplier, not as four fused 4-bit PEs).
    acc_width : int, keyword-only
        Accumulator width, 24..64; default 32.
    """

    def __init__(self, *, mode="int4", acc_width=32):
        self._mode = get_mode(mode)
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=24, maximum=64)
        super().__init__()

    mode = property(lambda self: self._mode.name)
    act_width = property(lambda self: 2 * self._mode.element_width)
    weight_width = property(lambda self: 2 * self._mode.element_width)
    act_code_width = property(lambda self: 2 * self._mode.bits)
    weight_code_width = property(lambda self: 2 * self._mode.bits)
    act_signed = property(lambda self: False)       # nibble/byte codes, not integers
    weight_signed = property(lambda self: False)
    acc_width = property(lambda self: self._acc_width)
    k_per_step = property(lambda self: 2)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: 2)

    @property
    def shift_width(self):
        """Bits of a product's shift, the sum of two E-bit exponents."""
        return self._mode.exp_width + 1

    @property
    def term_width(self):
        """Bits of one shifted product (signed): |b*d| << (a+c) < 2**(2I - 2 + max shift),
        plus the sign."""
        return 2 * self._mode.int_width - 1 + 2 * self._mode.max_exponent + 1

    def act_border(self):
        return OvpPairDecoder(mode=self._mode.name)

    def weight_border(self):
        return OvpPairDecoder(mode=self._mode.name)

    def elaborate(self, platform):
        m = Module()
        fmt = self._mode
        E, I, W = fmt.exp_width, fmt.int_width, fmt.element_width
        term_width = self.term_width
        terms = []
        for j in (0, 1):
            a, b = self.act[j * W:j * W + E], self.act[j * W + E:(j + 1) * W].as_signed()
            c, d = self.weight[j * W:j * W + E], self.weight[j * W + E:(j + 1) * W].as_signed()
            product = Signal(signed(2 * I), name=f"product{j}")
            shift = Signal(self.shift_width, name=f"shift{j}")
            term = Signal(signed(term_width), name=f"term{j}")
            m.d.comb += [product.eq(b * d), shift.eq(a + c), term.eq(product << shift)]
            terms.append(term)
        step = Signal(signed(term_width + 1))     # the two terms' sum: one more bit
        m.d.comb += step.eq(terms[0] + terms[1])
        with m.If(self.valid):
            # Assigning the wider sum to acc_out truncates: the documented modulo-2**acc_width wrap.
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + step)
        return m
