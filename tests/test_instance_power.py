"""OpenSTA's per-instance power: the instances add up to its unit split, and the roles follow the
netlist's structure (flops, the cells driving their D, the rest)."""

import pytest

from models import characterise, instance_power, sta, synth
from tools import require_sta


def _reg_en(width):
    text, top = characterise.verilog("reg_en", (width,))
    return synth.synthesize_verilog(text, top).netlist(), top


def test_roles_of_an_enabled_register():
    """An enabled register with reset maps to one flop per bit, the reset gate before each D and
    the enable mux before that: every bit has one cell of each role."""
    require_sta()
    netlist, _ = _reg_en(8)
    roles = instance_power.roles(netlist)
    counts = {role: sum(r == role for r in roles.values()) for role in instance_power.ROLES}
    assert counts == {"flop": 8, "flop_input": 8, "logic": 8}


def test_instances_add_up_to_the_unit_split():
    """Per instance, OpenSTA's figures sum to its sequential + combinational totals, and the flop
    group is exactly its sequential one, with data toggling (so D and the logic draw power) and
    with it constant (the clock alone)."""
    require_sta()
    netlist, top = _reg_en(8)
    bits = characterise.data_input_bits(netlist)
    for d in (0.0, 0.4):
        activity = {b: ((0.3, 0.7) if b == "en" else (d, 0.5)) for b in bits}
        seq, comb, per = instance_power.instance_power(netlist, top, synth.liberty_path(),
                                                        clock_mhz=100.0, activity=activity)
        assert set(per) == set(instance_power.roles(netlist))
        assert sum(p.total for p in per.values()) == pytest.approx(seq.total + comb.total, rel=1e-5)
        split = instance_power.role_power(netlist, top, synth.liberty_path(), clock_mhz=100.0,
                                          activity=activity)
        assert split["flop"] == pytest.approx(seq.total, rel=1e-5)
        # the whole-unit run of the cost model's flow gives the same totals
        rep = sta.run_sta(netlist, top, synth.liberty_path(), clock_mhz=100.0, activity=activity)
        assert sum(split.values()) == pytest.approx(rep.sequential.total + rep.combinational.total, rel=1e-5)
        assert (split["logic"] > 0) == (d > 0 or activity["en"][0] > 0)
