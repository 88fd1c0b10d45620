"""MixPE's step sum as Yosys builds it (:mod:`models.gated_sum_sim`): its text is the PE's step, its
curve against the same netlist simulated on the operands the MiniLM port stream gives the PE (computed
from the ports as the PE's arithmetic defines them, not from an RTL simulation), and the sim basis's
price of the merged parts (:mod:`models.merged_sums`) against it."""

import dataclasses

import numpy as np
import pytest
from amaranth.back import verilog

from models import activity, characterise_sim, energy_vs_sta, gated_sum_sim
from models.cost_primitives import primitive
from models.extended_csa_sim import curve_activity
from models.inventory import unit_items
from models.merged_sums import member_key, merged_sums
from models.part_activity import part_activity
from models.part_energy import part_dynamic_pj
from models.registry import PE_KINDS, get_kind
from models.tech import value as tech_value
from tools import require_synthesis

OPTIONS = PE_KINDS["shiftadd"].variants[0][1]   # W4A8 g128 (MixPE)
POINT = ((160, 32), 8, 4)


def _real():
    """(45 nm pJ/step of the structure simulated on the MiniLM stream's operands, the operands'
    mean toggles per own bit)."""
    ports, _ = activity.pe_ports("shiftadd", OPTIONS, "minilm")
    values = {p: np.array([[int(v)] for v in ports[p][0]]) for p in ("act", "weight", "acc_in")}
    netlist = gated_sum_sim.mapped(*POINT)
    pj = characterise_sim.energy_pj(netlist, gated_sum_sim.lane_stream(netlist, values), lanes=1)
    return (pj * tech_value("scale.energy.180_1v8_to_45_0v9"),
            gated_sum_sim.own_toggles(values, 8, 4, 32, characterise_sim.WARMUP))


def test_structure_is_the_pe_step():
    """Every assignment of the structure's Verilog (the rows, their chain, acc_in's add) is one of
    the PE's own Verilog (hw/pe_shiftadd.py as Amaranth writes it): the same ``$macc``."""
    pe = verilog.convert(get_kind("shiftadd").prototype(**dict(OPTIONS)), name="pe", emit_src=False)
    text, _ = gated_sum_sim.verilog(*POINT)
    steps = [line for line in text.splitlines() if line.startswith("  assign \\$")]
    assert len(steps) == 9
    assert all(line in pe.splitlines() for line in steps)


def test_curve_at_the_real_toggles():
    """The curve (random operands) at the real operands' own toggles, priced as the ``csa`` table
    point it refers to, is within 15 % of the structure simulated on them."""
    require_synthesis()
    simulated, toggles = _real()
    p = primitive("csa", 160, 32, activity=curve_activity(gated_sum_sim.load_table()["160,32|8&4"], toggles),
                  basis="sim")
    assert p.energy_pj + p.idle_pj == pytest.approx(simulated, rel=0.15)


def test_merged_parts_are_what_the_structure_costs():
    """The model's merged parts (the four AND rows, the three row adders and acc_in's adder; dynamic
    + idle, no pin loads) are within 15 % of the structure simulated on the real operands; the same
    parts priced alone (the rule before) are more than 15 % short of it."""
    require_synthesis()
    simulated, _ = _real()
    proto = get_kind("shiftadd").prototype(**dict(OPTIONS))
    items = unit_items(proto)
    parts = part_activity("shiftadd", OPTIONS, "minilm")
    merged = merged_sums(items)
    keys = {member_key(p[0], p[1], p[3], getattr(p, "drivers", ())) for p in items} & set(merged)
    terms = energy_vs_sta.step_energy_terms(proto, parts, "sim", pin_loads=False)
    model = sum(d + i for p, (_, d, i) in zip(items, terms)
                if member_key(p[0], p[1], p[3], getattr(p, "drivers", ())) in keys)
    sim = dataclasses.replace(parts, basis="sim")
    alone = 0.0
    for p in items:
        if member_key(p[0], p[1], p[3], getattr(p, "drivers", ())) in keys:
            prim, dynamic = part_dynamic_pj(p[0], p[1], p[3], getattr(p, "drivers", ()), getattr(p, "inputs", ()),
                                            sim, pin_loads=False)
            alone += p[2] * (dynamic + prim.idle_pj)
    assert len(keys) == 3
    assert model == pytest.approx(simulated, rel=0.15)
    assert alone < 0.85 * simulated
