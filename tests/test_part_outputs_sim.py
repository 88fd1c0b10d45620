"""The sim basis's output-toggle curves (:mod:`models.part_outputs_sim`: each input group toggling
alone, the others held) and the rule that hands a product's, a slowly-shifted shifter's and a sum
of products' simulated output toggles to the parts they feed
(:meth:`models.part_activity.PartActivity.hands_on`): stored points regenerate, the curves say what
the "ports" rule misses (a product with one operand held, a sum: their outputs toggle more than
their inputs' mean), the rule is the sim basis's only, and it moves ANT W8A8 fused within 15 % of
its mapped netlist's simulated toggles, which the "ports" rule does not."""

import dataclasses

import pytest

from models import energy_vs_sta, gate_toggles, netlist_power, part_activity, part_outputs_sim as po, synth
from models.inventory import unit_items
from models.registry import get_kind
from tools import require_synthesis


def test_a_stored_point_regenerates():
    require_synthesis()
    stored = po.point("shiftn", (8, 4, 18))
    measured = po.measure("shiftn", (8, 4, 18))
    assert measured["every"] == pytest.approx(stored["every"], abs=1e-6)
    for group, curve in stored["curves"].items():
        assert measured["curves"][group] == pytest.approx(curve, abs=1e-6)


def test_a_product_with_one_operand_held_toggles_more_than_the_inputs_mean():
    """A 4 x 4 product with its weight held and the activation at 0.05 toggles per bit: its output
    bits toggle more than half of 0.05 (the shares' mean the "ports" rule hands on); one group
    alone gives its own curve; every group at 0.5 the measured all-toggling figure."""
    p = po.point("smult", (4, 4))
    held = po.output_toggles("smult", (4, 4), {"a": 0.05})
    assert held == pytest.approx(po.group_toggles(p["curves"]["a"], 0.05))
    assert held > 0.05 / 2
    assert po.output_toggles("smult", (4, 4), {"a": 0.5, "b": 0.5}) == pytest.approx(p["every"], rel=1e-6)
    assert po.output_toggles("add", (32,), {"a": 0.02, "b": 0.02}) > 2 * 0.02


def _ovp_product():
    pa = part_activity.part_activity("ovp", (), "minilm")
    product = next(p for p in unit_items(get_kind("ovp").prototype()) if p[0] == "smult")
    return pa, dataclasses.replace(pa, basis="sim"), product


def test_product_hands_on_its_simulated_toggles_on_the_sim_basis_only():
    pa, sim, product = _ovp_product()
    groups = sim.input_groups(product[0], product[1], product.drivers, ())
    assert groups["b"] < groups["a"]        # the weight is (nearly) held
    expected = po.output_toggles(product[0], product[1], groups)
    assert sim.part_output(product) == (pytest.approx(expected), product[2] * 8)
    ports = sim.item_activity(product[0], product[1], "step", product.drivers, (), composed=False)
    assert sim.part_output(product)[0] > 1.5 * ports
    # the OpenSTA basis keeps "ports"
    assert pa.part_output(product)[0] == pa.item_activity(product[0], product[1], "step", product.drivers, (),
                                                           composed=False)


def test_a_shift_moving_as_fast_as_its_data_keeps_the_ports_rule():
    """L-Mul E5M2's product shift moves every step with the exponent sum (as fast as its 3-bit
    word): its output is a re-placed sparse word, which the random-word curves over-count."""
    key = (("format", "e5m2"),)
    proto = get_kind("lmul").prototype(**dict(key))
    sim = dataclasses.replace(part_activity.part_activity("lmul", key, "minilm"), basis="sim")
    shifter = next(p for p in unit_items(proto) if p[0] == "shiftn")
    groups = sim.input_groups(shifter[0], shifter[1], shifter.drivers, shifter.inputs)
    assert groups["sh"] >= groups["a"] > 0
    assert not sim.hands_on(shifter)


@pytest.mark.slow      # the PE's netlist simulated on its stream: about 30 s
def test_ant_fused_meets_the_target_where_the_ports_rule_does_not(monkeypatch):
    require_synthesis()
    key = (("act_type", "int8"), ("weight_type", "int8"))
    netlist = synth.synthesize("ant", unit="pe", pe_options=key).netlist()
    power = netlist_power.simulated_power(netlist, gate_toggles.pe_stream("ant", key), 100.0)
    ref = energy_vs_sta.sta_step_energy_pj("ant", key, power) * power.as_opensta_2019.total / power.power.total
    on = energy_vs_sta.pe_step_energy_pj("ant", key, basis="sim")[0]
    monkeypatch.setattr(part_activity.PartActivity, "hands_on", lambda self, part: False)
    off = energy_vs_sta.pe_step_energy_pj("ant", key, basis="sim")[0]
    assert abs(on / ref - 1) <= 0.15 < abs(off / ref - 1)
