"""One hash over source files: what the on-disk caches key their entries by, so an edit to any
file that defines a cached result starts a new key and no stale entry is ever read
(:mod:`models.hardware_cache`, :mod:`sim.accuracy`)."""

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def files_digest(paths):
    """sha256 (hex) over each of ``paths`` in the order given: its path relative to the
    repository root, then its bytes."""
    h = hashlib.sha256()
    for path in paths:
        h.update(str(Path(path).relative_to(ROOT)).encode())
        h.update(Path(path).read_bytes())
    return h.hexdigest()
