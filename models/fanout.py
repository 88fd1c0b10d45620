"""The buffer tree a broadcast wire needs, read from the liberty and checked against OpenSTA.

A broadcast tile (:class:`hw.array.SystolicArray` ``tile=``) drives one operand wire per bit to
every PE of the tile. Yosys + ABC map for area and insert no buffers (the mapped arrays have no
BUFX2 / BUFX4 cells, whatever the fan-out), and OpenSTA times the unbuffered net with its whole
load on one driver, so neither the synthesised area nor the unit Fmax shows what layout would add.
:mod:`models.buffer_tree` counts it (one tree per broadcast bit, of ``BUFFER_CELL`` buffers each
driving at most ``STAGE_FANOUT`` pins) from figures :mod:`models.tech` records; this module
derives those figures from the liberty (:func:`derive_buffer_constants`) and builds the trees as
netlists for OpenSTA (:func:`tree_netlist`).

* tree: the tile-boundary flop drives at most ``STAGE_FANOUT`` pins itself; a fan-out ``f`` needs
  ``ceil(log_k f) - 1`` levels of buffers (k = ``STAGE_FANOUT``), the level next to the sinks
  ``ceil(f / k)`` buffers, the next ``ceil(that / k)``, ... (:func:`tree_buffers`);
* area and leakage: the cell's ``area`` / ``cell_leakage_power`` in the liberty;
* energy per toggle: the cell's output internal energy plus one flop-input load
  (:func:`models.characterise.cell_toggle_energy`, the rule every primitive's energy uses);
* delay per level: the cell's ``cell_rise`` / ``cell_fall`` tables (mean of the two) at a load
  of ``STAGE_FANOUT`` of its own input pins and the table's smallest input transition, linearly
  interpolated along the load axis (:func:`level_delay_ns`); the tree adds ``levels`` of them to a
  path that starts at the broadcast operand (``buffer_tree.tree_delay_ns``).

Why k = 4: the fan-out-of-4 stage (logical effort's optimum stage effort is about 4: Sutherland,
Sproull & Harris, *Logical Effort*, 1999, ch. 3); the liberty has no opinion on it. All cell
figures are read from the osu018 liberty (:func:`models.synth.load_liberty`), none typed here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from . import characterise, synth
from .buffer_tree import BUFFER_CELL, STAGE_FANOUT, level_sizes, tree_buffers, tree_delay_ns, tree_levels  # noqa: F401


@dataclass(frozen=True)
class BufferCell:
    """One liberty buffer cell's figures at osu018 (0.18 um, 1.8 V)."""
    name: str
    area_um2: float
    input_pf: float          # pin A capacitance
    max_load_pf: float       # pin Y max_capacitance
    leakage_nw: float
    toggle_energy_pj: float  # per output toggle (characterise.cell_toggle_energy)
    loads_pf: tuple          # the delay tables' load axis (index_1)
    delays_ns: tuple         # mean of cell_rise / cell_fall at the smallest input transition

    def delay_ns(self, load_pf):
        """Propagation delay at ``load_pf``, linear between the table's loads (clamped ends
        extrapolate the nearest segment)."""
        x, y = self.loads_pf, self.delays_ns
        i = max(1, min(len(x) - 1, next((j for j, v in enumerate(x) if v >= load_pf), len(x) - 1)))
        return y[i - 1] + (y[i] - y[i - 1]) * (load_pf - x[i - 1]) / (x[i] - x[i - 1])


def _floats(text):
    return [float(v) for v in text.replace('"', " ").replace(",", " ").split()]


@functools.lru_cache(maxsize=None)
def buffer_cell(name=BUFFER_CELL):
    """:class:`BufferCell` ``name`` read from the liberty (:func:`models.synth.liberty_path`)."""
    lib = synth.load_liberty(str(synth.liberty_path()))
    cell = lib.find("cell", name)
    if not cell:
        raise KeyError(f"liberty has no cell {name}")
    cell = cell[0]
    a, y = synth._pin(cell, "A"), synth._pin(cell, "Y")
    timing = y.find("timing")[0]
    tables = [timing.find(kind)[0] for kind in ("cell_rise", "cell_fall")]
    loads = _floats(" ".join(tables[0].complex["index_1"]))
    # values: one row per load (index_1), one column per input transition (index_2): column 0
    rise, fall = (synth._values(t) for t in tables)
    delays = [(r[0] + f[0]) / 2 for r, f in zip(rise, fall)]
    return BufferCell(name=name, area_um2=float(cell.attrs["area"]),
                      input_pf=float(a.attrs["capacitance"]),
                      max_load_pf=float(y.attrs["max_capacitance"]),
                      leakage_nw=float(cell.attrs["cell_leakage_power"]),
                      toggle_energy_pj=characterise.cell_toggle_energy(lib)[name],
                      loads_pf=tuple(loads), delays_ns=tuple(delays))


def level_delay_ns(k=STAGE_FANOUT, cell=BUFFER_CELL):
    """Delay of one tree level at osu018: the buffer driving ``k`` of its own input pins."""
    c = buffer_cell(cell)
    return c.delay_ns(k * c.input_pf)


def derive_buffer_constants():
    """The ``osu018.BUFX4.*`` figures :mod:`models.tech` records, re-derived from the liberty."""
    c = buffer_cell(BUFFER_CELL)
    return {f"osu018.{c.name}.area": c.area_um2,
            f"osu018.{c.name}.toggle_energy": c.toggle_energy_pj,
            f"osu018.{c.name}.fo4_delay": level_delay_ns(STAGE_FANOUT, c.name)}


def tree_netlist(fanout, buffered=True, k=STAGE_FANOUT, cell=BUFFER_CELL):
    """(gate-level Verilog, top) of one broadcast bit: a source DFFPOSX1 driving ``fanout`` sink
    DFFPOSX1s, through the :func:`tree_levels` levels of ``cell`` buffers (``buffered``) or
    directly. What the tree's delay is checked against with OpenSTA (tests/test_fanout.py)."""
    sizes = level_sizes(fanout, k)
    lines, wires, nets = ["DFFPOSX1 src (.CLK(clk), .D(d), .Q(s));"], ["s"], ["s"]
    for level, count in enumerate(reversed(sizes) if buffered else ()):
        new = [f"b{level}_{i}" for i in range(count)]
        lines += [f"{cell} u{level}_{i} (.A({nets[i * len(nets) // count]}), .Y({w}));"
                  for i, w in enumerate(new)]
        wires += new
        nets = new
    lines += [f"DFFPOSX1 k{j} (.CLK(clk), .D({nets[j * len(nets) // fanout]}), .Q(q[{j}]));"
              for j in range(fanout)]
    top = f"broadcast_{fanout}_{'buf' if buffered else 'wire'}"
    return (f"module {top}(clk, d, q);\ninput clk;\ninput d;\noutput [{fanout - 1}:0] q;\n"
            + "".join(f"wire {w};\n" for w in wires) + "\n".join(lines) + "\nendmodule\n"), top
