"""Measured toggle rate and duty of every input port bit of a PE on its operand stream: what a
port field (:class:`models.port_field.Field`) of the inventory toggles at (issue 14's per-field
rule, :meth:`models.part_activity.PartActivity.field_toggles`).

The same run as :func:`models.part_activity.measure` (:func:`models.activity.unit_activity`, the
PE in a weight-stationary column on MiniLM-L6 L0 FFN1 through its kind's quantisers, or its random
codes), kept per bit instead of per port mean. The repository table
``models/data/field_activity.json`` holds every setting of :func:`models.synth.option_settings`
of the kinds whose inventories name fields (:data:`KINDS`), both sources, with provenance (source,
spec, data hash, date); regenerate with ``python -m models.field_activity``. Other settings are
measured on first use (about a second) and kept for the process.
"""

from __future__ import annotations

import datetime
import functools
from pathlib import Path

from .activity import REAL_SPEC, SOURCES, unit_activity
from .registry import full_options, get_kind
from .stored_table import load_entries, table_key, write_entries
from .synth import option_settings

TABLE_PATH = Path(__file__).resolve().parent / "data" / "field_activity.json"
#: the kinds whose PE inventories name port fields (models/ant_gemm.py, models/inventory.py)
KINDS = ("ant", "ovp")
#: the PE input ports kept per bit (``valid`` is one bit: its port figure is its bit's)
PORTS = ("act", "weight", "acc_in")


def measure(pe, pe_options=(), source="minilm"):
    """{"bits": {port: [[toggles per cycle, duty], ...] per bit, LSB first}, provenance...},
    measured now."""
    pe_options = full_options(pe, pe_options)
    act = unit_activity(pe, "pe", pe_options, source)
    bits = {}
    for name, toggles, duty in act.bits:
        port, _, index = name.partition("[")
        if port in PORTS:
            bits.setdefault(port, {})[int(index[:-1]) if index else 0] = [round(toggles, 6), round(duty, 6)]
    return {"pe": pe, "pe_options": [list(kv) for kv in pe_options], "source": source,
            "spec": REAL_SPEC if source == "minilm" else "random codes, seed 0",
            "data_hash": act.data_hash, "date": datetime.date.today().isoformat(),
            "bits": {p: [b[i] for i in sorted(b)] for p, b in bits.items()}}


@functools.lru_cache(maxsize=256)
def port_bits(pe, pe_options=(), source="minilm"):
    """{port: ((toggles per cycle, duty), ...) per bit} of a PE's input ports (the repository
    table, else measured now); ValueError for an unknown source."""
    if source not in SOURCES:
        raise ValueError(f"activity source must be one of {', '.join(SOURCES)}, not {source!r}")
    entry = load_entries(TABLE_PATH).get(table_key(pe, pe_options, source)) or measure(pe, pe_options, source)
    return {p: tuple((float(t), float(d)) for t, d in b) for p, b in entry["bits"].items()}


def field_means(pe, pe_options, source, field):
    """(mean toggles per cycle, mean duty) over ``field``'s bits (a :class:`models.port_field.Field`)."""
    return bit_means(port_bits(pe, tuple(pe_options), source), field, pe)


def bit_means(bits, field, pe=""):
    """(mean toggles per cycle, mean duty) over ``field``'s bits in ``bits`` ({port: ((toggles
    per cycle, duty), ...) per bit}, :func:`port_bits`'s form); ValueError for a bit not there."""
    bits = bits.get(field.port, ())
    if not bits or field.bits[-1] >= len(bits):
        raise ValueError(f"{pe} has no bit {field.bits[-1]} on port {field.port!r}")
    chosen = [bits[b] for b in field.bits]
    return (sum(t for t, _ in chosen) / len(chosen), sum(d for _, d in chosen) / len(chosen))


def write_table(path=TABLE_PATH):
    """Measure every table setting of :data:`KINDS` on both sources and write the repository table."""
    entries = {}
    for name in KINDS:
        for options in option_settings(get_kind(name)):
            for source in SOURCES:
                entries[table_key(name, options, source)] = measure(name, options, source)
    write_entries(path, entries, spec=REAL_SPEC,
                  what="models.field_activity.measure: per input port bit toggles per cycle and duty "
                       "of the PE (models.activity.unit_activity, defaults) for every setting of "
                       "models.synth.option_settings of " + ", ".join(KINDS),
                  regenerate="python -m models.field_activity")
    port_bits.cache_clear()
    return len(entries)


if __name__ == "__main__":
    print(f"{write_table()} entries -> {TABLE_PATH}")
