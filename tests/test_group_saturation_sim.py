"""The sim basis's composition of a grouped primitive's input groups
(:mod:`models.group_saturation_sim`): checked against the mapped primitive simulated with its
groups toggling together, which the shares' linear rule under-counts; its ends are exact; stored
points regenerate; the cost model's sim basis uses it and the OpenSTA basis does not."""

import dataclasses

import pytest

from models import characterise, characterise_sim, group_saturation_sim as gs, part_outputs_sim, primitive_groups
from models.duty import weighted
from models.inventory import unit_items
from models.part_activity import part_activity
from models.primitive_outputs import output_gains
from models.registry import get_kind
from tools import require_synthesis


def _joint_excess(family, widths, rates):
    """Simulated excess (over every input held at duty 0.5) with each group at ``rates``, over
    the all-at-0.5 excess: the quantity the rule composes."""
    netlist = characterise_sim.mapped(family, widths)
    bits = characterise.data_input_bits(netlist)
    seed = characterise_sim.point_seed(family, widths)

    def energy(r):
        return characterise_sim.sim_energy_pj(netlist, {b: (r.get(b.split("[")[0], 0.0), gs.HELD_DUTY)
                                                        for b in bits}, seed)
    held = energy({})
    every = energy({g: characterise.STA_ACTIVITY for g in gs.FAMILIES[family]}) - held
    return (energy(rates) - held) / every


@pytest.mark.parametrize("family, widths, rates", [
    ("smult", (5, 5), {"a": 0.02, "b": 0.01}),      # ANT W4A4's products: sparse toggles
    ("smult", (4, 4), {"a": 0.3, "b": 0.3}),        # both operands moving
    ("mac", (8, 8, 32), {"a": 0.45, "b": 0.015, "c": 0.45}),   # INT8 on MiniLM: stationary weight
    ("bmult", (8, 8), {"a": 0.4, "b": 0.01}),       # BitFusion W8A8's fused multiplier
    ("usmult", (11, 8), {"a": 0.44, "b": 0.015}),   # W8A16's significand multiplier on MiniLM
])
def test_rule_matches_the_groups_toggling_together(family, widths, rates):
    """The rule's joint energy is the primitive's own, simulated with every group at its rate
    (within 5 %: the table interpolates between measured rates); the linear rule it replaces
    (the shares' weighted mean; for ``bmult`` / ``usmult``, which have no shares, their operands' mean) is 25 %
    or more short."""
    require_synthesis()
    simulated = _joint_excess(family, widths, rates)
    rule = gs.effective_activity(family, widths, rates) / characterise.STA_ACTIVITY
    linear = (primitive_groups.effective_activity(family, widths, rates, basis="sim")
              if family in primitive_groups.GROUPS else sum(rates.values()) / len(rates))
    assert rule == pytest.approx(simulated, rel=0.05)
    assert linear / characterise.STA_ACTIVITY < 0.75 * simulated


def test_rule_ends_are_the_measured_points():
    """One group alone follows its own curve; every group at the operating point gives the
    table's energy (activity STA_ACTIVITY); S solves its defining equation."""
    p = gs.point("mac", (8, 8, 32))
    groups = primitive_groups.GROUPS["mac"]
    a = characterise.STA_ACTIVITY
    assert gs.effective_activity("mac", (8, 8, 32), {g: a for g in groups}) == pytest.approx(a, rel=1e-6)
    for g in groups:
        for x, y in zip(gs.ACTIVITIES, p["curves"][g]):
            alone = gs.effective_activity("mac", (8, 8, 32), {h: (x if h == g else 0.0) for h in groups})
            assert alone == pytest.approx(y * a, rel=1e-9)
    s = p["saturation"]
    assert s == pytest.approx(gs.saturation([c[-1] for c in p["curves"].values()]), rel=1e-5)
    assert gs.combine([c[-1] for c in p["curves"].values()], s) == pytest.approx(1.0, rel=1e-5)
    # saturating: the groups alone sum to more than the joint figure
    assert sum(c[-1] for c in p["curves"].values()) > 1.5
    assert gs.saturation([0.3, 0.7]) is None and gs.combine([0.3, 0.7], None) == pytest.approx(1.0)


def test_a_stored_point_regenerates():
    require_synthesis()
    measured = gs.measure("smult", (4, 4))
    stored = gs.point("smult", (4, 4))
    for g, curve in measured["curves"].items():
        assert curve == pytest.approx(stored["curves"][g], abs=1e-5)
    assert measured["saturation"] == pytest.approx(stored["saturation"], abs=1e-5)


def test_sim_basis_parts_use_the_rule_and_opensta_basis_does_not():
    parts = part_activity("int8", (), "minilm")
    sim = dataclasses.replace(parts, basis="sim")
    groups = {"a": 0.3, "b": 0.01, "c": 0.3}
    assert sim.group_activity("mac", (8, 8, 32), groups) == gs.effective_activity("mac", (8, 8, 32), groups)
    assert parts.group_activity("mac", (8, 8, 32), groups) == primitive_groups.effective_activity(
        "mac", (8, 8, 32), groups)
    # INT8's multiply-accumulate on MiniLM (a stationary weight): the rule counts more
    paths = sim.group_activities()
    driven = weighted("mac", (8, 8, 32), {"a": paths["act"], "b": paths["weight"], "c": paths["acc_in"]},
                      sim.group_duties(), "sim")
    assert sim.item_activity("mac", (8, 8, 32)) == gs.effective_activity("mac", (8, 8, 32), driven)
    assert sim.item_activity("mac", (8, 8, 32)) > 1.2 * primitive_groups.effective_activity(
        "mac", (8, 8, 32), driven, basis="sim")


def test_bitfusion_multiplier_composes_on_the_sim_basis_only():
    """``bmult`` takes the rule on the sim basis; on the OpenSTA basis (no shares measured) it
    keeps its operands' width-weighted mean, as before the rule."""
    proto = get_kind("bitfusion").prototype()
    parts = part_activity("bitfusion", (), "minilm")
    sim = dataclasses.replace(parts, basis="sim")
    paths = parts.group_activities()
    assert parts.item_activity("bmult", (8, 8), "step", ("act", "weight")) == parts.shared_toggles(("act", "weight"))
    assert sim.item_activity("bmult", (8, 8), "step", ("act", "weight")) == gs.effective_activity(
        "bmult", (8, 8), {"a": paths["act"], "b": paths["weight"]})
    assert ("bmult", (8, 8), 1, "step") in [tuple(p) for p in unit_items(proto)]


def test_parts_hand_on_their_output_toggles_not_the_energy_rule():
    """What a grouped part hands the parts it feeds (:meth:`PartActivity.part_output`) is its
    primitive's simulated output toggles at its groups' rates (:mod:`models.part_outputs_sim`),
    not the energy rule's activity: the rule prices the part."""
    parts = part_activity("ovp", (), "minilm")
    sim = dataclasses.replace(parts, basis="sim")
    product = ("smult", (4, 4), 2, "step")
    groups = sim.input_groups("smult", (4, 4))
    assert sim.part_output(product)[0] == part_outputs_sim.output_toggles("smult", (4, 4), groups)
    assert sim.part_output(product)[0] != sim.item_activity("smult", (4, 4), "step")


def test_a_shifter_word_alone_matches_simulation_and_the_sim_basis_uses_it():
    """ANT W4A4's shifter (a product shifted by a nearly constant exponent sum): the rule's joint
    energy is the primitive's own simulated with its word and amount at their rates (within 5 %),
    where the OpenSTA shares' linear mean (the word's share 0.26) is under half of it; the sim
    basis prices a named-input shifter with the rule, the OpenSTA basis with the shares."""
    require_synthesis()
    rates = {"a": 0.2, "sh": 0.005}
    simulated = _joint_excess("shiftn", (10, 5, 32), rates)
    rule = gs.effective_activity("shiftn", (10, 5, 32), rates) / characterise.STA_ACTIVITY
    shares = dict(output_gains("shiftn", (10, 5, 32))[2])
    linear = sum(shares[g] * r for g, r in rates.items()) / characterise.STA_ACTIVITY
    assert rule == pytest.approx(simulated, rel=0.05)
    assert linear < 0.5 * simulated
    proto = get_kind("ovp").prototype()
    parts = part_activity("ovp", (), "minilm")
    sim = dataclasses.replace(parts, basis="sim")
    shifter = next(p for p in unit_items(proto) if p[0] == "shiftn")
    args = (shifter[0], shifter[1], "step", shifter.drivers, shifter.inputs)
    toggles = sim.port_toggles(shifter[0], shifter[1], shifter.drivers, shifter.inputs)
    assert sim.item_activity(*args) == gs.effective_activity("shiftn", shifter[1], toggles)
    toggles = parts.port_toggles(shifter[0], shifter[1], shifter.drivers, shifter.inputs)
    shares = dict(output_gains("shiftn", shifter[1])[2])
    assert parts.item_activity(*args) == pytest.approx(sum(shares[g] * toggles[g] for g in shares))


@pytest.mark.parametrize("options", [(("weight_format", "int8"),), (("weight_format", "ovp4"),)])
def test_fp16_activation_significand_multiplier_composes_on_the_sim_basis_only(options):
    """``usmult`` (the wfp16 PE's FP16 significand x weight integer, the weight stationary) takes
    the rule on the sim basis, where it counts more than its operands' mean (1.33x for W8A16,
    1.20x for OVP4; W8A16's usmult simulated on the values it sees on the stream costs 0.644
    pJ/step against the mean's 0.450, bench/bench_energy_parts.py); on the
    OpenSTA basis (no shares measured) it keeps the operands' width-weighted mean."""
    proto = get_kind("wfp16").prototype(**dict(options))
    (part,) = [p for p in unit_items(proto) if p[0] == "usmult"]
    widths = tuple(part[1])
    parts = part_activity("wfp16", options, "minilm")
    sim = dataclasses.replace(parts, basis="sim")
    paths = parts.group_activities()
    mean = parts.shared_toggles(("act", "weight"))
    assert parts.item_activity("usmult", widths, "step", ("act", "weight")) == mean
    rule = gs.effective_activity("usmult", widths, {"a": paths["act"], "b": paths["weight"]})
    assert sim.item_activity("usmult", widths, "step", ("act", "weight")) == rule
    assert rule > 1.15 * mean
    # what it hands the sign's negation: its simulated outputs with the weight held (the hand-on
    # rule of every product, PartActivity.hands_on), more than its operands' mean
    groups = sim.input_groups("usmult", widths, part.drivers, part.inputs)
    assert sim.part_output(part)[0] == part_outputs_sim.output_toggles("usmult", widths, groups)
    assert sim.part_output(part)[0] > mean
