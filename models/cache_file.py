"""The on-disk caches' two shared recipes: a content key and an atomic write.

Synthesis (:mod:`models.synth`), STA (:mod:`models.sta`), the flattened netlists
(:mod:`models.flat_netlist`), the measured activities (:mod:`models.part_activity`) and the
report's and accuracy runs' results (:mod:`sim.report_cache`, :mod:`sim.accuracy`) each keep one
file per computed result. Two things are the same in all of them:

* :func:`content_key`: 24 hex digits of sha256 over the fields a result depends on, joined by NUL
  bytes (a field cannot end inside another: the netlist text and the top name are separate fields
  even where one could be a prefix of the other). The key is part of every cache file's name, so
  this recipe must not change: a different byte would orphan every cached synthesis, STA and
  flattening run (``tests/test_cache_file.py`` pins one key).
* :func:`write_atomic`: the text goes to a temporary in the same folder, then ``os.replace``.
  pytest-xdist workers and ``pearray accuracy``'s forked workers write the same caches at once; a
  concurrent reader sees the old file or the whole new one, never a torn one.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path


def content_key(fields):
    """24 hex digits of sha256 over ``fields`` (str, encoded as UTF-8, or bytes) joined by NUL."""
    return hashlib.sha256(b"\0".join(f if isinstance(f, bytes) else f.encode() for f in fields)).hexdigest()[:24]


def liberty_digest(lib_bytes):
    """The liberty's field of a :func:`content_key`: its raw sha256 digest (32 bytes)."""
    return hashlib.sha256(lib_bytes).digest()


def write_atomic(path, text):
    """Write ``text`` to ``path`` (its folder created) through a temporary beside it and
    ``os.replace``; the temporary's name carries the process and thread, so concurrent writers
    never share one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
