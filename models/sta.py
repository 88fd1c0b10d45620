"""Static timing and power of a Yosys-mapped netlist with OpenSTA (Debian ``opensta``, ``sta``).

One concept: run ``sta`` on a gate-level netlist (``write_verilog -noattr -simple-lhs`` after
``dfflibmap``/``abc`` onto a liberty, see :mod:`models.synth`) and parse what it reports.

Constraints (the same for every unit, so designs compare): one ideal clock ``clk`` of the asked
period on the ``clk`` port (a virtual clock for a purely combinational unit, e.g. a border unit);
every other input arrives 0 ns after the clock edge and every output is required 0 ns before the
next one (``set_input_delay 0`` / ``set_output_delay 0``): a unit's operands come from flops and its
results go to flops, whose clock-to-Q and setup outside the unit are not counted. Paths from the
synchronous ``rst`` are false paths (held for many cycles; its fan-out is buffered in layout). The
netlist is as ABC mapped it for area: high-fan-out nets are not buffered, so a path can start with
one small gate driving many pins (e.g. the INT8 PE's ``act[7]``). Hence

* critical path: the worst ``report_checks -path_delay max`` path (start, end, data arrival time
  ``delay_ns`` and the capturing flop's library ``setup_ns``; 0 for an output port);
* Fmax = 1000 / (delay_ns + setup_ns) MHz: the period at which that path's slack is 0. Ideal clock,
  no wire load model (the liberty's default), no input slew: a relative figure between designs.

Power: ``report_power`` at a given clock, with per-input-port-bit activity set by
``set_power_activity -input_ports <bit> -activity A -duty D`` (A = toggles per clock cycle, D = the
fraction of cycles the bit is 1); OpenSTA propagates them through the netlist. Bits not given get
activity 0, duty 0 (``rst`` included); ``set_power_activity -pins`` is broken in the 2019 Debian build and is
not used. Figures are split by sequential / combinational cells into internal, switching and
leakage power, in mW.

Results are cached as JSON under ``<cache_dir>/sta``, keyed by the netlist text, top, clock,
activities, the liberty's contents and the sta version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .cache_file import content_key, liberty_digest, write_atomic

INSTALL_HINT = "install it with: apt-get install -y opensta"
NOMINAL_PERIOD_NS = 10.0
STA_RECIPE_VERSION = 3


class StaError(RuntimeError):
    """``sta`` is missing or failed, or its report could not be read; the message is one line."""


@functools.lru_cache(maxsize=None)
def find_sta():
    """(path, version) of OpenSTA's ``sta``; :class:`StaError` naming the Debian package if absent."""
    exe = shutil.which("sta")
    if exe is None:
        raise StaError(f"OpenSTA (sta) not found; {INSTALL_HINT}")
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise StaError(f"OpenSTA ({exe}) does not run: {e}; {INSTALL_HINT}") from None
    return exe, (out.stdout.strip() or out.stderr.strip() or "unknown").splitlines()[0]


@dataclass(frozen=True)
class CriticalPath:
    start: str       # input port, or a flop named by the net its Q drives
    end: str         # output port, or a flop named by the net its Q drives
    delay_ns: float  # data arrival time at the end point
    setup_ns: float  # library setup time of the capturing flop (0 at an output port)

    @property
    def period_ns(self):
        return self.delay_ns + self.setup_ns


@dataclass(frozen=True)
class PowerSplit:
    """Power in mW by cell group."""
    internal: float
    switching: float
    leakage: float

    @property
    def total(self):
        return self.internal + self.switching + self.leakage

    def to_dict(self):
        return {**asdict(self), "total": self.total}


@dataclass(frozen=True)
class StaReport:
    """One OpenSTA run: the critical path at the constraints above and ``report_power`` at
    ``clock_mhz`` with the activities given (sorted (bit name, activity, duty) triples)."""
    top: str
    netlist_hash: str
    clock_mhz: float
    critical_path: CriticalPath
    sequential: PowerSplit
    combinational: PowerSplit
    version: str
    slack_ns: float = 0.0   # of the critical path at clock_mhz (report_checks' own figure)
    cached: bool = False

    @property
    def fmax_mhz(self):
        return 1000.0 / self.critical_path.period_ns

    @property
    def power(self):
        """Total over both groups, mW."""
        s, c = self.sequential, self.combinational
        return PowerSplit(s.internal + c.internal, s.switching + c.switching, s.leakage + c.leakage)

    def to_dict(self):
        return {"top": self.top, "netlist_hash": self.netlist_hash, "clock_mhz": self.clock_mhz,
                "critical_path": asdict(self.critical_path), "sequential": asdict(self.sequential),
                "combinational": asdict(self.combinational), "version": self.version,
                "slack_ns": self.slack_ns}

    @classmethod
    def from_dict(cls, data, cached=False):
        return cls(top=data["top"], netlist_hash=data["netlist_hash"], clock_mhz=data["clock_mhz"],
                   critical_path=CriticalPath(**data["critical_path"]),
                   sequential=PowerSplit(**data["sequential"]),
                   combinational=PowerSplit(**data["combinational"]), version=data["version"],
                   slack_ns=data["slack_ns"], cached=cached)


# --------------------------------------------------------------------------------------------
# script and parsing


def _tcl_quote(name):
    return "{" + name + "}"


def sta_script(top, clock_mhz, activity, has_clock, has_reset=False):
    """The Tcl script: constraints, activities (per input port bit), timing and power reports."""
    period = 1000.0 / clock_mhz
    clock = (f"create_clock -name clk -period {period:.6f} [get_ports clk]\n"
             "set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]\n"
             if has_clock else
             f"create_clock -name clk -period {period:.6f}\n"
             "set_input_delay 0 -clock clk [all_inputs]\n")
    lines = ["read_liberty cells.lib", "read_verilog netlist.v", f"link_design {top}", clock.rstrip(),
             "set_output_delay 0 -clock clk [all_outputs]"]
    if has_reset:
        # reset is held for many cycles and its fan-out tree is buffered in layout; unbuffered
        # here, one input port driving every flop's reset gate would be every design's worst path
        lines.append("set_false_path -from [get_ports rst]")
    for name, act, duty in activity:
        lines.append(f"set_power_activity -input_ports [get_ports {_tcl_quote(name)}] "
                     f"-activity {act:.6g} -duty {duty:.6g}")
    lines += ["puts PEARRAY-CHECKS", "report_checks -path_delay max -digits 4",
              "puts PEARRAY-POWER", "report_power -digits 8"]
    return "\n".join(lines) + "\n"


_NUM = r"(-?[0-9.]+(?:[eE][-+]?\d+)?)"


def _flop_outputs(netlist):
    """{flop instance: net its Q pin drives} from the mapped netlist (``.Q(net)``)."""
    found = {}
    for inst, pins in re.findall(r"^\s*[A-Za-z]\w*\s+(\S+)\s*\(([^;]*?)\);", netlist, re.M):
        q = re.search(r"\.Q\(\s*(.*?)\s*\)\s*(?:,|$)", pins.strip())
        if q:
            found[inst.lstrip("\\")] = q[1].lstrip("\\").strip()
    return found


def _point(text, flops):
    """'act[7] (input port ...)' -> 'act[7]'; '_1995_ (rising edge-triggered flip-flop ...)'
    -> 'acc_out[5] (flop)' (the net its Q drives)."""
    name, _, what = text.partition(" ")
    name = name.lstrip("\\")
    if "flip-flop" in what or "latch" in what:
        return f"{flops.get(name, name).replace(' [', '[')} (flop)"
    return name


def parse_checks(report, netlist):
    """The critical path of a ``report_checks -path_delay max`` text."""
    start = re.search(r"Startpoint:\s*(.+)", report)
    end = re.search(r"Endpoint:\s*(.+)", report)
    arrival = re.search(_NUM + r"\s+data arrival time", report)
    if not (start and end and arrival):
        if "No paths found" in report:
            raise StaError("OpenSTA found no timing path (a unit without registers or I/O paths)")
        raise StaError("could not read OpenSTA's report_checks output")
    setup = re.search(_NUM + r"\s+" + _NUM + r"\s+library setup time", report)
    flops = _flop_outputs(netlist)
    return CriticalPath(_point(start[1].strip(), flops), _point(end[1].strip(), flops),
                        float(arrival[1]), -float(setup[1]) if setup else 0.0)


def parse_power(report):
    """(sequential, combinational) :class:`PowerSplit` in mW from ``report_power`` text (W)."""
    groups = {}
    for group in ("Sequential", "Combinational"):
        found = re.search(rf"^{group}\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}", report, re.M)
        if not found:
            raise StaError(f"could not read the {group} line of OpenSTA's report_power")
        groups[group] = PowerSplit(*(float(found[i]) * 1e3 for i in (1, 2, 3)))
    return groups["Sequential"], groups["Combinational"]


# --------------------------------------------------------------------------------------------
# running


def port_bits(netlist, direction="input"):
    """The ``direction`` ("input" / "output") port bits of a netlist's top module as OpenSTA
    names them (``act[3]``; a 1-bit port by its name)."""
    bits = []
    pattern = rf"^\s*{direction}\s+(?:\[(\d+):(\d+)\]\s*)?\\?(\S+)\s*;"
    for msb, lsb, name in re.findall(pattern, netlist, re.M):
        if msb == "":
            bits.append(name)
        else:
            lo, hi = sorted((int(msb), int(lsb)))
            bits.extend(f"{name}[{b}]" for b in range(lo, hi + 1))
    return bits


def input_bits(netlist):
    """The input port bits of a netlist's top module (:func:`port_bits`), ``clk`` left out."""
    return [b for b in port_bits(netlist) if b != "clk"]


def normalise_activity(activity):
    """{bit name: (toggles per cycle, duty)} -> sorted ((name, a, d), ...) with a in [0, 1]."""
    out = []
    for name, (act, duty) in sorted(dict(activity or {}).items()):
        if not (0 <= act <= 1 and 0 <= duty <= 1):
            raise ValueError(f"activity of {name} must be in 0..1 with duty in 0..1, not {act}, {duty}")
        out.append((name, float(act), float(duty)))
    return tuple(out)


def run_sta(netlist, top, liberty, *, clock_mhz=None, activity=None, cache_dir=None):
    """Time and power ``netlist`` (gate-level Verilog text, top module ``top``) on ``liberty``.

    ``clock_mhz`` None: first time the netlist at a nominal 10 ns, then report power at its own
    Fmax. ``activity``: {input port bit (e.g. ``act[3]``): (toggles per cycle, duty)}; bits not
    named get 0. Returns a :class:`StaReport`; cached under ``cache_dir`` if given."""
    exe, version = find_sta()
    # every input bit gets a figure: a bit left unset would take OpenSTA's default input activity,
    # and "set_power_activity -input" (all inputs) overrides the per-port figures in this build
    activity = {**{bit: (0.0, 0.0) for bit in input_bits(netlist)}, **dict(activity or {})}
    unknown = sorted(set(activity) - set(input_bits(netlist)))
    if unknown:
        raise ValueError(f"activity for bits that are not inputs of {top}: {', '.join(unknown[:5])}")
    activity = normalise_activity(activity)
    lib_bytes = Path(liberty).read_bytes()
    has_clock = re.search(r"^\s*input\s+clk\s*;", netlist, re.M) is not None
    if clock_mhz is None:
        nominal = run_sta(netlist, top, liberty, clock_mhz=1000.0 / NOMINAL_PERIOD_NS,
                          activity=(), cache_dir=cache_dir)
        clock_mhz = nominal.fmax_mhz
    key = content_key([netlist, top, f"{clock_mhz:.9g}", repr(activity), str(STA_RECIPE_VERSION),
                       version, liberty_digest(lib_bytes)])
    cache_file = Path(cache_dir) / "sta" / f"{top}-{key}.json" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            return StaReport.from_dict(json.loads(cache_file.read_text()), cached=True)
        except (ValueError, TypeError, KeyError):
            pass  # unreadable or from another layout: run again
    with tempfile.TemporaryDirectory(prefix="pearray-sta-") as work:
        work = Path(work)
        (work / "netlist.v").write_text(netlist)
        (work / "cells.lib").write_bytes(lib_bytes)
        (work / "script.tcl").write_text(sta_script(top, clock_mhz, activity, has_clock,
                                                    "rst" in input_bits(netlist)))
        proc = subprocess.run([exe, "-no_splash", "-exit", "script.tcl"], cwd=work,
                              capture_output=True, text=True, timeout=3600)
    out = proc.stdout
    errors = [ln for ln in (out + proc.stderr).splitlines() if ln.startswith("Error")]
    if proc.returncode != 0 or errors or "PEARRAY-POWER" not in out:
        tail = (errors or (proc.stderr or out).strip().splitlines()[-1:] or ["(no output)"])[0]
        raise StaError(f"OpenSTA failed on {top} (exit {proc.returncode}): {tail}")
    checks, power = out.split("PEARRAY-CHECKS", 1)[1].split("PEARRAY-POWER", 1)
    sequential, combinational = parse_power(power)
    slack = re.search(_NUM + r"\s+slack \((?:MET|VIOLATED)\)", checks)
    if slack is None:
        raise StaError(f"could not read the slack in OpenSTA's report_checks for {top}")
    report = StaReport(top=top, netlist_hash=hashlib.sha256(netlist.encode()).hexdigest()[:16],
                       clock_mhz=float(clock_mhz), critical_path=parse_checks(checks, netlist),
                       sequential=sequential, combinational=combinational, version=version,
                       slack_ns=float(slack[1]))
    if cache_file is not None:
        write_atomic(cache_file, json.dumps(report.to_dict(), indent=1))
    return report
