"""Primitive costs: area, energy and flops of the word-level building blocks every inventory counts.

One technology: every primitive is the OSU 0.18 um standard-cell implementation Yosys + ABC make of
it, measured by ``pearray characterise`` (:mod:`models.characterise`) and stored in
``models/data/primitives_osu018.json`` with its provenance. :func:`primitive` takes the measured
point at exactly those widths when the table has it (every width the registered designs use is
measured) and the family's least-squares fit otherwise, then brings it to 45 nm with Stillmaker &
Baas (area x 1/19; energy by the ratio of their fits, 180 nm 1.8 V -> 45 nm 0.9 V: :mod:`models.tech`);
:mod:`models.cost` scales 45 nm to the node.

* area: the mapped cells' liberty areas;
* energy per operation (``energy_pj``): OpenSTA's dynamic energy of the mapped primitive with its
  data inputs toggling ``activity`` times per operation (:func:`sta_energy`: active minus idle;
  OpenSTA propagates the input activity through the cells), the same figure the PE-level
  OpenSTA power is checked against (``bench/bench_energy_vs_sta.py``);
* idle energy per clock cycle (``idle_pj``): OpenSTA's energy with constant data inputs, paid
  every cycle whether the primitive acts or not: its flops' clock (the RTL has no clock gating)
  and the cells' leakage at the characterisation clock (:data:`models.characterise.STA_CLOCK_MHZ`;
  osu018 leakage is ~1e-5 of the clock energy, so the clock used does not matter);
* flops: the mapped flip-flops.

Families (widths): ``add`` / ``sub`` (w), ``mult`` / ``smult`` (a, b: unsigned / signed),
``mac`` (a, b, c: fused ``c + a * b``), ``tmult`` (a, b, w: ``a * b`` truncated to w bits, b an
unsigned digit), ``horner`` (a, b, w: ``(c << b) + a * b`` in w bits), ``csa`` (b, w: a multi-operand sum of b input
bits into w bits, one carry-save tree), ``reg`` (w: synchronous reset), ``reg_en`` (w: reset and
load enable), ``mux`` (n, w), ``shift`` (w, amount bits), ``shiftn`` (a, amount bits, w: an a-bit
value shifted into w bits), ``neg`` (a, w: an a-bit value negated into w bits), ``addn`` (w, b: a w-bit plus a
sign-extended b-bit operand), ``eq`` / ``lt`` (w), ``eqc`` (w:
compare with a constant), ``and`` (w), ``rom`` (n, w: constant lookup), ``table`` (k, w, content:
a design's own decode table, :func:`models.inventory.table_items`), ``lead1`` (w: leading-one
position), ``addsubn`` (w, b: ``a + b`` and ``a - b``), ``cneg`` / ``cnegadd`` / ``scnegadd``
(a, w: ``[c +] (s ? -x : x)``, x unsigned / signed), ``buftree`` (bits, fanout: a broadcast
wire's buffer trees, liberty figures recorded in :mod:`models.tech`, :mod:`models.buffer_tree`; not characterised). :func:`sta_energy` gives the OpenSTA
energies of the same primitives (per cycle, at a given input toggle rate). :func:`horowitz` gives Horowitz's 45 nm add / multiply figures as an independent
cross-check (not an input to the model).

SRAM: area = bits x the 45 nm 6T cell (bit cells only, periphery not modelled: a lower bound);
access energy per 64 bits by capacity, log-log interpolated between Horowitz's 8 KB / 32 KB / 1 MB
points, the 8 KB figure below 8 KB and the 32 KB-1 MB slope above 1 MB.
"""

import functools
import math
from typing import NamedTuple

from . import characterise, primitive_energy_sim
from .buffer_tree import BUFFER_CELL, tree_buffers
from .tech import UnknownComponentError, value as tv


#: where the primitives' energies come from: "sta" (the default) OpenSTA's propagated densities
#: (:mod:`models.characterise`), "sim" zero-delay simulated toggles at OpenSTA's pricing
#: (:mod:`models.characterise_sim`, :mod:`models.primitive_energy_sim`)
BASES = ("sta", "sim")


class Prim(NamedTuple):
    area_um2: float       # 45 nm
    energy_pj: float      # 45 nm, OpenSTA dynamic energy per operation / evaluation / register load
    flop_bits: int        # flops
    idle_pj: float = 0.0  # 45 nm, OpenSTA energy per clock cycle with constant inputs (clock, leakage)


@functools.lru_cache(maxsize=1)
def _points():
    table = characterise.load_table()
    if table is None:
        raise UnknownComponentError(f"no primitive table {characterise.TABLE_PATH}; "
                                    f"run `pearray characterise`")
    return table, {(p["family"], tuple(p["widths"])): p for p in table["points"]}


def measured(name, widths):
    """The table's point for ``name`` at exactly ``widths`` (180 nm figures), or None."""
    return _points()[1].get((name, tuple(widths)))


@functools.lru_cache(maxsize=4096)
def primitive(name, *widths, activity=0.5, basis="sta"):
    """45 nm area, energy per use and flop count of one primitive (see the module docstring);
    ``basis`` (:data:`BASES`) picks the energy table."""
    if basis not in BASES:
        raise ValueError(f"unknown energy basis {basis!r}; one of {', '.join(BASES)}")
    if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"primitive {name!r} widths must be positive integers, not {widths}")
    if name == "buftree" and len(widths) == 2:
        return _buffer_tree(*widths, activity=activity)
    table, points = _points()
    try:
        if name not in table["families"]:
            raise ValueError(name)
        characterise.verilog(name, widths)      # the family takes this many widths
    except ValueError:
        raise UnknownComponentError(f"unknown cost primitive {name!r} with widths {widths}") from None
    point = points.get((name, widths))
    if point is not None:
        area, flops = point["area_um2"], point["flops"]
    else:
        area = characterise.fitted(table, name, widths, "area_um2")
        flops = widths[0] if name in ("reg", "reg_en") else 0
    active, idle = (sta_energy if basis == "sta" else sim_energy)(name, *widths, activity=activity)
    # a fitted point's hot figure could fall below its idle one: no negative energy
    return Prim(area * tv("scale.area.180_to_45"), max(0.0, active - idle), flops, idle)


def _buffer_tree(bits, fan, activity):
    """``buftree`` (bits, fanout): a ``fan``-way broadcast of ``bits`` wires, one buffer tree per
    bit (:mod:`models.buffer_tree`: the liberty's cell area and toggle energy as
    :mod:`models.tech` records them; every buffer of a bit's tree toggles with the bit). Not in
    the characterised table: Yosys inserts no buffers."""
    n = bits * tree_buffers(fan)
    return Prim(n * tv(f"osu018.{BUFFER_CELL}.area") * tv("scale.area.180_to_45"),
                activity * n * tv(f"osu018.{BUFFER_CELL}.toggle_energy")
                * tv("scale.energy.180_1v8_to_45_0v9"), 0)


@functools.lru_cache(maxsize=4096)
def sta_energy(name, *widths, activity=0.5):
    """45 nm (active, idle) pJ per clock cycle of one primitive as OpenSTA computes it
    (:func:`models.characterise.sta_energies`): ``active`` with its data inputs toggling
    ``activity`` times per cycle (linear between the measured constant-input and
    ``STA_ACTIVITY`` points: OpenSTA's transition densities scale with the inputs'), ``idle``
    with them constant (a flop's clock energy and leakage: paid every cycle)."""
    table, points = _points()
    if name not in table["families"]:
        raise UnknownComponentError(f"unknown cost primitive {name!r} with widths {widths}")
    point = points.get((name, widths))
    if point is not None and "energy_sta_pj" in point:
        hot, idle = point["energy_sta_pj"], point["energy_sta_idle_pj"]
    else:
        hot = characterise.fitted(table, name, widths, "energy_sta_pj")
        idle = characterise.fitted(table, name, widths, "energy_sta_idle_pj")
    scale = tv("scale.energy.180_1v8_to_45_0v9")
    return (idle + (hot - idle) * activity / characterise.STA_ACTIVITY) * scale, idle * scale


@functools.lru_cache(maxsize=4096)
def sim_energy(name, *widths, activity=0.5):
    """:func:`sta_energy` on the simulated-toggle basis (:mod:`models.primitive_energy_sim`): the
    same interpolation in the activity and the same scaling to 45 nm, the table's figures from
    simulated toggles at OpenSTA 2.0.17's pricing."""
    hot, idle = primitive_energy_sim.energies(name, widths)
    scale = tv("scale.energy.180_1v8_to_45_0v9")
    return (idle + (hot - idle) * activity / characterise.STA_ACTIVITY) * scale, idle * scale


def horowitz(name, *widths):
    """Horowitz's 45 nm (area um^2, energy pJ) of an ``add`` (w: linear through his int8 and
    int32 adds) or a ``mult`` / ``smult`` (a x b: power law in a*b through his int8 and int32
    multiplies); None for other primitives. A cross-check, not a model input."""
    def linear(w, what):
        lo, hi = tv(f"horowitz.int8_add.{what}"), tv(f"horowitz.int32_add.{what}")
        return lo + (hi - lo) * (w - 8) / 24

    def power(p, what):
        lo, hi = tv(f"horowitz.int8_mult.{what}"), tv(f"horowitz.int32_mult.{what}")
        return lo * (p / 64) ** (math.log(hi / lo) / math.log(1024 / 64))

    if name in ("add", "sub") and len(widths) == 1:
        return linear(widths[0], "area"), linear(widths[0], "energy")
    if name in ("mult", "smult") and len(widths) == 2:
        p = widths[0] * widths[1]
        return power(p, "area"), power(p, "energy")
    return None


def sram_energy_64b(nbytes):
    """45 nm pJ per 64-bit access of an SRAM of ``nbytes`` (Horowitz points, log-log)."""
    points = [(8 * 1024, tv("horowitz.sram_8kb.read_64b")), (32 * 1024, tv("horowitz.sram_32kb.read_64b")),
              (1024 * 1024, tv("horowitz.sram_1mb.read_64b"))]
    if nbytes <= points[0][0]:
        return points[0][1]
    for (s0, e0), (s1, e1) in zip(points, points[1:]):
        if nbytes <= s1:
            break
    slope = math.log(e1 / e0) / math.log(s1 / s0)
    return e0 * (nbytes / s0) ** slope


def sram_bitcell_area():
    """45 nm area of one SRAM bit cell (6T; periphery not modelled)."""
    return tv("sram.bitcell.area")
