"""Where a flattened netlist's area sits: the fan-in cone of each register.

A flattened array (:func:`models.synth.synthesize`) names its mapped cells ``_N_``, but its flops
keep the registers' names on their ``Q`` nets (``pe_1_0.acc_out [3]``, ``w0_1_0 [4]``), so the
cells of one PE can be found as the combinational cells its accumulator's flops read: walk back
from each flop's ``D`` pin through combinational cells, stopping at flops and input ports. The
cone of a register is the union over its bits. An enabled register's hold select (osu018 has no
enable flop) is in its own cone. A cell read by several registers is in each of their cones and
is also reported as shared, so the per-register figures can be compared with the cost model's
per-PE inventory (:func:`models.inventory.array_items_ws` rows) without counting it twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

_CELL = re.compile(r"^\s+(\w+)\s+(\S+)\s+\((.*?)\);", re.S | re.M)
_PIN = re.compile(r"\.(\w+)\(([^()]*?)\)\s*(?:,|$)")
_BIT = re.compile(r"\s*\[\d+\]$")
#: output pins of the osu018 cells (combinational ``Y``, flops ``Q``)
OUTPUT_PINS = ("Y", "Q")


@dataclass(frozen=True)
class Cone:
    """One register: its flops (bits kept by synthesis), their area, and its fan-in cone's
    combinational cells and their area (um^2 in the liberty's units, 180 nm for osu018)."""
    flops: int
    flop_area: float
    cells: int
    area: float


def _cells(netlist, areas):
    """(cell type, {pin: net}) of every liberty cell instance of a mapped netlist
    (``write_verilog -noattr -simple-lhs``: one ``TYPE name ( .PIN(net), ... );`` each)."""
    out = []
    for typ, _, body in _CELL.findall(netlist):
        if typ in areas:
            out.append((typ, {pin: net.strip() for pin, net in _PIN.findall(body.strip())}))
    return out


def register_name(net):
    """The register a flop output net belongs to: the net without its bit index, unescaped."""
    return _BIT.sub("", net).lstrip("\\").strip()


def register_cones(netlist, areas, flop_prefix="DFF"):
    """({register: :class:`Cone`}, shared area) of a mapped netlist's text. ``areas``: the
    liberty's cell areas (:func:`models.synth.liberty_areas`); a flop is a cell whose type starts
    with ``flop_prefix``. Shared area: cells in more than one register's cone."""
    cells = _cells(netlist, areas)
    driver = {}
    for i, (_, pins) in enumerate(cells):
        for pin in OUTPUT_PINS:
            if pin in pins:
                driver[pins[pin]] = i
    is_flop = [typ.startswith(flop_prefix) for typ, _ in cells]
    members, flops = defaultdict(set), defaultdict(int)
    for i, (typ, pins) in enumerate(cells):
        if not is_flop[i]:
            continue
        name = register_name(pins["Q"])
        flops[name] += 1
        seen, stack = members[name], [pins["D"]]
        while stack:
            j = driver.get(stack.pop())
            if j is None or j in seen or is_flop[j]:
                continue
            seen.add(j)
            stack.extend(net for pin, net in cells[j][1].items() if pin not in OUTPUT_PINS)
    owners = defaultdict(int)
    for seen in members.values():
        for j in seen:
            owners[j] += 1
    flop_area = {name: 0.0 for name in flops}
    for typ, pins in cells:
        if typ.startswith(flop_prefix):
            flop_area[register_name(pins["Q"])] += areas[typ]
    cones = {name: Cone(flops[name], flop_area[name], len(members[name]),
                        sum(areas[cells[j][0]] for j in members[name])) for name in sorted(flops)}
    shared = sum(areas[cells[j][0]] for j, n in owners.items() if n > 1)
    return cones, shared


def gate_cones(design, flop_marker="DFF", prefer=None):
    """{register: (flops, gates)} of a Yosys JSON netlist (``write_json``) of one flattened
    module before technology mapping: per register (its flops' ``Q`` net names without the bit
    index, as :func:`register_cones`) how many flops it keeps and how many cells its flops'
    fan-in cone holds (walking back from each ``D`` through non-flop cells, stopping at flops and
    ports). A flop is a cell whose type contains ``flop_marker`` (Yosys's ``$_SDFFE_PP0P_`` and
    the liberty's ``DFFPOSX1`` alike). A flattened net has several names (``acc_in$37`` and
    ``pe_0_0.acc_out``): ``prefer`` (a compiled regex) picks the first that it matches in full
    (without the bit index), else the first name is taken. Why gates, not area: before ABC the
    cells are Yosys's one-gate primitives, so their count shows whether two copies of the same
    word-level logic reach ABC as the same gate netlist (issue 14's ANT arrays: they do not)."""
    module = next(iter(design["modules"].values()))
    names = defaultdict(list)
    for name, net in module["netnames"].items():
        if net.get("hide_name"):
            continue
        for bit in net["bits"]:
            if isinstance(bit, int):
                names[bit].append(register_name(name))

    def name_of(bit):
        found = names.get(bit) or ["?"]
        return next((n for n in found if prefer is not None and prefer.fullmatch(n)), found[0])
    cells = list(module["cells"].values())
    is_flop = [flop_marker in c["type"] for c in cells]
    driver = {}
    for i, cell in enumerate(cells):
        # a liberty flop is a black box in the JSON: no port directions, its output is Q
        directions = cell.get("port_directions") or {"Q": "output"}
        for port, direction in directions.items():
            if direction == "output":
                for bit in cell["connections"][port]:
                    driver[bit] = i
    members, flops = defaultdict(set), defaultdict(int)
    for i, cell in enumerate(cells):
        if not is_flop[i]:
            continue
        name = name_of(cell["connections"]["Q"][0])
        flops[name] += 1
        seen, stack = members[name], list(cell["connections"]["D"])
        while stack:
            j = driver.get(stack.pop())
            if j is None or j in seen or is_flop[j]:
                continue
            seen.add(j)
            stack.extend(bit for port, direction in cells[j]["port_directions"].items()
                         if direction == "input" for bit in cells[j]["connections"][port])
    return {name: (flops[name], len(members[name])) for name in sorted(flops)}
