"""The owner of each cell of a mapped array netlist (:mod:`models.cell_owners`), on a hand-written
netlist with both kinds of names."""

from models import cell_owners

# a flattened PE copy's cells (pe_1_0.*); a flat synthesis's PE register (pe_0_0.acc) and top
# register (pass_0_0) with the logic in front of them: n1 feeds only the PE's flop, n2 only the
# pass register, n3 both, n4 only the output port, n5 two top registers (pass_0_0, skew_r1)
NETLIST = """module a(clk, x, y, out);
  input clk;
  input [1:0] x;
  input y;
  output out;
  wire n1;
  wire n2;
  wire n3;
  wire n4;
  wire n5;
  wire m1;
  wire [1:0] \\pe_0_0.acc ;
  wire [1:0] pass_0_0;
  wire skew_r1;
  wire \\pe_1_0.q ;
  INVX1 \\pe_1_0._5_  (.A(x[0]), .Y(m1));
  DFFPOSX1 \\pe_1_0._6_  (.CLK(clk), .D(m1), .Q(\\pe_1_0.q ));
  INVX1 _1_ (.A(x[0]), .Y(n1));
  INVX1 _2_ (.A(x[1]), .Y(n2));
  INVX1 _3_ (.A(y), .Y(n3));
  NAND2X1 _4_ (.A(n1), .B(n3), .Y(\\pe_0_0.acc [0]));
  DFFPOSX1 _10_ (.CLK(clk), .D(\\pe_0_0.acc [0]), .Q(\\pe_0_0.acc [1]));
  NAND2X1 _7_ (.A(n2), .B(n3), .Y(n5));
  DFFPOSX1 _11_ (.CLK(clk), .D(n5), .Q(pass_0_0[0]));
  DFFPOSX1 _12_ (.CLK(clk), .D(n5), .Q(skew_r1));
  DFFPOSX1 _13_ (.CLK(clk), .D(n2), .Q(pass_0_0[1]));
  INVX1 _8_ (.A(pass_0_0[1]), .Y(n4));
  BUFX2 _9_ (.A(n4), .Y(out));
endmodule
"""


def test_owners_by_instance_prefix_register_name_and_cone():
    owners = cell_owners.cell_owners(NETLIST)
    assert owners["pe_1_0._5_"] == owners["pe_1_0._6_"] == "pe_1_0"      # the copy's prefix
    assert owners["_10_"] == "pe_0_0"                                      # its Q's register
    assert owners["_11_"] == owners["_13_"] == "top/pass_0_0"
    assert owners["_12_"] == "top/skew_r1"
    assert owners["_1_"] == owners["_4_"] == "pe_0_0"                      # only the PE's D cone
    assert owners["_3_"] == "shared"                                       # a PE's and the top's
    assert owners["_7_"] == "top/shared"                                   # two top registers
    assert owners["_2_"] == "top/shared"
    assert owners["_8_"] == owners["_9_"] == "top/out"                     # only an output port
    assert [cell_owners.is_top(o) for o in ("top/out", "pe_0_0", "shared")] == [True, False, False]
