"""Broadcast-tiled arrays: the tiled case table against Amaranth's simulator and Verilator (bit
for bit against the golden model, cycles equal to the model's), the timing facts the cycle model
reads, and bad tile options."""

import pytest

from hw.accelerator import Accelerator
from hw.array import SystolicArray
from hw.pe import OptionError
from hw.pe_int8 import Int8PE
from models.cycles import ArrayTiming, gemm_cycles
from models.design import DesignConfig
from tests.cases_tile import TILE_CASES
from tests.gemm_runner import amaranth_cases, run_amaranth, run_verilator, verilator_params


def test_every_case_is_tiled_and_covers_the_required_kinds():
    assert all(c.tile != (1, 1) for c in TILE_CASES)
    default = {(c.pe, c.dataflow, c.tile) for c in TILE_CASES if not c.sweep_only}
    assert {("int8", "ws", (1, 4)), ("lut", "ws", (1, 4)), ("bitserial", "os", (2, 2))} <= default


@pytest.mark.parametrize("case", [c for c in amaranth_cases(TILE_CASES) if c.sweep_only],
                         ids=lambda c: c.id)
def test_amaranth_simulator(case):
    # the Verilator-by-default cases run there; the rest run here, small and fast
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(TILE_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


@pytest.mark.parametrize("dataflow, tile", [("ws", (1, 4)), ("ws", (1, 2)), ("os", (2, 2)),
                                            ("os", (4, 4)), ("os", (1, 4)), ("os", (4, 1))])
def test_the_cycle_model_reads_the_tiled_arrays_facts(dataflow, tile):
    """The cycle model's latency and fold interval are the array's properties (which count tiles),
    not a formula retyped: a tiled design's model changes exactly by the array's change."""
    plain = DesignConfig("int8", 4, 4, dataflow, 16, 16, 16)
    tiled = DesignConfig("int8", 4, 4, dataflow, 16, 16, 16, tile=tile)
    a, b = plain.facts.array, tiled.facts.array
    assert b.tile == tile and (b.row_tiles, b.col_tiles) == (4 // tile[0], 4 // tile[1])
    assert b.latency < a.latency
    t_plain, t_tiled = plain.timing(), tiled.timing()
    assert t_tiled.min_fold_interval == b.min_fold_interval
    assert t_tiled.output_latency - t_plain.output_latency == b.latency - a.latency
    # a GEMM whose folds are longer than either interval: the count moves by the latency only
    m, k, n = 9, 40, 11
    diff = gemm_cycles(t_plain, m, k, n).cycles - gemm_cycles(t_tiled, m, k, n).cycles
    assert diff == a.latency - b.latency
    assert ArrayTiming.of(tiled.facts) == t_tiled


def test_os_tiles_shorten_the_drain_bound():
    """A whole-array os tile captures every row at once: the next fold may start R cycles later."""
    arr = SystolicArray(Int8PE, rows=8, cols=8, dataflow="os", tile=(8, 8))
    assert arr.min_fold_interval == 8 and arr.latency == 1 + arr.pe.latency + 1 - 1
    assert SystolicArray(Int8PE, rows=8, cols=8, dataflow="os").min_fold_interval == 14
    assert SystolicArray(Int8PE, rows=4, cols=4, dataflow="os", tile=(2, 2)).min_fold_interval == 5


@pytest.mark.parametrize("kwargs, quoted", [
    (dict(rows=4, cols=4, tile=(1, 3)), "tile_cols 3 must divide the array's cols 4"),
    (dict(rows=4, cols=4, dataflow="os", tile=(3, 1)), "tile_rows 3 must divide the array's rows 4"),
    (dict(rows=4, cols=4, tile=(2, 1)), "not tile_rows 2"),
    (dict(rows=4, cols=4, tile=(0, 1)), "tile_rows .* not 0"),
    (dict(rows=4, cols=4, tile=(1, "2")), "tile_cols .* not '2'"),
    (dict(rows=4, cols=4, tile=4), "not 4"),
    (dict(rows=4, cols=4, tile=(1, 2, 2)), r"not \(1, 2, 2\)"),
])
def test_bad_tiles(kwargs, quoted):
    with pytest.raises(OptionError, match=quoted):
        SystolicArray(Int8PE, **kwargs)


def test_a_bad_tile_of_a_grouped_design_names_the_tile():
    from hw.pe_shiftadd import ShiftAddPE
    with pytest.raises(OptionError, match="tile_cols 3"):
        Accelerator(lambda: ShiftAddPE(group_size=4), rows=2, cols=4, act_depth=4, weight_depth=4,
                    out_depth=4, tile=(1, 3))
