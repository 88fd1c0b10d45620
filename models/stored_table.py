"""Loading a measured table of ``models/data/`` that was measured on the primitive table's netlists.

The duty factors (:mod:`models.duty`, :mod:`models.duty_sim`) and the primitives' input pin
capacitances (:mod:`models.primitive_pincaps`) are measured on the mapped netlists of the points
of the primitive table (``models/data/primitives_osu018.json``, :mod:`models.characterise`), so
each stores the Yosys version and liberty SHA-256 it was measured with and the version of the
generator that wrote its layout. :func:`load` reads one and refuses, naming the command that
regenerates it, a table that is missing, of another generator, or measured with another Yosys or
liberty than the primitive table now holds (its figures would describe other netlists).
The activity tables (:mod:`models.part_activity`, :mod:`models.field_activity`,
:mod:`models.internal_activity`) share one layout: entries keyed by :func:`table_key`, written one
per line by :func:`write_entries` and read by :func:`load_entries`.
"""

from __future__ import annotations

import datetime
import functools
import json
from pathlib import Path

from . import characterise
from .cache_file import write_atomic
from .registry import full_options
from .tech import UnknownComponentError

#: provenance keys a measured table shares with the primitive table's
MATCHED = ("yosys", "liberty_sha256")


def stale(table, generator, primitives=None):
    """Why ``table`` (a loaded measured table) does not describe the current netlists, or None:
    its provenance's ``generator`` is not ``generator``, or its :data:`MATCHED` keys differ from
    the primitive table's (``primitives``, default :func:`models.characterise.load_table`; no
    primitive table: nothing to match)."""
    prov = table.get("provenance", {})
    if prov.get("generator") != generator:
        return f"generator {prov.get('generator')}, not {generator}"
    base = (primitives if primitives is not None else characterise.load_table() or {}).get("provenance", {})
    for key in MATCHED:
        if key in base and prov.get(key) != base[key]:
            return f"{key} {prov.get(key)}, the primitive table's {base[key]}"
    return None


@functools.lru_cache(maxsize=None)
def load(path, regenerate, generator):
    """The table at ``path`` (JSON); raises :class:`models.tech.UnknownComponentError` naming
    ``regenerate`` (the command that writes it) when it is missing or :func:`stale`."""
    try:
        table = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UnknownComponentError(f"no table {path}; run `{regenerate}`") from None
    why = stale(table, generator)
    if why:
        raise UnknownComponentError(f"table {path} is out of date ({why}); run `{regenerate}`")
    return table


def table_key(pe, pe_options, source):
    """An activity table's entry key, ``pe|k=v,...|source``: every option named
    (:func:`models.registry.full_options`), so a setting given in part finds its entry."""
    return f"{pe}|{','.join(f'{k}={v}' for k, v in full_options(pe, pe_options))}|{source}"


@functools.lru_cache(maxsize=None)
def load_entries(path):
    """The ``entries`` of the activity table at ``path`` ({} when there is none: the callers then
    measure); ``load_entries.cache_clear()`` after rewriting one."""
    path = Path(path)
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["entries"]


def write_entries(path, entries, *, what, regenerate, spec, **more):
    """Write ``{"provenance": ..., "entries": ...}`` to ``path`` with one entry per line (sorted by
    key), so that a regeneration's diff shows which settings changed: the layout of the activity
    tables (:mod:`models.part_activity`, :mod:`models.field_activity`, :mod:`models.internal_activity`,
    :mod:`models.post_array_rates`). The provenance says ``what`` measured the entries on which
    real tensors (``spec``), today's date, the command that ``regenerate``-s the table and ``more``
    (e.g. the generator version); the table's cached reading (:func:`load_entries`) is dropped."""
    provenance = {"what": what, "spec": spec, "date": datetime.date.today().isoformat(),
                  "regenerate": regenerate, **more}
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(entries.items()))
    Path(path).write_text(f'{{"provenance": {json.dumps(provenance, sort_keys=True)},\n'
                          f' "entries": {{\n{body}\n}}}}\n')
    load_entries.cache_clear()


def table_or_measured(table_path, key, cache_dir, prefix, measure, from_dict):
    """The activity-table entry ``key`` of ``table_path`` (:func:`load_entries`), else the user
    cache's (``cache_dir / prefix-<key>.json``), else ``measure()`` written there: each read by
    ``from_dict`` (what ``measure`` returns has ``to_dict``)."""
    entry = load_entries(table_path).get(key)
    if entry is not None:
        return from_dict(entry)
    name = key.replace("|", "-").replace(",", "_").replace("=", "")
    path = Path(cache_dir) / f"{prefix}-{name}.json"
    if path.is_file():
        return from_dict(json.loads(path.read_text()))
    measured = measure()
    write_atomic(path, json.dumps(measured.to_dict()))
    return measured
