"""The sim basis's composition of a grouped primitive's input groups
(:mod:`models.group_saturation_sim`): checked against the mapped primitive simulated with its
groups toggling together, which the shares' linear rule under-counts; its ends are exact; stored
points regenerate; the cost model's sim basis uses it and the OpenSTA basis does not."""

import dataclasses

import pytest

from models import characterise, characterise_sim, group_saturation_sim as gs, primitive_groups
from models.duty import weighted
from models.part_activity import part_activity
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
    every = energy({g: characterise.STA_ACTIVITY for g in primitive_groups.GROUPS[family]}) - held
    return (energy(rates) - held) / every


@pytest.mark.parametrize("family, widths, rates", [
    ("smult", (5, 5), {"a": 0.02, "b": 0.01}),      # ANT W4A4's products: sparse toggles
    ("smult", (4, 4), {"a": 0.3, "b": 0.3}),        # both operands moving
    ("mac", (8, 8, 32), {"a": 0.45, "b": 0.015, "c": 0.45}),   # INT8 on MiniLM: stationary weight
])
def test_rule_matches_the_groups_toggling_together(family, widths, rates):
    """The rule's joint energy is the primitive's own, simulated with every group at its rate
    (within 5 %, different random draws); the shares' linear rule is 25 % or more short."""
    require_synthesis()
    simulated = _joint_excess(family, widths, rates)
    rule = gs.effective_activity(family, widths, rates) / characterise.STA_ACTIVITY
    shares = primitive_groups.effective_activity(family, widths, rates, basis="sim") / characterise.STA_ACTIVITY
    assert rule == pytest.approx(simulated, rel=0.05)
    assert shares < 0.75 * simulated


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
