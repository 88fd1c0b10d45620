"""How a primitive's switching and idle energy follow the duty (probability of 1) of its inputs.

In a multiplier's partial-product array a bit ``a_i & b_j`` changes only while ``b_j`` is 1: its
transition density is ``P(b_j) D(a_i) + P(a_i) D(b_j)`` (OpenSTA propagates densities this way).
A weight whose bits are mostly 0 (the high bits of small int4 codes, a constant exponent pattern)
kills its rows' switching however much the activation toggles; one that is mostly 1 doubles it.
A register's data reaches its flops only while its enable is 1, and its clocked-but-holding
energy (the feedback mux, the flops' internal state) depends on how often it loads. The primitive
table (:mod:`models.characterise`) measures the switching at duty 0.5 on every input and the idle
energy with every input constant at 0, and the input-group shares (:mod:`models.primitive_groups`)
at duty 0.5, so a part's measured port toggles alone cannot carry this. For each measured point of
the families whose input groups come from different signals (:data:`FAMILIES`: the AND arrays
``mac``, ``mult``, ``smult`` and the enabled register ``reg_en``), this module measures with
OpenSTA, on the same mapped netlist:

* switching: for every toggling group ``g`` and every other group ``h``, the energy above the
  constant-input figure with ``g``'s bits toggling :data:`models.characterise.STA_ACTIVITY` per
  cycle at duty 0.5, ``h``'s bits constant at each duty of :data:`DUTIES`, the remaining groups
  constant at 0.5, minus the constant-input energy at the same duties, divided by the same excess
  with ``h`` at 0.5 (so 1 at the characterisation point: the model's figures there are unchanged);
* idle: for every group ``h``, the constant-input energy with ``h`` at each duty and the others
  at 0, divided by the table's (every input at 0).

A part's group ``g`` then switches at its measured toggles times the product over the other
groups ``h`` of the factor at ``h``'s measured mean duty (linear between the measured duties;
:func:`duty_factor`), and its idle energy is the table's times the product of the idle factors
(:func:`idle_factor`). The product treats the groups' effects as independent: exact for the
partial-product array (``D(a_i) P(b_j)`` summed over the array is ``sum D(a) * sum P(b)``, so the
port's mean duty carries it), an approximation for the adder tree's carries. The toggling group's
own duty is left at 0.5 (second order: it moves carries, not the array). Widths not measured take
the factors of the family's nearest measured point (log-width distance).

Table: ``models/data/primitive_duty_osu018.json`` with its provenance; regenerate with
``python -m models.duty`` (about 3,000 OpenSTA runs on cached netlists, about 10 min on 2 cores).
"""

from __future__ import annotations

import datetime
import functools
import json
import math
from pathlib import Path

import numpy as np

from . import characterise, sta, synth
from .primitive_energy_sim import composition_table
from .primitive_groups import GROUPS
from .stored_table import load

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_duty_osu018.json"
GENERATOR = 1
#: the families with input groups from different signals (:data:`models.primitive_groups.GROUPS`):
#: the AND arrays and the enabled register
FAMILIES = ("mac", "mult", "smult", "reg_en")
#: duties at which another group is held constant (0.5 is the characterisation point)
DUTIES = (0.0, 0.25, 0.5, 0.75, 1.0)
REFERENCE = 0.5


def factors_from(energy, family):
    """{toggling group: {other group: [factor at each of :data:`DUTIES`]}, "idle": {group: [idle
    factor at each duty]}} of ``family`` from ``energy(toggling, held, duty, others)``: pJ per cycle
    with group ``toggling``'s bits (None: none) toggling at
    :data:`models.characterise.STA_ACTIVITY`, group ``held``'s constant at ``duty`` and the rest
    constant at ``others`` (the definitions of the module docstring, whoever measures the energy:
    OpenSTA here, simulated toggles in :mod:`models.duty_sim`). A switching factor is 1 at duty 0.5,
    an idle factor 1 at duty 0, by construction."""
    # the table's idle figure: every input constant at 0 (models.characterise.sta_energies)
    idle = energy(None, None, 0.0, 0.0)
    out = {"idle": {h: [energy(None, h, d, 0.0) / idle if idle > 0 else 1.0 for d in DUTIES]
                    for h in GROUPS[family]}}
    for g in GROUPS[family]:
        for h in GROUPS[family]:
            if h == g:
                continue
            excess = [max(0.0, energy(g, h, d, REFERENCE) - energy(None, h, d, REFERENCE)) for d in DUTIES]
            ref = excess[DUTIES.index(REFERENCE)]
            out.setdefault(g, {})[h] = [e / ref if ref > 0 else 1.0 for e in excess]
    return out


def group_activity(bits, toggling, held, duty, others):
    """{bit: (toggles per cycle, duty)} of a primitive's data input ``bits`` (``a[3]``, ``en``):
    group ``toggling``'s (its port name; None: none) at :data:`models.characterise.STA_ACTIVITY`
    and duty 0.5, group ``held``'s constant at ``duty``, the rest constant at ``others``."""
    return {b: (characterise.STA_ACTIVITY if b.split("[")[0] == toggling else 0.0,
                duty if b.split("[")[0] == held else others) for b in bits}


def measure_factors(family, widths):
    """:func:`factors_from` of one primitive, its energies measured with OpenSTA on its mapped
    netlist."""
    text, top = characterise.verilog(family, tuple(widths))
    netlist = synth.synthesize_verilog(text, top).netlist()
    bits = characterise.data_input_bits(netlist)

    def energy(toggling, held, duty, others):
        return characterise.sta_energy_pj(netlist, top, group_activity(bits, toggling, held, duty, others))
    return factors_from(energy, family)


def write_table(path=TABLE_PATH):
    """Measure every point of the :data:`FAMILIES` in the primitive table; write the table."""
    table = characterise.load_table()
    points = sorted({(p["family"], tuple(p["widths"])) for p in table["points"] if p["family"] in FAMILIES})
    out = {}
    for family, widths in points:
        out.setdefault(family, {})[",".join(map(str, widths))] = {
            g: {h: [round(f, 6) for f in fs] for h, fs in others.items()}
            for g, others in measure_factors(family, widths).items()}
    prov = dict(table["provenance"])
    data = {"provenance": {"what": "switching energy of one input group toggling (activity 0.5, duty 0.5) "
                           "with another group constant at each duty, the rest constant at duty 0.5, "
                           "minus all constant at the same duties, relative to the other group at "
                           "duty 0.5; idle: all inputs constant, one group at each duty, the rest "
                           "at 0, relative to all at 0", "duties": list(DUTIES), "generator": GENERATOR,
                           "liberty_sha256": prov.get("liberty_sha256"), "yosys": prov.get("yosys"),
                           "sta": sta.find_sta()[1], "date": datetime.date.today().isoformat(),
                           "regenerate": "python -m models.duty"},
            "factors": out}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    load.cache_clear()
    factors.cache_clear()
    return len(points)


def _table(basis="sta"):
    """The factors of ``basis``: this module's OpenSTA table, or the simulated-toggle one
    (:mod:`models.duty_sim`), both read by :func:`models.stored_table.load` (an error naming the
    regenerate command when missing or out of date)."""
    if basis == "sim":
        return composition_table()["factors"]
    return load(str(TABLE_PATH), "python -m models.duty", GENERATOR)["factors"]


@functools.lru_cache(maxsize=1024)
def factors(family, widths, basis="sta"):
    """{toggling group: {other group: factors at :data:`DUTIES`}} of ``family`` at ``widths``
    (the nearest measured point's when not measured) on ``basis`` ("sta" / "sim"); None for a
    family outside :data:`FAMILIES`."""
    measured = _table(basis).get(family)
    if family not in FAMILIES or not measured:
        return None
    key = ",".join(map(str, widths))
    if key not in measured:
        def distance(k):
            other = [int(v) for v in k.split(",")]
            return sum(abs(math.log(a / b)) for a, b in zip(widths, other))
        key = min(measured, key=distance)
    return measured[key]


def idle_factor(family, widths, duties, basis="sta"):
    """Factor on the table's idle energy of one part given its groups' mean duties (``duties``:
    {group: duty}; a group not named stays at the table's 0): the product of each group's
    measured idle factor, linear between :data:`DUTIES`. 1 for a family without a table."""
    measured = factors(family, tuple(widths), basis)
    if measured is None:
        return 1.0
    out = 1.0
    for h, fs in measured["idle"].items():
        out *= float(np.interp(duties.get(h, 0.0), DUTIES, fs))
    return out


def duty_factor(family, widths, group, duties, basis="sta"):
    """Factor on group ``group``'s switching of one part given the other groups' mean duties
    (``duties``: {group: duty}; a group not named stays at 0.5): the product of each other
    group's measured factor, linear between :data:`DUTIES`. 1 for a family without a table."""
    measured = factors(family, tuple(widths), basis)
    if measured is None:
        return 1.0
    out = 1.0
    for h, fs in measured[group].items():
        out *= float(np.interp(duties.get(h, REFERENCE), DUTIES, fs))
    return out


def weighted(family, widths, activities, duties, basis="sta"):
    """``activities`` ({group: toggles}) each times its :func:`duty_factor` under ``duties``
    ({group: mean duty}): the toggles at duty 0.5 that switch the part as much."""
    return {g: a * duty_factor(family, widths, g, duties, basis) for g, a in activities.items()}


if __name__ == "__main__":
    print(f"{write_table()} points -> {TABLE_PATH}")
