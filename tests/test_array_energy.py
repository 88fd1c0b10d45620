"""The array energy check (models.array_energy): the mapped array's netlist simulated gate by gate
on the array stream computes the golden GEMM, and its energy is the Liberty pricing of its
simulated toggles; bit-level aliases of concatenated assigns."""

import dataclasses
from collections import Counter

import pytest

from models import (activity, array_energy, cell_owners, cost, flat_netlist, gate_toggles, internal_activity, netlist_power,
                    part_activity, synth)
from models.energy_vs_sta import cycle_energy_pj
from models.port_field import Field
from models.registry import get_kind
from tools import require_synthesis

ANT_INT4 = (("act_type", "int4"), ("weight_type", "int4"))


def test_a_concatenated_assign_is_read_bit_by_bit():
    """Yosys assigns an array's output word as a concatenation (constants and slices): a cell
    reading one of its bits, and the traced output port, see the bit it is assigned from."""
    require_synthesis()
    netlist = ("module g(a, clk, y, q);\n  input [1:0] a;\n  input clk;\n  output [3:0] y;\n"
               "  output q;\n  wire [3:0] y;\n  wire [2:0] w;\n  wire q;\n"
               "  assign w = { 1'h1, a[1:0] };\n  assign y = { w[2], 1'h0, w[1:0] };\n"
               "  INVX1 u (\n    .A(y[1]),\n    .Y(q)\n  );\nendmodule\n")
    a1, a0 = [0, 1, 1, 0], [1, 1, 0, 0]
    toggles, traces = gate_toggles.simulate_trace(netlist, {"a[1]": a1, "a[0]": a0},
                                                  ["y[3]", "y[2]", "y[1]", "y[0]", "q"])
    assert traces["y[3]"] == [1] * 4 and traces["y[2]"] == [0] * 4
    assert traces["y[1]"] == a1 and traces["y[0]"] == a0
    assert traces["q"] == [1 - v for v in a1]
    assert toggles["q"] == pytest.approx(sum(u != v for u, v in zip(a1, a1[1:])) / 3)


def test_int8_array_netlist_computes_the_golden_gemm_and_is_priced_on_its_toggles():
    """INT8 2x2 on a few dozen cycles of the MiniLM array stream: every output word after the
    warm-up fold equals the golden GEMM's, and the energy is netlist_power of the toggles an
    independent simulation (simulate_lanes) counts on the same stream."""
    require_synthesis()
    m, folds = 8, 3
    r = array_energy.array_energy("int8", (), 2, 2, m=m, folds=folds)
    assert r.checked >= m and r.mismatches == 0
    run = activity.array_run("int8", 2, 2, "ws", (), "minilm", m=m, folds=folds)
    warmup = run.cycles // folds
    netlist = synth.synthesize("int8", rows=2, cols=2, dataflow="ws").netlist()
    stream = gate_toggles.port_stream(run.ports)
    toggles = {**gate_toggles.simulate_lanes(netlist, stream, 1, warmup),
               **netlist_power.port_toggles(stream, warmup)}
    power = netlist_power.netlist_power(netlist, toggles, array_energy.CLOCK_MHZ)
    assert power == r.power
    assert r.sim_pj == pytest.approx(cycle_energy_pj(power)) and r.sim_pj > 0
    assert r.sim_sta_pj > r.sim_pj          # OpenSTA 2.0.17 charges both tables per transition
    for basis in ("sim", "sta"):
        assert r.model[basis]["pes"] > 0 and r.model[basis]["idle"] > 0


def test_window_events_count_the_streams_tokens_and_writes():
    """The cost model's events over the window are the stream's own: a token per act_valid
    cycle, every PE stepping on it, a weight word per weight_we cycle."""
    run = activity.array_run("int8", 2, 2, "ws", (), "minilm", m=8, folds=3)
    events = array_energy.window_events(run, 8)
    assert events["token"] == sum(run.ports["act_valid"][0][8:]) == 16
    assert events["step"] == 16 * 4
    assert events["weight_word"] == sum(run.ports["weight_we"][0][8:]) == 2 * 2
    assert events["fold"] == 2


def test_each_array_pe_is_fed_its_rows_lanes_of_the_array_stream():
    """INT8 2x2 (no border units, II = latency = 1): PE (r, c) sees, on its valid cycles, row r's
    lane of the array's act port token after token (skewed by r cycles) and, through a fold, the
    weight code that column c's row r holds (W[K block * 2 + r, c]); row 0's acc_in is the
    constant 0, row 1's is row 0's result."""
    m, folds = 8, 3
    run = activity.array_run("int8", 2, 2, "ws", (), "minilm", m=m, folds=folds)
    act_port = [v for v, valid in zip(run.ports["act"][0], run.ports["act_valid"][0]) if valid]
    pes = activity.array_pe_ports(run, 0)
    assert len(pes) == 4
    blocks = run.acts.shape[1] // 2
    for i, (ports, lanes) in enumerate(pes):
        r, c = divmod(i, 2)
        seen = [(a, w) for a, w, valid in zip(ports["act"][0], ports["weight"][0], ports["valid"][0]) if valid]
        assert len(seen) == m * folds - r            # row 1's last token leaves after the stream
        for t, (a, w) in enumerate(seen):
            assert a == (act_port[t] >> (8 * r)) & 0xFF
            assert w == int(run.weights[(t // m) % blocks * 2 + r, c]) & 0xFF
        assert [(a & 0xFF, w & 0xFF) for a, w in lanes[:len(seen)]] == seen
    assert set(pes[0][0]["acc_in"][0]) == {0} and set(pes[2][0]["acc_in"][0]) != {0}


def test_array_activities_are_each_pes_own_stream():
    """The model's activity of an array PE is its own stream's: the top row's acc_in never moves
    (the column run's bottom PE, what part_activity measures, sees a real partial sum), each PE
    carries its own port bits for its fields and its own internal words."""
    run = activity.array_run("shiftadd", 2, 2, "ws", (), "minilm", m=8, folds=3)
    warmup = run.cycles // 3
    pas = part_activity.array_activities(run, warmup)
    column = part_activity.part_activity("shiftadd", (), "minilm")
    assert len(pas) == 4
    assert pas[0].rate("acc_in") == pas[1].rate("acc_in") == 0.0 < column.rate("acc_in")
    assert pas[2].rate("acc_in") > 0.0
    proto = get_kind("shiftadd").prototype()
    for pa, (ports, lanes) in zip(pas, activity.array_pe_ports(run, warmup)):
        assert dict((w, (t, b)) for w, t, b in pa.words) == internal_activity.lane_words(proto, lanes)
        act_bits = dict(pa.bits)["act"]
        toggles, _ = activity.bit_activity(ports["act"][0], ports["act"][1])
        assert [t for t, _ in act_bits] == pytest.approx(list(toggles))


def test_a_pe_with_its_own_figures_reads_them_not_the_column_tables():
    """A PartActivity carrying its run's port bits and words hands those to its fields and words."""
    pa = dataclasses.replace(part_activity.part_activity("ant", ANT_INT4, "minilm"), basis="sim")
    field = Field("act", (0, 1))
    own = dataclasses.replace(pa, bits=(("act", ((0.5, 0.25), (0.0, 0.0))),), words=(("rows", 0.125, 8),))
    assert own.field_toggles(field) == (min(1.0, 0.25 * pa.ii), 0.125)
    assert pa.field_toggles(field) != own.field_toggles(field)
    part = type("Part", (tuple,), {"word": "rows"})(("add", (8, 8), 2, "step"))
    assert own.word_output(part) == (0.125, 2 * 8)
    assert pa.word_output(part) is None                 # ANT names no internal word


def test_the_array_model_is_the_mean_over_its_pes():
    """Every event counts all the array's PEs: the model's parts are the mean of the per-PE
    figures, so R x C identical PEs give one PE's figures."""
    run = activity.array_run("int8", 2, 2, "ws", (), "minilm", m=8, folds=3)
    hws = array_energy.model_hardware(run, "sim", 8)
    events = array_energy.window_events(run, 8)
    mean = array_energy.array_model_pj(hws, events, 16)
    for g, pj in mean.items():
        assert pj == pytest.approx(sum(array_energy.array_model_pj((hw,), events, 16)[g] for hw in hws) / 4)
    assert array_energy.array_model_pj(hws[:1] * 4, events, 16) == pytest.approx(
        array_energy.array_model_pj(hws[:1], events, 16))


def test_activity_pricing_sets_each_pe_at_its_own_stream_or_all_at_the_column_run():
    """The column pricing is the cost model's (every PE at part_activity's column run, as
    models.cost prices any array); the own pricing differs from it, and only by activity: the
    same hardware at the column run's activity gives the column figure."""
    run = activity.array_run("shiftadd", 2, 2, "ws", (), "minilm", m=8, folds=3)
    column = array_energy.column_hardware(run, "sim")
    assert len(column) == 1
    assert column[0].coef == cost._model(cost.CostConfig("shiftadd", 2, 2, "ws", clock_mhz=array_energy.CLOCK_MHZ,
                                                         node=45, activity="minilm",
                                                         energy_basis="sim")).coef
    own, col = array_energy.activity_pricing_pj("shiftadd", (), 2, 2, m=8, folds=3)
    events = array_energy.window_events(run, run.cycles // 3)
    assert col == pytest.approx(sum(array_energy.array_model_pj(column, events, 0)[g] for g in array_energy.PARTS))
    assert own == pytest.approx(sum(array_energy.array_model_pj(array_energy.model_hardware(run, "sim", run.cycles // 3),
                                                                events, 0)[g] for g in array_energy.PARTS))
    assert own != pytest.approx(col, rel=0.01)     # the top row's acc_in never moves (test above)


def test_an_os_array_is_simulated_as_its_flattened_mapped_netlist():
    """An output-stationary array is mapped with one shared PE module; flattened after mapping it
    holds exactly the top's cells and R x C copies of the PE module's, nothing re-mapped."""
    require_synthesis()
    r = synth.synthesize("int8", rows=2, cols=2, dataflow="os")
    hierarchical = r.netlist()
    top, pe = hierarchical.split("endmodule", 1)
    flat = flat_netlist.flat_netlist(r)
    assert flat_netlist.module_count(hierarchical) == 2 and flat_netlist.module_count(flat) == 1
    want = Counter(typ for typ, _ in gate_toggles.instances(top))
    for typ, _ in gate_toggles.instances(pe):
        want[typ] += 4
    assert Counter(typ for typ, _ in gate_toggles.instances(flat)) == want
    assert flat_netlist.flat_netlist(r) == flat                  # cached, the same text
    ws = synth.synthesize("int8", rows=2, cols=2, dataflow="ws")
    assert flat_netlist.flat_netlist(ws) == ws.netlist()         # one module already
    # the shared PE module alone, to simulate as the array maps it; none in a one-module array
    module = flat_netlist.pe_module(r)
    assert flat_netlist.module_count(module) == 1 and module.startswith("module ")
    assert Counter(t for t, _ in gate_toggles.instances(module)) == Counter(t for t, _ in gate_toggles.instances(pe))
    assert flat_netlist.pe_module(ws) is None


def test_int8_os_array_netlist_drains_the_golden_gemm():
    """INT8 2x2 output-stationary (the kind's second dataflow) on three folds of the MiniLM
    stream: every drained row that leaves within the stream equals the golden GEMM's and the
    window counts R output words per fold. (The pricing is the ws test's path; a fold is all of
    K = 128 steps, so this one run is the test's cost.)"""
    require_synthesis()
    folds = 3
    r = array_energy.array_energy("int8", (), 2, 2, m=4, folds=folds, dataflow="os")
    run = activity.array_run("int8", 2, 2, "os", (), "minilm", m=4, folds=folds)
    # the last fold's rows leave after the stream: the first two folds' 2 rows each are checked
    assert (r.checked, r.mismatches) == (2 * 2, 0)
    warmup = run.cycles // folds
    events = array_energy.window_events(run, warmup)
    assert events["fold"] == 2 and events["out_word"] == 2 * 2 and events["token"] == 2 * 128
    assert r.cycles == run.cycles - warmup and r.sim_sta_pj > r.sim_pj > 0
    for basis in ("sim", "sta"):
        assert r.model[basis]["pes"] > 0 and r.model[basis]["idle"] > 0
    # the flattened cells keep their PE's instance name: the energy splits by PE and the top
    pes = ["pe_0_0", "pe_0_1", "pe_1_0", "pe_1_1"]
    assert [o for o in sorted(r.owners) if not cell_owners.is_top(o)] == pes
    assert sum(r.owner_pj(o) for o in r.owners) == pytest.approx(r.sim_sta_pj)
    assert all(r.owner_pj(o) > 0 for o in pes)
    assert sum(p.clock_pin_mw for p in r.owners.values()) == pytest.approx(r.power.clock_pin_mw)


def test_each_os_array_pe_accumulates_its_own_output():
    """INT8 2x2 os: PE (r, c)'s ports, read from the array's RTL, carry row r's activation lane and
    column c's weight lane of its output tile (each skewed by r + c), its acc_in is 0 on a fold's
    first token, and its result after a fold's last token is the golden output of its slot."""
    run = activity.array_run("int8", 2, 2, "os", (), "minilm", m=4, folds=3)
    golden = array_energy.array_sums(run, run.acts, run.weights)
    kg, proto = run.acts.shape[1], get_kind("int8").prototype()
    for i, (ports, lanes) in enumerate(activity.array_pe_ports(run, 0)):
        r, c = divmod(i, 2)
        assert len(lanes) == run.folds * kg
        for f in range(run.folds):
            mi, n = f % 2 * 2 + r, f // 2 * 2 + c
            start = f * run.fold_cycles + r + c
            assert [a for a, _ in lanes[f * kg:(f + 1) * kg]] == [int(v) & 0xFF for v in run.acts[mi]]
            assert [w for _, w in lanes[f * kg:(f + 1) * kg]] == [int(v) & 0xFF for v in run.weights[:, n]]
            assert ports["valid"][0][start] == 1 and ports["acc_in"][0][start] == 0
            done = start + (kg - 1) * proto.initiation_interval + proto.latency
            if done < run.cycles:
                mask = (1 << proto.acc_width) - 1
                assert ports["acc_out"][0][done] == int(golden[mi, n]) & mask
