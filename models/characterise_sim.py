"""Primitive energies from simulated toggles: the primitive table's energies measured the way the
per-PE simulated-toggle reference (:func:`models.netlist_power.simulated_power`) measures a PE.

:mod:`models.characterise` gives each primitive OpenSTA's energy (``energy_sta_pj`` with the data
inputs toggling :data:`models.characterise.STA_ACTIVITY` times per cycle at duty 0.5,
``energy_sta_idle_pj`` with them constant at 0), i.e. OpenSTA's probabilistic propagation of the
input densities through the cells. Here the same mapped netlist of every point of that table (the
synthesis cache's, :func:`models.synth.synthesize_verilog`) is simulated gate by gate with zero
delay (:func:`models.gate_toggles.simulate_lanes`) on random codes at the same operating point,
every data input bit a stationary two-state chain that flips with probability ``STA_ACTIVITY``
each cycle from a random start (duty 0.5; ``rst`` held 0, as OpenSTA's runs hold it constant at 0),
and every net's toggles are priced with the Liberty tables by :func:`models.netlist_power.netlist_power`
at :data:`models.characterise.STA_CLOCK_MHZ`, **at OpenSTA 2.0.17's pricing**
(:attr:`models.netlist_power.NetlistPower.as_opensta_2019`: rise + fall tables per output
transition and both CLK tables per edge, as the OpenSTA table's figures are priced), so the two
tables differ only in where the toggles come from. Idle: every input constant at 0 (the flops'
clock and leakage), simulated too.

:data:`LANES` independent lanes of :data:`CYCLES` cycles each (the first :data:`WARMUP` not
counted: the flops start at 0), one fixed seed per point, so the table regenerates bit for bit.
Each family is fitted over the same features as the OpenSTA table
(:data:`models.characterise.FIT_FEATURES`) for widths not measured.

Table: ``models/data/primitive_energy_sim_osu018.json`` with its provenance; read by
:mod:`models.primitive_energy_sim` (the cost model's ``basis="sim"``); regenerate with
``python -m models.characterise_sim`` (every point of the primitive table, netlists cached).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from . import characterise, gate_toggles, netlist_power, synth
from .primitive_energy_sim import KEYS, TABLE_PATH, load_table

GENERATOR = 1
LANES = 1024
CYCLES = 18
WARMUP = 2
SEED = 2027
PRICING = ("OpenSTA 2.0.17 (netlist_power.NetlistPower.as_opensta_2019: rise + fall internal "
           "tables per output transition, both CLK tables per clock edge, D pins at the mean), "
           "the pricing of the OpenSTA table's energy_sta_pj")


def random_stream(activity, cycles=CYCLES, lanes=LANES, seed=SEED):
    """{bit: [``lanes``-bit int per cycle]} for ``activity`` ({bit: (toggles per cycle, duty)}, as
    :func:`models.characterise.sta_energy_pj` takes it): a toggling bit (duty 0.5) in every lane a
    stationary chain that flips with that probability each cycle from a uniform random start, a
    constant bit (0 toggles) in every lane 1 with probability ``duty``. Every bit draws the same
    uniforms whatever its figures (common random numbers: two streams of one seed differ only where
    their figures do)."""
    rng = np.random.default_rng(seed)
    out = {}
    for b, (toggles, duty) in activity.items():
        if toggles and duty != 0.5:
            raise ValueError(f"{b}: a toggling bit is measured at duty 0.5, not {duty}")
        start = rng.random(lanes) < duty
        flips = rng.random((cycles, lanes)) < toggles
        flips[0] = False
        values = start ^ np.logical_xor.accumulate(flips, axis=0)
        out[b] = [int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little") for row in values]
    return out


def stream_toggles(stream, lanes=LANES, warmup=WARMUP):
    """{bit: toggles per cycle} of a lane stream over the cycle pairs after ``warmup``."""
    out = {}
    for b, values in stream.items():
        values = values[warmup:]
        pairs = max(1, len(values) - 1) * lanes
        out[b] = sum((x ^ y).bit_count() for x, y in zip(values[:-1], values[1:])) / pairs
    return out


def energy_pj(netlist, stream, lanes=LANES, warmup=WARMUP):
    """Energy per clock cycle (pJ, 180 nm 1.8 V) of ``netlist`` on the lane ``stream`` at
    :data:`models.characterise.STA_CLOCK_MHZ`, every net's simulated toggles priced as OpenSTA
    2.0.17 prices them."""
    toggles = gate_toggles.simulate_lanes(netlist, stream, lanes, warmup)
    toggles.update(stream_toggles(stream, lanes, warmup))
    power = netlist_power.netlist_power(netlist, toggles, characterise.STA_CLOCK_MHZ)
    return power.as_opensta_2019.total * 1e3 / characterise.STA_CLOCK_MHZ


def sim_energy_pj(netlist, activity, seed=SEED, lanes=LANES):
    """:func:`models.characterise.sta_energy_pj` from simulated toggles: energy per cycle (pJ,
    180 nm 1.8 V) of a mapped primitive with ``activity`` ({input bit: (toggles per cycle, duty)};
    :func:`random_stream`) at OpenSTA 2.0.17's pricing. With nothing toggling the netlist settles
    in the warm-up, so a short run counts the same."""
    cycles = CYCLES if any(t for t, _ in activity.values()) else WARMUP + 2
    return energy_pj(netlist, random_stream(activity, cycles, lanes, seed), lanes)


def point_seed(family, widths):
    """A fixed seed per point (the table regenerates bit for bit, points independent)."""
    return SEED + int(hashlib.sha256(f"{family}{list(widths)}".encode()).hexdigest()[:8], 16)


def mapped(family, widths):
    """The cached mapped netlist of one primitive (None when it maps to no cells)."""
    text, top = characterise.verilog(family, tuple(widths))
    r = synth.synthesize_verilog(text, top)
    return r.netlist() if r.mapped_cells else None


def measure(family, widths):
    """{``energy_sim_pj``, ``energy_sim_idle_pj``} of one primitive: pJ per cycle at 180 nm 1.8 V
    with its data inputs toggling ``STA_ACTIVITY`` times per cycle at duty 0.5, and with them
    constant at 0 (as :func:`models.characterise.sta_energies`)."""
    netlist = mapped(family, widths)
    if netlist is None:
        return {KEYS[0]: 0.0, KEYS[1]: 0.0}
    bits = characterise.data_input_bits(netlist)
    seed = point_seed(family, widths)
    return {KEYS[0]: float(sim_energy_pj(netlist, {b: (characterise.STA_ACTIVITY, 0.5) for b in bits}, seed)),
            KEYS[1]: float(sim_energy_pj(netlist, {b: (0.0, 0.0) for b in bits}, seed))}


def measured_provenance(what, regenerate, generator, *, priced=True, **extra):
    """The provenance of a table measured by simulating the primitive table's netlists with this
    module's recipe (:data:`LANES`, :data:`CYCLES`, :data:`WARMUP`; :data:`PRICING` when
    ``priced``): what it holds, the command that regenerates it, its generator, the primitive
    table's Yosys, liberty and recipe version, today's date, and the table's own ``extra`` keys
    (:mod:`models.group_saturation_sim`, :mod:`models.part_outputs_sim`,
    :mod:`models.extended_csa_sim`)."""
    prim = characterise.load_table()["provenance"]
    return {"what": what, **extra, "generator": generator, "lanes": LANES, "cycles": CYCLES,
            "warmup": WARMUP, **({"pricing": PRICING} if priced else {}),
            "yosys": prim.get("yosys"), "liberty_sha256": prim.get("liberty_sha256"),
            "recipe_version": prim.get("recipe_version"), "date": datetime.date.today().isoformat(),
            "regenerate": regenerate}


def provenance():
    prim = characterise.load_table()["provenance"]
    return {"what": "per primitive of models/data/primitives_osu018.json: energy per cycle of its "
                    "mapped netlist with every data input bit toggling activity times per cycle "
                    "(duty 0.5; energy_sim_pj) and with every input constant at 0 (energy_sim_idle_pj), "
                    "from zero-delay gate-level simulated toggles (models.gate_toggles) priced with the "
                    "osu018 Liberty tables (models.netlist_power)",
            "pricing": PRICING, "activity": characterise.STA_ACTIVITY, "duty": 0.5,
            "clock_mhz": characterise.STA_CLOCK_MHZ, "lanes": LANES, "cycles": CYCLES,
            "warmup": WARMUP, "seed": SEED, "generator": GENERATOR,
            "yosys": prim.get("yosys"), "liberty_sha256": prim.get("liberty_sha256"),
            "recipe_version": prim.get("recipe_version"), "node_nm": 180, "voltage_v": 1.8,
            "regenerate": "python -m models.characterise_sim"}


def write_table(path=TABLE_PATH, points=None, progress=None):
    """Measure ``points`` ((family, widths); default every point of the primitive table), fit each
    family and write the table to ``path``; returns the table."""
    if points is None:
        points = [(p["family"], tuple(p["widths"])) for p in characterise.load_table()["points"]]
    measured = []
    for i, (family, widths) in enumerate(points):
        m = {"family": family, "widths": list(widths), **measure(family, widths)}
        measured.append(m)
        if progress:
            progress(i + 1, len(points), m)
    families = {}
    for family in characterise.FIT_FEATURES:
        # fitted on the same points as the OpenSTA table's (characterise.FIT_ARITY)
        pts = [m for m in measured if m["family"] == family
               and len(m["widths"]) == characterise.FIT_ARITY.get(family, len(m["widths"]))]
        if pts:
            families[family] = characterise.fit_family(family, pts, keys=KEYS)
    table = {"provenance": {**provenance(), "date": datetime.date.today().isoformat()},
             "families": families, "points": measured}
    Path(path).write_text(json.dumps(table, indent=1) + "\n")
    load_table.cache_clear()
    return table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(TABLE_PATH), help="table path (default: the repository's)")
    args = ap.parse_args(argv)
    start = time.perf_counter()

    def progress(i, n, m):
        if i % 50 == 0 or i == n:
            print(f"{i}/{n} {m['family']} {m['widths']} {time.perf_counter() - start:.0f} s", flush=True)
    table = write_table(args.out, progress=progress)
    print(f"{len(table['points'])} points -> {args.out} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
