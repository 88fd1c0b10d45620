"""The zero-delay gate-level simulation of a mapped PE: its register outputs toggle exactly as the
RTL simulation measured them, and a hand-built netlist's toggles are counted right."""

import pytest

from models import gate_toggles, synth
from models.part_activity import part_activity
from tools import require_synthesis


def test_a_gate_and_a_flop_count_their_toggles():
    require_synthesis()
    netlist = ("module g(a, b, clk, y, q);\n  input a;\n  input b;\n  input clk;\n  output y;\n"
               "  output q;\n  wire y;\n  wire q;\n  XOR2X1 u (\n    .A(a),\n    .B(b),\n    .Y(y)\n  );\n"
               "  DFFPOSX1 r (\n    .CLK(clk),\n    .D(y),\n    .Q(q)\n  );\nendmodule\n")
    a, b = [0, 1, 1, 0, 1], [0, 0, 1, 1, 1]
    toggles = gate_toggles.simulate(netlist, {"a": a, "b": b})
    y = [x ^ z for x, z in zip(a, b)]                    # 0 1 0 1 0: four changes in four steps
    assert toggles["y"] == pytest.approx(1.0)
    q = [0] + y[:-1]                                       # one cycle late
    assert toggles["q"] == pytest.approx(sum(u != v for u, v in zip(q, q[1:])) / 4)


def test_an_escaped_port_is_the_stream_bit_of_its_name():
    """Yosys writes a port named by a Verilog keyword escaped (GOBO's ``table``: ``\\table [0]``),
    the same identifier as ``table[0]``, the name the stream (and OpenSTA) gives its bit: the
    cell reading it must see the stream's values, not a net held at 0."""
    require_synthesis()
    netlist = ("module g(\\table , clk, y);\n  input [1:0] \\table ;\n  input clk;\n  output y;\n"
               "  wire [1:0] \\table ;\n  wire y;\n"
               "  INVX1 u (\n    .A(\\table [1]),\n    .Y(y)\n  );\nendmodule\n")
    bit = [1, 0, 1, 1, 0]
    toggles = gate_toggles.simulate(netlist, {"table[1]": bit, "table[0]": [0] * 5})
    assert toggles["y"] == pytest.approx(sum(u != v for u, v in zip(bit, bit[1:])) / 4)


@pytest.mark.slow
def test_gobo_centroid_table_reaches_its_multiplier():
    """The mapped GOBO PE on the MiniLM stream (its run's constant centroid table on the escaped
    ``table`` port): the FP16 product of activation and centroid switches, so most of its cells
    toggle (with the table read as 0 every centroid is +0 and two thirds of the cells stay still)."""
    require_synthesis()
    netlist = synth.synthesize("gobo", unit="pe").netlist()
    toggles = gate_toggles.simulate(netlist, gate_toggles.pe_stream("gobo"))
    still = sum(1 for t in toggles.values() if t == 0)
    assert still < 0.25 * len(toggles)


def test_pe_register_outputs_match_the_rtl_simulation():
    """The mapped INT8 PE simulated gate by gate on the MiniLM stream: its result register's
    outputs toggle at the rate the Amaranth simulation measured at acc_out."""
    require_synthesis()
    netlist = synth.synthesize("int8", unit="pe").netlist()
    toggles = gate_toggles.simulate(netlist, gate_toggles.pe_stream("int8"))
    acc = [t for net, t in toggles.items() if net.startswith("acc_out[")]
    assert len(acc) == 32
    assert sum(acc) / len(acc) == pytest.approx(part_activity("int8", (), "minilm").rate("acc_out"), abs=1e-3)
