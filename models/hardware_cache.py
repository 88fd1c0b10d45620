"""On-disk cache of the batch cost model's per-hardware facts (:class:`models.cost.Hardware`).

Reading a hardware configuration's facts builds a probe accelerator in Amaranth (about 2 ms
each); a sweep of 10,000 points has about a thousand distinct configurations, so a cold process
spent most of its time there. The facts depend only on the configuration (PE kind and options,
shape, dataflow, node, activity) and on the code that states them, so they are kept in
``$PEARRAY_HARDWARE_DIR`` (default ``~/.cache/pearray/hardware``), one pickle file per code
version: its name is the hash of every source file under ``models/`` and ``hw/`` and of the
primitive tables in ``models/data`` (:func:`code_digest`), so an edit to any of them starts a new
file and no stale fact is ever read.

Safe to share between processes (Dask workers, other users of the cache): a writer merges its new
entries with the file's current ones and replaces the file atomically (a reader sees the old file
or the new one, never part of one; a racing writer's entries may be dropped and are recomputed).
An unreadable file is ignored (and replaced at the next write).
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
from pathlib import Path

from .source_digest import files_digest

ROOT = Path(__file__).resolve().parents[1]


def cache_dir():
    return Path(os.environ.get("PEARRAY_HARDWARE_DIR") or Path.home() / ".cache" / "pearray" / "hardware")


@functools.lru_cache(maxsize=1)
def code_digest():
    """Hash of the source and data that define a configuration's facts (models/, hw/)."""
    files = [*(ROOT / "models").rglob("*.py"), *(ROOT / "hw").rglob("*.py"),
             *(p for p in (ROOT / "models" / "data").rglob("*") if p.is_file())]
    return files_digest(sorted(files))[:32]


def _read(path):
    try:
        with open(path, "rb") as f:
            entries = pickle.load(f)
        return entries if isinstance(entries, dict) else {}
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError):
        return {}


class HardwareCache:
    """``get(key, compute)``: the cached value of ``key`` (a hashable tuple), else ``compute()``
    remembered; :meth:`flush` writes the new entries to disk."""

    def __init__(self):
        self._entries = None
        self._new = {}
        self._digest = None

    def _path(self):
        return cache_dir() / f"hardware-{code_digest()}.pkl"

    def _loaded(self):
        if self._entries is None or self._digest != code_digest():
            self._digest = code_digest()
            self._entries = _read(self._path())
            self._new = {}
        return self._entries

    def get(self, key, compute):
        entries = self._loaded()
        if key not in entries:
            entries[key] = self._new[key] = compute()
        return entries[key]

    def flush(self):
        """Write the entries computed since the last flush (merged with the file's)."""
        if not self._new:
            return
        path = self._path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            merged = {**_read(path), **self._new}
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hardware-", suffix=".tmp")
        except OSError:
            return   # a read-only cache folder: the facts are recomputed next time
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(merged, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            return   # a full disk: the same
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._new = {}

    def clear_memory(self):
        """Forget what was read (the next get reads the file again); for tests."""
        self._entries = None
        self._new = {}


#: the process's cache (models.cost_batch reads and writes it)
HARDWARE = HardwareCache()
