"""Cached Verilator builds of a design, through cocotb's Python runner.

A build lives in ``<cache>/<design slug>-<Verilog hash>/``; a ``built.ok`` stamp marks a
complete build, so each (design parameters, Verilog) pair is compiled once per machine. The cache
root is ``$PEARRAY_BUILD_DIR`` or ``~/.cache/pearray/verilator``. Waveforms (``PEARRAY_WAVES=1``)
use a separate build with tracing compiled in.
"""

import contextlib
import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from models.design import TOP_NAME, verilog_hash
from .toolchain import find_verilator

WAIVERS = Path(__file__).with_name("waive.vlt")
# -O3 and fast X handling; split big C++ functions so gcc -O2 stays quick on large arrays (a 16x16
# array's single 3000-line update function otherwise takes gcc minutes). The cocotb path and the
# native benchmark harness use the same flags.
VERILATOR_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--output-split-cfuncs", "300"]
# cocotb only touches the top module's ports; making every internal signal public
# (--public-flat-rw, which cocotb's runner hard-codes) blocks Verilator's optimisations:
# measured on a 16x16 array, 68 s -> 23 s build and 12.4 -> 5.8 us per idle cycle.
TOP_ACCESS_VLT = '`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'


def cocotb_runner():
    """cocotb's Verilator runner without the blanket --public-flat-rw (cocotb is pinned to 2.1.x
    because this overrides a private method; a version bump must re-check it)."""
    from cocotb_tools.runner import Verilator as CocotbVerilator

    class TopOnlyVerilator(CocotbVerilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"]
            return cmds

    return TopOnlyVerilator()


def cache_root():
    return Path(os.environ.get("PEARRAY_BUILD_DIR") or Path.home() / ".cache" / "pearray" / "verilator")


def waves_requested():
    return os.environ.get("PEARRAY_WAVES", "") not in ("", "0")


@dataclass(frozen=True)
class Build:
    design: object
    directory: Path
    verilog_path: Path
    waves: bool


@contextlib.contextmanager
def verilator_env():
    """Process environment with Verilator's PATH/VERILATOR_ROOT/MAKEFLAGS, restored afterwards
    (cocotb's runner overlays os.environ on top of anything passed to it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(find_verilator().env(saved))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build(design, *, waves=None):
    """Generate and compile ``design`` unless an identical build is cached. Returns a Build."""
    waves = waves_requested() if waves is None else waves
    text = design.verilog()
    directory = cache_root() / f"{design.slug}{'_waves' if waves else ''}-{verilog_hash(text)}"
    directory.mkdir(parents=True, exist_ok=True)
    verilog_path = directory / f"{TOP_NAME}.v"
    stamp = directory / "built.ok"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers build a design once
        if not stamp.exists():
            verilog_path.write_text(text)
            shutil.copyfile(WAIVERS, directory / WAIVERS.name)
            access = directory / "top_access.vlt"
            access.write_text(TOP_ACCESS_VLT.format(top=TOP_NAME))
            with verilator_env():
                runner = cocotb_runner()
                runner.build(sources=[verilog_path, directory / WAIVERS.name, access],
                             hdl_toplevel=TOP_NAME, build_dir=directory / "obj",
                             build_args=VERILATOR_FLAGS, waves=waves,
                             log_file=directory / "build.log")
            stamp.write_text(design.slug + "\n")
    return Build(design, directory, verilog_path, waves)
