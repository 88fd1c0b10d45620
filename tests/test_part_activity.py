"""Measured per-part activity: toggle counts against hand counts, stationary weights, the cached
table against a fresh measurement, and the cost model's energy following the activity."""

import dataclasses

import numpy as np
import pytest

from hw.pe import OptionError
from models import activity, cost, field_activity, part_activity, primitive_groups
from models.cost import CostConfig, evaluate
from models.cost_primitives import primitive
from models.design import DesignConfig
from models.inventory import design_items
from models.part_activity import PartActivity
from models.stored_table import load_entries, table_key


def test_bit_activity_is_a_hand_count():
    # bit 0: 0 1 1 1 0 -> 2 toggles in 4 transitions; bit 1: 0 1 0 0 1 -> 3
    toggles, duty = activity.bit_activity([0b00, 0b11, 0b01, 0b01, 0b10], 2)
    assert list(toggles) == [2 / 4, 3 / 4]
    assert list(duty) == [3 / 5, 2 / 5]


def _hand_rate(values, width):
    """Toggles per cycle per bit of a port carrying ``values`` (signed codes), counted here."""
    mask = (1 << width) - 1
    v = [int(x) & mask for x in values]
    flips = sum(bin(a ^ b).count("1") for a, b in zip(v, v[1:]))
    return flips / ((len(v) - 1) * width)


def test_int8_port_activity_is_the_hand_counted_stream():
    """The INT8 PE column (4 rows, II 1, ws, m = 32 tokens x 16 folds, K = 128, N = 1): the bottom
    PE's act port carries A[mi, 4f + 3] token after token, its weight port W[4f + 3, 0] held for
    a fold's 32 tokens: the simulated RTL's measured toggles are those of these streams, and the
    stationary weight's are near zero."""
    acts, weights, _ = activity._codes("int8", (), "minilm", 32, 128, 1)
    act_stream = [acts[mi, 4 * f + 3] for f in range(16) for mi in range(32)]
    weight_stream = [weights[4 * f + 3, 0] for f in range(16) for _ in range(32)]
    parts = part_activity.measure("int8", (), "minilm")
    assert parts.rate("act") == pytest.approx(_hand_rate(act_stream, 8), abs=1e-6)
    assert parts.rate("weight") == pytest.approx(_hand_rate(weight_stream, 8), abs=1e-6)
    assert parts.rate("weight") < 0.05 < 0.3 < parts.rate("act")
    assert parts.rate("valid") == 0.0                     # II 1: a token every cycle
    # the repository table holds the same run (same operand codes, same figures)
    cached = part_activity.part_activity("int8", (), "minilm")
    assert cached.data_hash == parts.data_hash == activity.codes_hash(acts, weights, None)
    assert cached.ports == parts.ports


def _fake(rates, ii=1):
    ports = tuple((p, r, 8) for p, r in rates.items())
    return PartActivity("int8", (), "minilm", ii, ports, "0" * 16, "2026-12-01")


def test_stationary_weight_leaves_the_multiplier_cold():
    """A mac's activity is its input groups' measured shares times their own signals' toggles:
    a weight that does not change contributes nothing, one that does adds its share."""
    shares = primitive_groups.shares("mac", (8, 8, 32))
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-5) and shares["c"] < shares["a"]
    still = _fake({"act": 0.4, "weight": 0.0, "acc_in": 0.4, "valid": 0.0, "acc_out": 0.4})
    moving = _fake({"act": 0.4, "weight": 0.4, "acc_in": 0.4, "valid": 0.0, "acc_out": 0.4})
    a_still = still.item_activity("mac", (8, 8, 32))
    assert a_still == pytest.approx(0.4 * (shares["a"] + shares["c"]))
    assert moving.item_activity("mac", (8, 8, 32)) == pytest.approx(0.4)   # equal groups: one figure
    # a combinational part with no measured groups takes the data ports' width-weighted mean
    assert still.item_activity("add", (32,)) == pytest.approx((0.4 + 0.0 + 0.4) / 3)
    # a register's enable is the control path: valid toggling heats an idle accumulator
    idle = _fake({"act": 0.0, "weight": 0.0, "acc_in": 0.0, "valid": 0.0, "acc_out": 0.0}, ii=2)
    pulsed = dataclasses.replace(idle, ports=tuple((p, 1.0 if p == "valid" else r, n)
                                                   for p, r, n in idle.ports))
    assert idle.item_activity("reg_en", (32,)) == 0.0
    assert pulsed.item_activity("reg_en", (32,)) == pytest.approx(primitive_groups.shares("reg_en", (32,))["en"])
    assert pulsed.item_activity("mux", (2, 8), "step_cycle") == 1.0   # per-cycle part: the sequencing



def test_a_part_driven_by_named_ports_sees_only_them():
    """A part whose inventory names its driving ports (models.inventory.driven) takes their
    activity alone: a shifter after the multiplier does not see acc_in's switching."""
    from models.inventory import DRIVER_PORTS, Part, driven, unit_items
    from models.registry import get_kind
    hot_acc = _fake({"act": 0.1, "weight": 0.0, "acc_in": 0.5, "valid": 0.0, "acc_out": 0.5})
    shifter = driven(("shiftn", (10, 5, 32), 1, "step"), "act", "weight")
    assert isinstance(shifter, Part) and shifter == ("shiftn", (10, 5, 32), 1, "step")
    prim, widths, n, event = shifter                                    # still a 4-tuple
    assert hot_acc.item_activity(prim, widths, event, shifter.drivers) == pytest.approx((0.1 + 0.0) / 2)
    assert hot_acc.item_activity(prim, widths, event) == pytest.approx((0.1 + 0.0 + 0.5) / 3)
    for bad in ((), ("valid",), ("act", "acc_out")):
        with pytest.raises(ValueError):
            driven(shifter, *bad)
    # the data ports, and GOBO's broadcast table (constant for a run: no toggles)
    assert set(DRIVER_PORTS) == set(part_activity.DATA_PORTS) | {"table"}
    assert hot_acc.item_activity(prim, widths, event, ("table",)) == 0.0
    # ANT: the products and exponent adds see the operands, the shifts the two, the term adds
    # the shifts, one add acc_in too; the drivers reach the array's PE items (the cost model's)
    # and leave the counts alone
    ant = get_kind("ant").prototype()
    parts = unit_items(ant)
    assert {p[0] for p in parts if getattr(p, "drivers", ()) == ("act", "weight")} == {"add", "smult"}
    adds = [p for p in parts if p[0] == "add" and p[1] == (ant.acc_width,)]
    assert [p[2] for p in adds] == [3, 1] and adds[1].drivers == (adds[0], "acc_in")
    assert {d[0] for d in adds[0].drivers} == {"shiftn"} and len(adds[0].drivers) == 4
    acc = DesignConfig("ant", 2, 2, "os", 1, 1, 1).facts
    pes = [i for i in design_items(acc) if i.group == "pes"]
    # bordered int4, every exponent a constant shift: Yosys merges the four products and acc_in
    # into one $macc (one mac of 4 products), driven by the operands' varying bits and acc_in
    macs = [i for i in pes if i.prim == "mac"]
    assert len(macs) == 1 and macs[0].widths == (4, 4, ant.acc_width, 4)
    assert macs[0].drivers == ("act", "weight", "acc_in")
    assert not any(i.prim in ("smult", "add", "shiftn") for i in pes)
    assert all(i.drivers == () for i in design_items(acc) if i.group != "pes")


def test_cost_energy_follows_the_activity():
    """The cost model's PE energy moves with the measured activity: hardware() on two activities
    that differ only in the act port's toggles, the fixed-number compatibility mode, and the two
    measured sources."""
    acc = DesignConfig("int8", 2, 2, "ws", 1, 1, 1).facts
    base = part_activity.part_activity("int8", (), "minilm")
    hot = dataclasses.replace(base, ports=tuple((p, 0.9 if p == "act" else r, n) for p, r, n in base.ports))
    e_base = cost.hardware(acc, 45, base).per_action["pe_step"]
    e_hot = cost.hardware(acc, 45, hot).per_action["pe_step"]
    assert e_hot > e_base > 0
    # a fixed number: every part at it (the model before measured activity), linear in it
    e_half = cost.hardware(acc, 45, 0.5).per_action["pe_step"]
    assert cost.hardware(acc, 45, 0.25).per_action["pe_step"] == pytest.approx(e_half / 2)
    # the PE's own items at their own activities, summed by hand
    by_hand = 0.0
    for item in [i for i in design_items(acc) if i.group == "pes" and i.event == "step"]:
        a = base.item_activity(item.prim, item.widths, item.event)
        by_hand += item.per_event * primitive(item.prim, *item.widths, activity=a).energy_pj
    assert e_base == pytest.approx(by_hand, rel=1e-12)
    g = (64, 256, 128)
    real = evaluate(CostConfig("int8", 4, 4), g)
    rand = evaluate(CostConfig("int8", 4, 4, activity="random"), g)
    assert real.energy_pj["pes"] != rand.energy_pj["pes"]
    assert CostConfig("int8", 4, 4).activity_provenance()["source"] == "minilm"
    assert CostConfig("int8", 4, 4, activity=0.5).activity_provenance() == {"source": "fixed", "activity": 0.5}


@pytest.mark.parametrize("bad", ["typical", 1.5, -0.1, True, None])
def test_bad_activity_is_refused(bad):
    with pytest.raises(OptionError, match="activity"):
        CostConfig("int8", 4, 4, activity=bad)


def test_table_covers_every_variant_with_provenance():
    from models.registry import PE_KINDS
    for name, kind in PE_KINDS.items():
        for _, options in kind.variants:
            for source in ("minilm", "random"):
                key = table_key(name, tuple(sorted(dict(options).items())), source)
                entry = load_entries(part_activity.TABLE_PATH)[key]
                assert entry["source"] == source and len(entry["data_hash"]) == 16 and entry["date"]
                assert np.all([0 <= r <= 1 for _, r, _ in entry["ports"]])


@pytest.mark.parametrize("module", [part_activity, field_activity], ids=["part", "field"])
def test_every_entry_was_measured_on_the_current_operands(module):
    """Every entry of the repository table (both sources) carries the hash of the operand codes
    its PE run saw; the operands made now (the real-tensor stream through the design's own
    quantiser, or the seeded random codes) must hash the same, else the table is stale: a change
    of the forward, a quantiser or the stream's shape that moved the data would otherwise leave
    figures measured on other data in the cost model (regenerate: python -m models.<module>)."""
    stale = []
    for key, entry in load_entries(module.TABLE_PATH).items():
        *_, acts, weights, table = activity.operands(entry["pe"], tuple(map(tuple, entry["pe_options"])),
                                                     entry["source"])
        if activity.codes_hash(acts, weights, table) != entry["data_hash"]:
            stale.append(key)
    assert not stale, f"measured on other operands than today's: {stale}"
