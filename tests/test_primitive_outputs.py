"""Primitives' output toggles as OpenSTA propagates them, and a part costed at its driver's output:
the probe against OpenSTA's per-gate rule, a table point against a fresh measurement, the table's
coverage, and the chain through the activity model."""

import pytest

from hw.lut_precompute import ENTRY_WIDTH, GROUP
from hw.pe_bitserial_fp16 import PRODUCT_EXP_BITS
from models import characterise, part_activity, primitive_outputs
from models.inventory import Part, driven, unit_items
from models.part_activity import PartActivity
from models.registry import get_kind
from tools import require_sta


def _gate(cell, pins):
    ports = "".join(f"  input {p};\n" for p in pins)
    conns = "".join(f"    .{p.upper()}({p}),\n" for p in pins)
    return (f"module g({', '.join(pins)}, y);\n{ports}  output y;\n  wire y;\n"
            f"  {cell} u (\n{conns}    .Y(y)\n  );\nendmodule\n")


def _density(netlist, act):
    """Toggles per cycle of ``netlist``'s output ``y`` read through a probe, inputs at ``act``."""
    added = (primitive_outputs._energy(primitive_outputs.probed(netlist, ["y"]), "g", act)
             - primitive_outputs._energy(netlist, "g", act))
    return added / primitive_outputs.probe_energy_per_toggle()


def test_probe_reads_openstas_density():
    """OpenSTA propagates an AND's density as D(a) P(b) + D(b) P(a) (duty 0.5: half of each
    input's toggles) and an inverter's unchanged; the probe reads those figures, linear in the
    input's toggles (slew differences between nets: a few per cent)."""
    require_sta()
    for act in (0.2, 0.5):
        assert _density(_gate("AND2X2", ["a", "b"]), act) == pytest.approx(act, rel=0.03)
        assert _density(_gate("INVX1", ["a"]), act) == pytest.approx(act, rel=0.06)


def test_probe_reads_openstas_xor_rule():
    """This OpenSTA build propagates an XOR's density as D(a) P(a) (1 - P(b)) + D(b) P(b) (1 - P(a)):
    at duty 0.5 a quarter of each input's toggles, not their sum (docs/cost-model.md's "How OpenSTA
    propagates activity" rests on it; a newer OpenSTA that adds them would fail here)."""
    require_sta()
    xor = _gate("XOR2X1", ["a", "b"])
    assert _density(xor, 0.5) == pytest.approx(0.25, rel=0.05)
    one = (primitive_outputs._energy(primitive_outputs.probed(xor, ["y"]), "g", 0.5, "a")
           - primitive_outputs._energy(xor, "g", 0.5, "a")) / primitive_outputs.probe_energy_per_toggle()
    assert one == pytest.approx(0.125, rel=0.05)


@pytest.mark.parametrize("family, widths", [("smult", (4, 4)), ("mux", (4, 4)), ("add", (8,))])
def test_port_gains_add_up_to_the_all_toggling_gain(family, widths):
    """Gains measured one port at a time (the table's) sum to the gain with every input toggling
    together (a PE's condition): OpenSTA's densities are linear in the inputs' at fixed duties."""
    require_sta()
    joint, summed = primitive_outputs.joint_gain(family, widths)
    assert joint > 0 and joint == pytest.approx(summed, rel=1e-3)


def test_table_point_is_a_fresh_measurement():
    """A stored point (an 8:1 mux of 11-bit words: the LUT PE's entry select) measured again gives
    the table's gains and energy shares; its select moves the output far more per toggle than its
    data words (a word reaches the output only while selected) and takes most of the energy."""
    require_sta()
    bits, gains, shares = primitive_outputs.measure_gains("mux", (8, 11))
    stored_bits, stored, stored_shares = primitive_outputs.output_gains("mux", (8, 11))
    assert bits == stored_bits == 11
    assert dict(stored) == pytest.approx(gains, abs=1e-5)
    assert dict(stored_shares) == pytest.approx(shares, abs=1e-5)
    assert gains["sel"] > 2 * gains["d"] > 0
    assert shares["sel"] > shares["d"] > 0 and sum(shares.values()) == pytest.approx(1.0)


def test_table_covers_every_primitive_point_with_its_ports():
    assert primitive_outputs.is_current()          # this generator, the primitive table's tools
    table = characterise.load_table()
    gains = primitive_outputs._table()
    prov = primitive_outputs.TABLE_PATH.read_text()
    assert table["provenance"]["liberty_sha256"] in prov
    for point in table["points"]:
        text, _ = characterise.verilog(point["family"], tuple(point["widths"]))
        entry = gains[point["family"]][",".join(map(str, point["widths"]))]
        assert entry["out_bits"] >= 1 and all(g >= 0 for g in entry["gains"].values())
        assert set(entry["shares"]) == set(entry["gains"])
        assert sum(entry["shares"].values()) == pytest.approx(1.0, abs=1e-5)
        for port in entry["gains"]:
            assert f"] {port};" in text or f" {port};" in text     # a data input of the module


def _fake(rates, ii=1, bits=8):
    ports = tuple((p, r, bits) for p, r in rates.items())
    return PartActivity("int8", (), "minilm", ii, ports, "0" * 16, "2026-12-01")


def test_a_part_fed_by_a_part_sees_its_output(monkeypatch):
    """With the "gains" rule, a part driven by another part takes that part's output toggles:
    each of the driver's input ports' gain times that port's toggles (a named input at its own
    driver's, the rest at the driver's other drivers'), weighted by output bits against the part's
    other drivers; a part with a named input weights its ports by their energy shares."""
    monkeypatch.setattr(part_activity, "PROPAGATION", "gains")
    pa = _fake({"act": 0.4, "weight": 0.02, "acc_in": 0.3, "valid": 0.0, "acc_out": 0.3})
    select = driven(("mux", (4, 4), 1, "step"), "weight", sel="act")
    entry = driven(("mux", (8, 11), 1, "step"), "act", sel=select)
    assert isinstance(entry, Part) and entry == ("mux", (8, 11), 1, "step")
    assert entry.drivers == ("act", select) and entry.inputs == (("sel", select),)
    g4 = dict(primitive_outputs.output_gains("mux", (4, 4))[1])
    sel_out = g4["d"] * 0.02 + g4["sel"] * 0.4
    assert pa.part_output(select) == pytest.approx((sel_out, 4))
    g8 = dict(primitive_outputs.output_gains("mux", (8, 11))[1])
    s8 = dict(primitive_outputs.output_gains("mux", (8, 11))[2])
    # the entry mux's own activity: each input port at its driver's toggles, weighted by the
    # port's share of the mux's energy; without the named input, its drivers' width-weighted mean
    assert pa.item_activity("mux", (8, 11), "step", entry.drivers, entry.inputs) == pytest.approx(
        s8["d"] * 0.4 + s8["sel"] * sel_out)
    assert pa.item_activity("mux", (8, 11), "step", entry.drivers) == pytest.approx((0.4 * 8 + sel_out * 4) / 12)
    added = driven(("add", (15,), 1, "step"), entry, "acc_in")
    entry_out = g8["d"] * 0.4 + g8["sel"] * sel_out
    assert pa.item_activity("add", (15,), "step", added.drivers) == pytest.approx((entry_out * 11 + 0.3 * 8) / 19)
    # a stationary select leaves the entry mux's output at its data words' share
    still = _fake({"act": 0.4, "weight": 0.0, "acc_in": 0.3, "valid": 0.0, "acc_out": 0.3})
    quiet = driven(("mux", (8, 11), 1, "step"), "act", sel="weight")
    assert still.part_output(quiet)[0] == pytest.approx(g8["d"] * 0.4)
    for bad in ((("add", (4,)),), (3,), ("acc_out",)):
        with pytest.raises(ValueError):
            driven(("add", (8,), 1, "step"), *bad)


def test_the_ports_rule_passes_input_toggles_through():
    """With the model's rule ("ports"), a driving part's outputs toggle as its inputs do: the
    select mux's output at its share-weighted input toggles, and a part after it sees that."""
    assert part_activity.PROPAGATION == "ports"
    pa = _fake({"act": 0.4, "weight": 0.02, "acc_in": 0.3, "valid": 0.0, "acc_out": 0.3})
    select = driven(("mux", (4, 4), 1, "step"), "weight", sel="act")
    s4 = dict(primitive_outputs.output_gains("mux", (4, 4))[2])
    sel_out = s4["d"] * 0.02 + s4["sel"] * 0.4
    assert pa.part_output(select) == pytest.approx((sel_out, 4))
    added = driven(("add", (15,), 1, "step"), select, "acc_in")
    assert pa.item_activity("add", (15,), "step", added.drivers) == pytest.approx((sel_out * 4 + 0.3 * 8) / 12)


def test_lut_pe_names_its_chain():
    """The LUT PE's inventory names what feeds what (the plane select -> entry mux -> its
    conditional negation by the nibble's sign -> the Horner add) and keeps its counts."""
    pe = get_kind("lut").prototype()
    parts = unit_items(pe)
    entry, term = parts[:2]
    assert entry[:2] == ("mux", (pe.act_width // ENTRY_WIDTH, ENTRY_WIDTH))
    assert dict(entry.inputs)["sel"][:2] == ("mux", (pe.weight_bits, GROUP))
    # the nibble's sign bit negates the entry (one scneg: the negation and its select merged)
    assert term[:2] == ("scneg", (ENTRY_WIDTH, ENTRY_WIDTH + 1)) and term.drivers[0] is entry
    assert dict(term.inputs)["s"] is dict(entry.inputs)["sel"]
    horner = next(p for p in parts if p[0] == "add" and p[3] == "step_cycle" and term in p.drivers)
    assert horner[1] == (ENTRY_WIDTH + pe.weight_bits,)
    pa = part_activity.part_activity("lut", (), "minilm")
    assert pa.item_activity("add", horner[1], horner[3], horner.drivers, horner.inputs) > 0


def test_bitserial_fp16_pe_names_its_chain():
    """The BitMoD FP16-activation PE's lanes: the term select by the term index, the alignment
    shift by the distance to the exponent max, the accumulator's normalising shift by its range
    checks; every part's activity is finite and positive on MiniLM."""
    pe = get_kind("bitserial_fp16").prototype()
    parts = unit_items(pe)
    term = next(p for p in parts if p[0] == "mux" and dict(getattr(p, "inputs", ())).get("sel") == parts[-3])
    align = next(p for p in parts if p[0] == "shift" and "act" in p.drivers)
    assert dict(align.inputs)["sh"][:2] == ("add", (PRODUCT_EXP_BITS,)) and term[3] == "step_cycle"
    pa = part_activity.part_activity("bitserial_fp16", (), "minilm")
    for p in parts:
        assert 0 < pa.item_activity(p[0], p[1], p[3], getattr(p, "drivers", ()), getattr(p, "inputs", ())) < 10


def test_a_part_after_a_per_cycle_part_switches_every_cycle():
    """A "step" part whose driver works every cycle of the step is costed every cycle: the LUT
    PE's final add of its per-plane partial sum (and the accumulate after it) are "step_cycle"."""
    fed = driven(("add", (17,), 1, "step"), ("reg_en", (15,), 1, "step_cycle"), "acc_in")
    assert fed == ("add", (17,), 1, "step_cycle") and fed.drivers[0][3] == "step_cycle"
    assert driven(("add", (17,), 1, "step"), ("reg_en", (15,), 1, "step"))[3] == "step"
    parts = unit_items(get_kind("lut").prototype())
    final = [p for p in parts if p[0] == "add" and p[1][0] >= 17]
    assert final and all(p[3] == "step_cycle" for p in final)
