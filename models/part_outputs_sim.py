"""How often a primitive's output bits toggle in simulation, per input toggle rate: the sim basis's
candidate rule for the activity one part hands the next.

The model passes a driving part's input toggles to the parts it feeds unchanged
(:data:`models.part_activity.PROPAGATION` "ports": with OpenSTA's densities chains attenuate).
Simulated, the opposite holds at the low rates a PE's real stream has: a product's or a sum's
output bits change far more often than its input bits (every input change reaches about half the
product bits; a carry flips a run of sum bits). Per primitive drawn on random inputs (every data
input bit a two-state chain at rate ``a``, duty 0.5, :func:`models.characterise_sim.random_stream`)
the mean toggles per cycle of its output bits at ``a`` = 0.02 are 1.6 .. 3.9x ``a`` for ``smult``,
3.3x for ``add``, 1.4 .. 1.5x for ``shiftn``, 1.8x for ``cneg``; 0.5 .. 1x for tables, ``lead1``,
``and``, ``shift``. On the MiniLM stream, INT8 / ANT / OVP parts fed by other parts see 1.6 .. 2.6x
the toggles the "ports" rule gives them (``bench/bench_energy_parts.py``; the shifters' and term
adds' inputs).

:func:`output_toggles` reads a point's curve (linear between :data:`ACTIVITIES`, through 0 below,
the last point's ratio above). Used by :meth:`models.part_activity.PartActivity.part_output` on
the sim basis only when :data:`models.part_activity.SIM_PROPAGATION` is "outputs" (not the
default: README / the issue 14 report give why).

Table: ``models/data/primitive_outputs_sim_osu018.json`` (every non-register primitive point
that drives another part in a registered PE's inventory; other widths take the nearest measured
point of the family, log-width distance); regenerate with ``python -m models.part_outputs_sim``.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import re
from pathlib import Path

import numpy as np

from . import characterise, characterise_sim, gate_toggles

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_outputs_sim_osu018.json"
GENERATOR = 1
ACTIVITIES = (0.02, 0.05, 0.1, 0.2, 0.3, characterise.STA_ACTIVITY)
_OUTPUT = re.compile(r"^\s*output\s+(?:signed\s+)?(?:\[(\d+):0\]\s*)?(\w+)\s*;", re.M)


def measure(family, widths):
    """[mean toggles per cycle of the output bits at each of :data:`ACTIVITIES`] of one
    primitive's mapped netlist (None when it maps to no cells)."""
    netlist = characterise_sim.mapped(family, tuple(widths))
    if netlist is None:
        return None
    bits = characterise.data_input_bits(netlist)
    alias = gate_toggles.aliases(netlist)
    msb, port = _OUTPUT.search(netlist).groups()
    outs = [f"{port}[{i}]" for i in range(int(msb) + 1)] if msb is not None else [port]
    seed = characterise_sim.point_seed(family, widths)
    curve = []
    for a in ACTIVITIES:
        stream = characterise_sim.random_stream({b: (a, 0.5) for b in bits}, seed=seed)
        toggles = gate_toggles.simulate_lanes(netlist, stream, characterise_sim.LANES, characterise_sim.WARMUP)
        toggles.update(characterise_sim.stream_toggles(stream))
        curve.append(float(np.mean([toggles.get(alias.get(o, o), 0.0) for o in outs])))
    return curve


@functools.lru_cache(maxsize=1)
def load_table(path=TABLE_PATH):
    if not Path(path).is_file():
        return {}
    return json.loads(Path(path).read_text())["points"]


def curve(family, widths):
    """The output curve of ``family`` at ``widths`` (the nearest measured point's), or None."""
    measured = load_table().get(family)
    if not measured:
        return None
    key = ",".join(map(str, widths))
    if key not in measured:
        def distance(k):
            other = [int(v) for v in k.split(",")]
            if len(other) != len(widths):
                return math.inf
            return sum(abs(math.log(a / b)) for a, b in zip(widths, other))
        key = min(measured, key=distance)
    return measured[key]


def output_toggles(family, widths, activity):
    """Mean toggles of the output bits of ``family`` at ``widths`` with its inputs at ``activity``
    toggles (None: no curve)."""
    c = curve(family, tuple(widths))
    if c is None:
        return None
    top = ACTIVITIES[-1]
    if activity >= top:
        return c[-1] * activity / top
    return float(np.interp(activity, (0.0, *ACTIVITIES), (0.0, *c)))


def driver_points():
    """(family, widths) of every non-register part that drives another part in a registered PE's
    inventory."""
    # deferred: only the table's writer needs the registered kinds (the model reads the table)
    from .inventory import unit_items
    from .registry import PE_KINDS
    found = set()
    for kind in PE_KINDS.values():
        for _, options in kind.variants:
            for part in unit_items(kind.prototype(**dict(options))):
                for d in getattr(part, "drivers", ()):
                    if not isinstance(d, str) and d[0] not in ("reg", "reg_en"):
                        found.add((d[0], tuple(d[1])))
    return sorted(found, key=str)


def write_table(path=TABLE_PATH):
    out = {}
    for family, widths in driver_points():
        c = measure(family, widths)
        if c is not None:
            out.setdefault(family, {})[",".join(map(str, widths))] = [round(v, 6) for v in c]
    prov = characterise.load_table()["provenance"]
    data = {"provenance": {
        "what": "mean toggles per cycle of a primitive's output bits with every data input bit a "
                "two-state chain at each activity (duty 0.5), zero-delay simulation of its mapped netlist",
        "activities": list(ACTIVITIES), "lanes": characterise_sim.LANES, "cycles": characterise_sim.CYCLES,
        "warmup": characterise_sim.WARMUP, "generator": GENERATOR, "yosys": prov.get("yosys"),
        "liberty_sha256": prov.get("liberty_sha256"), "recipe_version": prov.get("recipe_version"),
        "date": datetime.date.today().isoformat(), "regenerate": "python -m models.part_outputs_sim"},
        "points": out}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    load_table.cache_clear()
    return sum(len(v) for v in out.values())


if __name__ == "__main__":
    print(f"{write_table()} points -> {TABLE_PATH}")
