"""The simulators the cocotb path can run a design in, one frozen description each.

Verilator is the default (compiled C++, fast); Icarus Verilog is the second, independent simulator:
an event-driven interpreter of the same Verilog text with four-state values, so a design whose
outputs or cycle counts depended on a Verilator-specific reading of the Verilog (X handling, initial
values, evaluation order) would disagree. :mod:`sim.build` and :mod:`sim.run` take one of these and
contain no per-simulator branches.
"""

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.design import TOP_NAME
from .toolchain import find_icarus, find_verilator

WAIVERS = Path(__file__).with_name("waive.vlt")
# -O3 and fast X handling; split big C++ functions so gcc -O2 stays quick on large arrays (a 16x16
# array's single 3000-line update function otherwise takes gcc minutes). The cocotb path and the
# native benchmark harness use the same flags.
VERILATOR_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--output-split-cfuncs", "300"]
# cocotb only touches the top module's ports; making every internal signal public
# (--public-flat-rw, which cocotb's runner hard-codes) blocks Verilator's optimisations:
# measured on a 16x16 array, 68 s -> 23 s build and 12.4 -> 5.8 us per idle cycle.
TOP_ACCESS_VLT = '`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n'


def _top_only_verilator():
    """cocotb's Verilator runner without the blanket --public-flat-rw (cocotb is pinned to 2.1.x
    because this overrides a private method; a version bump must re-check it). Imported here, not
    at the top: cocotb_tools.runner takes ~0.1 s to import and only a simulation needs it."""
    from cocotb_tools.runner import Verilator as CocotbVerilator

    class TopOnlyVerilator(CocotbVerilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"]
            return cmds

    return TopOnlyVerilator()


def _verilog_2005_icarus():
    """cocotb's Icarus runner with a Verilog-2005 waveform dump module: the build runs in
    Verilog-2005 mode (see ICARUS below), where cocotb's own dump module (it declares a SystemVerilog
    ``string``) does not compile. The trace goes where cocotb puts it, ``<build>/obj/top.fst``.
    Overrides a private method, like the Verilator runner above (cocotb pinned to 2.1.x)."""
    from cocotb_tools.runner import Icarus as CocotbIcarus

    class Verilog2005Icarus(CocotbIcarus):
        def _create_iverilog_dump_file(self):
            path = str(self.build_dir / f"{self.hdl_toplevel}.fst").replace("\\", "\\\\").replace('"', '\\"')
            self.iverilog_dump_file.write_text(
                "module cocotb_iverilog_dump();\n"
                f'initial begin\n  $dumpfile("{path}");\n  $dumpvars(0, {self.hdl_toplevel});\nend\n'
                "endmodule\n")

    return Verilog2005Icarus()


def _verilator_support_files(directory):
    """The lint waivers and the top-only public access config, written into the build folder."""
    waivers = directory / WAIVERS.name
    shutil.copyfile(WAIVERS, waivers)
    access = directory / "top_access.vlt"
    access.write_text(TOP_ACCESS_VLT.format(top=TOP_NAME))
    return [waivers, access]


def _no_support_files(directory):
    return []


@dataclass(frozen=True)
class Simulator:
    """How to build and run a design in one simulator through cocotb's runner.

    Parameters
    ----------
    name : str
        The ``--simulator`` value, the ``simulator`` field of ``pearray sim --json`` and the cache
        folder: builds are keyed by (simulator, design slug, Verilog hash).
    runner_name : str
        cocotb_tools.runner's name for the simulator (``get_runner(runner_name)``).
    find_tool : callable
        ``() -> tool`` with ``env(base) -> dict`` (PATH and the variables the runner needs);
        raises :class:`sim.toolchain.ToolchainError` naming the missing tool and how to install it.
    build_args : tuple of str
        Extra arguments of the compile step.
    timescale : tuple of str or None
        ``(unit, precision)`` for sources without a ``timescale`` (Amaranth writes none); Icarus
        otherwise defaults to 1 s, too coarse for the testbench's 10 ns clock.
    support_files : callable
        ``(build directory) -> [paths]``: extra sources the compile step needs, written there.
    make_runner : callable or None
        ``() -> cocotb runner`` replacing ``get_runner(runner_name)`` (which must be its base).
    artefacts : tuple of str
        The compiled files a run executes, relative to the build's ``obj`` folder; their sizes
        and SHA-256 are recorded in ``built.ok`` and checked before every reuse, so a truncated or
        damaged build is rebuilt rather than run.
    """
    name: str
    runner_name: str
    find_tool: Callable
    build_args: tuple = ()
    timescale: tuple | None = None
    support_files: Callable = _no_support_files
    make_runner: Callable | None = None
    artefacts: tuple = ()

    def runner(self):
        if self.make_runner is not None:
            return self.make_runner()
        # deferred like cocotb's Verilator runner above: cocotb_tools.runner takes ~0.1 s to
        # import and every CLI command imports this module's users
        from cocotb_tools.runner import get_runner
        return get_runner(self.runner_name)

    def cache_root(self):
        """``$PEARRAY_BUILD_DIR/<name>`` or ``~/.cache/pearray/<name>``."""
        base = os.environ.get("PEARRAY_BUILD_DIR")
        return (Path(base) if base else Path.home() / ".cache" / "pearray") / self.name

    @contextlib.contextmanager
    def environment(self):
        """The process environment with the tool's variables, restored afterwards (cocotb's runner
        overlays os.environ on top of anything passed to it). ToolchainError if the tool is missing."""
        saved = dict(os.environ)
        tool_env = self.find_tool().env(saved)
        os.environ.clear()
        os.environ.update(tool_env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


VERILATOR = Simulator("verilator", "verilator", find_verilator, build_args=tuple(VERILATOR_FLAGS),
                      support_files=_verilator_support_files, make_runner=_top_only_verilator,
                      artefacts=("top",))
# Icarus compiles Verilog-2005 (-g2005 after the -g2012 cocotb's runner passes: the last one wins).
# Amaranth's Verilog (Yosys write_verilog) is Verilog-2005 and relies on its semantics: a declaration
# ``reg \$auto...$N = 0;`` is an initial assignment, i.e. an event at time 0 that wakes every
# ``always @*`` block reading it, so combinational logic whose inputs never change is still computed
# once. Under SystemVerilog rules (-g2012) declaration initialisers run before any process starts and
# raise no event: such blocks stay X. Measured: a bit-serial fp4 PE holding weight 0 (term select
# never changing) left its term X and the whole column's outputs X (7 of 78 small cases failed).
ICARUS = Simulator("icarus", "icarus", find_icarus, build_args=("-g2005",), timescale=("1ns", "1ps"),
                   make_runner=_verilog_2005_icarus, artefacts=("sim.vvp",))

SIMULATORS = {sim.name: sim for sim in (VERILATOR, ICARUS)}
DEFAULT_SIMULATOR = VERILATOR.name


def get_simulator(name):
    """The :class:`Simulator` called ``name``; ValueError listing the known ones."""
    try:
        return SIMULATORS[name]
    except KeyError:
        raise ValueError(f"unknown simulator {name!r}; known simulators: {', '.join(SIMULATORS)}") from None
