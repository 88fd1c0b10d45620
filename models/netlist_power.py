"""Power of a mapped netlist from its simulated net toggles and the osu018 Liberty's own tables.

The reference OpenSTA's ``report_power`` gives rests on its probabilistic propagation of the input
ports' densities, which is 0.2-10x off the real toggles on the PEs' internal nets
(:mod:`models.gate_toggles`, docs/cost-model.md "Where the OpenSTA-basis errors lie"). This module
prices the toggles a zero-delay gate-level simulation counts (:func:`models.gate_toggles.simulate`)
with the same Liberty data OpenSTA uses, so the two differ only in where the toggles come from:

* internal energy per output transition: the output pin's ``internal_power`` tables (mean of
  ``rise_power`` and ``fall_power``: a net's rises and falls differ by at most one), looked up at
  the output net's load and the related input pin's slew. With several related pins, each pin's
  table is weighted by that pin's toggle rate (OpenSTA weights by density x the probability the
  pin's change reaches the output; the simulation counts changes, not their causes);
* input-pin internal energy: ``internal_power`` on input pins (the flops' ``D``) per toggle of the
  net at that pin, and the flops' ``CLK`` passive energy every cycle (rise + fall);
* switching energy 0.5 C V^2 per output toggle, C the output net's load, V the library's
  ``nom_voltage``;
* leakage: the cells' ``cell_leakage_power`` (osu018 has no state-dependent ``leakage_power``
  groups, so the nets' duties do not enter the figure).

Load of a net: the sum of the ``capacitance`` of the cell input pins it drives; no wire
capacitance and no load on output ports (the liberty has no wire load model and the synthesis /
STA flow sets none, :mod:`models.sta`). Slew: 0 at input ports and the ideal clock (OpenSTA's
default without ``set_input_transition``), and at a cell output the largest of its ``rise_ / fall
_transition`` tables over its timing arcs at the net's load and the related pins' slews (one slew
per net; OpenSTA keeps one per rise and fall). Tables are interpolated bilinearly and extrapolated
linearly outside their index range, as OpenSTA does.

Zero delay: glitches are not counted, so the switching and internal energies are a lower bound of
what the netlist dissipates on that stream.
"""

from __future__ import annotations

import functools
import graphlib
from dataclasses import dataclass

import numpy as np

from . import gate_toggles, synth
from .sta import PowerSplit


@dataclass(frozen=True)
class NetlistPower:
    """Power of one netlist on one stream at ``clock_mhz``, split like OpenSTA's report
    (duck-types :class:`models.synth.UnitPower`'s ``power`` and ``clock_mhz``)."""
    clock_mhz: float
    sequential: PowerSplit     # mW
    combinational: PowerSplit  # mW
    clock_pin_mw: float        # the part of ``internal`` the flops' CLK pins take
    data_pin_mw: float         # the part the other input pins' own tables take (the flops' D)

    @property
    def power(self):
        s, c = self.sequential, self.combinational
        return PowerSplit(s.internal + c.internal, s.switching + c.switching, s.leakage + c.leakage)

    @property
    def as_opensta_2019(self):
        """The same toggles priced as Debian's 2019 OpenSTA (2.0.17) prices them, measured on
        single gates (``tests/test_netlist_power.py``): every output transition charged the sum of
        the rise and fall tables and every clock edge both clock-pin tables (twice the Liberty's
        energy per transition; later OpenSTA averages them), the other input pins' tables at
        their mean. Isolates the toggle counts from that pricing when comparing with it."""
        p = self.power
        return PowerSplit(2 * p.internal - self.data_pin_mw, p.switching, p.leakage)


def _axis(group, i):
    return [float(v) for v in group.complex[f"index_{i}"][0].split(",")]


def _interp(axis, x):
    """(lower index, fraction) of ``x`` on ``axis``: the bracketing pair, the end pair outside it
    (linear extrapolation)."""
    if len(axis) == 1:
        return 0, 0.0
    i = int(np.clip(np.searchsorted(axis, x) - 1, 0, len(axis) - 2))
    return i, (x - axis[i]) / (axis[i + 1] - axis[i])


def lookup(table, index_1, index_2=None):
    """A Liberty table at (index_1, index_2) (for a 1-D table, index_1 only)."""
    values = synth._values(table)
    i, fi = _interp(_axis(table, 1), index_1)
    if "index_2" not in table.complex:
        row = [r[0] for r in values] if len(values) > 1 else values[0]
        return row[i] + fi * (row[min(i + 1, len(row) - 1)] - row[i]) if len(row) > 1 else row[0]
    j, fj = _interp(_axis(table, 2), index_2)
    v = np.asarray(values)
    lo = v[i, j] + fj * (v[i, j + 1] - v[i, j])
    hi = v[i + 1, j] + fj * (v[i + 1, j + 1] - v[i + 1, j])
    return float(lo + fi * (hi - lo))


@dataclass(frozen=True)
class _Cell:
    inputs: dict          # {input pin: capacitance pF}
    output: str
    arcs: dict            # {related pin: [transition tables]}
    internal: dict        # {related pin: (rise table, fall table)} of the output pin
    pin_internal: dict    # {input pin: (rise table, fall table)} passive, per toggle of the pin
    leakage_nw: float
    sequential: bool


def _rise_fall(group):
    """(rise, fall) tables of an ``internal_power`` group; one missing (the tri-state and set/reset
    cells' one-sided groups) counts as 0."""
    return tuple(group.find(kind)[0] if group.find(kind) else None for kind in ("rise_power", "fall_power"))


def _mean_energy(tables, *index):
    return sum(lookup(t, *index) for t in tables if t is not None) / 2


@functools.lru_cache(maxsize=1)
def _cells():
    cells = {}
    for cell in synth.load_liberty().find("cell"):
        outs = [p for p in cell.find("pin") if p.attrs.get("direction") == "output"]
        if len(outs) != 1:
            continue          # multi-output cells (FAX1, HAX1): not mapped by the flow, refused below
        out = outs[0]
        ins = [p for p in cell.find("pin") if p.attrs.get("direction") == "input"]
        arcs = {}
        for t in out.find("timing"):
            arcs.setdefault(t.attrs["related_pin"].strip('"'), []).extend(
                g for g in t.groups if g.kind in ("rise_transition", "fall_transition"))
        internal = {g.attrs["related_pin"].strip('"'): _rise_fall(g) for g in out.find("internal_power")}
        pin_internal = {p.args[0]: _rise_fall(g) for p in ins for g in p.find("internal_power")}
        cells[cell.args[0]] = _Cell({p.args[0]: float(p.attrs["capacitance"]) for p in ins},
                                    out.args[0], arcs, internal, pin_internal,
                                    float(cell.attrs.get("cell_leakage_power", 0.0)), bool(cell.find("ff")))
    return cells


def _volts():
    return float(synth.load_liberty().attrs["nom_voltage"])


def netlist_power(netlist, toggles, clock_mhz, clock="clk", unloaded=frozenset()):
    """:class:`NetlistPower` of ``netlist`` (one Yosys-mapped osu018 module) at ``clock_mhz``, every
    net toggling ``toggles[net]`` times per cycle (input port bits and cell outputs; nets not named
    stay still). ``clock`` (the port on the flops' ``CLK``) toggles twice a cycle. Nets in
    ``unloaded`` are priced with no load, as a characterised primitive's output ports are (no
    switching energy, their drivers' tables at 0 pF), so the difference from the full figure is
    the energy their loads cost."""
    return grouped_power(netlist, toggles, clock_mhz, lambda name: None, clock, unloaded)[None]


def grouped_power(netlist, toggles, clock_mhz, group, clock="clk", unloaded=frozenset()):
    """{``group(instance name)``: :class:`NetlistPower`} of ``netlist``'s cells, priced as
    :func:`netlist_power` prices the whole (the same loads and slews: a cell's switching energy
    is its output net's, whoever that net drives); the groups sum to :func:`netlist_power`. With
    a flattened array's cell names (``pe_0_1._123_``, :mod:`models.flat_netlist`) this splits
    the array's energy between its PEs and the top's own cells."""
    cells = _cells()
    alias = gate_toggles.aliases(netlist)
    insts, groups = [], []
    for typ, name, conns in gate_toggles.named_instances(netlist):
        if typ not in cells:
            raise ValueError(f"no single-output Liberty cell {typ}")
        insts.append((typ, {p: alias.get(s, s) for p, s in conns.items()}))
        groups.append(group(name))
    load = {}
    for typ, conns in insts:
        for pin, cap in cells[typ].inputs.items():
            load[conns[pin]] = load.get(conns[pin], 0.0) + cap
    for net in unloaded:
        load.pop(net, None)
    # slews in topological order; a flop's output depends only on the (ideal) clock
    driver = {conns[cells[typ].output]: k for k, (typ, conns) in enumerate(insts)}
    graph = graphlib.TopologicalSorter()
    for k, (typ, conns) in enumerate(insts):
        graph.add(k, *([] if cells[typ].sequential else
                       [driver[conns[p]] for p in cells[typ].inputs if conns[p] in driver]))
    slew = {}
    for k in graph.static_order():
        typ, conns = insts[k]
        cell, out = cells[typ], conns[cells[typ].output]
        slew[out] = max((lookup(t, load.get(out, 0.0), slew.get(conns[p], 0.0))
                         for p, tables in cell.arcs.items() for t in tables), default=0.0)
    volts = _volts()
    # per group: {sequential: pJ per cycle internal / switching, nW leakage}, {clock pin: pJ}
    split = {g: {True: np.zeros(3), False: np.zeros(3)} for g in groups}
    pin_pj = {g: {True: 0.0, False: 0.0} for g in groups}
    for (typ, conns), g in zip(insts, groups):
        cell = cells[typ]
        out = conns[cell.output]
        rate = toggles.get(out, 0.0)
        cap = load.get(out, 0.0)
        related = {p: (toggles.get(conns[p], 0.0) if conns[p] != clock else 2.0)
                   for p in cell.internal}
        total = sum(related.values())
        weights = ({p: r / total for p, r in related.items()} if total else
                   {p: 1 / len(related) for p in related})
        energy = sum(w * _mean_energy(cell.internal[p], cap, slew.get(conns[p], 0.0))
                     for p, w in weights.items())
        pins = 0.0
        for p, tables in cell.pin_internal.items():
            edges = 2.0 if conns[p] == clock else toggles.get(conns[p], 0.0)
            e = edges * _mean_energy(tables, slew.get(conns[p], 0.0))
            pin_pj[g][conns[p] == clock] += e
            pins += e
        split[g][cell.sequential] += [rate * energy + pins, rate * 0.5 * cap * volts ** 2, cell.leakage_nw]

    def mw(v):   # pJ per cycle x MHz = uW; nW
        return PowerSplit(v[0] * clock_mhz * 1e-3, v[1] * clock_mhz * 1e-3, v[2] * 1e-6)
    if not split:    # no cells: one group of nothing
        split, pin_pj = {group(""): {True: np.zeros(3), False: np.zeros(3)}}, {group(""): {True: 0.0, False: 0.0}}
    return {g: NetlistPower(float(clock_mhz), mw(split[g][True]), mw(split[g][False]),
                            pin_pj[g][True] * clock_mhz * 1e-3, pin_pj[g][False] * clock_mhz * 1e-3)
            for g in split}


def simulated_toggles(netlist, stream):
    """{net: toggles per cycle} of ``netlist`` on ``stream``: the input ports' own toggles and
    every cell output's zero-delay simulated toggles."""
    return {**gate_toggles.simulate(netlist, stream), **port_toggles(stream)}


def port_toggles(stream, warmup=0):
    """{input port bit: toggles per cycle} of ``stream`` over the cycle pairs after the first
    ``warmup`` cycles (as :func:`models.gate_toggles.simulate_lanes` counts the nets')."""
    toggles = {}
    for bit, values in stream.items():
        v = np.asarray(values)[warmup:]
        toggles[bit] = float(np.count_nonzero(v[1:] != v[:-1])) / max(1, len(v) - 1)
    return toggles


def simulated_power(netlist, stream, clock_mhz):
    """:class:`NetlistPower` of ``netlist`` on ``stream`` ({input port bit: [0/1 per cycle]}, as
    :func:`models.gate_toggles.simulate` takes it) at ``clock_mhz``: the input ports' own toggles
    and every cell output's zero-delay simulated toggles (:func:`simulated_toggles`)."""
    return netlist_power(netlist, simulated_toggles(netlist, stream), clock_mhz)
