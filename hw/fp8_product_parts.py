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

Both are combinational (no clock). Ports: ``act``, ``weight``: unsigned bit patterns of the
``format`` (8 bits for FP8: the PE's ports, so the PE's measured port activity applies bit for
bit). Besides the PEs' FP8 formats they take BF16 and FP32 (:data:`PART_FORMATS`), so the claim
rows can measure how the comparison moves with the operand format; for those the L-Mul offset is
``2**-l(M)`` with the paper's l(M) = 4 for M > 4 (spec section 5), i.e. ``1 << (M - 4)``.
"""

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pe_fp8 import FORMATS as FP8_FORMATS

#: format -> (exponent bits, mantissa bits)
PART_FORMATS = {**{name: (e, m) for name, (e, m, _) in FP8_FORMATS.items()}, "bf16": (8, 7), "fp32": (8, 23)}


def part_format(name):
    """(ebits, mbits) of a part's operand format; TypeError quoting a bad name."""
    try:
        return PART_FORMATS[name]
    except (KeyError, TypeError):
        raise TypeError(f"format must be one of {', '.join(PART_FORMATS)}, not {name!r}") from None


def lmul_offset(mbits):
    """The L-Mul offset ``2**-l(M)`` in mantissa ulps: l(M) = M (M <= 3), 3 (M = 4), 4 (M > 4)."""
    return 1 << (mbits - (mbits if mbits <= 3 else 3 if mbits == 4 else 4))


class Fp8SignificandMultiplier(wiring.Component):
    """Combinational: ``man_p = m_a * m_w`` (unsigned, 2 (M+1) bits) and ``shift = e_a + e_w - 2``
    (unsigned) of two FP8 codes, decoded as :class:`hw.pe_fp8.Fp8PE` decodes them.

    Parameters
    ----------
    format : str, keyword-only
        "e4m3" (default), "e5m2", "bf16" or "fp32" (:data:`PART_FORMATS`).
    """

    def __init__(self, *, format="e4m3"):
        self._ebits, self._mbits = part_format(format)
        E, M = self._ebits, self._mbits
        super().__init__({"act": In(1 + E + M), "weight": In(1 + E + M), "man_p": Out(2 * (M + 1)),
                          "shift": Out(E + 1)})

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
    """Combinational: ``fields = X_a + X_w + offset`` (E + M + 1 bits; offset 1 for FP8, see
    :func:`lmul_offset`) of the two codes' exponent-mantissa fields (7 bits for FP8) and ``normal``
    = both exponent fields non-zero, as :class:`hw.pe_lmul.LmulPE` computes them. No multiplier.

    Parameters
    ----------
    format : str, keyword-only
        "e4m3" (default), "e5m2", "bf16" or "fp32" (:data:`PART_FORMATS`).
    """

    def __init__(self, *, format="e4m3"):
        self._ebits, self._mbits = part_format(format)
        n = self._ebits + self._mbits
        super().__init__({"act": In(1 + n), "weight": In(1 + n), "fields": Out(n + 1), "normal": Out(1)})

    def elaborate(self, platform):
        m = Module()
        E, M = self._ebits, self._mbits
        n = E + M
        m.d.comb += [self.fields.eq(self.act[:n] + self.weight[:n] + lmul_offset(M)),   # the L-Mul adder
                     self.normal.eq((self.act[M:n] != 0) & (self.weight[M:n] != 0))]
        return m
