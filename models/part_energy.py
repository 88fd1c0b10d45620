"""One PE part's dynamic energy per use on an energy basis: the rule both the bench's PE figure
(:func:`models.energy_vs_sta.step_energy_terms`) and the cost model (:func:`models.cost.item_energy`)
price a PE part with.

The part's primitive (:func:`models.cost_primitives.primitive`, on the basis's table) at its own
measured activity (:meth:`models.part_activity.PartActivity.item_activity`; on the sim basis an adder
of a step sum Yosys merges into one ``$macc``, its share of that sum's ``csa``:
:mod:`models.merged_sums`), plus, on the sim basis
(or when asked), the switching of the input pins it presents to the other parts that drive it
(:func:`models.part_loads.part_load` x :func:`models.part_loads.switching_pj_per_pf`): the table
characterises every primitive with undriven inputs and unloaded outputs.
"""

from .cost_primitives import primitive
from .part_loads import part_load, switching_pj_per_pf


def part_dynamic_pj(prim, widths, event, drivers, inputs, parts, pin_loads=None, exact=True, merged=None):
    """(:class:`models.cost_primitives.Prim`, 45 nm dynamic pJ per use) of one instance of an
    inventory part (``prim`` at ``widths``; ``event`` "step" / "step_cycle"; ``drivers`` and
    ``inputs`` as the inventory states them) at its activity in ``parts`` (a
    :class:`models.part_activity.PartActivity`, priced on its ``basis``). ``pin_loads``: add the
    part's pin load on its drivers (default: on the sim basis only, so the OpenSTA-basis figures
    are the table's alone); ``exact``: as :func:`models.part_loads.part_load`'s. ``merged``: the
    part's entry in :func:`models.merged_sums.merged_sums` (csa widths, csa drivers, adder
    instances), None when it is in no merged step sum: on the sim basis such an adder pays its
    share of the ``csa`` Yosys builds for the sum (its area and idle energy stay the adder's)."""
    activity = parts.item_activity(prim, widths, event, drivers, inputs)
    p = primitive(prim, *widths, activity=activity, basis=parts.basis)
    dynamic = p.energy_pj
    if merged is not None and parts.basis == "sim":
        csa_widths, csa_drivers, instances = merged
        csa = primitive("csa", *csa_widths, activity=parts.item_activity("csa", csa_widths, event, csa_drivers),
                        basis=parts.basis)
        dynamic = csa.energy_pj / instances
    if (parts.basis == "sim") if pin_loads is None else pin_loads:
        dynamic += switching_pj_per_pf() * part_load(prim, widths, event, drivers, inputs, parts, exact)
    return p, dynamic
