"""Zero-delay gate-level toggles of a mapped netlist on a PE's real port stream.

OpenSTA's power figure rests on its vectorless propagation of the input ports' densities
(docs/cost-model.md "How OpenSTA propagates activity": duty-weighted sums per gate, no bound at 1
toggle/cycle). This module is the check against the hardware's own switching: it simulates the
Yosys-mapped netlist cycle by cycle on the same operand
stream :func:`models.activity.unit_activity` measures (MiniLM L0 FFN1 through
the kind's quantisers, the bottom PE of a weight-stationary column), every cell evaluated from its
Liberty ``function`` and every ``DFFPOSX1`` loading its D on the clock edge, and counts each net's
value changes per cycle. Zero delay: functional toggles only, no glitches (a lower bound of the
real switching). Of the default cost model (``basis="sta"``) a diagnostic, not an input; its
``basis="sim"`` characterises every primitive with :func:`simulate_lanes` (many independent
random streams at once, bit-parallel: :mod:`models.characterise_sim`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from . import activity, synth
from .sta import input_bits

FLOP = "DFFPOSX1"


@functools.lru_cache(maxsize=1)
def cell_functions():
    """{cell: (output pin, Python expression of its inputs)} from the liberty's ``function``s
    (``!`` not, juxtaposition and, ``+`` or, ``^`` xor)."""
    funcs = {}
    for cell in synth.load_liberty().find("cell"):
        for pin in cell.find("pin"):
            f = pin.attrs.get("function")
            if f and pin.attrs.get("direction") == "output":
                expr = f.strip('"').replace("!", "~").replace("+", "|")
                expr = re.sub(r"(?<=[\w)])\s+(?=[\w(~])", "&", expr.strip())
                funcs[cell.args[0]] = (pin.args[0], compile(expr, cell.args[0], "eval"))
    return funcs


def net_name(text):
    """A netlist's net reference as the port bits are named (``act[3]``): spaces removed and an
    escaped identifier unescaped. Verilog's ``\\table [8]`` is the same identifier as ``table[8]``;
    Yosys escapes a port named by a keyword (GOBO's ``table``), so without this its cells read
    a net no stream bit drives and the simulation holds the port at 0."""
    return text.replace(" ", "").lstrip("\\")


def instances(netlist):
    """(cell type, {pin: net}) of every cell instance in a Yosys-mapped netlist."""
    for typ, _, conns in named_instances(netlist):
        yield typ, conns


def named_instances(netlist):
    """(cell type, instance name, {pin: net}) of every cell instance in a Yosys-mapped netlist,
    the name unescaped as :func:`net_name` does (a flattened copy's cells: ``pe_0_1._123_``)."""
    for typ, name, pins in re.findall(r"^\s*([A-Z]\w*)\s+(\S+)\s*\(([^;]*?)\);", netlist, re.M | re.S):
        yield typ, net_name(name), {p: net_name(s) for p, s in re.findall(r"\.(\w+)\(\s*([^)]*?)\s*\)", pins)}


_DECLARATION = re.compile(r"^\s*(?:wire|input|output|reg)\s+(?:\[(\d+):(\d+)\]\s*)?(\\?\S+)\s*;", re.M)
_CONSTANT = re.compile(r"(\d+)'([bhd])([0-9a-fA-FxXzZ]+)")
_SLICE = re.compile(r"(.+)\[(\d+)(?::(\d+))?\]")


def _vectors(netlist):
    """{net: (msb, lsb)} of a netlist's declared vectors (scalars left out)."""
    return {net_name(name): (int(msb), int(lsb))
            for msb, lsb, name in _DECLARATION.findall(netlist) if msb}


def _bits(expr, vectors):
    """The bit nets of a Verilog expression of a mapped netlist's ``assign`` (a net, a slice or
    bit of one, a sized constant, or a concatenation of those), most significant first; constant
    bits as ``1'h0`` / ``1'h1``."""
    expr = expr.strip()
    if expr.startswith("{"):
        return [b for part in expr[1:-1].split(",") for b in _bits(part, vectors)]
    constant = _CONSTANT.fullmatch(expr.replace(" ", ""))
    if constant:
        width, base, digits = int(constant[1]), constant[2], constant[3]
        if set(digits) & set("xXzZ"):     # undefined (an unused net): no cell drives it, read as 0
            return ["1'hx"] * width
        value = int(digits, {"b": 2, "h": 16, "d": 10}[base])
        return [f"1'h{(value >> i) & 1}" for i in reversed(range(width))]
    name = net_name(expr)
    sliced = _SLICE.fullmatch(name)
    if sliced and sliced[1] in vectors:
        msb, lsb = int(sliced[2]), int(sliced[3] if sliced[3] is not None else sliced[2])
        return [f"{sliced[1]}[{i}]" for i in range(msb, lsb - 1, -1)]
    if name in vectors:
        msb, lsb = vectors[name]
        return [f"{name}[{i}]" for i in range(msb, lsb - 1, -1)]
    return [name]


def aliases(netlist):
    """{net bit: the net bit it is assigned from} of a mapped netlist's ``assign`` statements,
    vectors and concatenations taken bit by bit (Yosys assigns an array's output word and the
    sign-extended sums between its PEs as concatenations; read as one name, the cells reading
    their bits would read nets nothing drives) and chains followed to their source."""
    vectors = _vectors(netlist)
    alias = {}
    for lhs, rhs in re.findall(r"^\s*assign\s+(.+?)\s*=\s*(.+?)\s*;", netlist, re.M | re.S):
        left, right = _bits(lhs, vectors), _bits(rhs, vectors)
        if len(left) != len(right):
            raise ValueError(f"assign of {len(right)} bits to {len(left)}: {lhs.strip()}")
        alias.update(zip(left, right))
    for net in alias:
        seen = {net}
        while alias[net] in alias and alias[net] not in seen:   # a chain: to its source
            seen.add(alias[net])
            alias[net] = alias[alias[net]]
    return alias


@dataclass(frozen=True)
class Circuit:
    """A mapped netlist ready to evaluate: combinational cells in topological order (output net,
    compiled Liberty function, {input pin: net}), flops (D net, Q net), the nets whose toggles are
    counted (cell outputs, then flop outputs) and the input port bits."""
    comb: tuple
    flops: tuple
    nets: tuple
    bits: tuple


def compile_netlist(netlist):
    """:class:`Circuit` of ``netlist`` (one mapped module, flops ``DFFPOSX1`` on one clock)."""
    funcs = cell_functions()
    alias = aliases(netlist)
    comb, flops = [], []
    for typ, conns in instances(netlist):
        if typ == FLOP:
            flops.append((alias.get(conns["D"], conns["D"]), conns["Q"]))
            continue
        if typ not in funcs:
            raise ValueError(f"no Liberty function for cell {typ}")
        out, code = funcs[typ]
        comb.append((conns[out], code, {p: alias.get(s, s) for p, s in conns.items() if p != out}))
    driver = {out: i for i, (out, _, _) in enumerate(comb)}
    order, done = [], set()
    for root in range(len(comb)):          # depth-first topological order, iterative
        stack = [(root, False)]
        while stack:
            i, expanded = stack.pop()
            if i in done:
                continue
            if expanded:
                done.add(i)
                order.append(i)
                continue
            stack.append((i, True))
            stack.extend((driver[s], False) for s in comb[i][2].values() if s in driver and driver[s] not in done)
    comb = tuple(comb[i] for i in order)
    return Circuit(comb, tuple(flops), tuple([c[0] for c in comb] + [q for _, q in flops]),
                   tuple(input_bits(netlist)))


def _changes(circuit, stream, cycles, lanes, warmup=0, watch=()):
    """Value changes of every net of ``circuit.nets`` summed over the cycle pairs after the first
    ``warmup`` cycles and over ``lanes`` independent lanes (a value is a ``lanes``-bit vector,
    bit l its value in lane l), the number of cycle pairs counted, and {net: [value per cycle]}
    of the nets in ``watch`` over every cycle (read before the cycle's clock edge)."""
    mask = (1 << lanes) - 1
    value = {"1'h0": 0, "1'h1": mask, **{q: 0 for _, q in circuit.flops}}
    changes, previous = [0] * len(circuit.nets), None
    traces = {n: [] for n in watch}
    for c in range(cycles):
        for b in circuit.bits:
            value[b] = stream[b][c] if b in stream else 0
        for net, code, pins in circuit.comb:
            value[net] = eval(code, {}, {p: value.get(s, 0) for p, s in pins.items()}) & mask   # noqa: S307
        for n, trace in traces.items():
            trace.append(value.get(n, 0))
        if c >= warmup:
            now = [value[n] for n in circuit.nets]
            if previous is not None:
                changes = [t + (x ^ y).bit_count() for t, x, y in zip(changes, now, previous)]
            previous = now
        # the clock edge: every flop loads at once (one flop's D may be another's Q)
        value.update([(q, value.get(d, 0)) for d, q in circuit.flops])
    return changes, max(0, cycles - warmup - 1), traces


def simulate(netlist, stream):
    """{net: value changes per cycle} of every net a cell drives in ``netlist`` (one mapped
    module, flops ``DFFPOSX1`` on one clock, reset 0 unless streamed) over ``stream`` ({input port
    bit: [0/1 per cycle]}, every list as long; bits not named stay 0). Flops start at 0."""
    return simulate_lanes(netlist, stream, 1)


def simulate_lanes(netlist, stream, lanes, warmup=0):
    """:func:`simulate` of ``lanes`` independent streams at once (bit-parallel: a net's value is a
    ``lanes``-bit integer, bit l its value in lane l). ``stream``: {input port bit: [int per
    cycle]}, bit l of each int the port bit's value in lane l. Returns {net: value changes per
    cycle}, the mean over the lanes and over the cycle pairs after the first ``warmup`` cycles
    (flops start at 0 in every lane: the warm-up lets them reach the stream's state); with
    ``warmup`` 0, exactly the mean of :func:`simulate` over the lanes."""
    circuit = compile_netlist(netlist)
    cycles = len(next(iter(stream.values()))) if stream else 0
    changes, pairs, _ = _changes(circuit, stream, cycles, lanes, warmup)
    return {n: c / (max(1, pairs) * lanes) for n, c in zip(circuit.nets, changes)}


def simulate_trace(netlist, stream, watch, warmup=0):
    """:func:`simulate` after the first ``warmup`` cycles, and the values of the netlist's port
    bits ``watch`` (e.g. its outputs, ``out[3]``) in every cycle: ({net: value changes per
    cycle}, {bit: [0/1 per cycle]}). A bit the netlist assigns from another net (or a constant)
    is read there."""
    circuit = compile_netlist(netlist)
    alias = aliases(netlist)
    cycles = len(next(iter(stream.values()))) if stream else 0
    changes, pairs, traces = _changes(circuit, stream, cycles, 1, warmup,
                                      tuple({alias.get(b, b) for b in watch}))
    return ({n: c / max(1, pairs) for n, c in zip(circuit.nets, changes)},
            {b: traces[alias.get(b, b)] for b in watch})


def port_stream(ports, skip=()):
    """{input port bit: [0/1 per cycle]} of ``ports`` ({port: (values per cycle, width)}), bits
    named as the mapped netlist's (``act[3]``; a 1-bit port by its name); ports in ``skip`` left
    out (outputs: the simulation computes them)."""
    stream = {}
    for port, (values, width) in ports.items():
        if port in skip:
            continue
        for i in range(width):
            stream[f"{port}[{i}]" if width > 1 else port] = [(int(v) >> i) & 1 for v in values]
    return stream


def pe_stream(pe, pe_options=(), source="minilm", *, m=32, folds=16, rows=4):
    """{PE input port bit: [0/1 per cycle]} of the bottom PE of the column run that
    :func:`models.activity.unit_activity` measures (:func:`models.activity.pe_ports`: its steps
    repeated, as the RTL simulation saw them)."""
    ports, _ = activity.pe_ports(pe, pe_options, source, m=m, folds=folds, rows=rows)
    return port_stream(ports, skip=activity.OUTPUT_PORTS)
