"""Per-register fan-in cones of a mapped netlist (models.netlist_cones) on a small synthesised
module: each register's flops and cone, and the cones' cells add up to the netlist's area."""

import pytest

from models import synth
from models.netlist_cones import register_cones
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
