"""Technology constants of the cost model: one frozen record per number, each with its source.

Every number the cost model (:mod:`models.cost`) multiplies by is a :class:`TechRecord` in
:data:`TABLE`: its value, unit, source (paper and table, or file and cell), and where it applies
(node, voltage, clock). Numbers derived from cited ones (an interpolation, a ratio of two fits)
say how in ``note``. Looking up a name that is not in the table raises
:class:`UnknownComponentError` naming it: there is no silent default.

Sources
-------
* Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, Fig. 1.1.9
  (energy) and the accompanying area table; 45 nm, 0.9 V. Quoted in the project's spec
  (shared/specs/pe-designs.md section 6).
* DRAM access energy per bit per DRAM type: Accelergy's DRAM tables (spec section 6).
* Node scaling: Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device
  performance from 180 nm to 7 nm", Integration 58 (2017). 45 -> 28 / 22 nm as used by Accelergy
  (spec section 6). 180 -> 45 nm (needed to bring OSU 0.18 um cells to 45 nm) and 45 -> 7 nm: the paper's area
  table (180 -> 45: x1/19) and its energy fits (coefficients as transcribed in UCLA NanoCAD's
  nodeScale, MIT licence).
* Flip-flops, multiplexers and gates are not in Horowitz. Their area and energy come from the OSU
  0.18 um standard-cell liberty ``osu018_stdcells.lib`` (Debian package qflow-tech-osu018 1.3.17;
  180 nm, 1.8 V, typical corner): cell ``area`` attributes, and internal-power tables read as
  :func:`models.synth.derive_osu018_constants` documents (tests re-derive them from the file).
* SRAM cell area: Intel 45 nm 6T cell, 0.346 um^2 (M. Bohr, Intel 45 nm SRAM announcement, Jan
  2006; K. Mistry et al., IEDM 2007).
* DRAM peak bandwidth: JEDEC standards (data rate x interface width of one device/channel/stack).
* Published design figures (OliVe, BitMoD, Bit Fusion): spec sections 1, 2 and 6.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


class UnknownComponentError(KeyError):
    """A cost component, technology constant, node or DRAM type the model has no number for."""

    def __str__(self):
        return str(self.args[0]) if self.args else "unknown component"


@dataclass(frozen=True)
class TechRecord:
    name: str
    value: float
    unit: str
    source: str
    node_nm: int | None = None
    voltage_v: float | None = None
    clock_mhz: float | None = None
    note: str = ""


HOROWITZ = "Horowitz, ISSCC 2014, 45 nm 0.9 V energy/area table (spec section 6)"
ACCELERGY_DRAM = "Accelergy DRAM tables (spec section 6)"
STILLMAKER = "Stillmaker & Baas, Integration 58 (2017)"
OSU018 = "osu018_stdcells.lib (Debian qflow-tech-osu018 1.3.17), typical, 180 nm 1.8 V"

# Stillmaker & Baas (2017) fits, as transcribed in UCLA NanoCAD nodeScale (MIT licence),
# ``depCoeffDict[node]``: entries [0:4] are the delay fit D(V) = a V^3 + b V^2 + c V + d and
# entries [4:7] the energy fit E(V) = a V^2 + b V + c (both relative, per node). The 180 nm energy
# fit is linear in V (its V^2 coefficient is 0). 180 nm is bulk; 45 and 7 nm are the
# high-performance (HP) fits.
STILLMAKER_ENERGY_FIT = {"180": (0.0, 24.64, -17.98), "HP45": (1.018, -0.3107, 0.1539),
                         "HP7": (0.1776, -0.09097, 0.02447)}
STILLMAKER_DELAY_FIT = {"180": (0.0, 97.09, -356.7, 406.5), "HP45": (-501.6, 1567.0, -1619.0, 566.1),
                        "HP7": (-28.58, 76.6, -70.26, 24.69)}
# nodeScale areaDict[dst][src]: area at dst = area at src / areaDict[dst][src]
STILLMAKER_AREA_DIVISOR = {("45", "180"): 19, ("7", "45"): 17, ("7", "180"): 320}
# Supply voltages the scaling is evaluated at: the osu018 liberty's nom_voltage (1.8 V), Horowitz's
# 0.9 V at 45 nm (so the Horowitz cross-check column is at the same point), and 0.7 V at 7 nm
# (an assumption: a typical HP 7 nm supply; the fits are valid over each node's voltage range).
VDD = {"180": 1.8, "HP45": 0.9, "HP7": 0.7}


def stillmaker_energy(node, volts):
    """Relative energy per operation of ``node`` at ``volts`` (Stillmaker & Baas fit)."""
    a, b, c = STILLMAKER_ENERGY_FIT[node]
    return a * volts ** 2 + b * volts + c


def stillmaker_delay(node, volts):
    """Relative gate delay of ``node`` at ``volts`` (Stillmaker & Baas fit)."""
    a, b, c, d = STILLMAKER_DELAY_FIT[node]
    return a * volts ** 3 + b * volts ** 2 + c * volts + d


def _ratio(fit, dst, src):
    return fit(dst, VDD[dst]) / fit(src, VDD[src])


def _horowitz(op, energy, area, note=""):
    return (TechRecord(f"horowitz.{op}.energy", energy, "pJ/op", HOROWITZ, 45, 0.9, note=note),
            TechRecord(f"horowitz.{op}.area", area, "um^2", HOROWITZ, 45, 0.9, note=note))


_RECORDS = [
    *_horowitz("int8_add", 0.03, 36),
    *_horowitz("int32_add", 0.1, 137),
    *_horowitz("int8_mult", 0.2, 282),
    *_horowitz("int32_mult", 3.1, 3495),
    *_horowitz("fp16_add", 0.4, 1360),
    *_horowitz("fp16_mult", 1.1, 1640),
    *_horowitz("fp32_add", 0.9, 4184),
    *_horowitz("fp32_mult", 3.7, 7700),
    TechRecord("horowitz.sram_8kb.read_64b", 10, "pJ/64b", HOROWITZ, 45, 0.9,
               note="cache/SRAM read of 64 bits, 8 KB array"),
    TechRecord("horowitz.sram_32kb.read_64b", 20, "pJ/64b", HOROWITZ, 45, 0.9,
               note="32 KB array"),
    TechRecord("horowitz.sram_1mb.read_64b", 100, "pJ/64b", HOROWITZ, 45, 0.9,
               note="1 MB array"),
    TechRecord("horowitz.dram.read_64b_min", 1300, "pJ/64b", HOROWITZ, note="DRAM, low end"),
    TechRecord("horowitz.dram.read_64b_max", 2600, "pJ/64b", HOROWITZ, note="DRAM, high end"),

    TechRecord("dram.lpddr4.energy", 8, "pJ/bit", ACCELERGY_DRAM),
    TechRecord("dram.ddr4.energy", 15, "pJ/bit", ACCELERGY_DRAM,
               note="the tables give ~15-19 pJ/bit for DDR4; this model picks the low end, 15"),
    TechRecord("dram.gddr5.energy", 14, "pJ/bit", ACCELERGY_DRAM),
    TechRecord("dram.hbm2.energy", 3.9, "pJ/bit", ACCELERGY_DRAM),
    TechRecord("dram.lpddr4.bandwidth", 4.266 * 32 / 8, "GB/s",
               "JEDEC JESD209-4 (LPDDR4): 4266 MT/s top data rate",
               note="one x32 device (two x16 channels): 4.266 GT/s x 4 bytes"),
    TechRecord("dram.ddr4.bandwidth", 3.2 * 64 / 8, "GB/s",
               "JEDEC JESD79-4 (DDR4): DDR4-3200 top speed bin",
               note="one 64-bit channel: 3.2 GT/s x 8 bytes"),
    TechRecord("dram.gddr5.bandwidth", 8 * 32 / 8, "GB/s",
               "JEDEC JESD212 (GDDR5): x32 devices; 6-9 Gb/s per pin shipped (IEEE doc. 8588344, Fig. 1)",
               note="one x32 device at 8 Gb/s per pin"),
    TechRecord("dram.hbm2.bandwidth", 2 * 1024 / 8, "GB/s",
               "JEDEC JESD235A (HBM2): 1024-bit stack interface, 2 Gb/s per pin",
               note="one stack"),

    TechRecord("scale.area.45_to_28", 0.38, "x", f"{STILLMAKER}, as used by Accelergy (spec section 6)", 28),
    TechRecord("scale.energy.45_to_28", 0.51, "x", f"{STILLMAKER}, as used by Accelergy (spec section 6)", 28),
    TechRecord("scale.area.45_to_22", 0.25, "x", f"{STILLMAKER}, as used by Accelergy (spec section 6)", 22),
    TechRecord("scale.energy.45_to_22", 0.29, "x", f"{STILLMAKER}, as used by Accelergy (spec section 6)", 22),
    TechRecord("scale.area.45_to_7", 1 / STILLMAKER_AREA_DIVISOR[("7", "45")], "x",
               f"{STILLMAKER}, area table (45 nm -> 7 nm: 1/17)", 7,
               note="as transcribed in UCLA NanoCAD nodeScale areaDict['7']['45'] = 17"),
    TechRecord("scale.energy.45_to_7", _ratio(stillmaker_energy, "HP7", "HP45"), "x",
               f"{STILLMAKER}, energy fits E(V) = aV^2 + bV + c", 7, VDD["HP7"],
               note="ratio of the HP 7 nm fit at 0.7 V to the HP 45 nm fit at 0.9 V "
                    "(coefficients: STILLMAKER_ENERGY_FIT)"),
    TechRecord("scale.delay.45_to_7", _ratio(stillmaker_delay, "HP7", "HP45"), "x",
               f"{STILLMAKER}, delay fits D(V) = aV^3 + bV^2 + cV + d", 7, VDD["HP7"],
               note="HP 7 nm at 0.7 V over HP 45 nm at 0.9 V (STILLMAKER_DELAY_FIT)"),
    TechRecord("scale.area.180_to_45", 1 / STILLMAKER_AREA_DIVISOR[("45", "180")], "x",
               f"{STILLMAKER}, area table (180 nm -> 45 nm: 1/19)", 45,
               note="as transcribed in UCLA NanoCAD nodeScale areaDict['45']['180'] = 19"),
    TechRecord("scale.energy.180_1v8_to_45_0v9", _ratio(stillmaker_energy, "HP45", "180"), "x",
               f"{STILLMAKER}, energy fits E(V) = aV^2 + bV + c", 45, VDD["HP45"],
               note="ratio of the HP 45 nm fit at 0.9 V to the 180 nm fit at 1.8 V "
                    "(coefficients: STILLMAKER_ENERGY_FIT)"),
    TechRecord("scale.delay.180_1v8_to_45_0v9", _ratio(stillmaker_delay, "HP45", "180"), "x",
               f"{STILLMAKER}, delay fits D(V) = aV^3 + bV^2 + cV + d", 45, VDD["HP45"],
               note="HP 45 nm at 0.9 V over 180 nm at 1.8 V (STILLMAKER_DELAY_FIT)"),

    TechRecord("osu018.DFFPOSX1.area", 96, "um^2", f"{OSU018}: cell DFFPOSX1 area", 180, 1.8),
    TechRecord("osu018.MUX2X1.area", 48, "um^2", f"{OSU018}: cell MUX2X1 area", 180, 1.8),
    TechRecord("osu018.AND2X1.area", 32, "um^2", f"{OSU018}: cell AND2X1 area", 180, 1.8),
    TechRecord("osu018.XOR2X1.area", 56, "um^2", f"{OSU018}: cell XOR2X1 area", 180, 1.8),
    TechRecord("osu018.INVX1.area", 16, "um^2", f"{OSU018}: cell INVX1 area", 180, 1.8),
    TechRecord("osu018.FAX1.area", 120, "um^2", f"{OSU018}: cell FAX1 area", 180, 1.8),
    TechRecord("osu018.DFFPOSX1.clock_energy", 0.117205, "pJ/cycle",
               f"{OSU018}: DFFPOSX1 CLK internal_power rise + fall at 0.06 ns slew", 180, 1.8,
               note="paid every clock cycle (the generated RTL has no clock gating)"),
    TechRecord("osu018.DFFPOSX1.toggle_energy", 0.1339832414, "pJ/toggle",
               f"{OSU018}: DFFPOSX1 D + Q internal_power (first table entry) + 0.5 C V^2 of one D-pin load",
               180, 1.8, note="per data-bit change; derive_osu018_constants() documents the rule"),
    TechRecord("osu018.MUX2X1.toggle_energy", 0.0708497414, "pJ/toggle",
               f"{OSU018}: MUX2X1 Y internal_power (first entry, mean over A/B/S) + 0.5 C V^2 of one D-pin load",
               180, 1.8),
    TechRecord("osu018.AND2X1.toggle_energy", 0.0493777414, "pJ/toggle",
               f"{OSU018}: AND2X1 Y internal_power (first entry, mean over A/B) + 0.5 C V^2 of one D-pin load",
               180, 1.8),
    TechRecord("osu018.XOR2X1.toggle_energy", 0.0933824914, "pJ/toggle",
               f"{OSU018}: XOR2X1 Y internal_power (first entry, mean over A/B) + 0.5 C V^2 of one D-pin load",
               180, 1.8),

    # a broadcast wire's buffer trees (models.buffer_tree; models.fanout re-derives these from the file)
    TechRecord("osu018.BUFX4.area", 32, "um^2", f"{OSU018}: cell BUFX4 area", 180, 1.8),
    TechRecord("osu018.BUFX4.toggle_energy", 0.1105877414, "pJ/toggle",
               f"{OSU018}: BUFX4 Y internal_power (first entry) + 0.5 C V^2 of one D-pin load", 180, 1.8),
    TechRecord("osu018.BUFX4.fo4_delay", 0.11434170806, "ns",
               f"{OSU018}: BUFX4 mean of cell_rise / cell_fall at 0.06 ns input transition and a load of "
               f"4 BUFX4 A pins (4 x 0.0139855 pF), linear between the table's loads", 180, 1.8,
               note="one level of a fan-out-of-4 buffer tree"),

    TechRecord("sram.bitcell.area", 0.346, "um^2/bit",
               "Intel 45 nm 6T SRAM cell (Bohr, Jan 2006; Mistry et al., IEDM 2007)", 45,
               note="bit cell only: periphery (decoders, sense amplifiers) is not included"),

    TechRecord("design.olive.decoder_4b.area", 13.53, "um^2", "OliVe (ISCA 2023) via spec section 1", 22,
               note="outlier-victim pair decoder, 4-bit"),
    TechRecord("design.olive.decoder_8b.area", 18.00, "um^2", "OliVe (ISCA 2023) via spec section 1", 22,
               note="outlier-victim pair decoder, 8-bit"),
    TechRecord("design.bitmod.pe.area", 1793.7, "um^2", "BitMoD (HPCA 2025) code spreadsheet, spec section 2",
               28, clock_mhz=1000),
    TechRecord("design.bitmod.pe.power", 0.586, "mW", "BitMoD (HPCA 2025) code spreadsheet, spec section 2",
               28, clock_mhz=1000),
    TechRecord("design.bitmod.fp16_mac.area", 1968.7, "um^2", "BitMoD code spreadsheet, spec section 2",
               28, clock_mhz=1000),
    TechRecord("design.bitmod.fp16_mac.power", 0.77, "mW", "BitMoD code spreadsheet, spec section 2",
               28, clock_mhz=1000),
    TechRecord("design.bitmod.fp16xint8_mac.area", 1318.6, "um^2", "BitMoD code spreadsheet, spec section 2",
               28, clock_mhz=1000),
    TechRecord("design.bitmod.fp16xint8_mac.power", 0.613, "mW", "BitMoD code spreadsheet, spec section 2",
               28, clock_mhz=1000),
    TechRecord("design.bitfusion.pe_8b.area", 687.6, "um^2", "Bit Fusion (ISCA 2018) via spec section 6",
               clock_mhz=500, note="fixed 8-bit PE; the spec does not state the node"),
    TechRecord("design.bitfusion.pe_8b.energy", 0.34, "pJ/cycle", "Bit Fusion (ISCA 2018) via spec section 6",
               clock_mhz=500, note="fixed 8-bit PE; the spec does not state the node"),
]

TABLE: dict[str, TechRecord] = {r.name: r for r in _RECORDS}
assert len(TABLE) == len(_RECORDS), "duplicate technology record names"

NODES = (45, 28, 22, 7)
DRAM_TYPES = ("lpddr4", "ddr4", "gddr5", "hbm2")


def get(name) -> TechRecord:
    """The record called ``name``; :class:`UnknownComponentError` if there is none."""
    try:
        return TABLE[name]
    except (KeyError, TypeError):
        raise UnknownComponentError(f"no technology constant {name!r} in models.tech.TABLE") from None


def value(name) -> float:
    return get(name).value


def check_node(node):
    if node not in NODES:
        raise UnknownComponentError(f"node must be one of {', '.join(map(str, NODES))} nm, not {node!r}")
    return node


def area_scale(node) -> float:
    """Area factor from 45 nm to ``node`` (1 at 45 nm)."""
    return 1.0 if check_node(node) == 45 else value(f"scale.area.45_to_{node}")


def energy_scale(node) -> float:
    """Energy factor from 45 nm to ``node`` (1 at 45 nm)."""
    return 1.0 if check_node(node) == 45 else value(f"scale.energy.45_to_{node}")


def delay_scale(node):
    """Gate-delay factor from 45 nm (0.9 V) to ``node`` (1 at 45 nm; Fmax scales by its inverse).
    Only the nodes Stillmaker & Baas fit: 45 and 7 nm (28 and 22 nm are not in their table)."""
    if check_node(node) == 45:
        return 1.0
    if node != 7:
        raise UnknownComponentError(f"no delay scaling to {node} nm (Stillmaker & Baas fit 45 and 7 nm)")
    return value("scale.delay.45_to_7")


def check_dram(dram):
    if dram not in DRAM_TYPES:
        raise UnknownComponentError(f"unknown DRAM type {dram!r}; known: {', '.join(DRAM_TYPES)}")
    return dram


def table():
    """All records as a pandas DataFrame (for reports)."""
    return pd.DataFrame([asdict(r) for r in _RECORDS])
