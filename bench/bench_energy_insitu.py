"""Where OpenSTA's activity inside a PE parts from the model's (issue 14's energy target): in situ.

For each registered variant's PE (or ``--kinds``), on the MiniLM port activities at 100 MHz:

* the cost model's energy per step split into registers (``reg``, ``reg_en``), the rest of the
  datapath and the idle energy (:func:`models.energy_vs_sta.step_energy_pj`'s terms), next to
  OpenSTA's sequential and combinational energy per step;
* the mean toggles per cycle of every net a cell drives in the mapped PE, as OpenSTA propagates
  them (read through BUFX2 probes in situ, :func:`models.primitive_outputs.net_density`) on the
  measured port activities and with every data port bit at 0.5 per step (duty 0.5), next to the
  same mean over the PE inventory's primitives each synthesised alone with its inputs at 0.5 (the
  characterisation's condition): where the whole PE's nets switch more than its parts' alone, the
  sum of primitives under-counts it whatever activity each part is given;
* every named net a cell drives in the mapped PE (a register's Q keeps its signal's name; the
  combinational signals between parts are renamed ``_N_`` by Yosys and cannot be told apart), its
  mean toggles per cycle as OpenSTA propagates them, read through BUFX2 probes in situ
  (:func:`models.primitive_outputs.net_density`), next to the real toggles per cycle the
  simulation measured at ``acc_out`` (the one register output it observes).

A diagnostic, not an input of the model: nothing here is fitted.

    python bench/bench_energy_insitu.py [--kinds lut fp16 ...]
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import characterise, energy_vs_sta, part_activity, primitive_outputs, synth  # noqa: E402
from models.activity import unit_activity  # noqa: E402
from models.inventory import unit_items  # noqa: E402
from models.registry import PE_KINDS, get_kind  # noqa: E402
from models.tech import value as tech_value  # noqa: E402

DATA = ("act", "weight", "acc_in")


def model_split(proto, parts):
    """(registers, other parts, idle) 45 nm pJ per step: the terms
    :func:`models.energy_vs_sta.step_energy_pj` sums, split by part kind."""
    reg = comb = idle = 0.0
    for prim, dynamic, idle_pj in energy_vs_sta.step_energy_terms(proto, parts):
        reg, comb = (reg + dynamic, comb) if prim in part_activity.REGISTERS else (reg, comb + dynamic)
        idle += idle_pj
    return reg, comb, idle


def cell_nets(netlist):
    """Every net a mapped cell's output drives (``_0123_``, ``acc_out[3]``)."""
    return sorted({p.replace(" ", "") for p in re.findall(r"\.(?:Y|Q)\(\s*([^)]*?)\s*\)", netlist)})


def primitives_alone_density(proto):
    """(nets, mean toggles per cycle) over the cell-driven nets of the inventory's primitives, each
    synthesised alone with every data input at :data:`models.characterise.STA_ACTIVITY`, duty 0.5."""
    nets = toggles = 0.0
    for prim, widths, n, _ in unit_items(proto):
        text, top = characterise.verilog(prim, tuple(widths))
        r = synth.synthesize_verilog(text, top)
        if not r.mapped_cells:
            continue
        netlist = r.netlist()
        inside = cell_nets(netlist)
        density = primitive_outputs.net_density(netlist, top, inside, {
            b: (characterise.STA_ACTIVITY, 0.5) for b in characterise.data_input_bits(netlist)})
        nets += n * len(inside)
        toggles += n * len(inside) * density
    return int(nets), toggles / nets if nets else 0.0


def driven_nets(netlist):
    """{signal name: [net, ...]} of the named nets a mapped cell's output drives (``acc_hold[3]``)."""
    groups = {}
    for pin in re.findall(r"\.(?:Y|Q)\(\s*([A-Za-z][\w]*(?:\s*\[\d+\])?)\s*\)", netlist):
        groups.setdefault(pin.split("[")[0].strip(), []).append(pin.replace(" ", ""))
    return groups


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="*", help="PE kinds (default: all registered)")
    args = ap.parse_args(argv)
    scale = tech_value("scale.energy.180_1v8_to_45_0v9")
    for name in args.kinds or list(PE_KINDS):
        for label, options in PE_KINDS[name].variants:
            key = tuple(sorted(dict(options).items()))
            proto = get_kind(name).prototype(**dict(options))
            parts = part_activity.part_activity(name, key, "minilm")
            reg, comb, idle = model_split(proto, parts)
            r = synth.synthesize(name, unit="pe", pe_options=key)
            netlist, act = r.netlist(), unit_activity(name, "pe", key, "minilm").as_sta()
            power = synth.unit_power(name, "pe", key, clock_mhz=characterise.STA_CLOCK_MHZ)
            per_step = 1e-3 / (characterise.STA_CLOCK_MHZ * 1e6) * 1e12 * proto.initiation_interval * scale
            print(f"{label}: model registers {reg:.3f} + datapath {comb:.3f} + idle {idle:.3f} pJ/step; "
                  f"OpenSTA sequential {power.sequential.total * per_step:.3f} + combinational "
                  f"{power.combinational.total * per_step:.3f} pJ/step (II {proto.initiation_interval})")
            inside = cell_nets(netlist)
            half = {b: ((0.5 / proto.initiation_interval, 0.5) if b.split("[")[0] in DATA else (a, d))
                    for b, (a, d) in act.items()}
            alone = primitives_alone_density(proto)
            print(f"  all {len(inside)} cell nets, toggles/cycle: "
                  f"measured ports {primitive_outputs.net_density(netlist, r.top, inside, act):.3f}, "
                  f"data ports at 0.5 {primitive_outputs.net_density(netlist, r.top, inside, half):.3f}; "
                  f"the {alone[0]} nets of its primitives alone at 0.5: {alone[1]:.3f}")
            print(f"  acc_out measured {parts.rate('acc_out'):.3f} toggles/cycle; OpenSTA in situ, toggles/cycle:")
            for signal, nets in sorted(driven_nets(netlist).items()):
                density = primitive_outputs.net_density(netlist, r.top, nets, act)
                print(f"    {signal:16s} {len(nets):3d} bits {density:6.3f}", flush=True)


if __name__ == "__main__":
    main()
