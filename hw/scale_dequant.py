"""BitMoD per-group dequantisation: the group's partial sums times its 8-bit scale code, digit-serially.

BitMoD (spec section 2) keeps one INT8 scale per group of weights (the paper's second-level
quantisation: every group scale is ``code * s2[n]``, ``code`` unsigned 8 bits) and applies it once
per group, after the group's partial sum, with a bit-serial multiplier instead of a multiplier
array. Here each output column gets one shift-add unit that consumes ``digit_bits`` bits of the
code per cycle, most significant digit first (Horner: ``p = (p << d) + raw * digit``), so a word
takes ``cycles = ceil(8 / digit_bits)`` cycles. The accelerator picks ``digit_bits`` so that
``cycles`` equals the PE's initiation interval: the array delivers a group's words at most one per
II cycles, so the unit keeps pace with no stall and no multiplier (``digit_bits`` gated adds per
column: 2 for INT8 weights (II 4) up to 8 for FP3 (II 1)).

The unit has :class:`hw.group_dequant.GroupDequant`'s ports, so the accelerator's group writer
(group accumulator, running total) is shared; ``asum`` is ignored (symmetric weights, no zero
point) and the "requantisation" path passes the total through (``requant_latency`` 0).

* ``in_valid``, ``raw`` (cols x acc_width), ``params`` (cols x ``PARAM_LANE_WIDTH``: lane c = the
  column's scale code, unsigned) -> ``latency`` (= ``cycles``) cycles later ``y_valid`` and
  ``y = wrap(raw * code)`` per lane (acc_width-bit two's complement). ``raw`` and ``params`` are
  sampled with ``in_valid``; the next ``in_valid`` may come ``cycles`` cycles later.
* ``rq_valid``, ``total`` -> ``out_valid``, ``out`` combinationally (no requantisation).

:class:`ScaleCodes` is the GEMM operand (codes per group and column) the parameter buffer holds.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring

from .group_dequant import post_array_ports
from .pe import check_positive_int

PARAM_LANE_WIDTH = 8
SCALE_CODE_MAX = (1 << PARAM_LANE_WIDTH) - 1


@dataclass(frozen=True, eq=False)
class ScaleCodes:
    """The bit-serial design's extra operand: ``codes`` (groups, N) integers in 1..255, one per
    group of ``group_size`` K elements (the last group may be partial) and output column."""
    group_size: int
    codes: np.ndarray

    def __post_init__(self):
        check_positive_int("group_size", self.group_size)
        codes = np.asarray(self.codes)
        if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"scale codes must be a 2-D (groups, N) integer array, got shape "
                             f"{codes.shape} dtype {codes.dtype}")
        if codes.size and (codes.min() < 1 or codes.max() > SCALE_CODE_MAX):
            raise ValueError(f"scale codes out of range 1..{SCALE_CODE_MAX}: min {codes.min()}, "
                             f"max {codes.max()}")
        codes = codes.astype(np.int64)
        codes.setflags(write=False)
        object.__setattr__(self, "codes", codes)

    groups = property(lambda self: self.codes.shape[0])
    n = property(lambda self: self.codes.shape[1])
    requant = property(lambda self: False)

    def param_lanes(self, layout):
        """(param_depth, cols) lane values for ``layout`` (:meth:`hw.layout.GemmLayout.dequant_param_lanes`'s
        placement, the code in the ``mult`` slot; the n tile's requantisation word stays 0)."""
        zeros = np.zeros_like(self.codes)
        return layout.dequant_param_lanes(self.group_size, zeros, self.codes, zeros)[..., 0]

    def dump_arrays(self):
        return {"group_size": self.group_size, "scale_codes": self.codes}

    description = ("scale_codes.npz (scale_codes: groups x N unsigned 8-bit group scales; the float "
                   "output is out * s_a * second_level_scale[n])")
    output_description = ("group-scaled integer output: per group, the raw sums times the group's "
                          "8-bit scale code, summed over groups")


def digit_bits_for(cycles):
    """Bits of the code consumed per cycle so that a word takes at most ``cycles`` cycles."""
    check_positive_int("cycles", cycles)
    return -(-PARAM_LANE_WIDTH // cycles)


class BitSerialScaleDequant(wiring.Component):
    """``cols`` digit-serial ``raw * code`` units (module docstring). Keyword-only options:
    ``cols``, ``acc_width`` (17..64), ``digit_bits`` (1..8, default 2)."""

    requant_latency = 0
    param_lane_width = PARAM_LANE_WIDTH
    operand_type = ScaleCodes
    uses_asum = False          # symmetric weights: no zero point, no row-sum lane
    #: bits of each parameter lane read (:class:`hw.group_dequant.GroupDequant`'s facts): the
    #: code; the pass-through "requantisation" reads none
    param_bits_read = PARAM_LANE_WIDTH
    rq_param_bits_read = 0

    def __init__(self, *, cols, acc_width=32, digit_bits=2):
        self._cols = check_positive_int("cols", cols)
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=17, maximum=64)
        self._digit_bits = check_positive_int("digit_bits", digit_bits, maximum=PARAM_LANE_WIDTH)
        super().__init__(post_array_ports(cols, acc_width, PARAM_LANE_WIDTH))

    cols = property(lambda self: self._cols)
    acc_width = property(lambda self: self._acc_width)
    digit_bits = property(lambda self: self._digit_bits)

    @property
    def cycles(self):
        """Cycles per word: the code's digits, one per cycle."""
        return -(-PARAM_LANE_WIDTH // self._digit_bits)

    @property
    def latency(self):
        return self.cycles

    def elaborate(self, platform):
        m = Module()
        A, d, P = self._acc_width, self._digit_bits, self.cycles
        width = P * d                       # the code, zero-extended to whole digits

        step = Signal(range(P + 1))         # digits done so far in the current word
        busy = Signal()
        m.d.comb += self.y_valid.eq(busy & (step == P))
        with m.If(self.in_valid):
            m.d.sync += [busy.eq(1), step.eq(1)]
        with m.Elif(busy & (step != P)):
            m.d.sync += step.eq(step + 1)
        with m.Elif(busy):
            m.d.sync += busy.eq(0)

        def digit_product(value, digit):
            # a d-bit digit times the raw sum: d gated copies, shifted by wiring
            total = 0
            for i in range(d):
                total = total + Mux(digit[i], value << i, 0)
            return total

        for c in range(self._cols):
            raw_in = self.raw[c * A:(c + 1) * A].as_signed()
            code_in = Cat(self.params[c * PARAM_LANE_WIDTH:(c + 1) * PARAM_LANE_WIDTH],
                          Const(0, width - PARAM_LANE_WIDTH))
            raw = Signal(signed(A), name=f"raw_{c}")
            code = Signal(width, name=f"code_{c}")      # the digits still to come, top first
            partial = Signal(signed(A), name=f"partial_{c}")
            with m.If(self.in_valid):
                # the top digit from the live inputs, the lower ones from the latched code
                m.d.sync += [raw.eq(raw_in), code.eq(code_in << d),
                             partial.eq(digit_product(raw_in, code_in[width - d:]))]
            with m.Elif(busy & (step != P)):
                # Horner; the A-bit partial keeps the low bits: the documented wrap (exact
                # modulo 2**A, as the product's low bits depend only on low bits)
                m.d.sync += [code.eq(code << d),
                             partial.eq((partial << d) + digit_product(raw, code[width - d:]))]
            m.d.comb += self.y[c * A:(c + 1) * A].eq(partial)

        m.d.comb += [self.out_valid.eq(self.rq_valid), self.out.eq(self.total)]
        return m
