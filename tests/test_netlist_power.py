"""Simulated-toggle power of a mapped netlist (:mod:`models.netlist_power`) against OpenSTA where
OpenSTA's propagation is exact: single-level gates whose one toggling input is an independent
random port (the others held at a non-controlling value), each loaded by a second-level inverter
and a flop. OpenSTA then knows every net's true density, so the two may differ only in how they
price a toggle."""

import numpy as np
import pytest

from models import netlist_power, synth
from models.sta import run_sta
from tools import require_synthesis

# (cell, its pins): the toggling input on port a[k], the others tied to ports "one" / "zero".
# Not XOR2X1 (this OpenSTA halves a density through an XOR whose other input is constant) nor
# MUX2X1 (it weights the select pin's table although the select never toggles).
GATES = [("INVX1", {"A": "a"}), ("NAND2X1", {"A": "a", "B": "one"}), ("NOR2X1", {"A": "a", "B": "zero"}),
         ("AOI21X1", {"A": "a", "B": "one", "C": "zero"}), ("OAI21X1", {"A": "a", "B": "zero", "C": "one"}),
         ("BUFX2", {"A": "a"})]
CYCLES = 3000
CLOCK_MHZ = 100.0


def _netlist():
    n = len(GATES)
    lines = ["module v(clk, one, zero, a, y, q);", "  input clk;", "  input one;", "  input zero;",
             f"  input [{n - 1}:0] a;", f"  output [{n - 1}:0] y;", f"  output [{n - 1}:0] q;"]
    lines += [f"  wire n{k};\n  wire m{k};" for k in range(n)]
    for k, (cell, pins) in enumerate(GATES):
        conns = ", ".join(f".{p}({f'a[{k}]' if s == 'a' else s})" for p, s in pins.items())
        lines += [f"  {cell} g{k} ({conns}, .Y(n{k}));", f"  INVX1 i{k} (.A(n{k}), .Y(m{k}));",
                  f"  INVX1 j{k} (.A(m{k}), .Y(y[{k}]));", f"  DFFPOSX1 f{k} (.CLK(clk), .D(n{k}), .Q(q[{k}]));"]
    return "\n".join(lines + ["endmodule"]) + "\n"


def _stream(seed=1):
    """Independent random bits, bit k flipping with probability 0.1 + 0.15 k per cycle."""
    rng = np.random.default_rng(seed)
    stream = {"one": [1] * CYCLES, "zero": [0] * CYCLES}
    for k in range(len(GATES)):
        stream[f"a[{k}]"] = [int(b) for b in np.cumsum(rng.random(CYCLES) < 0.1 + 0.15 * k) % 2]
    return stream


@pytest.fixture(scope="module")
def both():
    require_synthesis()
    netlist, stream = _netlist(), _stream()
    activity = {bit: (float(np.mean(np.diff(v) != 0)), float(np.mean(v))) for bit, v in stream.items()}
    sta = run_sta(netlist, "v", synth.liberty_path(), clock_mhz=CLOCK_MHZ, activity=activity)
    return sta, netlist_power.simulated_power(netlist, stream, CLOCK_MHZ)


def test_switching_and_leakage_agree_with_opensta(both):
    sta, ours = both
    for group in ("sequential", "combinational"):
        s, o = getattr(sta, group), getattr(ours, group)
        assert o.switching == pytest.approx(s.switching, rel=0.03, abs=1e-9)
        assert o.leakage == pytest.approx(s.leakage, rel=0.01)


def test_internal_agrees_with_opensta_in_its_pricing(both):
    """Priced OpenSTA 2.0.17's way (rise + fall tables per transition) the simulated toggles give
    its internal power within a few %; priced at the Liberty's mean they give about half."""
    sta, ours = both
    assert ours.as_opensta_2019.internal == pytest.approx(sta.power.internal, rel=0.03)
    assert 0.45 < ours.power.internal / sta.power.internal < 0.6


def test_one_inverter_costs_its_liberty_tables():
    """One INVX1 toggling once a cycle, no load, ideal input: (rise + fall) / 2 of its tables'
    corner extrapolated to slew 0, load 0; OpenSTA 2.0.17 charges rise + fall."""
    require_synthesis()
    netlist = "module v(a, y);\n  input a;\n  output y;\n  INVX1 g (.A(a), .Y(y));\nendmodule\n"
    ours = netlist_power.netlist_power(netlist, {"a": 1.0, "y": 1.0}, CLOCK_MHZ)
    rise, fall = netlist_power._cells()["INVX1"].internal["A"]
    per_toggle = (netlist_power.lookup(rise, 0.0, 0.0) + netlist_power.lookup(fall, 0.0, 0.0)) / 2
    assert ours.power.internal == pytest.approx(per_toggle * CLOCK_MHZ * 1e-3)
    sta = run_sta(netlist, "v", synth.liberty_path(), clock_mhz=CLOCK_MHZ, activity={"a": (1.0, 0.5)})
    assert sta.power.internal == pytest.approx(2 * ours.power.internal, rel=1e-3)


def test_grouped_power_splits_the_whole_by_cell_name():
    """Grouped by instance name (the gate g, its two inverters i / j, its flop f), the groups sum
    to the whole netlist's figure and each keeps what its own cells dissipate: only the flops pay
    clock pins and sequential power, the gates' switching is their outputs' load (an inverter and
    a flop's D)."""
    require_synthesis()
    netlist, stream = _netlist(), _stream()
    toggles = netlist_power.simulated_toggles(netlist, stream)
    whole = netlist_power.netlist_power(netlist, toggles, CLOCK_MHZ)
    groups = netlist_power.grouped_power(netlist, toggles, CLOCK_MHZ, lambda name: name[0])
    assert sorted(groups) == ["f", "g", "i", "j"]
    for field in ("internal", "switching", "leakage"):
        assert sum(getattr(p.power, field) for p in groups.values()) == pytest.approx(getattr(whole.power, field))
    assert whole.clock_pin_mw > 0 and groups["f"].clock_pin_mw == pytest.approx(whole.clock_pin_mw)
    assert all(groups[g].clock_pin_mw == 0 and groups[g].sequential.internal == 0 for g in "gij")
    # j drives the output ports, which carry no load: no switching
    assert groups["j"].power.switching == 0 < groups["i"].power.switching < groups["g"].power.switching
