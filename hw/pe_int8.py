"""INT8 x INT8 -> INT32 multiply-accumulate PE: the baseline every other design is compared with."""

from amaranth.hdl import Module, Signal, signed

from .pe import ProcessingElement, check_positive_int


class Int8PE(ProcessingElement):
    """Signed 8-bit x 8-bit multiply, accumulate into ``acc_width`` bits (two's complement wrap).

    Timing contract: initiation interval 1, latency 1 (``acc_out`` is registered), one MAC per step,
    ``k_per_step`` 1. ``act`` and ``weight`` are signed two's complement; ``acc_in``/``acc_out`` are
    signed ``acc_width``-bit. Overflow wraps modulo ``2**acc_width``, exactly as
    :func:`models.golden.gemm_int` does. Synchronous reset clears ``acc_out``.

    Parameters
    ----------
    acc_width : int, keyword-only
        Accumulator width, 17..64 (one product needs 16 bits plus sign growth); default 32.
    """

    def __init__(self, *, acc_width=32):
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=17, maximum=64)
        super().__init__()

    act_width = property(lambda self: 8)
    weight_width = property(lambda self: 8)
    act_signed = property(lambda self: True)
    weight_signed = property(lambda self: True)
    acc_width = property(lambda self: self._acc_width)
    k_per_step = property(lambda self: 1)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: 1)

    def elaborate(self, platform):
        m = Module()
        product = Signal(signed(16))
        m.d.comb += product.eq(self.act.as_signed() * self.weight.as_signed())
        with m.If(self.valid):
            # Assigning the wider sum to acc_out truncates: the documented modulo-2**acc_width wrap.
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + product)
        return m
