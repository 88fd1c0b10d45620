"""The cost model's energy per PE step on measured activity, next to OpenSTA's power on it.

:func:`pe_step_energy_pj` sums the PE inventory's primitives at the cost model's own energies
(:func:`models.cost_primitives.primitive`, which :func:`models.cost.hardware` uses: OpenSTA's
energy of each primitive synthesised alone), each part at the activity measured on the
signals that drive it (:meth:`models.part_activity.PartActivity.item_activity`: registers at the
result register's and ``valid``'s toggles, the combinational datapath at its data input ports',
per-cycle parts of a multi-cycle step at least at the sequencing's),
so a design whose real operands switch little (ANT's int4 codes, a stationary weight) costs less
than on random data. A "step" primitive acts once per step, a
"step_cycle" one every cycle of it; every primitive pays its idle energy (clock of its flops,
leakage) every cycle, at its inputs' measured duties (:meth:`models.part_activity.PartActivity.idle_factor`:
a register always enabled holds no feedback state). No factor is fitted on any design: the only
inputs are the primitive, group-share and duty tables and the measured toggle rates and duties.
"""

import dataclasses

import numpy as np

from hw.pe import facts_only

from .cost_primitives import primitive
from .gate_toggles import port_stream
from .netlist_power import simulated_power
from .part_activity import DATA_PORTS, part_activity
from .post_array_activity import COLS, post_array_run
from .post_array_rates import measure as measure_post_array
from .merged_sums import member_key, merged_sums
from .part_energy import part_dynamic_pj
from .inventory import POST_ARRAY_EVENTS, post_array_parts, unit_items
from .registry import full_options, get_kind
from .synth import POST_ARRAY, synthesize
from .tech import value as tech_value

def data_activity(activity, initiation_interval):
    """Mean toggles per step (at most 1) of the PE's data input port bits in ``activity`` (a
    :class:`models.activity.PortActivity`, toggles per cycle): the operands change once per step,
    so per-cycle rates times the initiation interval."""
    rates = [a for name, a, _ in activity.bits if name.split("[")[0] in DATA_PORTS]
    return min(1.0, float(np.mean(rates)) * initiation_interval) if rates else 0.0


def pe_step_energy_pj(pe, pe_options=(), source="minilm", basis="sta", pin_loads=None):
    """(45 nm pJ per step, data-port toggles per step) of one PE of kind ``pe`` on ``source``
    operands, each inventory part at its own measured activity; ``basis``: the primitive energy
    table (:data:`models.cost_primitives.BASES`); ``pin_loads``: see :func:`step_energy_terms`."""
    parts = part_activity(pe, tuple(pe_options), source)
    return (step_energy_pj(get_kind(pe).prototype(**dict(pe_options)), parts, basis, pin_loads),
            parts.data_activity)


def step_energy_pj(proto, parts, basis="sta", pin_loads=None):
    """45 nm pJ per step of the PE ``proto`` with each inventory part at its activity in ``parts``
    (a :class:`models.part_activity.PartActivity`): the sum of :func:`step_energy_terms`."""
    return sum(dynamic + idle for _, dynamic, idle in step_energy_terms(proto, parts, basis, pin_loads))


def step_energy_terms(proto, parts, basis="sta", pin_loads=None):
    """Per inventory part of the PE ``proto``: (primitive, dynamic pJ per step, idle pJ per step),
    45 nm, each part at its activity in ``parts`` and its energies on ``basis``
    (:func:`models.part_energy.part_dynamic_pj`). A "step" part acts once per step, a
    "step_cycle" one every cycle of it; the idle energy (clock, leakage) is paid every cycle.
    ``pin_loads`` (default: on for ``basis="sim"`` only, the OpenSTA-basis figures unchanged) adds
    to each part's dynamic energy the switching of the pins its inputs present to the other parts
    driving them: the table characterises every primitive with undriven inputs and unloaded
    outputs."""
    ii = proto.initiation_interval
    # the parts are composed with the basis's own group shares and duty factors
    parts = dataclasses.replace(parts, basis=basis)
    terms = []
    items = unit_items(proto)
    merged = merged_sums(items)
    for part in items:
        prim, widths, n, event = part
        drivers = getattr(part, "drivers", ())
        p, dynamic = part_dynamic_pj(prim, widths, event, drivers, getattr(part, "inputs", ()), parts,
                                     pin_loads, merged=merged.get(member_key(prim, widths, event, drivers)))
        uses = ii if event == "step_cycle" else 1
        terms.append((prim, n * uses * dynamic,
                      n * ii * p.idle_pj * parts.idle_factor(prim, widths, drivers)))
    return terms


def sta_step_energy_pj(pe, pe_options, power):
    """OpenSTA's energy per PE step from a :class:`models.synth.UnitPower` of the PE (total power
    at its clock x the initiation interval), brought from 180 nm 1.8 V to 45 nm 0.9 V with the
    same Stillmaker factor as the model's primitives."""
    ii = get_kind(pe).prototype(**dict(pe_options)).initiation_interval
    return ii * cycle_energy_pj(power)


def cycle_energy_pj(power):
    """Energy per clock cycle (pJ, 45 nm 0.9 V) of a unit's power (a
    :class:`models.synth.UnitPower` or :class:`models.netlist_power.NetlistPower`: total power at
    its clock), brought from 180 nm 1.8 V with the Stillmaker factor of the model's primitives."""
    joules = power.power.total * 1e-3 / (power.clock_mhz * 1e6)
    return joules * 1e12 * tech_value("scale.energy.180_1v8_to_45_0v9")


def post_array_word_energy_pj(pe, pe_options=(), source="minilm", basis="sta", activity=None):
    """(45 nm pJ per dequantised word, :class:`models.post_array_rates.PostArrayRates` or the
    ``activity`` given) of the post-array unit of PE kind ``pe``
    (:data:`models.post_array_activity.COLS` columns, as synthesised) as :mod:`models.cost`
    counts it, at the activity measured on its own stream (:func:`models.post_array_rates.measure`:
    :func:`models.post_array_activity.post_array_run`, ``source`` operands) instead of the PE's:
    a "word" part of the inventory (:func:`models.inventory.post_array_parts`: one that follows
    the unit's live inputs) pays its dynamic energy on every array word through the unit (every
    fold's: ``group_folds`` per dequantised word), a "group" part once per dequantised word,
    each times its uses, at the measured toggles per event of the ports that feed it
    (:meth:`models.post_array_rates.PostArrayRates.rate`); every part its idle energy (clock,
    leakage) every cycle of the run (``cycles_per_word`` per dequantised word). ``basis``: the
    primitive energy table (:data:`models.cost_primitives.BASES`). ``activity``: price every part
    at this toggle rate instead (e.g. the PE's data-port activity, what the report's cost model
    gave the unit before it had its own)."""
    options = full_options(pe, pe_options)     # the key measure_post_array's run is cached on
    run = post_array_run(pe, options, source)
    rates = measure_post_array(pe, options, source) if activity is None else activity
    per_event = {"word": run.group_folds, "group": 1}
    unit = facts_only(get_kind(pe).prototype(**dict(pe_options)).post_array_unit(COLS))
    energy = 0.0
    for prim, widths, n, event, uses, ports in post_array_parts(unit):
        a = activity if activity is not None else rates.rate(POST_ARRAY_EVENTS[event], ports)
        p = primitive(prim, *widths, activity=a, basis=basis)
        energy += per_event[event] * uses * p.energy_pj + run.cycles_per_word * n * p.idle_pj
    return energy, rates


def sta_word_energy_pj(pe, pe_options, power):
    """OpenSTA's energy per dequantised word (45 nm pJ) of a :class:`models.synth.UnitPower` of the
    post-array unit measured on :func:`models.post_array_activity.post_array_run`'s stream: energy
    per cycle x the run's cycles per dequantised word."""
    run = post_array_run(pe, full_options(pe, pe_options), power.activity_source)
    return run.cycles_per_word * cycle_energy_pj(power)


def sim_word_energy_pj(pe, pe_options=(), source="minilm", clock_mhz=100.0):
    """The gate-level simulated energy per dequantised word (45 nm pJ) of the post-array unit's
    mapped netlist on :func:`models.post_array_activity.post_array_run`'s ``source`` stream: every
    net's zero-delay toggles (:func:`models.netlist_power.simulated_power` at ``clock_mhz``) priced
    as OpenSTA 2.0.17 prices a transition (``as_opensta_2019``, as the sim-basis primitives are:
    the reference of ``post_array_word_energy_pj(..., basis="sim")``), x the run's cycles per
    dequantised word. About 100 s for a digit-serial unit, 10 min for MixPE's (a Python gate
    simulation)."""
    options = full_options(pe, pe_options)
    run = post_array_run(pe, options, source)
    netlist = synthesize(pe, unit=POST_ARRAY, pe_options=options).netlist()
    simulated = simulated_power(netlist, port_stream(run.ports), clock_mhz)
    return (run.cycles_per_word * cycle_energy_pj(simulated)
            * simulated.as_opensta_2019.total / simulated.power.total)
