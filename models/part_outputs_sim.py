"""How often a primitive's output bits toggle in simulation when each input group toggles alone:
the sim basis's rule for the activity one part hands the next.

OpenSTA's densities attenuate along a chain, so the OpenSTA basis passes a driving part's input
toggles on unchanged (:data:`models.part_activity.PROPAGATION` "ports"). Simulated, the opposite
holds at the low rates a PE's real stream has: a product's or a sum's output bits change far more
often than its input bits (every input change reaches about half the product bits; a carry flips
a run of sum bits), and most of all where one operand is held for the step (a weight-stationary
multiplier: each activation change reaches the product through the whole held weight). On the
MiniLM stream ANT's and OVP's shifters and term adds, fed by the multipliers, see 1.6 .. 2.6x the
toggles the "ports" rule hands them (``bench/bench_energy_parts.py``).

Per primitive point, each input group (its input ports: a multiplier's ``a``, ``b``, a shifter's
``a``, ``sh``, an adder's ``a``, ``b``) is measured alone: its bits two-state chains at each of
:data:`ACTIVITIES` (duty 0.5, :func:`models.characterise_sim.random_stream`), the other groups' bits
held at random constants of duty 0.5 (as the group curves of :mod:`models.group_saturation_sim` are
measured), and the mean toggles per cycle of the output bits recorded; and every group at the
table's 0.5. :func:`output_toggles` gives a part's output toggles at its groups' own input toggles:
each group's alone figure from its curve (linear between the points, through 0 below, the last
point's ratio above), composed as independent disturbances of a saturating population of output
bits (:func:`models.group_saturation_sim.combine`, the saturation solved from the all-groups
point, :func:`models.group_saturation_sim.saturation`): one group toggling gives its own curve, every
group at 0.5 the measured all-toggling figure. No factor is fitted to any PE.

Used by :meth:`models.part_activity.PartActivity.part_output` on the sim basis for a driving part
that acts once per step (its held operand is then held for the step); the OpenSTA basis keeps
"ports".

Table: ``models/data/primitive_outputs_sim_osu018.json`` (every non-register primitive point that
drives another part in a registered PE's inventory; other widths take the nearest measured point
of the family, log-width distance); regenerate with ``python -m models.part_outputs_sim``.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from pathlib import Path

import numpy as np

from . import characterise, characterise_sim, gate_toggles
from .group_saturation_sim import combine, saturation

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_outputs_sim_osu018.json"
#: 2: each input group alone (1: every input toggling together)
GENERATOR = 2
ACTIVITIES = (0.02, 0.05, 0.1, 0.2, 0.3, characterise.STA_ACTIVITY)
#: the duty of the groups held constant (as :data:`models.group_saturation_sim.HELD_DUTY`)
HELD_DUTY = 0.5
_OUTPUT = re.compile(r"^\s*output\s+(?:signed\s+)?(?:\[(\d+):0\]\s*)?(\w+)\s*;", re.M)


def group_of(bit):
    """The input group (port name) of a netlist input bit ``"a[3]"`` / ``"sel"``."""
    return bit.split("[")[0]


def measure(family, widths):
    """{"curves": {group: [mean toggles per cycle of the output bits with that group alone at each
    of :data:`ACTIVITIES`]}, "every": the same with every group at the table's activity} of one
    primitive's mapped netlist (None when it maps to no cells)."""
    netlist = characterise_sim.mapped(family, tuple(widths))
    if netlist is None:
        return None
    bits = characterise.data_input_bits(netlist)
    groups = sorted({group_of(b) for b in bits})
    alias = gate_toggles.aliases(netlist)
    msb, port = _OUTPUT.search(netlist).groups()
    outs = [f"{port}[{i}]" for i in range(int(msb) + 1)] if msb is not None else [port]
    seed = characterise_sim.point_seed(family, widths)

    def toggles(rates):
        stream = characterise_sim.random_stream({b: (rates.get(group_of(b), 0.0), HELD_DUTY) for b in bits},
                                                seed=seed)
        found = gate_toggles.simulate_lanes(netlist, stream, characterise_sim.LANES, characterise_sim.WARMUP)
        found.update(characterise_sim.stream_toggles(stream))
        return float(np.mean([found.get(alias.get(o, o), 0.0) for o in outs]))

    curves = {g: [toggles({g: a}) for a in ACTIVITIES] for g in groups}
    return {"curves": curves, "every": toggles({g: characterise.STA_ACTIVITY for g in groups})}


@functools.lru_cache(maxsize=1)
def load_table(path=TABLE_PATH):
    if not Path(path).is_file():
        return {}
    return json.loads(Path(path).read_text())["points"]


def point(family, widths):
    """The measured point of ``family`` at ``widths`` (the nearest measured point's), or None."""
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


def group_toggles(curve, activity):
    """One group's output toggles alone at ``activity`` from its measured ``curve``: linear between
    the points, through 0 below the first, the last point's ratio above it."""
    top = ACTIVITIES[-1]
    if activity >= top:
        return curve[-1] * activity / top
    return float(np.interp(activity, (0.0, *ACTIVITIES), (0.0, *curve)))


def output_toggles(family, widths, activities):
    """Mean toggles of the output bits of ``family`` at ``widths`` with its input groups at
    ``activities`` ({group: toggles}; a group not named is held), or None (no point measured)."""
    p = point(family, tuple(widths))
    if p is None:
        return None
    every = p["every"]
    if every <= 0:
        return 0.0
    alone = [group_toggles(c, activities.get(g, 0.0)) / every for g, c in p["curves"].items()]
    s = saturation([c[-1] / every for c in p["curves"].values()])
    return combine(alone, s) * every


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


def write_table(path=TABLE_PATH, progress=None):
    out = {}
    points = driver_points()
    for i, (family, widths) in enumerate(points):
        m = measure(family, widths)
        if m is not None:
            out.setdefault(family, {})[",".join(map(str, widths))] = {
                "curves": {g: [round(v, 6) for v in c] for g, c in m["curves"].items()},
                "every": round(m["every"], 6)}
        if progress:
            progress(i + 1, len(points), family, widths)
    data = {"provenance": characterise_sim.measured_provenance(
        "mean toggles per cycle of a primitive's output bits with each input group's bits "
        "two-state chains at each activity (duty 0.5), the other groups held at random "
        "constants (duty 0.5); and with every group at the last activity; zero-delay "
        "simulation of its mapped netlist",
        "python -m models.part_outputs_sim", GENERATOR, priced=False, activities=list(ACTIVITIES),
        held_duty=HELD_DUTY),
        "points": out}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    load_table.cache_clear()
    return sum(len(v) for v in out.values())


if __name__ == "__main__":
    start = time.perf_counter()

    def _progress(i, n, family, widths):
        if i % 10 == 0 or i == n:
            print(f"{i}/{n} {family} {list(widths)} {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{write_table(progress=_progress)} points -> {TABLE_PATH}")
