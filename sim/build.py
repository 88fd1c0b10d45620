"""Cached builds of a design in one simulator (:mod:`sim.simulators`), through cocotb's Python runner.

A build lives in ``<cache>/<simulator>/<design slug>-<Verilog hash>/``; a ``built.ok`` stamp marks a
complete build, so each (simulator, design parameters, Verilog) triple is compiled once per machine.
The cache root is ``$PEARRAY_BUILD_DIR`` or ``~/.cache/pearray``. Waveforms (``PEARRAY_WAVES=1``)
use a separate build with tracing compiled in.
"""

import fcntl
import os
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


def build(design, *, simulator=VERILATOR, waves=None):
    """Generate and compile ``design`` for ``simulator`` unless an identical build is cached.
    Returns a Build; ToolchainError if the simulator is not installed."""
    waves = waves_requested() if waves is None else waves
    text = design.verilog()
    directory = (simulator.cache_root()
                 / f"{design.slug}{'_waves' if waves else ''}-{verilog_hash(text)}")
    verilog_path = directory / f"{TOP_NAME}.v"
    stamp = directory / "built.ok"
    with simulator.environment():   # a missing tool fails here, before anything is written
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers build a design once
            if not stamp.exists():
                verilog_path.write_text(text)
                sources = [verilog_path, *simulator.support_files(directory)]
                simulator.runner().build(
                    sources=sources, hdl_toplevel=TOP_NAME, build_dir=directory / "obj",
                    build_args=list(simulator.build_args), timescale=simulator.timescale,
                    waves=waves, log_file=directory / "build.log")
                stamp.write_text(design.slug + "\n")
    return Build(design, simulator, directory, verilog_path, waves)
