"""What BitFusion's run-time fusion muxes add to a Fusion Unit: synthesis + OpenSTA of the
run-time-fusion unit against the project's fixed-mode one.

This project's BitFusion PE (:class:`hw.pe_bitfusion.BitFusionPE`) is built for one precision pair,
so its area and energy are a lower bound on BitFusion's Fusion Unit, which chooses its fusion mode
at run time. Two units, each closed on its 32-bit accumulator, are synthesised (Yosys, osu018:
:mod:`models.synth`) and power-analysed (OpenSTA: :mod:`models.sta`) at :data:`CLOCK_MHZ`:

* ``fixed``: :class:`hw.mac_units.MacUnit` of ``BitFusionPE(act_bits=8, weight_bits=8)``
  (the W8A8 mode MixPE's artifact runs its BitFusion baseline in);
* ``runtime``: :class:`hw.bitfusion_runtime.RuntimeFusionMac` held in the same W8A8 mode.

Both get the same operand activity: the W8A8 mode's 8 activation and 8 weight bits at random
(0.5 toggles per cycle, duty 0.5); the run-time unit's other operand bits are 0 and its ``mode``
bits are constant. The ratios runtime / fixed of area and of energy per cycle are what the muxes
add (:mod:`models.claim_factors`). Running this module (``python -m models.bitfusion_muxes``)
regenerates :data:`DATA_FILE`, which ``pearray claims`` reads (no synthesis in CI).
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from amaranth.back import verilog

from hw.bitfusion_runtime import MODES, RuntimeFusionMac
from hw.mac_units import MacUnit
from hw.pe_bitfusion import BitFusionPE
from . import synth
from .sta import find_sta, run_sta

DATA_FILE = Path(__file__).parent / "data" / "bitfusion_muxes.json"
CLOCK_MHZ = 100.0
#: the mode both units run: MixPE's BitFusion baseline (8-bit activations and weights)
ACT_BITS, WEIGHT_BITS = 8, 8
UNITS = ("fixed", "runtime")


def component(unit):
    """The Amaranth component of ``unit`` ("fixed" or "runtime")."""
    if unit == "fixed":
        return MacUnit(BitFusionPE(act_bits=ACT_BITS, weight_bits=WEIGHT_BITS))
    if unit == "runtime":
        return RuntimeFusionMac()
    raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")


def activity(unit):
    """{input bit: (toggles per cycle, duty)}: the mode's operand bits at random, every other
    operand bit 0, the run-time unit's ``mode`` constant at that mode."""
    fixed = BitFusionPE(act_bits=ACT_BITS, weight_bits=WEIGHT_BITS)
    out = {f"act[{b}]": (0.5, 0.5) for b in range(fixed.act_width)}
    out |= {f"weight[{b}]": (0.5, 0.5) for b in range(fixed.weight_width)}
    if unit == "runtime":
        mode = MODES.index((ACT_BITS, WEIGHT_BITS))
        out |= {f"mode[{b}]": (0.0, float(mode >> b & 1)) for b in range(len(component(unit).mode))}
    return out


def unit_figures(unit, clock_mhz=CLOCK_MHZ):
    """{area_um2, flop_bits, energy_pj_per_cycle, power_mw, netlist_hash} of one unit."""
    text = verilog.convert(component(unit), name=f"bitfusion_{unit}", emit_src=False)
    result = synth.synthesize_verilog(text, f"bitfusion_{unit}")
    report = run_sta(result.netlist(), f"bitfusion_{unit}", synth.liberty_path(), clock_mhz=clock_mhz,
                     activity=activity(unit), cache_dir=synth.cache_root())
    return {"area_um2": result.area_um2, "flop_bits": result.flop_bits, "power_mw": report.power.total,
            "energy_pj_per_cycle": report.power.total * 1e3 / clock_mhz, "netlist_hash": result.netlist_hash}


def generate(clock_mhz=CLOCK_MHZ):
    """Both units' figures with their provenance (the content of :data:`DATA_FILE`)."""
    tool = synth.find_yosys()
    return {
        "provenance": {
            "generator": "python -m models.bitfusion_muxes (models/bitfusion_muxes.py)",
            "date": datetime.date.today().isoformat(), "yosys": f"{tool.kind} {tool.version}",
            "opensta": find_sta()[1], "liberty": str(synth.liberty_path()), "clock_mhz": clock_mhz,
            "mode": f"W{WEIGHT_BITS}A{ACT_BITS}", "activity": "the mode's operand bits random (0.5, duty 0.5)",
        },
        "units": {u: unit_figures(u, clock_mhz) for u in UNITS},
    }


def load(path=DATA_FILE):
    """The cached figures (:func:`generate`'s dict)."""
    return json.loads(Path(path).read_text())


def ratios(data=None):
    """(area, energy per cycle) of the run-time unit over the fixed one."""
    units = (data if data is not None else load())["units"]
    return (units["runtime"]["area_um2"] / units["fixed"]["area_um2"],
            units["runtime"]["energy_pj_per_cycle"] / units["fixed"]["energy_pj_per_cycle"])


def note(data=None):
    """What a row with a BitFusion side says about the muxes, with the cached figures."""
    data = data if data is not None else load()
    area, energy = ratios(data)
    prov = data["provenance"]
    return (f"run-time fusion muxes measured apart (hw.bitfusion_runtime; {prov['yosys']}, OpenSTA "
            f"{prov['opensta']}, osu018, {prov['mode']} mode; models/data/{DATA_FILE.name}): the run-time "
            f"Fusion Unit with its accumulator is x{area:.3g} the fixed-mode one's area, so BitFusion's array "
            f"area here is a lower bound; its energy per cycle comes out x{energy:.3g} under OpenSTA's "
            f"vectorless propagation through two differently structured adder trees, so no energy factor "
            f"is taken from it")


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_FILE
    written = generate()
    path.write_text(json.dumps(written, indent=1, sort_keys=True) + "\n")
    for name, fig in written["units"].items():
        print(f"{name}: {fig['area_um2']:.0f} um^2, {fig['energy_pj_per_cycle']:.4g} pJ/cycle")
