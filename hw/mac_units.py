"""Multiply-accumulate units for the FP8-vs-INT8 claim row: a PE closed on its own accumulator, and
an FP8 x FP8 product accumulated in FP32.

The seed's claim ("FP formats are 50-180 % less efficient in dedicated hardware than INT",
``shared/specs/pe-designs.md`` s6) is about MAC units. This project's FP8 PE accumulates exactly in
a 53-bit fixed-point register, where a floating-point MAC accumulates in floating point (INF: the
seed states no accumulator; FP32 is the accumulator this project's floating-point PEs use,
:mod:`hw.pe_fp16`). Two units here let :mod:`models.lmul_energy` synthesise both MACs alone:

* :class:`MacUnit`: any PE with ``acc_out`` fed back to ``acc_in`` and ``valid`` held high: the
  MAC with its accumulator register, nothing of the array (operand registers, psum chain);
* :class:`Fp8Fp32AccPE`: :class:`hw.pe_fp8.Fp8PE`'s operand decode and mantissa multiplier, the
  exact product normalised to an FP32 word, added to ``acc_in`` with
  :func:`hw.fp32_add.fp32_add_rne` (one round to nearest even per step), as :class:`hw.pe_fp16.Fp16PE`
  adds its FP16 products;
* :class:`Fp32AccumulateAdder`: that FP32 add alone (combinational), the accumulate half of a
  floating-point MAC, for the L-Mul dot-product row (a multiply and an FP32 add per product).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fp32_add import (FP32_EXP_BITS, FP32_FRAC_BITS, FP32_WIDTH, SIG32_BITS, WIDE_EXP_BITS, fp32_add_rne,
                       leading_zeros)
from .pe import ProcessingElement
from .pe_fp8 import Fp8PE, fp8_format

#: biased FP32 exponent of FP32's significand unit: value = N * 2**(E - FP32_UNIT_EXP)
FP32_UNIT_EXP = 127 + FP32_FRAC_BITS


class Fp8Fp32AccPE(ProcessingElement):
    """FP8 x FP8 products, exact, added to an FP32 accumulator with one round to nearest even per
    step (a fused multiply-add).

    Per step, for FP8 codes ``a`` and ``w`` of the ``format`` (E exponent, M mantissa bits, bias
    b): decode each as :class:`hw.pe_fp8.Fp8PE` does (exponent ``max(ef, 1)``, hidden bit
    ``ef != 0``); ``P = m_a * m_w`` ((M+1) x (M+1) bits, exact) is worth ``P * 2**(e_a + e_w -
    2 (b + M))``, always an FP32 normal number (or zero): normalised to a 24-bit significand by a
    left shift of its leading zeros, exponent ``e_a + e_w + 150 - 2 (b + M) - lz``; then
    ``acc_out = fp32_add_rne(acc_in, product)``. The golden twin is numpy: the product is exact
    in float32, so one step is ``np.float32(acc) + np.float32(a * w)`` (IEEE RNE).

    Codes: ``act`` / ``weight`` unsigned 8-bit FP8 patterns (NaN and infinity codes are not
    operands); ``acc_in`` / ``acc_out`` FP32 bit patterns (32 bits, not integers).

    Timing contract: ``k_per_step`` 1, initiation interval 1, latency 1 (``acc_out`` registered).
    Synchronous reset clears ``acc_out`` (``+0``).

    Parameters
    ----------
    format : str, keyword-only
        "e4m3" (default) or "e5m2".
    """

    integer_accumulator = False

    def __init__(self, *, format="e4m3"):
        self._format = format
        self._ebits, self._mbits, _ = fp8_format(format)
        super().__init__()

    # the operand side and the timing contract are Fp8PE's: its properties, read from it (not a
    # subclass: Fp8PE's accumulator facts and its cost inventory would not describe this PE)
    format = Fp8PE.format
    act_width, weight_width = Fp8PE.act_width, Fp8PE.weight_width
    act_signed, weight_signed = Fp8PE.act_signed, Fp8PE.weight_signed
    k_per_step, macs_per_step = Fp8PE.k_per_step, Fp8PE.macs_per_step
    initiation_interval, latency = Fp8PE.initiation_interval, Fp8PE.latency
    acc_width = property(lambda self: FP32_WIDTH)

    @property
    def product_exp_offset(self):
        """FP32 biased exponent of the product minus (e_a + e_w - lz)."""
        bias = (1 << (self._ebits - 1)) - 1
        return FP32_UNIT_EXP - 2 * (bias + self._mbits)

    def _decode(self, m, code, name):
        E, M = self._ebits, self._mbits
        ef, f = code[M:M + E], code[:M]
        normal = Signal(name=f"{name}_normal")
        e = Signal(E, name=f"{name}_e")
        m.d.comb += [normal.eq(ef != 0), e.eq(Mux(normal, ef, 1))]
        return code[7], e, Cat(f, normal)

    def elaborate(self, platform):
        m = Module()
        sa, ea, ma = self._decode(m, self.act, "a")
        sw, ew, mw = self._decode(m, self.weight, "w")
        prod = Signal(2 * (self._mbits + 1))
        esum = Signal(self._ebits + 1)
        m.d.comb += [prod.eq(ma * mw),                      # the one mantissa multiplier
                     esum.eq(ea + ew)]
        lz = leading_zeros(m, prod, SIG32_BITS, "prod_lz")
        norm = Signal(SIG32_BITS)
        m.d.comb += norm.eq((prod << lz)[:SIG32_BITS])
        exp = Signal(WIDE_EXP_BITS)
        m.d.comb += exp.eq(esum + self.product_exp_offset - lz)
        code = Signal(FP32_WIDTH - 1)
        # a zero product is the zero code; otherwise a normal FP32 number
        m.d.comb += code.eq(Mux(prod != 0, Cat(norm[:FP32_FRAC_BITS], exp[:FP32_EXP_BITS]), 0))
        result = fp32_add_rne(m, self.acc_in, Cat(code, sa ^ sw), "acc")
        with m.If(self.valid):
            m.d.sync += self.acc_out.eq(result)
        return m


class MacUnit(wiring.Component):
    """A PE closed on itself: ``acc_in`` = ``acc_out``, ``valid`` = 1, so every cycle adds
    ``act x weight`` to the PE's own accumulator register (``acc``).

    Ports: ``act`` / ``weight`` In (the PE's operand widths and signedness), ``acc`` Out (the
    PE's ``acc_out``). Timing contract: the PE's (one step per cycle needs initiation interval
    and latency 1, which the constructor checks). Synchronous reset clears ``acc``.

    Parameters
    ----------
    pe : ProcessingElement
        The PE to close (not elaborated elsewhere).
    """

    def __init__(self, pe):
        if pe.initiation_interval != 1 or pe.latency != 1:
            raise ValueError(f"a MAC unit needs a PE with initiation interval and latency 1, not "
                             f"{pe.initiation_interval} and {pe.latency}")
        self._pe = pe
        super().__init__({"act": In(pe.act_width), "weight": In(pe.weight_width), "acc": Out(pe.acc_width)})

    pe = property(lambda self: self._pe)

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = pe = self._pe
        m.d.comb += [pe.act.eq(self.act), pe.weight.eq(self.weight), pe.valid.eq(Const(1)),
                     pe.acc_in.eq(pe.acc_out), self.acc.eq(pe.acc_out)]
        return m


class Fp32AccumulateAdder(wiring.Component):
    """Combinational ``sum = fp32_add_rne(a, b)``: :func:`hw.fp32_add.fp32_add_rne`, the
    accumulate step of this project's floating-point MACs, on its own.

    Ports: ``a``, ``b`` In(32), ``sum`` Out(32): FP32 bit patterns (finite operands; the sum
    rounds once to nearest even). No clock.
    """

    def __init__(self):
        super().__init__({"a": In(FP32_WIDTH), "b": In(FP32_WIDTH), "sum": Out(FP32_WIDTH)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.sum.eq(fp32_add_rne(m, self.a, self.b, "acc"))
        return m
