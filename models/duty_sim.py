"""The composition factors of the simulated-toggle basis: input-group shares and duty factors
measured as :mod:`models.primitive_groups` and :mod:`models.duty` measure them, with simulated
toggles (:func:`models.characterise_sim.sim_energy_pj`) in place of OpenSTA's propagation.

The cost model's ``basis="sim"`` takes every primitive's energies from
:mod:`models.characterise_sim`; a part's activity is composed from its input groups' toggles with
each group's share of the switching energy and the other groups' duties
(:meth:`models.part_activity.PartActivity.item_activity`), and its idle energy with the duties of
its constant inputs. Those factors, measured with OpenSTA, carry its propagation too (a
``reg_en`` held at enable 1 has 17 % less idle energy than at enable 0 in OpenSTA, none in
simulation: its flops hold either way), so the sim basis measures them the same way as its
energies. For each point of the primitive table in :data:`models.duty.FAMILIES`, on the same
mapped netlist, with the same definitions:

* shares: each group's share of the summed excess over the all-constant energy (every input at
  duty 0.5) with that group's bits toggling :data:`models.characterise.STA_ACTIVITY` per cycle;
* switching factors: for each toggling group ``g`` and other group ``h``, the excess with ``h``
  constant at each duty of :data:`models.duty.DUTIES` (the rest at 0.5) relative to ``h`` at 0.5;
* idle factors: the all-constant energy with ``h`` at each duty (the rest at 0) relative to all 0.

A constant bit at duty d is 1 in a random d of the lanes (:func:`models.characterise_sim.random_stream`;
every run of a point draws the same uniforms, so the factors' ratios are of matched samples).

Table: ``models/data/primitive_duty_sim_osu018.json`` (``shares`` and ``factors`` in the layouts
of the OpenSTA tables), read through :func:`models.duty.factors` /
:func:`models.primitive_groups.shares` with ``basis="sim"``; regenerate with
``python -m models.duty_sim``.
"""

from __future__ import annotations

import datetime
import functools
import json
import time
from pathlib import Path

from . import characterise, characterise_sim
from .duty import DUTIES, FAMILIES, REFERENCE, factors_from, group_activity
from .primitive_energy_sim import COMPOSITION_GENERATOR as GENERATOR
from .primitive_energy_sim import COMPOSITION_PATH
from .primitive_groups import GROUPS
from .stored_table import load

#: lanes per run (half the energy table's: about 45 runs per ``mac`` point; every run of a point
#: draws the same uniforms, so the ratios are of matched samples)
LANES = 512


def measure(family, widths):
    """({group: share}, {toggling group: {other group: factors}, "idle": {group: factors}}) of
    one primitive from simulated toggles (definitions: the module docstring)."""
    netlist = characterise_sim.mapped(family, widths)
    bits = characterise.data_input_bits(netlist)
    seed = characterise_sim.point_seed(family, widths)

    @functools.cache
    def run(toggling, held, duty, others):
        return characterise_sim.sim_energy_pj(netlist, group_activity(bits, toggling, held, duty, others),
                                              seed, LANES)

    def energy(toggling, held, duty, others):
        # a group held at the others' duty is no group apart: one run (and one sample) for both
        return run(toggling, None, others, others) if duty == others else run(toggling, held, duty, others)

    excess = {g: max(0.0, energy(g, None, REFERENCE, REFERENCE) - energy(None, None, REFERENCE, REFERENCE))
              for g in GROUPS[family]}
    total = sum(excess.values())
    shares = {g: (e / total if total > 0 else 1.0 / len(excess)) for g, e in excess.items()}
    return shares, factors_from(energy, family)


def write_table(path=COMPOSITION_PATH, points=None, progress=None):
    """Measure ``points`` (default every point of the :data:`models.duty.FAMILIES` in the
    primitive table) and write the table; returns the number of points."""
    if points is None:
        points = sorted({(p["family"], tuple(p["widths"])) for p in characterise.load_table()["points"]
                         if p["family"] in FAMILIES})
    shares, factors = {}, {}
    for i, (family, widths) in enumerate(points):
        key = ",".join(map(str, widths))
        s, f = measure(family, widths)
        shares.setdefault(family, {})[key] = {g: round(v, 6) for g, v in s.items()}
        factors.setdefault(family, {})[key] = {g: {h: [round(x, 6) for x in fs] for h, fs in others.items()}
                                               for g, others in f.items()}
        if progress:
            progress(i + 1, len(points), family, widths)
    prov = characterise_sim.provenance()
    data = {"provenance": {"what": "input-group shares of the switching energy and duty factors "
                           "(models.duty's definitions) from simulated toggles priced as OpenSTA 2.0.17 "
                           "(models.characterise_sim)", "duties": list(DUTIES), "generator": GENERATOR,
                           "lanes": LANES,
                           **{k: prov[k] for k in ("pricing", "cycles", "warmup", "clock_mhz",
                                                   "yosys", "liberty_sha256", "recipe_version")},
                           "date": datetime.date.today().isoformat(), "regenerate": "python -m models.duty_sim"},
            "shares": shares, "factors": factors}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    load.cache_clear()
    return len(points)


if __name__ == "__main__":
    start = time.perf_counter()

    def _progress(i, n, family, widths):
        print(f"{i}/{n} {family} {list(widths)} {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{write_table(progress=_progress)} points -> {COMPOSITION_PATH}")
