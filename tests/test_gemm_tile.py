"""Broadcast-tiled arrays: the tiled case table against Amaranth's simulator and Verilator (bit
for bit against the golden model, cycles equal to the model's), the timing facts the cycle model
reads, and bad tile options."""

import pytest

from hw.accelerator import Accelerator
from hw.array import SystolicArray
from hw.pe import OptionError
from hw.pe_int8 import Int8PE
from models import cost_vs_synth, inventory, synth, tech
from models.cycles import ArrayTiming, gemm_cycles
from models.design import DesignConfig
from sim import cli
from tests.cases_tile import TILE_CASES
from tests.gemm_runner import amaranth_cases, run_amaranth, run_verilator, verilator_params
from tests.test_lint import _lint
from tests.tools import require_synthesis


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


@pytest.mark.parametrize("argv, quoted", [
    (["cost", "--pe", "int8", "--rows", "4", "--cols", "4", "--gemm", "8x8x8", "--tile", "1x3"],
     "--tile 1x3: tile_cols 3 must divide the array's cols 4"),
    (["verilog", "--pe", "int8", "--rows", "4", "--cols", "4", "--tile", "2x2", "-o", "{tmp}"],
     "--tile 2x2: weight-stationary tiles are one row high"),
    (["sim", "--pe", "int8", "--rows", "4", "--cols", "4", "--dataflow", "os", "--tile", "3x1",
      "--m", "4", "--k", "4", "--n", "4"], "--tile 3x1: tile_rows 3 must divide"),
    (["cost", "--pe", "int8", "--rows", "4", "--cols", "4", "--gemm", "8x8x8", "--tile", "1x0"],
     "expected ROWSxCOLS"),
    (["synth", "--pe", "int8", "--unit", "pe", "--tile", "1x2"], "--tile is an array option"),
])
def test_bad_tile_on_the_command_line(tmp_path, capsys, argv, quoted):
    """One line naming --tile, exit 2, nothing written."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert quoted in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_the_inventory_counts_pass_registers_only_between_tiles():
    """ws tile (1, 4) on 4x4: no pass register inside a row (R * (C - 1) untiled), the weight
    bus one stage per column tile; the slot registers are the rest (their valid / bank bits are
    the shared depth chain, an edge register)."""
    pe = DesignConfig("lut", 4, 4, "ws", pe_options=(("weight_bits", 2),)).facts.pe

    def token_pass_regs(items):
        return sum(i.count for i in items if i.group == "slot_regs" and i.event == "token")

    assert token_pass_regs(inventory.array_items_ws(pe, 4, 4)) == 4 * 3
    assert token_pass_regs(inventory.array_items_ws(pe, 4, 4, (1, 4))) == 0
    assert token_pass_regs(inventory.array_items_ws(pe, 4, 4, (1, 2))) == 4 * 1


@pytest.mark.slow
@pytest.mark.parametrize("pe, options, dataflow, tile", [
    ("lut", (("weight_bits", 2),), "ws", (1, 4)), ("int8", (), "os", (2, 2)), ("int8", (), "os", (4, 4))])
def test_tiled_array_area_against_synthesis(pe, options, dataflow, tile):
    """The tiled inventory against Yosys on a 4x4 array, as tight as the untiled one: within 10 %
    (measured: LUT ws (1, 4) +6.2 % (untiled +7.2 %), INT8 os (2, 2) -1.7 %, (4, 4) -2.5 %)."""
    require_synthesis()
    r = synth.synthesize(pe, rows=4, cols=4, dataflow=dataflow, pe_options=options, tile=tile)
    plain = synth.synthesize(pe, rows=4, cols=4, dataflow=dataflow, pe_options=options)
    assert r.area_um2 < plain.area_um2 and r.flop_bits < plain.flop_bits
    synth_um2 = r.area_um2 * tech.value("scale.area.180_to_45")
    model = cost_vs_synth.unit_area_um2(pe, pe_options=options, rows=4, cols=4, dataflow=dataflow, tile=tile)
    assert abs(model / synth_um2 - 1) < 0.10


@pytest.mark.parametrize("pe, options, rows, cols, dataflow, tile", [
    # os by default (its shift enables are wires inside a tile); ~4 s each, the rest under slow
    ("int8", (), 4, 4, "os", (2, 2)),
    pytest.param("int8", (), 2, 4, "ws", (1, 2), marks=pytest.mark.slow),
    pytest.param("lut", (("weight_bits", 2),), 2, 4, "ws", (1, 4), marks=pytest.mark.slow),
    pytest.param("shiftadd", (("group_size", 4), ("weight_bits", 4)), 2, 4, "ws", (1, 2),
                 marks=pytest.mark.slow)])
def test_tiled_verilog_is_lint_clean(tmp_path, pe, options, rows, cols, dataflow, tile):
    _lint(tmp_path, DesignConfig(pe, rows, cols, dataflow, 16, 16, 16, options, tile))
