"""The FP8 PE alone and its golden model: a scalar restatement of the arithmetic (OCP FP8 decode,
exact product, exact fixed-point sum), ml_dtypes' float decoding, every e4m3 and e5m2 code pair
through the PE in Amaranth's simulator, wrap, timing contract, the quantisers, the code checks,
and the one mantissa multiplier Yosys finds."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.pe_fp8 import Fp8PE
from models import synth
from models.fp8_gemm import (fp8_gemm, fp8_to_float, raw_to_float, special_codes)
from models.realdata import real_gemm
from models.registry import get_kind
from tests.tools import require_synthesis

# OCP OFP8 v1.0, restated: exponent bits, mantissa bits, bias; the accumulator the PE docstring
# derives (36 / 64 product bits + sign + 16 growth bits) and its fraction bits.
SPEC = {"e4m3": dict(E=4, M=3, bias=7, acc=53, frac=18, dtype=ml_dtypes.float8_e4m3fn),
        "e5m2": dict(E=5, M=2, bias=15, acc=81, frac=32, dtype=ml_dtypes.float8_e5m2)}
KIND = get_kind("fp8")


def _is_operand(code, fmt):
    """Finite codes: e4m3 has only S.1111.111 as NaN; e5m2's all-ones exponent is inf/NaN."""
    if fmt == "e4m3":
        return code & 0x7F != 0x7F
    return (code >> 2) & 31 != 31


def _valid_codes(fmt):
    return [c for c in range(256) if _is_operand(c, fmt)]


def _scalar_product(a, w, fmt):
    """One product in accumulator units (2**-frac), plain Python integers, step by step."""
    E, M = SPEC[fmt]["E"], SPEC[fmt]["M"]

    def decode(x):
        ef, f = (x >> M) & ((1 << E) - 1), x & ((1 << M) - 1)
        return x >> 7, max(ef, 1), (f | (1 << M)) if ef else f
    (sa, ea, ma), (sw, ew, mw) = decode(a), decode(w)
    aligned = (ma * mw) << (ea + ew - 2)
    return -aligned if sa ^ sw else aligned


def _wrap(value, width):
    half = 1 << (width - 1)
    return (value + half) % (1 << width) - half


def _scalar_gemm(acts, weights, fmt):
    m, k, n = len(acts), len(acts[0]), len(weights[0])
    return [[_wrap(sum(_scalar_product(acts[i][kk], weights[kk][j], fmt) for kk in range(k)),
                   SPEC[fmt]["acc"]) for j in range(n)] for i in range(m)]


@pytest.mark.parametrize("fmt", SPEC)
def test_golden_matches_scalar_restatement_on_random_codes_with_every_special(fmt):
    pe = KIND.prototype(format=fmt)
    rng = np.random.default_rng(1)
    acts, weights = KIND.random_operands(rng, 7, 33, 5, pe)
    for side in (acts, weights):
        assert set(special_codes(fmt)) <= set(side.flat)          # every special value drawn
        assert all(_is_operand(int(c), fmt) for c in side.flat)   # and no NaN / inf code
    want = _scalar_gemm(acts.tolist(), weights.tolist(), fmt)
    assert fp8_gemm(acts, weights, fmt).tolist() == want


@pytest.mark.parametrize("fmt", SPEC)
def test_decoding_and_every_product_agree_with_ml_dtypes(fmt):
    codes = np.array(_valid_codes(fmt))
    ref = codes.astype(np.uint8).view(SPEC[fmt]["dtype"]).astype(np.float64)
    assert np.array_equal(fp8_to_float(codes, fmt), ref)
    assert np.array_equal(np.signbit(fp8_to_float(codes, fmt)), np.signbit(ref))   # -0 too
    # K = 1: every product of two operands, exact (float64 holds it)
    raw = fp8_gemm(codes[:, None], codes[None, :], fmt)
    assert np.array_equal(raw_to_float(raw, fmt), np.outer(ref, ref))
    assert raw_to_float(fp8_gemm([[1]], [[1]], fmt), fmt)[0, 0] == 2.0 ** -SPEC[fmt]["frac"]


@pytest.mark.parametrize("fmt", SPEC)
def test_dot_products_are_exact(fmt):
    """The raw output is the exact rational dot product of the ml_dtypes values (no rounding)."""
    pe = KIND.prototype(format=fmt)
    acts, weights = KIND.random_operands(np.random.default_rng(2), 3, 64, 4, pe)
    a = acts.astype(np.uint8).view(SPEC[fmt]["dtype"]).astype(np.float64)
    w = weights.astype(np.uint8).view(SPEC[fmt]["dtype"]).astype(np.float64)
    raw = fp8_gemm(acts, weights, fmt)
    for i in range(3):
        for j in range(4):
            exact = sum(Fraction(a[i, k]) * Fraction(w[k, j]) for k in range(64))
            assert Fraction(int(raw[i, j]), 1 << SPEC[fmt]["frac"]) == exact


def test_e5m2_needs_python_ints_and_e4m3_fits_int64():
    big = 0x7B                                          # e5m2 max normal: 57344**2 * 2**32 > 2**63
    raw = fp8_gemm(np.full((1, 4), big), np.full((4, 1), big), "e5m2")
    assert raw.dtype == object and raw[0, 0] == 4 * 49 << 58
    assert fp8_gemm(np.full((1, 4), 0x7E), np.full((4, 1), 0xFE), "e4m3").dtype == np.int64


def test_sum_wraps_modulo_the_accumulator():
    """2**16 products cannot wrap (each is below 2**36); 2**17 largest e4m3 products of one sign
    (196 * 2**28 each) overflow the 53-bit accumulator and wrap to a negative value."""
    k = 1 << 16
    raw = fp8_gemm(np.full((1, k), 0x7E), np.full((k, 1), 0x7E), "e4m3")
    assert raw[0, 0] == k * (14 * 14 << 28)
    k = 1 << 17
    raw = fp8_gemm(np.full((1, k), 0x7E), np.full((k, 1), 0x7E), "e4m3")
    assert raw[0, 0] == _wrap(k * (14 * 14 << 28), 53) < 0


# ---------------------------------------------------------------------------------------------
# the PE in Amaranth's simulator


def _run_pe(pe, steps):
    """steps: (act, weight, valid, acc_in); acc_out one cycle after each, signed."""
    seen = []
    width = pe.acc_width

    async def tb(ctx):
        for act, weight, valid, acc_in in steps:
            ctx.set(pe.act, act)
            ctx.set(pe.weight, weight)
            ctx.set(pe.valid, valid)
            ctx.set(pe.acc_in, acc_in & ((1 << width) - 1))
            await ctx.tick()
            seen.append(_wrap(ctx.get(pe.acc_out), width))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return seen


@pytest.mark.parametrize("fmt", SPEC)
def test_pe_every_code_pair(fmt):
    """Every pair of operand codes (254**2 e4m3, 248**2 e5m2), each from a random acc_in, plus
    accumulators at both ends of the range (wraps, never saturates)."""
    pe = Fp8PE(format=fmt)
    width = SPEC[fmt]["acc"]
    assert pe.acc_width == width
    rng = np.random.default_rng(3)
    half = 1 << (width - 1)
    codes = _valid_codes(fmt)
    steps = [(a, w, 1, int(rng.integers(-(1 << 62), 1 << 62)) >> 2) for a in codes for w in codes]
    top = codes.index(0x7E if fmt == "e4m3" else 0x7B)
    steps += [(codes[top], codes[top], 1, half - 1), (codes[top], codes[top] | 0x80, 1, -half)]
    got = _run_pe(pe, steps)
    want = [_wrap(acc + _scalar_product(a, w, fmt), width) for a, w, _, acc in steps]
    assert got == want
    assert got[-2] < 0 < got[-1]                       # both ends wrapped


def test_acc_out_holds_without_valid():
    got = _run_pe(Fp8PE(), [(0x38, 0x40, 1, 5), (0x7E, 0x7E, 0, 7), (0xB8, 0x38, 1, 0)])
    one = 1 << 18                                       # 1.0 * 1.0 in units of 2**-18
    assert got == [5 + 2 * one, 5 + 2 * one, -one]     # 1.0 * 2.0 + 5 units; held; -1.0 * 1.0


def test_timing_facts():
    for fmt, spec in SPEC.items():
        pe = KIND.prototype(format=fmt)
        assert (pe.act_width, pe.weight_width, pe.acc_width, pe.frac) == (8, 8, spec["acc"], spec["frac"])
        assert (pe.initiation_interval, pe.latency, pe.k_per_step, pe.macs_per_cycle) == (1, 1, 1, 1)
        assert pe.integer_accumulator and not pe.multiplier_free
        assert not (pe.act_signed or pe.weight_signed)
    assert KIND.dataflows == ("ws", "os")


@pytest.mark.parametrize("bad", ["e4m3fn", "E4M3", None, 8])
def test_bad_format_is_a_type_error_quoting_the_value(bad):
    with pytest.raises(TypeError, match=repr(bad)):
        Fp8PE(format=bad)


# ---------------------------------------------------------------------------------------------
# operands: quantisers and code checks


@pytest.mark.parametrize("fmt, bad", [("e4m3", 0x7F), ("e4m3", 0xFF), ("e5m2", 0x7C),
                                      ("e5m2", 0x7E), ("e5m2", 0xFC), ("e5m2", 0xFF)])
def test_nan_and_infinity_codes_are_refused(fmt, bad):
    pe = KIND.prototype(format=fmt)
    ok = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=f"activation codes hold FP8 {fmt} NaN/infinity.*0x{bad:02X}"):
        KIND.operands(ok + bad, ok.T, pe)
    with pytest.raises(ValueError, match="weight codes"):
        KIND.operands(ok, ok.T + bad, pe)
    with pytest.raises(ValueError, match="NaN/infinity"):
        KIND.golden_gemm(ok + bad, ok.T, pe)
    with pytest.raises(ValueError, match="out of range"):
        KIND.operands(ok + 256, ok.T, pe)


def test_largest_valid_codes_are_accepted():
    ops = KIND.operands(np.array([[0x7E, 0xFE, 0x7C]]), np.array([[0x78], [0x80], [0x01]]),
                        KIND.prototype(format="e4m3"))
    assert ops.extra is None


@pytest.mark.parametrize("fmt", SPEC)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_quantisers_refuse_non_finite_tensors(fmt, value):
    pe = KIND.prototype(format=fmt)
    x = np.ones((2, 3))
    x[1, 2] = value
    with pytest.raises(ValueError, match="activations contain NaN or infinity"):
        KIND.operands(x, np.ones((3, 2)), pe)
    with pytest.raises(ValueError, match="weights contain NaN or infinity"):
        KIND.operands(np.ones((3, 2)), x.T.copy(), pe)


@pytest.mark.parametrize("fmt, max_code, err_bound", [("e4m3", 0x7E, 0.06), ("e5m2", 0x7B, 0.10)])
def test_quantised_minilm_gemm(fmt, max_code, err_bound):
    """Activation amax and each weight column's amax land on max normal; the dequantised GEMM
    tracks float64 (measured relative error: 4.4 % e4m3, 6.8 % e5m2 on L0 FFN1 8 x 64 x 8)."""
    pe = KIND.prototype(format=fmt)
    a, w = real_gemm("minilm:L0.ffn1", 8, 64, 8)
    ops = KIND.operands(a, w, pe)
    assert ops.acts_meta["granularity"] == "tensor" and len(ops.weights_meta["scale"]) == 8
    assert (np.abs(ops.acts) & 0x7F).max() == max_code
    assert ((ops.weights & 0x7F).max(axis=0) == max_code).all()
    y = KIND.dequantize_output(KIND.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
    assert np.allclose(ops.acts_meta["scale"][0], np.abs(a).max() / fp8_to_float([max_code], fmt)[0])
    err = np.linalg.norm(y - a @ w) / np.linalg.norm(a @ w)
    assert 0 < err < err_bound


# ---------------------------------------------------------------------------------------------
# synthesis


@pytest.mark.parametrize("fmt, mul", [("e4m3", "$mul_8"), ("e5m2", "$mul_6")])
def test_one_mantissa_multiplier(fmt, mul):
    """One (M+1) x (M+1) mantissa multiplier (4 x 4 -> 8 bits, 3 x 3 -> 6 bits), nothing wider;
    the accumulator's flops only."""
    require_synthesis()
    r = synth.synthesize("fp8", unit="pe", pe_options=(("format", fmt),))
    assert r.multipliers == 1 and r.word_cells.get(mul) == 1
    assert r.flop_bits == SPEC[fmt]["acc"] and r.area_um2 > 0


def test_small_random_draws_vary():
    """Operands too small for every special value still draw general codes (a 1 x 1 draw is not
    always the first special value)."""
    pe = KIND.prototype()
    rng = np.random.default_rng(6)
    drawn = {int(KIND.random_operands(rng, 1, 1, 1, pe)[0][0, 0]) for _ in range(50)}
    assert len(drawn) > 20 and all(_is_operand(c, "e4m3") for c in drawn)
