"""Broadcast tiles' buffer trees (models.buffer_tree, models.fanout): the count per fan-out, the
liberty figures they are built of, their place in a tiled array's inventory, and (slow) their
delay against OpenSTA and the fact that Yosys inserts no buffers into a tiled array."""

import math
import re

import pandas as pd
import pytest

from models import cost, cost_primitives, fanout, inventory, synth, tech
from models.claims import broadcast_summary
from models.claims_configs import CONFIGS
from models.buffer_tree import STAGE_FANOUT, tiled_fmax_mhz, tree_buffers, tree_delay_ns, tree_levels
from models.inventory import _operand_widths, array_items_os, array_items_ws
from models.registry import get_kind
from models.sta import run_sta
from sim import report_timing
from tests.tools import require_sta, require_synthesis


@pytest.mark.parametrize("fan, levels, buffers", [
    (1, 0, 0), (4, 0, 0),             # the source flop drives up to 4 pins itself
    (5, 1, 2), (8, 1, 2), (16, 1, 4),
    (17, 2, 5 + 2), (64, 2, 16 + 4), (65, 3, 17 + 5 + 2)])
def test_tree_buffer_count(fan, levels, buffers):
    assert STAGE_FANOUT == 4   # the cases above are for fan-out-of-4 stages
    assert tree_levels(fan) == levels
    assert tree_buffers(fan) == buffers


def test_tiled_fmax_adds_the_tree_delay_to_the_period():
    assert tiled_fmax_mhz(100.0, 4) == 100.0
    assert 1000 / tiled_fmax_mhz(100.0, 64) - 10.0 == pytest.approx(2 * tech.value("osu018.BUFX4.fo4_delay"))


def test_tree_levels_rejects_nonsense():
    with pytest.raises(ValueError):
        tree_levels(0)


def _cell_text(name):
    text = synth.liberty_path().read_text()
    start = text.index(f"cell ({name})")
    return text[start:text.index("\ncell (", start + 1)]


def _numbers(s):
    return [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", s)]


def test_buffer_cell_figures_are_the_liberty_text():
    require_synthesis()
    text = _cell_text(fanout.BUFFER_CELL)
    c = fanout.buffer_cell()
    assert c.area_um2 == float(re.search(r"\barea\s*:\s*([\d.]+)", text).group(1))
    pin_a = text[text.index("pin(A)"):text.index("pin(Y)")]
    assert c.input_pf == float(re.search(r"\bcapacitance\s*:\s*([\d.]+)", pin_a).group(1))
    # the delay at a load on the table's axis is the mean of cell_rise / cell_fall there, at
    # the smallest input transition (column 0 of the row of that load)
    rows = {}
    for kind in ("cell_rise", "cell_fall"):
        block = text[text.index(kind):]
        index_1 = _numbers(re.search(r'index_1\s*\("([^"]*)"\)', block).group(1))
        values = re.search(r"values\s*\((.*?)\);", block, re.S).group(1)
        rows[kind] = [_numbers(r) for r in re.findall(r'"([^"]*)"', values)]
    assert c.loads_pf == tuple(index_1)
    for i, load in enumerate(index_1):
        assert c.delay_ns(load) == pytest.approx((rows["cell_rise"][i][0] + rows["cell_fall"][i][0]) / 2)


def test_recorded_buffer_figures_are_the_liberty_s():
    require_synthesis()
    derived = fanout.derive_buffer_constants()
    assert derived and all(tech.value(name) == pytest.approx(v, rel=1e-9) for name, v in derived.items())


def test_level_delay_is_at_four_buffer_inputs():
    require_synthesis()
    c = fanout.buffer_cell()
    assert c.loads_pf[0] < 4 * c.input_pf < c.loads_pf[-1]   # interpolated, not extrapolated
    assert fanout.level_delay_ns() == pytest.approx(c.delay_ns(4 * c.input_pf))
    assert c.delays_ns[0] < fanout.level_delay_ns() < c.delays_ns[-1]


def test_buftree_primitive_is_buffers_times_the_cell():
    prim = cost_primitives.primitive("buftree", 88, 64)
    assert prim.area_um2 == pytest.approx(88 * 20 * tech.value("osu018.BUFX4.area")
                                          * tech.value("scale.area.180_to_45"))
    assert prim.flop_bits == 0
    assert cost_primitives.primitive("buftree", 88, 64, activity=0.25).energy_pj == pytest.approx(prim.energy_pj / 2)


def _trees(items):
    return [i for i in items if i.prim == "buftree"]


def test_tiled_ws_inventory_counts_one_tree_per_row_tile_and_bit():
    pe = get_kind("lut").prototype(weight_bits=2)
    a_op = _operand_widths(pe)[0]
    assert _trees(array_items_ws(pe, 64, 64)) == []
    assert _trees(array_items_ws(pe, 64, 64, (1, 4))) == []        # a flop drives 4 PEs itself
    trees = _trees(array_items_ws(pe, 64, 64, (1, 16)))
    assert [(t.widths, t.count, t.event) for t in trees] == [((a_op, 16), 64 * 4, "token")]


def test_tiled_os_inventory_counts_activation_and_weight_trees():
    pe = get_kind("int8").prototype()
    a_op, w_op = _operand_widths(pe)[:2]
    assert _trees(array_items_os(pe, 16, 16)) == []
    trees = _trees(array_items_os(pe, 16, 16, (8, 8)))
    assert sorted((t.widths, t.count) for t in trees) == sorted([((a_op, 8), 16 * 2), ((w_op, 8), 16 * 2)])


@pytest.mark.slow
def test_tree_delay_agrees_with_opensta():
    """The model's tree delay vs OpenSTA on hand-built trees: the buffered path's period less the
    period of a flop driving 4 flops (no tree); an unbuffered net's delay grows with its load."""
    require_sta()
    lib = synth.liberty_path()

    def period(fan, buffered):
        return run_sta(*fanout.tree_netlist(fan, buffered), lib, clock_mhz=100.0).critical_path.period_ns

    base = period(STAGE_FANOUT, False)
    for fan in (8, 16, 64, 256):
        measured = period(fan, True) - base
        assert measured == pytest.approx(tree_delay_ns(fan), rel=0.3), fan
    wires = [period(fan, False) for fan in (4, 16, 64, 256)]
    assert wires == sorted(wires) and wires[-1] > 3 * period(256, True)


@pytest.mark.slow
def test_yosys_inserts_no_buffers_in_a_tiled_array():
    """Why the trees are modelled: the mapped tiled array has no buffer cells."""
    require_synthesis()
    r = synth.synthesize("lut", rows=1, cols=16, pe_options=(("weight_bits", 2),), tile=(1, 16))
    assert not [c for c in r.mapped_cells if c.startswith("BUF") or c.startswith("CLKBUF")]
    assert math.isfinite(r.area_um2)


def test_claims_summary_states_the_broadcast_trees():
    lut = broadcast_summary(CONFIGS["luttc-vs-fp16"])
    assert "64-way: 2 level(s) of BUFX4, 20 a bit" in lut and lut.count("tile") == 1   # design only
    assert "8-way: 1 level(s) of BUFX4, 2 a bit" in broadcast_summary(CONFIGS["bitmod-vs-ant"])
    assert broadcast_summary(CONFIGS["luttc-vs-unpu"]) == ""                          # untiled


def test_tiled_lut_area_grows_by_its_trees(monkeypatch):
    """The cost model's slot_regs area of a 64x64 LUT array in 1x64 tiles, with and without the
    trees: they differ by exactly 64 rows' trees of the row operand's bits."""
    pe = get_kind("lut").prototype(weight_bits=2)
    a_op = _operand_widths(pe)[0]
    acc = cost.CostConfig("lut", 64, 64, "ws", pe_options=(("weight_bits", 2),), tile=(1, 64)).design().facts
    with_trees = cost.hardware(acc, 45, 0.5).area["slot_regs"]
    monkeypatch.setattr(inventory, "broadcast_items", lambda *args: [])
    without = cost.hardware(acc, 45, 0.5).area["slot_regs"]
    trees = 64 * cost_primitives.primitive("buftree", a_op, 64).area_um2
    assert with_trees - without == pytest.approx(trees) and trees > 0.05 * without


def test_broadcast_rows_lower_the_slowest_unit_s_fmax():
    sides = report_timing.tiled_sides()
    assert ("LUT W2A8", "lut", (("weight_bits", 2),), (1, 64)) in sides
    assert all(max(tile) > 1 for *_, tile in sides)
    timing = pd.DataFrame({"design": [s[0] for s in sides], "fmax_osu018_mhz": [100.0] * len(sides)})
    rows = report_timing.broadcast_rows(sides, timing).set_index("design")
    lut = rows.loc["LUT W2A8"]
    assert (lut.fanout, lut.tree_levels) == (64, 2)
    period = 10.0 + 2 * tech.value("osu018.BUFX4.fo4_delay")
    assert lut.tiled_fmax_osu018_mhz == pytest.approx(1000 / period, abs=0.01)
    assert lut.tiled_fmax_mhz == pytest.approx(report_timing.fmax_at_45nm(1000 / period), abs=0.1)
    assert (rows.tiled_fmax_osu018_mhz < 100.0).all()
