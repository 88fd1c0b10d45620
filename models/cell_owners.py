"""Which part of an array each cell of its mapped netlist belongs to, for splitting the netlist's
simulated energy (:func:`models.netlist_power.grouped_power`) between the PEs and the top's
registers, border units and drain.

Two sources, the first that applies:

* the cell's instance name: a flattened output-stationary array (:mod:`models.flat_netlist`) keeps
  each PE copy's instance name in front of its cells (``pe_0_1._123_`` -> ``"pe_0_1"``): exact;
* an array synthesised as one module (Yosys flattens it before mapping: every cell is ``_N_``)
  still keeps the register names on its flops' outputs (``pe_0_1.acc[3]``, ``pass_1_0_data0[7]``):
  a flop belongs to its register's PE, or to ``"top/<register>"`` for the top's own; a
  combinational cell to the registers whose D input it feeds through combinational cells only
  (one owner -> that owner; several of the top's -> ``"top/shared"``; several with a PE ->
  ``"shared"``; none, it feeds only output ports -> ``"top/out"``). An attribution, not a
  partition synthesis made: logic ABC merged across a boundary is ``"shared"``.
"""

from __future__ import annotations

import re

from . import gate_toggles

_PE = re.compile(r"^(pe_\d+_\d+)\.")
FLOP_PREFIX = "DFF"


def pe_of(name):
    """The PE instance (``"pe_0_1"``) whose copy ``name`` (a cell or net) is in, else None."""
    m = _PE.match(name)
    return m.group(1) if m else None


def register_owner(net):
    """The owner of a flop whose output is ``net``: its PE, or ``"top/<register>"``."""
    return pe_of(net) or "top/" + net.split("[", 1)[0]


def cell_owners(netlist):
    """{instance name: owner} of every cell of ``netlist`` (one mapped module; module docstring):
    ``"pe_R_C"``, ``"top/<register>"``, ``"top/shared"``, ``"shared"`` or ``"top/out"``."""
    alias = gate_toggles.aliases(netlist)
    cells = [(typ, name, {p: alias.get(s, s) for p, s in conns.items()})
             for typ, name, conns in gate_toggles.named_instances(netlist)]
    owners = {}
    driver = {}
    for typ, name, conns in cells:
        flop = typ.startswith(FLOP_PREFIX)
        out = conns["Q"] if flop else conns["Y"]
        driver[out] = (name, flop, conns)
        if pe_of(name) or flop:
            owners[name] = pe_of(name) or register_owner(out)
    reached = {}
    for typ, name, conns in cells:
        if not typ.startswith(FLOP_PREFIX) or pe_of(name):
            continue
        stack, seen = [conns["D"]], set()
        while stack:
            net = stack.pop()
            if net in seen or net not in driver:
                continue
            seen.add(net)
            cell, flop, pins = driver[net]
            if flop or cell in owners:
                continue
            reached.setdefault(cell, set()).add(owners[name])
            stack += [v for p, v in pins.items() if p != "Y"]
    for typ, name, _ in cells:
        if name not in owners:
            found = reached.get(name, ())
            if len(found) == 1:
                owners[name] = next(iter(found))
            else:
                owners[name] = ("top/out" if not found else "top/shared" if all(map(is_top, found)) else "shared")
    return owners


def is_top(owner):
    """Whether ``owner`` is the top's (not a PE's, not shared)."""
    return owner.startswith("top/")
