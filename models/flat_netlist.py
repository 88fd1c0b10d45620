"""One flat module of a mapped hierarchical netlist, for the gate-level simulation.

An output-stationary array is mapped with one shared PE module (:func:`models.synth.shared_pe_module`:
a flattened MX 4x4 array took > 5 min in ABC), so its netlist is the top module instantiating that
module R x C times. :func:`models.gate_toggles.compile_netlist` and
:func:`models.netlist_power.netlist_power` evaluate one module of Liberty cells. This flattens the
mapped netlist AFTER mapping: Yosys reads it with the Liberty cells as blackboxes, ``hierarchy -top``,
``flatten``, ``write_verilog -noattr -simple-lhs`` (the synthesis flow's own writer). No ``opt``
and no ABC run: every mapped cell of every PE copy is kept as mapped, so the flat netlist is the
hierarchical one's cells, R x C copies of the PE's, and nothing else (each copy's nets prefixed with
its instance name, ``pe_0_1.``). Cached next to the synthesis results (:func:`models.synth.cache_root`),
keyed by the netlist's text, the tool and the liberty.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from . import synth
from .cache_file import content_key, liberty_digest, write_atomic

_MODULES = re.compile(r"^module\s", re.M)
_MODULE_TEXT = re.compile(r"^module \\?(\S+?)\s*\(.*?^endmodule\n?", re.M | re.S)


def module_count(netlist):
    """How many modules the Verilog text ``netlist`` defines."""
    return len(_MODULES.findall(netlist))


def pe_module(result):
    """The mapped text of the PE module that ``result``'s (:class:`models.synth.SynthResult`)
    array instantiates R x C times (``{top}.pe_0_0``, :func:`models.synth.shared_pe_module`), None
    when the array was mapped as one module: the PE as the array's synthesis maps it, to simulate
    alone against the PE's own synthesis."""
    want = f"{result.top}.pe_0_0"
    return next((m.group(0) for m in _MODULE_TEXT.finditer(result.netlist()) if m.group(1) == want), None)


def flat_netlist(result, *, tool=None):
    """The mapped netlist of ``result`` (:class:`models.synth.SynthResult`) as one module: its own
    text when it already is one, else the Yosys-flattened text (module docstring), cached."""
    netlist = result.netlist()
    if module_count(netlist) == 1:
        return netlist
    tool = tool or synth.find_yosys()
    lib_bytes = synth.liberty_path().read_bytes()
    key = content_key([netlist, result.top, tool.kind, tool.version, liberty_digest(lib_bytes)])
    path = synth.cache_root() / f"{result.top}-flat-{key}.net.v"
    if path.is_file():
        return path.read_text()
    with tempfile.TemporaryDirectory(prefix="pearray-flatten-") as work:
        work = Path(work)
        (work / "mapped.v").write_text(netlist)
        (work / "cells.lib").write_bytes(lib_bytes)
        tool.run(f"read_liberty -lib cells.lib\nread_verilog mapped.v\nhierarchy -top {result.top}\n"
                 "flatten\nwrite_verilog -noattr -simple-lhs flat.v\n", work, what=f"{result.top} (flatten)")
        flat = (work / "flat.v").read_text()
    if module_count(flat) != 1:
        raise synth.SynthesisError(f"{result.top}: flattening left {module_count(flat)} modules")
    write_atomic(path, flat)
    return flat
