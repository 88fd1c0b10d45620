"""The LUT table-precompute unit and LUT PE alone, in Amaranth's simulator, against the golden model."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.lut_precompute import ENTRY_WIDTH, LutTablePrecompute
from hw.pe_lut import LutPE
from models.golden import wrap_signed
from models.quant import lut
from sim.pe_driver import PEStep, run_steps
from models.lut_gemm import lut_dequantise, lut_gemm_int, quantize_lut_weights
from models.intcodes import quantize_acts


def _pack(values, width):
    return sum((int(v) & ((1 << width) - 1)) << (i * width) for i, v in enumerate(values))


def _acts(rng, n):
    groups = rng.integers(-128, 128, size=(n, 4))
    groups[:4] = [[-128] * 4, [127] * 4, [-128, 127, -128, 127], [0, 0, 0, -128]]
    return groups


def test_precompute_equals_the_stored_half_table():
    rng = np.random.default_rng(0)
    groups = _acts(rng, 300)
    unit = LutTablePrecompute()
    seen = []

    async def tb(ctx):
        for g in groups:
            ctx.set(unit.code, _pack(g, 8))
            seen.append(ctx.get(unit.operand))

    sim = Simulator(unit)
    sim.add_testbench(tb)
    sim.run()
    got = [[int(wrap_signed((v >> (ENTRY_WIDTH * j)) & ((1 << ENTRY_WIDTH) - 1), ENTRY_WIDTH))
            for j in range(8)] for v in seen]
    assert np.array_equal(np.array(got), lut.half_tables(groups)[:, 0, :])


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_pe_step_equals_the_reinterpreted_dot_product(bits):
    rng = np.random.default_rng(bits)
    groups = _acts(rng, 60)
    weights = rng.integers(0, 1 << bits, size=(60, 4))
    weights[:2] = [[0] * 4, [(1 << bits) - 1] * 4]
    acc_in = rng.integers(-(1 << 31), 1 << 31, size=60)
    pe = LutPE(weight_bits=bits)
    tables = lut.half_tables(groups)[:, 0, :]
    lanes = pe.weight_lanes(weights)
    steps = [PEStep(_pack(table, ENTRY_WIDTH), int(lane), int(acc))
             for table, lane, acc in zip(tables, lanes, acc_in)]
    got = wrap_signed(run_steps(pe, steps).outputs, 32).tolist()
    q_prime = 2 * weights - ((1 << bits) - 1)
    want = wrap_signed((q_prime * groups).sum(axis=1) + acc_in, 32)
    assert got == want.tolist()
    assert pe.initiation_interval == pe.latency == bits and pe.k_per_step == 4


@pytest.mark.parametrize("bad", [0, 5, "4", None])
def test_bad_weight_bits(bad):
    with pytest.raises(TypeError, match="weight_bits"):
        LutPE(weight_bits=bad)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_dequantisation_identity(bits):
    """s_a * s'_n (raw - z'_n sum a) with s' = s/2, z' = 2z + 1 - 2**B equals the product of the
    dequantised operands (s_a a) @ (s (q - z)) exactly (up to float rounding)."""
    rng = np.random.default_rng(bits)
    a_float, w_float = rng.normal(size=(6, 19)), rng.normal(size=(19, 5)) + 0.3
    acts, a_meta = quantize_acts(a_float)
    weights, w_meta = quantize_lut_weights(w_float, weight_bits=bits)
    raw = lut_gemm_int(acts, weights, weight_bits=bits)
    got = lut_dequantise(raw, acts, weight_bits=bits, act_scale=a_meta["scale"][0],
                         weight_scale=w_meta["scale"], weight_zero_point=w_meta["zero_point"])
    w_deq = (weights - np.asarray(w_meta["zero_point"])[None, :]) * np.asarray(w_meta["scale"])[None, :]
    want = (acts * a_meta["scale"][0]) @ w_deq
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
