"""The sim basis's price of a step sum Yosys merges into one ``$macc`` (:mod:`models.merged_sums`):
OVP W4A4's two shifted terms and ``acc_in`` (ANT W4A4 flint's four), priced as the ``csa`` Yosys
builds and checked against that mapped primitive simulated on the addends the MiniLM port stream gives it
(computed from the operand fields as the format defines the PE's arithmetic, not from an RTL
simulation); the OpenSTA basis keeps the inventory's adders; which PEs the rule takes."""

import dataclasses

import pytest

from hw.ant_decoder import ELEMENT_WIDTH as ANT_W, EXP_WIDTH as ANT_E, INT_WIDTH as ANT_I
from hw.ovp_decoder import get_mode
from models import activity, characterise, characterise_sim, energy_vs_sta
from models.inventory import unit_items
from models.merged_sums import member_key, merged_sums
from models.part_activity import part_activity
from models.part_energy import part_dynamic_pj
from models.registry import PE_KINDS, get_kind
from models.tech import value as tech_value
from tools import require_synthesis, signed_field

OVP = ()   # OVP's default mode: W4A4
ANT_FLINT = next(tuple(sorted(dict(o).items())) for label, o in PE_KINDS["ant"].variants if label == "ANT W4A4 flint")


def _exp_int_addends(kind, options, proto):
    """The step sum's addends per step on the MiniLM port stream of an exponent-integer PE (OVP,
    ANT: element = [exponent | signed integer], value = int x 2**exp): each pair's integer product
    shifted by its exponent sum, then ``acc_in``; each wrapped to the sum's 32 bits, as the csa
    sees them sign-extended."""
    if kind == "ovp":
        fmt = get_mode(proto.mode)
        (E, I, W), pairs = (fmt.exp_width, fmt.int_width, fmt.element_width), ((0, 0), (1, 1))
    else:
        (E, I, W), pairs = (ANT_E, ANT_I, ANT_W), proto.pairs()
    ports, _ = activity.pe_ports(kind, options, "minilm")
    act, weight, acc_in = (ports[p][0] for p in ("act", "weight", "acc_in"))
    addends = []
    for j, k in pairs:
        exp = [((int(a) >> (j * W)) & ((1 << E) - 1)) + ((int(w) >> (k * W)) & ((1 << E) - 1))
               for a, w in zip(act, weight)]
        prod = [signed_field(a, j * W + E, I) * signed_field(w, k * W + E, I) for a, w in zip(act, weight)]
        addends.append([(p << s) & 0xFFFFFFFF for p, s in zip(prod, exp)])
    return addends + [[int(c) & 0xFFFFFFFF for c in acc_in]]


def _key(part):
    return member_key(part[0], part[1], part[3], getattr(part, "drivers", ()))


def _merged_adders(proto, parts, merged):
    """45 nm pJ per step (dynamic + idle, no pin loads) of the step sum's adders."""
    items = unit_items(proto)
    terms = energy_vs_sta.step_energy_terms(proto, parts, "sim", pin_loads=False)
    keys = {_key(p) for p in items} & set(merged)
    return sum(d + i for p, (_, d, i) in zip(items, terms)
               if _key(p) in keys)


@pytest.mark.parametrize("kind,options,widths", [("ovp", OVP, (96, 32)), ("ant", ANT_FLINT, (160, 32))])
def test_step_sum_on_the_stream_is_what_the_rule_prices(kind, options, widths):
    """OVP W4A4's csa (96, 32) and ANT W4A4 flint's csa (160, 32) simulated on their real addends:
    the model's merged adders are within 15 % of it; the adders priced alone (the rule before) are
    more than 15 % short."""
    require_synthesis()
    proto = get_kind(kind).prototype(**dict(options))
    addends = _exp_int_addends(kind, options, proto)
    netlist = characterise_sim.mapped("csa", widths)
    stream = {}
    for b in characterise.data_input_bits(netlist):
        port, _, index = b.partition("[")
        stream[b] = [(v >> int(index[:-1])) & 1 for v in addends[int(port[1:])]]
    simulated = characterise_sim.energy_pj(netlist, stream, lanes=1) * tech_value("scale.energy.180_1v8_to_45_0v9")
    parts = part_activity(kind, options, "minilm")
    merged = merged_sums(unit_items(proto))
    model = _merged_adders(proto, parts, merged)
    sim = dataclasses.replace(parts, basis="sim")
    alone = 0.0
    for p in unit_items(proto):
        if _key(p) in merged:
            prim, dynamic = part_dynamic_pj(p[0], p[1], p[3], getattr(p, 'drivers', ()), getattr(p, 'inputs', ()),
                                            sim, pin_loads=False)
            alone += p[2] * (dynamic + prim.idle_pj)
    assert model == pytest.approx(simulated, rel=0.15)
    assert alone < 0.85 * simulated


def test_ovp_sum_is_the_two_adders_and_the_measured_csa():
    """OVP's chain (the terms' add, then acc_in's) maps to one csa of three 32-bit addends, each
    adder a half; Yosys's $macc has the two 18-bit shifter outputs and acc_in (A_WIDTH 68)."""
    proto = get_kind("ovp").prototype()
    merged = merged_sums(unit_items(proto))
    assert sorted(k[:3] for k in merged) == [("add", (19,), "step"), ("add", (32,), "step")]
    for (widths, drivers, instances) in merged.values():
        assert widths == (96, 32) and instances == 2 and drivers[-1] == "acc_in"
        assert [d[:3] for d in drivers[:-1]] == [("shiftn", (8, 4, 18), 2)]


def test_mixpe_sum_is_its_rows_adders_and_the_measured_structure():
    """MixPE's rows (the AND part), their adders and acc_in's adder map to one gated sum of four
    8-bit rows and acc_in (models.gated_sum_sim's point), priced as a csa (160, 32) shared by the
    eight instances."""
    merged = merged_sums(unit_items(get_kind("shiftadd").prototype()))
    assert sorted(k[:3] for k in merged) == [("add", (9,), "step"), ("add", (32,), "step"), ("and", (8,), "step")]
    for widths, drivers, instances in merged.values():
        assert widths == (160, 32) and instances == 8 and drivers[-1] == "acc_in"
        assert [d[:3] for d in drivers[:-1]] == [("and", (8,), 4)]


@pytest.mark.parametrize("kind", ["int8", "bitfusion"])
def test_other_sums_keep_their_parts(kind):
    """INT8's / BitFusion's sums are not a chain of adders of shifters or of gated rows: none
    merged."""
    for _, options in PE_KINDS[kind].variants:
        assert merged_sums(unit_items(get_kind(kind).prototype(**dict(options)))) == {}


def test_opensta_basis_keeps_the_adders():
    """The rule is the sim basis's: on the OpenSTA basis an OVP adder is priced as before
    (its own primitive at its activity, whatever ``merged`` says)."""
    proto = get_kind("ovp").prototype()
    parts = part_activity("ovp", OVP, "minilm")
    merged = merged_sums(unit_items(proto))
    for p in unit_items(proto):
        entry = merged.get(_key(p))
        if entry is None:
            continue
        with_rule = part_dynamic_pj(p[0], p[1], p[3], getattr(p, 'drivers', ()), getattr(p, 'inputs', ()), parts, merged=entry)
        without = part_dynamic_pj(p[0], p[1], p[3], getattr(p, 'drivers', ()), getattr(p, 'inputs', ()), parts)
        assert with_rule[1] == without[1]
        sim = dataclasses.replace(parts, basis="sim")
        assert (part_dynamic_pj(p[0], p[1], p[3], getattr(p, 'drivers', ()), getattr(p, 'inputs', ()), sim, merged=entry)[1]
                != part_dynamic_pj(p[0], p[1], p[3], getattr(p, 'drivers', ()), getattr(p, 'inputs', ()), sim)[1])
