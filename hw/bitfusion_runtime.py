"""A BitFusion Fusion Unit whose fusion mode is chosen at run time: what the project's fixed-mode
Fusion Unit (:class:`hw.pe_bitfusion.BitFusionPE`) leaves out.

:class:`BitFusionPE` is built for one precision pair, so the routing of operand slices to its 16
BitBricks and each brick's shift are wiring. BitFusion's own Fusion Unit switches between its
precision pairs at run time (baselines.md s3: "BBs fuse in powers of 2 giving 1, 2, 4, 8, 16
fused PEs"), which needs, per BitBrick, a multiplexer choosing its activation and weight slices
(and whether the slice is sign-extended) and one choosing its shift, by the mode. This unit
builds exactly that on the same bricks and adder tree, closed on its own 32-bit accumulator (as
:class:`hw.mac_units.MacUnit` closes a PE), so :mod:`models.bitfusion_muxes` can synthesise the
two and measure what the run-time fusion adds to the unit's area and energy.

Arithmetic. For mode (pa, pw) the unit forms ``f = fused_products(pa, pw)`` products
``a_j * w_j`` of the j-th ``pa``-bit activation element (``act`` bits ``[j pa, (j+1) pa)``) and
``pw``-bit weight element, brick (j, ia, iw) multiplying activation slice ia of element j by
weight slice iw (3-bit signed operands as in :class:`BitFusionPE`), shifted left by
``2 (ia + iw)``; every cycle ``acc += sum_j a_j * w_j`` (wrapped to 32 bits). Since the step is
the sum over all 16 bricks, one adder tree serves every mode.

Ports: ``act``, ``weight`` In(32) (the widest mode, 2 x 2 bits: sixteen 2-bit elements each; a
narrower mode uses the low bits), ``mode`` In: index into :data:`MODES` (a value past it adds 0),
``acc`` Out(32), signed.
Signedness (``act_signed``, ``weight_signed``) is fixed at build time, as in :class:`BitFusionPE`.
Timing contract: one step per cycle, ``acc`` registered (latency 1). Synchronous reset clears it.
"""

from amaranth.hdl import Cat, Const, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pe_bitfusion import BRICK_BITS, BRICK_PRODUCT_BITS, BRICKS, MAX_BITS, PRECISIONS, fused_products

#: the run-time modes: every (act bits, weight bits) pair of the Fusion Unit
MODES = tuple((pa, pw) for pa in PRECISIONS for pw in PRECISIONS)
#: operand port bits: the narrowest mode's f elements of its width
PORT_BITS = BRICKS * BRICK_BITS
ACC_BITS = 32


def brick_map(pa, pw):
    """[(element j, act slice ia, weight slice iw)] of the 16 bricks in mode (pa, pw), in
    :class:`hw.pe_bitfusion.BitFusionPE`'s order."""
    f = fused_products(pa, pw)
    out = [(j, ia, iw) for j in range(f) for ia in range(pa // BRICK_BITS) for iw in range(pw // BRICK_BITS)]
    assert len(out) == BRICKS
    return out


class RuntimeFusionMac(wiring.Component):
    """Fusion Unit with run-time fusion mode, accumulating into its own register (see the module
    docstring).

    Parameters
    ----------
    act_signed, weight_signed : bool, keyword-only
        Two's complement elements (default True), else unsigned.
    """

    def __init__(self, *, act_signed=True, weight_signed=True):
        self._act_signed, self._weight_signed = act_signed, weight_signed
        super().__init__({"act": In(PORT_BITS), "weight": In(PORT_BITS),
                          "mode": In(range(len(MODES))), "acc": Out(ACC_BITS)})

    @staticmethod
    def _slice(operand, bits, signed_, element, index):
        """The 3-bit signed brick operand of ``index`` of ``element`` for a ``bits``-wide element."""
        slices = bits // BRICK_BITS
        lo = element * bits + index * BRICK_BITS
        two = operand[lo:lo + BRICK_BITS]
        top = two[BRICK_BITS - 1] if signed_ and index == slices - 1 else Const(0, 1)
        return Cat(two, top)

    def elaborate(self, platform):
        m = Module()
        shifted = []
        for b in range(BRICKS):
            a_op = Signal(BRICK_BITS + 1, name=f"brick{b}_a")
            w_op = Signal(BRICK_BITS + 1, name=f"brick{b}_w")
            shift = Signal(range(2 * (MAX_BITS // BRICK_BITS - 1) * 2 + 1), name=f"brick{b}_shift")
            with m.Switch(self.mode):
                # the run-time fusion: each brick's operand slices and shift, chosen by the mode
                for index, (pa, pw) in enumerate(MODES):
                    j, ia, iw = brick_map(pa, pw)[b]
                    with m.Case(index):
                        m.d.comb += [a_op.eq(self._slice(self.act, pa, self._act_signed, j, ia)),
                                     w_op.eq(self._slice(self.weight, pw, self._weight_signed, j, iw)),
                                     shift.eq(BRICK_BITS * (ia + iw))]
                with m.Default():
                    # a mode index past MODES is no mode: the brick multiplies zeros
                    m.d.comb += [a_op.eq(0), w_op.eq(0), shift.eq(0)]
            brick = Signal(signed(BRICK_PRODUCT_BITS), name=f"brick{b}")
            m.d.comb += brick.eq(a_op.as_signed() * w_op.as_signed())
            shifted.append(brick << shift)
        step = Signal(signed(2 * MAX_BITS + 4))
        m.d.comb += step.eq(sum(shifted))
        m.d.sync += self.acc.eq(self.acc.as_signed() + step)
        return m
