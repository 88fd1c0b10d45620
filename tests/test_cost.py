"""The analytical cost model (models.cost) and its constants (models.tech): laws, hand-computed
cases, agreement with the exact cycle model, traffic, errors, CLI. No synthesis here
(tests/test_synth.py compares with Yosys)."""

import json
import math

import pytest

from models import characterise, cost, cost_primitives, inventory, synth, tech
from models.cost import CostConfig, evaluate
from models.cost_primitives import primitive
from models.cost_vs_synth import unit_area_um2
from models.cycles import gemm_cycles
from models.gobo_outlier_share import expected_outlier_columns
from models.registry import PE_KINDS, get_kind
from models.tech import UnknownComponentError
from models.workloads import WORKLOADS, Gemm
from models.design import DesignConfig
from sim.cli import BadInput, _Parser
from sim.cost_cli import add_commands

# the kinds with a cost inventory (a kind added later without one must fail loudly, see below)
KINDS = [k for k, v in PE_KINDS.items() if v.pe_class in inventory.INVENTORIES]
KIND_DATAFLOWS = [(k, df) for k in KINDS for df in PE_KINDS[k].dataflows]
# Options that make a kind a valid design in every shape and dataflow these generic tests use
# (the shift-add PE without its group-dequantisation unit, which needs ws and rows dividing G).
GENERIC = {"shiftadd": (("group_size", None),), "bitserial": (("group_size", None),)}
S_A = 1 / 19                                   # Stillmaker 180 -> 45 nm area
S_E = 0.69885 / 26.372    # Stillmaker 180 nm 1.8 V -> HP45 0.9 V energy (fit values by hand: tests/test_tech.py)


def test_inventoried_kinds_include_the_baselines():
    assert {"int8", "lut"} <= set(KINDS)


@pytest.mark.parametrize("pe, dataflow", KIND_DATAFLOWS)
def test_breakdowns_sum_to_totals(pe, dataflow):
    r = evaluate(CostConfig(pe, 4, 3, dataflow, pe_options=GENERIC.get(pe, ())), WORKLOADS["minilm-l6"])
    assert set(r.area_um2) == set(cost.AREA_GROUPS)
    assert math.isclose(sum(r.area_um2.values()), r.area_total_um2, rel_tol=1e-12)
    assert math.isclose(sum(r.energy_pj.values()), r.energy_total_pj, rel_tol=1e-12)
    for layer in r.layers:
        assert math.isclose(sum(layer.energy_pj.values()), layer.energy_total_pj, rel_tol=1e-12)
        assert all(v >= 0 for v in layer.energy_pj.values())
    assert math.isclose(sum(l.energy_total_pj * l.count for l in r.layers), r.energy_total_pj, rel_tol=1e-9)
    assert r.cycles == sum(l.cycles * l.count for l in r.layers)
    assert r.macs == sum(g.macs for g in WORKLOADS["minilm-l6"])


@pytest.mark.parametrize("pe, dataflow", KIND_DATAFLOWS)
def test_model_cycles_are_the_exact_cycle_model(pe, dataflow):
    timing = DesignConfig(pe, 3, 5, dataflow, pe_options=GENERIC.get(pe, ())).timing()
    config = CostConfig(pe, 3, 5, dataflow, pe_options=GENERIC.get(pe, ()))
    for m, k, n in [(1, 1, 1), (7, 13, 5), (64, 64, 64), (37, 53, 29), (128, 384, 1536)]:
        # a design with GOBO's outlier pass: the cost model's outlier list (MiniLM's share)
        outliers = [] if timing.outlier_fold_cycles is None else expected_outlier_columns(k, n)
        est = gemm_cycles(timing, m, k, n, outliers)
        layer = evaluate(config, Gemm("g", m, k, n)).layers[0]
        assert (layer.cycles, layer.folds, layer.macs) == (est.cycles, est.folds, est.macs)
        assert layer.utilisation == est.utilisation


@pytest.mark.parametrize("pe", KINDS)
def test_costs_fall_with_the_node(pe):
    results = [evaluate(CostConfig(pe, 8, 8, PE_KINDS[pe].dataflows[0], node=node, pe_options=GENERIC.get(pe, ())), (64, 256, 128)) for node in (45, 28, 22)]
    for bigger, smaller in zip(results, results[1:]):
        assert smaller.area_total_um2 < bigger.area_total_um2
        assert smaller.energy_total_pj < bigger.energy_total_pj
        for group, v in bigger.area_um2.items():
            assert smaller.area_um2[group] < v or v == 0
        for group, v in bigger.energy_pj.items():
            if group.startswith("dram"):
                assert smaller.energy_pj[group] == v        # off chip: not node-scaled
            else:
                assert smaller.energy_pj[group] < v or v == 0
        assert smaller.tops_per_w > bigger.tops_per_w and smaller.tops_per_mm2 > bigger.tops_per_mm2
    assert math.isclose(results[1].area_um2["pes"] / results[0].area_um2["pes"], 0.38)
    assert math.isclose(results[2].energy_pj["pes"] / results[0].energy_pj["pes"], 0.29)


@pytest.mark.parametrize("pe, dataflow", KIND_DATAFLOWS)
def test_costs_rise_with_the_array_size(pe, dataflow):
    def point(rows, cols):
        r = evaluate(CostConfig(pe, rows, cols, dataflow, pe_options=GENERIC.get(pe, ())), (64, 256, 128))
        return r.area_total_um2, r.energy_per_action_pj["array_clock_cycle"], r.area_um2["pes"]
    for smaller, bigger in [((4, 4), (4, 8)), ((4, 4), (8, 4)), ((8, 8), (16, 16))]:
        assert all(b > s for s, b in zip(point(*smaller), point(*bigger)))


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_lut_costs_rise_with_weight_bits(dataflow):
    # the inventory's scaling at one fixed activity: measured activities differ per setting
    # (valid toggles every cycle at II = 2, every 1.5 at II = 3) and need not be monotone
    area, pe_area, energy, step = [], [], [], []
    for bits in (1, 2, 3, 4):
        config = CostConfig("lut", 8, 8, dataflow, pe_options=(("weight_bits", bits),), activity=0.5)
        r = evaluate(config, (64, 256, 128))
        area.append(r.area_total_um2)
        pe_area.append(r.area_um2["pes"])
        energy.append(r.energy_total_pj)
        step.append(r.energy_per_action_pj["pe_step"])
    for series in (area, pe_area, energy, step):
        assert series == sorted(series) and len(set(series)) == 4


def _table():
    """The characterised primitive table, read directly (models/data/primitives_osu018.json)."""
    data = json.loads(characterise.TABLE_PATH.read_text())
    return {(p["family"], tuple(p["widths"])): p for p in data["points"]}


def _area(family, *widths):
    return _table()[(family, widths)]["area_um2"] * S_A          # osu018 um^2 -> 45 nm


def _energy(family, *widths):
    """OpenSTA's dynamic energy at the characterised toggle rate (0.5): hot minus idle, 180 -> 45 nm."""
    point = _table()[(family, widths)]
    return (point["energy_sta_pj"] - point["energy_sta_idle_pj"]) * S_E


def _idle(family, *widths):
    return _table()[(family, widths)]["energy_sta_idle_pj"] * S_E


def test_int8_by_hand():
    """INT8 PE: one fused signed 8x8 + 32 multiply-accumulate and 32 enabled flops (measured
    osu018 points, scaled by 1/19); a 1x1 ws array's only PE is in the top row, whose acc_in is 0:
    a signed 8x8 multiply and the register of its 16 significant bits; the slot adds two 8-bit
    weight banks, the 1-bit row compare and the 8-bit bank mux; the edge the 1-bit output-valid
    delay."""
    pe_area = _area("mac", 8, 8, 32) + _area("reg_en", 32)
    assert math.isclose(unit_area_um2("int8"), pe_area)
    r = evaluate(CostConfig("int8", 1, 1, "ws", activity=0.5), (1, 1, 1))   # _energy's activity
    top_pe = _area("smult", 8, 8) + _area("reg_en", 16)
    slot = 2 * _area("reg_en", 8) + _area("eq", 1) + _area("mux", 2, 8)
    assert math.isclose(r.area_um2["pes"], top_pe)
    assert math.isclose(r.area_um2["slot_regs"], slot)
    assert math.isclose(r.area_um2["edge_regs"], _area("reg", 1))
    assert r.area_um2["act_borders"] == r.area_um2["weight_borders"] == 0
    step = _energy("smult", 8, 8) + _energy("reg_en", 16)
    assert math.isclose(r.energy_per_action_pj["pe_step"], step)
    assert math.isclose(r.energy_per_action_pj["mac"], step)
    # one token: one PE step; cycles: preload 1 + 0 + 0 + output latency (1 + 1 + 1) + 1 = 5
    layer = r.layers[0]
    assert layer.cycles == 5
    assert math.isclose(layer.energy_pj["pes"], step)
    # every cycle, every primitive pays OpenSTA's constant-input energy (flop clocks, leakage):
    # the PE, slot and edge above plus the output accumulator (32-bit add, the stage register of
    # the array's 16 significant output bits, the 32 ANDs of the overwrite/accumulate choice)
    idle = (_idle("smult", 8, 8) + _idle("reg_en", 16) + 2 * _idle("reg_en", 8) + _idle("eq", 1)
            + _idle("mux", 2, 8) + _idle("reg", 1) + _idle("add", 32) + _idle("reg", 16) + _idle("and", 32))
    assert math.isclose(r.energy_per_action_pj["array_clock_cycle"], idle)
    assert math.isclose(layer.energy_pj["clock"], 5 * idle)
    # SRAM: 8 KB and below cost Horowitz's 8 KB figure per 64 bits; 64 KiB interpolates log-log
    assert math.isclose(cost_primitives.sram_energy_64b(4096), 10)
    assert math.isclose(cost_primitives.sram_energy_64b(32 * 1024), 20)
    assert math.isclose(cost_primitives.sram_energy_64b(1024 * 1024), 100)
    assert math.isclose(cost_primitives.sram_energy_64b(64 * 1024), 20 * 2 ** (math.log(5) / math.log(32)))


def test_ws_accumulation_chain_by_hand():
    """A weight-stationary INT8 column: row r's acc_in holds only the bits the sums so far can
    have (16 + r, sign-extended), which synthesis keeps (wreduce, merged sign flops): row 0 a
    signed multiply and 16 flops, rows 1.. a MAC and register one bit wider per row; the output
    deskew of a 4x2 array (one stage, column 0) is 19 bits."""
    r = evaluate(CostConfig("int8", 4, 2, "ws"), (4, 8, 2))
    column = _area("smult", 8, 8) + _area("reg_en", 16) + sum(
        _area("mac", 8, 8, 16 + row) + _area("reg_en", 16 + row) for row in (1, 2, 3))
    assert math.isclose(r.area_um2["pes"], 2 * column)
    items = [i for i in inventory.ARRAY_INVENTORIES["ws"](get_kind("int8").prototype(), 4, 2)
             if i.group == "edge_regs" and i.prim == "reg" and i.widths[0] > 8]
    assert [(i.widths, i.count) for i in items] == [((19,), 1)]
    # an acc_width narrower than the chain caps it (the sum wraps there)
    narrow = inventory.ARRAY_INVENTORIES["ws"](get_kind("int8").prototype(acc_width=17), 4, 1)
    assert {i.widths for i in narrow if i.prim == "mac"} == {(8, 8, 17)}


def test_lut_by_hand():
    """LUT PE, 2 bit-planes: 8:1 entry mux (11 bits), 11 -> 12-bit conditional negate, 2:1 nibble
    select (4 bits), 13-bit Horner add + register, 1-bit plane counter (+ add), active flag, acc_hold
    and acc_out (32 bits, enabled), the final three-operand add as one 15-bit add of the narrow
    operands and one 32-bit add of acc_hold. Table precompute: the sign tree of 4 8-bit
    activations into 11 bits. Every primitive a measured osu018 point."""
    pe_area = (_area("mux", 8, 11) + _area("scneg", 11, 12) + _area("mux", 2, 4)
               + _area("add", 13) + _area("reg_en", 13) + _area("reg_en", 1) + _area("add", 1)
               + _area("reg_en", 1) + 2 * _area("reg_en", 32) + _area("add", 15) + _area("add", 32))
    assert math.isclose(unit_area_um2("lut", pe_options=(("weight_bits", 2),)), pe_area)
    table = _area("signtree", 4, 8, 11)
    assert math.isclose(unit_area_um2("lut", "act_border"), table)
    r = evaluate(CostConfig("lut", 2, 2, "os", pe_options=(("weight_bits", 2),), activity=0.5), (2, 4, 2))
    assert math.isclose(r.area_um2["pes"], 4 * pe_area)
    assert math.isclose(r.area_um2["act_borders"], 2 * table)
    assert math.isclose(r.energy_per_action_pj["act_border_eval"],
                        _energy("signtree", 4, 8, 11))
    layer = r.layers[0]
    # one fold, one token (K = 4 = one group): 4 PE steps of 2 cycles, 2 border evaluations
    assert layer.folds == 1
    assert math.isclose(layer.energy_pj["act_borders"], 2 * r.energy_per_action_pj["act_border_eval"])
    assert math.isclose(layer.energy_pj["pes"], 4 * r.energy_per_action_pj["pe_step"])
    assert r.energy_per_action_pj["mac"] == r.energy_per_action_pj["pe_step"] / 4


def test_throughput_and_efficiency_definitions():
    config = CostConfig("int8", 16, 16, "os", clock_mhz=1000)
    r = evaluate(config, (256, 256, 256))
    seconds = r.cycles / 1e9
    assert math.isclose(r.tops, 2 * r.macs / seconds / 1e12)
    assert math.isclose(r.tops_per_w, 2 * r.macs / r.energy_total_pj)
    assert math.isclose(r.tops_per_mm2, r.tops / (r.area_total_um2 * 1e-6))
    assert 0.9 < r.utilisation <= 1 and math.isclose(r.macs_per_cycle, r.macs / r.cycles)
    # halving the clock halves TOPS, leaves energy alone (leakage is per cycle at the characterised clock)
    slow = evaluate(CostConfig("int8", 16, 16, "os", clock_mhz=500), (256, 256, 256))
    assert math.isclose(slow.tops * 2, r.tops) and slow.energy_total_pj == r.energy_total_pj


def test_dram_traffic_and_roofline():
    g = Gemm("g", 64, 256, 512)
    roomy = evaluate(CostConfig("int8", 8, 8, "ws", act_kib=1024, out_kib=1024), g).layers[0]
    assert roomy.dram_bytes == {"act": 64 * 256, "weight": 256 * 512, "out": 64 * 512 * 4}
    tight = evaluate(CostConfig("int8", 8, 8, "ws", act_kib=1, out_kib=1024), g).layers[0]
    assert tight.dram_bytes["act"] == 64 * 256 * (512 // 8)      # re-fetched per n tile
    spill = evaluate(CostConfig("int8", 8, 8, "ws", act_kib=1024, out_kib=0.25), g).layers[0]
    assert spill.dram_bytes["out"] == 64 * 512 * 4 * (2 * (256 // 8) - 1)   # k_tiles writes + reads
    os_tight = evaluate(CostConfig("int8", 8, 8, "os", weight_kib=1), g).layers[0]
    assert os_tight.dram_bytes["weight"] == 256 * 512 * (64 // 8)            # re-fetched per m tile
    # SRAM words as the sequencer reads them: ws act = folds x M, weight = folds x R
    assert roomy.sram_words["act_read"] == roomy.folds * 64
    assert roomy.sram_words["weight_read"] == roomy.folds * 8
    slow = evaluate(CostConfig("int8", 8, 8, "ws", dram_gbps=0.01), g)
    assert slow.memory_bound_layers == ("g",) and slow.layers[0].memory_bound
    assert slow.tops_roofline < slow.tops
    fast = evaluate(CostConfig("int8", 8, 8, "ws", dram="hbm2"), g)
    assert fast.memory_bound_layers == () and fast.tops_roofline == fast.tops
    assert fast.energy_pj["dram_act"] < roomy.energy_pj["dram_act"]          # HBM2 3.9 < LPDDR4 8


def test_workload_forms_agree():
    config = CostConfig("int8", 8, 8)
    by_name = evaluate(config, "bert-base")
    by_list = evaluate(config, list(WORKLOADS["bert-base"]))
    assert by_name.energy_total_pj == by_list.energy_total_pj and by_name.cycles == by_list.cycles
    one = evaluate(config, (128, 768, 768))
    assert one.layers[0].name == "128x768x768"
    assert one.macs == 128 * 768 * 768
    with pytest.raises(ValueError, match="unknown workload"):
        evaluate(config, "gpt-9")


def test_unknown_components_raise():
    with pytest.raises(UnknownComponentError, match="'flux_capacitor'"):
        primitive("flux_capacitor", 8)
    with pytest.raises(UnknownComponentError, match="'horowitz.int4_mult.area'"):
        tech.get("horowitz.int4_mult.area")
    with pytest.raises(UnknownComponentError, match="node"):
        CostConfig("int8", 4, 4, node=32)
    with pytest.raises(UnknownComponentError, match="ddr9"):
        CostConfig("int8", 4, 4, dram="ddr9")
    with pytest.raises(ValueError, match="unknown PE kind"):
        evaluate(CostConfig("fp64", 4, 4), (4, 4, 4))

    class StrangePE:
        pass
    with pytest.raises(UnknownComponentError, match="StrangePE"):
        inventory.unit_items(StrangePE())
    with pytest.raises(UnknownComponentError, match="StrangeBorder"):
        inventory.unit_items(type("StrangeBorder", (), {})())
    assert isinstance(UnknownComponentError("x"), KeyError)


def test_every_registered_kind_has_an_inventory_or_a_named_error():
    for name, kind in PE_KINDS.items():
        config = CostConfig(name, 2, 2, kind.dataflows[0], pe_options=GENERIC.get(name, ()))
        if kind.pe_class in inventory.INVENTORIES:
            assert evaluate(config, (8, 8, 8)).area_total_um2 > 0
        else:
            with pytest.raises(UnknownComponentError, match=kind.pe_class.__name__):
                evaluate(config, (8, 8, 8))


def test_tech_records_are_cited():
    for record in tech.TABLE.values():
        assert record.source and record.unit and record.value > 0, record
    assert tech.value("horowitz.int8_mult.energy") == 0.2
    assert tech.value("dram.hbm2.energy") == 3.9
    assert math.isclose(tech.value("scale.energy.180_1v8_to_45_0v9"), S_E)
    assert tech.area_scale(45) == 1 and tech.energy_scale(22) == 0.29
    assert len(tech.table()) == len(tech.TABLE)


@pytest.mark.parametrize("field, value", [("clock_mhz", math.inf), ("clock_mhz", math.nan), ("clock_mhz", 0),
                                          ("act_kib", -1), ("weight_kib", math.inf), ("dram_gbps", math.inf),
                                          ("clock_mhz", True)])
def test_config_refuses_non_finite_or_non_positive(field, value):
    # inf passed a plain "> 0" check and gave 0 s runtimes and nan rates (bench/bench_cost.py
    # measures the evaluation speed; speed is not a test)
    with pytest.raises(cost.OptionError, match=field):
        CostConfig("int8", 4, 4, **{field: value})


# ------------------------------------------------------------------------------------------
# CLI (``pearray cost`` and ``synth``, through the command line's own parser class)


@pytest.fixture
def cli():
    parser = _Parser(prog="pearray")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_commands(sub, BadInput)

    def run(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)
    run.BadInput = BadInput
    return run


def test_cli_cost(cli, capsys):
    assert cli("cost", "--pe", "int8", "--rows", "8", "--cols", "8", "--gemm", "64x64x64") == 0
    assert "TOPS/W" in capsys.readouterr().out
    assert cli("cost", "--pe", "lut", "--rows", "4", "--cols", "4", "--weight-bits", "2", "--node", "22",
               "--dataflow", "os", "--workload", "minilm-l6", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["node"] == 22 and out["config"]["pe_options"] == {"weight_bits": 2}
    assert out["workload"] == "minilm-l6" and len(out["layers"]) == len(WORKLOADS["minilm-l6"])
    assert math.isclose(sum(out["energy_pj"].values()), out["energy_total_pj"])


@pytest.mark.parametrize("argv, message", [
    (["--pe", "fp64", "--gemm", "8x8x8"], "unknown PE kind"),
    (["--pe", "int8", "--gemm", "8x8"], "MxKxN"),
    (["--pe", "int8", "--gemm", "8x0x8"], "MxKxN"),
    (["--pe", "int8", "--workload", "gpt-9"], "unknown workload"),
    (["--pe", "int8", "--gemm", "8x8x8", "--node", "32"], "--node"),
    (["--pe", "int8", "--gemm", "8x8x8", "--weight-bits", "4"], "no --weight-bits"),
    (["--pe", "lut", "--gemm", "8x8x8", "--weight-bits", "9"], "--weight-bits must be"),
    (["--pe", "int8"], "exactly one"),
])
def test_cli_cost_bad_input(cli, argv, message):
    with pytest.raises(cli.BadInput, match=message) as info:
        cli("cost", "--rows", "4", "--cols", "4", *argv)
    assert "\n" not in str(info.value)


def test_cli_synth_bad_input(cli, monkeypatch):
    with pytest.raises(cli.BadInput, match="either --unit"):
        cli("synth", "--pe", "int8", "--rows", "2")
    with pytest.raises(cli.BadInput, match="unknown PE kind"):
        cli("synth", "--pe", "fp64", "--unit", "pe")

    def missing(*args, **kwargs):
        raise synth.SynthesisError(f"yosys not found; {synth.INSTALL_HINT}")
    monkeypatch.setattr(synth, "find_yosys", missing)
    with pytest.raises(cli.BadInput, match="apt-get install"):
        cli("synth", "--pe", "int8", "--unit", "pe")


def test_group_dequantisation_unit_and_buffers_are_counted():
    plain = evaluate(CostConfig("shiftadd", 8, 8, pe_options=(("group_size", None),)), (64, 256, 128))
    grouped = evaluate(CostConfig("shiftadd", 8, 8, pe_options=(("group_size", 128),)), (64, 256, 128))
    assert grouped.area_um2["out_accumulate"] > plain.area_um2["out_accumulate"]
    assert grouped.area_um2["buffer_out"] > plain.area_um2["buffer_out"]
    assert grouped.area_um2["pes"] == plain.area_um2["pes"]
    mults = [i for i in inventory.group_items(grouped.config.design().facts) if i.prim == "mult"]
    assert sum(i.count for i in mults) == 3 * 8          # z*asum, dyadic, requant per column


def test_table_items_keep_only_the_logic_synthesis_keeps():
    """A table whose output bits are constants or copies (or inverses) of code bits is wiring;
    equal and complementary columns count once; the rest is one `table` primitive holding
    exactly those columns (bit j of word c at bit c * width + j of the content)."""
    from models.inventory import table_items
    wiring = [c | 0b1000 | (1 - (c & 1)) << 4 for c in range(8)]   # code bits, a constant, an inverse
    assert table_items(wiring, 5, 1, "eval") == []
    anded = [((c & 1) & (c >> 1)) * 0b101 | ((c & 1) ^ 1) << 1 for c in range(4)]
    (prim, (k, w, content), count, event), = table_items(anded, 3, 3, "eval")
    assert (prim, k, w, count, event) == ("table", 2, 1, 3, "eval")
    assert [(content >> c) & 1 for c in range(4)] == [0, 0, 0, 1]     # a & b, once
    with pytest.raises(ValueError):
        table_items([0, 1, 2], 2, 1, "eval")                             # not every code listed


def test_csa_primitive_is_a_multi_operand_sum_of_b_bits():
    """``csa`` (b, w): b input bits as w-bit addends (the last narrower) summed into w bits, one
    ``+`` chain (Yosys makes it one ``$macc``); the table measures it where the designs use it."""
    import re
    text, top = characterise.verilog("csa", (20, 8))
    widths = [int(hi) + 1 for hi in re.findall(r"input \[(\d+):0\] x\d+", text)]
    assert widths == [8, 8, 4] and "output [7:0] y" in text and "x0 + x1 + x2" in text
    with pytest.raises(ValueError):
        characterise.verilog("csa", (8, 8))
    assert cost_primitives.measured("csa", (160, 32)) is not None     # BitFusion W4A4 alone
    three, six = cost_primitives.primitive("csa", 96, 32), cost_primitives.primitive("csa", 192, 32)
    assert 0 < three.area_um2 < six.area_um2 and three.flop_bits == 0


def test_sta_energy_is_the_tables_openstas_figures():
    """The OpenSTA-characterised energy of a primitive is the stored figure at the characterised
    toggle rate, the idle one (constant inputs) at 0, linear between, 180 nm -> 45 nm by S_E."""
    point = _table()[("add", (8,))]
    hot, idle = point["energy_sta_pj"], point["energy_sta_idle_pj"]
    assert characterise.STA_ACTIVITY == 0.5 and hot > idle >= 0
    assert cost_primitives.sta_energy("add", 8, activity=0.5) == pytest.approx((hot * S_E, idle * S_E), rel=1e-4)
    assert cost_primitives.sta_energy("add", 8, activity=0.0)[0] == pytest.approx(idle * S_E, rel=1e-4)
    assert cost_primitives.sta_energy("add", 8, activity=0.25)[0] == pytest.approx((hot + idle) / 2 * S_E, rel=1e-4)
    reg = _table()[("reg_en", (8,))]
    assert reg["energy_sta_idle_pj"] > 0        # a flop pays its clock with constant inputs


def test_data_activity_is_the_data_ports_toggles_per_step():
    from models.activity import PortActivity
    from models.energy_vs_sta import data_activity
    bits = (("act[0]", 0.2, 0.5), ("act[1]", 0.4, 0.5), ("weight[0]", 0.0, 1.0), ("valid", 1.0, 0.5),
            ("acc_in[0]", 0.3, 0.5))
    act = PortActivity("int8", (), "pe", "minilm", 100, bits)
    assert data_activity(act, 1) == pytest.approx((0.2 + 0.4 + 0.0 + 0.3) / 4)   # valid is control
    assert data_activity(act, 2) == pytest.approx(2 * (0.2 + 0.4 + 0.0 + 0.3) / 4)
    assert data_activity(act, 8) == 1.0                                          # at most 1 per step


def _unbordered(kind):
    return not inventory._slot_options(get_kind(kind).prototype(**dict(GENERIC.get(kind, ()))), "os")


@pytest.mark.parametrize("pe", [k for k, df in KIND_DATAFLOWS if df == "os" and _unbordered(k)])
def test_bench_energy_is_the_cost_models(pe):
    """The energy bench/bench_energy_vs_sta.py checks against OpenSTA is the cost model's own: an
    os array's PEs are the prototype (unless border units or the slot take part of the PE's work:
    then the array's PE inventory is a narrower one, not the standalone PE the bench synthesises), so
    cost.hardware's PE step energy (dynamic) plus the PE's idle energy over its II cycles is
    models.energy_vs_sta.pe_step_energy_pj, to rounding."""
    from models.energy_vs_sta import pe_step_energy_pj
    from models.part_activity import part_activity
    options = GENERIC.get(pe, ())
    acc = DesignConfig(pe, 2, 2, "os", 1, 1, 1, options).facts
    parts = part_activity(pe, tuple(sorted(options)), "minilm")
    hw = cost.hardware(acc, 45, parts)
    proto = get_kind(pe).prototype(**dict(options))
    # each part's idle energy at its inputs' measured duties (models/duty.py), as both sum it
    idle = sum(n * primitive(item[0], *item[1]).idle_pj
               * parts.idle_factor(item[0], item[1], getattr(item, "drivers", ()))
               for item in inventory.unit_items(proto) for n in (item[2],))
    bench, _ = pe_step_energy_pj(pe, options, source="minilm")
    assert hw.per_action["pe_step"] + proto.initiation_interval * idle == pytest.approx(bench, rel=1e-9)
    assert idle > 0 and hw.per_action["pe_step"] > 0


# ------------------------------------------------------------------------------------------
# energy basis (CostConfig.energy_basis)


def _pe_hardware(kind, basis):
    """(Hardware of a 1x1 os design of ``kind``'s first variant on ``basis``, its options): on a
    1x1 output-stationary array these kinds' PE items are their unit inventory's, as
    energy_vs_sta prices them (checked, so a change there fails here rather than compares apples
    with pears)."""
    options = tuple(sorted(dict(PE_KINDS[kind].variants[0][1]).items()))
    config = CostConfig(kind, 1, 1, "os", pe_options=options, energy_basis=basis)
    acc = config.design().facts
    pes = [(i.prim, tuple(i.widths), i.count, i.event, tuple(i.drivers), tuple(i.inputs))
           for i in inventory.design_items(acc) if i.group == "pes"]
    unit = [(p[0], tuple(p[1]), p[2], p[3], tuple(getattr(p, "drivers", ())), tuple(getattr(p, "inputs", ())))
            for p in inventory.unit_items(acc.pe)]
    assert pes == unit
    return cost.hardware(acc, config.node, config.activity_factors()), options


@pytest.mark.parametrize("kind", ["ovp", "mx"])
def test_sim_basis_pe_energy_is_the_sim_power_benchs_figure(kind):
    """The cost model's PE energy per step on the sim basis is the figure
    bench/bench_energy_vs_sim_power.py --sim-basis checks (energy_vs_sta.pe_step_energy_pj(...,
    basis="sim"): the same primitives, activity rules and pin loads, summed in another order (per
    event, then the idle energy, where the bench sums per part), so equal to 1e-12 relative (the
    last bits of the sums); the OpenSTA basis likewise its own, and the two differ (OVP: field
    activity; MXFP8: internal words)."""
    from models import energy_vs_sta
    got = {}
    for basis in cost.ENERGY_BASES:
        hw, options = _pe_hardware(kind, basis)
        got[basis] = cost.hardware_pe_step_pj(hw)
        bench, _ = energy_vs_sta.pe_step_energy_pj(kind, options, source="minilm", basis=basis)
        assert math.isclose(got[basis], bench, rel_tol=1e-12, abs_tol=0), (basis, got[basis], bench)
    assert abs(got["sim"] / got["sta"] - 1) > 0.01


def test_energy_basis_prices_every_part_and_leaves_area_and_memory_alone():
    sta = evaluate(CostConfig("int8", 4, 4), WORKLOADS["minilm-l6"])
    sim = evaluate(CostConfig("int8", 4, 4, energy_basis="sim"), WORKLOADS["minilm-l6"])
    assert sim.config.energy_basis == "sim" and sta.config.energy_basis == "sta"
    assert sim.area_um2 == sta.area_um2 and sim.cycles == sta.cycles
    for group in cost.ENERGY_GROUPS:
        if group.startswith(("sram_", "dram_")):
            assert sim.energy_pj[group] == sta.energy_pj[group], group
        elif sta.energy_pj[group]:
            assert sim.energy_pj[group] != sta.energy_pj[group], group   # the basis reached it
    assert sim.tops_per_w != sta.tops_per_w


@pytest.mark.parametrize("kwargs, message", [
    ({"energy_basis": "opensta"}, "energy_basis must be one of sta, sim, not 'opensta'"),
    ({"energy_basis": None}, "energy_basis must be one of sta, sim, not None"),
    ({"energy_basis": "sim", "activity": 0.5}, "energy_basis 'sim' needs a measured activity"),
])
def test_energy_basis_is_checked_up_front(kwargs, message):
    with pytest.raises(cost.OptionError, match=message):
        CostConfig("int8", 4, 4, **kwargs)


def test_cli_cost_energy_basis(cli, capsys):
    argv = ("cost", "--pe", "int8", "--rows", "4", "--cols", "4", "--gemm", "64x64x64", "--json")
    assert cli(*argv, "--energy-basis", "sta") == 0
    sta = json.loads(capsys.readouterr().out)
    assert cli(*argv, "--energy-basis", "sim") == 0
    sim = json.loads(capsys.readouterr().out)
    assert (sta["energy_basis"], sim["energy_basis"]) == ("sta", "sim")
    assert sta["tops_per_w"] == evaluate(CostConfig("int8", 4, 4, energy_basis="sta"), (64, 64, 64)).tops_per_w
    assert sim["config"]["energy_basis"] == "sim"
    assert sim["tops_per_w"] == evaluate(CostConfig("int8", 4, 4, energy_basis="sim"), (64, 64, 64)).tops_per_w
    assert sim["tops_per_w"] != sta["tops_per_w"]
    assert cli(*argv[:-1], "--energy-basis", "sim") == 0
    assert "energy basis: sim" in capsys.readouterr().out
    with pytest.raises(cli.BadInput, match="--energy-basis sim needs a measured --activity") as info:
        cli(*argv, "--energy-basis", "sim", "--activity", "0.5")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("flags, activity, basis", [((), "minilm", "sim"),
                                                    (("--activity", "random"), "random", "sim"),
                                                    (("--activity", "0.5"), 0.5, "sta")])
def test_cli_cost_default_energy_basis_follows_the_activity(cli, capsys, flags, activity, basis):
    """No --energy-basis: sim with a measured activity (the default minilm, or random), sta with a
    fixed number (the only basis defined for one); the figures are that basis's."""
    argv = ("cost", "--pe", "int8", "--rows", "4", "--cols", "4", "--gemm", "64x64x64", *flags)
    assert cli(*argv, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["energy_basis"] == out["config"]["energy_basis"] == basis
    config = CostConfig("int8", 4, 4, activity=activity, energy_basis=basis)
    assert out["tops_per_w"] == evaluate(config, (64, 64, 64)).tops_per_w
    assert cli(*argv) == 0
    assert f"energy basis: {basis} (" in capsys.readouterr().out
