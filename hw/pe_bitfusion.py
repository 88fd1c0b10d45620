"""BitFusion Fusion Unit (Sharma et al., ISCA'18): 16 BitBricks fused into 2/4/8-bit products."""

from amaranth.hdl import Cat, Const, Module, Signal, signed

from .pe import OptionError, ProcessingElement, check_positive_int

#: operand bits one BitBrick takes (spec: baselines.md section 3)
BRICK_BITS = 2
#: BitBricks in one Fusion Unit
BRICKS = 16
#: the widest operand the unit fuses spatially (wider ones go temporally in BitFusion; not built)
MAX_BITS = 8
#: precisions a Fusion Unit fuses (powers of two of the brick, up to MAX_BITS)
PRECISIONS = (2, 4, 8)
#: a BitBrick is a signed 3b x 3b multiplier: 2 operand bits plus a sign-extension bit
BRICK_OPERAND_BITS = BRICK_BITS + 1
#: Amaranth's width of a signed 3b x 3b product (|product| <= 9 fits in 5 bits; synthesis narrows)
BRICK_PRODUCT_BITS = 2 * BRICK_OPERAND_BITS


def fused_products(act_bits, weight_bits):
    """f = floor(8 / max(pa, 2)) * floor(8 / max(pw, 2)): the products one Fusion Unit forms per
    cycle (BitFusion's simulator, ``accelerator.py``; 8x8: 1, 8x4: 2, 4x4 and 8x2: 4, 2x2: 16)."""
    return (MAX_BITS // max(act_bits, BRICK_BITS)) * (MAX_BITS // max(weight_bits, BRICK_BITS))


def _check_bits(name, value):
    if isinstance(value, bool) or value not in PRECISIONS:
        raise OptionError(f"{name} must be one of {', '.join(map(str, PRECISIONS))}, not {value!r}")
    return value


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise OptionError(f"{name} must be a bool, not {value!r}")
    return value


class BitFusionPE(ProcessingElement):
    """One BitFusion Fusion Unit: ``f`` products of a ``act_bits``-bit activation and a
    ``weight_bits``-bit weight per step, formed by 16 BitBricks, summed with ``acc_in``.

    Fusion. An operand of ``p`` bits splits into ``p / 2`` two-bit slices; product j
    (activation element j x weight element j) takes one BitBrick per (activation slice ia, weight
    slice iw) pair, whose product is shifted left by ``2 * (ia + iw)`` (wiring) and added. Every
    precision pair uses all 16 bricks: ``f * (pa / 2) * (pw / 2) = 16``. The fusion mode is
    fixed when the design is built (the array is built for one precision, as every kind here):
    BitFusion's run-time fusion (the shift and add-tree configuration muxes of its Fusion Unit)
    is not built, so this unit is a lower bound on its area.

    BitBrick (spec: baselines.md section 3, [MEM] -- from a summary, not read in the paper or
    code): a signed 3b x 3b multiply of two 2-bit slices, each widened by one bit: a signed
    operand's top slice is sign-extended (values -2..1), every other slice (and every slice of an
    unsigned operand) zero-extended (0..3). So a signed p-bit operand is
    ``-2**(p-1) b_{p-1} + sum_{i<p-1} 2**i b_i``, exactly two's complement, and the brick
    products (-6..9) sum to the exact product.

    Timing contract: initiation interval 1, latency 1 (``acc_out`` registered), ``k_per_step``
    = ``macs_per_step`` = f. ``act`` / ``weight`` are f elements of ``act_bits`` / ``weight_bits``
    (element j at bits ``[j*p, (j+1)*p)``), two's complement when ``act_signed`` /
    ``weight_signed``, else unsigned. ``acc_out = acc_in + sum_j a_j * w_j`` wrapped to
    ``acc_width`` bits (two's complement; BitFusion accumulates in 32 bits). Synchronous reset
    clears ``acc_out``.

    Parameters
    ----------
    act_bits, weight_bits : int, keyword-only
        2, 4 or 8; default 8.
    act_signed, weight_signed : bool, keyword-only
        Default True.
    acc_width : int, keyword-only
        Accumulator width, 17..64 (the widest step, 8b x 8b, needs 16 bits plus sign growth);
        default 32 (BitFusion's).
    """

    def __init__(self, *, act_bits=8, weight_bits=8, act_signed=True, weight_signed=True, acc_width=32):
        self._act_bits = _check_bits("act_bits", act_bits)
        self._weight_bits = _check_bits("weight_bits", weight_bits)
        self._act_signed = _check_bool("act_signed", act_signed)
        self._weight_signed = _check_bool("weight_signed", weight_signed)
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=17, maximum=64)
        super().__init__()

    act_bits = property(lambda self: self._act_bits)
    weight_bits = property(lambda self: self._weight_bits)
    fused_products = property(lambda self: fused_products(self._act_bits, self._weight_bits))
    act_width = property(lambda self: self.k_per_step * self._act_bits)
    weight_width = property(lambda self: self.k_per_step * self._weight_bits)
    act_signed = property(lambda self: self._act_signed)
    weight_signed = property(lambda self: self._weight_signed)
    acc_width = property(lambda self: self._acc_width)
    k_per_step = property(lambda self: self.fused_products)
    initiation_interval = property(lambda self: 1)
    latency = property(lambda self: 1)
    macs_per_step = property(lambda self: self.fused_products)

    @property
    def act_slices(self):
        """Two-bit slices of one activation element."""
        return self._act_bits // BRICK_BITS

    @property
    def weight_slices(self):
        """Two-bit slices of one weight element."""
        return self._weight_bits // BRICK_BITS

    @property
    def bricks(self):
        """BitBricks in use: f * act slices * weight slices (16 for every precision pair)."""
        return self.fused_products * self.act_slices * self.weight_slices

    @property
    def product_bits(self):
        """Significant bits of one fused product a_j * w_j (signed result)."""
        # signed x anything fits pa + pw signed bits; unsigned x unsigned needs one more for the sign
        return self._act_bits + self._weight_bits + (0 if self._act_signed or self._weight_signed else 1)

    @property
    def step_bits(self):
        """Significant bits of the f products' sum (signed): one more per doubling of f."""
        return self.product_bits + (self.fused_products - 1).bit_length()

    def _slice(self, operand, bits, signed_, element, index, slices):
        """The 3-bit signed brick operand of slice ``index`` of ``element``."""
        lo = element * bits + index * BRICK_BITS
        two = operand[lo:lo + BRICK_BITS]
        # the extension bit: the top slice's sign for a signed operand, else 0
        top = two[BRICK_BITS - 1] if signed_ and index == slices - 1 else Const(0, 1)
        return Cat(two, top).as_signed()

    def elaborate(self, platform):
        m = Module()
        products = []
        for j in range(self.fused_products):
            terms = []
            for ia in range(self.act_slices):
                a = self._slice(self.act, self._act_bits, self._act_signed, j, ia, self.act_slices)
                for iw in range(self.weight_slices):
                    w = self._slice(self.weight, self._weight_bits, self._weight_signed, j, iw,
                                    self.weight_slices)
                    brick = Signal(signed(BRICK_PRODUCT_BITS), name=f"brick_{j}_{ia}_{iw}")
                    m.d.comb += brick.eq(a * w)
                    # the shift by a constant is wiring
                    terms.append(brick.shift_left(BRICK_BITS * (ia + iw)))
            product = Signal(signed(self.product_bits), name=f"product_{j}")
            m.d.comb += product.eq(sum(terms))
            products.append(product)
        step = Signal(signed(self.step_bits))
        m.d.comb += step.eq(sum(products))
        with m.If(self.valid):
            # Assigning the wider sum to acc_out truncates: the documented modulo-2**acc_width wrap.
            m.d.sync += self.acc_out.eq(self.acc_in.as_signed() + step)
        return m
