"""The primitive energies on the simulated-toggle basis: the cost model's ``basis="sim"``.

The table ``models/data/primitive_energy_sim_osu018.json`` (written by
:mod:`models.characterise_sim`, which says how it is measured) holds, per point of the primitive
table, the energy per cycle with the data inputs toggling
:data:`models.characterise.STA_ACTIVITY` times per cycle and with them constant, both from
zero-delay simulated net toggles priced as OpenSTA 2.0.17 prices them; :func:`energies` reads a
point (or the family's fit) exactly as :func:`models.cost_primitives.sta_energy` reads the OpenSTA
table, so switching the basis changes only where the primitives' toggles come from. The
composition factors of the same basis (input-group shares, duty factors: :mod:`models.duty_sim`)
are ``models/data/primitive_duty_sim_osu018.json`` (:func:`composition_table`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from . import characterise
from .stored_table import load
from .tech import UnknownComponentError

TABLE_PATH = Path(__file__).resolve().parent / "data" / "primitive_energy_sim_osu018.json"
COMPOSITION_PATH = TABLE_PATH.parent / "primitive_duty_sim_osu018.json"
#: the layout version of the composition table :mod:`models.duty_sim` writes (its ``generator``)
COMPOSITION_GENERATOR = 1
#: (active, idle) keys of a point and of a family's fit, pJ per cycle at 180 nm 1.8 V
KEYS = ("energy_sim_pj", "energy_sim_idle_pj")


@functools.lru_cache(maxsize=1)
def load_table(path=TABLE_PATH):
    """(table, {(family, widths): point}); raises naming the regenerate command when missing."""
    try:
        table = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UnknownComponentError(f"no simulated-toggle primitive table {path}; "
                                    f"run `python -m models.characterise_sim`") from None
    return table, {(p["family"], tuple(p["widths"])): p for p in table["points"]}


def energies(name, widths):
    """(active, idle) pJ per cycle at 180 nm 1.8 V of primitive ``name`` at ``widths``: the
    measured point, else the family's fit (never below 0)."""
    table, points = load_table()
    point = points.get((name, tuple(widths)))
    if point is not None:
        return point[KEYS[0]], point[KEYS[1]]
    if name not in table["families"]:
        raise UnknownComponentError(f"unknown cost primitive {name!r} with widths {widths}")
    return tuple(characterise.fitted(table, name, tuple(widths), k) for k in KEYS)


def composition_table(path=COMPOSITION_PATH):
    """{"shares": ..., "factors": ...} of the sim basis (:mod:`models.duty_sim`), in the layouts of
    :mod:`models.primitive_groups`' and :mod:`models.duty`'s tables, read by
    :func:`models.stored_table.load`: raises naming the regenerate command when missing or out of
    date (the sim basis never falls back to OpenSTA's factors)."""
    return load(str(path), "python -m models.duty_sim", COMPOSITION_GENERATOR)
