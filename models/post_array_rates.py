"""The measured activity of every grouped design's post-array unit: what the cost model prices it at.

A post-array unit's parts act on two kinds of event (:func:`models.inventory.post_array_parts`):
a ``"word"`` part follows the unit's live inputs, which change with every array word (every
fold's: the group's sum so far), a ``"group"`` part once per dequantised word. Each is priced at
the toggles its inputs make per event, measured on the unit's own stream
(:func:`models.post_array_activity.post_array_run`: the words the accelerator's group writer
delivers on MiniLM L0 FFN1 through the design's quantisers, or on random codes, checked through
the unit's RTL against the golden model): :class:`PostArrayRates`' ``word`` (the run's
``word_activity``) and ``group`` (its ``group_activity``).

The figures of every registered variant with a post-array unit, on both sources, are the
repository table ``models/data/post_array_activity.json`` (per entry: the two rates, the operand
data hash and date; provenance: the run's shape and the command that regenerates it, ``python -m
models.post_array_rates``, about 10 s per entry), so default cost numbers are deterministic;
another option setting is measured once and cached under ``~/.cache/pearray/activity`` (as
:mod:`models.part_activity` caches a PE's).
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import asdict, dataclass
from pathlib import Path

from .activity import REAL_SPEC, SOURCES
from .part_activity import _cache_dir
from .post_array_activity import post_array_run
from .registry import PE_KINDS, full_options, get_kind
from .stored_table import table_key, table_or_measured, write_entries
from .synth import POST_ARRAY, has_unit

TABLE_PATH = Path(__file__).resolve().parent / "data" / "post_array_activity.json"
#: 2: per-port rates (word_ports, group_ports)
GENERATOR = 2


@dataclass(frozen=True)
class PostArrayRates:
    """Toggles per event of a post-array unit's inputs on one operand source: ``word`` per array
    word (the mean over the bits it reads there), ``group`` per dequantised word (over the bits
    its "group" parts read, :data:`models.post_array_activity.GROUP_PORTS`); ``word_ports`` /
    ``group_ports`` the same per input port (((port, toggles), ...)); provenance: ``source``,
    ``data_hash`` of the operand codes, ``date`` of the measurement."""
    pe: str
    pe_options: tuple
    source: str
    word: float
    group: float
    word_ports: tuple
    group_ports: tuple
    data_hash: str
    date: str

    def rate(self, event, ports=()):
        """The toggles per use of a part acting on :mod:`models.cost`'s post-array ``event``
        ("post_word" / "post_group", :data:`models.inventory.POST_ARRAY_EVENTS`) fed by
        ``ports`` ((port, bits), ...: the mean of those ports' rates weighted by their bits; a
        port that does not change on that event, e.g. ``total`` per array word, counts 0);
        none named: the event's mean over the unit's inputs."""
        per_port = dict(self.word_ports if event == "post_word" else self.group_ports)
        if not ports:
            return self.word if event == "post_word" else self.group
        return sum(bits * per_port.get(port, 0.0) for port, bits in ports) / sum(bits for _, bits in ports)

    def to_dict(self):
        d = asdict(self)
        for key in ("pe_options", "word_ports", "group_ports"):
            d[key] = [list(o) for o in getattr(self, key)]
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(**{**d, **{k: tuple(tuple(o) for o in d[k]) for k in ("pe_options", "word_ports", "group_ports")}})


def measure(pe, pe_options=(), source="minilm"):
    """:class:`PostArrayRates` of the post-array unit of PE kind ``pe`` measured now
    (:func:`models.post_array_activity.post_array_run`'s default shape)."""
    options = full_options(pe, pe_options)
    run = post_array_run(pe, options, source)
    return PostArrayRates(pe, options, source, run.word_activity, run.group_activity, run.word_rates,
                          run.group_rates, run.data_hash, datetime.date.today().isoformat())


def grouped_variants(kinds=None):
    """(kind, label, options as registered, sorted) of every registered variant of ``kinds``
    (default: every kind) with a post-array unit."""
    for name in kinds or list(PE_KINDS):
        kind = PE_KINDS[name]
        for label, options in kind.variants:
            if has_unit(kind.prototype(**dict(options)), POST_ARRAY):
                yield name, label, tuple(sorted(options))


def table_settings():
    """(kind, full options) of every registered variant with a post-array unit."""
    return [(name, full_options(name, options)) for name, _, options in grouped_variants()]


@functools.lru_cache(maxsize=256)
def post_array_rates(pe, pe_options=(), source="minilm"):
    """The :class:`PostArrayRates` of a design's post-array unit: the repository table's entry,
    else the user cache's, else measured and cached. ValueError for an unknown source or a
    design without a post-array unit."""
    if source not in SOURCES:
        raise ValueError(f"activity source must be one of {', '.join(SOURCES)}, not {source!r}")
    pe_options = full_options(pe, pe_options)
    if not has_unit(get_kind(pe).prototype(**dict(pe_options)), POST_ARRAY):
        raise ValueError(f"PE kind {pe!r} with options {dict(pe_options)} has no post-array unit")
    return table_or_measured(TABLE_PATH, table_key(pe, pe_options, source), _cache_dir(), f"post{GENERATOR}",
                             lambda: measure(pe, pe_options, source), PostArrayRates.from_dict)


def write_table(path=TABLE_PATH):
    """Measure every :func:`table_settings` unit on both sources and write the repository table."""
    entries = {}
    for name, options in table_settings():
        for source in SOURCES:
            r = measure(name, options, source)
            entries[table_key(name, options, source)] = r.to_dict()
    write_entries(path, entries, generator=GENERATOR, spec=REAL_SPEC,
                  what="models.post_array_rates.measure of the post-array unit of every registered "
                       "variant with one (models.post_array_activity.post_array_run: M 32 x K 256 x N 4, "
                       "a 4-row array)",
                  regenerate="python -m models.post_array_rates")
    post_array_rates.cache_clear()
    return len(entries)


if __name__ == "__main__":
    print(f"{write_table()} entries -> {TABLE_PATH}")
