"""LUT PE (LUT Tensor Core / T-MAC): table lookup over weight bit-planes, no multiplier."""

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed

from .lut_precompute import ACT_BITS, ENTRIES, ENTRY_WIDTH, GROUP, LutTablePrecompute
from .pe import ProcessingElement, check_positive_int


class LutPE(ProcessingElement):
    """One group of 4 K elements per step: ``sum_i q'_i * a_i`` with ``q' = 2q - (2**B - 1)``.

    Operands: ``act`` is the row's 8-entry table (:class:`~hw.lut_precompute.LutTablePrecompute`,
    signed 11-bit entries); ``weight`` holds B bit-planes of the 4 weights, plane b in bits
    [4b, 4b+4): bit 0 = c_0 (the sign: entry is negated when set), bits [3:1] = the entry index
    ``c[3:1] XOR {3{c_0}}`` (the offline flip), c = the 4 weights' bit b (weight i -> bit i). The
    buffers hold the weight codes (unsigned B-bit) encoded this way by :meth:`weight_lanes`;
    activations are signed INT8 codes.

    Timing contract: initiation interval B and latency B: one bit-plane per cycle, most significant
    first, accumulated Horner-style (``partial = 2*partial + entry``) so no barrel shifter is
    needed; ``acc_out`` = ``acc_in`` (sampled with ``valid``) + the group's dot product, wrapped to
    ``acc_width`` bits. 4 MACs per step, 4/B per cycle. Synchronous reset clears the accumulators.
    Integer part only: the dequantisation ``s' * (acc - z' * sum(a))`` with ``s' = s/2``,
    ``z' = 2z + 1 - 2**B`` is applied to the raw output by :mod:`models.lut_gemm`.

    Parameters
    ----------
    weight_bits : int, keyword-only
        Weight bits (bit-planes), 1..4; default 4.
    acc_width : int, keyword-only
        Accumulator width, 17..64; default 32.
    """

    def __init__(self, *, weight_bits=4, acc_width=32):
        self._weight_bits = check_positive_int("weight_bits", weight_bits, maximum=4)
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=17, maximum=64)
        super().__init__()

    weight_bits = property(lambda self: self._weight_bits)
    act_width = property(lambda self: ENTRIES * ENTRY_WIDTH)
    act_code_width = property(lambda self: GROUP * ACT_BITS)
    weight_width = property(lambda self: GROUP * self._weight_bits)
    act_signed = property(lambda self: True)
    weight_signed = property(lambda self: False)
    acc_width = property(lambda self: self._acc_width)
    k_per_step = property(lambda self: GROUP)
    initiation_interval = property(lambda self: self._weight_bits)
    latency = property(lambda self: self._weight_bits)
    macs_per_step = property(lambda self: GROUP)
    multiplier_free = True

    def act_border(self):
        return LutTablePrecompute()

    def weight_lanes(self, codes):
        """(..., 4) unsigned B-bit weight codes -> lane values with the bit-plane nibbles,
        flipped offline (see the class docstring)."""
        codes = np.asarray(codes, dtype=np.int64)
        lanes = np.zeros(codes.shape[:-1], dtype=np.int64)
        for b in range(self._weight_bits):
            c = sum(((codes[..., i] >> b) & 1) << i for i in range(GROUP))
            c0 = c & 1
            nibble = c0 | (((c >> 1) ^ (c0 * 0b111)) << 1)
            lanes |= nibble << (4 * b)
        return lanes

    def elaborate(self, platform):
        m = Module()
        B = self._weight_bits
        plane = Signal(range(max(B, 2)))   # bit-plane used this cycle
        active = Signal()                  # a step is in progress after its first cycle
        partial = Signal(signed(ENTRY_WIDTH + B))
        acc_hold = Signal(self._acc_width)

        nibble = self.weight.word_select(plane, GROUP)   # one bit of each weight
        index, negate = nibble[1:4], nibble[0]
        entries = [self.act[ENTRY_WIDTH * j:ENTRY_WIDTH * (j + 1)].as_signed() for j in range(ENTRIES)]
        entry = Signal(signed(ENTRY_WIDTH))
        with m.Switch(index):
            for j in range(ENTRIES):
                with m.Case(j):
                    m.d.comb += entry.eq(entries[j])
        term = Signal(signed(ENTRY_WIDTH + 1))
        m.d.comb += term.eq(Mux(negate, -entry, entry))

        # The plane is the step's first plane (B-1) on `valid`, then B-2 down to 0 from a register.
        next_plane = Signal(range(max(B, 2)))
        with m.If(self.valid):
            m.d.sync += next_plane.eq(max(B - 2, 0))
        with m.Elif(active & (next_plane != 0)):
            m.d.sync += next_plane.eq(next_plane - 1)
        m.d.comb += plane.eq(Mux(self.valid, B - 1, next_plane))

        if B == 1:
            with m.If(self.valid):
                m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + term)
        else:
            with m.If(self.valid):
                m.d.sync += [partial.eq(term), acc_hold.eq(self.acc_in), active.eq(1)]
            with m.Elif(active):
                with m.If(plane == 0):
                    m.d.sync += [self.acc_out.eq(acc_hold.as_signed() + (partial << 1) + term),
                                 active.eq(0)]
                with m.Else():
                    m.d.sync += partial.eq((partial << 1) + term)
        return m
