"""The on-disk cache of the report's per-design checks (:mod:`sim.report_energy_check`,
:mod:`sim.report_array_energy`): one JSON file of named figures per design and check.

The checks simulate hardware (a PE in Amaranth, an array's netlist gate by gate), which the
synthesis and STA caches alone do not avoid. An entry lives under ``<synth cache>/<folder>`` (the
cache of the report's other synthesis results, :func:`models.synth.cache_root`) and is keyed by
the hash of every source and data file under ``models/`` and ``hw/``
(:func:`models.hardware_cache.code_digest`), the design and the check's own settings, so an edit
that can change a figure starts a new key and no stale entry is read.
"""

import hashlib
import json

from models import synth
from models.cache_file import write_atomic
from models.hardware_cache import code_digest


def cache_file(folder, kind, options, *settings):
    """The cache path of the check ``folder``'s entry for the PE ``kind`` with ``options`` under
    ``settings`` (everything else the figures depend on: the check's source, clock, its entry's
    field names; code_digest covers models/ and hw/, not the sim/ module that calls this)."""
    options = json.dumps(sorted(dict(options).items()))
    key = "|".join(str(part) for part in (code_digest(), kind, options, *settings))
    return synth.cache_root() / folder / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def cached(path, fields, compute):
    """The values of ``fields`` (a tuple of names) stored at ``path``, else ``compute()``'s (a
    tuple in ``fields``' order), stored there first."""
    if path.is_file():
        entry = json.loads(path.read_text())
        return tuple(entry[k] for k in fields)
    values = tuple(compute())
    write_atomic(path, json.dumps(dict(zip(fields, values))))
    return values
