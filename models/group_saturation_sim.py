"""How a grouped primitive's simulated switching composes from its input groups (the sim basis).

OpenSTA propagates transition densities linearly, so on the OpenSTA basis a part's switching
above its constant-input energy is a sum of one term per input group, each linear in that group's
activity (:mod:`models.primitive_groups`: the shares of the summed excess). Simulated toggles are
not linear: a net's toggle rate saturates (at most every other cycle on random data) as more of
the bits that reach it change, so

* one group toggling alone costs more than its share of the all-toggling energy: on the
  ``mac`` (8, 8, 32) each group alone at 0.5 toggles per cycle sums to 1.92x the all-toggling
  excess, ``smult`` (5, 5) 1.62x, ``reg_en`` 1.00x (its data and enable reach disjoint cells);
  a weight-stationary PE's multiplier (its weight group still) is the case the shares under-count;
* a group's energy is concave in its activity: ``smult`` (5, 5) with every input bit at 0.05
  toggles per cycle costs 2.35x the linear interpolation from 0.5 (sparse changes each reach
  many nets, dense ones cancel).

The rule (sim basis only, the families of :data:`FAMILIES`: the grouped ones, ``bmult``,
``usmult`` and the shifter ``shiftn``, whose word alone at 0.5 costs 0.69x its all-toggling
excess at (10, 5, 32) where OpenSTA's share is 0.26): each group's
energy alone, ``e_g(a)``, is read from its measured curve (:data:`ACTIVITIES`, the others held
constant at duty 0.5, as the shares are measured; linear through 0 below the first point and the
table's slope above 0.5), and the groups combine as independent disturbances of a saturating
population of nets, ``E = S (1 - prod_g (1 - e_g / S))``, with ``S`` the point's own saturation
energy: the one value for which every group at 0.5 gives the measured all-toggling excess (no
saturation, a plain sum, when the alone figures sum to no more than it). Both ends are measured on
the primitive: one group toggling gives its own curve exactly, every group at 0.5 the table's
energy; in between, on the ``mac`` (8, 8, 32) at INT8's MiniLM group activities (0.45, 0.015,
0.45) the rule gives 1.738 pJ against 1.745 simulated with all three toggling together (the
shares' linear rule 1.212), ``smult`` (5, 5) at (0.3, 0.3) 0.172 against 0.168 (45 nm).

:func:`effective_activity` returns the result as the activity at which the table's linear
interpolation (:func:`models.cost_primitives.sim_energy`) gives that energy, so the cost model's
interface (one activity per part) is unchanged. Every figure is a ratio to the point's own
all-toggling excess, measured in the same runs (matched random numbers).

Table: ``models/data/primitive_group_curves_sim_osu018.json`` with its provenance; regenerate with
``python -m models.group_saturation_sim`` (the 210 points of those families in the primitive
table, cached netlists, about 10 min on 2 cores). Widths not measured take the nearest measured point's curves
(log-width distance, as :func:`models.primitive_groups.shares`).
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path

import numpy as np

from . import characterise, characterise_sim
from .primitive_groups import GROUPS

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_group_curves_sim_osu018.json"
GENERATOR = 1
#: the toggle rates (per cycle) each group's curve is measured at; the last is the table's
#: operating point (:data:`models.characterise.STA_ACTIVITY`)
ACTIVITIES = (0.02, 0.05, 0.1, 0.2, 0.3, characterise.STA_ACTIVITY)
#: the duty of the groups held constant, as the shares are measured (:mod:`models.duty_sim`)
HELD_DUTY = 0.5
#: the families the rule composes: the grouped ones, the BitFusion fused multiplier (``bmult``)
#: and the FP16-activation PEs' significand multiplier (``usmult``: unsigned x signed), each with
#: its operands a, b from the act and weight ports, as ``mult``'s (they have no OpenSTA shares,
#: whose linear rule they do not need, so they are not in :data:`GROUPS`), and the shifter
#: ``shiftn`` (its word a, amount sh: the inventories name the amount's driver,
#: :meth:`models.part_activity.PartActivity.item_activity`), and the selections: the multiplexer
#: ``mux`` (its data d, select sel) and the conditional negation ``scneg`` (its word x, sign s),
#: which a PE whose select is its stationary weight (the LUT PE's entry select and sign, GOBO's
#: centroid) drives with the select held and the data toggling: on LUT W1A8's MiniLM stream the
#: ``mux`` (8, 11) costs 0.060 pJ/step simulated on its real values, the OpenSTA shares' linear
#: mean 0.031 (``bench/bench_energy_parts.py``)
FAMILIES = {**GROUPS, "bmult": ("a", "b"), "usmult": ("a", "b"), "shiftn": ("a", "sh"),
            "mux": ("d", "sel"), "scneg": ("x", "s")}


def measure(family, widths):
    """{"curves": {group: [excess at each of :data:`ACTIVITIES` / all-toggling excess]},
    "saturation": S / all-toggling excess (None: no saturation, a plain sum)} of one point, from
    simulated toggles (:func:`models.characterise_sim.sim_energy_pj`, the point's own seed)."""
    netlist = characterise_sim.mapped(family, tuple(widths))
    bits = characterise.data_input_bits(netlist)
    seed = characterise_sim.point_seed(family, widths)
    groups = FAMILIES[family]

    def energy(rates):
        return characterise_sim.sim_energy_pj(
            netlist, {b: (rates.get(b.split("[")[0], 0.0), HELD_DUTY) for b in bits}, seed)

    held = energy({})

    def excess(rates):
        return energy(rates) - held

    every = excess({g: characterise.STA_ACTIVITY for g in groups})
    if every <= 0:
        return {"curves": {g: [a / characterise.STA_ACTIVITY / len(groups) for a in ACTIVITIES]
                           for g in groups}, "saturation": None}
    curves = {g: [max(0.0, excess({g: a})) / every for a in ACTIVITIES] for g in groups}
    return {"curves": curves, "saturation": saturation([c[-1] for c in curves.values()])}


def saturation(alone):
    """S (in units of the all-toggling excess) with ``S (1 - prod(1 - x / S)) = 1`` for the
    groups' alone figures ``alone`` at the operating point; None when they sum to at most 1
    (additive: no saturation)."""
    if sum(alone) <= 1.0 + 1e-9:
        return None

    def f(s):
        return s * (1.0 - math.prod(1.0 - x / s for x in alone)) - 1.0
    lo, hi = max(max(alone), 1.0) * (1 + 1e-12), 1e9      # f(lo) < 0 < f(hi)
    for _ in range(200):        # bisection in log space: f rises monotonically in s
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if f(mid) > 0 else (mid, hi)
    return math.sqrt(lo * hi)


def combine(alone, s):
    """The joint excess (units of the all-toggling excess) of groups whose alone figures are
    ``alone``, saturation ``s`` (None: their sum)."""
    if s is None:
        return sum(alone)
    return s * (1.0 - math.prod(1.0 - min(x, s) / s for x in alone))


def group_energy(curve, activity):
    """One group's excess alone at ``activity`` toggles from its measured ``curve``: linear
    between the points, through 0 below the first, at the operating point's slope above it."""
    top = ACTIVITIES[-1]
    if activity >= top:
        return curve[-1] * activity / top
    return float(np.interp(activity, (0.0, *ACTIVITIES), (0.0, *curve)))


@functools.lru_cache(maxsize=1)
def load_table(path=TABLE_PATH):
    """{family: {"w1,w2,..": point}} (empty when the table is missing: the rule then does not
    apply and the shares' linear rule stands, :func:`models.primitive_groups.effective_activity`)."""
    if not Path(path).is_file():
        return {}
    return json.loads(Path(path).read_text())["points"]


def point(family, widths):
    """The measured point of ``family`` at ``widths`` (the nearest measured one's when not
    measured), or None."""
    measured = load_table().get(family)
    if not measured:
        return None
    key = ",".join(map(str, widths))
    if key in measured:
        return measured[key]

    def distance(k):
        return sum(abs(math.log(a / b)) for a, b in zip(widths, (int(v) for v in k.split(","))))
    return measured[min(measured, key=distance)]


def effective_activity(family, widths, activities):
    """The activity (toggles per cycle) at which the sim basis's linear interpolation of the
    table's energy gives the rule's joint energy of the groups at ``activities`` ({group:
    toggles}); None when the point has no curves (the caller keeps the shares' rule)."""
    p = point(family, tuple(widths))
    if p is None:
        return None
    alone = [group_energy(c, activities.get(g, 0.0)) for g, c in p["curves"].items()]
    return combine(alone, p["saturation"]) * characterise.STA_ACTIVITY


def write_table(path=TABLE_PATH, points=None, progress=None):
    """Measure ``points`` ((family, widths); default every point of the primitive table in
    :data:`FAMILIES`) and write the table; given ``points``, the table's other points are kept."""
    out = {}
    if points is None:
        points = sorted({(p["family"], tuple(p["widths"])) for p in characterise.load_table()["points"]
                         if p["family"] in FAMILIES})
    elif Path(path).is_file():
        out = json.loads(Path(path).read_text())["points"]
    for i, (family, widths) in enumerate(points):
        m = measure(family, widths)
        out.setdefault(family, {})[",".join(map(str, widths))] = {
            "curves": {g: [round(v, 6) for v in c] for g, c in m["curves"].items()},
            "saturation": None if m["saturation"] is None else round(m["saturation"], 6)}
        if progress:
            progress(i + 1, len(points), family, widths)
    data = {"provenance": characterise_sim.measured_provenance(
        "per grouped primitive (models.group_saturation_sim.FAMILIES): each input group's simulated "
        "excess energy alone (the others constant at duty 0.5) at each activity, over the "
        "all-groups-at-0.5 excess; saturation S of the independent-disturbance rule",
        "python -m models.group_saturation_sim", GENERATOR, activities=list(ACTIVITIES), held_duty=HELD_DUTY),
        "points": out}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    load_table.cache_clear()
    return len(points)


if __name__ == "__main__":
    start = time.perf_counter()

    def _progress(i, n, family, widths):
        if i % 10 == 0 or i == n:
            print(f"{i}/{n} {family} {list(widths)} {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{write_table(progress=_progress)} points -> {TABLE_PATH}")
