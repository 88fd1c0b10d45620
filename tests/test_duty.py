"""Duty-aware AND-array activity: the measured duty factors against fresh OpenSTA runs, the
measured port duties against a hand count, and a mostly-0 weight leaving the multiplier cold."""

import dataclasses
import json

import numpy as np
import pytest

from models import activity, characterise, duty, part_activity, primitive_energy_sim, primitive_groups, synth
from models.part_activity import PartActivity


def _excess(family, widths, toggling, held, d):
    """OpenSTA's switching energy (pJ, 180 nm) of ``family`` with group ``toggling`` at 0.5
    toggles/cycle and group ``held`` constant at duty ``d``, above the all-constant figure."""
    text, top = characterise.verilog(family, widths)
    netlist = synth.synthesize_verilog(text, top).netlist()
    bits = characterise.data_input_bits(netlist)

    def run(hot):
        return characterise.sta_energy_pj(netlist, top, {
            b: (0.5 if b.split("[")[0] == hot else 0.0, d if b.split("[")[0] == held else 0.5)
            for b in bits})
    return run(toggling) - run(None)


def test_a_zero_weight_kills_the_activation_rows():
    """OpenSTA on the mapped 4x4 multiplier: the activation's switching with the weight held at
    0 is (nearly) nothing, held at all-1s about twice the duty-0.5 figure; the stored table holds
    these runs' ratios."""
    ref = _excess("mult", (4, 4), "a", "b", 0.5)
    zero, one = _excess("mult", (4, 4), "a", "b", 0.0), _excess("mult", (4, 4), "a", "b", 1.0)
    assert zero < 0.1 * ref and one > 1.5 * ref
    stored = duty.factors("mult", (4, 4))["a"]["b"]
    assert stored[duty.DUTIES.index(0.0)] == pytest.approx(zero / ref, abs=1e-4)
    assert stored[duty.DUTIES.index(1.0)] == pytest.approx(one / ref, abs=1e-4)
    assert stored[duty.DUTIES.index(0.5)] == 1.0


def test_duty_factor_interpolates_the_table():
    """Between measured duties the factor is linear; at 0.5 every group is at the
    characterisation point (factor 1: the model's duty-0.5 figures are unchanged)."""
    fs = duty.factors("mac", (8, 8, 32))
    assert set(fs) == {"a", "b", "c", "idle"} and set(fs["a"]) == {"b", "c"}
    assert duty.duty_factor("mac", (8, 8, 32), "a", {"b": 0.5, "c": 0.5}) == 1.0
    mid = duty.duty_factor("mac", (8, 8, 32), "a", {"b": 0.125, "c": 0.5})
    assert mid == pytest.approx((fs["a"]["b"][0] + fs["a"]["b"][1]) / 2)
    assert duty.duty_factor("add", (32,), "a", {"b": 0.0}) == 1.0   # not an AND array



def test_the_idle_factor_reads_its_own_basis_table():
    """An enabled register's idle energy on the sim basis follows the simulated-toggle duty table
    (where its flops hold either way: idle factor 1 at every enable duty), not OpenSTA's (which
    falls with the enable's duty): read from the two JSON files, not through duty.factors."""
    tables = {basis: json.loads(path.read_text())["factors"]["reg_en"]["1"]["idle"]["en"]
              for basis, path in (("sta", duty.TABLE_PATH), ("sim", primitive_energy_sim.COMPOSITION_PATH))}
    assert tables["sta"] != tables["sim"]     # else this test could not tell them apart
    for basis, fs in tables.items():
        assert duty.idle_factor("reg_en", (1,), {"en": 1.0}, basis) == pytest.approx(fs[-1])
        assert duty.idle_factor("reg_en", (1,), {"en": 0.375}, basis) == pytest.approx((fs[1] + fs[2]) / 2)

def _fake(rates, duties=None):
    ports = tuple((p, r, 8) for p, r in rates.items())
    return PartActivity("int8", (), "minilm", 1, ports, "0" * 16, "2026-12-01",
                        tuple((duties or {}).items()))


def test_a_mostly_zero_weight_leaves_the_mac_cold():
    """The same toggling activation: a weight whose bits are 0 switches the mac far less than
    one at duty 0.5 (the characterisation point, where the activity is the shares' mean), one
    whose bits are 1 more; unmeasured duties are the characterisation's 0.5."""
    rates = {"act": 0.4, "weight": 0.0, "acc_in": 0.4, "valid": 0.0, "acc_out": 0.4}
    shares = primitive_groups.shares("mac", (8, 8, 32))
    half = _fake(rates, {"act": 0.5, "weight": 0.5, "acc_in": 0.5})
    assert half.item_activity("mac", (8, 8, 32)) == pytest.approx(0.4 * (shares["a"] + shares["c"]))
    assert _fake(rates).item_activity("mac", (8, 8, 32)) == half.item_activity("mac", (8, 8, 32))
    zero = _fake(rates, {"act": 0.5, "weight": 0.0, "acc_in": 0.5}).item_activity("mac", (8, 8, 32))
    ones = _fake(rates, {"act": 0.5, "weight": 1.0, "acc_in": 0.5}).item_activity("mac", (8, 8, 32))
    assert zero < 0.5 * half.item_activity("mac", (8, 8, 32)) < half.item_activity("mac", (8, 8, 32)) < ones
    # a part fed by another part is not an AND array of the ports: no duty factor
    fed = ("add", (8,), 1, "step")
    assert (_fake(rates, {"weight": 0.0}).item_activity("mult", (8, 8), "step", (fed,))
            == _fake(rates).item_activity("mult", (8, 8), "step", (fed,)))


def test_int8_port_duties_are_the_hand_counted_stream():
    """The bottom INT8 PE's weight port holds W[4f + 3, 0] for a fold's 32 tokens: its measured
    mean duty is the fraction of that stream's bits at 1, counted here; the table holds it."""
    acts, weights, _ = activity._codes("int8", (), "minilm", 32, 128, 1)
    stream = np.array([int(weights[4 * f + 3, 0]) & 0xFF for f in range(16) for _ in range(32)])
    hand = np.mean([(stream >> b) & 1 for b in range(8)])
    parts = part_activity.measure("int8", (), "minilm")
    assert parts.duty("weight") == pytest.approx(hand, abs=1e-6)
    assert part_activity.part_activity("int8", (), "minilm").duties == parts.duties
    # the stored entry round-trips
    assert PartActivity.from_dict(parts.to_dict()) == parts
    assert dataclasses.replace(parts, duties=()).duty("weight") == 0.5


def test_an_always_enabled_register_is_a_plain_register():
    """A ``reg_en`` whose enable is held at 1 is a ``reg``: its table idle energy (measured with
    the enable at 0, holding through the feedback mux) times the measured idle factor at enable
    duty 1 is the plain register's own characterised idle energy; its data reaches the flops
    only while enabled (factor 0 at enable duty 0, about twice duty 0.5's at 1)."""
    points = {(p["family"], tuple(p["widths"])): p for p in characterise.load_table()["points"]}
    for w in (32, 53, 81):
        held = points[("reg_en", (w,))]["energy_sta_idle_pj"] * duty.idle_factor("reg_en", (w,), {"en": 1.0})
        assert held == pytest.approx(points[("reg", (w,))]["energy_sta_idle_pj"], rel=0.01)
        assert duty.idle_factor("reg_en", (w,), {"en": 0.0}) == 1.0
        d = duty.factors("reg_en", (w,))["d"]["en"]
        assert d[0] < 0.05 and 1.8 < d[-1] < 2.2
    # through PartActivity: II 1 (valid always 1) vs a PE whose valid is never high
    on = _fake({"act": 0.4, "weight": 0.0, "acc_in": 0.4, "valid": 0.0, "acc_out": 0.4},
               {"valid": 1.0, "acc_out": 0.5})
    expected = duty.idle_factor("reg_en", (32,), {"en": 1.0, "d": 0.5})
    assert on.idle_factor("reg_en", (32,)) == pytest.approx(expected)
    assert on.idle_factor("reg_en", (32,)) < 0.9
    assert _fake({"valid": 0.0}).idle_factor("reg_en", (32,)) == 1.0     # no duties: the table's
    assert on.idle_factor("reg_en", (32,), (("add", (8,), 1, "step"),)) == 1.0


@pytest.mark.slow
def test_the_int8_pe_follows_the_mac_duty_factor():
    """The primitive's factor holds inside the whole PE: OpenSTA on the mapped INT8 PE with the
    activation toggling and the weight held at duty 0, 0.25, 0.75, 1 switches as the stored mac
    (8, 8, 32) factor says (relative to duty 0.5), within 0.1."""
    act = activity.unit_activity("int8", "pe", (), "minilm")

    def excess(toggles, wduty):
        def run(t):
            bits = tuple((b, t if b.startswith("act") else 0.0, wduty if b.startswith("weight")
                          else 0.5 if b.startswith(("act", "acc_in")) else d)
                         for b, _, d in act.bits)
            p = synth.unit_power("int8", "pe", (), clock_mhz=100.0,
                                 activity=dataclasses.replace(act, bits=bits))
            return p.power.total
        return run(toggles) - run(0.0)
    ref = excess(0.5, 0.5)
    stored = duty.factors("mac", (8, 8, 32))["a"]["b"]
    for d in (0.0, 0.25, 0.75, 1.0):
        assert excess(0.5, d) / ref == pytest.approx(stored[duty.DUTIES.index(d)], abs=0.1)
