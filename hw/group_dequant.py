"""Post-array group dequantisation (MixPE, spec section 4) with HAWQ-V3 dyadic scales (section 5).

After the array has summed a group's integer products ``raw = sum_{k in g} q_k a_k`` and the
row-sum lane ``asum = sum_{k in g} a_k`` (:mod:`hw.array`), each output column applies its group's
zero point and scale once:

    x = wrap(raw - z * asum)                         (acc_width-bit two's complement)
    y = (x * b + 2**(c - 1)) >> c                    (arithmetic shift: round half up)

``b / 2**c`` is the dyadic form of the group scale ``s_a * s_w[g, n] / s_out``. The accelerator
adds ``y`` into the output's running total (wrapping to ``acc_width`` bits); after the last group
the total optionally goes through the same dyadic step once more with the column's
``(b_out, c_out)`` and is clamped to INT8 (``c_out = 0`` leaves the total as it is).

Parameter lanes (one per column in a parameter-buffer word; :meth:`hw.layout.GemmLayout.dequant_param_lanes`
places them): ``b`` bits [0, 32) unsigned, ``c`` bits [32, 40) (the unit uses bits [32, 38): shifts
0..63), ``z`` bits [40, 48) unsigned.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pe import check_positive_int

PARAM_LANE_WIDTH = 48
MULT_BITS, SHIFT_BITS, ZP_BITS = 32, 8, 8
SHIFT_USED_BITS = 6
INT8_MIN, INT8_MAX = -128, 127


def pack_param_lanes(values):
    """(..., 3) integer (b, c, z) triples -> (...) lane values (Python ints in an object array)."""
    values = np.asarray(values, dtype=object)
    return (values[..., 0] | (values[..., 1] << MULT_BITS)
            | (values[..., 2] << (MULT_BITS + SHIFT_BITS)))


@dataclass(frozen=True, eq=False)
class DequantParams:
    """The post-array unit's operands for one GEMM (the extra operand of a grouped design).

    ``zero_point``, ``mult`` (b) and ``shift`` (c): (groups, N) integers, one per group of
    ``group_size`` K elements (the last group may be partial: the layout zero-pads K) and output
    column. ``out_mult``/``out_shift``: (N,) integers of the INT8 requantisation, or None for none.
    Ranges (checked): ``z`` in 0..255; ``b`` in [2**30, 2**31) and ``c`` in 1..62 -- the normal form
    HAWQ-V3's ``dyadic_params`` produces (``b = round(m * 2**31)``, m in [0.5, 1)), which also keeps
    ``x * b`` inside 63 bits for a 32-bit ``x``.
    """
    group_size: int
    zero_point: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    out_mult: np.ndarray = None
    out_shift: np.ndarray = None

    def __post_init__(self):
        check_positive_int("group_size", self.group_size)
        arrays = {}
        for name in ("zero_point", "mult", "shift"):
            a = np.asarray(getattr(self, name))
            if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{name} must be a 2-D (groups, N) integer array, got "
                                 f"shape {a.shape} dtype {a.dtype}")
            arrays[name] = a.astype(np.int64)
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1:
            raise ValueError(f"zero_point, mult and shift shapes differ: {sorted(shapes)}")
        if (self.out_mult is None) != (self.out_shift is None):
            raise ValueError("out_mult and out_shift go together")
        n = arrays["mult"].shape[1]
        if self.out_mult is not None:
            for name in ("out_mult", "out_shift"):
                a = np.asarray(getattr(self, name))
                if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
                    raise ValueError(f"{name} must be an (N,) = ({n},) integer array, got shape {a.shape}")
                arrays[name] = a.astype(np.int64)
        _check_range("zero_point", arrays["zero_point"], 0, (1 << ZP_BITS) - 1)
        for prefix in ("", "out_"):
            if prefix + "mult" in arrays:
                _check_range(prefix + "mult", arrays[prefix + "mult"], 1 << 30, (1 << 31) - 1)
                _check_range(prefix + "shift", arrays[prefix + "shift"], 1, 62)
        for name, a in arrays.items():
            a.setflags(write=False)
            object.__setattr__(self, name, a)

    groups = property(lambda self: self.mult.shape[0])
    n = property(lambda self: self.mult.shape[1])
    requant = property(lambda self: self.out_mult is not None)

    def param_lanes(self, layout):
        """(param_depth, cols) lane values for ``layout`` (see the module docstring)."""
        return pack_param_lanes(layout.dequant_param_lanes(
            self.group_size, self.zero_point, self.mult, self.shift, self.out_mult, self.out_shift))

    def dump_arrays(self):
        extra = {"out_mult": self.out_mult, "out_shift": self.out_shift} if self.requant else {}
        return {"group_size": self.group_size, "zero_point": self.zero_point, "mult": self.mult,
                "shift": self.shift, **extra}

    description = "dequant_params.npz (zero_point, mult = b, shift = c: groups x N)"

    @property
    def output_description(self):
        """What the design's integer output means with these parameters (for dumps)."""
        return ("group-dequantised integer output: per group, HAWQ-V3 dyadic (b, c) applied to "
                "raw - z * sum(a), summed over groups" + (", then requantised to INT8" if self.requant else ""))


def post_array_ports(cols, acc_width, param_lane_width):
    """The port signature every post-array unit shares (the accelerator's group writer drives
    it): see :class:`GroupDequant`."""
    lanes = cols * acc_width
    return {
        "in_valid": In(1), "raw": In(lanes), "asum": In(acc_width),
        "params": In(cols * param_lane_width),
        "y_valid": Out(1), "y": Out(lanes),
        "rq_valid": In(1), "total": In(lanes), "rq_params": In(cols * param_lane_width),
        "out_valid": Out(1), "out": Out(lanes),
    }


def _check_range(name, a, lo, hi):
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(f"{name} out of range {lo}..{hi}: min {a.min()}, max {a.max()}")


def _round_shift(m, p, c, name):
    """``(p + 2**(c-1)) >> c`` (arithmetic; c = 0 gives p), as HAWQ-V3 rounds."""
    half = Signal((1 << SHIFT_USED_BITS) - 1, name=f"{name}_half")
    m.d.comb += half.eq((Const(1, 1) << c)[1:])     # one-hot 2**(c-1), 0 for c = 0
    return (p + half) >> c


class GroupDequant(wiring.Component):
    """Per output word: group dequantisation (``latency`` cycles) and the optional INT8
    requantisation of a finished total (``requant_latency`` cycles): two independent pipelines,
    each taking one word per cycle. Multipliers per column: ``z * asum`` (8 x acc_width),
    ``x * b`` and ``total * b_out`` (acc_width x 32).

    Ports (lane c of a vector at bits [c*w, (c+1)*w)):

    * ``in_valid``, ``raw`` (cols x acc_width, the group's integer sums), ``asum`` (acc_width),
      ``params`` (cols x 48, (b, c, z) lanes) -> ``latency`` cycles later ``y_valid`` and ``y``
      (cols x acc_width: ``(wrap(raw - z*asum) * b + 2**(c-1)) >> c``, wrapped to acc_width).
    * ``rq_valid``, ``total`` (cols x acc_width), ``rq_params`` (cols x 48, (b_out, c_out, -)) ->
      ``requant_latency`` cycles later ``out_valid`` and ``out``: per lane
      ``clamp((total * b_out + 2**(c_out-1)) >> c_out, -128, 127)`` sign-extended, or ``total``
      unchanged where ``c_out = 0``.

    Every input is sampled in the cycle its valid is high; inputs and outputs are two's complement.
    """

    latency = 3
    requant_latency = 3
    param_lane_width = PARAM_LANE_WIDTH
    operand_type = DequantParams
    uses_asum = True           # needs the array's row-sum lane (z * sum(a))
    #: bits of each parameter lane the dequantisation reads (b, the used bits of c, z) and the
    #: requantisation reads (b_out, c_out): the others are never wired (synthesis drops them)
    param_bits_read = MULT_BITS + SHIFT_USED_BITS + ZP_BITS
    rq_param_bits_read = MULT_BITS + SHIFT_USED_BITS

    def __init__(self, *, cols, acc_width=32):
        self._cols = check_positive_int("cols", cols)
        self._acc_width = check_positive_int("acc_width", acc_width, minimum=17, maximum=64)
        super().__init__(post_array_ports(cols, acc_width, PARAM_LANE_WIDTH))

    cols = property(lambda self: self._cols)
    acc_width = property(lambda self: self._acc_width)

    @property
    def product_width(self):
        """Bits of ``x * b`` (and ``total * b_out``): a signed acc_width-bit value times an
        unsigned MULT_BITS-bit one."""
        return self._acc_width + MULT_BITS + 1

    @property
    def rounded_width(self):
        """Bits of ``x * b + 2**(c - 1)``, the rounding add before the shift."""
        return self.product_width + 1

    def _lane(self, vector, c):
        return vector[c * self._acc_width:(c + 1) * self._acc_width].as_signed()

    @staticmethod
    def _fields(params, c):
        lane = params[c * PARAM_LANE_WIDTH:(c + 1) * PARAM_LANE_WIDTH]
        return (lane[:MULT_BITS], lane[MULT_BITS:MULT_BITS + SHIFT_USED_BITS],
                lane[MULT_BITS + SHIFT_BITS:MULT_BITS + SHIFT_BITS + ZP_BITS])

    def elaborate(self, platform):
        m = Module()
        A = self._acc_width
        asum = self.asum.as_signed()

        # dequantisation: stage 1 zero point, stage 2 scale multiply, stage 3 round and shift
        v = [Signal(name=f"dq_valid{i}") for i in (1, 2, 3)]
        m.d.sync += [v[0].eq(self.in_valid), v[1].eq(v[0]), v[2].eq(v[1])]
        m.d.comb += self.y_valid.eq(v[2])
        ys = []
        for c in range(self._cols):
            b, sh, z = self._fields(self.params, c)
            x1, b1, c1 = Signal(signed(A), name=f"x_{c}"), Signal(MULT_BITS, name=f"b1_{c}"), \
                Signal(SHIFT_USED_BITS, name=f"c1_{c}")
            # the A-bit signal keeps the low bits of the difference: the documented wrap
            m.d.sync += [x1.eq(self._lane(self.raw, c) - z * asum), b1.eq(b), c1.eq(sh)]
            p2 = Signal(signed(self.product_width), name=f"p_{c}")
            c2 = Signal(SHIFT_USED_BITS, name=f"c2_{c}")
            m.d.sync += [p2.eq(x1 * b1), c2.eq(c1)]
            y3 = Signal(signed(A), name=f"y_{c}")
            m.d.sync += y3.eq(_round_shift(m, p2, c2, f"dq_{c}"))
            ys.append(y3)
        for c, y in enumerate(ys):
            m.d.comb += self.y[c * A:(c + 1) * A].eq(y)

        # requantisation: stage 1 inputs, stage 2 multiply, stage 3 round, shift and clamp
        r = [Signal(name=f"rq_valid{i}") for i in (1, 2, 3)]
        m.d.sync += [r[0].eq(self.rq_valid), r[1].eq(r[0]), r[2].eq(r[1])]
        m.d.comb += self.out_valid.eq(r[2])
        for c in range(self._cols):
            b, sh, _ = self._fields(self.rq_params, c)
            t1, b1, c1 = Signal(signed(A), name=f"t1_{c}"), Signal(MULT_BITS, name=f"rb1_{c}"), \
                Signal(SHIFT_USED_BITS, name=f"rc1_{c}")
            m.d.sync += [t1.eq(self._lane(self.total, c)), b1.eq(b), c1.eq(sh)]
            t2, p2, c2 = Signal(signed(A), name=f"t2_{c}"), Signal(signed(self.product_width), name=f"rp_{c}"), \
                Signal(SHIFT_USED_BITS, name=f"rc2_{c}")
            m.d.sync += [t2.eq(t1), p2.eq(t1 * b1), c2.eq(c1)]
            q = Signal(signed(self.rounded_width), name=f"rq_{c}")
            m.d.comb += q.eq(_round_shift(m, p2, c2, f"rq_{c}"))
            clamped = Mux(q > INT8_MAX, INT8_MAX, Mux(q < INT8_MIN, INT8_MIN, q))
            o3 = Signal(signed(A), name=f"o_{c}")
            m.d.sync += o3.eq(Mux(c2 == 0, t2, clamped))
            m.d.comb += self.out[c * A:(c + 1) * A].eq(o3)
        return m
