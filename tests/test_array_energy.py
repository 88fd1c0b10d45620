"""The array energy check (models.array_energy): the mapped array's netlist simulated gate by gate
on the array stream computes the golden GEMM, and its energy is the Liberty pricing of its
simulated toggles; bit-level aliases of concatenated assigns."""

import pytest

from models import activity, array_energy, gate_toggles, netlist_power, synth
from models.energy_vs_sta import cycle_energy_pj
from tools import require_synthesis


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
