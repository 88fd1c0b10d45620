"""GOBO's outlier path after the array: each output word plus its column's FP16 outliers.

The GOBO PE (:mod:`hw.pe_gobo`) skips outlier-flagged weights; step 5 of :mod:`models.gobo_gemm`
adds them afterwards: for output ``(m, n)``, the outliers ``(k, n, value)`` of column ``n`` in
increasing ``k``, each the exact product ``act[m, k] * value`` (FP16 x FP16, an FP32 normal number
or a signed zero) added to the FP32 word with one round to nearest even. This unit does exactly
that with ``lanes`` independent fused multiply-add lanes, each the FP16 PE's datapath
(:meth:`hw.pe_fp16.Fp16PE._fma`, the same product and :func:`hw.fp32_add.fp32_add_rne`, not a copy)
around a 32-bit accumulator register.

A feeder turns the sparse outlier list (``k``, ``n``, FP16 value, sorted by ``(n, k)``) and the
activations into **ops**, one per cycle per lane (the accelerator's outlier pass,
:mod:`hw.gobo_outlier_pass`, gives the unit one lane per array row and the same op to every lane;
the unit-level tests' feeder is :func:`models.gobo_outlier.outlier_ops`): an op carries the array's word (read only
on the word's first op), the activation ``act[m, k]`` and the outlier's FP16 ``value``. A word with
``c`` outliers takes ``max(1, c)`` ops: ``c`` FMAs, or one pass-through op (``has_entry`` 0) when
its column has none (a pass-through never adds a zero product: ``-0 + +0`` would turn a ``-0``
word into ``+0``).

Ports (lane ``l`` at bits ``[l w, (l + 1) w)`` of each packed port, ``w`` its lane width):

* ``in_valid`` (1 per lane): an op this cycle.
* ``first`` (1): the op starts a word: the accumulator input is ``word``, not the register.
* ``last`` (1): the op ends the word: its result is ``out`` on the next cycle.
* ``has_entry`` (1): the op adds an outlier's product; 0 passes the word through (only valid
  with ``first`` and ``last``).
* ``word`` (32): the array's FP32 pattern (finite), sampled when ``first``.
* ``act`` (16), ``value`` (16): FP16 patterns (unsigned bit patterns; no infinity / NaN).
* ``out_valid`` (1), ``out`` (32): the finished FP32 word.

Timing contract (per lane): one op per cycle (initiation interval 1, no stall, no back-pressure);
``latency`` 1: ``out_valid`` is high for exactly the cycle after a ``last`` op and ``out`` holds
the word then (it changes with the next op); a word with ``c`` outliers occupies
``max(1, c)`` cycles (:meth:`GoboOutlierUnit.cycles_per_word`), and the next word's first op may
follow its last op directly. Synchronous reset clears the accumulators and ``out_valid``.
Preconditions: finite words and results (the array's FP32 words of a GOBO GEMM are far from the
FP32 range: every product is below 2**32).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fp32_add import FP32_WIDTH
from .pe import check_positive_int, facts_only
from .pe_fp16 import Fp16PE

FP16_WIDTH = 16
MAX_LANES = 256


class GoboOutlierUnit(wiring.Component):
    """``lanes`` outlier FMA lanes after the GOBO array (module docstring). Keyword-only option:
    ``lanes`` (1..256, default 1): independent lanes, one op each per cycle."""

    def __init__(self, *, lanes=1):
        self._lanes = check_positive_int("lanes", lanes, maximum=MAX_LANES)
        L = lanes
        super().__init__({
            "in_valid": In(L), "first": In(L), "last": In(L), "has_entry": In(L),
            "word": In(L * FP32_WIDTH), "act": In(L * FP16_WIDTH), "value": In(L * FP16_WIDTH),
            "out_valid": Out(L), "out": Out(L * FP32_WIDTH),
        })

    lanes = property(lambda self: self._lanes)
    latency = property(lambda self: 1)
    ops_per_cycle = property(lambda self: self._lanes)
    word_width = property(lambda self: FP32_WIDTH)
    entry_width = property(lambda self: FP16_WIDTH)

    @staticmethod
    def cycles_per_word(outliers):
        """Cycles (ops) one lane spends on a word whose column has ``outliers`` outliers."""
        if isinstance(outliers, bool) or not isinstance(outliers, int) or outliers < 0:
            raise ValueError(f"an outlier count is an integer >= 0, not {outliers!r}")
        return max(1, outliers)

    def elaborate(self, platform):
        m = Module()
        W, E = FP32_WIDTH, FP16_WIDTH
        for lane in range(self._lanes):
            acc = Signal(W, name=f"acc_{lane}")
            done = Signal(name=f"done_{lane}")
            word = self.word[lane * W:(lane + 1) * W]
            acc_in = Signal(W, name=f"acc_in_{lane}")
            m.d.comb += acc_in.eq(Mux(self.first[lane], word, acc))
            # the FP16 PE's multiply-add, driven here: its ports are this lane's wires (the PE
            # itself is not a submodule, only its _fma datapath is built into this module)
            fma = facts_only(Fp16PE())
            m.d.comb += [fma.act.eq(self.act[lane * E:(lane + 1) * E]), fma.acc_in.eq(acc_in)]
            result = fma._fma(m, self.value[lane * E:(lane + 1) * E])
            with m.If(self.in_valid[lane]):
                m.d.sync += [acc.eq(Mux(self.has_entry[lane], result, acc_in)),
                             done.eq(self.last[lane])]
            with m.Else():
                m.d.sync += done.eq(0)
            m.d.comb += [self.out[lane * W:(lane + 1) * W].eq(acc), self.out_valid[lane].eq(done)]
        return m
