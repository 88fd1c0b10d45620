"""MixPE shift-and-add PE: low-bit weight x INT8 activation with shifts and adds, no multiplier."""

from amaranth.hdl import Module, Mux, Signal, signed

from .group_dequant import GroupDequant
from .pe import OptionError, ProcessingElement, check_positive_int


def gated_rows_sum(a, weight, weight_bits, weight_signed=False):
    """The product ``q * a`` as :class:`ShiftAddPE` forms it: row i is ``a << i`` gated by weight
    bit i, the rows summed in order from 0 (the last one subtracted for a signed weight)."""
    total = 0
    for i in range(weight_bits):
        # a << i by a constant is wiring; the weight bit gates it (an AND per bit)
        term = Mux(weight[i], a.shift_left(i), 0)
        total = total - term if weight_signed and i == weight_bits - 1 else total + term
    return total


class ShiftAddPE(ProcessingElement):
    """One ``weight_bits``-bit weight x one signed INT8 activation per cycle, formed as a sum of
    shifted activations (spec section 4): bit i of the weight gates ``a << i``.

    Weight codes. By default (``weight_signed=False``) the weights are *unsigned* codes
    ``q`` in ``[0, 2**B - 1]``, the codes of asymmetric per-group quantisation whose zero point
    ``z`` the post-array unit (:class:`hw.group_dequant.GroupDequant`) subtracts as ``z * sum(a)``
    once per group; every term is added: ``q*a = sum_i q_i (a << i)``. With ``weight_signed=True``
    the codes are two's complement ``q`` in ``[-2**(B-1), 2**(B-1) - 1]`` and the MSB term is
    subtracted, the identity of the spec for INT4: ``-q3 (a<<3) + q2 (a<<2) + q1 (a<<1) + q0 a``.
    A symmetric INT-B weight is the unsigned code ``q + 2**(B-1)`` with zero point ``2**(B-1)``,
    so the unsigned form covers both quantisations.

    The product is built from constant shifts (wiring), AND gates (``Mux`` of a bit) and adders only:
    the PE's RTLIL has no ``$mul`` cell (checked by ``tests/test_pe_shiftadd.py``).

    Timing contract: initiation interval 1, latency 1 (``acc_out`` registered), ``k_per_step`` 1,
    one MAC per step; ``acc_out = acc_in + q*a`` wrapped to ``acc_width`` bits (two's complement).
    Synchronous reset clears ``acc_out``.

    Parameters
    ----------
    weight_bits : int, keyword-only
        2..4; default 4.
    group_size : int >= 1 or None, keyword-only
        Default 128. Not used by the PE itself: the K elements a group's scale and zero point
        cover, read by :class:`hw.accelerator.Accelerator`, which then adds the per-group
        dequantisation unit after the array. It lives here because a PE kind's options live in its
        hardware class. Must be a multiple of the K elements one fold maps (the array's rows);
        None = the raw integer GEMM (no post-array unit).
    weight_signed : bool, keyword-only
        Default False, see above.
    acc_width : int, keyword-only
        17..64; default 32.
    """

    def __init__(self, *, weight_bits=4, group_size=128, weight_signed=False, acc_width=32):
        self._weight_bits = check_positive_int("weight_bits", weight_bits, minimum=2, maximum=4)
        self._group_size = None if group_size is None else check_positive_int("group_size", group_size)
        if not isinstance(weight_signed, bool):
            raise OptionError(f"weight_signed must be a bool, not {weight_signed!r}")
        self._weight_signed = weight_signed
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=17, maximum=64)
        super().__init__()

    weight_bits = property(lambda self: self._weight_bits)
    group_size = property(lambda self: self._group_size)
    act_width = property(lambda self: 8)
    weight_width = property(lambda self: self._weight_bits)
    act_signed = property(lambda self: True)
    weight_signed = property(lambda self: self._weight_signed)
    acc_width = property(lambda self: self._acc_width)
    k_per_step = property(lambda self: 1)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: 1)
    multiplier_free = True

    def post_array_unit(self, cols):
        """The unit :class:`hw.accelerator.Accelerator` adds after a ``cols``-column array of these
        PEs (None for the raw design), for synthesis and cost accounting: its multipliers (3 per
        column) belong to the array's totals, not to the PE."""
        if self._group_size is None:
            return None
        return GroupDequant(cols=cols, acc_width=self._acc_width)

    def elaborate(self, platform):
        m = Module()
        B = self._weight_bits
        product = Signal(signed(8 + B + 1))
        m.d.comb += product.eq(gated_rows_sum(self.act.as_signed(), self.weight, B, self._weight_signed))
        with m.If(self.valid):
            # the wider sum truncates into acc_out: the documented modulo-2**acc_width wrap
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + product)
        return m
