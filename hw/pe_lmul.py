"""L-Mul PE ("Addition is All You Need"): the FP8 PE with its mantissa multiplier replaced by one
integer adder on the operands' exponent-mantissa fields."""

from amaranth.hdl import Cat, Const, Mux, Signal

from .pe_fp8 import Fp8PE


class LmulPE(Fp8PE):
    """FP8 x FP8 L-Mul (approximate product), accumulated exactly like :class:`Fp8PE`.

    Same operands (OCP FP8 codes, ``format`` e4m3 or e5m2), same accumulator (``acc_width`` 53 / 81
    bits, value ``acc_out * 2**-frac``), same timing; only the product differs. It is the
    **integer-add form** :mod:`models.quant.lmul` documents (spec section 5), with
    ``l(M) = M`` for both formats (M = 3, 2), so the offset ``2**-l(M)`` is one mantissa ulp:

    * ``X``, ``W`` = the 7-bit exponent-mantissa fields (sign stripped) of the two codes;
    * ``T = X + W + 1`` (one 8-bit adder with carry-in): ``T >> M`` is ``e_a + e_w`` plus the
      carry out of the mantissa sum, ``T & (2**M - 1)`` the product's mantissa field -- a
      mantissa sum reaching 2 carries into the exponent for free, which is where the integer-add
      form differs from the paper's formula ``(1 + x_m + y_m + 2**-l) 2**(x_e + y_e)``;
    * product magnitude ``(2**M | T[M-1:0]) << (T >> M) + M - 2`` in accumulator units, i.e.
      ``(1 + T[M-1:0] / 2**M) * 2**((T >> M) - 2 * bias)``; negated when ``s_a ^ s_w``.

    Zero and subnormal operands (exponent field 0): the product is 0 (flush to zero, as
    :func:`models.quant.lmul.round_to_float` flushes values below the smallest normal; L-Mul has no
    hidden-bit-free path). Saturation: none. The product keeps its full range in the
    accumulator, as the FP8 PE's exact products do (``models.quant.lmul.lmul`` returns an element
    of the operand format instead, flushing results whose exponent field underflows and
    saturating those that overflow; within that range the two agree bit for bit). The
    accumulator wraps modulo ``2**acc_width`` like the FP8 PE's. No multiplier: an adder, a
    shifter and the accumulator.

    Ports, timing contract (II 1, latency 1, ``k_per_step`` 1) and reset: as :class:`Fp8PE`.
    Dataflows: ws and os (integer accumulator).

    Parameters
    ----------
    format : str, keyword-only
        "e4m3" (default) or "e5m2" (OCP OFP8 v1.0).
    """

    multiplier_free = True

    def _aligned_product(self, m):
        M = self._mbits
        fields = Signal(8)
        m.d.comb += fields.eq(self.act[:7] + self.weight[:7] + 1)      # the L-Mul adder
        normal = Signal()
        m.d.comb += normal.eq((self.act[M:7] != 0) & (self.weight[M:7] != 0))
        aligned = Signal(self.product_bits)
        m.d.comb += aligned.eq(Mux(normal, (Cat(fields[:M], Const(1, 1)) << (M - 2)) << fields[M:], 0))
        return aligned
