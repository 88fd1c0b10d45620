"""LUT Tensor Core table precompute: a group of 4 INT8 activations -> the 8 stored table entries."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

GROUP = 4                 # activations per table
ACT_BITS = 8              # signed INT8 activations
ENTRIES = 8               # stored half of the odd 16-entry table
ENTRY_WIDTH = 11          # |sum of 4 INT8 values| <= 512 -> 11-bit two's complement


class LutTablePrecompute(wiring.Component):
    """Combinational table builder placed on the array's row border (one per row, shared by every
    PE of the row: the "elongated" reuse).

    ``code`` In(32): activations a0..a3, signed INT8, a_i at bits [8i, 8i+8).
    ``operand`` Out(88): entries half[0..7], signed 11-bit, half[j] at bits [11j, 11j+11), with
    ``half[j] = LUT[j << 1]`` and ``LUT[c] = sum_i (c_i ? +a_i : -a_i)``; since c_0 = 0, a0 always
    enters negated. The other 8 entries are ``LUT[15 - c] = -LUT[c]`` (the PE negates).
    Latency 0 (combinational), no multipliers: 3 adds per entry.
    """

    code: In(GROUP * ACT_BITS)
    operand: Out(ENTRIES * ENTRY_WIDTH)

    def elaborate(self, platform):
        m = Module()
        acts = [self.code[ACT_BITS * i:ACT_BITS * (i + 1)].as_signed() for i in range(GROUP)]
        for j in range(ENTRIES):
            entry = Signal(signed(ENTRY_WIDTH), name=f"entry{j}")
            total = -acts[0]
            for i in range(1, GROUP):
                total = total + acts[i] if (j >> (i - 1)) & 1 else total - acts[i]
            m.d.comb += [entry.eq(total),
                         self.operand[ENTRY_WIDTH * j:ENTRY_WIDTH * (j + 1)].eq(entry)]
        return m
