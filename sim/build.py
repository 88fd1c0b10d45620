"""Cached builds of a design in one simulator (:mod:`sim.simulators`), through cocotb's Python runner.

A build lives in ``<cache>/<simulator>/<design slug>-<Verilog hash>/``; a ``built.ok`` stamp marks a
complete build, so each (simulator, design parameters, Verilog) triple is compiled once per machine.
The stamp records the size and SHA-256 of the files a run executes (the simulator's
``artefacts``); a build whose artefacts no longer match (truncated, deleted, overwritten) is
removed and compiled again instead of being run.
The cache root is ``$PEARRAY_BUILD_DIR`` or ``~/.cache/pearray``. Waveforms (``PEARRAY_WAVES=1``)
use a separate build with tracing compiled in.
"""

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from models.design import TOP_NAME, verilog_hash
from .simulators import VERILATOR


def waves_requested():
    return os.environ.get("PEARRAY_WAVES", "") not in ("", "0")


@dataclass(frozen=True)
class Build:
    design: object
    simulator: object       # the sim.simulators.Simulator it was compiled for
    directory: Path
    verilog_path: Path
    waves: bool


def _fingerprint(path):
    """(size, SHA-256) of a file, or None when it is missing."""
    try:
        with open(path, "rb") as f:
            return [os.fstat(f.fileno()).st_size, hashlib.file_digest(f, "sha256").hexdigest()]
    except FileNotFoundError:
        return None


def _runtime():
    """The cocotb runtime libraries a build links against (by path: a build made in another
    virtualenv loads them from there, and fails once that one is gone)."""
    # deferred like Simulator.runner(): cocotb_tools takes ~0.1 s to import
    from cocotb_tools.config import libs_dir
    return str(libs_dir)


def _intact(directory, stamp, simulator):
    """The stamp is a manifest, its runtime libraries are this installation's, and every artefact
    it lists is still the file that was built."""
    try:
        manifest = json.loads(stamp.read_text())
        recorded = manifest["artefacts"]
    except (ValueError, KeyError, TypeError):
        return False          # a stamp of an older pearray, or a damaged one: rebuild
    if manifest.get("runtime") != _runtime() or not Path(_runtime()).is_dir():
        return False
    return all(recorded.get(name) is not None and
               recorded[name] == _fingerprint(directory / "obj" / name)
               for name in simulator.artefacts)


def _directory(design, simulator, waves, text):
    return simulator.cache_root() / f"{design.slug}{'_waves' if waves else ''}-{verilog_hash(text)}"


def is_cached(design, *, simulator=VERILATOR, waves=None):
    """Whether :func:`build` would find ``design`` built (for progress lines: a fresh Verilator
    build takes minutes, a cached one nothing). Reads the stamp without taking the lock."""
    waves = waves_requested() if waves is None else waves
    directory = _directory(design, simulator, waves, design.verilog())
    stamp = directory / "built.ok"
    return stamp.exists() and _intact(directory, stamp, simulator)


def build(design, *, simulator=VERILATOR, waves=None):
    """Generate and compile ``design`` for ``simulator`` unless an identical build is cached.
    Returns a Build; ToolchainError if the simulator is not installed."""
    waves = waves_requested() if waves is None else waves
    text = design.verilog()
    directory = _directory(design, simulator, waves, text)
    verilog_path = directory / f"{TOP_NAME}.v"
    stamp = directory / "built.ok"
    with simulator.environment():   # a missing tool fails here, before anything is written
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers build a design once
            if stamp.exists() and not _intact(directory, stamp, simulator):
                stamp.unlink()
                shutil.rmtree(directory / "obj", ignore_errors=True)
            if not stamp.exists():
                verilog_path.write_text(text)
                sources = [verilog_path, *simulator.support_files(directory)]
                simulator.runner().build(
                    sources=sources, hdl_toplevel=TOP_NAME, build_dir=directory / "obj",
                    build_args=list(simulator.build_args), timescale=simulator.timescale,
                    waves=waves, log_file=directory / "build.log")
                # Verilator's precompiled headers are 138 MB of a 140 MB build and are only read
                # when recompiling, which a cached build never does: a full test run filled the disk.
                for header in (directory / "obj").glob("*.gch"):
                    header.unlink()
                stamp.write_text(json.dumps({"design": design.slug, "runtime": _runtime(), "artefacts": {
                    name: _fingerprint(directory / "obj" / name) for name in simulator.artefacts}}))
    return Build(design, simulator, directory, verilog_path, waves)
