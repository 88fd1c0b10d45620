"""The INT8 PE alone, in Amaranth's simulator: arithmetic, wrap, timing contract, options."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.pe_int8 import Int8PE
from models.golden import wrap_signed


def _run_pe(pe, steps):
    """steps: (act, weight, valid, acc_in); returns acc_out seen one cycle after each step."""
    seen = []

    async def tb(ctx):
        for act, weight, valid, acc_in in steps:
            ctx.set(pe.act, act & 0xFF)
            ctx.set(pe.weight, weight & 0xFF)
            ctx.set(pe.valid, valid)
            ctx.set(pe.acc_in, acc_in & ((1 << pe.acc_width) - 1))
            await ctx.tick()
            seen.append(ctx.get(pe.acc_out))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return [int(wrap_signed(v, pe.acc_width)) for v in seen]


@pytest.mark.parametrize("acc_width", [32, 17])
def test_mac_matches_golden_including_extremes_and_wrap(acc_width):
    rng = np.random.default_rng(acc_width)
    corners = [(-128, -128), (-128, 127), (127, 127), (127, -128), (0, -128), (-1, -1)]
    pairs = corners + [tuple(p) for p in rng.integers(-128, 128, size=(200, 2))]
    hi = 1 << (acc_width - 1)
    steps = [(int(a), int(w), 1, int(rng.integers(-hi, hi))) for a, w in pairs]
    steps += [(-128, -128, 1, hi - 1)]  # overflows: must wrap, not saturate
    got = _run_pe(Int8PE(acc_width=acc_width), steps)
    want = [int(wrap_signed(acc + a * w, acc_width)) for a, w, _, acc in steps]
    assert got == want


def test_acc_out_holds_without_valid():
    got = _run_pe(Int8PE(), [(3, 4, 1, 5), (100, 100, 0, 7), (-2, 3, 1, 0)])
    assert got == [17, 17, -6]


def test_timing_facts():
    pe = Int8PE()
    assert (pe.act_width, pe.weight_width, pe.acc_width) == (8, 8, 32)
    assert (pe.initiation_interval, pe.latency, pe.k_per_step, pe.macs_per_cycle) == (1, 1, 1, 1)


@pytest.mark.parametrize("bad", [16, 65, "32", 32.0, True])
def test_bad_acc_width_is_a_type_error_quoting_the_value(bad):
    with pytest.raises(TypeError, match=repr(bad).replace(".", r"\.")):
        Int8PE(acc_width=bad)
