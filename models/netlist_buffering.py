"""Fan-out buffer trees inserted into a Yosys-mapped netlist, as layout would, for timing a top.

Why: Yosys + ABC map for area and insert no buffers (:mod:`models.fanout`), so OpenSTA times a net
with its whole load on one minimum-size driver. A unit (PE, border unit, post-array unit) has
small fan-outs, but the accelerator top (:func:`models.synth.accelerator_verilog`) has nets that
drive hundreds of pins: in the MixPE (``shiftadd``, W4A8 g128) 4x4 top the parameter buffer's
word write enable (``host_we & host_sel == 3 & ~busy & host_addr == i``, one NOR2X1) drives the
384 select pins of a 192-bit word (two per flop: NAND2 + OAI21), 5.9 pF: 53 ns of the top's 66 ns
critical path from ``busy``, with five gates of logic. A layout tool buffers such a net; timed
unbuffered, a top's Fmax measures its widest word, not its logic.

The transform (:func:`buffer_fanout`): every net that drives more than ``k`` cell input pins
(``k`` = :data:`models.buffer_tree.STAGE_FANOUT`; clock pins left out: the clock is ideal) gets the
tree :mod:`models.buffer_tree` counts: its sinks in groups of ``k``, each group driven by a new
:data:`~models.buffer_tree.BUFFER_CELL`, those buffers in groups of ``k`` the same way, until at most
``k`` remain, which the original net drives; a net of ``f`` sinks gets
:func:`~models.buffer_tree.tree_buffers` ``(f)`` buffers in :func:`~models.buffer_tree.tree_levels`
``(f)`` levels. Output-port connections stay on the original net (no load: the constraints put
none on outputs). Buffers are identities, so the logic is unchanged; the area is not the
synthesised area (the report's area stays the unbuffered netlist's). Not sized: every buffer is
the one cell, every original gate keeps its size, so a path is still slower than a timing-driven
layout would make it; and every net over ``k`` pins gets its tree, as :mod:`models.buffer_tree`
counts, even where the bare net is faster (16 flop inputs: 0.33 ns buffered, 0.29 ns bare), so
small nets are a little pessimistic.

Measured (osu018, ideal clock, the 4x4 tops of ``pearray synth --accelerator``; Fmax unbuffered
-> buffered): MixPE 15.1 -> 95.6 MHz (then the dequantiser's own multiply stages; its post-array
unit alone, buffered: 93.9 MHz), BitMoD g128 27.9 -> 158.2 MHz (the array), W4A16 INT4 g128
23.6 -> 106.8 MHz (the array), GOBO (os) 23.3 -> 51.0 MHz (the PE). Before the grouped writer
registered the group sum (:meth:`hw.accelerator.Accelerator._writer_ws_groups`), W4A16's buffered
top was 101.4 MHz: the sum's add in front of the dequantiser's first stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import synth
from .buffer_tree import BUFFER_CELL, STAGE_FANOUT
from .sta import NOMINAL_PERIOD_NS, run_sta

#: a cell instance of ``write_verilog -noattr -simple-lhs``: ``CELL name ( .P(net), ... );``
_INSTANCE = re.compile(r"^(\s*)([A-Za-z_]\w*)\s+(\\?\S+)\s*\((.*?)\);", re.M | re.S)
#: one pin connection; an escaped net name (``\a.b `` or ``\mem[0] [3]``) ends at white space
_PIN = re.compile(r"\.(\w+)\(\s*(.*?)\s*\)\s*(?=,|$)", re.S)


@dataclass(frozen=True)
class BufferedNetlist:
    """A netlist with its fan-out trees: the text, the buffers added and the nets that got one
    (with their sink counts before buffering)."""
    text: str
    buffers: int
    fanouts: tuple   # ((net, sinks), ...) of every buffered net, widest first

    @property
    def widest(self):
        """(net, sinks) of the widest net buffered, or None."""
        return self.fanouts[0] if self.fanouts else None


def cell_output_pins(liberty=None):
    """{cell: frozenset of its output pin names} read from the liberty (``direction : output``)."""
    lib = synth.load_liberty(str(liberty or synth.liberty_path()))
    return {cell.args[0]: frozenset(p.args[0] for p in cell.find("pin") if p.attrs.get("direction") == "output")
            for cell in lib.find("cell")}


def _net_text(net):
    # an escaped identifier needs white space after it, or ")" becomes part of its name
    return net + " " if net.startswith("\\") and not re.search(r"\s", net) else net


def buffer_fanout(netlist, outputs, k=STAGE_FANOUT, cell=BUFFER_CELL, clock_pins=("CLK",)):
    """``netlist`` (gate-level Verilog text of one module, as :mod:`models.synth` writes it) with a
    ``cell`` tree on every net driving more than ``k`` cell input pins (module docstring).
    ``outputs``: {cell: output pin names} (:func:`cell_output_pins`); ``clock_pins``: pins never
    counted as loads. Returns a :class:`BufferedNetlist`."""
    if k < 2:
        raise ValueError(f"a tree stage drives at least 2 pins, not {k}")
    instances, loads = [], {}
    for found in _INSTANCE.finditer(netlist):
        kind = found[2]
        if kind not in outputs:
            continue   # a declaration (wire, input, assign ...), not a cell
        pins = _PIN.findall(found[4])
        instances.append((found, pins))
        for j, (pin, net) in enumerate(pins):
            if pin in outputs[kind] or pin in clock_pins or re.match(r"\d+'", net):
                continue
            loads.setdefault(net, []).append((len(instances) - 1, j))
    wide = sorted(((net, sinks) for net, sinks in loads.items() if len(sinks) > k),
                  key=lambda item: (-len(item[1]), item[0]))
    if not wide:
        return BufferedNetlist(netlist, 0, ())
    added = []   # [input net, output net] per buffer
    for net, sinks in wide:
        nodes = [("pin", s) for s in sinks]
        while len(nodes) > k:
            level = []
            for start in range(0, len(nodes), k):
                out = f"_fobuf{len(added)}_"
                added.append([None, out])
                for what, ref in nodes[start:start + k]:
                    if what == "pin":
                        i, j = ref
                        instances[i][1][j] = (instances[i][1][j][0], out)
                    else:
                        added[ref][0] = out
                level.append(("buffer", len(added) - 1))
            nodes = level
        for what, ref in nodes:
            if what == "buffer":
                added[ref][0] = net
    parts, pos = [], 0
    for found, pins in instances:
        parts.append(netlist[pos:found.start()])
        parts.append(f"{found[1]}{found[2]} {found[3]} ( "
                     + ", ".join(f".{pin}({_net_text(net)})" for pin, net in pins) + " );")
        pos = found.end()
    rest = netlist[pos:]
    end = rest.rfind("endmodule")
    if end < 0:
        raise ValueError("netlist has no endmodule")
    extra = ("".join(f"  wire {out};\n" for _, out in added)
             + "".join(f"  {cell} _fobufc{i}_ ( .A({_net_text(src)}), .Y({out}) );\n"
                       for i, (src, out) in enumerate(added)))
    text = "".join(parts) + rest[:end] + extra + rest[end:]
    return BufferedNetlist(text, len(added), tuple((net, len(sinks)) for net, sinks in wide))


def buffered_timing(result, clock_mhz=1000.0 / NOMINAL_PERIOD_NS, cache=True):
    """(:class:`BufferedNetlist`, :class:`models.sta.StaReport`) of a :class:`models.synth.SynthResult`'s
    netlist with its fan-out trees, timed as :func:`models.synth.unit_timing` times a unit (same
    constraints; cached under the synthesis cache like every run)."""
    buffered = buffer_fanout(result.netlist(), cell_output_pins())
    report = run_sta(buffered.text, result.top, synth.liberty_path(), clock_mhz=clock_mhz,
                     cache_dir=synth.cache_root() if cache else None)
    return buffered, report


def netlist_loads(netlist, outputs, clock_pins=("CLK",)):
    """{net: cell input pins it drives} of a netlist (the count :func:`buffer_fanout` reads)."""
    counts = {}
    for found in _INSTANCE.finditer(netlist):
        kind = found[2]
        if kind not in outputs:
            continue
        for pin, net in _PIN.findall(found[4]):
            if pin not in outputs[kind] and pin not in clock_pins and not re.match(r"\d+'", net):
                counts[net] = counts.get(net, 0) + 1
    return counts

