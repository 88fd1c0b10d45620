"""The analytical cycle model: SCALE-Sim's formulas, the efficiency target, basic laws.
(That the model equals the RTL's counter is checked for every case in test_gemm.py.)"""

import dataclasses

import pytest

from models.cycles import check_countable, gemm_cycles, scalesim_cycles
from models.design import DesignConfig


def _timing(rows, cols, dataflow="ws"):
    return DesignConfig("int8", rows, cols, dataflow).timing()


def test_scalesim_reference_values():
    assert scalesim_cycles(8, 8, "ws", 64, 64, 64) == 5503
    assert scalesim_cycles(8, 8, "os", 64, 64, 64) == 4991


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_64_cube_on_8x8_beats_the_target(dataflow):
    est = gemm_cycles(_timing(8, 8, dataflow), 64, 64, 64)
    assert est.cycles <= 4600
    assert est.utilisation > 0.98
    assert est.cycles < est.scalesim_cycles


def test_ws_formula_by_hand():
    # preload 8 + 63 folds x 64 + 63 tokens + output latency (1 + 8 + 7 + 1) + 1
    assert gemm_cycles(_timing(8, 8), 64, 64, 64).cycles == 8 + 63 * 64 + 63 + 17 + 1


def test_small_m_is_bounded_by_the_weight_load():
    est = gemm_cycles(_timing(16, 16), 3, 64, 64)
    assert est.fold_interval == 16


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_cycles_grow_with_the_gemm(dataflow):
    t = _timing(4, 4, dataflow)
    for m, k, n in [(8, 8, 8), (5, 9, 13)]:
        base = gemm_cycles(t, m, k, n).cycles
        assert gemm_cycles(t, m + 4, k, n).cycles > base
        assert gemm_cycles(t, m, k + 4, n).cycles > base
        assert gemm_cycles(t, m, k, n + 4).cycles > base


def test_the_cycle_counter_counts_a_run_past_2_to_the_32():
    """int8 8x8 ws 6500^3 takes ~4.3e9 cycles: a 32-bit counter wraps and the run would end, hours
    later, as a false cycle mismatch. The design's counter (read from the hardware) holds it."""
    design = DesignConfig.sized_for("int8", 8, 8, "ws", 6500, 6500, 6500)
    timing = design.timing()
    assert timing.cycle_counter_width == len(design.facts.cycles) == 64
    est = check_countable(timing, 6500, 6500, 6500)
    assert 1 << 32 < est.cycles < 1 << timing.cycle_counter_width
    assert design.layout(6500, 6500, 6500).m == 6500
    # the port the testbenches read is that wide in the Verilog too
    assert "output [63:0] cycles;" in DesignConfig("int8", 1, 1, "ws", 2, 2, 2).verilog()


def test_a_run_the_counter_cannot_count_is_refused():
    narrow = dataclasses.replace(_timing(8, 8), cycle_counter_width=32)
    with pytest.raises(ValueError, match=r"32-bit cycle counter counts at most 2\*\*32 - 1 = 4,294,967,295"):
        check_countable(narrow, 6500, 6500, 6500)
    assert check_countable(narrow, 64, 64, 64) == gemm_cycles(narrow, 64, 64, 64)
    # 2**66 cycles: past the real 64-bit counter (depths large enough that only the counter refuses;
    # the design is never elaborated)
    side = 1 << 22
    huge = DesignConfig("int8", 1, 1, "ws", side * side, side * side, side * side)
    with pytest.raises(ValueError, match=r"takes 7\.379e\+19 cycles; the design's 64-bit cycle counter"):
        huge.layout(side, side, side)


def test_the_model_alone_has_no_counter_limit():
    timing = dataclasses.replace(_timing(1, 1), cycle_counter_width=None)
    side = 1 << 22
    assert check_countable(timing, side, side, side).cycles > 1 << 64


def test_scalesim_runs_on_the_pes_steps():
    # ws: K = 64 in steps of 4 -> 16 steps = 2 k tiles of 8 rows, x 8 n tiles = 16 folds; each
    # fold: weight load + fill + drain 2*8 + 8 - 2 = 22 cycles, then 64 tokens every 3 cycles
    assert scalesim_cycles(8, 8, "ws", 64, 64, 64, k_per_step=4, initiation_interval=3) == 16 * (22 + 64 * 3) - 1
    # os: 8 m tiles x 8 n tiles = 64 folds of 16 K steps every 3 cycles + fill/drain 8 + 8 - 2
    assert scalesim_cycles(8, 8, "os", 64, 64, 64, k_per_step=4, initiation_interval=3) == 64 * (16 * 3 + 14) - 1
    # the defaults are SCALE-Sim's own one-element-per-cycle PE
    assert scalesim_cycles(8, 8, "ws", 64, 64, 64, 1, 1) == scalesim_cycles(8, 8, "ws", 64, 64, 64)


def test_the_estimate_applies_scalesim_to_the_designs_steps():
    for pe, options in (("lut", (("weight_bits", 1),)), ("lut", (("weight_bits", 4),)), ("int8", ())):
        t = DesignConfig(pe, 8, 8, "ws", pe_options=options).timing()
        est = gemm_cycles(t, 48, 120, 30)
        assert est.scalesim_cycles == scalesim_cycles(8, 8, "ws", 48, 120, 30, t.k_per_step,
                                                      t.initiation_interval)
    lut1 = gemm_cycles(DesignConfig("lut", 8, 8, "ws", pe_options=(("weight_bits", 1),)).timing(), 48, 120, 30)
    int8 = gemm_cycles(_timing(8, 8), 48, 120, 30)
    assert lut1.scalesim_cycles < int8.scalesim_cycles      # no longer one figure for every design
