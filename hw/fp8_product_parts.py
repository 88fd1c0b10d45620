"""The multiplier of the FP8 PE and the adder that replaces it in the L-Mul PE, as units of their own.

Issue 21's first claim row compares the energy of the two multipliers alone (the L-Mul paper's
"element-wise multiply" figure), so each is synthesised and power-analysed on its own
(:mod:`models.lmul_energy`). Each unit is exactly the part of its PE's ``_aligned_product`` that
differs between the two PEs, up to the shared alignment shift:

* :class:`Fp8SignificandMultiplier`: :class:`hw.pe_fp8.Fp8PE`'s operand decode (exponent
  ``max(ef, 1)``, hidden bit), the (M+1) x (M+1)-bit mantissa multiplier and the exponent add
  ``e_a + e_w - 2``;
* :class:`LmulFieldAdder`: :class:`hw.pe_lmul.LmulPE`'s L-Mul adder ``X_a + X_w + 1`` on the 7-bit
  exponent-mantissa fields and its zero test (both exponent fields non-zero).

Both are combinational (no clock). Ports: ``act``, ``weight``: unsigned 8-bit FP8 bit patterns
(the PE's ports, so the PE's measured port activity applies bit for bit).
"""

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pe_fp8 import fp8_format


class Fp8SignificandMultiplier(wiring.Component):
    """Combinational: ``man_p = m_a * m_w`` (unsigned, 2 (M+1) bits) and ``shift = e_a + e_w - 2``
    (unsigned) of two FP8 codes, decoded as :class:`hw.pe_fp8.Fp8PE` decodes them.

    Parameters
    ----------
    format : str, keyword-only
        "e4m3" (default) or "e5m2".
    """

    def __init__(self, *, format="e4m3"):
        self._ebits, self._mbits, _ = fp8_format(format)
        E, M = self._ebits, self._mbits
        super().__init__({"act": In(8), "weight": In(8), "man_p": Out(2 * (M + 1)), "shift": Out(E + 1)})

    def elaborate(self, platform):
        m = Module()
        E, M = self._ebits, self._mbits
        decoded = []
        for code in (self.act, self.weight):
            ef, f = code[M:M + E], code[:M]
            normal = ef != 0
            decoded.append((Mux(normal, ef, 1), Cat(f, normal)))
        (e_a, man_a), (e_w, man_w) = decoded
        m.d.comb += [self.man_p.eq(man_a * man_w),          # the one mantissa multiplier
                     self.shift.eq(e_a + e_w - 2)]
        return m


class LmulFieldAdder(wiring.Component):
    """Combinational: ``fields = X_a + X_w + 1`` (8 bits) of the two codes' 7-bit exponent-mantissa
    fields and ``normal`` = both exponent fields non-zero, as :class:`hw.pe_lmul.LmulPE` computes
    them. No multiplier.

    Parameters
    ----------
    format : str, keyword-only
        "e4m3" (default) or "e5m2".
    """

    def __init__(self, *, format="e4m3"):
        self._ebits, self._mbits, _ = fp8_format(format)
        super().__init__({"act": In(8), "weight": In(8), "fields": Out(8), "normal": Out(1)})

    def elaborate(self, platform):
        m = Module()
        M = self._mbits
        m.d.comb += [self.fields.eq(self.act[:7] + self.weight[:7] + 1),     # the L-Mul adder
                     self.normal.eq((self.act[M:7] != 0) & (self.weight[M:7] != 0))]
        return m
