"""How a primitive's OpenSTA switching energy splits between its input groups.

A multiplier whose weight input is stationary switches far less than one with both operands
toggling, and a register's enable drives every bit's load mux: one mean activity over all input
bits gets both wrong. OpenSTA propagates input transition densities through the cells (linear in
the input densities at fixed signal probabilities), so the switching energy above the
constant-input figure is a sum of one term per input group. For each measured point of the
families whose input groups come from different signals (:data:`GROUPS`), this module measures
with OpenSTA, on the same mapped netlist as :mod:`models.characterise`, the energy per cycle with

* every input constant (duty 0.5, activity 0), and
* one group's bits toggling :data:`models.characterise.STA_ACTIVITY` times per cycle (duty 0.5),
  the others constant at duty 0.5,

and stores each group's share of the summed excess (the shares of a point sum to 1, so equal
activities on every group reproduce :func:`models.cost_primitives.sta_energy` exactly). A part's
effective activity is then the share-weighted mean of its groups' activities
(:func:`effective_activity`). Widths not measured take the shares of the family's nearest measured
point (log-width distance).

Table: ``models/data/primitive_groups_osu018.json`` with its provenance; regenerate with
``python -m models.primitive_groups`` (a few hundred OpenSTA runs on cached netlists, minutes).
"""

from __future__ import annotations

import datetime
import functools
import json
import math
from pathlib import Path

from . import characterise, sta, synth
from .primitive_energy_sim import composition_table

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_groups_osu018.json"
GENERATOR = 1
#: family -> its input port groups, in :func:`models.characterise.verilog`'s port names
GROUPS = {"mac": ("a", "b", "c"), "mult": ("a", "b"), "smult": ("a", "b"), "reg_en": ("d", "en")}


def measure_shares(family, widths):
    """{group: share of the switching energy} of one primitive, measured with OpenSTA."""
    text, top = characterise.verilog(family, tuple(widths))
    netlist = synth.synthesize_verilog(text, top).netlist()
    bits = characterise.data_input_bits(netlist)
    group_of = {b: b.split("[")[0] for b in bits}
    base = characterise.sta_energy_pj(netlist, top, {b: (0.0, 0.5) for b in bits})
    excess = {}
    for g in GROUPS[family]:
        toggling = {b: (characterise.STA_ACTIVITY if group_of[b] == g else 0.0, 0.5) for b in bits}
        hot = characterise.sta_energy_pj(netlist, top, toggling)
        excess[g] = max(0.0, hot - base)
    total = sum(excess.values())
    if total <= 0:
        return {g: 1.0 / len(excess) for g in excess}
    return {g: e / total for g, e in excess.items()}


def write_table(path=TABLE_PATH):
    """Measure every point of the :data:`GROUPS` families in the primitive table; write the table."""
    table = characterise.load_table()
    points = sorted({(p["family"], tuple(p["widths"])) for p in table["points"] if p["family"] in GROUPS})
    out = {}
    for family, widths in points:
        out.setdefault(family, {})[",".join(map(str, widths))] = {
            g: round(s, 6) for g, s in measure_shares(family, widths).items()}
    prov = dict(table["provenance"])
    data = {"provenance": {"what": "share of each input group in a primitive's OpenSTA switching "
                           "energy (one group toggling at activity 0.5, duty 0.5; the others constant "
                           "at duty 0.5; minus all constant)", "generator": GENERATOR,
                           "liberty_sha256": prov.get("liberty_sha256"), "yosys": prov.get("yosys"),
                           "sta": sta.find_sta()[1], "date": datetime.date.today().isoformat(),
                           "regenerate": "python -m models.primitive_groups"},
            "shares": out}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    _table.cache_clear()
    shares.cache_clear()
    return len(points)


@functools.lru_cache(maxsize=2)
def _table(basis="sta"):
    """The shares of ``basis``: this module's OpenSTA table, or the simulated-toggle one
    (:mod:`models.duty_sim`)."""
    if basis == "sim":
        return composition_table()["shares"]
    if not TABLE_PATH.is_file():
        return {}
    return json.loads(TABLE_PATH.read_text())["shares"]


@functools.lru_cache(maxsize=1024)
def shares(family, widths, basis="sta"):
    """{group: share} of ``family`` at ``widths`` (the nearest measured point's when not
    measured) on ``basis`` ("sta" / "sim"); None for a family without groups or without a table."""
    measured = _table(basis).get(family)
    if family not in GROUPS or not measured:
        return None
    key = ",".join(map(str, widths))
    if key in measured:
        return dict(measured[key])

    def distance(k):
        other = [int(v) for v in k.split(",")]
        return sum(abs(math.log(a / b)) for a, b in zip(widths, other))
    return dict(measured[min(measured, key=distance)])


def effective_activity(family, widths, activities, basis="sta"):
    """Share-weighted mean of ``activities`` ({group: toggles}) of one part on ``basis``; None when
    the family has no measured groups (the caller uses one activity for every input)."""
    split = shares(family, tuple(widths), basis)
    if split is None:
        return None
    return sum(share * activities[g] for g, share in split.items())


if __name__ == "__main__":
    print(f"{write_table()} points -> {TABLE_PATH}")
