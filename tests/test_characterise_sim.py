"""The simulated-toggle primitive tables (:mod:`models.characterise_sim`, :mod:`models.duty_sim`)
and the cost model's ``basis="sim"``: the bit-parallel simulation counts what the per-cycle one
counts, stored points regenerate, a plain register (where OpenSTA's propagation is exact) prices
as OpenSTA's table, and the basis switch reads the tables without changing the default."""

import dataclasses

import numpy as np
import pytest

from models import (characterise, characterise_sim, cost_primitives, duty, duty_sim, gate_toggles,
                    primitive_energy_sim, primitive_groups, synth)
from models.energy_vs_sta import step_energy_pj, step_energy_terms
from models.part_activity import part_activity
from models.registry import get_kind
from models.tech import value as tech_value
from tools import require_synthesis


def _netlist(family, widths):
    text, top = characterise.verilog(family, widths)
    return synth.synthesize_verilog(text, top).netlist()


def test_lanes_count_what_single_lane_runs_count():
    """A register with enable (feedback through its load mux) in 8 lanes at once: each net's
    toggles are the mean of the per-cycle simulation of each lane alone."""
    require_synthesis()
    netlist = _netlist("reg_en", (3,))
    bits = characterise.data_input_bits(netlist)
    lanes, cycles = 8, 12
    stream = characterise_sim.random_stream({b: (0.3, 0.5) for b in bits}, cycles=cycles, lanes=lanes, seed=5)
    together = gate_toggles.simulate_lanes(netlist, stream, lanes)
    alone = [gate_toggles.simulate(netlist, {b: [(v >> lane) & 1 for v in values] for b, values in stream.items()})
             for lane in range(lanes)]
    assert set(together) == set(alone[0])
    for net, rate in together.items():
        assert rate == pytest.approx(np.mean([a[net] for a in alone]), abs=1e-12)
    assert max(together.values()) > 0


@pytest.mark.parametrize("figures", [(0.1, 0.5), (0.5, 0.5), (0.0, 0.25), (0.0, 1.0)])
def test_random_stream_toggles_at_its_activity_and_duty(figures):
    stream = characterise_sim.random_stream({"x[0]": figures, "x[1]": figures}, cycles=40, lanes=512, seed=3)
    toggles = characterise_sim.stream_toggles(stream, lanes=512)
    duty = np.mean([v.bit_count() / 512 for values in stream.values() for v in values])
    assert all(t == pytest.approx(figures[0], abs=0.02) for t in toggles.values())
    assert duty == pytest.approx(figures[1], abs=0.03)


@pytest.mark.parametrize("point", [("add", (8,)), ("reg_en", (8,))])
def test_stored_points_regenerate(point):
    require_synthesis()
    family, widths = point
    stored = primitive_energy_sim.load_table()[1][point]
    again = characterise_sim.measure(family, widths)
    for key in primitive_energy_sim.KEYS:
        assert again[key] == pytest.approx(stored[key], rel=1e-9)


def test_register_prices_as_openstas_table():
    """A plain register's D bits are the ports and its Q toggles as its D: OpenSTA's propagation is
    exact there, so at OpenSTA 2.0.17's pricing the simulated figures equal its table's (clock,
    D, Q, leakage) to within the random stream's sampling."""
    require_synthesis()
    sim = primitive_energy_sim.load_table()[1][("reg", (8,))]
    sta = cost_primitives.measured("reg", (8,))
    assert sim["energy_sim_idle_pj"] == pytest.approx(sta["energy_sta_idle_pj"], rel=1e-4)
    assert sim["energy_sim_pj"] == pytest.approx(sta["energy_sta_pj"], rel=0.01)


def test_table_covers_the_primitive_table_with_provenance():
    table, points = primitive_energy_sim.load_table()
    assert set(points) == {(p["family"], tuple(p["widths"])) for p in characterise.load_table()["points"]}
    prov = table["provenance"]
    assert prov["liberty_sha256"] == characterise.load_table()["provenance"]["liberty_sha256"]
    assert "OpenSTA 2.0.17" in prov["pricing"] and prov["regenerate"] == "python -m models.characterise_sim"


def test_basis_switch_reads_the_sim_table_and_leaves_the_default():
    hot, idle = primitive_energy_sim.energies("mac", (8, 8, 32))
    scale = tech_value("scale.energy.180_1v8_to_45_0v9")
    sim = cost_primitives.primitive("mac", 8, 8, 32, activity=0.25, basis="sim")
    assert sim.energy_pj == pytest.approx((hot - idle) * 0.25 / characterise.STA_ACTIVITY * scale)
    assert sim.idle_pj == pytest.approx(idle * scale)
    default = cost_primitives.primitive("mac", 8, 8, 32, activity=0.25)
    assert default == cost_primitives.primitive("mac", 8, 8, 32, activity=0.25, basis="sta")
    assert default.energy_pj != pytest.approx(sim.energy_pj, rel=0.01)
    assert default.area_um2 == sim.area_um2
    with pytest.raises(ValueError, match="unknown energy basis 'spice'"):
        cost_primitives.primitive("mac", 8, 8, 32, basis="spice")


def test_step_energy_on_the_sim_basis_sums_its_terms():
    proto, parts = get_kind("int8").prototype(), part_activity("int8", (), "minilm")
    terms = step_energy_terms(proto, parts, basis="sim")
    assert step_energy_pj(proto, parts, basis="sim") == pytest.approx(sum(d + i for _, d, i in terms))
    assert step_energy_pj(proto, parts, basis="sim") != pytest.approx(step_energy_pj(proto, parts), rel=0.01)


def test_composition_point_regenerates():
    require_synthesis()
    shares, factors = duty_sim.measure("reg_en", (8,))
    assert shares == pytest.approx(primitive_groups.shares("reg_en", (8,), basis="sim"), abs=1e-6)
    stored = duty.factors("reg_en", (8,), basis="sim")
    for g, others in factors.items():
        for h, fs in others.items():
            assert fs == pytest.approx(stored[g][h], abs=1e-6)


def test_sim_basis_register_idle_does_not_follow_its_enable():
    """Held at any enable, a register's flops hold their value: in simulation its idle energy is
    the clock's whatever the enable's duty (OpenSTA's propagation gives enable 1 17 % less)."""
    idle = duty.factors("reg_en", (8,), basis="sim")["idle"]["en"]
    assert idle == pytest.approx([1.0] * len(duty.DUTIES), abs=1e-3)
    assert duty.factors("reg_en", (8,))["idle"]["en"][-1] < 0.9


def test_part_activity_composes_on_its_basis():
    parts = part_activity("int8", (), "minilm")
    sim = dataclasses.replace(parts, basis="sim")
    duties = parts.group_duties()
    assert sim.idle_factor("reg_en", (8,)) == duty.idle_factor("reg_en", (8,), duties, basis="sim")
    assert parts.idle_factor("reg_en", (8,)) == duty.idle_factor("reg_en", (8,), duties)
    assert sim.item_activity("mac", (8, 8, 32)) != pytest.approx(parts.item_activity("mac", (8, 8, 32)), rel=0.01)
