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


def test_pe_register_outputs_match_the_rtl_simulation():
    """The mapped INT8 PE simulated gate by gate on the MiniLM stream: its result register's
    outputs toggle at the rate the Amaranth simulation measured at acc_out."""
    require_synthesis()
    netlist = synth.synthesize("int8", unit="pe").netlist()
    toggles = gate_toggles.simulate(netlist, gate_toggles.pe_stream("int8"))
    acc = [t for net, t in toggles.items() if net.startswith("acc_out[")]
    assert len(acc) == 32
    assert sum(acc) / len(acc) == pytest.approx(part_activity("int8", (), "minilm").rate("acc_out"), abs=1e-3)
