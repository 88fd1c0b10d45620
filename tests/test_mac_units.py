"""The MAC units of the FP8-vs-INT8 claim row (hw.mac_units) against numpy: the FP8 x FP8 ->
FP32-accumulate PE step by step (float32 arithmetic rounds to nearest even), and a PE closed on its
own accumulator."""

import ml_dtypes
import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.mac_units import Fp8Fp32AccPE, Fp32AccumulateAdder, MacUnit
from hw.pe_fp8 import Fp8PE
from hw.pe_int8 import Int8PE

_NUMPY_FP8 = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}


def _run(unit, pairs):
    """``acc`` after each cycle of ``pairs`` (act, weight) fed one per cycle from reset."""
    got = []

    async def tb(ctx):
        for a, w in pairs:
            ctx.set(unit.act, a)
            ctx.set(unit.weight, w)
            await ctx.tick()
            got.append(ctx.get(unit.acc))

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return got


def _finite_codes(fmt):
    values = np.arange(256, dtype=np.uint8).view(_NUMPY_FP8[fmt]).astype(np.float64)
    return np.flatnonzero(np.isfinite(values))


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_fp8_fp32_accumulate_is_numpy_float32(fmt):
    """Random finite codes (zeros and subnormals included): each step is the exact product added
    to the FP32 accumulator with one IEEE round to nearest even."""
    rng = np.random.default_rng(16)
    codes = _finite_codes(fmt)
    a = rng.choice(codes, 300).astype(np.uint8)
    w = rng.choice(codes, 300).astype(np.uint8)
    got = _run(MacUnit(Fp8Fp32AccPE(format=fmt)), list(zip(a.tolist(), w.tolist())))
    products = (a.view(_NUMPY_FP8[fmt]).astype(np.float64) * w.view(_NUMPY_FP8[fmt]).astype(np.float64))
    assert np.array_equal(products.astype(np.float32), products)     # exact in float32
    acc, want = np.float32(0), []
    for p in products.astype(np.float32):
        acc = np.float32(acc + p)
        want.append(int(np.array(acc, dtype=np.float32).view(np.uint32)))
    assert got == want
    # it rounds: the exact sum is not what the accumulator holds (the test can tell FP32 from exact)
    assert float(np.array(want[-1], dtype=np.uint32).view(np.float32)) != float(np.sum(products))


def test_mac_unit_closes_a_pe_on_its_accumulator():
    """INT8: acc = running sum of a * w wrapped to 32 bits; FP8 (exact PE): the running exact sum
    in units of 2**-frac."""
    rng = np.random.default_rng(17)
    a, w = rng.integers(-128, 128, 200), rng.integers(-128, 128, 200)
    got = _run(MacUnit(Int8PE()), list(zip((a & 0xFF).tolist(), (w & 0xFF).tolist())))
    assert got == (np.cumsum(a * w) & 0xFFFFFFFF).tolist()
    pe = Fp8PE(format="e4m3")
    codes = _finite_codes("e4m3")
    ca, cw = rng.choice(codes, 100).astype(np.uint8), rng.choice(codes, 100).astype(np.uint8)
    got = _run(MacUnit(pe), list(zip(ca.tolist(), cw.tolist())))
    exact = np.cumsum(ca.view(ml_dtypes.float8_e4m3fn).astype(np.float64)
                      * cw.view(ml_dtypes.float8_e4m3fn).astype(np.float64))
    assert got == [int(round(x * 2 ** pe.frac)) % (1 << pe.acc_width) for x in exact]


def test_mac_unit_refuses_a_multi_cycle_pe():
    from hw.pe_bitserial import BitSerialPE
    with pytest.raises(ValueError, match="initiation interval"):
        MacUnit(BitSerialPE())


def test_fp32_accumulate_adder_is_numpy_float32():
    """Random finite FP32 words of mixed magnitudes: the sum rounds to nearest even as numpy's."""
    rng = np.random.default_rng(18)
    x = (rng.standard_normal(400) * 2.0 ** rng.integers(-30, 30, 400)).astype(np.float32)
    y = (rng.standard_normal(400) * 2.0 ** rng.integers(-30, 30, 400)).astype(np.float32)
    unit, got = Fp32AccumulateAdder(), []

    async def tb(ctx):
        for a, b in zip(x.view(np.uint32).tolist(), y.view(np.uint32).tolist()):
            ctx.set(unit.a, a)
            ctx.set(unit.b, b)
            await ctx.delay(1e-9)
            got.append(ctx.get(unit.sum))

    sim = Simulator(unit)
    sim.add_testbench(tb)
    sim.run()
    assert got == (x + y).view(np.uint32).tolist()
