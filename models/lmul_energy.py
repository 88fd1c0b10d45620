"""Synthesis + OpenSTA energy of the L-Mul PE and the FP8 PE, and of their multipliers alone.

Issue 21's claim rows need the energy of the L-Mul adder against the FP8 PE's mantissa multiplier,
and of the L-Mul PE against the FP8 PE. The cost model's inventory prices a 4 x 4 multiplier and an
8-bit adder from a primitive table fitted on larger units, which is not credible at this size, so
the four units are synthesised (Yosys, osu018: :mod:`models.synth`) and power-analysed (OpenSTA:
:mod:`models.sta`) at one clock, :data:`CLOCK_MHZ`, on one operand stream:

* ``fp8_pe`` / ``lmul_pe``: the registered PEs (``pearray synth``'s ``unit="pe"``), each with its
  own input port activity measured on MiniLM-L6 L0 FFN1 operands (:func:`models.activity.unit_activity`);
* ``fp8_multiplier`` / ``lmul_adder``: :class:`hw.fp8_product_parts.Fp8SignificandMultiplier` and
  :class:`hw.fp8_product_parts.LmulFieldAdder`, whose ``act`` / ``weight`` ports get the FP8 PE's
  measured ``act`` / ``weight`` bit activities (the same operands reach both PEs: the two kinds share
  their quantisers);
* ``int8_pe``: the INT8 PE on its own MiniLM-L6 operands, for the FP8-vs-INT8 claim
  (:mod:`models.claim_factors`);
* ``fp8_mac`` / ``fp8_fp32_mac`` / ``int8_mac``: the FP8-vs-INT8 claim's MAC units
  (:class:`hw.mac_units.MacUnit`: a PE closed on its own accumulator) of the FP8 PE (exact
  fixed-point accumulator), of :class:`hw.mac_units.Fp8Fp32AccPE` (FP32 accumulator) and of the
  INT8 PE, their ``act`` / ``weight`` ports at the measured port activity of their PE kind (FP8 /
  INT8) on MiniLM-L6 L0 FFN1 operands;
* ``<format>_multiplier_random`` / ``<format>_adder_random``: the same parts for e4m3, BF16 and
  FP32 operands (:data:`FORMAT_SWEEP`) on random input bits, to measure how the multiplier
  comparison moves with the activity and the operand format;
* ``fp32_accumulate_adder_dot``: :class:`hw.mac_units.Fp32AccumulateAdder` (the FP32 add of a
  floating-point MAC), the accumulation the L-Mul paper's dot-product figure adds to each
  multiply, at the port activity of a MiniLM-L6 L0 FFN1 FP32 dot product (the accumulator and the
  product: :mod:`models.dot_product_stream`); ``fp32_accumulate_adder_random``: the same on
  random input bits, kept to show what that stimulus does to OpenSTA's figure.

OpenSTA's vectorless propagation can be far off the netlist's real switching, so the units of
:data:`SIMULATED` also carry the Liberty-priced power of their zero-delay simulated toggles
(:func:`models.netlist_power.simulated_power`) on their stimulus (the dot product's stream,
:data:`RANDOM_CYCLES` cycles of seeded random bits, or the MAC units' MiniLM port stream), as is
and at OpenSTA 2.0.17's pricing (:attr:`models.netlist_power.NetlistPower.as_opensta_2019`).
OpenSTA over-prices the FP32 add (:mod:`hw.fp32_add`, alone or in a MAC) several times against
its simulated toggles, even on the dot product, while it under-prices the FP32 multiplier, so the
L-Mul rows' FP32 steps (:mod:`models.lmul_claims`, which quotes both figures) and the
FP8-vs-INT8 row's accumulator step (:mod:`models.claim_factors`) read the simulated figures.

Energy per cycle = total power (internal + switching + leakage) / clock. Running this module
(``python -m models.lmul_energy``) regenerates :data:`DATA_FILE`, which
``pearray claims`` reads (no synthesis in CI); the file records the tools, liberty, clock, activity
source and each unit's netlist hash. Synthesis and STA results are also cached per netlist by
:mod:`models.synth`.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from hw.fp8_product_parts import Fp8SignificandMultiplier, LmulFieldAdder
from hw.mac_units import Fp8Fp32AccPE, Fp32AccumulateAdder, MacUnit
from hw.pe_fp8 import Fp8PE
from hw.pe_int8 import Int8PE
from . import dot_product_stream, gate_toggles, netlist_power, synth
from .activity import unit_activity
from .sta import find_sta, run_sta

DATA_FILE = Path(__file__).parent / "data" / "lmul_energy.json"
CLOCK_MHZ = 100.0
FORMAT = "e4m3"
SOURCE = "minilm"
#: the parts beyond the PEs' format, on random operands (every input bit toggling with
#: probability 0.5, duty 0.5): how the multiplier comparison moves with the operand format
FORMAT_SWEEP = ("e4m3", "bf16", "fp32")
RANDOM = "random"
#: the accumulate add's realistic stimulus: an FP32 dot product on MiniLM operands
DOT = "dot"
#: units also priced from their netlist's simulated toggles (a check on OpenSTA's propagation)
SIMULATED = (f"fp32_multiplier_{RANDOM}", f"fp32_adder_{RANDOM}", f"fp32_accumulate_adder_{RANDOM}",
             f"fp32_accumulate_adder_{DOT}", "fp8_mac", "fp8_fp32_mac", "int8_mac")
#: the cached figure of a :data:`SIMULATED` unit its readers take: its simulated toggles priced as
#: OpenSTA 2.0.17 prices a transition, so it differs from OpenSTA's figure only in where the toggles
#: come from (``simulated_energy_pj_per_cycle``: the same toggles at the Liberty's own pricing)
SIMULATED_FIGURE = "simulated_opensta_2019_energy_pj_per_cycle"
#: length and seed of the random-bits stream a :data:`SIMULATED` unit is simulated on
RANDOM_CYCLES, RANDOM_SEED = 4096, 0
#: unit -> (what, format, activity source): a PE kind or a part
UNITS = {"fp8_multiplier": ("multiplier", FORMAT, SOURCE), "lmul_adder": ("adder", FORMAT, SOURCE),
         "fp8_pe": ("fp8", FORMAT, SOURCE), "lmul_pe": ("lmul", FORMAT, SOURCE),
         # the FP8-vs-INT8 claim's baseline (models.claim_factors): the INT8 PE takes no format
         "int8_pe": ("int8", None, SOURCE),
         **{f"{fmt}_{part}_{RANDOM}": (part, fmt, RANDOM) for fmt in FORMAT_SWEEP
            for part in ("multiplier", "adder")},
         # the FP8-vs-INT8 claim's MAC units (the INT8 one takes no format)
         "fp8_mac": ("fp8_mac", FORMAT, SOURCE), "fp8_fp32_mac": ("fp8_fp32_mac", FORMAT, SOURCE),
         "int8_mac": ("int8_mac", None, SOURCE),
         # the accumulate add of the L-Mul dot-product row (one FP32 add per product)
         f"fp32_accumulate_adder_{DOT}": ("accumulate_adder", "fp32", DOT),
         f"fp32_accumulate_adder_{RANDOM}": ("accumulate_adder", "fp32", RANDOM)}
_PARTS = {"multiplier": Fp8SignificandMultiplier, "adder": LmulFieldAdder,
          "accumulate_adder": lambda format: Fp32AccumulateAdder()}
#: MAC unit -> (the PE it closes, the PE kind whose measured operand activity drives it)
_MACS = {"fp8_mac": (lambda fmt: Fp8PE(format=fmt), "fp8"),
         "fp8_fp32_mac": (lambda fmt: Fp8Fp32AccPE(format=fmt), "fp8"),
         "int8_mac": (lambda fmt: Int8PE(), "int8")}


def operand_activity(fmt=FORMAT, source=SOURCE, kind="fp8"):
    """{bit: (toggles per cycle, duty)} of the ``kind`` PE's ``act`` and ``weight`` port bits
    (``fmt``: the FP8 format; None for a kind without one)."""
    pa = unit_activity(kind, "pe", (("format", fmt),) if fmt is not None else (), source)
    return {name: (a, d) for name, a, d in pa.bits if name.split("[")[0] in ("act", "weight")}


def random_activity(component):
    """{bit: (0.5, 0.5)} for every bit of the part's operand ports (``act`` and ``weight``, or
    ``a`` and ``b``)."""
    ports = ("act", "weight") if hasattr(component, "act") else ("a", "b")
    return {f"{port}[{b}]": (0.5, 0.5) for port in ports for b in range(len(getattr(component, port)))}


def random_stream(component, cycles=RANDOM_CYCLES, seed=RANDOM_SEED):
    """{bit: [0/1 per cycle]}: ``cycles`` cycles of seeded random bits on every bit
    :func:`random_activity` names (each bit toggles with probability 0.5, duty 0.5)."""
    rng = np.random.default_rng(seed)
    return {bit: rng.integers(0, 2, cycles).tolist() for bit in random_activity(component)}


def port_stimulus(component, source, kind, fmt):
    """OpenSTA's {bit: (toggles per cycle, duty)} of a part or MAC unit's input bits on
    ``source``: random bits, the dot product's stream (:mod:`models.dot_product_stream`, the ports
    ``a`` / ``b``), or the ``kind`` PE's measured ``act`` / ``weight`` activity (``fmt``)."""
    if source == RANDOM:
        return random_activity(component)
    if source == DOT:
        return dot_product_stream.port_activity(dot_product_stream.port_stream())
    return operand_activity(fmt, source, kind)


def port_stream(component, source, kind, fmt):
    """{bit: [0/1 per cycle]} a :data:`SIMULATED` unit's netlist is simulated on: the stream
    behind :func:`port_stimulus` (random bits: :func:`random_stream`; MiniLM: the ``act`` /
    ``weight`` bits of :func:`models.gate_toggles.pe_stream`, the PE run
    :func:`models.activity.unit_activity` measures)."""
    if source == RANDOM:
        return random_stream(component)
    if source == DOT:
        return dot_product_stream.port_stream()
    options = (("format", fmt),) if fmt is not None else ()
    return {bit: values for bit, values in gate_toggles.pe_stream(kind, options, source).items()
            if bit.split("[")[0] in ("act", "weight")}


def unit_figures(unit, clock_mhz=CLOCK_MHZ):
    """{area_um2, multipliers, energy_pj_per_cycle, power_mw, netlist_hash, ...} of one of
    :data:`UNITS` (see the module docstring); a part or MAC unit also its ``input_toggle_rate``
    (the mean toggles per cycle OpenSTA is given on its input bits), a :data:`SIMULATED` unit its
    ``simulated_energy_pj_per_cycle`` and :data:`SIMULATED_FIGURE`. Raises
    :class:`models.synth.SynthesisError` / :class:`models.sta.StaError` when a tool is missing."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    what, fmt, source = UNITS[unit]
    if what in _PARTS or what in _MACS:
        if what in _PARTS:
            component, kind = _PARTS[what](format=fmt), "fp8"
        else:
            make, kind = _MACS[what]
            component = MacUnit(make(fmt))
        activity = port_stimulus(component, source, kind, fmt)
        text = verilog.convert(component, name=unit, emit_src=False)
        result = synth.synthesize_verilog(text, unit)
        report = run_sta(result.netlist(), unit, synth.liberty_path(), clock_mhz=clock_mhz,
                         activity=activity, cache_dir=synth.cache_root())
        power = report.power
        extra = {"input_toggle_rate": float(np.mean([a for a, _ in activity.values()]))}
        if unit in SIMULATED:
            stream = port_stream(component, source, kind, fmt)
            simulated = netlist_power.simulated_power(result.netlist(), stream, clock_mhz)
            extra.update({"simulated_energy_pj_per_cycle": simulated.power.total * 1e3 / clock_mhz,
                          SIMULATED_FIGURE: simulated.as_opensta_2019.total * 1e3 / clock_mhz})
    else:
        extra = {}
        options = (("format", fmt),) if fmt is not None else ()
        result = synth.synthesize(what, unit="pe", pe_options=options)
        power = synth.unit_power(what, "pe", options, source=source, clock_mhz=clock_mhz).power
    return {"area_um2": result.area_um2, "multipliers": result.multipliers,
            "flop_bits": result.flop_bits, "power_mw": power.total,
            "internal_mw": power.internal, "switching_mw": power.switching, "leakage_mw": power.leakage,
            "energy_pj_per_cycle": power.total * 1e3 / clock_mhz, "netlist_hash": result.netlist_hash,
            **extra}


def generate(units=tuple(UNITS), clock_mhz=CLOCK_MHZ):
    """The figures of ``units`` with their provenance (the content of :data:`DATA_FILE`)."""
    tool = synth.find_yosys()
    return {
        "provenance": {
            "generator": "python -m models.lmul_energy (models/lmul_energy.py)",
            "date": datetime.date.today().isoformat(),
            "yosys": f"{tool.kind} {tool.version}", "opensta": find_sta()[1],
            "liberty": str(synth.liberty_path()), "recipe_version": synth.RECIPE_VERSION,
            "clock_mhz": clock_mhz, "format": FORMAT,
            "activity": f"{SOURCE}: models.activity.unit_activity('fp8'/'lmul', 'pe') port bits "
                        f"(the e4m3 parts: the FP8 PE's act/weight bits); *_{RANDOM}: every input "
                        f"bit 0.5 toggles per cycle, duty 0.5 (simulated: {RANDOM_CYCLES} cycles of "
                        f"seeded random bits); *_{DOT}: models.dot_product_stream (MiniLM-L6 L0 FFN1 "
                        f"FP32 dot products, the accumulator and the product)",
        },
        "units": {u: {"format": UNITS[u][1], "activity": UNITS[u][2], **unit_figures(u, clock_mhz)}
                  for u in units},
    }


def write(path=DATA_FILE):
    data = generate()
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def load(path=DATA_FILE):
    """The cached figures (:func:`generate`'s dict)."""
    return json.loads(Path(path).read_text())


if __name__ == "__main__":
    written = write(sys.argv[1] if len(sys.argv) > 1 else DATA_FILE)
    for name, fig in written["units"].items():
        print(f"{name}: {fig['area_um2']:.0f} um^2, {fig['energy_pj_per_cycle']:.4g} pJ/cycle")
