"""Per-register fan-in cones of a mapped netlist (models.netlist_cones) on a small synthesised
module: each register's flops and cone, and the cones' cells add up to the netlist's area; and
of a Yosys JSON gate netlist before ABC (a hand-written one)."""

import re

import pytest

from models import synth
from models.netlist_cones import gate_cones, register_cones
from tests.tools import require_synthesis

TWO_REGISTERS = """\
module two(clk, a, b, s, p);
  input clk;
  input [7:0] a, b;
  output reg [7:0] s, p;
  always @(posedge clk) begin
    s <= a + b;
    p <= a & b;
  end
endmodule
"""


@pytest.fixture
def tools():
    require_synthesis()


def test_cones_split_the_netlist_by_register(tools):
    r = synth.synthesize_verilog(TWO_REGISTERS, "two")
    areas = synth.liberty_areas()
    cones, shared = register_cones(r.netlist(), areas)
    assert set(cones) == {"s", "p"}
    assert cones["s"].flops == cones["p"].flops == 8
    assert cones["s"].flop_area == cones["p"].flop_area == 8 * areas["DFFPOSX1"]
    # the AND is one gate per bit; the add needs a carry chain
    assert 0 < cones["p"].area < cones["s"].area
    # every cell is a flop or in a cone (the ports are the flops' outputs); two registers: a
    # shared cell is in both cones
    total = sum(c.flop_area + c.area for c in cones.values()) - shared
    assert total == pytest.approx(r.area_um2)


def _gate(kind, a, b, y):
    return {"type": kind, "port_directions": {"A": "input", "B": "input", "Y": "output"},
            "connections": {"A": [a], "B": [b], "Y": [y]}}


def test_gate_cones_count_each_registers_fan_in():
    # bits 2..3: ports a, b; r <= (a & b) ^ q (a Yosys flop reading its own output q);
    # q <= a | b (a liberty flop: a black box without port directions)
    design = {"modules": {"top": {
        "netnames": {"a": {"bits": [2]}, "b": {"bits": [3]}, "x": {"bits": [4], "hide_name": 1},
                     "r_next": {"bits": [5], "hide_name": 1}, "o": {"bits": [6]},
                     "acc_in$3": {"bits": [7]}, "pe_0_0.acc_out": {"bits": [8, 7]},
                     "q": {"bits": [9]}},
        "cells": {
            "and": _gate("$_AND_", 2, 3, 4),
            "xor": _gate("$_XOR_", 4, 9, 5),
            "or": _gate("$_OR_", 2, 3, 6),
            "r0": {"type": "$_SDFFE_PP0P_", "port_directions": {"D": "input", "Q": "output"},
                   "connections": {"D": [5], "Q": [8]}},
            "r1": {"type": "$_SDFFE_PP0P_", "port_directions": {"D": "input", "Q": "output"},
                   "connections": {"D": [5], "Q": [7]}},
            "q": {"type": "DFFPOSX1", "connections": {"D": [6], "Q": [9]}},
        }}}}
    cones = gate_cones(design, prefer=re.compile(r"pe_\d+_\d+\.acc_out"))
    # r1's Q also carries the name acc_in$3: the preferred name wins; the cone stops at q's flop
    assert cones == {"pe_0_0.acc_out": (2, 2), "q": (1, 1)}
    # without a preference a net is named by its first name
    assert set(gate_cones(design)) == {"pe_0_0.acc_out", "acc_in$3", "q"}
