"""The Liberty input pin capacitance each data input bit of a primitive presents to its driver.

The sim-basis pin-load rule (:mod:`models.part_loads`) charges a part's input bits driven by
another part with the pins they drive inside the part: per primitive of the primitive table
(:mod:`models.characterise`) and per data input port (``a``, ``b``, ``d``, ``sel``, ...:
:func:`models.characterise.verilog`'s names) the mean, over the port's bits, of the summed osu018
Liberty ``capacitance`` (pF) of the cell input pins each bit drives in the primitive's own mapped
netlist (aliases resolved; the synthesis cache's, as :mod:`models.characterise_sim` reads it), and
the port's bit count. A primitive that maps to no cells has no entry's ports.

Table: ``models/data/primitive_pincap_osu018.json`` (every point of the primitive table, with its
provenance: Yosys version, liberty path and SHA-256, flow, the Liberty's ``nom_voltage`` that
prices a pF-toggle, date, the command), read by :func:`input_capacitance` through
:func:`models.stored_table.load`, so the cost model runs neither Yosys nor the Liberty parser.
Regenerate with ``python -m models.primitive_pincaps`` (reads every point's mapped netlist, a
Yosys run per point on a cold synthesis cache); ``pearray characterise`` rewrites it when it
rewrites the primitive table or this one is not current. :func:`measure` is the fresh read the
table is written from (its tests compare the two).
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import time
from pathlib import Path

from . import characterise, characterise_sim, gate_toggles, sta, synth
from .primitive_outputs import input_ports
from .stored_table import load, stale
from .tech import UnknownComponentError

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_pincap_osu018.json"
GENERATOR = 1
REGENERATE = "python -m models.primitive_pincaps"


@functools.lru_cache(maxsize=1)
def pin_capacitances():
    """{cell: {input pin: pF}} from the osu018 Liberty's ``capacitance`` attributes."""
    return {cell.args[0]: {p.args[0]: float(p.attrs["capacitance"]) for p in cell.find("pin")
                           if p.attrs.get("direction") == "input" and "capacitance" in p.attrs}
            for cell in synth.load_liberty().find("cell")}


def net_pin_capacitance(netlist):
    """{net: pF of the cell input pins it drives} of a mapped netlist (aliases resolved)."""
    caps, alias, load = pin_capacitances(), gate_toggles.aliases(netlist), {}
    for typ, conns in gate_toggles.instances(netlist):
        for pin, cap in caps.get(typ, {}).items():
            if pin in conns:
                net = alias.get(conns[pin], conns[pin])
                load[net] = load.get(net, 0.0) + cap
    return load


def measure(family, widths):
    """({data input port: mean pF per bit}, {port: bits}) read now from one primitive's mapped
    netlist (empty when it maps to no cells)."""
    netlist = characterise_sim.mapped(family, tuple(widths))
    if netlist is None:
        return {}, {}
    load = net_pin_capacitance(netlist)
    bits = characterise.data_input_bits(netlist)
    caps, counts = {}, {}
    for port in input_ports(netlist):
        mine = [b for b in bits if b.split("[")[0] == port]
        counts[port] = len(mine)
        caps[port] = sum(load.get(b, 0.0) for b in mine) / len(mine)
    return caps, counts


def _key(widths):
    return ",".join(map(str, widths))


def provenance():
    prim = characterise.load_table()["provenance"]
    lib = synth.liberty_path()
    return {"what": "per point of models/data/primitives_osu018.json and per data input port: the mean "
                    "over the port's bits of the summed Liberty capacitance (pF) of the cell input pins "
                    "each bit drives in the point's mapped netlist (caps), and the port's bits (bits)",
            "generator": GENERATOR, "yosys": prim.get("yosys"), "liberty": str(lib),
            "liberty_sha256": prim.get("liberty_sha256"), "recipe_version": prim.get("recipe_version"),
            "flow": prim.get("flow"), "nom_voltage": float(synth.load_liberty().attrs["nom_voltage"]),
            "date": datetime.date.today().isoformat(), "regenerate": REGENERATE}


def write_table(path=TABLE_PATH, progress=None):
    """Read every point of the primitive table and write the table to ``path``; returns the number
    of points. The figures are stored as computed (full precision: the model's energies are those
    of the fresh read)."""
    points = sorted({(p["family"], tuple(p["widths"])) for p in characterise.load_table()["points"]})
    out = {}
    for i, (family, widths) in enumerate(points):
        caps, counts = measure(family, widths)
        out.setdefault(family, {})[_key(widths)] = {"caps": caps, "bits": counts}
        if progress:
            progress(i + 1, len(points), family, widths)
    data = {"provenance": provenance(), "points": out}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    load.cache_clear()
    input_capacitance.cache_clear()
    return len(points)


def is_current(path=TABLE_PATH):
    """Whether the table at ``path`` is this generator's, read on the primitive table's Yosys and
    liberty, with every point of the primitive table (else ``pearray characterise`` rewrites it)."""
    try:
        table = json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return False
    have = {(f, k) for f, points in table.get("points", {}).items() for k in points}
    want = {(p["family"], _key(p["widths"])) for p in (characterise.load_table() or {}).get("points", [])}
    return stale(table, GENERATOR) is None and want <= have


def _table():
    return load(str(TABLE_PATH), REGENERATE, GENERATOR)


@functools.lru_cache(maxsize=None)
def input_capacitance(family, widths):
    """({data input port: mean pF per bit}, {port: bits}) of primitive ``family`` at ``widths``
    from the stored table (empty when it maps to no cells); raises
    :class:`models.tech.UnknownComponentError` naming the regenerate command when the table lacks
    the point."""
    entry = _table()["points"].get(family, {}).get(_key(widths))
    if entry is None:
        raise UnknownComponentError(f"no pin capacitances of {family}{tuple(widths)} in {TABLE_PATH.name}; "
                                    f"run `{REGENERATE}` (after `pearray characterise` measures the point)")
    return dict(entry["caps"]), dict(entry["bits"])


@functools.lru_cache(maxsize=None)
def nearest_capacitance(family, widths):
    """:func:`input_capacitance` of ``family`` at ``widths`` when the table has the point; else
    each data input port's mean pF per bit at the family's nearest point in the table (same number
    of widths, least sum of |log2| width ratios; a bit's fan-in pins hardly depend on the word's
    width) and its bit count from the primitive's own Verilog (:func:`models.characterise.verilog`).
    For the widths no registered PE's inventory has but a design's does (a weight-stationary
    array's rows narrow their adds to the bits the sums so far can have:
    :func:`models.inventory.design_items`), so the cost model's sim basis prices every row's
    pin loads. Raises :class:`models.tech.UnknownComponentError` when the family has no point."""
    widths = tuple(widths)
    points = _table()["points"].get(family, {})
    if _key(widths) in points:
        return input_capacitance(family, widths)
    near = [tuple(int(w) for w in k.split(",")) for k in points]
    near = [w for w in near if len(w) == len(widths)]
    if not near:
        raise UnknownComponentError(f"no pin capacitances of any {family} point in {TABLE_PATH.name}; "
                                    f"run `{REGENERATE}`")
    closest = min(near, key=lambda w: (sum(abs(math.log2(a / b)) for a, b in zip(w, widths)), w))
    caps, _ = input_capacitance(family, closest)
    text = characterise.verilog(family, widths)[0]
    bits = {}
    for bit in sta.port_bits(text.replace(" signed", "")):
        port = bit.split("[")[0]
        if port in caps:
            bits[port] = bits.get(port, 0) + 1
    return {p: caps[p] for p in bits}, bits


def nom_voltage():
    """The Liberty's ``nom_voltage`` (V) the table was read with: the voltage of its pF-toggles."""
    return _table()["provenance"]["nom_voltage"]


def main():
    start = time.perf_counter()

    def progress(i, n, family, widths):
        if i % 50 == 0 or i == n:
            print(f"{i}/{n} {family} {list(widths)} {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{write_table(progress=progress)} points -> {TABLE_PATH}")


if __name__ == "__main__":
    main()
