"""The pin load a PE's parts put on each other's outputs, which the primitive table leaves out.

Every primitive is characterised alone (:mod:`models.characterise`, :mod:`models.characterise_sim`):
its input ports are driven by ideal sources (their pins' capacitance is charged to nothing) and
its output ports drive nothing. Inside a PE a part's output bits drive the next part's input pins,
so each toggle of a between-part net costs 0.5 C V^2 of switching (C: the pins it drives) plus the
rise in its driver's internal energy, whose Liberty tables are indexed by output load.

:func:`models.primitive_pincaps.input_capacitance` gives, from a stored table (measured on each
primitive's own mapped netlist, the primitive table's), the mean Liberty input pin capacitance each
bit of each data input port drives (osu018 ``capacitance``, pF; the source of the figure), so this
rule runs neither Yosys nor the Liberty parser. :func:`between_part_load` sums, over a PE's
inventory, the toggles per step of every input bit a part receives from another part times that
bit's pin capacitance (pF x toggles per step): registers' data inputs at the ``acc`` path (their
driver is always the datapath), combinational parts' inputs at :meth:`PartActivity.port_toggles`, a
port named in the inventory at its own driver, the others shared among the drivers in proportion to
the part drivers' output bits. PE ports are driven from outside the PE, as in the reference (their
nets have no driver cell), so they count nothing.

:func:`switching_pj_per_pf` prices that charge as switching only, 0.5 C V^2 per toggle (V the
Liberty's ``nom_voltage``, stored with that table, brought to 45 nm 0.9 V by the Stillmaker factor
the primitives use): the sim-basis model's rule for the nets between parts
(:func:`models.part_energy.part_dynamic_pj`, which the bench and the cost model both price a part
with). The drivers' internal energy's change with load is left out
(osu018's tables are not monotonic in load): on six PEs' mapped netlists (INT8, LUT W4A8, FP16,
MXFP8-E4M3, ANT W4A4 int, BitMoD mixed4 W4A8) the whole load-dependent energy per pF-toggle, at
OpenSTA 2.0.17's pricing on the simulated toggles, is 1.00 .. 1.53x the switching alone, so the
rule is a lower bound of what those nets cost (``bench/bench_energy_loads.py`` brackets it per PE).
"""

from __future__ import annotations

from .inventory import unit_items
from .part_activity import REGISTERS
from .primitive_outputs import output_gains
from .primitive_pincaps import input_capacitance, nearest_capacitance, nom_voltage
from .tech import value as tech_value

#: a register's data input port (``reg``, ``reg_en`` netlists)
REGISTER_DATA = "d"


def part_load_terms(proto, parts):
    """Per inventory part of the PE ``proto``: (primitive, pF x toggles per step its inputs
    driven by other parts switch), each part at its activity in ``parts`` (a
    :class:`models.part_activity.PartActivity`)."""
    ii = proto.initiation_interval
    terms = []
    for part in unit_items(proto):
        prim, widths, n, event = part
        uses = ii if event == "step_cycle" else 1
        load = part_load(prim, widths, event, getattr(part, "drivers", ()), getattr(part, "inputs", ()), parts)
        terms.append((prim, n * uses * load))
    return terms


def part_load(prim, widths, event, drivers, inputs, parts, exact=True):
    """pF x toggles per use of one instance of an inventory part (``event`` "step" /
    "step_cycle"; ``drivers`` and ``inputs`` as the inventory states them) that its inputs driven
    by other parts switch, at its activity in ``parts``: the term :func:`part_load_terms` and the
    cost model (:func:`models.cost.hardware`) both count. ``exact`` False: a width the stored
    table lacks (a weight-stationary row's narrowed add) at its nearest point's pF per bit
    (:func:`models.primitive_pincaps.nearest_capacitance`); the same figures where it has it."""
    inputs = dict(inputs)
    caps, counts = (input_capacitance if exact else nearest_capacitance)(prim, tuple(widths))
    # a per-cycle part of a sequenced step at its inputs' toggles per cycle, as its energy
    view = parts.for_event(event)
    if prim in REGISTERS:
        acc = view.group_activities()["acc"]
        return acc * caps.get(REGISTER_DATA, 0.0) * counts.get(REGISTER_DATA, 0)
    fed = [d for d in drivers if not isinstance(d, str)]
    if not fed or not caps or output_gains(prim, tuple(widths)) is None:
        return 0.0
    toggles = view.port_toggles(prim, widths, drivers, tuple(inputs.items()))
    shared = [d for d in drivers[:len(drivers) - len(inputs)]]
    bits = [(view.source_output(d)[1], not isinstance(d, str)) for d in shared]
    total = sum(b for b, _ in bits)
    share = sum(b for b, part_driven in bits if part_driven) / total if total else 0.0
    load = 0.0
    for port, cap in caps.items():
        driven = (not isinstance(inputs[port], str)) if port in inputs else share
        load += driven * toggles.get(port, view.shared_toggles(drivers)) * cap * counts[port]
    return load


def between_part_load(proto, parts):
    """pF x toggles per step of the nets between the parts of the PE ``proto`` (the sum of
    :func:`part_load_terms`)."""
    return sum(load for _, load in part_load_terms(proto, parts))


def switching_pj_per_pf():
    """45 nm pJ per pF-toggle: 0.5 V^2 at the Liberty's ``nom_voltage`` (180 nm 1.8 V, as stored
    with the pin capacitances), times the Stillmaker factor the primitive energies carry
    (``scale.energy.180_1v8_to_45_0v9``)."""
    return 0.5 * nom_voltage() ** 2 * tech_value("scale.energy.180_1v8_to_45_0v9")
