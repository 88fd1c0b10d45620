"""Per-field activity (issue 14): the ANT / OVP inventories name which field of a port drives which
part, the field table is the PE's measured per-bit stream, and on the sim basis a part fed by a
field sees that field's toggles, not the port's mean over every bit."""

import dataclasses

import numpy as np
import pytest

from hw.ant_decoder import DECODE, ELEMENT_WIDTH, EXP_WIDTH
from hw.ovp_decoder import get_mode
from models import activity, field_activity, part_activity
from models.inventory import unit_items
from models.port_field import Field, element_fields
from models.registry import get_kind
from models.stored_table import load_entries, table_key

ANT_INT4 = (("act_type", "int4"), ("weight_type", "int4"))


def _parts(pe, options, prim):
    return [p for p in unit_items(get_kind(pe).prototype(**dict(options))) if p[0] == prim]


def _activity(pa, part, drivers=None):
    prim, widths, _, event = part
    return pa.item_activity(prim, widths, event, part.drivers if drivers is None else drivers,
                            getattr(part, "inputs", ()))


def test_a_field_is_its_port_with_its_bits():
    exp, ints = element_fields("act", (1,), ELEMENT_WIDTH, EXP_WIDTH)
    assert exp == "act" and ints == "act" and isinstance(ints, Field)
    assert exp.bits == tuple(range(ELEMENT_WIDTH, ELEMENT_WIDTH + EXP_WIDTH))
    assert ints.bits == tuple(range(ELEMENT_WIDTH + EXP_WIDTH, 2 * ELEMENT_WIDTH))
    with pytest.raises(ValueError):
        Field("act", ())


@pytest.mark.parametrize("pe, options", [("ant", ANT_INT4), ("ant", (("act_type", "int8"), ("weight_type", "int8"))),
                                         ("ovp", (("mode", "int4"),)), ("ovp", (("mode", "int8"),))])
def test_multipliers_read_the_integer_fields_and_exponent_adds_the_exponents(pe, options):
    """Each multiplier is driven by the integer fields of its elements, each exponent add by their
    exponent fields, at the hardware files' layout (``elaborate``: exponent low, integer high)."""
    proto = get_kind(pe).prototype(**dict(options))
    if pe == "ant":
        E, W, pairs = EXP_WIDTH, ELEMENT_WIDTH, proto.pairs()
    else:
        fmt = get_mode(proto.mode)
        E, W, pairs = fmt.exp_width, fmt.element_width, [((0, 1), (0, 1))]
    products, adds = _parts(pe, options, "smult"), [p for p in _parts(pe, options, "add") if p.drivers
                                                    and all(isinstance(d, Field) for d in p.drivers)]
    assert len(products) == len(adds) == len(pairs)
    for product, add, (j, l) in zip(products, adds, pairs):
        js, ls = (j,) if isinstance(j, int) else j, (l,) if isinstance(l, int) else l
        act, weight = product.drivers
        assert (act, weight) == ("act", "weight")
        assert act.bits == tuple(e * W + b for e in js for b in range(E, W))
        assert weight.bits == tuple(e * W + b for e in ls for b in range(E, W))
        assert add.drivers[0].bits == tuple(e * W + b for e in js for b in range(E))


def test_field_table_is_the_measured_bit_stream():
    """The repository table's ANT int4 entry is this stream's per-bit toggles and duties now."""
    measured = activity.unit_activity("ant", "pe", ANT_INT4, "minilm")
    bits = field_activity.port_bits("ant", ANT_INT4, "minilm")
    key = table_key("ant", ANT_INT4, "minilm")
    assert load_entries(field_activity.TABLE_PATH)[key]["data_hash"] == measured.data_hash
    for name, toggles, duty in measured.bits:
        port, _, index = name.partition("[")
        if port in field_activity.PORTS:
            assert bits[port][int(index[:-1])] == pytest.approx((toggles, duty), abs=1e-6)


def test_sim_basis_parts_see_their_fields():
    """ANT int4 on MiniLM: every element's exponent is the constant 0 (DECODE), so the exponent adds
    see no toggles on the sim basis, while the port's mean (the OpenSTA basis, whose reference is
    set per port) is not 0; the multipliers see the integer bits, which toggle more than the
    port's mean over the idle exponent bits."""
    assert {e for e, _ in DECODE["int4"]} == {0}
    pa = part_activity.part_activity("ant", ANT_INT4, "minilm")
    sim, sta = dataclasses.replace(pa, basis="sim"), dataclasses.replace(pa, basis="sta")
    exp_adds = [p for p in _parts("ant", ANT_INT4, "add") if all(isinstance(d, Field) for d in p.drivers)]
    for add in exp_adds:
        assert _activity(sim, add) == 0.0
        assert _activity(sta, add) > 0.0
    bits = field_activity.port_bits("ant", ANT_INT4, "minilm")
    products = _parts("ant", ANT_INT4, "smult")
    for product in products:
        act = product.drivers[0]
        field_rate = np.mean([bits["act"][b][0] for b in act.bits])
        assert sim.field_groups(product.drivers)[0]["a"] == pytest.approx(field_rate)
    # the exponent bits are idle, so the integer bits carry all of the port's toggles
    ints = [b for product in products for b in product.drivers[0].bits]
    assert np.mean([bits["act"][b][0] for b in ints]) == pytest.approx(
        pa.rate("act") * ELEMENT_WIDTH / (ELEMENT_WIDTH - EXP_WIDTH), rel=1e-4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(part_activity, "FIELD_BASES", ())
        diluted = sum(_activity(sim, product) for product in products)
    assert sum(_activity(sim, product) for product in products) > 1.3 * diluted


def test_opensta_basis_ignores_fields():
    """On the OpenSTA basis a field counts as its port (the reference's activities are per port)."""
    pa = dataclasses.replace(part_activity.part_activity("ovp", (("mode", "int4"),), "minilm"), basis="sta")
    for part in unit_items(get_kind("ovp").prototype(mode="int4")):
        drivers = getattr(part, "drivers", ())
        plain = tuple(str(d) if isinstance(d, Field) else d for d in drivers)
        assert _activity(pa, part, drivers) == _activity(pa, part, plain)
