"""The run-time-fusion Fusion Unit (hw.bitfusion_runtime) against numpy in every mode: the unit
whose synthesis measures what BitFusion's fusion muxes add to the fixed-mode Fusion Unit
(models.bitfusion_muxes), and the BitFusion rows' note built from the cached figures."""

import json

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.bitfusion_runtime import MODES, PORT_BITS, RuntimeFusionMac, brick_map
from hw.mac_units import MacUnit
from hw.pe_bitfusion import BitFusionPE, fused_products
from models import bitfusion_muxes, claims
from models.claims_configs import CONFIGS
from tests.tools import require_sta, require_synthesis


def _pack(elements, bits):
    return sum((int(e) & ((1 << bits) - 1)) << (i * bits) for i, e in enumerate(elements))


def _run(unit, steps):
    got = []

    async def tb(ctx):
        for mode, a, w in steps:
            ctx.set(unit.mode, mode)
            ctx.set(unit.act, a)
            ctx.set(unit.weight, w)
            await ctx.tick()
            got.append(ctx.get(unit.acc.as_signed()))

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return got


@pytest.mark.parametrize("signed_", [True, False])
def test_every_mode_accumulates_the_dot_product(signed_):
    """Modes switch from cycle to cycle; acc is the running sum of each step's f products."""
    rng = np.random.default_rng(25)
    steps, want, acc = [], [], 0
    for _ in range(120):
        mode = int(rng.integers(len(MODES)))
        pa, pw = MODES[mode]
        f = fused_products(pa, pw)
        lo_a, hi_a = (-(1 << (pa - 1)), 1 << (pa - 1)) if signed_ else (0, 1 << pa)
        lo_w, hi_w = (-(1 << (pw - 1)), 1 << (pw - 1)) if signed_ else (0, 1 << pw)
        a, w = rng.integers(lo_a, hi_a, f), rng.integers(lo_w, hi_w, f)
        # bits above the mode's f elements are not read: fill them with noise
        noise_a = int(rng.integers(1 << 31)) << (f * pa) & ((1 << PORT_BITS) - 1)
        noise_w = int(rng.integers(1 << 31)) << (f * pw) & ((1 << PORT_BITS) - 1)
        steps.append((mode, _pack(a, pa) | noise_a, _pack(w, pw) | noise_w))
        acc = (acc + int(np.dot(a, w)) + 2 ** 31) % 2 ** 32 - 2 ** 31
        want.append(acc)
    got = _run(RuntimeFusionMac(act_signed=signed_, weight_signed=signed_), steps)
    assert got == want


def test_every_mode_uses_all_sixteen_bricks_once():
    for pa, pw in MODES:
        bricks = brick_map(pa, pw)
        assert len(set(bricks)) == 16 and {j for j, _, _ in bricks} == set(range(fused_products(pa, pw)))


def test_bitfusion_rows_carry_the_measured_mux_area():
    """The rows with a BitFusion side quote the cached runtime / fixed area ratio (read, not
    typed: another cache gives another note), the others do not."""
    data = bitfusion_muxes.load()
    area, _ = bitfusion_muxes.ratios(data)
    units = data["units"]
    assert area == units["runtime"]["area_um2"] / units["fixed"]["area_um2"] and area > 1
    assert units["runtime"]["flop_bits"] == units["fixed"]["flop_bits"] == 32
    assert data["provenance"]["mode"] == f"W{bitfusion_muxes.WEIGHT_BITS}A{bitfusion_muxes.ACT_BITS}"
    rows = claims.claims_table(quick=True, lmul=False)
    with_bf = [r for r in rows if "BitFusion" in r["claim"]]
    assert len(with_bf) == 2 and all(f"x{area:.3g} the fixed-mode one's area" in r["note"] for r in with_bf)
    assert not any("run-time fusion muxes" in r["note"] for r in rows if r not in with_bf)
    doubled = json.loads(json.dumps(data))
    doubled["units"]["runtime"]["area_um2"] *= 2
    assert f"x{2 * area:.3g} the fixed-mode" in bitfusion_muxes.note(doubled)


def test_mux_units_are_the_fixed_w4a8_unit_and_the_runtime_one_in_its_mode():
    fixed, runtime = bitfusion_muxes.component("fixed"), bitfusion_muxes.component("runtime")
    assert isinstance(fixed, MacUnit) and isinstance(fixed.pe, BitFusionPE)
    # MixPE's BitFusion baseline's mode (models.claims_configs)
    assert dict(CONFIGS["mixpe-vs-bitfusion"].baseline.options).get("weight_bits", 8) == 8
    assert (fixed.pe.act_bits, fixed.pe.weight_bits) == (8, 8) and isinstance(runtime, RuntimeFusionMac)
    act = bitfusion_muxes.activity("runtime")
    mode = MODES.index((8, 8))
    assert [act[f"mode[{b}]"] for b in range(len(runtime.mode))] == [(0.0, float(mode >> b & 1))
                                                                     for b in range(len(runtime.mode))]
    assert {k: v for k, v in act.items() if not k.startswith("mode")} == bitfusion_muxes.activity("fixed")


@pytest.mark.slow
def test_cached_mux_figures_are_these_designs():
    """Resynthesised with the same tools, both units give the cached netlist hashes and energies."""
    require_synthesis()
    require_sta()
    data = bitfusion_muxes.load()
    fresh = bitfusion_muxes.generate()
    if fresh["provenance"]["yosys"] != data["provenance"]["yosys"] or \
            fresh["provenance"]["opensta"] != data["provenance"]["opensta"]:
        pytest.skip("the cache was made with other tool versions: regenerate it")
    for unit in bitfusion_muxes.UNITS:
        assert fresh["units"][unit]["netlist_hash"] == data["units"][unit]["netlist_hash"]
        assert fresh["units"][unit]["energy_pj_per_cycle"] == pytest.approx(
            data["units"][unit]["energy_pj_per_cycle"], rel=1e-9)
