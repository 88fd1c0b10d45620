"""MixPE shift-add PE, the group dequantisation unit and their golden twin, unit by unit."""

import re

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hw.accelerator import Accelerator, IncompatibleOptions
from hw.array import SystolicArray
from hw.group_dequant import DequantParams, GroupDequant, pack_param_lanes
from hw.layout import GemmLayout
from hw.pe import facts_only
from hw.pe_int8 import Int8PE
from hw.pe_lut import LutPE
from hw.pe_shiftadd import ShiftAddPE
from models.cycles import gemm_cycles
from models.golden import wrap_signed
from models.intcodes import quantize_acts
from models.quant.shiftadd import dyadic_params, dyadic_requant
from models.shiftadd_gemm import (default_params, group_dequant_int, output_headroom,
                                  quantize_shiftadd_weights, shiftadd_dequantise,
                                  shiftadd_extra_operand, shiftadd_gemm_int, shiftadd_golden)
from models.design import DesignConfig
from sim.pe_driver import PEStep, run_steps
from models.realdata import get_tensor

ACC_MASK = (1 << 32) - 1


def _cells(component):
    return set(re.findall(r"cell (\$\w+)", rtlil.convert(component)))


# --------------------------------------------------------------------------------------------
# the PE


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_pe_exhaustive_over_a_and_q(bits, signed):
    """Every INT8 activation x every B-bit code, one step per cycle (II 1, latency 1)."""
    pe = ShiftAddPE(weight_bits=bits, weight_signed=signed)
    lo = -(1 << (bits - 1)) if signed else 0
    codes = np.arange(lo, lo + (1 << bits))
    acts = np.arange(-128, 128)
    aa, qq = (x.ravel() for x in np.meshgrid(acts, codes))
    acc_in = np.random.default_rng(bits).integers(-(1 << 31), 1 << 31, size=aa.size)
    run = run_steps(pe, [PEStep(int(a), int(q), int(acc)) for a, q, acc in zip(aa, qq, acc_in)], tail=1)
    want = wrap_signed(acc_in + aa * qq, 32)
    assert np.array_equal(wrap_signed(run.outputs, 32), want)
    assert run.trace[-1] == run.outputs[-1]      # holds without valid
    assert (pe.initiation_interval, pe.latency, pe.k_per_step, pe.macs_per_step) == (1, 1, 1, 1)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_pe_rtlil_has_no_multiplier(bits, signed):
    cells = _cells(ShiftAddPE(weight_bits=bits, weight_signed=signed))
    assert "$mul" not in cells and not cells & {"$shl", "$shr", "$sshl", "$sshr", "$shift", "$shiftx"}
    assert "$mul" in _cells(Int8PE())        # the check would see one


@pytest.mark.parametrize("kwargs, match", [
    (dict(weight_bits=1), "weight_bits"), (dict(weight_bits=5), "weight_bits"),
    (dict(group_size=0), "group_size"), (dict(weight_signed=1), "weight_signed"),
    (dict(acc_width=16), "acc_width"),
])
def test_pe_bad_options(kwargs, match):
    with pytest.raises(TypeError, match=match):
        ShiftAddPE(**kwargs)


# --------------------------------------------------------------------------------------------
# the dequantisation unit


def _pack(values, width):
    return sum((int(v) & ((1 << width) - 1)) << (i * width) for i, v in enumerate(values))


def _unit_vectors(rng, n, cols):
    raw = rng.integers(-(1 << 31), 1 << 31, size=(n, cols))
    raw[: n // 2] = rng.integers(-300000, 300000, size=(n // 2, cols))   # realistic group sums
    asum = rng.integers(-(1 << 31), 1 << 31, size=n)
    asum[: n // 2] = rng.integers(-16384, 16384, size=n // 2)
    z = rng.integers(0, 256, size=(n, cols))
    scales = 2.0 ** rng.uniform(-31, 29, size=(n, cols))
    scales[::3] = 2.0 ** rng.integers(-20, 5, size=scales[::3].shape)     # exact ties
    bc = np.array([dyadic_params(s) for s in scales.ravel()]).reshape(n, cols, 2)
    return raw, asum, z, bc[..., 0], bc[..., 1]


def test_dequant_unit_equals_the_golden_dyadic_rounding():
    cols, n = 3, 400
    rng = np.random.default_rng(7)
    raw, asum, z, b, c = _unit_vectors(rng, n, cols)
    raw[0], asum[0], z[0], b[0], c[0] = [-5, 3, 1], 1, [0, 0, 0], [1 << 30] * 3, [31, 32, 33]
    total = rng.integers(-(1 << 31), 1 << 31, size=(n, cols))
    total[: n // 2] = rng.integers(-3000, 3000, size=(n // 2, cols))
    rq = np.array([dyadic_params(s) for s in 2.0 ** rng.uniform(-12, 3, size=n * cols)]).reshape(n, cols, 2)
    rq[::4, 0] = 0
    rq[::4, 1] = 0                                                            # requantisation off
    unit = GroupDequant(cols=cols)
    ys, outs = [], []

    async def tb(ctx):
        ctx.set(unit.in_valid, 1)
        ctx.set(unit.rq_valid, 1)
        for i in range(n + unit.latency):
            if i < n:
                ctx.set(unit.raw, _pack(raw[i], 32))
                ctx.set(unit.asum, int(asum[i]) & ACC_MASK)
                ctx.set(unit.params, _pack(pack_param_lanes(np.stack([b[i], c[i], z[i]], -1)), 48))
                ctx.set(unit.total, _pack(total[i], 32))
                ctx.set(unit.rq_params, _pack(pack_param_lanes(
                    np.stack([rq[i, :, 0], rq[i, :, 1], np.zeros(cols, int)], -1)), 48))
            else:
                ctx.set(unit.in_valid, 0)
                ctx.set(unit.rq_valid, 0)
            await ctx.tick()
            if ctx.get(unit.y_valid):
                ys.append([wrap_signed((ctx.get(unit.y) >> (32 * j)) & ACC_MASK, 32) for j in range(cols)])
            if ctx.get(unit.out_valid):
                outs.append([wrap_signed((ctx.get(unit.out) >> (32 * j)) & ACC_MASK, 32) for j in range(cols)])

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    x = wrap_signed(raw - z * asum[:, None], 32)
    want_y = np.array([[dyadic_requant(x[i, j], b[i, j] / 2 ** c[i, j], -(2 ** 62), 2 ** 62)
                        for j in range(cols)] for i in range(n)])
    want_out = np.array([[total[i, j] if rq[i, j, 1] == 0 else
                          dyadic_requant(total[i, j], rq[i, j, 0] / 2 ** rq[i, j, 1])
                          for j in range(cols)] for i in range(n)])
    assert np.array_equal(np.array(ys), wrap_signed(want_y, 32))
    assert np.array_equal(np.array(outs), want_out)
    assert list(want_y[0]) == [-2, 1, 0]          # -5/2 = -2.5 -> -2 (half up), 3/4 -> 1, 1/8 -> 0
    assert (np.abs(want_out) == 128).any() and (want_out == 127).any()


def test_dequant_unit_multipliers_are_counted():
    """The post-array unit does use multipliers: 3 per column (z*asum, x*b, total*b_out)."""
    text = rtlil.convert(GroupDequant(cols=4))
    assert len(re.findall(r"cell \$mul ", text)) == 12


def test_dequant_params_checks():
    ok = dict(group_size=4, zero_point=np.zeros((2, 3), int), mult=np.full((2, 3), 1 << 30),
              shift=np.full((2, 3), 31))
    assert DequantParams(**ok).groups == 2 and not DequantParams(**ok).requant
    for change, match in ((dict(mult=np.full((2, 3), 1 << 31)), "mult"),
                          (dict(shift=np.zeros((2, 3), int)), "shift"),
                          (dict(zero_point=np.full((2, 3), 256)), "zero_point"),
                          (dict(zero_point=np.zeros((1, 3), int)), "shapes differ"),
                          (dict(out_mult=np.full(3, 1 << 30)), "go together"),
                          (dict(out_mult=np.full(2, 1 << 30), out_shift=np.full(2, 3)), r"\(N,\)")):
        with pytest.raises(ValueError, match=match):
            DequantParams(**{**ok, **change})


# --------------------------------------------------------------------------------------------
# layout, array and accelerator options


def test_param_layout():
    layout = GemmLayout(2, 2, "ws", 1, m=3, k=9, n=3)        # 5 k tiles, groups of 4 -> 3 groups
    assert (layout.groups(4), layout.n_tiles, layout.param_depth(4)) == (3, 2, 8)
    z = np.arange(9).reshape(3, 3)
    b = (1 << 30) + np.arange(9).reshape(3, 3)
    c = 10 + np.arange(9).reshape(3, 3)
    lanes = layout.dequant_param_lanes(4, z, b, c, out_mult=[7, 8, 9], out_shift=[1, 2, 3])
    assert lanes.shape == (8, 2, 3)
    assert list(lanes[1, 1]) == [b[1, 1], c[1, 1], z[1, 1]]     # n tile 0, group 1, column 1
    assert list(lanes[3, 0]) == [7, 1, 0]                       # n tile 0 requantisation word
    assert list(lanes[4 + 2, 0]) == [b[2, 2], c[2, 2], z[2, 2]]  # n tile 1, group 2, column 2
    assert list(lanes[4 + 2, 1]) == [0, 0, 0]                   # padded column
    assert list(lanes[7, 0]) == [9, 3, 0]
    with pytest.raises(ValueError, match="multiple"):
        layout.groups(3)


def test_array_row_sum_option():
    plain = SystolicArray(Int8PE, rows=2, cols=2)
    assert not plain.row_sum and "out_asum" not in plain.signature.members
    assert "out_asum" in SystolicArray(ShiftAddPE, rows=2, cols=2, row_sum=True).signature.members
    with pytest.raises(TypeError, match="weight-stationary"):
        SystolicArray(ShiftAddPE, rows=2, cols=2, dataflow="os", row_sum=True)
    with pytest.raises(TypeError, match="border"):
        SystolicArray(LutPE, rows=2, cols=2, row_sum=True)


def test_accelerator_group_options():
    depths = dict(act_depth=16, weight_depth=16, out_depth=16)
    acc = Accelerator(ShiftAddPE, rows=4, cols=2, **depths)      # the PE's default group (128)
    assert acc.group_size == 128 and acc.group_folds == 32 and acc.post_array_latency == 6
    assert acc.param_depth == 8 and acc.word_widths["param"] == 2 * 48
    assert Accelerator(Int8PE, rows=4, cols=2, **depths).post_array_latency == 0
    assert Accelerator(ShiftAddPE, rows=4, cols=2, group_size=None, **depths).group_size is None
    for kwargs, match in ((dict(dataflow="os"), "weight-stationary"), (dict(rows=3), "multiple"),
                          (dict(group_size=6), "multiple")):
        with pytest.raises(IncompatibleOptions, match=match) as info:
            Accelerator(ShiftAddPE, **{"rows": 4, "cols": 2, **depths, **kwargs})
        assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    with pytest.raises(TypeError, match="param_depth"):
        Accelerator(Int8PE, rows=2, cols=2, param_depth=4, **depths)
    Fragment.get(Accelerator(ShiftAddPE, rows=2, cols=2, group_size=4, **depths), None)  # gacc path
    Fragment.get(Accelerator(ShiftAddPE, rows=2, cols=2, group_size=2, **depths), None)  # no gacc


def test_cycle_model_by_hand():
    d = DesignConfig("shiftadd", 8, 8, "ws", 2048, 2048, 256, (("group_size", 128), ("weight_bits", 4)))
    t = d.timing()
    assert t.post_array_latency == 6 and t.output_latency == 1 + (8 + 7) + 1
    # 20 x 384 x 24: 48 k tiles x 3 n tiles = 144 folds of max(20, 8) = 20 cycles
    est = gemm_cycles(t, 20, 384, 24)
    assert est.cycles == 8 + 143 * 20 + 19 + 17 + 6 + 1
    plain = DesignConfig("shiftadd", 8, 8, "ws", 2048, 2048, 256, (("group_size", None),)).timing()
    assert gemm_cycles(plain, 20, 384, 24).cycles == est.cycles - 6


# --------------------------------------------------------------------------------------------
# golden twin


def _python_reference(acts, weights, params, acc_width=32):
    """Plain Python integers, no numpy or shift-add: the documented formula, term by term."""
    half, mod = 1 << (acc_width - 1), 1 << acc_width

    def wrap(v):
        return (v + half) % mod - half

    (m, k), n, G = np.shape(acts), np.shape(weights)[1], params.group_size
    out = [[0] * n for _ in range(m)]
    for i in range(m):
        for j in range(n):
            total = 0
            for g in range(params.groups):
                ks = range(g * G, min(k, (g + 1) * G))
                raw = sum(int(acts[i][x]) * int(weights[x][j]) for x in ks)
                asum = sum(int(acts[i][x]) for x in ks)
                x = wrap(raw - int(params.zero_point[g][j]) * asum)
                bb, cc = int(params.mult[g][j]), int(params.shift[g][j])
                total = wrap(total + ((x * bb + (1 << (cc - 1))) >> cc))
            if params.requant:
                bb, cc = int(params.out_mult[j]), int(params.out_shift[j])
                total = max(-128, min(127, (total * bb + (1 << (cc - 1))) >> cc))
            out[i][j] = total
    return np.array(out)


@pytest.mark.parametrize("k, group, bits, requant", [(7, 2, 4, False), (17, 8, 4, True),
                                                      (30, 6, 3, True), (24, 4, 2, False), (5, 1, 4, True)])
def test_golden_equals_python_reference(k, group, bits, requant):
    pe = ShiftAddPE(weight_bits=bits, group_size=group)
    rng = np.random.default_rng(k)
    acts = rng.integers(-128, 128, size=(4, k))
    weights = rng.integers(0, 1 << bits, size=(k, 5))
    params = default_params(k, 5, pe, requant=requant)
    got = shiftadd_golden(acts, weights, pe, params)
    assert np.array_equal(got, _python_reference(acts, weights, params))
    assert np.array_equal(shiftadd_golden(acts, weights, pe), group_dequant_int(
        acts, weights, default_params(k, 5, pe), weight_bits=bits))


def test_golden_raw_design_is_the_integer_gemm():
    pe = ShiftAddPE(weight_bits=3, group_size=None)
    rng = np.random.default_rng(1)
    acts, weights = rng.integers(-128, 128, size=(3, 11)), rng.integers(0, 8, size=(11, 4))
    assert np.array_equal(shiftadd_golden(acts, weights, pe), acts @ weights)
    signed = rng.integers(-8, 8, size=(11, 4))
    assert np.array_equal(shiftadd_gemm_int(acts, signed, weight_bits=4, weight_signed=True), acts @ signed)


@pytest.mark.parametrize("k", [256, 300])
def test_quantised_minilm_output_matches_the_fake_quantised_product(k):
    """Real tensors: the integer output times s_out equals the product of the dequantised operands
    up to the dyadic rounding (0.5 per group, in units of s_out)."""
    pe = ShiftAddPE(weight_bits=4, group_size=128)
    acts_f = get_tensor("minilm:L0.ffn1.act")[:16, :k]
    weights_f = get_tensor("minilm:L0.ffn1").T[:k, :24]
    acts, a_meta = quantize_acts(acts_f, bits=8)
    weights, w_meta = quantize_shiftadd_weights(weights_f, pe)
    assert np.array(w_meta["scale"]).shape == (-(-k // 128), 24) and weights.shape == (k, 24)
    params = shiftadd_extra_operand(acts, weights, pe, a_meta, w_meta)
    y = shiftadd_golden(acts, weights, pe, params)
    s_w = np.repeat(np.array(w_meta["scale"]), 128, axis=0)[:k]
    z = np.repeat(np.array(w_meta["zero_point"]), 128, axis=0)[:k]
    fake = (acts * a_meta["scale"][0]) @ ((weights - z) * s_w)
    out = shiftadd_dequantise(y, acts, a_meta, w_meta, pe)
    s_out = out.ravel()[np.argmax(np.abs(y))] / y.ravel()[np.argmax(np.abs(y))]
    assert np.max(np.abs(out - fake)) <= s_out * (params.groups * 0.5 + 1e-6)
    assert np.linalg.norm(out - acts_f @ weights_f) / np.linalg.norm(acts_f @ weights_f) < 0.15
    assert output_headroom(k, 128, 4) >= 8 and np.abs(y).max() < 2 ** 30


def test_post_array_unit_hook():
    unit = ShiftAddPE().post_array_unit(8)
    assert isinstance(unit, GroupDequant) and unit.cols == 8
    facts_only(unit)
    assert ShiftAddPE(group_size=None).post_array_unit(8) is None
