"""OpenSTA's power per cell instance of a mapped netlist, grouped by the cell's role in it.

``report_power`` splits a unit only into sequential and combinational cells, so it cannot say
which part of a PE the cost model over- or under-counts. ``report_power -instances`` (which the
2019 Debian build supports) gives every cell instance's internal, switching and leakage power
under the same activities (:func:`models.sta.sta_script`: per input port bit, OpenSTA propagates
them); Yosys names the cells ``_N_`` after flattening, so the groups come from the netlist's
structure, not from names (:func:`roles`):

* ``flop``: the flip-flops (their clock pins' energy every cycle plus their D pins' toggles);
* ``flop_input``: the cells whose output is a flop's D (where synthesis folds a register's
  enable and reset into the logic before it: the enabled register primitive's ``MUX2``/``NOR2``);
* ``logic``: every other cell (the combinational datapath).

A diagnostic for :mod:`bench.bench_energy_context` (not an input of the cost model). Power is
in mW at the given clock, as :class:`models.sta.PowerSplit`; nothing is cached (one OpenSTA run
per call, seconds for a PE).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from . import sta
from .sta import PowerSplit, StaError

ROLES = ("flop", "flop_input", "logic")
_NUM = r"-?[0-9.]+(?:[eE][-+]?\d+)?"
_KEYWORDS = {"module", "input", "output", "inout", "wire", "assign", "reg", "endmodule"}


def cells(netlist):
    """{instance: (cell type, {pin: net})} of the top module of a flat mapped netlist."""
    out = {}
    for typ, inst, pins in re.findall(r"^\s*([A-Za-z]\w*)\s+(\S+)\s*\(([^;]*?)\);", netlist, re.M):
        if typ in _KEYWORDS:
            continue
        out[inst.lstrip("\\")] = (typ, {p: n.replace(" ", "").lstrip("\\")
                                        for p, n in re.findall(r"\.(\w+)\(\s*([^)]*?)\s*\)", pins)})
    return out


def is_flop(cell_type):
    """True for the osu018 flip-flop cells (``DFFPOSX1``, ``DFFNEGX1``, ``DFFSR``)."""
    return cell_type.startswith("DFF")


def roles(netlist):
    """{instance: one of :data:`ROLES`} (see the module docstring)."""
    found = cells(netlist)
    d_nets = {pins.get("D") for typ, pins in found.values() if is_flop(typ)}
    out = {}
    for inst, (typ, pins) in found.items():
        if is_flop(typ):
            out[inst] = "flop"
        else:
            out[inst] = "flop_input" if (pins.get("Y") or pins.get("Q")) in d_nets else "logic"
    return out


def parse_instances(report):
    """{instance: :class:`models.sta.PowerSplit` (mW)} from ``report_power -instances`` text (W)."""
    out = {}
    for i, s, leak, _, inst in re.findall(rf"^\s*({_NUM})\s+({_NUM})\s+({_NUM})\s+({_NUM})\s+(\S+)\s*$",
                                          report, re.M):
        out[inst.lstrip("\\")] = PowerSplit(float(i) * 1e3, float(s) * 1e3, float(leak) * 1e3)
    return out


def instance_power(netlist, top, liberty, *, clock_mhz, activity=None):
    """(sequential, combinational, {instance: power}) of ``netlist`` at ``clock_mhz`` with
    ``activity`` ({input port bit: (toggles per cycle, duty)}; bits not named get 0, as
    :func:`models.sta.run_sta` does): the whole-unit split and every cell's, all
    :class:`models.sta.PowerSplit` in mW."""
    exe, _ = sta.find_sta()
    activity = sta.normalise_activity({**{b: (0.0, 0.0) for b in sta.input_bits(netlist)},
                                       **dict(activity or {})})
    has_clock = re.search(r"^\s*input\s+clk\s*;", netlist, re.M) is not None
    script = sta.sta_script(top, clock_mhz, activity, has_clock, "rst" in sta.input_bits(netlist))
    script += "puts PEARRAY-INSTANCES\nreport_power -instances [get_cells *] -digits 8\n"
    with tempfile.TemporaryDirectory(prefix="pearray-sta-inst-") as work:
        work = Path(work)
        (work / "netlist.v").write_text(netlist)
        (work / "cells.lib").write_bytes(Path(liberty).read_bytes())
        (work / "script.tcl").write_text(script)
        proc = subprocess.run([exe, "-no_splash", "-exit", "script.tcl"], cwd=work,
                              capture_output=True, text=True, timeout=3600)
    out = proc.stdout
    if proc.returncode != 0 or "PEARRAY-INSTANCES" not in out:
        raise StaError(f"OpenSTA failed on {top} (exit {proc.returncode}) in report_power -instances")
    unit, per_instance = out.split("PEARRAY-INSTANCES", 1)
    sequential, combinational = sta.parse_power(unit.split("PEARRAY-POWER", 1)[1])
    return sequential, combinational, parse_instances(per_instance)


def role_power(netlist, top, liberty, *, clock_mhz, activity=None):
    """{role: total mW} over :data:`ROLES` (:func:`roles`, :func:`instance_power`)."""
    _, _, per_instance = instance_power(netlist, top, liberty, clock_mhz=clock_mhz, activity=activity)
    found = roles(netlist)
    missing = sorted(set(found) - set(per_instance))
    if missing:
        raise StaError(f"report_power -instances left out {len(missing)} cells of {top}, e.g. {missing[0]}")
    totals = dict.fromkeys(ROLES, 0.0)
    for inst, role in found.items():
        totals[role] += per_instance[inst].total
    return totals
