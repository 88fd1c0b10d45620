"""Zero-delay gate-level toggles of a mapped netlist on a PE's real port stream.

OpenSTA's power figure rests on its vectorless propagation of the input ports' densities
(README "Energy": duty-weighted sums per gate, no bound at 1 toggle/cycle). This module is the
check against the hardware's own switching: it simulates the Yosys-mapped netlist cycle by cycle
on the same operand stream :func:`models.activity.unit_activity` measures (MiniLM L0 FFN1 through
the kind's quantisers, the bottom PE of a weight-stationary column), every cell evaluated from its
Liberty ``function`` and every ``DFFPOSX1`` loading its D on the clock edge, and counts each net's
value changes per cycle. Zero delay: functional toggles only, no glitches (a lower bound of the
real switching). A diagnostic, not an input of the cost model.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from . import activity, synth
from .registry import get_kind
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


def _instances(netlist):
    for typ, pins in re.findall(r"^\s*([A-Z]\w*)\s+\S+\s*\(([^;]*?)\);", netlist, re.M | re.S):
        yield typ, {p: s.replace(" ", "") for p, s in re.findall(r"\.(\w+)\(\s*([^)]*?)\s*\)", pins)}


def simulate(netlist, stream):
    """{net: value changes per cycle} of every net a cell drives in ``netlist`` (one mapped
    module, flops ``DFFPOSX1`` on one clock, reset 0 unless streamed) over ``stream`` ({input port
    bit: [0/1 per cycle]}, every list as long; bits not named stay 0). Flops start at 0."""
    funcs = cell_functions()
    alias = {a.replace(" ", ""): b.replace(" ", "")
             for a, b in re.findall(r"^\s*assign\s+(.+?)\s*=\s*(.+?)\s*;", netlist, re.M)}
    comb, flops = [], []
    for typ, conns in _instances(netlist):
        if typ == FLOP:
            flops.append((conns["D"], conns["Q"]))
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
    cycles = len(next(iter(stream.values()))) if stream else 0
    value = {"1'h0": 0, "1'h1": 1, **{q: 0 for _, q in flops}}
    nets = [comb[i][0] for i in order] + [q for _, q in flops]
    bits = input_bits(netlist)
    changes, previous = np.zeros(len(nets)), None
    for c in range(cycles):
        for b in bits:
            value[b] = stream[b][c] if b in stream else 0
        for i in order:
            out, code, pins = comb[i]
            value[out] = eval(code, {}, {p: value.get(s, 0) for p, s in pins.items()}) & 1   # noqa: S307
        now = np.array([value[n] for n in nets])
        if previous is not None:
            changes += now != previous
        previous = now
        # the clock edge: every flop loads at once (one flop's D may be another's Q)
        value.update([(q, value.get(alias.get(d, d), 0)) for d, q in flops])
    return dict(zip(nets, changes / max(1, cycles - 1)))


def pe_stream(pe, pe_options=(), source="minilm", *, m=32, folds=16, rows=4):
    """{PE input port bit: [0/1 per cycle]} of the bottom PE of the column run that
    :func:`models.activity.unit_activity` measures (its steps repeated: it returns only rates)."""
    pe_options = tuple(sorted(dict(pe_options).items()))
    kind = get_kind(pe)
    proto = kind.prototype(**dict(pe_options))
    dataflow = kind.dataflows[0]
    rows = 1 if dataflow == "os" else rows
    block = rows * proto.k_per_step
    k = activity._round_up(activity._round_up(max(128, block * folds), 128), block)
    whole = math.lcm(128, block)
    k = min(k, max(whole, activity.MINILM.hidden // whole * whole))
    n = -(-folds // (k // block)) if dataflow == "ws" else folds
    acts, weights, table = activity._codes(pe, pe_options, source, m, k, n)
    tokens = activity._schedule(proto, acts, weights, rows, dataflow, m, folds)
    ports = activity._simulate_pe(kind, pe_options, rows, dataflow, tokens, table)
    stream = {}
    for port, (values, width) in ports.items():
        if port == "acc_out":              # an output: the simulation computes it
            continue
        for i in range(width):
            stream[f"{port}[{i}]" if width > 1 else port] = [(int(v) >> i) & 1 for v in values]
    return stream
