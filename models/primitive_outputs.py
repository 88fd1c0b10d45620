"""How much a primitive's outputs toggle for its inputs' toggles, as OpenSTA propagates them.

OpenSTA's power analysis propagates transition densities through the mapped cells gate by gate
from each cell's Liberty function (no glitch filtering): an AND's output density is
D(a) P(b) + D(b) P(a), an OR's D(a) (1 - P(b)) + D(b) (1 - P(a)), and, in the Debian (2019) build,
an XOR's D(a) P(a) (1 - P(b)) + D(b) P(b) (1 - P(a)): at duty 0.5 a quarter of each input's
density, not their sum (``tests/test_primitive_outputs.py`` pins both rules through the probe). So
a part fed by another part does not switch at the PE port's density: deeper in a chain of sums it
switches less, after a mux's select more. A primitive characterised alone with its inputs at the
PE ports' toggle rates misses it. Every gate's output density is a sum of its inputs' densities
weighted by signal probabilities only, so at fixed probabilities (duty 0.5) a primitive's output
density is linear in its input densities and a few figures per primitive carry it: the sum of its
ports' gains is exactly its gain with every input toggling together (:func:`joint_gain`; measured:
``python bench/bench_joint_gains.py``), so gains measured one port at a time hold for a PE whose
inputs all toggle. Per input port (``a``, ``b``, ``sel``, ``sh``, ``en``, ...:
:func:`models.characterise.verilog`'s names) its **gain**, the mean toggles per cycle of the
primitive's output bits per toggle of that port's bits, measured here with OpenSTA on the same
mapped netlist as :mod:`models.characterise` with that port's bits at
:data:`models.characterise.STA_ACTIVITY` and every other input constant, duty 0.5 throughout. A
port's gain differs by role: a mux's output follows each data word only while it is selected
(about 1 / n of the data's toggles) but follows every select toggle (about half of them per
select bit), so a stationary select and a switching one give very different outputs.

OpenSTA (the 2019 Debian build) reports no net's activity, so a net's density is read through a
probe: one ``BUFX2`` per output bit, its input on the output net and its output on a new port; a
buffer's energy per cycle is linear in its input's density, so the probes' added energy divided by
one probe's energy per toggle (measured once on a buffer fed by another buffer from an input at a
known density, the same load and drive: :func:`probe_energy_per_toggle`) is the summed density of
the probed nets.

Table: ``models/data/primitive_outputs_osu018.json`` (every point of the primitive table, with its
provenance); regenerate with ``python -m models.primitive_outputs`` (one OpenSTA run per point on
the cached netlists, a few minutes on 2 cores). Widths not measured take the family's nearest
measured point (log-width distance), as :mod:`models.primitive_groups` does.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import characterise, sta, synth

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_outputs_osu018.json"
GENERATOR = 2
PROBE_CELL = "BUFX2"
PROBE_PORT = "pearray_probe"


def output_bits(netlist):
    """The output port bits of a netlist's top module (``y[3]``; a 1-bit port by its name)."""
    return sta.port_bits(netlist, "output")


def probed(netlist, nets):
    """``netlist`` (one mapped module) with a :data:`PROBE_CELL` on each of ``nets``, driving a
    new output port ``pearray_probe``."""
    n = len(nets)
    head = re.search(r"^module\s+(\S+)\s*\((.*?)\);", netlist, re.M | re.S)
    if head is None or not n:
        raise ValueError("no module header to probe, or nothing to probe")
    cells = "".join(f"  {PROBE_CELL} {PROBE_PORT}_{i}_ (\n    .A({net}),\n    .Y({PROBE_PORT}[{i}])\n  );\n"
                    for i, net in enumerate(nets))
    decl = f"  output [{n - 1}:0] {PROBE_PORT};\n  wire [{n - 1}:0] {PROBE_PORT};\n"
    text = netlist[:head.end(2)] + f", {PROBE_PORT}" + netlist[head.end(2):]
    end = text.rindex("endmodule")
    body_start = text.index(";", head.start()) + 1
    return text[:body_start] + "\n" + decl + text[body_start:end] + cells + text[end:]


def _energy(netlist, top, act, port=None):
    """OpenSTA pJ per cycle with the data input bits of ``port`` (None: all) at ``act``, the
    others constant, duty 0.5."""
    bits = characterise.data_input_bits(netlist)
    return characterise.sta_energy_pj(netlist, top, {
        b: (act if port in (None, b.split("[")[0]) else 0.0, 0.5) for b in bits})


def input_ports(netlist):
    """The data input ports of a mapped primitive, in order (``a``, ``b``, ``sel``, ...)."""
    return list(dict.fromkeys(b.split("[")[0] for b in characterise.data_input_bits(netlist)))


@functools.lru_cache(maxsize=1)
def probe_energy_per_toggle():
    """OpenSTA's energy (pJ, 180 nm 1.8 V) one probe adds per toggle of the net it watches: a
    buffer chain from an input at :data:`models.characterise.STA_ACTIVITY`, probed at its end,
    less the same chain unprobed."""
    chain = (f"module pearray_cal(a, y);\n  input a;\n  output y;\n  wire y;\n"
             f"  {PROBE_CELL} c0 (\n    .A(a),\n    .Y(y)\n  );\nendmodule\n")
    bare = _energy(chain, "pearray_cal", characterise.STA_ACTIVITY)
    watched = _energy(probed(chain, ["y"]), "pearray_cal", characterise.STA_ACTIVITY)
    return (watched - bare) / characterise.STA_ACTIVITY


def measure_gains(family, widths):
    """(output bits, {input port: gain}, {input port: share}) of one primitive: a gain is the
    mean toggles of its output bits per toggle of that port's bits, a share the port's part of
    the primitive's switching energy (its bits toggling alone, less all inputs constant; the
    shares sum to 1), as :mod:`models.primitive_groups` measures for a few families (see the
    module docstring); a primitive whose netlist has no cells has gains 0, equal shares."""
    text, top = characterise.verilog(family, tuple(widths))
    r = synth.synthesize_verilog(text, top)
    netlist = r.netlist()
    outs, ports = output_bits(netlist), input_ports(netlist)
    if not r.mapped_cells:
        return len(outs), dict.fromkeys(ports, 0.0), dict.fromkeys(ports, 1.0 / len(ports))
    act, watched = characterise.STA_ACTIVITY, probed(netlist, outs)
    still = _energy(netlist, top, 0.0)
    gains, excess = {}, {}
    for port in ports:
        alone = _energy(netlist, top, act, port)
        gains[port] = max(0.0, _energy(watched, top, act, port) - alone) / probe_energy_per_toggle() / len(outs) / act
        excess[port] = max(0.0, alone - still)
    total = sum(excess.values())
    shares = {p: (e / total if total > 0 else 1.0 / len(ports)) for p, e in excess.items()}
    return len(outs), gains, shares


def joint_gain(family, widths):
    """(mean toggles of ``family``'s output bits per toggle of its input bits with every data
    input toggling at :data:`models.characterise.STA_ACTIVITY` together, duty 0.5; the sum of its
    per-port gains measured now, :func:`measure_gains`): OpenSTA's propagation is linear in the
    input densities at fixed duties, so the two agree (a check, not a table field)."""
    text, top = characterise.verilog(family, tuple(widths))
    r = synth.synthesize_verilog(text, top)
    if not r.mapped_cells:
        return 0.0, 0.0
    netlist, act = r.netlist(), characterise.STA_ACTIVITY
    outs = output_bits(netlist)
    added = _energy(probed(netlist, outs), top, act) - _energy(netlist, top, act)
    return added / probe_energy_per_toggle() / len(outs) / act, sum(measure_gains(family, widths)[1].values())


def net_density(netlist, top, nets, activity):
    """Mean toggles per cycle OpenSTA propagates to ``nets`` (net names of the mapped ``netlist``,
    e.g. a PE's internal signals) with its input bits at ``activity`` ({bit: (toggles per cycle,
    duty)}, :func:`models.sta.run_sta`), read through probes in situ at
    :data:`models.characterise.STA_CLOCK_MHZ` (the probe's calibration clock): a diagnostic of
    where a model's activity assignment and OpenSTA's propagation part."""
    def energy(text):
        return characterise.sta_energy_pj(text, top, activity)
    return (energy(probed(netlist, list(nets))) - energy(netlist)) / probe_energy_per_toggle() / len(nets)


def write_table(path=TABLE_PATH, jobs=2):
    """Measure every point of the primitive table; write the gains with their provenance."""
    table = characterise.load_table()
    points = sorted({(p["family"], tuple(p["widths"])) for p in table["points"]})
    probe_energy_per_toggle()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        measured = list(pool.map(lambda p: measure_gains(*p), points))
    out = {}
    for (family, widths), (bits, gains, shares) in zip(points, measured):
        out.setdefault(family, {})[",".join(map(str, widths))] = {
            "out_bits": bits, "gains": {p: round(g, 6) for p, g in gains.items()},
            "shares": {p: round(v, 6) for p, v in shares.items()}}
    prov = table["provenance"]
    data = {"provenance": {"what": "per input port, mean toggles per cycle of a primitive's output bits per "
                           "toggle of that port's bits, OpenSTA's propagated density (the port at "
                           f"activity {characterise.STA_ACTIVITY}, the other inputs constant, duty 0.5), "
                           f"read through {PROBE_CELL} probes; and the port's share of the switching "
                           "energy (the same runs unprobed, less all inputs constant)",
                           "generator": GENERATOR, "liberty_sha256": prov.get("liberty_sha256"),
                           "yosys": prov.get("yosys"), "sta": sta.find_sta()[1],
                           "probe_pj_per_toggle_180nm": probe_energy_per_toggle(),
                           "date": datetime.date.today().isoformat(),
                           "regenerate": "python -m models.primitive_outputs"},
            "gains": out}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    _table.cache_clear()
    output_gains.cache_clear()
    return len(points)


def is_current(path=TABLE_PATH):
    """Whether the table at ``path`` is this generator's, measured on the current primitive
    table's liberty and Yosys (else ``pearray characterise`` measures it again)."""
    try:
        prov = json.loads(Path(path).read_text())["provenance"]
    except (FileNotFoundError, ValueError, KeyError):
        return False
    base = (characterise.load_table() or {}).get("provenance", {})
    return (prov.get("generator") == GENERATOR and prov.get("liberty_sha256") == base.get("liberty_sha256")
            and prov.get("yosys") == base.get("yosys"))


@functools.lru_cache(maxsize=1)
def _table():
    if not TABLE_PATH.is_file():
        return {}
    return json.loads(TABLE_PATH.read_text())["gains"]


@functools.lru_cache(maxsize=4096)
def output_gains(family, widths):
    """(output bits, ((input port, gain), ...), ((input port, energy share), ...)) of ``family``
    at ``widths`` (the nearest measured point's when not measured); None without a table entry
    for the family."""
    measured = _table().get(family)
    if not measured:
        return None
    key = ",".join(map(str, widths))

    def entry(e):
        return e["out_bits"], tuple(sorted(e["gains"].items())), tuple(sorted(e["shares"].items()))
    if key in measured:
        return entry(measured[key])

    def distance(k):
        other = [int(v) for v in k.split(",")]
        return sum(abs(math.log(max(a, 1) / max(b, 1))) for a, b in zip(widths, other))
    return entry(measured[min(measured, key=distance)])


if __name__ == "__main__":
    print(f"{write_table()} points -> {TABLE_PATH}")
