"""The sim basis's output-toggle curves (:mod:`models.part_outputs_sim`) and the opt-in rule that
hands a driving part's simulated output toggles to the parts it feeds
(``part_activity.SIM_PROPAGATION = "outputs"``): stored points regenerate, the curves say what the
"ports" rule misses (a product's and a sum's outputs toggle more than their inputs at low rates),
and switched on the rule brings ANT W4A4 int within 15 % of its mapped netlist's simulated toggles,
which the default does not; off (the default) and on the OpenSTA basis nothing changes."""

import dataclasses

import pytest

from models import energy_vs_sta, gate_toggles, netlist_power, part_activity, part_outputs_sim as po, synth
from tools import require_synthesis


def test_a_stored_point_regenerates():
    require_synthesis()
    assert po.measure("shiftn", (8, 4, 18)) == pytest.approx(po.curve("shiftn", (8, 4, 18)), abs=1e-6)


def test_products_and_sums_toggle_more_than_their_inputs_at_low_rates():
    """At 0.02 toggles per input bit a signed product's and an adder's output bits toggle more
    than twice as often (the "ports" rule passes 0.02 on); near 0.5 both saturate below it."""
    for family, widths in (("smult", (5, 5)), ("add", (32,))):
        assert po.output_toggles(family, widths, 0.02) > 2 * 0.02
        assert po.output_toggles(family, widths, 0.5) <= 0.5
    assert po.output_toggles("smult", (5, 5), 0.75) == pytest.approx(po.curve("smult", (5, 5))[-1] * 1.5)


def test_rule_is_opt_in_and_sim_basis_only(monkeypatch):
    parts = part_activity.part_activity("ovp", (), "minilm")
    sim = dataclasses.replace(parts, basis="sim")
    product = ("smult", (4, 4), 2, "step")
    default_sim, default_sta = sim.part_output(product), parts.part_output(product)
    monkeypatch.setattr(part_activity, "SIM_PROPAGATION", "outputs")
    a = sim.item_activity("smult", (4, 4), "step", composed=False)
    assert sim.part_output(product) == (po.output_toggles("smult", (4, 4), a), 2 * 8)
    assert sim.part_output(product)[0] > default_sim[0]
    assert parts.part_output(product) == default_sta


@pytest.mark.slow      # the PE's netlist simulated on its stream: about 20 s
def test_switched_on_ant_int4_meets_the_target(monkeypatch):
    require_synthesis()
    netlist = synth.synthesize("ant", unit="pe").netlist()
    power = netlist_power.simulated_power(netlist, gate_toggles.pe_stream("ant", ()), 100.0)
    ref = energy_vs_sta.sta_step_energy_pj("ant", (), power) * power.as_opensta_2019.total / power.power.total
    off = energy_vs_sta.pe_step_energy_pj("ant", (), basis="sim")[0]
    monkeypatch.setattr(part_activity, "SIM_PROPAGATION", "outputs")
    on = energy_vs_sta.pe_step_energy_pj("ant", (), basis="sim")[0]
    assert abs(on / ref - 1) <= 0.15 < abs(off / ref - 1)
