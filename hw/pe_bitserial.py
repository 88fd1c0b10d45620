"""BitMoD bit-serial PE: one signed power-of-two weight term per cycle, shifts and adds only."""

from amaranth.hdl import Module, Mux, Signal, signed

from .bitserial_terms import TERM_WIDTH, TermEncoder, TermSteps, weight_format as lookup_format
from .scale_dequant import BitSerialScaleDequant, digit_bits_for
from .pe import ProcessingElement, check_positive_int

SHIFTED_BITS = 16                # a signed INT8 activation shifted left by up to 7 (SHIFT_BITS)
ADDEND_BITS = SHIFTED_BITS + 1   # its negation


class BitSerialPE(ProcessingElement):
    """One weight x one signed INT8 activation per step, one weight term per cycle (spec section 2).

    The column's :class:`~hw.bitserial_terms.TermEncoder` (the weight border unit) turns each
    weight code into ``terms`` signed powers of two (radix-4 Booth digits for INT8 / INT6, the <= 2
    one-bits of an FP4 / FP3 magnitude, special values included); the PE stores the terms with the
    weight and in cycle t of a step adds ``+-(a << shift_t)`` (or nothing for an absent term): a
    barrel shift, a conditional negation and an adder, no multiplier (its RTLIL has no ``$mul``
    cell, checked by ``tests/test_pe_bitserial.py``).

    Weight codes: see :mod:`hw.bitserial_terms` (``weight_format`` int8, int6, fp4, fp3, mixed4,
    mixed3); values are in *code units* (FP4: 2x the E2M1 value, so every value is an integer).
    Activations: signed INT8 (the INT8-activation mode of BitMoD; exact integer arithmetic).

    Timing contract: initiation interval = latency = ``terms`` (4 int8, 3 int6, 2 fp4 / mixed4 /
    mixed3, 1 fp3); ``acc_out = acc_in + a * w`` wrapped to ``acc_width`` bits (two's complement)
    ``latency`` cycles after ``valid``, ``acc_in`` sampled with ``valid``. ``acc_out`` is the
    accumulator itself (one adder, no separate partial-sum register): in the cycles between it
    holds the partial sums, which the array never samples (see :mod:`hw.pe`). One MAC per step, ``1 / terms`` per cycle. Synchronous reset
    clears ``acc_out`` and the step state. The term count is fixed per format (absent terms still
    take their cycle), so a GEMM's cycle count depends on the format only, never on the data.

    Parameters
    ----------
    weight_format : str, keyword-only
        Default "mixed4".
    group_size : int >= 1 or None, keyword-only
        Default 128: the K elements one per-group INT8 scale covers, read by
        :class:`hw.accelerator.Accelerator`, which then adds the per-group dequantisation after
        the array (each group's partial sums times the group's 8-bit scale code, summed over the
        groups, by :class:`hw.scale_dequant.BitSerialScaleDequant`, digit-serially); None = the
        raw integer GEMM. A multiple of the array's rows.
    acc_width : int, keyword-only
        17..64; default 32.
    """

    def __init__(self, *, weight_format="mixed4", group_size=128, acc_width=32):
        self._format = lookup_format(weight_format)
        self._group_size = None if group_size is None else check_positive_int("group_size", group_size)
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=17, maximum=64)
        super().__init__()

    weight_format = property(lambda self: self._format.name)
    terms = property(lambda self: self._format.terms)
    group_size = property(lambda self: self._group_size)
    act_width = property(lambda self: 8)
    weight_width = property(lambda self: self._format.terms * TERM_WIDTH)
    weight_code_width = property(lambda self: self._format.code_bits)
    act_signed = property(lambda self: True)
    weight_signed = property(lambda self: self._format.signed_codes)
    acc_width = property(lambda self: self._acc_width)
    k_per_step = property(lambda self: 1)
    initiation_interval = property(lambda self: self._format.terms)
    latency = property(lambda self: self._format.terms)
    macs_per_step = property(lambda self: 1)
    multiplier_free = True

    def weight_border(self):
        return TermEncoder(weight_format=self._format.name)

    def post_array_unit(self, cols):
        """The unit the accelerator adds after a ``cols``-column array (None for the raw design),
        for synthesis and cost accounting."""
        if self._group_size is None:
            return None
        # a digit of the scale code per cycle, sized so a word takes II cycles: the rate the
        # array delivers a group's words
        return BitSerialScaleDequant(cols=cols, acc_width=self._acc_width,
                                     digit_bits=digit_bits_for(self.initiation_interval))

    def elaborate(self, platform):
        m = Module()
        steps = TermSteps(m, self.valid, self._format.terms)
        term = steps.select(self.weight, "term")
        present, negative, shift = term[0], term[1], term[2:TERM_WIDTH]
        shifted = Signal(signed(SHIFTED_BITS))
        m.d.comb += shifted.eq(self.act.as_signed() << shift)
        addend = Signal(signed(ADDEND_BITS))
        m.d.comb += addend.eq(Mux(present, Mux(negative, -shifted, shifted), 0))
        # acc_out accumulates the terms in place: between valid and valid + latency it shows
        # partial sums; the array samples it exactly latency cycles after valid (the next row /
        # the feedback / the capture), when it is whole. The wider sum truncates into acc_out:
        # the documented modulo-2**acc_width wrap.
        steps.accumulate(self.acc_out, steps.base(self.acc_in, self.acc_out).as_signed() + addend)
        return m
