"""The step sums Yosys merges into one carry-save ``$macc``, which the sim basis prices as built.

An OVP PE sums its two shifted terms and ``acc_in`` (:class:`hw.pe_ovp.OvpPE`: ``step = term0 +
term1``, ``acc_out = acc_in + step``); the inventory lists that as two adders (the terms' sum, then
the accumulate add), each priced alone. Yosys's ``alumacc`` merges the chain into ONE ``$macc``
(OVP W4A4: ``A_WIDTH`` 68 = the two 18-bit ``$shl`` outputs + the 32-bit ``acc_in``, ``Y_WIDTH``
32) and ``maccmap`` builds it as a carry-save sum of the addends sign-extended to the sum's width,
the structure :mod:`models.extended_csa_sim` characterises for BitFusion's step sum. Simulated on
the values it sees on the MiniLM stream that ``csa`` (96, 32) costs 0.463 pJ/step on OVP W4A4
(0.461 flint4, 0.507 W8A8; 45 nm, OpenSTA 2.0.17 pricing), against 0.369 (0.358, 0.452) for the
inventory's two adders on the same values: the merge is where part of those PEs' shortfall is.

:func:`merged_sums` finds such a chain in a PE's parts: an ``add`` of ``acc_in`` and one other
``add`` whose drivers are all shifters (``shiftn``), where that ``csa`` structure's curve is
measured (:data:`models.extended_csa_sim.POINTS`, :data:`models.extended_csa_sim.SHIFTED_POINTS`).
OVP's shifters output 18 bits, which ``maccmap`` sign-extends; ANT's four (its ``$macc`` has
``A_WIDTH`` 160: four 32-bit ``$shl`` outputs and ``acc_in``) output the sum's full 32 bits, each
a 10-bit product shifted by a 5-bit amount, the structure the shifted points measure
(:func:`models.extended_csa_sim.addend_structure`). On ANT W4A4 int / flint / PoT's streams that
``csa`` (160, 32) costs 0.183 / 0.665 / 0.854 pJ/step on its real addends against 0.134 / 0.554 /
0.811 for the inventory's four adders. On the sim basis (:func:`models.part_energy.part_dynamic_pj`)
each adder of the chain then pays its share of that ``csa`` at its measured curve
(:meth:`models.part_activity.PartActivity.extended_sum`); area, idle energy, pin loads and the
OpenSTA basis keep the adders'. MixPE's AND-gated rows (Yosys folds its gated activation
copies, their adders and ``acc_in`` into a 70-bit ``$macc`` of differently shifted rows of ONE
operand, another structure: the sign-extended curve over-counts it) take a sibling rule: the AND,
the rows' adders and the accumulate adder each pay their share of that structure on its own
curve (:mod:`models.gated_sum_sim`; on W4A8's stream 0.603 pJ/step simulated on its real operands,
the model's merged parts 0.603, the parts alone 0.272).
"""

from __future__ import annotations

from .extended_csa_sim import addend_structure, effective_activity
from .gated_sum_sim import effective_activity as gated_sum_activity, gated_rows
from .primitive_outputs import output_gains

#: the family whose outputs ``maccmap`` sign-extends into a merged step sum (its ``$shl``)
SHIFTERS = ("shiftn",)


def member_key(prim, widths, event, drivers):
    """The key of one adder of :func:`merged_sums` (a unit :class:`models.inventory.Part` and a
    design :class:`models.inventory.Item` of it share it; an array's item counts differ)."""
    return (prim, tuple(widths), event, tuple(drivers))


def merged_sums(parts):
    """{:func:`member_key` of each adder in a merged step sum: (csa widths, csa drivers, adder
    instances in the sum)} of a PE's unit inventory ``parts``
    (:func:`models.inventory.unit_items`); empty when it has none (see the module docstring)."""
    by_part = {tuple(p[:4]): p for p in parts}
    found = {}
    for p in parts:
        prim, widths, count, event = p[:4]
        drivers = tuple(getattr(p, "drivers", ()))
        if prim != "add" or "acc_in" not in drivers or len(drivers) != 2 or count != 1:
            continue
        other = next(d for d in drivers if d != "acc_in")
        inner = None if isinstance(other, str) else by_part.get(tuple(other))
        if inner is None or inner[0] != "add":
            continue
        leaves = tuple(getattr(inner, "drivers", ()))
        width = widths[0]
        gated = gated_rows(leaves)
        if gated is not None:
            # MixPE: the rows' gates, their adders and acc_in's add are one structure
            csa = (width * (gated[1] + 1), width)
            if gated_sum_activity(csa, *gated, 0.0) is not None:
                _record(found, (leaves[0], inner, p), csa, leaves + ("acc_in",))
            continue
        if not leaves or not all(not isinstance(d, str) and d[0] in SHIFTERS and output_gains(d[0], tuple(d[1]))
                                 for d in leaves):
            continue
        addends = sum(d[2] for d in leaves) + 1
        narrow, shift = addend_structure(width, [(d[0], tuple(d[1]), output_gains(d[0], tuple(d[1]))[0])
                                                 for d in leaves for _ in range(d[2])] + [("port", (), width)])
        if effective_activity((width * addends, width), narrow, 0.0, shift) is None:
            continue    # only the measured structures take the rule
        _record(found, (inner, p), (width * addends, width), leaves + ("acc_in",))
    return found


def _record(found, members, csa, drivers):
    """Enter each of ``members`` (inventory parts) in ``found`` as its share of the ``csa``
    (widths) fed by ``drivers``: (csa widths, csa drivers, instances of the members)."""
    instances = sum(m[2] for m in members)
    for m in members:
        found[member_key(m[0], m[1], m[3], getattr(m, "drivers", ()))] = (csa, drivers, instances)
